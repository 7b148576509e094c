//! The SOCKS5 messages as bytes (RFC 1928 and RFC 1929): parsing the
//! three messages a client sends — the greeting, the username/password
//! sub-negotiation and the request — and encoding the proxy's replies.
//! Pure, no I/O. Each parser looks at the bytes received so far and says
//! `Ok(None)` (need more), `Ok(Some((message, bytes used)))`, or an error;
//! the answer never depends on bytes past the message, so it is the same
//! however the bytes arrive. Every length is a single octet, so no message
//! is longer than [`MAX_MESSAGE`].

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// The protocol version octet of every SOCKS5 message (RFC 1928 §3).
pub const VERSION: u8 = 0x05;
/// The version octet of the username/password sub-negotiation (RFC 1929 §2).
pub const AUTH_VERSION: u8 = 0x01;
/// Method: no authentication required (RFC 1928 §3).
pub const NO_AUTH: u8 = 0x00;
/// Method: username/password (RFC 1928 §3, RFC 1929).
pub const USER_PASS: u8 = 0x02;
/// Method reply: no acceptable methods; the client must close (RFC 1928 §3).
pub const NO_ACCEPTABLE: u8 = 0xFF;
/// Command: CONNECT (RFC 1928 §4).
pub const CMD_CONNECT: u8 = 0x01;
/// Command: BIND.
pub const CMD_BIND: u8 = 0x02;
/// Command: UDP ASSOCIATE.
pub const CMD_UDP: u8 = 0x03;
/// Address type: IPv4, 4 octets.
pub const ATYP_V4: u8 = 0x01;
/// Address type: a domain name, one length octet then the name.
pub const ATYP_DOMAIN: u8 = 0x03;
/// Address type: IPv6, 16 octets.
pub const ATYP_V6: u8 = 0x04;
/// Reply: succeeded (RFC 1928 §6).
pub const REP_SUCCEEDED: u8 = 0x00;
/// Reply: general SOCKS server failure.
pub const REP_GENERAL: u8 = 0x01;
/// Reply: connection not allowed by ruleset.
pub const REP_NOT_ALLOWED: u8 = 0x02;
/// Reply: network unreachable.
pub const REP_NET_UNREACHABLE: u8 = 0x03;
/// Reply: host unreachable.
pub const REP_HOST_UNREACHABLE: u8 = 0x04;
/// Reply: connection refused.
pub const REP_REFUSED: u8 = 0x05;
/// Reply: TTL expired (used for a connect timeout).
pub const REP_TTL_EXPIRED: u8 = 0x06;
/// Reply: command not supported.
pub const REP_COMMAND: u8 = 0x07;
/// Reply: address type not supported.
pub const REP_ADDRESS_TYPE: u8 = 0x08;
/// The longest message a client can send: a username/password message
/// with two 255-octet fields (3 + 255 + 255). A greeting is at most
/// 2 + 255 octets, a request 4 + 1 + 255 + 2.
pub const MAX_MESSAGE: usize = 513;

/// Why the bytes are not a valid message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WireError {
    /// The version octet is not 5 (or 1 for the sub-negotiation).
    Version(u8),
    /// The reserved octet of a request is not 0 (RFC 1928 §4).
    Reserved(u8),
    /// An address type this proxy does not know (reply 0x08).
    AddressType(u8),
    /// A length octet of 0 where RFC 1929 §2 or RFC 1928 §5 asks for 1–255.
    EmptyField(&'static str),
}

impl WireError {
    /// A short, lower-case explanation for the log.
    pub fn message(&self) -> String {
        match self {
            WireError::Version(v) => format!("unexpected version octet 0x{v:02x}"),
            WireError::Reserved(v) => format!("reserved octet is 0x{v:02x}, not 0"),
            WireError::AddressType(t) => format!("address type 0x{t:02x} not supported"),
            WireError::EmptyField(what) => format!("empty {what}"),
        }
    }
}

/// What a parser gives: need more bytes, a message and its length, or an error.
pub type Parsed<T> = Result<Option<(T, usize)>, WireError>;

/// The methods a client offers in its greeting (RFC 1928 §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Greeting {
    /// It offers no authentication (0x00).
    pub no_auth: bool,
    /// It offers username/password (0x02).
    pub user_pass: bool,
}

/// A username/password sub-negotiation (RFC 1929 §2), each 1–255 octets.
#[derive(Clone, PartialEq, Eq)]
pub struct UserPass {
    /// The user name, as sent.
    pub user: Vec<u8>,
    /// The password, as sent (never printed).
    pub pass: Vec<u8>,
}

impl std::fmt::Debug for UserPass {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "UserPass({:?}, ***)",
            String::from_utf8_lossy(&self.user)
        )
    }
}

/// A destination address as the request carries it (RFC 1928 §5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Addr {
    /// An IPv4 or IPv6 address.
    Ip(IpAddr),
    /// A domain name, 1–255 octets, as sent (not yet checked).
    Domain(Vec<u8>),
}

/// A request (RFC 1928 §4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The command octet (CONNECT, BIND, UDP ASSOCIATE or unknown).
    pub cmd: u8,
    /// Where to.
    pub addr: Addr,
    /// The destination port.
    pub port: u16,
}

/// `buf[at]`, or `None` when it has not arrived yet.
fn octet(buf: &[u8], at: usize) -> Option<u8> {
    buf.get(at).copied()
}

/// Parse a greeting: VER, NMETHODS, METHODS. An empty method list is
/// valid and simply offers nothing acceptable.
pub fn parse_greeting(buf: &[u8]) -> Parsed<Greeting> {
    let Some(ver) = octet(buf, 0) else {
        return Ok(None);
    };
    if ver != VERSION {
        return Err(WireError::Version(ver));
    }
    let Some(n) = octet(buf, 1) else {
        return Ok(None);
    };
    let end = 2 + usize::from(n);
    let Some(methods) = buf.get(2..end) else {
        return Ok(None);
    };
    let g = Greeting {
        no_auth: methods.contains(&NO_AUTH),
        user_pass: methods.contains(&USER_PASS),
    };
    Ok(Some((g, end)))
}

/// Parse a username/password message: VER(1), ULEN, UNAME, PLEN, PASSWD.
pub fn parse_user_pass(buf: &[u8]) -> Parsed<UserPass> {
    let Some(ver) = octet(buf, 0) else {
        return Ok(None);
    };
    if ver != AUTH_VERSION {
        return Err(WireError::Version(ver));
    }
    let Some(ulen) = octet(buf, 1) else {
        return Ok(None);
    };
    if ulen == 0 {
        return Err(WireError::EmptyField("user name"));
    }
    let u_end = 2 + usize::from(ulen);
    let Some(user) = buf.get(2..u_end) else {
        return Ok(None);
    };
    let Some(plen) = octet(buf, u_end) else {
        return Ok(None);
    };
    if plen == 0 {
        return Err(WireError::EmptyField("password"));
    }
    let end = u_end + 1 + usize::from(plen);
    let Some(pass) = buf.get(u_end + 1..end) else {
        return Ok(None);
    };
    let up = UserPass {
        user: user.to_vec(),
        pass: pass.to_vec(),
    };
    Ok(Some((up, end)))
}

/// Parse a request: VER, CMD, RSV, ATYP, DST.ADDR, DST.PORT. The command
/// is returned as sent (the caller answers the ones it does not carry
/// out); the address type must be known, or the length is unknown.
pub fn parse_request(buf: &[u8]) -> Parsed<Request> {
    let (Some(ver), Some(cmd), Some(rsv), Some(atyp)) =
        (octet(buf, 0), octet(buf, 1), octet(buf, 2), octet(buf, 3))
    else {
        // Check what has arrived so far, so a wrong version fails at once.
        return match octet(buf, 0) {
            Some(v) if v != VERSION => Err(WireError::Version(v)),
            _ => match octet(buf, 2) {
                Some(r) if r != 0 => Err(WireError::Reserved(r)),
                _ => Ok(None),
            },
        };
    };
    if ver != VERSION {
        return Err(WireError::Version(ver));
    }
    if rsv != 0 {
        return Err(WireError::Reserved(rsv));
    }
    let (addr, at) = match atyp {
        ATYP_V4 => match buf.get(4..8).and_then(|b| <[u8; 4]>::try_from(b).ok()) {
            Some(b) => (Addr::Ip(IpAddr::V4(Ipv4Addr::from(b))), 8),
            None => return Ok(None),
        },
        ATYP_V6 => match buf.get(4..20).and_then(|b| <[u8; 16]>::try_from(b).ok()) {
            Some(b) => (Addr::Ip(IpAddr::V6(Ipv6Addr::from(b))), 20),
            None => return Ok(None),
        },
        ATYP_DOMAIN => {
            let Some(len) = octet(buf, 4) else {
                return Ok(None);
            };
            if len == 0 {
                return Err(WireError::EmptyField("domain name"));
            }
            let end = 5 + usize::from(len);
            match buf.get(5..end) {
                Some(name) => (Addr::Domain(name.to_vec()), end),
                None => return Ok(None),
            }
        }
        other => return Err(WireError::AddressType(other)),
    };
    let Some(port) = buf
        .get(at..at + 2)
        .and_then(|b| <[u8; 2]>::try_from(b).ok())
    else {
        return Ok(None);
    };
    let req = Request {
        cmd,
        addr,
        port: u16::from_be_bytes(port),
    };
    Ok(Some((req, at + 2)))
}

/// Append an address and port in the request/reply form (RFC 1928 §5).
fn put_addr(out: &mut Vec<u8>, addr: &Addr, port: u16) {
    match addr {
        Addr::Ip(IpAddr::V4(ip)) => {
            out.push(ATYP_V4);
            out.extend_from_slice(&ip.octets());
        }
        Addr::Ip(IpAddr::V6(ip)) => {
            out.push(ATYP_V6);
            out.extend_from_slice(&ip.octets());
        }
        Addr::Domain(name) => {
            // A name longer than a length octet can say is cut: callers
            // only encode names they parsed (≤ 255 octets).
            let name = name.get(..255).unwrap_or(name);
            out.push(ATYP_DOMAIN);
            out.push(name.len() as u8);
            out.extend_from_slice(name);
        }
    }
    out.extend_from_slice(&port.to_be_bytes());
}

/// The bytes of a request (for clients: the tests and the fuzz target).
pub fn encode_request(r: &Request) -> Vec<u8> {
    let mut out = vec![VERSION, r.cmd, 0];
    put_addr(&mut out, &r.addr, r.port);
    out
}

/// The method selection message (RFC 1928 §3).
pub fn method_reply(method: u8) -> [u8; 2] {
    [VERSION, method]
}

/// The sub-negotiation status (RFC 1929 §2): 0 success, anything else
/// failure, after which the server closes.
pub fn auth_reply(ok: bool) -> [u8; 2] {
    [AUTH_VERSION, if ok { 0x00 } else { 0x01 }]
}

/// A reply (RFC 1928 §6): `code` and the bound address. A failure
/// without a bound address carries 0.0.0.0:0, as clients expect.
pub fn reply(code: u8, bound: Option<SocketAddr>) -> Vec<u8> {
    let bound = bound.unwrap_or(SocketAddr::from(([0, 0, 0, 0], 0)));
    // A v4-mapped local address is reported as the IPv4 it is.
    let ip = match bound.ip() {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    };
    let mut out = Vec::with_capacity(22);
    out.extend_from_slice(&[VERSION, code, 0]);
    put_addr(&mut out, &Addr::Ip(ip), bound.port());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every prefix shorter than the message needs more; the whole is it.
    fn whole<T: PartialEq + std::fmt::Debug>(p: fn(&[u8]) -> Parsed<T>, b: &[u8]) -> T {
        for k in 0..b.len() {
            assert_eq!(p(&b[..k]), Ok(None), "prefix {k} of {b:?}");
        }
        let mut more = b.to_vec();
        more.extend_from_slice(b"extra");
        let (v, n) = p(&more).unwrap().unwrap();
        assert_eq!(n, b.len(), "{b:?}");
        assert_eq!(p(b), Ok(Some((v, n))));
        p(b).unwrap().unwrap().0
    }

    #[test]
    fn greetings() {
        let g = |no_auth, user_pass| Greeting { no_auth, user_pass };
        assert_eq!(whole(parse_greeting, &[5, 1, 0]), g(true, false));
        assert_eq!(whole(parse_greeting, &[5, 2, 0, 2]), g(true, true));
        assert_eq!(whole(parse_greeting, &[5, 1, 2]), g(false, true));
        assert_eq!(whole(parse_greeting, &[5, 0]), g(false, false));
        assert_eq!(whole(parse_greeting, &[5, 2, 1, 3]), g(false, false));
        // 255 methods: the largest greeting; the last one counts.
        let mut big = vec![5, 255];
        big.extend(std::iter::repeat_n(0x80, 254));
        big.push(2);
        assert_eq!(big.len(), 257);
        assert_eq!(whole(parse_greeting, &big), g(false, true));
        assert_eq!(parse_greeting(&[4, 1, 0]), Err(WireError::Version(4)));
        assert_eq!(
            parse_greeting(b"GET / HTTP/1.1"),
            Err(WireError::Version(b'G'))
        );
    }

    #[test]
    fn user_pass() {
        let up = whole(parse_user_pass, b"\x01\x03bob\x06secret");
        assert_eq!((&up.user[..], &up.pass[..]), (&b"bob"[..], &b"secret"[..]));
        assert!(!format!("{up:?}").contains("secret"));
        let up = whole(parse_user_pass, &[1, 1, b'a', 1, b'b']);
        assert_eq!((up.user, up.pass), (b"a".to_vec(), b"b".to_vec()));
        // 255 + 255: the longest message of all.
        let mut max = vec![1, 255];
        max.extend([b'u'; 255]);
        max.push(255);
        max.extend([b'p'; 255]);
        assert_eq!(max.len(), MAX_MESSAGE);
        let up = whole(parse_user_pass, &max);
        assert_eq!((up.user.len(), up.pass.len()), (255, 255));
        assert_eq!(parse_user_pass(&[5, 1, b'a']), Err(WireError::Version(5)));
        let e = Err(WireError::EmptyField("user name"));
        assert_eq!(parse_user_pass(&[1, 0, 1, b'p']), e);
        let e = Err(WireError::EmptyField("password"));
        assert_eq!(parse_user_pass(&[1, 1, b'u', 0]), e);
    }

    #[test]
    fn requests() {
        let r = whole(parse_request, &[5, 1, 0, 1, 127, 0, 0, 1, 0x1f, 0x90]);
        let ip = |s: &str| Addr::Ip(s.parse().unwrap());
        assert_eq!((r.cmd, r.addr, r.port), (1, ip("127.0.0.1"), 8080));
        let mut v6 = vec![5, 1, 0, 4];
        v6.extend("2001:db8::1".parse::<Ipv6Addr>().unwrap().octets());
        v6.extend([0, 80]);
        let r = whole(parse_request, &v6);
        assert_eq!((r.addr, r.port), (ip("2001:db8::1"), 80));
        let r = whole(parse_request, b"\x05\x01\x00\x03\x0bexample.com\x01\xbb");
        assert_eq!(
            (r.addr, r.port),
            (Addr::Domain(b"example.com".to_vec()), 443)
        );
        // The longest name; port 65535; commands come back as sent.
        let mut long = vec![5, 3, 0, 3, 255];
        long.extend([b'a'; 255]);
        long.extend([0xff, 0xff]);
        assert_eq!(long.len(), 262);
        let r = whole(parse_request, &long);
        assert_eq!((r.cmd, r.port), (3, 65535));
        let r = whole(parse_request, &[5, 0x7f, 0, 1, 1, 2, 3, 4, 0, 0]);
        assert_eq!((r.cmd, r.port), (0x7f, 0));
        // Errors, as soon as the octet that shows them has arrived.
        assert_eq!(parse_request(&[4]), Err(WireError::Version(4)));
        assert_eq!(parse_request(&[5, 1, 9]), Err(WireError::Reserved(9)));
        assert_eq!(parse_request(&[5, 1, 0, 2]), Err(WireError::AddressType(2)));
        assert_eq!(
            parse_request(&[5, 1, 0, 0xff, 1]),
            Err(WireError::AddressType(0xff))
        );
        let e = Err(WireError::EmptyField("domain name"));
        assert_eq!(parse_request(&[5, 1, 0, 3, 0, 0, 80]), e);
    }

    #[test]
    fn requests_round_trip() {
        let cases = [
            Request {
                cmd: 1,
                addr: Addr::Ip("10.1.2.3".parse().unwrap()),
                port: 1,
            },
            Request {
                cmd: 2,
                addr: Addr::Ip("::1".parse().unwrap()),
                port: 443,
            },
            Request {
                cmd: 3,
                addr: Addr::Domain(b"a.b".to_vec()),
                port: 65535,
            },
        ];
        for r in cases {
            let b = encode_request(&r);
            assert_eq!(parse_request(&b), Ok(Some((r, b.len()))));
        }
    }

    #[test]
    fn replies() {
        assert_eq!(method_reply(NO_AUTH), [5, 0]);
        assert_eq!(method_reply(NO_ACCEPTABLE), [5, 0xff]);
        assert_eq!(auth_reply(true), [1, 0]);
        assert_eq!(auth_reply(false), [1, 1]);
        let cases: [(u8, Option<&str>, &[u8]); 4] = [
            (
                0,
                Some("127.0.0.1:8080"),
                &[5, 0, 0, 1, 127, 0, 0, 1, 0x1f, 0x90],
            ),
            (5, None, &[5, 5, 0, 1, 0, 0, 0, 0, 0, 0]),
            (
                0,
                Some("[::ffff:10.0.0.1]:1"),
                &[5, 0, 0, 1, 10, 0, 0, 1, 0, 1],
            ),
            (
                0,
                Some("[::1]:65535"),
                &[
                    5, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff, 0xff,
                ],
            ),
        ];
        for (code, bound, want) in cases {
            let got = reply(code, bound.map(|s| s.parse().unwrap()));
            assert_eq!(got, want, "{code} {bound:?}");
        }
    }
}
