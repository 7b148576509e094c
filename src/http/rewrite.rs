//! The heads the proxy forwards: the client's request rewritten to
//! origin-form for the upstream and the origin's response for the client,
//! hop-by-hop fields removed (RFC 9110 §7.6.1) and framing normalised; and
//! the echo a TRACE answer carries. Pure: values in, bytes out.

use std::fmt::Write as _;

use super::framing::{Body, max_forwards};
use super::head::Head;
use super::reply::Fmt;

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

fn forwardable<'a>(head: &'a Head) -> impl Iterator<Item = (&'a str, &'a [u8])> + 'a {
    let listed: Vec<&[u8]> = head.list("connection").collect();
    head.fields().filter(move |(name, _)| {
        let hop = HOP_BY_HOP.iter().any(|h| name.eq_ignore_ascii_case(h));
        let by_conn = listed
            .iter()
            .any(|l| l.eq_ignore_ascii_case(name.as_bytes()))
            && !PROTECTED.iter().any(|p| name.eq_ignore_ascii_case(p));
        !hop && !by_conn
    })
}

fn put_field(out: &mut Vec<u8>, name: &str, value: &[u8]) {
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

fn put_framing(out: &mut Vec<u8>, body: Body) {
    match body {
        Body::Length(n) => {
            let _ = write!(Fmt(out), "Content-Length: {n}\r\n");
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
    let _ = write!(
        Fmt(out),
        "{} {} HTTP/1.1\r\nHost: {}\r\n",
        head.method,
        r.path,
        r.host
    );
    let hops = max_forwards(head);
    for (name, value) in forwardable(head) {
        if name.eq_ignore_ascii_case("host") {
            continue;
        }
        match hops {
            // RFC 9110 §7.6.2: pass on one less (0 is answered by us).
            Some(n) if name.eq_ignore_ascii_case("max-forwards") => {
                let _ = write!(Fmt(out), "Max-Forwards: {}\r\n", n.saturating_sub(1));
            }
            _ => put_field(out, name, value),
        }
    }
    put_framing(out, r.body);
    if let Some(up) = r.upgrade {
        put_field(out, "Connection", b"Upgrade");
        put_field(out, "Upgrade", up);
    }
    if head.has_token("te", "trailers") {
        // "TE: trailers" is the one TE value worth passing on (gRPC needs it).
        put_field(out, "TE", b"trailers");
        put_field(out, "Connection", b"TE");
    }
    if r.via {
        let _ = write!(Fmt(out), "Via: 1.{} smolproxy\r\n", head.minor);
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
    let _ = write!(Fmt(out), "HTTP/1.1 {} {}\r\n", head.status, head.reason);
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
        for (name, v) in head.fields() {
            // Until close, the coding alone: a sender must not send
            // Content-Length with Transfer-Encoding (RFC 9112 §6.2).
            let cl = name.eq_ignore_ascii_case("content-length") && r.body == Body::None;
            if cl || name.eq_ignore_ascii_case("transfer-encoding") {
                put_field(out, name, v);
            }
        }
    }
    put_framing(out, r.body);
    if let Some(up) = r.upgrade {
        put_field(out, "Connection", b"Upgrade");
        put_field(out, "Upgrade", up);
    } else if !r.keep_alive {
        out.extend_from_slice(b"Connection: close\r\n");
    } else if r.client_http10 {
        out.extend_from_slice(b"Connection: keep-alive\r\n");
    }
    if r.via {
        let _ = write!(Fmt(out), "Via: 1.{} smolproxy\r\n", head.minor);
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
    let _ = write!(
        Fmt(&mut out),
        "{} {} HTTP/1.{}\r\n",
        head.method,
        head.target,
        head.minor
    );
    for (name, value) in head.fields() {
        if !NOT_TRACED.iter().any(|n| name.eq_ignore_ascii_case(n)) {
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
