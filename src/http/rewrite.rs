//! The heads the proxy forwards: the client's request rewritten to
//! origin-form for the upstream and the origin's response for the client,
//! hop-by-hop fields removed (RFC 9110 §7.6.1) and framing normalised; and
//! the echo a TRACE answer carries. Pure: values in, bytes out.

use super::framing::{Body, max_forwards};
use super::head::Head;

/// Fields that describe one hop and are never forwarded (RFC 9110 §7.6.1),
/// plus the framing fields we always re-emit ourselves.
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "proxy-connection",
    "keep-alive",
    "te",
    "trailer",
    "upgrade",
    "proxy-authorization",
    "proxy-authenticate",
    "transfer-encoding",
    "content-length",
];

/// Fields a `Connection` option may not make us drop: removing them would
/// change framing or routing (a known hop-by-hop abuse).
const PROTECTED: &[&str] = &["host", "content-length", "transfer-encoding"];

fn forwardable<'a>(head: &'a Head) -> impl Iterator<Item = (&'a [u8], &'a [u8])> + 'a {
    // Options naming fields removed anyway (the usual `keep-alive`) need
    // no second look, and an empty list allocates nothing.
    let listed: Vec<&[u8]> = head
        .list("connection")
        .filter(|o| !is_one_of(o, HOP_BY_HOP))
        .collect();
    head.raw_fields().filter(move |&(name, _)| {
        let hop = is_one_of(name, HOP_BY_HOP);
        let by_conn =
            listed.iter().any(|l| l.eq_ignore_ascii_case(name)) && !is_one_of(name, PROTECTED);
        !hop && !by_conn
    })
}

/// Whether `name` is one of `names` (lower case), case-insensitively.
fn is_one_of(name: &[u8], names: &[&str]) -> bool {
    names
        .iter()
        .any(|n| name.eq_ignore_ascii_case(n.as_bytes()))
}

fn put_field(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    out.extend_from_slice(name);
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

/// `n` in decimal, without the formatting machinery (every head has one).
fn put_number(out: &mut Vec<u8>, n: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    let mut n = n;
    loop {
        i -= 1;
        if let Some(d) = digits.get_mut(i) {
            *d = b'0' + (n % 10) as u8;
        }
        n /= 10;
        if n == 0 || i == 0 {
            break;
        }
    }
    out.extend_from_slice(digits.get(i..).unwrap_or(&[]));
}

/// `Via: 1.x smolproxy`, x the minor version of the message as received
/// (RFC 9110 §7.6.3).
fn put_via(out: &mut Vec<u8>, minor: u8) {
    out.extend_from_slice(b"Via: 1.");
    put_number(out, u64::from(minor));
    out.extend_from_slice(b" smolproxy\r\n");
}

fn put_framing(out: &mut Vec<u8>, body: Body) {
    match body {
        Body::Length(n) => {
            out.extend_from_slice(b"Content-Length: ");
            put_number(out, n);
            out.extend_from_slice(b"\r\n");
        }
        Body::Chunked => out.extend_from_slice(b"Transfer-Encoding: chunked\r\n"),
        Body::None | Body::UntilClose => {}
    }
}

/// What the request head we send upstream carries besides the client's fields.
pub struct RequestOut<'a> {
    /// Host field value.
    pub host: &'a str,
    /// Origin-form path and query.
    pub path: &'a str,
    /// Framing to declare.
    pub body: Body,
    /// The Upgrade value to pass on (RFC 9110 §7.8), if upgrading.
    pub upgrade: Option<&'a [u8]>,
    /// Add `Via`.
    pub via: bool,
}

/// Write the request head to send upstream: origin-form, Host from the
/// target (RFC 9112 §3.2.2), hop-by-hop fields removed, framing normalised.
pub fn write_request(out: &mut Vec<u8>, head: &Head, r: &RequestOut<'_>) {
    out.extend_from_slice(head.method.as_bytes());
    out.push(b' ');
    out.extend_from_slice(r.path.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\nHost: ");
    out.extend_from_slice(r.host.as_bytes());
    out.extend_from_slice(b"\r\n");
    let hops = max_forwards(head);
    for (name, value) in forwardable(head) {
        if name.eq_ignore_ascii_case(b"host") {
            continue;
        }
        match hops {
            // RFC 9110 §7.6.2: pass on one less (0 is answered by us).
            Some(n) if name.eq_ignore_ascii_case(b"max-forwards") => {
                out.extend_from_slice(b"Max-Forwards: ");
                put_number(out, n.saturating_sub(1).into());
                out.extend_from_slice(b"\r\n");
            }
            _ => put_field(out, name, value),
        }
    }
    put_framing(out, r.body);
    if let Some(up) = r.upgrade {
        put_field(out, b"Connection", b"Upgrade");
        put_field(out, b"Upgrade", up);
    }
    if head.has_token("te", "trailers") {
        // "TE: trailers" is the one TE value worth passing on (gRPC needs it).
        put_field(out, b"TE", b"trailers");
        put_field(out, b"Connection", b"TE");
    }
    if r.via {
        put_via(out, head.minor);
    }
    out.extend_from_slice(b"\r\n");
}

/// What the response head we send the client carries besides the origin's fields.
pub struct ResponseOut<'a> {
    /// Framing to declare to the client.
    pub body: Body,
    /// Keep the client connection open after this response.
    pub keep_alive: bool,
    /// The client spoke HTTP/1.0.
    pub client_http10: bool,
    /// The Upgrade value to pass on with a 101.
    pub upgrade: Option<&'a [u8]>,
    /// Add `Via`.
    pub via: bool,
}

/// Write the response head to send the client.
pub fn write_response(out: &mut Vec<u8>, head: &Head, r: &ResponseOut<'_>) {
    out.extend_from_slice(b"HTTP/1.1 ");
    put_number(out, head.status.into());
    out.push(b' ');
    out.extend_from_slice(head.reason.as_bytes());
    out.extend_from_slice(b"\r\n");
    for (name, value) in forwardable(head) {
        put_field(out, name, value);
    }
    let chunked_last = head
        .list("transfer-encoding")
        .last()
        .is_some_and(|c| c.eq_ignore_ascii_case(b"chunked"));
    let pass_framing = match r.body {
        // HEAD, 204, 304: the fields describe the representation, not
        // this message (RFC 9110 §8.6, §15.4.5): keep them as sent.
        Body::None => r.upgrade.is_none(),
        // A coding other than chunked, delimited by close: pass it on.
        // Never to an HTTP/1.0 client (RFC 9112 §6.1).
        Body::UntilClose => !chunked_last && !r.client_http10,
        Body::Length(_) | Body::Chunked => false,
    };
    if pass_framing {
        for (name, v) in head.raw_fields() {
            // Until close, the coding alone: a sender must not send
            // Content-Length with Transfer-Encoding (RFC 9112 §6.2).
            let cl = name.eq_ignore_ascii_case(b"content-length") && r.body == Body::None;
            if cl || name.eq_ignore_ascii_case(b"transfer-encoding") {
                put_field(out, name, v);
            }
        }
    }
    put_framing(out, r.body);
    if let Some(up) = r.upgrade {
        put_field(out, b"Connection", b"Upgrade");
        put_field(out, b"Upgrade", up);
    } else if !r.keep_alive {
        out.extend_from_slice(b"Connection: close\r\n");
    } else if r.client_http10 {
        out.extend_from_slice(b"Connection: keep-alive\r\n");
    }
    if r.via {
        put_via(out, head.minor);
    }
    out.extend_from_slice(b"\r\n");
}

/// Fields a TRACE answer leaves out: credentials and cookies (RFC 9110
/// §9.3.8 advises against reflecting sensitive data).
const NOT_TRACED: &[&str] = &["authorization", "proxy-authorization", "cookie"];

/// The body of our answer to a TRACE with `Max-Forwards: 0`: the request
/// as received, sensitive fields left out (`message/http`).
pub(crate) fn trace_body(head: &Head) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(head.method.as_bytes());
    out.push(b' ');
    out.extend_from_slice(head.target.as_bytes());
    out.extend_from_slice(b" HTTP/1.");
    put_number(&mut out, head.minor.into());
    out.extend_from_slice(b"\r\n");
    for (name, value) in head.raw_fields() {
        if !is_one_of(name, NOT_TRACED) {
            put_field(&mut out, name, value);
        }
    }
    out.extend_from_slice(b"\r\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::framing::{request_body, response_body};
    use crate::http::head::{parse_response, test_request as req};

    #[test]
    fn numbers_are_written_in_decimal() {
        for (n, text) in [
            (0, "0"),
            (7, "7"),
            (10, "10"),
            (304, "304"),
            (1_234_567, "1234567"),
            (u64::MAX, "18446744073709551615"),
        ] {
            let mut out = b"x".to_vec();
            put_number(&mut out, n);
            assert_eq!(out, format!("x{text}").as_bytes(), "{n}");
        }
    }

    #[test]
    fn rewrite_request() {
        let h = req(
            "GET http://a:81/p HTTP/1.1\r\nHost: evil\r\nConnection: keep-alive, X-Secret\r\n\
             X-Secret: s\r\nProxy-Connection: keep-alive\r\nProxy-Authorization: Basic x\r\n\
             Keep-Alive: 5\r\nTE: trailers, deflate\r\nAccept: */*\r\nVia: 1.0 other\r\n\r\n",
        );
        let mut out = Vec::new();
        let r = RequestOut {
            host: "a:81",
            path: "/p",
            body: Body::None,
            upgrade: None,
            via: true,
        };
        write_request(&mut out, &h, &r);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "GET /p HTTP/1.1\r\nHost: a:81\r\nAccept: */*\r\nVia: 1.0 other\r\n\
             TE: trailers\r\nConnection: TE\r\nVia: 1.1 smolproxy\r\n\r\n"
        );
        // A Connection option naming a framing field must not remove it.
        let h = req(
            "POST http://a/ HTTP/1.1\r\nHost: a\r\nConnection: Content-Length\r\nContent-Length: 2\r\n\r\n",
        );
        let mut out = Vec::new();
        let r = RequestOut {
            host: "a",
            path: "/",
            body: request_body(&h).unwrap(),
            upgrade: None,
            via: false,
        };
        write_request(&mut out, &h, &r);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\n"
        );
    }

    #[test]
    fn rewrite_response() {
        let res = |raw: &str| parse_response(raw.as_bytes()).unwrap().unwrap().0;
        let r = |body| ResponseOut {
            body,
            keep_alive: false,
            client_http10: false,
            upgrade: None,
            via: false,
        };
        let cases = [
            // Fuzz finding: Content-Length went out beside a non-chunked
            // Transfer-Encoding on an until-close body.
            (
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\nContent-Length: 3\r\n\r\n",
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\nConnection: close\r\n\r\n",
            ),
            (
                "HTTP/1.1 304 Not Modified\r\nContent-Length: 3\r\n\r\n",
                "HTTP/1.1 304 Not Modified\r\nContent-Length: 3\r\nConnection: close\r\n\r\n",
            ),
        ];
        for (raw, want) in cases {
            let h = res(raw);
            let (body, _) = response_body("GET", &h).unwrap();
            let mut out = Vec::new();
            write_response(&mut out, &h, &r(body));
            assert_eq!(String::from_utf8(out).unwrap(), want, "{raw:?}");
        }
    }

    #[test]
    fn max_forwards_is_decremented_for_trace_and_options_only() {
        let cases = [
            (
                "OPTIONS",
                "Max-Forwards: 5\r\n",
                Some(5),
                "Max-Forwards: 4\r\n",
            ),
            (
                "TRACE",
                "Max-Forwards: 1\r\n",
                Some(1),
                "Max-Forwards: 0\r\n",
            ),
            (
                "OPTIONS",
                "Max-Forwards: 0\r\n",
                Some(0),
                "Max-Forwards: 0\r\n",
            ),
            ("GET", "Max-Forwards: 5\r\n", None, "Max-Forwards: 5\r\n"),
            (
                "OPTIONS",
                "Max-Forwards: -1\r\n",
                None,
                "Max-Forwards: -1\r\n",
            ),
            ("OPTIONS", "", None, ""),
        ];
        for (m, f, want, sent) in cases {
            let h = req(&format!("{m} http://a/ HTTP/1.1\r\nHost: a\r\n{f}\r\n"));
            assert_eq!(max_forwards(&h), want, "{m} {f:?}");
            let mut out = Vec::new();
            let r = RequestOut {
                host: "a",
                path: "/",
                body: Body::None,
                upgrade: None,
                via: false,
            };
            write_request(&mut out, &h, &r);
            let out = String::from_utf8(out).unwrap();
            assert!(out.contains(sent), "{m} {f:?}: {out}");
        }
        let h = req("TRACE http://a/ HTTP/1.1\r\nHost: a\r\nCookie: s=1\r\nX: y\r\n\r\n");
        assert_eq!(
            trace_body(&h),
            b"TRACE http://a/ HTTP/1.1\r\nHost: a\r\nX: y\r\n\r\n"
        );
    }
}
