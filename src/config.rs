//! The proxy's configuration: the [`Config`] struct, its documented
//! defaults (every limit and timeout is named here), command-line parsing
//! with pico-args, and the `--help` text. Parsing is pure: it takes the
//! argument list and returns a value or a [`ConfigError`].

use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

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
}

/// How access lines are written (`--log-format`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum LogFormat {
    /// `CLIENT METHOD TARGET STATUS up=N down=N Nms user=U [note=…]`.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// The operations flags: where access lines go, their format, and the
/// user to become after binding.
#[derive(Debug, Clone, Default)]
pub struct OpsConfig {
    /// Append access lines to this file (reopened on SIGHUP) instead of
    /// writing them to stderr.
    pub access_log: Option<PathBuf>,
    /// Format of access lines.
    pub log_format: LogFormat,
    /// Drop to this user (and its groups) right after binding.
    pub user: Option<String>,
}

/// Take the operations flags out of `p`.
fn ops_flags(p: &mut pico_args::Arguments) -> Result<OpsConfig, ConfigError> {
    let mut c = OpsConfig {
        access_log: p.opt_value_from_str("--access-log").map_err(arg_error)?,
        user: p.opt_value_from_str("--user").map_err(arg_error)?,
        ..OpsConfig::default()
    };
    if let Some(v) = p
        .opt_value_from_str::<_, String>("--log-format")
        .map_err(arg_error)?
    {
        c.log_format = match v.as_str() {
            "text" => LogFormat::Text,
            "json" => LogFormat::Json,
            _ => {
                let why = format!("--log-format must be text or json, got '{v}'");
                return Err(ConfigError::BadValue(why));
            }
        };
    }
    if c.user.as_deref() == Some("") {
        return Err(ConfigError::BadValue("--user needs a user name".into()));
    }
    Ok(c)
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
}

/// A mistake on the command line: printed as one line, exit code 2.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigError {
    /// A flag was given without its value.
    MissingValue(String),
    /// A flag's value was refused: the message names the flag and a fix.
    BadValue(String),
    /// An argument that no flag takes.
    Unknown(String),
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConfigError::MissingValue(flag) => write!(f, "{flag} needs a value"),
            ConfigError::BadValue(why) => f.write_str(why),
            ConfigError::Unknown(arg) => write!(f, "unknown argument '{arg}' (see --help)"),
        }
    }
}

impl std::error::Error for ConfigError {}

/// Parse a duration: `30` (seconds), `30s`, `500ms`, `2m`, `1h`.
pub(crate) fn parse_duration(s: &str) -> Result<Duration, String> {
    let (num, unit) = match s.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => s.split_at(i),
        None => (s, "s"),
    };
    let n: u64 = num
        .parse()
        .map_err(|_| format!("invalid duration '{s}' (try 30, 30s, 500ms, 2m)"))?;
    let d = match unit {
        "ms" => Duration::from_millis(n),
        "s" => Duration::from_secs(n),
        "m" => Duration::from_secs(n.saturating_mul(60)),
        "h" => Duration::from_secs(n.saturating_mul(3600)),
        _ => return Err(format!("invalid duration '{s}' (try 30, 30s, 500ms, 2m)")),
    };
    if d.is_zero() {
        return Err(format!("duration '{s}' must be more than zero"));
    }
    Ok(d)
}

/// Parse a listen address: `IP:PORT`, `[IPv6]:PORT`, or a bare `PORT`
/// (which means 127.0.0.1:PORT, loopback only).
pub(crate) fn parse_listen(s: &str) -> Result<SocketAddr, String> {
    if let Ok(port) = s.parse::<u16>() {
        return Ok(SocketAddr::from(([127, 0, 0, 1], port)));
    }
    s.parse().map_err(|_| {
        format!("invalid listen address '{s}' (try 127.0.0.1:8888, [::]:8888 or 0.0.0.0:8888)")
    })
}

fn count(s: &str, what: &str, min: usize, max: usize) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(format!(
            "{what} must be a number from {min} to {max}, got '{s}'"
        )),
    }
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
    let rest = p.finish();
    if let Some(first) = rest.first() {
        return Err(ConfigError::Unknown(first.to_string_lossy().into_owned()));
    }
    Ok(Command::Run(Box::new(c)))
}

/// One readable line for a pico-args error.
fn arg_error(err: pico_args::Error) -> ConfigError {
    match err {
        pico_args::Error::OptionWithoutAValue(k) => ConfigError::MissingValue(k.to_string()),
        // pico-args reports a failed value parser this way.
        pico_args::Error::Utf8ArgumentParsingFailed { cause, .. } => ConfigError::BadValue(cause),
        pico_args::Error::ArgumentParsingFailed { cause } => ConfigError::BadValue(cause),
        other => ConfigError::BadValue(other.to_string()),
    }
}

/// A domain given on the command line, normalised, or a usage error.
fn domain_arg(flag: &str, s: &str) -> Result<String, String> {
    crate::policy::filter::normalize_rule(s)
        .ok_or_else(|| format!("{flag}: invalid domain '{s}' (try ads.example.com)"))
}

fn block_arg(s: &str) -> Result<String, String> {
    domain_arg("--block", s)
}

fn allow_domain_arg(s: &str) -> Result<String, String> {
    domain_arg("--allow-domain", s)
}

/// `ADDR` (port 53) or `ADDR:PORT`, `[V6]:PORT`.
fn dns_server(s: &str) -> Result<SocketAddr, String> {
    s.parse::<SocketAddr>()
        .or_else(|_| {
            s.parse::<std::net::IpAddr>()
                .map(|ip| SocketAddr::new(ip, 53))
        })
        .map_err(|_| format!("--dns-server: invalid address '{s}' (try 192.168.1.1 or [::1]:5353)"))
}

/// `DOMAIN=URL` or `DOMAIN=direct`.
fn upstream_rule(s: &str) -> Result<(String, Option<Parent>), String> {
    let (domain, to) = s.split_once('=').ok_or_else(|| {
        format!("--upstream-for: expected DOMAIN=URL or DOMAIN=direct, got '{s}'")
    })?;
    let domain = domain_arg("--upstream-for", domain)?;
    if to == "direct" {
        return Ok((domain, None));
    }
    let parent = Parent::parse(to).map_err(|m| format!("--upstream-for: {m}"))?;
    Ok((domain, Some(parent)))
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

/// The `--help` text.
pub const HELP: &str = "\
smolproxy — a small, fast HTTP/HTTPS forward proxy

USAGE:
    smolproxy [OPTIONS]

Point browsers, curl (-x), apt and phones at it as their HTTP and HTTPS proxy.
Plain http:// requests are forwarded; https:// goes through CONNECT tunnels.
SOCKS5 clients may use the same port.

LISTENING:
    --listen ADDR              Address to listen on; repeat for several
                               (IPv4, [IPv6]:PORT, or a bare PORT = 127.0.0.1:PORT)
                               [default: 127.0.0.1:8888]
    --threads N                Executor threads [default: CPUs, at most 4]
    --max-clients N            Concurrent client connections; beyond it a new
                               client gets 503 and is closed [default: 1024]
    --dns-threads N            Threads for name lookups [default: 4]
    --user NAME                After binding, drop to NAME's uid, gid and groups
                               (start as root to bind ports below 1024)

TIMEOUTS (30 = 30s; units ms, s, m, h):
    --connect-timeout T        Upstream connect, and DNS lookup [default: 10s]
    --head-timeout T           Whole request head, once begun [default: 20s]
    --idle-timeout T           Idle keep-alive client connection [default: 60s]
    --read-timeout T           Silence during an exchange (504/close) [default: 120s]
    --tunnel-idle-timeout T    CONNECT tunnel with no traffic [default: 600s]
    --drain-timeout T          Grace for in-flight work on SIGINT/SIGTERM [default: 10s]

WHO MAY USE IT, WHERE IT MAY GO:
    --allow CIDR               Allow clients from CIDR (repeatable). Without any
                               --allow: loopback, private, link-local, CGNAT, ULA
    --deny CIDR                Refuse clients from CIDR (repeatable; wins over --allow)
    --auth-file FILE           Require Basic proxy auth; FILE has user:password lines.
                               Or set SMOLPROXY_AUTH=user:password for one user
    --connect-ports LIST       Ports CONNECT may reach: 443,8443 or any [default: 443]
    --block DOMAIN             Refuse DOMAIN and its subdomains (repeatable)
    --block-list FILE          Domains to refuse: plain, hosts-file or ||adblock^ lines
    --allow-domain DOMAIN      Permit DOMAIN even if blocked (repeatable)
    --allow-list FILE          Domains to permit even if blocked
    --default-deny             Refuse every domain not allowed by --allow-domain/-list
    --deny-private-targets     Refuse upstream connections to private addresses
                               SIGHUP reloads the auth file and every list.

SOCKS5 (same port; told apart from HTTP by its first byte):
    --socks-ports LIST         Ports SOCKS5 may reach: 80,443 or any [default: 80,443]
    --no-socks                 Do not answer SOCKS5 (only HTTP)

OWN PAGES (http://PROXY:PORT/: dashboard, /status.json, /metrics, /proxy.pac):
    --pac-direct DOMAIN        The PAC script sends DOMAIN and its subdomains
                               DIRECT, not through the proxy (repeatable)

UPSTREAM PROXIES:
    --upstream URL             Send everything through a parent proxy:
                               http://host:port, socks5://host:port (names
                               resolved here) or socks5h://host:port (by it).
                               Credentials: SMOLPROXY_UPSTREAM_AUTH=user:pass
    --upstream-for DOMAIN=URL  DOMAIN and its subdomains through URL, or
                               DOMAIN=direct to go directly (repeatable; the
                               most specific domain wins)
    --dns-server ADDR[:PORT]   Resolve names by asking this DNS server (repeatable;
                               /etc/hosts first, answers cached by TTL) instead
                               of the system resolver

OUTPUT:
    --no-via                   Do not add `Via: 1.1 smolproxy` (1.0 for HTTP/1.0 messages)
    --access-log FILE          Append access lines to FILE instead of stderr;
                               SIGHUP reopens it (for logrotate)
    --log-format FORMAT        Access lines as text or json (one object per line)
                               [default: text]
    -v, --verbose              More logs (-vv: trace)
    -q, --quiet                Warnings and errors only on stderr (no access lines there)
    --log-level LEVEL          off, error, warn, info, debug or trace
    -h, --help                 This text
    -V, --version              Version

EXAMPLES:
    smolproxy                                   # loopback only, port 8888
    smolproxy --listen 0.0.0.0:8888             # whole LAN (private ranges only)
    smolproxy --listen [::]:8888 --block-list /etc/smolproxy/ads.txt
    SMOLPROXY_AUTH=me:secret smolproxy --listen 0.0.0.0:3128
    curl -x http://127.0.0.1:8888 http://example.com/

Exit codes: 0 after a clean shutdown, 1 on a runtime failure (cannot listen),
2 on a usage error.
";

#[cfg(test)]
mod tests {
    use super::*;

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
