//! The proxy's configuration: the [`Config`] struct, its documented
//! defaults (every limit and timeout is named here), command-line parsing
//! with pico-args, and the `--help` text. Parsing is pure: it takes the
//! argument list and returns a value or a [`ConfigError`].

use std::ffi::OsString;
use std::net::SocketAddr;
use std::time::Duration;

mod args;
mod cache;
mod help;
mod inspect;
mod ops;
mod tls_listen;

pub use args::ConfigError;
use args::{
    allow_domain_arg, arg_error, block_arg, count, dns_server, domain_arg, parse_duration,
    parse_listen, upstream_rule,
};
pub use cache::{CacheConfig, DEFAULT_CACHE_MEM, DEFAULT_CACHE_SIZE};
pub use help::HELP;
#[cfg(feature = "tls")]
pub use inspect::InspectConfig;
use ops::ops_flags;
pub use ops::{LogFormat, OpsConfig};
pub use tls_listen::{DEFAULT_TLS_HANDSHAKE_TIMEOUT, DEFAULT_TLS_HANDSHAKES, TlsListenConfig};

use crate::policy::PolicyConfig;
use crate::policy::acl::Cidr;
use crate::policy::ports::ConnectPorts;
use crate::upstream::chain::{Credentials, Parent};

/// Where the proxy listens when no `--listen` is given: loopback only, so a
/// fresh start never exposes anything to the network.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8888";
/// Upper bound of the default thread count: more threads only cost memory
/// on the small devices this runs on; one executor thread per core suffices.
pub const DEFAULT_MAX_THREADS: usize = 4;
/// Concurrent client connections; beyond it new clients get 503 and close.
pub const DEFAULT_MAX_CLIENTS: usize = 1024;
/// Threads resolving names (getaddrinfo blocks); small for routers.
pub const DEFAULT_DNS_THREADS: usize = 4;
/// Time to establish each upstream TCP connection (and each DNS lookup).
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Time for a whole request head to arrive once its first byte has:
/// bounds slow-header (slowloris) clients.
pub const DEFAULT_HEAD_TIMEOUT: Duration = Duration::from_secs(20);
/// How long an idle keep-alive client connection is kept open.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// Longest silence on either side during an HTTP exchange (waiting for the
/// response head, or between body reads and writes): 504/close after it.
pub const DEFAULT_READ_TIMEOUT: Duration = Duration::from_secs(120);
/// How long a CONNECT tunnel or upgraded connection may carry no bytes in
/// either direction before it is closed.
pub const DEFAULT_TUNNEL_IDLE_TIMEOUT: Duration = Duration::from_secs(600);
/// On SIGINT/SIGTERM, how long in-flight exchanges get to finish.
pub const DEFAULT_DRAIN_TIMEOUT: Duration = Duration::from_secs(10);
/// Pause before answering wrong proxy credentials with 407, as login
/// programs do, so guessing passwords is slow. The first challenge (no
/// credentials sent yet) is answered at once.
pub const AUTH_FAIL_DELAY: Duration = Duration::from_secs(1);

/// Everything the server needs to run.
#[derive(Debug, Clone)]
pub struct Config {
    /// Addresses to listen on.
    pub listen: Vec<SocketAddr>,
    /// `--transparent`: listeners for connections a firewall redirected
    /// (`transparent.rs`); none by default.
    pub transparent: Vec<SocketAddr>,
    /// Executor threads.
    pub threads: usize,
    /// Concurrent client connections.
    pub max_clients: usize,
    /// DNS resolver threads.
    pub dns_threads: usize,
    /// See [`DEFAULT_CONNECT_TIMEOUT`].
    pub connect_timeout: Duration,
    /// See [`DEFAULT_HEAD_TIMEOUT`].
    pub head_timeout: Duration,
    /// See [`DEFAULT_IDLE_TIMEOUT`].
    pub idle_timeout: Duration,
    /// See [`DEFAULT_READ_TIMEOUT`].
    pub read_timeout: Duration,
    /// See [`DEFAULT_TUNNEL_IDLE_TIMEOUT`].
    pub tunnel_idle_timeout: Duration,
    /// See [`DEFAULT_DRAIN_TIMEOUT`].
    pub drain_timeout: Duration,
    /// See [`AUTH_FAIL_DELAY`] (a field so tests can shorten it).
    pub auth_fail_delay: Duration,
    /// Add `Via: 1.1 smolproxy` to forwarded messages.
    pub via: bool,
    /// Log verbosity.
    pub log_level: log::LevelFilter,
    /// Who may use the proxy and where it may go.
    pub policy: PolicyConfig,
    /// Answer SOCKS5 on the same port (off with `--no-socks`).
    pub socks: bool,
    /// `--socks-ports`: the ports a SOCKS5 CONNECT may reach.
    pub socks_ports: ConnectPorts,
    /// `--pac-direct`: domains the PAC script sends DIRECT (normalised).
    pub pac_direct: Vec<String>,
    /// Operations: `--access-log`, `--log-format`, `--user`.
    pub ops: OpsConfig,
    /// `--upstream URL`: the parent proxy for every request.
    pub upstream: Option<Parent>,
    /// `--upstream-for DOMAIN=URL|direct`: a domain's own parent, or none.
    pub upstream_for: Vec<(String, Option<Parent>)>,
    /// Credentials for parents whose URL has none (`main.rs` reads them
    /// from `SMOLPROXY_UPSTREAM_AUTH`, never from the command line).
    pub upstream_auth: Option<Credentials>,
    /// `--dns-server ADDR[:PORT]`: resolve with our own DNS client.
    pub dns_servers: Vec<SocketAddr>,
    /// The hosts file that client reads first ([`DEFAULT_HOSTS_FILE`]; a
    /// field so tests can use their own).
    pub hosts_file: std::path::PathBuf,
    /// `--cache-dir` and its bounds: the shared cache, off when `None`.
    pub cache: Option<CacheConfig>,
    /// `--inspect --ca-dir DIR`: inspect HTTPS (its scope is in `policy`).
    #[cfg(feature = "tls")]
    pub inspect: Option<InspectConfig>,
    /// `--tls-listen`, `--tls-cert`, `--tls-key`: the HTTPS listener
    /// (the `tls` build only; other builds refuse the flags).
    pub tls: TlsListenConfig,
}

/// The hosts file the `--dns-server` client consults before asking.
pub const DEFAULT_HOSTS_FILE: &str = "/etc/hosts";
/// Ports a SOCKS5 CONNECT may reach by default: the web's two, so the
/// proxy cannot be used to reach mail or other services.
pub const DEFAULT_SOCKS_PORTS: &[u16] = &[80, 443];

impl Default for Config {
    fn default() -> Self {
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        Config {
            listen: vec![DEFAULT_LISTEN.parse().expect("valid default address")],
            transparent: Vec::new(),
            threads: cpus.clamp(1, DEFAULT_MAX_THREADS),
            max_clients: DEFAULT_MAX_CLIENTS,
            dns_threads: DEFAULT_DNS_THREADS,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            head_timeout: DEFAULT_HEAD_TIMEOUT,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            read_timeout: DEFAULT_READ_TIMEOUT,
            tunnel_idle_timeout: DEFAULT_TUNNEL_IDLE_TIMEOUT,
            drain_timeout: DEFAULT_DRAIN_TIMEOUT,
            auth_fail_delay: AUTH_FAIL_DELAY,
            via: true,
            log_level: log::LevelFilter::Info,
            policy: PolicyConfig::default(),
            socks: true,
            socks_ports: ConnectPorts::Only(DEFAULT_SOCKS_PORTS.to_vec()),
            pac_direct: Vec::new(),
            ops: OpsConfig::default(),
            upstream: None,
            upstream_for: Vec::new(),
            upstream_auth: None,
            dns_servers: Vec::new(),
            hosts_file: DEFAULT_HOSTS_FILE.into(),
            cache: None,
            #[cfg(feature = "tls")]
            inspect: None,
            tls: TlsListenConfig::default(),
        }
    }
}

/// What the command line asks for.
#[derive(Debug)]
pub enum Command {
    /// Run the proxy.
    Run(Box<Config>),
    /// Print the help text.
    Help,
    /// Print the version.
    Version,
    /// `--print-ca --ca-dir DIR`: print the inspection CA (made if absent).
    #[cfg(feature = "tls")]
    PrintCa(std::path::PathBuf),
}

/// Parse the arguments after the program name.
pub fn parse_args(args: Vec<OsString>) -> Result<Command, ConfigError> {
    let mut p = pico_args::Arguments::from_vec(args);
    let e = ConfigError::BadValue;
    if p.contains(["-h", "--help"]) {
        return Ok(Command::Help);
    }
    if p.contains(["-V", "--version"]) {
        return Ok(Command::Version);
    }
    let mut c = Config::default();
    let listen: Vec<SocketAddr> = p
        .values_from_fn("--listen", parse_listen)
        .map_err(arg_error)?;
    if let Some(twice) = listen
        .iter()
        .enumerate()
        .find(|(i, a)| listen[..*i].contains(a))
    {
        return Err(e(format!("--listen {} is given twice", twice.1)));
    }
    if !listen.is_empty() {
        c.listen = listen;
    }
    let transparent: Vec<SocketAddr> = p
        .values_from_fn("--transparent", parse_listen)
        .map_err(arg_error)?;
    if let Some(twice) = transparent
        .iter()
        .enumerate()
        .find(|(i, a)| transparent[..*i].contains(a) || c.listen.contains(a))
    {
        return Err(e(format!("--transparent {} is also listened on", twice.1)));
    }
    c.transparent = transparent;
    let taken: Vec<SocketAddr> = c.listen.iter().chain(&c.transparent).copied().collect();
    c.tls = tls_listen::tls_listen_flags(&mut p, &taken)?;
    let opt =
        |p: &mut pico_args::Arguments, name: &'static str| -> Result<Option<String>, ConfigError> {
            p.opt_value_from_str::<_, String>(name).map_err(arg_error)
        };
    if let Some(v) = opt(&mut p, "--threads")? {
        c.threads = count(&v, "--threads", 1, 64).map_err(e)?;
    }
    if let Some(v) = opt(&mut p, "--max-clients")? {
        c.max_clients = count(&v, "--max-clients", 1, 1_000_000).map_err(e)?;
    }
    if let Some(v) = opt(&mut p, "--dns-threads")? {
        c.dns_threads = count(&v, "--dns-threads", 1, 64).map_err(e)?;
    }
    let timeouts: [(&'static str, &mut Duration); 6] = [
        ("--connect-timeout", &mut c.connect_timeout),
        ("--head-timeout", &mut c.head_timeout),
        ("--idle-timeout", &mut c.idle_timeout),
        ("--read-timeout", &mut c.read_timeout),
        ("--tunnel-idle-timeout", &mut c.tunnel_idle_timeout),
        ("--drain-timeout", &mut c.drain_timeout),
    ];
    for (name, slot) in timeouts {
        if let Some(v) = opt(&mut p, name)? {
            *slot = parse_duration(&v).map_err(|m| e(format!("{name}: {m}")))?;
        }
    }
    if p.contains("--no-via") {
        c.via = false;
    }
    let mut verbose = 0;
    while p.contains(["-v", "--verbose"]) {
        verbose += 1;
    }
    let quiet = p.contains(["-q", "--quiet"]);
    c.log_level = match (quiet, verbose) {
        (true, _) => log::LevelFilter::Warn,
        (false, 0) => log::LevelFilter::Info,
        (false, 1) => log::LevelFilter::Debug,
        _ => log::LevelFilter::Trace,
    };
    if let Some(v) = opt(&mut p, "--log-level")? {
        c.log_level = v.parse().map_err(|_| {
            e(format!(
                "--log-level must be one of off, error, warn, info, debug, trace, got '{v}'"
            ))
        })?;
    }
    c.policy = policy_flags(&mut p)?;
    socks_flags(&mut p, &mut c)?;
    c.pac_direct = p
        .values_from_fn("--pac-direct", |s: &str| domain_arg("--pac-direct", s))
        .map_err(arg_error)?;
    c.ops = ops_flags(&mut p)?;
    if let Some(v) = opt(&mut p, "--upstream")? {
        c.upstream = Some(Parent::parse(&v).map_err(|m| e(format!("--upstream: {m}")))?);
    }
    c.upstream_for = p
        .values_from_fn("--upstream-for", upstream_rule)
        .map_err(arg_error)?;
    c.dns_servers = p
        .values_from_fn("--dns-server", dns_server)
        .map_err(arg_error)?;
    c.cache = cache::cache_flags(&mut p)?;
    match inspect::inspect_flags(&mut p)? {
        inspect::Inspect::Off => {}
        #[cfg(feature = "tls")]
        inspect::Inspect::PrintCa(dir) => return Ok(Command::PrintCa(dir)),
        #[cfg(feature = "tls")]
        inspect::Inspect::On(files, scope) => {
            c.inspect = Some(files);
            c.policy.inspect = Some(scope);
        }
    }
    let rest = p.finish();
    if let Some(first) = rest.first() {
        return Err(ConfigError::Unknown(first.to_string_lossy().into_owned()));
    }
    Ok(Command::Run(Box::new(c)))
}

/// Take the policy flags out of `p`.
fn policy_flags(p: &mut pico_args::Arguments) -> Result<PolicyConfig, ConfigError> {
    let mut c = PolicyConfig::default();
    let arg = arg_error;
    c.allow = p.values_from_fn("--allow", Cidr::parse).map_err(arg)?;
    c.deny = p.values_from_fn("--deny", Cidr::parse).map_err(arg)?;
    if let Some(v) = p
        .opt_value_from_fn("--connect-ports", ConnectPorts::parse)
        .map_err(arg)?
    {
        c.connect_ports = v;
    }
    c.auth_file = p.opt_value_from_str("--auth-file").map_err(arg)?;
    c.block = p.values_from_fn("--block", block_arg).map_err(arg)?;
    c.block_lists = p.values_from_str("--block-list").map_err(arg)?;
    c.allow_domains = p
        .values_from_fn("--allow-domain", allow_domain_arg)
        .map_err(arg)?;
    c.allow_lists = p.values_from_str("--allow-list").map_err(arg)?;
    c.default_deny = p.contains("--default-deny");
    c.deny_private_targets = p.contains("--deny-private-targets");
    Ok(c)
}

/// Take the SOCKS5 flags out of `p`: `--no-socks`, `--socks-ports LIST`.
fn socks_flags(p: &mut pico_args::Arguments, c: &mut Config) -> Result<(), ConfigError> {
    c.socks = !p.contains("--no-socks");
    let ports = |s: &str| {
        ConnectPorts::parse(s).map_err(|m| m.replacen("--connect-ports", "--socks-ports", 1))
    };
    if let Some(v) = p
        .opt_value_from_fn("--socks-ports", ports)
        .map_err(arg_error)?
    {
        c.socks_ports = v;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn parse(args: &[&str]) -> Result<Config, String> {
        match parse_args(args.iter().map(OsString::from).collect()) {
            Ok(Command::Run(c)) => Ok(*c),
            Ok(other) => Err(format!("{other:?}")),
            Err(e) => Err(e.to_string()),
        }
    }

    #[test]
    fn defaults() {
        let c = parse(&[]).unwrap();
        assert_eq!(c.listen, vec!["127.0.0.1:8888".parse().unwrap()]);
        assert!((1..=4).contains(&c.threads));
        assert_eq!(c.max_clients, 1024);
        assert!(c.via);
        assert_eq!(c.log_level, log::LevelFilter::Info);
        assert_eq!(c.auth_fail_delay, Duration::from_secs(1));
        assert!(c.socks);
        assert_eq!(c.socks_ports, ConnectPorts::Only(vec![80, 443]));
    }

    #[test]
    fn socks_flags_table() {
        let c = parse(&["--no-socks", "--socks-ports", "22,8080"]).unwrap();
        assert!(!c.socks);
        assert_eq!(c.socks_ports, ConnectPorts::Only(vec![22, 8080]));
        assert_eq!(
            parse(&["--socks-ports=any"]).unwrap().socks_ports,
            ConnectPorts::Any
        );
        let e = parse(&["--socks-ports", "0"]).unwrap_err();
        assert!(e.starts_with("--socks-ports: invalid port '0'"), "{e}");
        let e = parse(&["--socks-ports"]).unwrap_err();
        assert_eq!(e, "--socks-ports needs a value");
    }

    #[test]
    fn flags() {
        let c = parse(&[
            "--listen",
            "0.0.0.0:3128",
            "--listen=[::1]:3129",
            "--threads",
            "2",
            "--max-clients",
            "10",
            "--connect-timeout",
            "500ms",
            "--idle-timeout",
            "2m",
            "--no-via",
            "-vv",
        ])
        .unwrap();
        assert_eq!(c.listen.len(), 2);
        assert_eq!(c.threads, 2);
        assert_eq!(c.max_clients, 10);
        assert_eq!(c.connect_timeout, Duration::from_millis(500));
        assert_eq!(c.idle_timeout, Duration::from_secs(120));
        assert!(!c.via);
        assert_eq!(c.log_level, log::LevelFilter::Trace);
        assert_eq!(parse(&["-q"]).unwrap().log_level, log::LevelFilter::Warn);
        assert_eq!(
            parse(&["--listen", "9000"]).unwrap().listen[0].to_string(),
            "127.0.0.1:9000"
        );
        let c = parse(&["--transparent", "3129", "--transparent=[::]:3130"]).unwrap();
        assert_eq!(c.transparent[0].to_string(), "127.0.0.1:3129");
        assert_eq!(c.transparent[1].to_string(), "[::]:3130");
        assert!(parse(&[]).unwrap().transparent.is_empty());
        let c = parse(&["--pac-direct", "Bank.Example.", "--pac-direct=tv.lan"]).unwrap();
        assert_eq!(c.pac_direct, ["bank.example", "tv.lan"]);
        assert!(parse(&[]).unwrap().pac_direct.is_empty());
    }

    #[test]
    fn mistakes() {
        let cases: &[(&[&str], &str)] = &[
            (&["--bogus"], "unknown argument '--bogus'"),
            (&["--listen", "nowhere"], "invalid listen address 'nowhere'"),
            (
                &["--threads", "0"],
                "--threads must be a number from 1 to 64",
            ),
            (&["--threads"], "--threads needs a value"),
            (
                &["--head-timeout", "5x"],
                "--head-timeout: invalid duration '5x'",
            ),
            (
                &["--head-timeout", "0"],
                "--head-timeout: duration '0' must be more than zero",
            ),
            (&["--log-level", "loud"], "--log-level must be one of"),
            (
                &["--pac-direct", "a..b"],
                "--pac-direct: invalid domain 'a..b'",
            ),
            (&["--pac-direct"], "--pac-direct needs a value"),
            (&["extra"], "unknown argument 'extra'"),
            (
                &["--listen", "9000", "--listen", "127.0.0.1:9000"],
                "--listen 127.0.0.1:9000 is given twice",
            ),
            (
                &["--listen", "9000", "--transparent", "127.0.0.1:9000"],
                "--transparent 127.0.0.1:9000 is also listened on",
            ),
            (
                &["--transparent", "[::]:3129", "--transparent=[::]:3129"],
                "--transparent [::]:3129 is also listened on",
            ),
            (&["--transparent", "x"], "invalid listen address 'x'"),
            (
                &["--log-format", "xml"],
                "--log-format must be text or json, got 'xml'",
            ),
            (&["--user", ""], "--user needs a user name"),
            (&["--access-log"], "--access-log needs a value"),
        ];
        for (args, want) in cases {
            let err = parse(args).unwrap_err();
            assert!(err.starts_with(want), "{args:?}: {err}");
        }
        assert!(matches!(
            parse_args(vec!["--help".into()]),
            Ok(Command::Help)
        ));
        assert!(matches!(
            parse_args(vec!["-V".into()]),
            Ok(Command::Version)
        ));
    }

    #[test]
    fn ops_flags() {
        let c = parse(&[]).unwrap();
        assert_eq!(c.ops.access_log, None);
        assert_eq!(c.ops.log_format, LogFormat::Text);
        assert_eq!(c.ops.user, None);
        let c = parse(&[
            "--access-log",
            "/var/log/a.log",
            "--log-format=json",
            "--user",
            "nobody",
        ])
        .unwrap();
        assert_eq!(c.ops.access_log, Some(PathBuf::from("/var/log/a.log")));
        assert_eq!(c.ops.log_format, LogFormat::Json);
        assert_eq!(c.ops.user.as_deref(), Some("nobody"));
    }

    #[test]
    fn policy_flags_table() {
        let parse = |args: &[&str]| {
            let mut p = pico_args::Arguments::from_vec(args.iter().map(Into::into).collect());
            policy_flags(&mut p).map_err(|e| e.to_string())
        };
        let c = parse(&[
            "--block",
            "Ads.Example.COM.",
            "--block",
            "t.net",
            "--block-list",
            "/a",
            "--allow-domain",
            "ok.org",
            "--allow-list",
            "/b",
            "--auth-file",
            "/c",
            "--default-deny",
            "--deny-private-targets",
        ])
        .unwrap();
        assert_eq!(c.block, ["ads.example.com", "t.net"]);
        assert_eq!(c.block_lists, [PathBuf::from("/a")]);
        assert_eq!(c.allow_domains, ["ok.org"]);
        assert_eq!(c.allow_lists, [PathBuf::from("/b")]);
        assert_eq!(c.auth_file, Some(PathBuf::from("/c")));
        assert!(c.default_deny && c.deny_private_targets);
        let e = parse(&["--block", "a..b"]).unwrap_err();
        assert!(e.starts_with("--block: invalid domain 'a..b'"), "{e}");
        let e = parse(&["--allow-domain", "x y"]).unwrap_err();
        assert!(e.starts_with("--allow-domain: invalid domain"), "{e}");
        let e = parse(&["--allow", "10.0.0.0/33"]).unwrap_err();
        assert!(e.starts_with("invalid CIDR '10.0.0.0/33'"), "{e}");
    }
}
