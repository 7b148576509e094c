//! Smuggling and framing matrix (RFC 9112 §6, §7; RFC 9110 §5.5): one test
//! per row. Each request row asserts both what the client gets (status,
//! connection closed or kept) and what the origin received: exactly one
//! strictly framed message, or nothing at all for a rejected request. Each
//! response row (a hostile origin) asserts what the client gets and that
//! the next request on the same client connection is not desynchronised.
mod common;

use std::io::{BufReader, Write};
use std::time::Duration;

use common::client::{closed_within, read_response, read_to_close, silent_for};
use common::origin::{Origin, Recorder};
use common::strict::{parse_all, parse_message};

enum Want {
    /// Answered with this status, connection closed, origin got nothing.
    Reject(u16),
    /// Forwarded: the origin got one message with this body, having each
    /// `has` line (case-insensitive) and none of the `lacks` field names.
    Forward {
        body: &'static [u8],
        has: &'static [&'static str],
        lacks: &'static [&'static str],
    },
}
use Want::*;

const fn fwd(body: &'static [u8], has: &'static [&'static str]) -> Want {
    Forward {
        body,
        has,
        lacks: &[],
    }
}

/// `{A}` in `raw` becomes the origin's address.
fn fill(raw: &[u8], addr: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len() + 64);
    let mut i = 0;
    while i < raw.len() {
        if raw[i..].starts_with(b"{A}") {
            out.extend_from_slice(addr.as_bytes());
            i += 3;
        } else {
            out.push(raw[i]);
            i += 1;
        }
    }
    out
}

fn request_row(raw: &[u8], want: Want) {
    let origin = Recorder::start();
    let proxy = common::start();
    let addr = origin.addr.to_string();
    let raw = fill(raw, &addr);
    let mut s = proxy.connect();
    s.write_all(&raw).unwrap();
    let mut r = BufReader::new(s.try_clone().unwrap());
    let resp = read_response(&mut r, raw.starts_with(b"HEAD ")).expect("a response");
    match want {
        Reject(status) => {
            assert_eq!(resp.status, status, "{}{}", resp.head, resp.text());
            assert_eq!(resp.header("connection").as_deref(), Some("close"));
            assert!(r.buffer().is_empty(), "bytes after the error response");
            closed_within(&mut s, Duration::from_secs(5)).expect("closed after the error");
            assert!(origin.all_closed(Duration::from_secs(5)));
            let got = origin.received();
            assert!(
                got.iter().all(Vec::is_empty),
                "origin received {:?}",
                got.iter()
                    .map(|b| String::from_utf8_lossy(b))
                    .collect::<Vec<_>>()
            );
        }
        Forward { body, has, lacks } => {
            assert_eq!(resp.status, 200, "{}{}", resp.head, resp.text());
            let got = origin.received().concat();
            let msgs = parse_all(&got)
                .unwrap_or_else(|e| panic!("{e}: {:?}", String::from_utf8_lossy(&got)));
            assert_eq!(msgs.len(), 1, "{:?}", String::from_utf8_lossy(&got));
            let m = &msgs[0];
            assert_eq!(m.body, body, "{}", m.head);
            let lower = m.head.to_ascii_lowercase();
            for h in has {
                let want = format!("\r\n{}\r\n", h.to_ascii_lowercase());
                assert!(
                    lower.contains(&want),
                    "origin head lacks {h:?}:\n{}",
                    m.head
                );
            }
            for l in lacks {
                assert!(m.fields(l).is_empty(), "origin head has {l}:\n{}", m.head);
            }
        }
    }
}

macro_rules! request_rows {
    ($($name:ident: $raw:expr => $want:expr;)*) => {
        $( #[test] fn $name() { request_row($raw, $want) } )*
    };
}

request_rows! {
    // Content-Length + Transfer-Encoding (RFC 9112 §6.3 rule 3).
    req_cl_and_te: b"POST http://{A}/ HTTP/1.1\r\nHost: {A}\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n" => Reject(400);
    req_te_and_cl: b"POST http://{A}/ HTTP/1.1\r\nHost: {A}\r\nTransfer-Encoding: chunked\r\nContent-Length: 15\r\n\r\n5\r\nhello\r\n0\r\n\r\n" => Reject(400);
    // Duplicate and listed Content-Length.
    req_cl_duplicate_equal: b"POST http://{A}/ HTTP/1.1\r\nHost: {A}\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello" => fwd(b"hello", &["content-length: 5"]);
    req_cl_list_equal: b"POST http://{A}/ HTTP/1.1\r\nHost: {A}\r\nContent-Length: 5, 5\r\n\r\nhello" => fwd(b"hello", &["content-length: 5"]);
    req_cl_duplicate_differ: b"POST http://{A}/ HTTP/1.1\r\nHost: {A}\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!" => Reject(400);
    req_cl_list_differ: b"POST http://{A}/ HTTP/1.1\r\nHost: {A}\r\nContent-Length: 5, 6\r\n\r\nhello!" => Reject(400);
    req_cl_empty_element: b"POST http://{A}/ HTTP/1.1\r\nHost: {A}\r\nContent-Length: 5,\r\n\r\nhello" => Reject(400);
    // Non-digit, signed, overflowing Content-Length.
    req_cl_non_digit: b"POST http://{A}/ HTTP/1.1\r\nHost: {A}\r\nContent-Length: 5a\r\n\r\nhello" => Reject(400);
    req_cl_hex: b"POST http://{A}/ HTTP/1.1\r\nHost: {A}\r\nContent-Length: 0x5\r\n\r\nhello" => Reject(400);
    req_cl_inner_space: b"POST http://{A}/ HTTP/1.1\r\nHost: {A}\r\nContent-Length: 1 2\r\n\r\nhello" => Reject(400);
    req_cl_plus: b"POST http://{A}/ HTTP/1.1\r\nHost: {A}\r\nContent-Length: +5\r\n\r\nhello" => Reject(400);
    req_cl_minus: b"POST http://{A}/ HTTP/1.1\r\nHost: {A}\r\nContent-Length: -5\r\n\r\nhello" => Reject(400);
    req_cl_overflow: b"POST http://{A}/ HTTP/1.1\r\nHost: {A}\r\nContent-Length: 18446744073709551621\r\n\r\nhello" => Reject(400);
    req_cl_empty: b"POST http://{A}/ HTTP/1.1\r\nHost: {A}\r\nContent-Length:\r\n\r\nhello" => Reject(400);
    // Transfer-Encoding variants.
    req_te_chunked_twice_listed: b"POST http://{A}/ HTTP/1.1\r\nHost: {A}\r\nTransfer-Encoding: chunked, chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n" => Reject(400);
    req_te_chunked_twice_fields: b"POST http://{A}/ HTTP/1.1\r\nHost: {A}\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n" => Reject(400);
    req_te_xchunked: b"POST http://{A}/ HTTP/1.1\r\nHost: {A}\r\nTransfer-Encoding: xchunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n" => Reject(501);
    req_te_trailing_space: b"POST http://{A}/ HTTP/1.1\r\nHost: {A}\r\nTransfer-Encoding: chunked \r\n\r\n5\r\nhello\r\n0\r\n\r\n" => fwd(b"hello", &["transfer-encoding: chunked"]);
    req_te_leading_tab: b"POST http://{A}/ HTTP/1.1\r\nHost: {A}\r\nTransfer-Encoding:\tchunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n" => fwd(b"hello", &["transfer-encoding: chunked"]);
    req_te_identity: b"POST http://{A}/ HTTP/1.1\r\nHost: {A}\r\nTransfer-Encoding: identity\r\nContent-Length: 5\r\n\r\nhello" => Reject(400);
    req_te_identity_alone: b"POST http://{A}/ HTTP/1.1\r\nHost: {A}\r\nTransfer-Encoding: identity\r\n\r\nhello" => Reject(501);
    req_te_upper_case: b"POST http://{A}/ HTTP/1.1\r\nHost: {A}\r\nTransfer-Encoding: CHUNKED\r\n\r\n5\r\nhello\r\n0\r\n\r\n" => fwd(b"hello", &["transfer-encoding: chunked"]);
    req_te_coding_after_chunked: b"POST http://{A}/ HTTP/1.1\r\nHost: {A}\r\nTransfer-Encoding: chunked, gzip\r\n\r\n5\r\nhello\r\n0\r\n\r\n" => Reject(400);
    req_te_coding_before_chunked: b"POST http://{A}/ HTTP/1.1\r\nHost: {A}\r\nTransfer-Encoding: gzip, chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n" => Reject(501);
    req_te_empty: b"POST http://{A}/ HTTP/1.1\r\nHost: {A}\r\nTransfer-Encoding:\r\n\r\n" => Reject(501);
    req_te_in_http10: b"POST http://{A}/ HTTP/1.0\r\nHost: {A}\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n" => Reject(400);
    // Field syntax (RFC 9112 §5).
    req_obs_fold: b"GET http://{A}/ HTTP/1.1\r\nHost: {A}\r\nX-A: a\r\n b\r\n\r\n" => Reject(400);
    req_obs_fold_tab: b"GET http://{A}/ HTTP/1.1\r\nHost: {A}\r\nX-A: a\r\n\tb\r\n\r\n" => Reject(400);
    req_space_before_colon: b"POST http://{A}/ HTTP/1.1\r\nHost: {A}\r\nContent-Length : 5\r\n\r\nhello" => Reject(400);
    req_tab_before_colon: b"POST http://{A}/ HTTP/1.1\r\nHost: {A}\r\nTransfer-Encoding\t: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n" => Reject(400);
    req_bare_lf: b"POST http://{A}/ HTTP/1.1\nHost: {A}\nContent-Length: 5\n\nhello" => fwd(b"hello", &["content-length: 5"]);
    req_bare_cr_in_value: b"GET http://{A}/ HTTP/1.1\r\nHost: {A}\r\nX-A: a\rContent-Length: 5\r\n\r\nhello" => Reject(400);
    req_bare_cr_line_end: b"GET http://{A}/ HTTP/1.1\r\nHost: {A}\rX-A: b\r\n\r\n" => Reject(400);
    req_nul_in_value: b"GET http://{A}/ HTTP/1.1\r\nHost: {A}\r\nX-A: a\0b\r\n\r\n" => Reject(400);
    req_nul_in_name: b"GET http://{A}/ HTTP/1.1\r\nHost: {A}\r\nX\0A: b\r\n\r\n" => Reject(400);
    req_ctl_in_value: b"GET http://{A}/ HTTP/1.1\r\nHost: {A}\r\nX-A: a\x01b\r\n\r\n" => Reject(400);
    req_del_in_value: b"GET http://{A}/ HTTP/1.1\r\nHost: {A}\r\nX-A: a\x7fb\r\n\r\n" => Reject(400);
    req_ctl_in_name: b"GET http://{A}/ HTTP/1.1\r\nHost: {A}\r\nX\x0bA: b\r\n\r\n" => Reject(400);
    req_ctl_in_target: b"GET http://{A}/a\x01b HTTP/1.1\r\nHost: {A}\r\n\r\n" => Reject(400);
    // Chunk sizes (RFC 9112 §7.1).
    req_chunk_hex_overflow: b"POST http://{A}/ HTTP/1.1\r\nHost: {A}\r\nTransfer-Encoding: chunked\r\n\r\n10000000000000005\r\nhello\r\n0\r\n\r\n" => Reject(400);
    req_chunk_0x: b"POST http://{A}/ HTTP/1.1\r\nHost: {A}\r\nTransfer-Encoding: chunked\r\n\r\n0x5\r\nhello\r\n0\r\n\r\n" => Reject(400);
    req_chunk_negative: b"POST http://{A}/ HTTP/1.1\r\nHost: {A}\r\nTransfer-Encoding: chunked\r\n\r\n-5\r\nhello\r\n0\r\n\r\n" => Reject(400);
    req_chunk_plus: b"POST http://{A}/ HTTP/1.1\r\nHost: {A}\r\nTransfer-Encoding: chunked\r\n\r\n+5\r\nhello\r\n0\r\n\r\n" => Reject(400);
    req_chunk_empty_size: b"POST http://{A}/ HTTP/1.1\r\nHost: {A}\r\nTransfer-Encoding: chunked\r\n\r\n\r\nhello\r\n0\r\n\r\n" => Reject(400);
    req_chunk_space_after_size: b"POST http://{A}/ HTTP/1.1\r\nHost: {A}\r\nTransfer-Encoding: chunked\r\n\r\n5 \r\nhello\r\n0\r\n\r\n" => Reject(400);
    req_chunk_missing_crlf: b"POST http://{A}/ HTTP/1.1\r\nHost: {A}\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello0\r\n\r\n" => Reject(400);
    req_chunk_bare_lf_size: b"POST http://{A}/ HTTP/1.1\r\nHost: {A}\r\nTransfer-Encoding: chunked\r\n\r\n5\nhello\r\n0\r\n\r\n" => Reject(400);
    req_chunk_bare_lf_data: b"POST http://{A}/ HTTP/1.1\r\nHost: {A}\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\n0\r\n\r\n" => Reject(400);
    req_chunk_data_overrun: b"POST http://{A}/ HTTP/1.1\r\nHost: {A}\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nhello\r\n0\r\n\r\n" => Reject(400);
    req_chunk_huge_size: b"POST http://{A}/ HTTP/1.1\r\nHost: {A}\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffffff\r\nhello" => Reject(400);
    req_chunk_leading_zeros: b"POST http://{A}/ HTTP/1.1\r\nHost: {A}\r\nTransfer-Encoding: chunked\r\n\r\n000000000000000000005\r\nhello\r\n0\r\n\r\n" => fwd(b"hello", &["transfer-encoding: chunked"]);
    // Chunk extensions.
    req_chunk_ext_quoted: b"POST http://{A}/ HTTP/1.1\r\nHost: {A}\r\nTransfer-Encoding: chunked\r\n\r\n5;name=\"a;b c\"\r\nhello\r\n0\r\n\r\n" => fwd(b"hello", &[]);
    req_chunk_ext_ctl: b"POST http://{A}/ HTTP/1.1\r\nHost: {A}\r\nTransfer-Encoding: chunked\r\n\r\n5;a=\x01\r\nhello\r\n0\r\n\r\n" => Reject(400);
    req_chunk_ext_bare_lf: b"POST http://{A}/ HTTP/1.1\r\nHost: {A}\r\nTransfer-Encoding: chunked\r\n\r\n5;a\nhello\r\n0\r\n\r\n" => Reject(400);
    // Trailers (RFC 9110 §6.5.1).
    req_trailer_allowed: b"POST http://{A}/ HTTP/1.1\r\nHost: {A}\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nX-Sum: 1\r\n\r\n" => fwd(b"hello", &[]);
    req_trailer_content_length: b"POST http://{A}/ HTTP/1.1\r\nHost: {A}\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nContent-Length: 50\r\n\r\n" => Reject(400);
    req_trailer_transfer_encoding: b"POST http://{A}/ HTTP/1.1\r\nHost: {A}\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nTransfer-Encoding: chunked\r\n\r\n" => Reject(400);
    req_trailer_host: b"POST http://{A}/ HTTP/1.1\r\nHost: {A}\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nHost: evil\r\n\r\n" => Reject(400);
    req_trailer_no_colon: b"POST http://{A}/ HTTP/1.1\r\nHost: {A}\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nGET / HTTP/1.1\r\n\r\n" => Reject(400);
    // Targets and Host (RFC 9110 §4.2.4, §7.2; RFC 9112 §3.2).
    req_userinfo: b"GET http://user:pw@{A}/ HTTP/1.1\r\nHost: {A}\r\n\r\n" => Reject(400);
    req_host_twice: b"GET http://{A}/ HTTP/1.1\r\nHost: {A}\r\nHost: evil.example\r\n\r\n" => Reject(400);
    req_host_missing: b"GET http://{A}/ HTTP/1.1\r\n\r\n" => Reject(400);
    // Bodies on GET/HEAD, and a request hidden in a body.
    req_get_with_body: b"GET http://{A}/ HTTP/1.1\r\nHost: {A}\r\nContent-Length: 5\r\n\r\nhello" => fwd(b"hello", &["content-length: 5"]);
    req_head_with_body: b"HEAD http://{A}/ HTTP/1.1\r\nHost: {A}\r\nContent-Length: 5\r\n\r\nhello" => fwd(b"hello", &["content-length: 5"]);
}

fn leak(v: Vec<u8>) -> &'static [u8] {
    Box::leak(v.into_boxed_slice())
}

#[test]
fn req_chunk_ext_very_long() {
    let mut raw =
        b"POST http://{A}/ HTTP/1.1\r\nHost: {A}\r\nTransfer-Encoding: chunked\r\n\r\n5;x="
            .to_vec();
    raw.extend(std::iter::repeat_n(b'a', 5000));
    raw.extend_from_slice(b"\r\nhello\r\n0\r\n\r\n");
    request_row(&raw, Reject(400));
}

#[test]
fn req_chunk_ext_long_but_allowed() {
    let mut raw =
        b"POST http://{A}/ HTTP/1.1\r\nHost: {A}\r\nTransfer-Encoding: chunked\r\n\r\n5;x="
            .to_vec();
    raw.extend(std::iter::repeat_n(b'a', 3000));
    raw.extend_from_slice(b"\r\nhello\r\n0\r\n\r\n");
    request_row(&raw, fwd(b"hello", &["transfer-encoding: chunked"]));
}

/// A complete request inside a body stays a body: the origin sees one
/// message, the client gets one response.
#[test]
fn req_smuggled_in_body() {
    let origin = Recorder::start();
    let proxy = common::start();
    let a = origin.addr;
    let inner = format!("GET http://{a}/smuggled HTTP/1.1\r\nHost: {a}\r\n\r\n");
    let raw = format!(
        "GET http://{a}/outer HTTP/1.1\r\nHost: {a}\r\nContent-Length: {}\r\n\r\n{inner}",
        inner.len()
    );
    let mut s = proxy.connect();
    s.write_all(raw.as_bytes()).unwrap();
    let mut r = BufReader::new(s.try_clone().unwrap());
    let resp = read_response(&mut r, false).unwrap();
    assert_eq!(resp.status, 200);
    silent_for(&mut s, Duration::from_millis(300)).expect("no second response");
    let got = origin.received().concat();
    let m = parse_all(&got).unwrap();
    assert_eq!(m.len(), 1);
    assert!(m[0].head.starts_with("GET /outer "));
    assert_eq!(m[0].body, inner.as_bytes());
}

/// A request pipelined after a chunked body's end is a second request,
/// read by the proxy exactly where the origin would: both get answered.
#[test]
fn req_pipelined_after_chunked_end() {
    let origin = Recorder::start();
    let proxy = common::start();
    let a = origin.addr;
    let raw = format!(
        "POST http://{a}/one HTTP/1.1\r\nHost: {a}\r\nTransfer-Encoding: chunked\r\n\r\n\
         5\r\nhello\r\n0\r\n\r\nGET http://{a}/two HTTP/1.1\r\nHost: {a}\r\n\r\n"
    );
    let mut s = proxy.connect();
    s.write_all(raw.as_bytes()).unwrap();
    let mut r = BufReader::new(s.try_clone().unwrap());
    assert_eq!(read_response(&mut r, false).unwrap().status, 200);
    assert_eq!(read_response(&mut r, false).unwrap().status, 200);
    let got = origin.received().concat();
    let m = parse_all(&got).unwrap();
    assert_eq!(m.len(), 2);
    assert!(m[0].head.starts_with("POST /one ") && m[0].body == b"hello");
    assert!(m[1].head.starts_with("GET /two ") && m[1].body.is_empty());
}

#[test]
fn req_host_disagrees() {
    let origin = Recorder::start();
    let proxy = common::start();
    let raw = format!(
        "GET http://{}/x HTTP/1.1\r\nHost: evil.example\r\n\r\n",
        origin.addr
    );
    let r = proxy.roundtrip(raw.as_bytes());
    assert_eq!(r.status, 200);
    let got = origin.received().concat();
    let m = parse_all(&got).unwrap();
    assert_eq!(m.len(), 1);
    assert_eq!(m[0].fields("host"), vec![origin.addr.to_string()]);
}

// ------------------------------------------------------------ responses

/// What a client must see when the origin answers `/evil` with a row's bytes.
#[derive(Clone, Copy)]
enum RWant {
    /// 502, then the client connection is closed.
    BadGateway,
    /// This status and body; then `/clean` on the same connection works.
    Kept(u16, &'static [u8]),
    /// This status and body, then the client connection is closed.
    Closed(u16, &'static [u8]),
    /// The head arrives, the body never completes, the connection closes.
    Truncated,
}

fn response_row(method: &str, minor: u8, reply: &'static [u8], close: bool, want: RWant) {
    let origin = Origin::hostile(reply, close);
    let proxy = common::start();
    let mut s = proxy.connect();
    let a = origin.addr;
    let req = format!("{method} http://{a}/evil HTTP/1.{minor}\r\nHost: {a}\r\n\r\n");
    s.write_all(req.as_bytes()).unwrap();
    let head_req = method == "HEAD";
    match want {
        RWant::BadGateway => {
            let mut r = BufReader::new(s.try_clone().unwrap());
            let resp = read_response(&mut r, head_req).expect("a response");
            assert_eq!(resp.status, 502, "{}{}", resp.head, resp.text());
            assert_eq!(resp.header("connection").as_deref(), Some("close"));
            assert!(r.buffer().is_empty());
            closed_within(&mut s, Duration::from_secs(5)).unwrap();
        }
        RWant::Kept(status, body) | RWant::Closed(status, body) => {
            let mut r = BufReader::new(s.try_clone().unwrap());
            let resp = read_response(&mut r, head_req).expect("a response");
            assert_eq!(resp.status, status, "{}", resp.head);
            assert_eq!(resp.body, body, "{}", resp.head);
            let strict = parse_message(resp.head.as_bytes());
            assert!(strict.is_ok(), "{strict:?} in {:?}", resp.head);
            if minor == 0 {
                assert!(resp.header("transfer-encoding").is_none(), "{}", resp.head);
            }
            if let RWant::Closed(..) = want {
                assert!(r.buffer().is_empty());
                closed_within(&mut s, Duration::from_secs(5)).unwrap();
                return;
            }
            assert!(r.buffer().is_empty(), "extra bytes: {:?}", r.buffer());
            let next = format!("GET http://{a}/clean HTTP/1.1\r\nHost: {a}\r\n\r\n");
            s.write_all(next.as_bytes()).unwrap();
            let resp = read_response(&mut r, false).expect("second response");
            assert_eq!(resp.status, 200);
            assert_eq!(
                resp.text(),
                "clean",
                "the client connection was desynchronised"
            );
        }
        RWant::Truncated => {
            // When the bad framing arrives with the head, nothing of the
            // response was sent yet: the client gets a 502. Otherwise the
            // head and a prefix of the body, never a complete message, and
            // the connection closes.
            let got = read_to_close(&mut s).expect("closed");
            if got.starts_with(b"HTTP/1.1 502 ") {
                let text = String::from_utf8_lossy(&got);
                assert!(text.contains("invalid chunked body"), "{text}");
                return;
            }
            match parse_message(&got) {
                Ok(None) => {}
                other => panic!("{other:?}: {:?}", String::from_utf8_lossy(&got)),
            }
            assert!(
                got.is_empty() || got.starts_with(b"HTTP/1.1 200"),
                "{:?}",
                String::from_utf8_lossy(&got)
            );
        }
    }
}

macro_rules! response_rows {
    ($($name:ident: $method:literal $minor:literal $reply:expr, close=$close:literal => $want:expr;)*) => {
        $( #[test] fn $name() { response_row($method, $minor, $reply, $close, $want) } )*
    };
}

response_rows! {
    res_cl_and_te: "GET" 1 b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\nsmuggled", close=false => RWant::Kept(200, b"hello");
    res_cl_duplicate_equal: "GET" 1 b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello", close=false => RWant::Kept(200, b"hello");
    res_cl_list_differ: "GET" 1 b"HTTP/1.1 200 OK\r\nContent-Length: 5, 8\r\n\r\nhellosmug", close=false => RWant::BadGateway;
    res_cl_duplicate_differ: "GET" 1 b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 8\r\n\r\nhellosmug", close=false => RWant::BadGateway;
    res_cl_non_digit: "GET" 1 b"HTTP/1.1 200 OK\r\nContent-Length: 5x\r\n\r\nhello", close=false => RWant::BadGateway;
    res_cl_negative: "GET" 1 b"HTTP/1.1 200 OK\r\nContent-Length: -5\r\n\r\nhello", close=false => RWant::BadGateway;
    res_cl_overflow: "GET" 1 b"HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999999\r\n\r\nhello", close=false => RWant::BadGateway;
    res_te_chunked_twice: "GET" 1 b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", close=false => RWant::BadGateway;
    res_te_coding_after_chunked: "GET" 1 b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n5\r\nhello\r\n0\r\n\r\n", close=false => RWant::BadGateway;
    res_te_upper_case: "GET" 1 b"HTTP/1.1 200 OK\r\nTransfer-Encoding: CHUNKED\r\n\r\n5\r\nhello\r\n0\r\n\r\n", close=false => RWant::Kept(200, b"hello");
    // An unknown coding is delimited by close (RFC 9112 §6.3 rule 4).
    res_te_xchunked: "GET" 1 b"HTTP/1.1 200 OK\r\nTransfer-Encoding: xchunked\r\n\r\nhello", close=true => RWant::Closed(200, b"hello");
    res_obs_fold: "GET" 1 b"HTTP/1.1 200 OK\r\nX-A: a\r\n b\r\nContent-Length: 5\r\n\r\nhello", close=false => RWant::BadGateway;
    res_space_before_colon: "GET" 1 b"HTTP/1.1 200 OK\r\nContent-Length : 5\r\n\r\nhello", close=false => RWant::BadGateway;
    res_nul_in_value: "GET" 1 b"HTTP/1.1 200 OK\r\nX-A: a\0b\r\nContent-Length: 5\r\n\r\nhello", close=false => RWant::BadGateway;
    res_bare_cr: "GET" 1 b"HTTP/1.1 200 OK\r\nX-A: a\rContent-Length: 5\r\n\r\nhello", close=false => RWant::BadGateway;
    res_bare_lf: "GET" 1 b"HTTP/1.1 200 OK\nContent-Length: 5\n\nhello", close=false => RWant::Kept(200, b"hello");
    res_not_http: "GET" 1 b"SMTP ready\r\n\r\n", close=false => RWant::BadGateway;
    // More bytes than declared: the surplus is dropped, never relayed.
    res_beyond_content_length: "GET" 1 b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhelloHTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\nsmuggled", close=false => RWant::Kept(200, b"hello");
    res_head_with_body: "HEAD" 1 b"HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\nsmuggled", close=false => RWant::Kept(200, b"");
    res_204_with_body: "GET" 1 b"HTTP/1.1 204 No Content\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\nsmuggled", close=false => RWant::Kept(204, b"");
    res_304_with_body: "GET" 1 b"HTTP/1.1 304 Not Modified\r\nContent-Length: 8\r\n\r\nsmuggled", close=false => RWant::Kept(304, b"");
    res_101_unasked: "GET" 1 b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: evil\r\nConnection: upgrade\r\n\r\nsmuggled", close=false => RWant::BadGateway;
    res_chunk_bad_size: "GET" 1 b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nzz\r\nsmuggled\r\n0\r\n\r\n", close=false => RWant::Truncated;
    res_chunk_overflow: "GET" 1 b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n10000000000000008\r\nsmuggled\r\n0\r\n\r\n", close=false => RWant::Truncated;
    res_chunk_missing_crlf: "GET" 1 b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nhello\r\n0\r\n\r\n", close=false => RWant::Truncated;
    res_trailer_forbidden: "GET" 1 b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nContent-Length: 99\r\n\r\n", close=false => RWant::Truncated;
    // An HTTP/1.0 client gets the chunked body dechunked and delimited by close.
    res_chunk_ext_long: "GET" 1 leak([
        &b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;x="[..],
        &[b'a'; 5000],
        b"\r\nhello\r\n0\r\n\r\n",
    ].concat()), close=false => RWant::Truncated;
    res_head_too_large: "GET" 1 leak([
        &b"HTTP/1.1 200 OK\r\nX-Big: "[..],
        &[b'a'; 70_000],
        b"\r\nContent-Length: 0\r\n\r\n",
    ].concat()), close=false => RWant::BadGateway;
    res_chunked_to_http10: "GET" 0 b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", close=false => RWant::Closed(200, b"hello");
    res_gzip_chunked_to_http10: "GET" 0 b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", close=false => RWant::Closed(200, b"hello");
    res_http10_no_length: "GET" 1 b"HTTP/1.0 200 OK\r\n\r\nhello", close=true => RWant::Closed(200, b"hello");
}
