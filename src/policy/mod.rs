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

pub mod acl;
pub mod ports;
mod load;
pub mod auth;
pub mod filter;
pub mod paths;
#[cfg(feature = "tls")]
pub mod inspect;
pub mod guessing;

pub use acl::Cidr;
use acl::{DEFAULT_ALLOWED, MORE_PRIVATE_TARGETS, canonical, cidrs};
pub use auth::Secret;
use auth::{AuthError, Credentials};
use filter::{Blocked, DomainSet, Filter};
pub use load::PolicyError;
use paths::PathRules;
pub use ports::ConnectPorts;
use ports::DEFAULT_CONNECT_PORTS;

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
    /// `--inspect`: which CONNECTs are inspected; `None`: none.
    #[cfg(feature = "tls")]
    pub inspect: Option<inspect::InspectScope>,
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
            #[cfg(feature = "tls")]
            inspect: None,
        }
    }
}

/// Why the policy says no: each maps to 403 (`error.rs`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Denied {
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
    pub(crate) fn message(&self) -> String {
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
    #[cfg(feature = "tls")]
    inspect: Option<inspect::Scope>,
}

/// Load `paths` into `set`, logging what each file held and its first bad
/// lines. An unreadable file fails the whole load.
fn load_lists(
    set: &mut DomainSet,
    mut rules: Option<&mut PathRules>,
    paths: &[PathBuf],
    what: &str,
) -> Result<(), PolicyError> {
    for path in paths {
        let r = filter::load_list(set, rules.as_deref_mut(), path)?;
        let plural = if r.rules == 1 { "" } else { "s" };
        log::info!("{what} {}: {} rule{plural}", path.display(), r.rules);
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
    pub fn new(c: &PolicyConfig) -> Result<Policy, PolicyError> {
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
        let block_paths = Some(&mut filter.paths);
        load_lists(&mut filter.block, block_paths, &c.block_lists, "block list")?;
        load_lists(&mut filter.allow, None, &c.allow_lists, "allow list")?;
        filter.paths.shrink_to_fit();
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
            #[cfg(feature = "tls")]
            inspect: c.inspect.as_ref().map(inspect::Scope::new),
        })
    }

    /// Check the request's `Proxy-Authorization` values. `Ok(None)` when
    /// no authentication is configured, `Ok(Some(user))` on success.
    pub(crate) fn authenticate<'a>(
        &self,
        fields: impl Iterator<Item = &'a [u8]>,
    ) -> Result<Option<String>, AuthError> {
        match &self.auth {
            None => Ok(None),
            Some(c) => c.check(fields).map(|u| Some(u.to_string())),
        }
    }

    /// Whether clients must authenticate (`--auth-file`, `SMOLPROXY_AUTH`).
    pub(crate) fn auth_required(&self) -> bool {
        self.auth.is_some()
    }

    /// Check a user name and password (SOCKS5, RFC 1929) against the same
    /// users as `Proxy-Authorization`, in constant time. `Ok(None)` when no
    /// authentication is configured, `Ok(Some(user))` on success.
    pub(crate) fn authenticate_pair(
        &self,
        user: &[u8],
        pass: &[u8],
    ) -> Result<Option<String>, AuthError> {
        match &self.auth {
            None => Ok(None),
            Some(c) => c.check_pair(user, pass).map(|u| Some(u.to_string())),
        }
    }

    /// May the proxy go to `host` (lower-case, from the request target)?
    pub(crate) fn check_host(&self, host: &str) -> Result<(), Denied> {
        self.filter
            .check(host)
            .map_err(|b| Denied::Domain(host.to_string(), b))
    }

    /// May `path` be fetched on `host`, as far as path rules go? Asked only
    /// where the path is seen: plain HTTP and inspected HTTPS.
    pub(crate) fn check_path(&self, host: &str, path: &str) -> Result<(), Denied> {
        if self.filter.paths.is_empty() {
            return Ok(());
        }
        self.filter
            .check_path(host, path)
            .map_err(|b| Denied::Domain(host.to_string(), b))
    }

    /// Whether a CONNECT to `host:port` is inspected (`--inspect`).
    #[cfg(feature = "tls")]
    pub(crate) fn inspects(&self, host: &str, port: u16) -> bool {
        self.inspect.as_ref().is_some_and(|s| s.covers(host, port))
    }

    /// May this client use the proxy? Deny wins over allow.
    pub(crate) fn check_client(&self, ip: IpAddr) -> Result<(), Denied> {
        let ip = canonical(ip);
        if self.deny.iter().any(|n| n.contains(ip)) || !self.allow.iter().any(|n| n.contains(ip)) {
            return Err(Denied::Client(ip));
        }
        Ok(())
    }

    /// May CONNECT reach this port?
    pub(crate) fn check_connect_port(&self, port: u16) -> Result<(), Denied> {
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
    pub(crate) fn check_target(&self, addr: SocketAddr, own: &[SocketAddr]) -> Result<(), Denied> {
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

    #[test]
    fn unreadable_files_fail_the_build() {
        let c = PolicyConfig {
            block_lists: vec!["/nonexistent/ads.txt".into()],
            ..PolicyConfig::default()
        };
        let e = Policy::new(&c).unwrap_err();
        assert!(e.to_string().contains("/nonexistent/ads.txt"), "{e}");
        let c = PolicyConfig {
            auth_file: Some("/nonexistent/users".into()),
            ..PolicyConfig::default()
        };
        assert!(
            Policy::new(&c)
                .unwrap_err()
                .to_string()
                .contains("/nonexistent/users")
        );
        let c = PolicyConfig {
            auth_env: Some(Secret("nocolon".into())),
            ..PolicyConfig::default()
        };
        assert!(
            Policy::new(&c)
                .unwrap_err()
                .to_string()
                .starts_with("SMOLPROXY_AUTH")
        );
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
        assert_eq!(p.authenticate(std::iter::empty()), Ok(None));
    }

    #[test]
    fn user_password_pairs() {
        let open = Policy::new(&PolicyConfig::default()).unwrap();
        assert!(!open.auth_required());
        assert_eq!(open.authenticate_pair(b"any", b"thing"), Ok(None));
        let c = PolicyConfig {
            auth_env: Some(Secret("me:pa:ss".into())),
            ..PolicyConfig::default()
        };
        let p = Policy::new(&c).unwrap();
        assert!(p.auth_required());
        assert_eq!(p.authenticate_pair(b"me", b"pa:ss"), Ok(Some("me".into())));
        for (u, pw) in [
            (&b"me"[..], &b"pa:s"[..]),
            (b"me", b"pa:ss "),
            (b"Me", b"pa:ss"),
            (b"", b""),
        ] {
            assert_eq!(p.authenticate_pair(u, pw), Err(AuthError::Wrong), "{u:?}");
        }
    }
}
