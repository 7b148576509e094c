//! Who may use the proxy and where it may go: the client access list
//! (CIDR allow/deny, private ranges by default), the ports CONNECT may
//! reach, and the egress guard that refuses upstream addresses that would
//! loop back into the proxy (and, with `--deny-private-targets`, private
//! ones). [`PolicyConfig`] holds the flags as given (file paths, not file
//! contents); [`Policy::new`] reads the auth file and domain lists
//! (`auth.rs`, `filter.rs`) and is called again on SIGHUP. Decisions are
//! pure functions of a [`Policy`] value; `conn.rs` asks before any DNS
//! lookup or connection.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use crate::auth::{AuthError, Credentials, Secret};
use crate::filter::{Blocked, DomainSet, Filter};

/// An IP network: address and prefix length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// Parse `10.0.0.0/8`, `fd00::/8` or a bare address (a /32 or /128).
    pub fn parse(s: &str) -> Result<Cidr, String> {
        let bad = || format!("invalid CIDR '{s}' (try 192.168.1.0/24 or fd00::/8)");
        let (a, p) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = a.parse().map_err(|_| bad())?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match p {
            None => max,
            Some(p) if !p.is_empty() && p.len() <= 3 && p.bytes().all(|b| b.is_ascii_digit()) => {
                p.parse::<u8>().ok().filter(|&n| n <= max).ok_or_else(bad)?
            }
            Some(_) => return Err(bad()),
        };
        Ok(Cidr {
            addr: canonical(addr),
            prefix,
        })
    }

    /// Whether `ip` lies in this network. IPv4-mapped IPv6 addresses are
    /// matched as IPv4.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, canonical(ip)) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

/// `::ffff:a.b.c.d` → `a.b.c.d`; anything else unchanged.
pub fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// Clients allowed when no `--allow` is given: loopback, RFC 1918 private,
/// link-local, CGNAT (RFC 6598), IPv6 loopback, ULA and link-local. A
/// proxy reachable from the internet must not become an open proxy.
pub const DEFAULT_ALLOWED: &[&str] = &[
    "127.0.0.0/8",
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "169.254.0.0/16",
    "100.64.0.0/10",
    "::1/128",
    "fc00::/7",
    "fe80::/10",
];

/// Upstream addresses `--deny-private-targets` refuses besides
/// [`DEFAULT_ALLOWED`] (loopback, RFC 1918, link-local, CGNAT, ULA):
/// 0.0.0.0/8, "this network" (RFC 791 §3.2; Linux routes it to the host).
pub const MORE_PRIVATE_TARGETS: &[&str] = &["0.0.0.0/8"];

/// Ports CONNECT may reach by default: HTTPS only, as tinyproxy advises,
/// so the proxy cannot be used to reach mail or other services.
pub const DEFAULT_CONNECT_PORTS: &[u16] = &[443];

/// Which ports CONNECT may reach.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnectPorts {
    /// Any port.
    Any,
    /// Only these.
    Only(Vec<u16>),
}

impl ConnectPorts {
    /// Parse `443,8443` or `any`.
    pub fn parse(s: &str) -> Result<ConnectPorts, String> {
        if s.eq_ignore_ascii_case("any") {
            return Ok(ConnectPorts::Any);
        }
        let ports: Result<Vec<u16>, _> = s
            .split(',')
            .map(|p| match p.trim().parse::<u16>() {
                Ok(0) | Err(_) => Err(format!(
                    "--connect-ports: invalid port '{p}' (try 443,8443 or any)"
                )),
                Ok(n) => Ok(n),
            })
            .collect();
        ports.map(ConnectPorts::Only)
    }

    fn allows(&self, port: u16) -> bool {
        match self {
            ConnectPorts::Any => true,
            ConnectPorts::Only(list) => list.contains(&port),
        }
    }
}

/// The policy flags as given on the command line.
#[derive(Debug, Clone)]
pub struct PolicyConfig {
    /// `--allow` networks; empty means [`DEFAULT_ALLOWED`].
    pub allow: Vec<Cidr>,
    /// `--deny` networks; win over `allow`.
    pub deny: Vec<Cidr>,
    /// `--connect-ports`.
    pub connect_ports: ConnectPorts,
    /// `--auth-file`: `user:password` lines.
    pub auth_file: Option<PathBuf>,
    /// `SMOLPROXY_AUTH` (set by `main.rs` from the environment, so that
    /// argument parsing stays pure).
    pub auth_env: Option<Secret>,
    /// `--block` domains, normalised.
    pub block: Vec<String>,
    /// `--block-list` files.
    pub block_lists: Vec<PathBuf>,
    /// `--allow-domain` domains, normalised.
    pub allow_domains: Vec<String>,
    /// `--allow-list` files.
    pub allow_lists: Vec<PathBuf>,
    /// `--default-deny`: only allowed domains may be reached.
    pub default_deny: bool,
    /// `--deny-private-targets`: refuse private addresses upstream ([`DEFAULT_ALLOWED`], [`MORE_PRIVATE_TARGETS`]).
    pub deny_private_targets: bool,
}

impl Default for PolicyConfig {
    fn default() -> Self {
        PolicyConfig {
            allow: Vec::new(),
            deny: Vec::new(),
            connect_ports: ConnectPorts::Only(DEFAULT_CONNECT_PORTS.to_vec()),
            auth_file: None,
            auth_env: None,
            block: Vec::new(),
            block_lists: Vec::new(),
            allow_domains: Vec::new(),
            allow_lists: Vec::new(),
            default_deny: false,
            deny_private_targets: false,
        }
    }
}

/// A domain given on the command line, normalised, or a usage error.
fn domain_arg(flag: &str, s: &str) -> Result<String, String> {
    crate::filter::normalize_rule(s)
        .ok_or_else(|| format!("{flag}: invalid domain '{s}' (try ads.example.com)"))
}

fn block_arg(s: &str) -> Result<String, String> {
    domain_arg("--block", s)
}

fn allow_domain_arg(s: &str) -> Result<String, String> {
    domain_arg("--allow-domain", s)
}

impl PolicyConfig {
    /// Take the policy flags out of `p`.
    pub fn from_args(p: &mut pico_args::Arguments) -> Result<PolicyConfig, String> {
        let mut c = PolicyConfig::default();
        let arg = crate::config::arg_error;
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
}

/// Why the policy says no: each maps to 403 (`error.rs`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Denied {
    /// The client address is not allowed to use the proxy.
    Client(IpAddr),
    /// CONNECT to a port not in `--connect-ports`.
    ConnectPort(u16),
    /// An upstream address the proxy never connects to.
    Target(SocketAddr),
    /// An upstream address that is one of the proxy's own (508).
    Loop(SocketAddr),
    /// A private upstream address, with `--deny-private-targets`.
    PrivateTarget(SocketAddr),
    /// A domain rule refuses the target host.
    Domain(String, Blocked),
}

impl Denied {
    /// A short explanation for the error page and the log.
    pub fn message(&self) -> String {
        match self {
            Denied::Client(ip) => format!("client {ip} is not allowed to use this proxy"),
            Denied::ConnectPort(p) => {
                format!("CONNECT to port {p} is not allowed (see --connect-ports)")
            }
            Denied::Target(a) => format!("connections to {a} are not allowed"),
            Denied::Loop(a) => format!("{a} is this proxy: the request would loop"),
            Denied::PrivateTarget(a) => {
                format!("{a} is a private address (see --deny-private-targets)")
            }
            Denied::Domain(host, Blocked::Rule(rule)) => {
                format!("{host} is blocked by the rule '{rule}'")
            }
            Denied::Domain(host, Blocked::NotAllowed) => {
                format!("{host} is not on the allow list (--default-deny)")
            }
        }
    }
}

/// The decisions, built from a [`PolicyConfig`] at start-up and on
/// every reload.
#[derive(Debug)]
pub struct Policy {
    allow: Vec<Cidr>,
    deny: Vec<Cidr>,
    connect_ports: ConnectPorts,
    auth: Option<Credentials>,
    filter: Filter,
    private_targets: Vec<Cidr>,
}

fn cidrs(list: &[&str]) -> Vec<Cidr> {
    list.iter().filter_map(|s| Cidr::parse(s).ok()).collect()
}

/// Load `paths` into `set`, logging what each file held and its first bad
/// lines. An unreadable file fails the whole load.
fn load_lists(set: &mut DomainSet, paths: &[PathBuf], what: &str) -> Result<(), String> {
    for path in paths {
        let r = crate::filter::load_list(set, path)?;
        log::info!("{what} {}: {} rules", path.display(), r.rules);
        for e in &r.examples {
            log::warn!("{e}");
        }
        if r.bad > 0 {
            log::warn!(
                "{}: {} lines not understood and ignored",
                path.display(),
                r.bad
            );
        }
    }
    Ok(())
}

impl Policy {
    /// Build the policy for `c`, reading the auth file and every domain
    /// list. Errors name the file (and line, for the auth file).
    pub fn new(c: &PolicyConfig) -> Result<Policy, String> {
        let allow = if c.allow.is_empty() {
            cidrs(DEFAULT_ALLOWED)
        } else {
            c.allow.clone()
        };
        let auth = if c.auth_file.is_some() || c.auth_env.is_some() {
            let mut creds = Credentials::default();
            if let Some(s) = &c.auth_env {
                creds.add_env(s)?;
            }
            if let Some(path) = &c.auth_file {
                let n = creds.add_file(path)?;
                log::info!("auth file {}: {n} users", path.display());
            }
            Some(creds)
        } else {
            None
        };
        let mut filter = Filter {
            default_deny: c.default_deny,
            ..Filter::default()
        };
        for d in &c.block {
            filter.block.insert(d);
        }
        for d in &c.allow_domains {
            filter.allow.insert(d);
        }
        load_lists(&mut filter.block, &c.block_lists, "block list")?;
        load_lists(&mut filter.allow, &c.allow_lists, "allow list")?;
        filter.block.shrink_to_fit();
        filter.allow.shrink_to_fit();
        Ok(Policy {
            allow,
            deny: c.deny.clone(),
            connect_ports: c.connect_ports.clone(),
            auth,
            filter,
            private_targets: if c.deny_private_targets {
                let mut v = cidrs(DEFAULT_ALLOWED);
                v.extend(cidrs(MORE_PRIVATE_TARGETS));
                v
            } else {
                Vec::new()
            },
        })
    }

    /// Whether proxy authentication is required.
    pub fn requires_auth(&self) -> bool {
        self.auth.is_some()
    }

    /// Check the request's `Proxy-Authorization` values. `Ok(None)` when
    /// no authentication is configured, `Ok(Some(user))` on success.
    pub fn authenticate<'a>(
        &self,
        fields: impl Iterator<Item = &'a [u8]>,
    ) -> Result<Option<String>, AuthError> {
        match &self.auth {
            None => Ok(None),
            Some(c) => c.check(fields).map(|u| Some(u.to_string())),
        }
    }

    /// May the proxy go to `host` (lower-case, from the request target)?
    pub fn check_host(&self, host: &str) -> Result<(), Denied> {
        self.filter
            .check(host)
            .map_err(|b| Denied::Domain(host.to_string(), b))
    }

    /// May this client use the proxy? Deny wins over allow.
    pub fn check_client(&self, ip: IpAddr) -> Result<(), Denied> {
        let ip = canonical(ip);
        if self.deny.iter().any(|n| n.contains(ip)) || !self.allow.iter().any(|n| n.contains(ip)) {
            return Err(Denied::Client(ip));
        }
        Ok(())
    }

    /// May CONNECT reach this port?
    pub fn check_connect_port(&self, port: u16) -> Result<(), Denied> {
        if self.connect_ports.allows(port) {
            Ok(())
        } else {
            Err(Denied::ConnectPort(port))
        }
    }

    /// May the proxy connect to `addr`? Never to 0.0.0.0 or :: (which reach
    /// the local host), nor to one of its own listening sockets (a loop),
    /// nor, with `--deny-private-targets`, to private addresses. Asked
    /// for every resolved address, just before connecting.
    pub fn check_target(&self, addr: SocketAddr, own: &[SocketAddr]) -> Result<(), Denied> {
        let ip = canonical(addr.ip());
        if ip.is_unspecified() {
            return Err(Denied::Target(addr));
        }
        let local = ip.is_loopback();
        let looped = own.iter().any(|l| {
            l.port() == addr.port()
                && (canonical(l.ip()) == ip || (l.ip().is_unspecified() && local))
        });
        if looped {
            return Err(Denied::Loop(addr));
        }
        if self.private_targets.iter().any(|n| n.contains(ip)) {
            return Err(Denied::PrivateTarget(addr));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn cidr_table() {
        let cases = [
            ("10.0.0.0/8", "10.255.1.2", true),
            ("10.0.0.0/8", "11.0.0.1", false),
            ("192.168.1.7", "192.168.1.7", true),
            ("192.168.1.7", "192.168.1.8", false),
            ("0.0.0.0/0", "8.8.8.8", true),
            ("fd00::/8", "fd12::1", true),
            ("fd00::/8", "fe80::1", false),
            ("::/0", "2001:db8::1", true),
            ("127.0.0.0/8", "::ffff:127.0.0.1", true),
            ("::1", "::1", true),
            ("10.0.0.0/8", "::1", false),
        ];
        for (net, addr, want) in cases {
            assert_eq!(
                Cidr::parse(net).unwrap().contains(ip(addr)),
                want,
                "{net} {addr}"
            );
        }
        for bad in [
            "10.0.0.0/33",
            "fd00::/129",
            "10.0.0/8",
            "x",
            "10.0.0.0/",
            "10.0.0.0/-1",
            "::/+1",
        ] {
            assert!(Cidr::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn default_clients() {
        let p = Policy::new(&PolicyConfig::default()).unwrap();
        for ok in [
            "127.0.0.1",
            "192.168.1.20",
            "10.1.2.3",
            "172.31.0.1",
            "::1",
            "fd00::5",
            "fe80::1",
            "::ffff:192.168.0.2",
            "100.64.3.3",
            "169.254.0.9",
        ] {
            assert_eq!(p.check_client(ip(ok)), Ok(()), "{ok}");
        }
        for no in ["8.8.8.8", "172.32.0.1", "2001:db8::1", "::ffff:8.8.8.8"] {
            assert!(p.check_client(ip(no)).is_err(), "{no}");
        }
    }

    #[test]
    fn deny_wins() {
        let c = PolicyConfig {
            allow: vec![Cidr::parse("10.0.0.0/8").unwrap()],
            deny: vec![Cidr::parse("10.0.0.66").unwrap()],
            ..PolicyConfig::default()
        };
        let p = Policy::new(&c).unwrap();
        assert_eq!(p.check_client(ip("10.0.0.1")), Ok(()));
        assert!(p.check_client(ip("10.0.0.66")).is_err());
        assert!(
            p.check_client(ip("127.0.0.1")).is_err(),
            "explicit allow replaces defaults"
        );
    }

    #[test]
    fn ports_and_targets() {
        let p = Policy::new(&PolicyConfig::default()).unwrap();
        assert_eq!(p.check_connect_port(443), Ok(()));
        assert_eq!(p.check_connect_port(25), Err(Denied::ConnectPort(25)));
        assert_eq!(ConnectPorts::parse("any"), Ok(ConnectPorts::Any));
        assert_eq!(
            ConnectPorts::parse("443, 8443"),
            Ok(ConnectPorts::Only(vec![443, 8443]))
        );
        assert!(ConnectPorts::parse("443,x").is_err());
        assert!(ConnectPorts::parse("0").is_err());
        let own: Vec<SocketAddr> = vec![
            "127.0.0.1:8888".parse().unwrap(),
            "0.0.0.0:3128".parse().unwrap(),
        ];
        let t = |s: &str| p.check_target(s.parse().unwrap(), &own);
        assert_eq!(
            t("127.0.0.1:8888"),
            Err(Denied::Loop("127.0.0.1:8888".parse().unwrap()))
        );
        assert!(t("127.0.0.2:3128").is_err());
        assert!(t("0.0.0.0:80").is_err());
        assert!(t("[::]:80").is_err());
        assert!(t("[::ffff:127.0.0.1]:8888").is_err());
        assert_eq!(t("127.0.0.1:80"), Ok(()));
        assert_eq!(t("192.168.1.1:8888"), Ok(()));
    }

    #[test]
    fn private_targets_only_with_the_flag() {
        let c = PolicyConfig {
            deny_private_targets: true,
            ..PolicyConfig::default()
        };
        let p = Policy::new(&c).unwrap();
        for no in [
            "127.0.0.1:80",
            "10.1.1.1:443",
            "192.168.0.1:80",
            "[::1]:80",
            "[fd00::1]:443",
            "[::ffff:10.0.0.1]:80",
            "0.1.2.3:80",
            "169.254.169.254:80",
        ] {
            let a: SocketAddr = no.parse().unwrap();
            assert_eq!(
                p.check_target(a, &[]),
                Err(Denied::PrivateTarget(a)),
                "{no}"
            );
        }
        for ok in ["8.8.8.8:443", "[2001:db8::1]:443", "172.32.0.1:80"] {
            assert_eq!(p.check_target(ok.parse().unwrap(), &[]), Ok(()), "{ok}");
        }
        let off = Policy::new(&PolicyConfig::default()).unwrap();
        assert_eq!(
            off.check_target("10.1.1.1:443".parse().unwrap(), &[]),
            Ok(())
        );
    }

    fn parse(args: &[&str]) -> Result<PolicyConfig, String> {
        let mut p = pico_args::Arguments::from_vec(args.iter().map(Into::into).collect());
        PolicyConfig::from_args(&mut p)
    }

    #[test]
    fn flags() {
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

    #[test]
    fn unreadable_files_fail_the_build() {
        let c = PolicyConfig {
            block_lists: vec!["/nonexistent/ads.txt".into()],
            ..PolicyConfig::default()
        };
        let e = Policy::new(&c).unwrap_err();
        assert!(e.contains("/nonexistent/ads.txt"), "{e}");
        let c = PolicyConfig {
            auth_file: Some("/nonexistent/users".into()),
            ..PolicyConfig::default()
        };
        assert!(Policy::new(&c).unwrap_err().contains("/nonexistent/users"));
        let c = PolicyConfig {
            auth_env: Some(Secret("nocolon".into())),
            ..PolicyConfig::default()
        };
        assert!(Policy::new(&c).unwrap_err().starts_with("SMOLPROXY_AUTH"));
    }

    #[test]
    fn domain_rules_from_flags() {
        let c = PolicyConfig {
            block: vec!["example.com".into()],
            allow_domains: vec!["ok.example.com".into()],
            ..PolicyConfig::default()
        };
        let p = Policy::new(&c).unwrap();
        assert_eq!(p.check_host("ok.example.com"), Ok(()));
        assert_eq!(
            p.check_host("www.example.com").unwrap_err().message(),
            "www.example.com is blocked by the rule 'example.com'"
        );
        assert!(!p.requires_auth());
        assert_eq!(p.authenticate(std::iter::empty()), Ok(None));
    }
}
