//! The `smolproxy` binary: parse flags, start logging, bind, serve until a
//! signal. The one place that maps a failure to an exit code: 0 after a
//! clean shutdown, 1 for a runtime failure, 2 for a usage error.

use std::io;
use std::process::ExitCode;

use smolproxy::config::{self, Command, Config, ConfigError};
use smolproxy::policy::auth::{ENV_VAR, Secret};
use smolproxy::policy::{Policy, PolicyError};
use smolproxy::privileges::{self, Account, UserError};
use smolproxy::server::{BindError, StartError};

/// Why the binary stops early.
enum Failure {
    /// A mistake on the command line (exit 2).
    Config(ConfigError),
    /// A policy file or variable that cannot be used (exit 2, like a flag).
    Policy(PolicyError),
    /// Signal handlers could not be installed (exit 1).
    Signals(io::Error),
    /// A listen address could not be bound (exit 1).
    Bind(BindError),
    /// The server could not start (exit 1).
    Start(StartError),
    /// `--user`: no such user (exit 2), or the drop failed (exit 1).
    User(UserError),
}

impl Failure {
    fn exit_code(&self) -> u8 {
        match self {
            Failure::Config(_) | Failure::Policy(_) => 2,
            Failure::User(e) if e.is_usage() => 2,
            Failure::Signals(_) | Failure::Bind(_) | Failure::Start(_) | Failure::User(_) => 1,
        }
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Config(e) => e.fmt(f),
            Failure::Policy(e) => e.fmt(f),
            Failure::Signals(e) => write!(f, "cannot install signal handlers: {e}"),
            Failure::Bind(e) => e.fmt(f),
            Failure::Start(e) => e.fmt(f),
            Failure::User(e) => e.fmt(f),
        }
    }
}

fn main() -> ExitCode {
    let args: Vec<_> = std::env::args_os().skip(1).collect();
    let config = match config::parse_args(args) {
        Ok(Command::Run(c)) => *c,
        Ok(Command::Help) => {
            print!("{}", config::HELP);
            return ExitCode::SUCCESS;
        }
        Ok(Command::Version) => {
            println!("smolproxy {}", env!("CARGO_PKG_VERSION"));
            return ExitCode::SUCCESS;
        }
        #[cfg(feature = "tls")]
        Ok(Command::PrintCa(dir)) => return print_ca(&dir),
        Err(e) => return exit(Failure::Config(e)),
    };
    smolproxy::logger::init(config.log_level);
    match run(config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => exit(f),
    }
}

/// Report `f` and give its exit code: usage errors as one line on stderr
/// (the user is at the terminal), runtime failures through the log.
fn exit(f: Failure) -> ExitCode {
    if f.exit_code() == 2 {
        eprintln!("smolproxy: {f}");
    } else {
        log::error!("{f}");
    }
    ExitCode::from(f.exit_code())
}

/// `--print-ca --ca-dir DIR`: the CA certificate (made first if absent) on
/// stdout, exit 0; a directory that cannot hold it: one line, exit 1.
#[cfg(feature = "tls")]
fn print_ca(dir: &std::path::Path) -> ExitCode {
    match smolproxy::tls::certs::Ca::load_or_create(dir) {
        Ok(ca) => {
            print!("{}", ca.pem());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("smolproxy: {e}");
            ExitCode::from(1)
        }
    }
}

/// `SMOLPROXY_AUTH=user:password`, if set and not empty (`SMOLPROXY_AUTH=`
/// in a unit or shell file means "no password from here").
fn auth_from_env() -> Result<Option<Secret>, PolicyError> {
    match std::env::var(ENV_VAR) {
        Ok(v) if v.is_empty() => Ok(None),
        Ok(v) => Ok(Some(Secret(v))),
        Err(std::env::VarError::NotPresent) => Ok(None),
        Err(std::env::VarError::NotUnicode(_)) => Err(PolicyError::EnvNotText(ENV_VAR)),
    }
}

/// The start-up line saying where the proxy's users come from (never the
/// secret itself), or `None` when authentication is off.
fn auth_source(config: &Config) -> Option<String> {
    let file = config.policy.auth_file.as_ref();
    let env = config.policy.auth_env.is_some();
    match (file, env) {
        (Some(f), true) => Some(format!("{} and {ENV_VAR}", f.display())),
        (Some(f), false) => Some(f.display().to_string()),
        (None, true) => Some(ENV_VAR.to_string()),
        (None, false) => None,
    }
}

/// `--user`: become that user now, right after binding and before any
/// other thread exists (set*id calls are per-thread on Linux). Started as
/// root without it, say so once.
fn drop_privileges(user: Option<&Account>) -> Result<(), Failure> {
    let Some(account) = user else {
        if privileges::is_root() {
            log::warn!("running as root: use --user NAME to drop privileges after binding");
        }
        return Ok(());
    };
    privileges::become_user(account).map_err(Failure::User)?;
    log::info!(
        "running as {} (uid {}, gid {})",
        account.name,
        account.uid,
        account.gid
    );
    Ok(())
}

/// `SMOLPROXY_UPSTREAM_AUTH=user:pass` for the parent proxies; a warning
/// when credentials came in a URL on the command line (`ps` shows them).
fn upstream_auth(config: &mut Config) -> Result<(), Failure> {
    use smolproxy::upstream::chain::{AUTH_ENV_VAR, Credentials};
    let bad =
        |why: String| Failure::Config(ConfigError::BadValue(format!("{AUTH_ENV_VAR}: {why}")));
    config.upstream_auth = match std::env::var(AUTH_ENV_VAR) {
        Ok(v) => Some(Credentials::parse(&v).map_err(bad)?),
        Err(std::env::VarError::NotPresent) => None,
        Err(std::env::VarError::NotUnicode(_)) => return Err(bad("not valid UTF-8".into())),
    };
    let in_argv = config
        .upstream
        .iter()
        .chain(config.upstream_for.iter().filter_map(|(_, p)| p.as_ref()));
    if in_argv.clone().any(|p| p.auth.is_some()) {
        log::warn!(
            "upstream credentials given in a URL are visible to every local user (ps); set {AUTH_ENV_VAR}=user:pass instead"
        );
    }
    Ok(())
}

fn run(mut config: Config) -> Result<(), Failure> {
    use async_signal::{Signal, Signals};
    use futures_lite::StreamExt;

    // The policy's files are read before binding: a bad file is a usage
    // error (2), like a bad flag. The password comes from the environment,
    // never from the command line (which `ps` shows).
    config.policy.auth_env = auth_from_env().map_err(Failure::Policy)?;
    upstream_auth(&mut config)?;
    let policy = Policy::new(&config.policy).map_err(Failure::Policy)?;
    if let Some(from) = auth_source(&config) {
        log::info!("proxy authentication on: users from {from}");
    }
    // An unknown --user is a usage error, found before binding.
    let user = config.ops.user.as_deref().map(privileges::lookup);
    let user = user.transpose().map_err(Failure::User)?;
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
    // The signal stream starts async-io's reactor thread, and the set*id
    // calls of --user change only the calling thread: with --user it is
    // set up after the drop (a signal in between ends the process, as
    // before any handler); without, before binding, so a client that
    // reaches the socket can rely on SIGINT/SIGTERM being handled.
    let signals = || Signals::new([Signal::Int, Signal::Term, Signal::Hup]);
    let early = match user {
        None => Some(signals().map_err(Failure::Signals)?),
        Some(_) => None,
    };
    let server = smolproxy::server::bind(config)
        .map_err(Failure::Bind)?
        .with_policy(policy);
    drop_privileges(user.as_ref())?;
    let signals = match early {
        Some(s) => s,
        None => signals().map_err(Failure::Signals)?,
    };
    let handle = server.start().map_err(Failure::Start)?;
    // A plain block_on that only parks: async-io's would take turns with the
    // executor threads at driving the reactor, and every event it took for
    // them would cost a cross-thread wake-up (futex, eventfd). The executor
    // threads drive the reactor, and wake this thread on a signal.
    futures_lite::future::block_on(async {
        let mut signals = signals;
        while let Some(Ok(sig)) = signals.next().await {
            let name = match sig {
                Signal::Hup => {
                    handle.reload();
                    continue;
                }
                Signal::Int => "SIGINT",
                Signal::Term => "SIGTERM",
                _ => "a signal",
            };
            log::info!("{name} received: shutting down");
            break;
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
