//! The one place a parsed request becomes a decision: answer it with one
//! of the proxy's own pages, refuse it with a reason, open a tunnel, or
//! forward it directly to its origin. The order is the policy's: who may
//! ask (407), then where to (domain rules, 403), then the CONNECT port —
//! all before any DNS lookup or connection; then which hop: directly or
//! through the parent proxy the `--upstream` rules name. Own pages answer origin-form
//! requests and absolute-form ones whose authority is the proxy itself (an
//! IP literal of a listening address, or the address the client reached);
//! with authentication on, the pages showing traffic need the
//! credentials (401 for a direct request, 407 through the proxy). Pure: a
//! head, the policy in force, where the proxy listens and the upstream
//! rules go in, a
//! [`Decision`] comes out; `conn.rs` carries it out.

use std::net::{IpAddr, SocketAddr};

use crate::error::Error;
use crate::http::framing::max_forwards;
use crate::http::head::Head;
use crate::http::target::{Authority, Target, parse_authority, parse_target};
use crate::own::pages::Page;
use crate::policy::Policy;
use crate::upstream::chain::{Hop, Hops};

/// What to do with one request.
#[derive(Debug)]
pub(crate) enum Route {
    /// The proxy answers with a page of its own.
    Own(Page),
    /// The request is refused: the error knows its status and reason.
    Refuse(Error),
    /// CONNECT: open a tunnel to this authority, through this hop.
    Tunnel(Authority, Hop),
    /// CONNECT under `--inspect`: open it ourselves (`tls/inspect.rs`) and
    /// forward its requests to this authority over TLS, through this hop.
    #[cfg(feature = "tls")]
    Inspect(Authority, Hop),
    /// Plain HTTP: forward to the origin ourselves.
    Direct {
        /// Where to connect.
        origin: Authority,
        /// The Host field to send (RFC 9112 §3.2.2).
        host_field: String,
        /// The origin-form target to send: path and query, exact.
        path: String,
        /// Directly (`None`) or through this parent proxy.
        hop: Hop,
    },
}

/// A route and who asked for it.
#[derive(Debug)]
pub(crate) struct Decision {
    /// What to do.
    pub(crate) route: Route,
    /// The authenticated user, once authentication has passed.
    pub(crate) user: Option<String>,
}

/// Stands for the reached address when it was not asked for: port 0
/// matches no request-target (a target's port is never 0).
pub(crate) const NOWHERE: SocketAddr = SocketAddr::V4(std::net::SocketAddrV4::new(
    std::net::Ipv4Addr::UNSPECIFIED,
    0,
));

/// Whether a request-target may name the proxy itself, so its caller must
/// know the address the client reached: origin-form and `*`, and
/// absolute-form whose host may be an IP literal (a bracket or a digit
/// first; only IP literals are recognised as the proxy, see [`Here`]).
pub(crate) fn may_name_self(target: &str) -> bool {
    let rest = match target.get(..7) {
        Some(scheme) if scheme.eq_ignore_ascii_case("http://") => target.get(7..).unwrap_or(""),
        _ => return target.starts_with('/') || target == "*",
    };
    rest.starts_with(|c: char| c == '[' || c.is_ascii_digit())
}

/// Where the proxy is, to recognise requests addressed to itself.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Here<'a> {
    /// The address this client connected to.
    pub(crate) reached: SocketAddr,
    /// Every listening address.
    pub(crate) listening: &'a [SocketAddr],
}

impl Here<'_> {
    /// Whether `a` names the proxy itself. Only IP literals are recognised
    /// (no DNS here); a name for the proxy, `localhost` included, still
    /// reaches the egress guard, which refuses the loop (508).
    fn is_self(&self, a: &Authority) -> bool {
        let Ok(ip) = a.host.parse::<IpAddr>().map(|ip| ip.to_canonical()) else {
            return false;
        };
        let reached = self.reached.ip().to_canonical();
        (ip == reached && a.port == self.reached.port())
            || self.listening.iter().any(|l| {
                let lip = l.ip().to_canonical();
                l.port() == a.port && (lip == ip || (lip.is_unspecified() && ip.is_loopback()))
            })
    }
}

/// Decide what to do with `head` under `policy`, reaching origins as
/// `hops` say.
pub(crate) fn route(head: &Head, policy: &Policy, here: &Here<'_>, hops: &Hops) -> Decision {
    let mut user = None;
    let route = decide(head, policy, here, hops, &mut user).unwrap_or_else(Route::Refuse);
    Decision { route, user }
}

/// An own page asked for directly (origin-form): the pages showing
/// traffic need the credentials, in `Authorization` (a browser sends it
/// after the 401) or `Proxy-Authorization`.
fn own_page(
    page: Page,
    head: &Head,
    policy: &Policy,
    user: &mut Option<String>,
) -> Result<Route, Error> {
    if page.needs_auth() {
        let field = if head.value("authorization").is_some() {
            "authorization"
        } else {
            "proxy-authorization"
        };
        *user = policy
            .authenticate(head.values(field))
            .map_err(Error::PageAuth)?;
    }
    Ok(Route::Own(page))
}

fn decide(
    head: &Head,
    policy: &Policy,
    here: &Here<'_>,
    hops: &Hops,
    user: &mut Option<String>,
) -> Result<Route, Error> {
    let target = parse_target(&head.method, &head.target).map_err(Error::Target)?;
    check_host_fields(head)?;
    if max_forwards(head) == Some(0) {
        // RFC 9110 §7.6.2: the last hop a TRACE or OPTIONS may take.
        return Ok(Route::Own(Page::LastHop));
    }
    if let Target::Connect(_) | Target::Http { .. } = &target {
        *user = policy
            .authenticate(head.values("proxy-authorization"))
            .map_err(Error::ProxyAuth)?;
    }
    match target {
        Target::Connect(authority) => {
            policy.check_host(&authority.host).map_err(Error::Denied)?;
            policy
                .check_connect_port(authority.port)
                .map_err(Error::Denied)?;
            let hop = hops.pick(&authority.host).cloned();
            #[cfg(feature = "tls")]
            if policy.inspects(&authority.host, authority.port) {
                return Ok(Route::Inspect(authority, hop));
            }
            Ok(Route::Tunnel(authority, hop))
        }
        Target::Http {
            authority, path, ..
        } if here.is_self(&authority) => Ok(Route::Own(Page::for_path(&path))),
        Target::Http {
            authority,
            host_field,
            path,
        } => {
            policy.check_host(&authority.host).map_err(Error::Denied)?;
            policy
                .check_path(&authority.host, &path)
                .map_err(Error::Denied)?;
            let hop = hops.pick(&authority.host).cloned();
            Ok(Route::Direct {
                origin: authority,
                host_field,
                path,
                hop,
            })
        }
        Target::Https => Err(Error::NotImplemented(
            "https:// URLs must be sent through a CONNECT tunnel (set this proxy for HTTPS too)",
        )),
        Target::OtherScheme => Err(Error::NotImplemented(
            "only http:// URLs and CONNECT are supported",
        )),
        Target::Origin(path) => own_page(Page::for_path(&path), head, policy, user),
        Target::Asterisk => Ok(Route::Own(Page::NotFound)),
    }
}

/// A request that reached a `--transparent` listener (its client does not
/// know of the proxy), whose connection the firewall redirected from `to`:
/// the target is origin-form, so the name comes from the one `Host` field
/// (RFC 9112 §3.2; absolute-form is taken too, §3.2.2), the domain rules
/// apply to that name, and the origin dialed is `to` itself — no DNS, so
/// the name cannot point elsewhere; the egress guard still sees `to`.
/// No proxy credentials (the client cannot know of them); no parent.
pub(crate) fn transparent(head: &Head, policy: &Policy, to: SocketAddr) -> Route {
    transparent_route(head, policy, to).unwrap_or_else(Route::Refuse)
}

fn transparent_route(head: &Head, policy: &Policy, to: SocketAddr) -> Result<Route, Error> {
    let target = parse_target(&head.method, &head.target).map_err(Error::Target)?;
    check_host_fields(head)?;
    let (name, host_field, path) = match target {
        Target::Origin(path) => {
            let host = head
                .value("host")
                .and_then(|h| std::str::from_utf8(h).ok())
                .ok_or(Error::BadRequest("missing Host field"))?;
            let a = parse_authority(host, Some(80)).map_err(Error::Target)?;
            (a.host, host.to_string(), path)
        }
        Target::Http {
            authority,
            host_field,
            path,
        } => (authority.host, host_field, path),
        _ => {
            return Err(Error::NotImplemented(
                "a redirected connection takes origin-form HTTP requests only",
            ));
        }
    };
    policy.check_host(&name).map_err(Error::Denied)?;
    policy.check_path(&name, &path).map_err(Error::Denied)?;
    let origin = Authority {
        host: to.ip().to_canonical().to_string(),
        port: to.port(),
    };
    Ok(Route::Direct {
        origin,
        host_field,
        path,
        hop: None,
    })
}

/// RFC 9112 §3.2: an HTTP/1.1 request must carry exactly one Host field.
/// (Its value is then replaced by the target's authority, §3.2.2.)
fn check_host_fields(head: &Head) -> Result<(), Error> {
    match head.values("host").count() {
        0 if head.minor >= 1 && head.method != "CONNECT" => {
            Err(Error::BadRequest("missing Host field"))
        }
        0 | 1 => Ok(()),
        _ => Err(Error::BadRequest("more than one Host field")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::head::test_request as head;
    use crate::policy::PolicyConfig;
    use crate::policy::auth::Secret;

    fn via(hop: &Hop) -> String {
        hop.as_ref()
            .map_or(String::new(), |p| format!(" via {}", p.addr.to_host_port()))
    }

    /// The route's shape and status, as one short string.
    fn shape(d: &Decision) -> String {
        match &d.route {
            Route::Own(p) => format!("own {p:?}"),
            Route::Refuse(e) => format!("refuse {}", e.status().unwrap_or(0)),
            Route::Tunnel(a, hop) => format!("tunnel {}{}", a.to_host_port(), via(hop)),
            #[cfg(feature = "tls")]
            Route::Inspect(a, hop) => format!("inspect {}{}", a.to_host_port(), via(hop)),
            Route::Direct {
                origin,
                host_field,
                path,
                hop,
            } => format!(
                "direct {} {host_field} {path}{}",
                origin.to_host_port(),
                via(hop)
            ),
        }
    }

    #[test]
    fn decisions() {
        let c = PolicyConfig {
            block: vec!["ads.example".into()],
            ..PolicyConfig::default()
        };
        let open = Policy::new(&c).unwrap();
        let c = PolicyConfig {
            auth_env: Some(Secret("alice:pw".into())),
            ..PolicyConfig::default()
        };
        let locked = Policy::new(&c).unwrap();
        // "alice:pw" in base64.
        let creds = "Proxy-Authorization: Basic YWxpY2U6cHc=\r\n";
        let cases: &[(&Policy, String, &str)] = &[
            (
                &open,
                "GET / HTTP/1.1\r\nHost: p\r\n\r\n".into(),
                "own Dashboard",
            ),
            (
                &open,
                "OPTIONS * HTTP/1.1\r\nHost: p\r\n\r\n".into(),
                "own NotFound",
            ),
            (
                &open,
                "GET /metrics HTTP/1.1\r\nHost: p\r\n\r\n".into(),
                "own Metrics",
            ),
            // Absolute-form to the proxy's own addresses: its pages.
            (
                &open,
                "GET http://127.0.0.1:8888/metrics HTTP/1.1\r\nHost: x\r\n\r\n".into(),
                "own Metrics",
            ),
            (
                &open,
                "GET http://[::ffff:192.168.1.2]:8888/status.json HTTP/1.1\r\nHost: x\r\n\r\n"
                    .into(),
                "own StatusJson",
            ),
            (
                &open,
                "GET http://127.0.0.1:3128/x HTTP/1.1\r\nHost: x\r\n\r\n".into(),
                "own NotFound",
            ),
            (
                &open,
                "GET http://127.0.0.5:3128/wpad.dat HTTP/1.1\r\nHost: x\r\n\r\n".into(),
                "own Pac",
            ),
            // Other ports, other addresses, names: forwarded (the egress
            // guard still refuses a loop through a name, 508).
            (
                &open,
                "GET http://127.0.0.1:8889/metrics HTTP/1.1\r\nHost: x\r\n\r\n".into(),
                "direct 127.0.0.1:8889 127.0.0.1:8889 /metrics",
            ),
            (
                &open,
                "GET http://192.168.1.3:8888/ HTTP/1.1\r\nHost: x\r\n\r\n".into(),
                "direct 192.168.1.3:8888 192.168.1.3:8888 /",
            ),
            (
                &open,
                "GET http://pi.lan:8888/ HTTP/1.1\r\nHost: x\r\n\r\n".into(),
                "direct pi.lan:8888 pi.lan:8888 /",
            ),
            (
                &open,
                "GET http://localhost:8888/ HTTP/1.1\r\nHost: x\r\n\r\n".into(),
                "direct localhost:8888 localhost:8888 /",
            ),
            (
                &open,
                "GET http://a.test:81/x?y HTTP/1.1\r\nHost: a.test:81\r\n\r\n".into(),
                "direct a.test:81 a.test:81 /x?y",
            ),
            (
                &open,
                "CONNECT a.test:443 HTTP/1.1\r\nHost: a.test:443\r\n\r\n".into(),
                "tunnel a.test:443",
            ),
            (
                &open,
                "CONNECT a.test:25 HTTP/1.1\r\n\r\n".into(),
                "refuse 403",
            ),
            (
                &open,
                "GET http://x.ads.example/ HTTP/1.1\r\nHost: x\r\n\r\n".into(),
                "refuse 403",
            ),
            (
                &open,
                "GET http://a.test/ HTTP/1.1\r\n\r\n".into(),
                "refuse 400",
            ),
            (
                &open,
                "GET http://a.test/ HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n".into(),
                "refuse 400",
            ),
            (
                &open,
                "GET https://a.test/ HTTP/1.1\r\nHost: a.test\r\n\r\n".into(),
                "refuse 501",
            ),
            (
                &open,
                "GET ftp://a.test/ HTTP/1.1\r\nHost: a.test\r\n\r\n".into(),
                "refuse 501",
            ),
            (
                &open,
                "OPTIONS http://a.test/ HTTP/1.1\r\nHost: a.test\r\nMax-Forwards: 0\r\n\r\n".into(),
                "own LastHop",
            ),
            (
                &locked,
                "GET http://a.test/ HTTP/1.1\r\nHost: a.test\r\n\r\n".into(),
                "refuse 407",
            ),
            (
                &locked,
                format!("GET http://a.test/ HTTP/1.1\r\nHost: a.test\r\n{creds}\r\n"),
                "direct a.test:80 a.test /",
            ),
            // With auth on, the traffic pages need the credentials: 401
            // asked directly, 407 through the proxy; the PAC needs none.
            (
                &locked,
                "GET / HTTP/1.1\r\nHost: p\r\n\r\n".into(),
                "refuse 401",
            ),
            (
                &locked,
                "GET /metrics HTTP/1.1\r\nHost: p\r\nAuthorization: Basic YWxpY2U6eHg=\r\n\r\n"
                    .into(),
                "refuse 401",
            ),
            (
                &locked,
                "GET /metrics HTTP/1.1\r\nHost: p\r\nAuthorization: Basic YWxpY2U6cHc=\r\n\r\n"
                    .into(),
                "own Metrics",
            ),
            (
                &locked,
                format!("GET /status.json HTTP/1.1\r\nHost: p\r\n{creds}\r\n"),
                "own StatusJson",
            ),
            (
                &locked,
                "GET /proxy.pac HTTP/1.1\r\nHost: p\r\n\r\n".into(),
                "own Pac",
            ),
            (
                &locked,
                "GET /nope HTTP/1.1\r\nHost: p\r\n\r\n".into(),
                "own NotFound",
            ),
            (
                &locked,
                "GET http://127.0.0.1:8888/ HTTP/1.1\r\nHost: x\r\n\r\n".into(),
                "refuse 407",
            ),
            (
                &locked,
                format!("GET http://127.0.0.1:8888/ HTTP/1.1\r\nHost: x\r\n{creds}\r\n"),
                "own Dashboard",
            ),
        ];
        let listening: [SocketAddr; 2] = [
            "127.0.0.1:8888".parse().unwrap(),
            "[::]:3128".parse().unwrap(),
        ];
        let here = Here {
            reached: "[::ffff:192.168.1.2]:8888".parse().unwrap(),
            listening: &listening,
        };
        for (policy, raw, want) in cases {
            let d = route(&head(raw), policy, &here, &Hops::default());
            assert_eq!(shape(&d), *want, "{raw:?}");
        }
        let d = route(
            &head(&format!("CONNECT a.test:443 HTTP/1.1\r\n{creds}\r\n")),
            &locked,
            &here,
            &Hops::default(),
        );
        assert_eq!(d.user.as_deref(), Some("alice"));
        let d = route(
            &head("GET / HTTP/1.1\r\nHost: p\r\nAuthorization: Basic YWxpY2U6cHc=\r\n\r\n"),
            &locked,
            &here,
            &Hops::default(),
        );
        assert_eq!(d.user.as_deref(), Some("alice"));
    }

    #[test]
    fn hops_follow_the_upstream_rules() {
        use crate::upstream::chain::Parent;
        let open = Policy::new(&PolicyConfig::default()).unwrap();
        let parent = Parent::parse("http://127.0.0.1:3128").unwrap();
        let rules = [("lan.test".to_string(), None)];
        let hops = Hops::new(Some(&parent), &rules, None);
        let cases = [
            (
                "GET http://a.test/x HTTP/1.1\r\nHost: a.test\r\n\r\n",
                "direct a.test:80 a.test /x via 127.0.0.1:3128",
            ),
            (
                "GET http://nas.lan.test/ HTTP/1.1\r\nHost: nas.lan.test\r\n\r\n",
                "direct nas.lan.test:80 nas.lan.test /",
            ),
            (
                "CONNECT a.test:443 HTTP/1.1\r\n\r\n",
                "tunnel a.test:443 via 127.0.0.1:3128",
            ),
            (
                "CONNECT lan.test:443 HTTP/1.1\r\n\r\n",
                "tunnel lan.test:443",
            ),
            // Refusals come first: a blocked request never reaches a parent.
            ("CONNECT a.test:25 HTTP/1.1\r\n\r\n", "refuse 403"),
        ];
        for (raw, want) in cases {
            let here = Here {
                reached: "127.0.0.1:8888".parse().unwrap(),
                listening: &[],
            };
            assert_eq!(
                shape(&route(&head(raw), &open, &here, &hops)),
                want,
                "{raw:?}"
            );
        }
    }

    #[cfg(feature = "tls")]
    #[test]
    fn inspection_takes_only_the_connects_in_its_scope() {
        use crate::policy::inspect::InspectScope;
        let c = PolicyConfig {
            block: vec!["ads.example".into()],
            connect_ports: crate::policy::ConnectPorts::Any,
            inspect: Some(InspectScope {
                skip: vec!["bank.example".into()],
                ..InspectScope::default()
            }),
            ..PolicyConfig::default()
        };
        let p = Policy::new(&c).unwrap();
        let here = Here {
            reached: "127.0.0.1:8888".parse().unwrap(),
            listening: &[],
        };
        let cases = [
            ("CONNECT a.test:443 HTTP/1.1\r\n\r\n", "inspect a.test:443"),
            ("CONNECT a.test:8443 HTTP/1.1\r\n\r\n", "tunnel a.test:8443"),
            (
                "CONNECT x.bank.example:443 HTTP/1.1\r\n\r\n",
                "tunnel x.bank.example:443",
            ),
            // The policy first: a blocked host is refused, not inspected.
            ("CONNECT x.ads.example:443 HTTP/1.1\r\n\r\n", "refuse 403"),
            (
                "GET http://a.test/ HTTP/1.1\r\nHost: a.test\r\n\r\n",
                "direct a.test:80 a.test /",
            ),
        ];
        for (raw, want) in cases {
            let d = route(&head(raw), &p, &here, &Hops::default());
            assert_eq!(shape(&d), want, "{raw:?}");
        }
    }

    #[test]
    fn which_targets_may_name_the_proxy() {
        let cases = [
            ("/", true),
            ("/metrics", true),
            ("*", true),
            ("http://127.0.0.1:8888/metrics", true),
            ("HTTP://[::1]:8888/", true),
            ("http://192.168.1.2/proxy.pac", true),
            ("http://example.com/", false),
            ("https://127.0.0.1/", false),
            ("example.com:443", false),
            ("", false),
        ];
        for (target, want) in cases {
            assert_eq!(may_name_self(target), want, "{target}");
        }
        // NOWHERE is never taken for the proxy.
        let here = Here {
            reached: NOWHERE,
            listening: &[],
        };
        let a = Authority {
            host: "0.0.0.0".into(),
            port: 80,
        };
        assert!(!here.is_self(&a));
    }
}
