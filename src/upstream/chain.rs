//! Parent proxies: the `--upstream` / `--upstream-for` URLs and rules (a
//! [`Parent`] per URL; [`Hops`] picks the one for a host, most specific
//! domain first), and the two client handshakes that open a tunnel through
//! a parent on an already connected socket: HTTP `CONNECT` (RFC 9110
//! §9.3.6) and SOCKS5 (RFC 1928, with RFC 1929 username/password). The
//! SOCKS5 messages are built and checked by small pure functions. The
//! parent's credentials never reach the log (`Debug` hides them).

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::sync::Arc;

use futures_lite::{AsyncReadExt, AsyncWriteExt};
use smol::Async;

use crate::error::Error;
use crate::http::target::{Authority, parse_authority};

/// The variable holding `user:pass` for the parent proxies (preferred
/// over credentials in the URL, which `ps` shows).
pub const AUTH_ENV_VAR: &str = "SMOLPROXY_UPSTREAM_AUTH";

/// Longest answer head we read from an HTTP parent to our CONNECT: a
/// `200 Connection established` is ~40 bytes; a refusal may carry fields.
pub const MAX_CONNECT_REPLY: usize = 8 * 1024;

/// Most fields parsed in that answer.
const MAX_CONNECT_REPLY_FIELDS: usize = 32;

/// How a parent is spoken to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `http://`: plain requests in absolute form, tunnels by CONNECT.
    Http,
    /// `socks5://`: we resolve names, the parent gets addresses.
    Socks5,
    /// `socks5h://`: the parent resolves names.
    Socks5h,
}

/// A user name and password for a parent. `Debug` shows neither.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The user name (at most 255 bytes: RFC 1929).
    pub user: String,
    /// The password (at most 255 bytes: RFC 1929).
    pub pass: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Credentials(..)")
    }
}

impl Credentials {
    /// Parse `user:pass`; both parts at most 255 bytes (RFC 1929 §2).
    pub fn parse(s: &str) -> Result<Credentials, String> {
        let (user, pass) = s
            .split_once(':')
            .ok_or_else(|| "upstream credentials must be user:pass".to_string())?;
        if user.is_empty() || user.len() > 255 || pass.len() > 255 {
            return Err("upstream user name must be 1-255 bytes, password at most 255".into());
        }
        Ok(Credentials {
            user: user.into(),
            pass: pass.into(),
        })
    }

    /// The `Proxy-Authorization` field line for them (RFC 7617).
    pub(crate) fn field_line(&self) -> String {
        let raw = format!("{}:{}", self.user, self.pass);
        format!("Proxy-Authorization: Basic {}\r\n", base64(raw.as_bytes()))
    }
}

/// A parent proxy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parent {
    /// Its protocol.
    pub kind: Kind,
    /// Where it listens.
    pub addr: Authority,
    /// Our credentials for it, if any.
    pub auth: Option<Credentials>,
}

impl Parent {
    /// Parse `http://[user:pass@]host:port`, `socks5://…` or
    /// `socks5h://…`. The port is required; no path.
    pub fn parse(url: &str) -> Result<Parent, String> {
        let bad = |why: &str| format!("invalid upstream URL '{}': {why}", redact(url));
        let (scheme, rest) = url
            .split_once("://")
            .ok_or_else(|| bad("try http://host:3128 or socks5h://host:1080"))?;
        let kind = match scheme.to_ascii_lowercase().as_str() {
            "http" => Kind::Http,
            "socks5" => Kind::Socks5,
            "socks5h" => Kind::Socks5h,
            _ => return Err(bad("the scheme must be http, socks5 or socks5h")),
        };
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        let (auth, hostport) = match rest.rsplit_once('@') {
            Some((userinfo, hp)) => {
                let creds = percent_decode(userinfo)
                    .ok_or_else(|| bad("bad %-escape in the user:pass part"))?;
                (Some(Credentials::parse(&creds).map_err(|e| bad(&e))?), hp)
            }
            None => (None, rest),
        };
        if hostport.contains(['/', '?', '#']) {
            return Err(bad("no path allowed"));
        }
        let addr = parse_authority(hostport, None).map_err(|_| bad("needs host:port"))?;
        Ok(Parent { kind, addr, auth })
    }
}

/// `url` with any password replaced, for error messages.
fn redact(url: &str) -> String {
    match (url.split_once("://"), url.rsplit_once('@')) {
        (Some((scheme, _)), Some((_, hp))) => format!("{scheme}://…@{hp}"),
        _ => url.into(),
    }
}

/// `%XX` escapes decoded (RFC 3986 §2.1); `None` if one is broken.
fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        if c == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(c);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Standard base64 with padding (RFC 4648 §4).
fn base64(b: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(b.len().div_ceil(3) * 4);
    for chunk in b.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &x)| n | u32::from(x) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(T[(n >> (18 - 6 * i) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// The hop a request takes: `None` is direct.
pub(crate) type Hop = Option<Arc<Parent>>;

/// The parent for every host: the `--upstream-for` rule of the longest
/// matching domain (itself or a parent domain), else `--upstream`.
#[derive(Debug, Default)]
pub(crate) struct Hops {
    default: Hop,
    rules: HashMap<String, Hop>,
}

impl Hops {
    /// Build the table; `auth` (from [`AUTH_ENV_VAR`]) goes to every
    /// parent whose URL carries no credentials.
    pub(crate) fn new(
        default: Option<&Parent>,
        rules: &[(String, Option<Parent>)],
        auth: Option<&Credentials>,
    ) -> Hops {
        let arc = |p: &Parent| {
            let mut p = p.clone();
            if p.auth.is_none() {
                p.auth = auth.cloned();
            }
            Arc::new(p)
        };
        Hops {
            default: default.map(arc),
            rules: rules
                .iter()
                .map(|(d, p)| (d.clone(), p.as_ref().map(arc)))
                .collect(),
        }
    }

    /// The hop for `host`, walking from the full name to its parents.
    pub(crate) fn pick(&self, host: &str) -> Option<&Arc<Parent>> {
        if !self.rules.is_empty() {
            let host = host.trim_end_matches('.');
            let mut name = host;
            loop {
                if let Some(hop) = self.rules.get(name) {
                    return hop.as_ref();
                }
                match name.split_once('.') {
                    Some((_, up)) if host.parse::<IpAddr>().is_err() => name = up,
                    _ => break,
                }
            }
        }
        self.default.as_ref()
    }
}

/// Where a parent is asked to open a tunnel to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TunnelTo {
    /// An address we resolved (`socks5://`) or a literal.
    Ip(SocketAddr),
    /// A name the parent resolves (`socks5h://`).
    Name(String, u16),
}

/// RFC 1928 §3: the methods we offer: no auth, or username/password only.
pub(crate) fn socks_greeting(auth: bool) -> &'static [u8] {
    if auth { &[5, 1, 2] } else { &[5, 1, 0] }
}

/// RFC 1929 §2: the username/password request (lengths checked at parse).
pub(crate) fn socks_userpass(c: &Credentials) -> Vec<u8> {
    let mut m = vec![1, c.user.len().min(255) as u8];
    m.extend_from_slice(c.user.as_bytes());
    m.push(c.pass.len().min(255) as u8);
    m.extend_from_slice(c.pass.as_bytes());
    m
}

/// RFC 1928 §4: the CONNECT request; `None` for a name over 255 bytes.
pub(crate) fn socks_request(t: &TunnelTo) -> Option<Vec<u8>> {
    let mut m = vec![5, 1, 0];
    let port = match t {
        TunnelTo::Ip(SocketAddr::V4(a)) => {
            m.push(1);
            m.extend_from_slice(&a.ip().octets());
            a.port()
        }
        TunnelTo::Ip(SocketAddr::V6(a)) => {
            m.push(4);
            m.extend_from_slice(&a.ip().octets());
            a.port()
        }
        TunnelTo::Name(n, port) => {
            m.push(3);
            m.push(u8::try_from(n.len()).ok().filter(|&l| l > 0)?);
            m.extend_from_slice(n.as_bytes());
            *port
        }
    };
    m.extend_from_slice(&port.to_be_bytes());
    Some(m)
}

/// RFC 1928 §6: from a reply's first 5 bytes, how many bytes follow (the
/// rest of the bound address and the port), or why it failed.
pub(crate) fn socks_reply_rest(first: [u8; 5]) -> Result<usize, String> {
    match first {
        [5, 0, _, 1, _] => Ok(3 + 2),
        [5, 0, _, 4, _] => Ok(15 + 2),
        [5, 0, _, 3, len] => Ok(usize::from(len) + 2),
        [5, 0, _, atyp, _] => Err(format!("sent a reply with address type {atyp}")),
        [5, code, ..] => Err(format!(
            "refused the SOCKS5 request: {} ({code:#04x})",
            socks_reply_meaning(code)
        )),
        _ => Err("is not a SOCKS5 server".into()),
    }
}

/// RFC 1928 §6 reply codes.
fn socks_reply_meaning(code: u8) -> &'static str {
    match code {
        1 => "general failure",
        2 => "not allowed by its rules",
        3 => "network unreachable",
        4 => "host unreachable",
        5 => "connection refused",
        6 => "TTL expired",
        7 => "command not supported",
        8 => "address type not supported",
        _ => "unknown reply code",
    }
}

/// Open a tunnel to `target` through `p` on `io`, connected to it. The
/// caller bounds the time. On `Ok` the socket carries the tunnel.
pub(crate) async fn handshake(
    io: &Async<TcpStream>,
    p: &Parent,
    target: &TunnelTo,
) -> Result<(), Error> {
    let fail = |what: String| Error::Parent(p.addr.to_host_port(), what);
    let io_fail = |e: io::Error| fail(format!("failed during the handshake: {e}"));
    let mut w = io;
    let mut r = io;
    if p.kind == Kind::Http {
        let hp = match target {
            TunnelTo::Ip(a) => a.to_string(),
            TunnelTo::Name(n, port) => Authority {
                host: n.clone(),
                port: *port,
            }
            .to_host_port(),
        };
        let auth = p.auth.as_ref().map(Credentials::field_line);
        let req = format!(
            "CONNECT {hp} HTTP/1.1\r\nHost: {hp}\r\n{}\r\n",
            auth.unwrap_or_default()
        );
        w.write_all(req.as_bytes()).await.map_err(io_fail)?;
        let head = read_reply_head(io).await.map_err(io_fail)?;
        let mut fields = [httparse::EMPTY_HEADER; MAX_CONNECT_REPLY_FIELDS];
        let mut resp = httparse::Response::new(&mut fields);
        return match resp.parse(&head) {
            Ok(httparse::Status::Complete(_)) => match resp.code {
                Some(200..=299) => Ok(()),
                Some(code) => Err(fail(format!("refused CONNECT: {code}"))),
                None => Err(fail("sent no status".into())),
            },
            _ => Err(fail("sent a malformed answer to CONNECT".into())),
        };
    }
    w.write_all(socks_greeting(p.auth.is_some()))
        .await
        .map_err(io_fail)?;
    let mut choice = [0u8; 2];
    r.read_exact(&mut choice).await.map_err(io_fail)?;
    match (choice, &p.auth) {
        ([5, 0], None) => {}
        ([5, 2], Some(c)) => {
            w.write_all(&socks_userpass(c)).await.map_err(io_fail)?;
            let mut status = [0u8; 2];
            r.read_exact(&mut status).await.map_err(io_fail)?;
            if status[1] != 0 {
                return Err(fail("refused our credentials".into()));
            }
        }
        ([5, 0xff], _) => return Err(fail("accepts none of our auth methods".into())),
        _ => return Err(fail("is not a SOCKS5 server".into())),
    }
    let req = socks_request(target).ok_or_else(|| fail("cannot be sent that name".into()))?;
    w.write_all(&req).await.map_err(io_fail)?;
    let mut first = [0u8; 5];
    r.read_exact(&mut first).await.map_err(io_fail)?;
    let rest = socks_reply_rest(first).map_err(fail)?;
    let mut skip = [0u8; 257];
    let skip = skip
        .get_mut(..rest)
        .ok_or_else(|| fail("bad reply".into()))?;
    r.read_exact(skip).await.map_err(io_fail)?;
    Ok(())
}

/// Read a response head without reading past it (bytes after it belong to
/// the tunnel): read only as many bytes as could still be part of the
/// final CRLFCRLF, so no byte beyond it is taken.
async fn read_reply_head(io: &Async<TcpStream>) -> io::Result<Vec<u8>> {
    let mut head = Vec::with_capacity(64);
    let mut r = io;
    loop {
        let tail = head.len().saturating_sub(3);
        let matched = (1..=3)
            .rev()
            .find(|&k| {
                head.get(tail..)
                    .is_some_and(|t| t.ends_with(&b"\r\n\r\n"[..k]))
            })
            .unwrap_or(0);
        let want = 4 - matched;
        if head.len() + want > MAX_CONNECT_REPLY {
            return Err(io::Error::other("answer head too large"));
        }
        let start = head.len();
        head.resize(start + want, 0);
        let n = r.read(&mut head[start..]).await?;
        head.truncate(start + n);
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        if head.ends_with(b"\r\n\r\n") {
            return Ok(head);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let p = Parent::parse("http://u:p%40ss@proxy.lan:3128").unwrap();
        assert_eq!(p.kind, Kind::Http);
        assert_eq!(p.addr.to_host_port(), "proxy.lan:3128");
        assert_eq!(p.auth, Some(Credentials::parse("u:p@ss").unwrap()));
        let p = Parent::parse("SOCKS5H://[::1]:1080/").unwrap();
        assert_eq!(
            (p.kind, p.addr.to_host_port()),
            (Kind::Socks5h, "[::1]:1080".into())
        );
        assert_eq!(
            Parent::parse("socks5://10.0.0.1:1080").unwrap().kind,
            Kind::Socks5
        );
        for bad in [
            "proxy:3128",
            "ftp://p:21",
            "http://p",
            "http://p:0",
            "http://p:3128/x",
            "http://:pw@p:1",
            "http://u:%zz@p:1",
            "http://nocolon@p:1",
        ] {
            let e = Parent::parse(bad).unwrap_err();
            assert!(e.starts_with("invalid upstream URL"), "{bad}: {e}");
        }
        let e = Parent::parse("http://u:secret@p").unwrap_err();
        assert!(!e.contains("secret"), "{e}");
        assert!(!format!("{:?}", Parent::parse("http://u:secret@p:1")).contains("secret"));
    }

    #[test]
    fn basic_field() {
        let c = Credentials::parse("Aladdin:open sesame").unwrap();
        assert_eq!(
            c.field_line(),
            "Proxy-Authorization: Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==\r\n"
        );
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
    }

    #[test]
    fn most_specific_rule_wins() {
        let parent = |s: &str| Parent::parse(s).unwrap();
        let rules = vec![
            ("corp.example".into(), Some(parent("http://work:3128"))),
            ("open.corp.example".into(), None),
            ("onion".into(), Some(parent("socks5h://127.0.0.1:9050"))),
        ];
        let auth = Credentials::parse("me:pw").unwrap();
        let hops = Hops::new(Some(&parent("http://u:x@home:8080")), &rules, Some(&auth));
        let name = |h: &str| hops.pick(h).map(|p| p.addr.host.clone());
        assert_eq!(name("corp.example").as_deref(), Some("work"));
        assert_eq!(name("a.b.corp.example").as_deref(), Some("work"));
        assert_eq!(name("open.corp.example"), None);
        assert_eq!(name("x.open.corp.example"), None);
        assert_eq!(name("abc.onion").as_deref(), Some("127.0.0.1"));
        assert_eq!(name("notcorp.example").as_deref(), Some("home"));
        assert_eq!(name("10.0.0.1").as_deref(), Some("home"));
        // The env credentials fill in only where the URL has none.
        assert_eq!(
            hops.pick("corp.example").unwrap().auth.as_ref(),
            Some(&auth)
        );
        assert_eq!(hops.pick("x.org").unwrap().auth.as_ref().unwrap().user, "u");
        assert!(Hops::new(None, &[], None).pick("x.org").is_none());
    }

    #[test]
    fn socks_messages() {
        assert_eq!(socks_greeting(false), [5, 1, 0]);
        assert_eq!(socks_greeting(true), [5, 1, 2]);
        let c = Credentials::parse("ab:c").unwrap();
        assert_eq!(socks_userpass(&c), [1, 2, b'a', b'b', 1, b'c']);
        let v4 = TunnelTo::Ip("1.2.3.4:443".parse().unwrap());
        assert_eq!(
            socks_request(&v4).unwrap(),
            [5, 1, 0, 1, 1, 2, 3, 4, 1, 187]
        );
        let v6 = socks_request(&TunnelTo::Ip("[::1]:80".parse().unwrap())).unwrap();
        assert_eq!((v6.len(), v6[3], v6[19], v6[21]), (22, 4, 1, 80));
        let name = socks_request(&TunnelTo::Name("a.b".into(), 80)).unwrap();
        assert_eq!(name, [5, 1, 0, 3, 3, b'a', b'.', b'b', 0, 80]);
        assert!(socks_request(&TunnelTo::Name("x".repeat(256), 80)).is_none());
        assert!(socks_request(&TunnelTo::Name(String::new(), 80)).is_none());
        assert_eq!(socks_reply_rest([5, 0, 0, 1, 9]), Ok(5));
        assert_eq!(socks_reply_rest([5, 0, 0, 4, 9]), Ok(17));
        assert_eq!(socks_reply_rest([5, 0, 0, 3, 7]), Ok(9));
        assert!(socks_reply_rest([5, 0, 0, 9, 0]).is_err());
        let e = socks_reply_rest([5, 4, 0, 1, 0]).unwrap_err();
        assert_eq!(e, "refused the SOCKS5 request: host unreachable (0x04)");
        assert_eq!(
            socks_reply_rest([4, 0, 0, 1, 0]).unwrap_err(),
            "is not a SOCKS5 server"
        );
    }
}
