//! The `smolproxy` binary: parse flags, start logging, bind, serve until a
//! signal. The one place that maps a failure to an exit code: 0 after a
//! clean shutdown, 1 for a runtime failure, 2 for a usage error.

use std::process::ExitCode;

use smolproxy::config::{self, Command};

fn main() -> ExitCode {
    let args: Vec<_> = std::env::args_os().skip(1).collect();
    let mut config = match config::parse_args(args) {
        Ok(Command::Run(c)) => *c,
        Ok(Command::Help) => {
            print!("{}", config::HELP);
            return ExitCode::SUCCESS;
        }
        Ok(Command::Version) => {
            println!("smolproxy {}", env!("CARGO_PKG_VERSION"));
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("smolproxy: {e}");
            return ExitCode::from(2);
        }
    };
    smolproxy::logger::init(config.log_level);
    // The policy's files are read before binding: a bad file is a usage
    // error (2), like a bad flag. The password comes from the environment,
    // never from the command line (which `ps` shows).
    let policy = match auth_from_env().and_then(|a| {
        config.policy.auth_env = a;
        smolproxy::policy::Policy::new(&config.policy)
    }) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("smolproxy: {e}");
            return ExitCode::from(2);
        }
    };
    match run(config, policy) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            log::error!("{e}");
            ExitCode::from(1)
        }
    }
}

/// `SMOLPROXY_AUTH=user:password`, if set.
fn auth_from_env() -> Result<Option<smolproxy::auth::Secret>, String> {
    use smolproxy::auth::{ENV_VAR, Secret};
    match std::env::var(ENV_VAR) {
        Ok(v) => Ok(Some(Secret(v))),
        Err(std::env::VarError::NotPresent) => Ok(None),
        Err(std::env::VarError::NotUnicode(_)) => Err(format!("{ENV_VAR} is not valid UTF-8")),
    }
}

fn run(config: smolproxy::config::Config, policy: smolproxy::policy::Policy) -> Result<(), String> {
    use async_signal::{Signal, Signals};
    use futures_lite::StreamExt;

    let signals = Signals::new([Signal::Int, Signal::Term, Signal::Hup])
        .map_err(|e| format!("cannot install signal handlers: {e}"))?;
    if let Some(n) = smolproxy::server::raise_fd_limit() {
        log::debug!("descriptor limit: {n}");
        let need = config.max_clients as u64 * 2 + 64;
        if n < need {
            log::warn!(
                "descriptor limit {n} is below what --max-clients {} needs ({need}); raise it (ulimit -n, LimitNOFILE=)",
                config.max_clients
            );
        }
    }
    let server = smolproxy::server::bind(config)
        .map_err(|e| e.to_string())?
        .with_policy(policy);
    let handle = server.start().map_err(|e| format!("cannot start: {e}"))?;
    smol::block_on(async {
        let mut signals = signals;
        while let Some(Ok(sig)) = signals.next().await {
            match sig {
                Signal::Hup => smolproxy::server::reload(handle.shared()),
                _ => {
                    log::info!("{sig:?} received: shutting down");
                    break;
                }
            }
        }
    });
    let cut = handle.shutdown();
    if cut > 0 {
        log::info!("stopped; {cut} connections cut after the drain timeout");
    } else {
        log::info!("stopped");
    }
    Ok(())
}
