//! Test helpers for the rules' tables (heads from short text, dates as
//! offsets from one instant) and the fuzz-style test that runs a few
//! thousand deterministic pseudo-random field values through every parser
//! and rule: none may panic, and what they return must hold together.

use super::*;
use crate::http::head::{Head, parse_request, parse_response};
use crate::http::reply::http_date;
use std::time::{Duration, UNIX_EPOCH};

/// The instant the tables' dates are counted from: Sun, 06 Nov 1994 08:49:37 GMT.
pub(crate) const T: Secs = 784_111_777;

/// Field lines separated by `|`, each `{N}` replaced by the HTTP-date of
/// `T + N` (N may be negative).
fn expand(fields: &str) -> String {
    let mut out = String::new();
    for line in fields.split('|').filter(|l| !l.is_empty()) {
        let mut rest = line;
        while let Some((before, after)) = rest.split_once('{') {
            let (n, after) = after.split_once('}').expect("a closing brace");
            let secs = T.checked_add_signed(n.parse::<i64>().expect("an offset"));
            out.push_str(before);
            out.push_str(&http_date(UNIX_EPOCH + Duration::from_secs(secs.unwrap())));
            rest = after;
        }
        out.push_str(rest);
        out.push_str("\r\n");
    }
    out
}

/// A request: `METHOD|field|field…` for `http://h/p`.
pub(crate) fn rq(spec: &str) -> Head {
    let (method, fields) = spec.split_once('|').unwrap_or((spec, ""));
    let raw = format!("{method} http://h/p HTTP/1.1\r\n{}\r\n", expand(fields));
    parse_request(raw.as_bytes()).unwrap().unwrap().0
}

/// A response with this status and `field|field…`.
pub(crate) fn rs(status: u16, fields: &str) -> Head {
    let raw = format!("HTTP/1.1 {status} X\r\n{}\r\n", expand(fields));
    parse_response(raw.as_bytes()).unwrap().unwrap().0
}

/// The bytes of a head as text, for comparing built heads.
pub(crate) fn text(head: &[u8]) -> String {
    String::from_utf8_lossy(head).into_owned()
}

/// Fragments the fuzz values are made of: pieces of every syntax the
/// parsers know, so that random values reach deep into them, and bytes
/// that break them.
const FRAGMENTS: &[&str] = &[
    "max-age",
    "s-maxage",
    "max-stale",
    "min-fresh",
    "no-cache",
    "no-store",
    "private",
    "public",
    "must-revalidate",
    "must-understand",
    "=",
    "\"",
    "\\",
    ",",
    " ",
    "\t",
    "-",
    "*",
    "W/",
    ";",
    "0",
    "7",
    "99999999999999999999999",
    "bytes",
    "bytes=",
    "Sun, 06 Nov 1994 ",
    "08:49:37",
    " GMT",
    "Sunday, 06-Nov-94 ",
    "Nov  6 ",
    "1994",
    ":",
    "gzip",
    "\u{e9}",
    "\u{7f}",
    "a",
];

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64: deterministic, so a failure reproduces.
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn value(&mut self) -> String {
        (0..self.below(12))
            .map(|_| FRAGMENTS[self.below(FRAGMENTS.len())])
            .collect()
    }
}

/// How many random cases the fuzz-style test runs: enough to reach every
/// branch of the parsers many times, in about two seconds of a debug build.
const FUZZ_CASES: usize = 3000;

const FIELDS: &[&str] = &[
    "Cache-Control",
    "Pragma",
    "Range",
    "If-Range",
    "If-None-Match",
    "If-Modified-Since",
    "ETag",
    "Last-Modified",
    "Date",
    "Expires",
    "Age",
    "Vary",
    "Authorization",
    "Connection",
];

#[test]
fn no_input_panics_any_rule() {
    let mut rng = Rng(0x5EED_CAFE_F00D_1234);
    let mut parsed = 0;
    for _ in 0..FUZZ_CASES {
        let (a, b) = (rng.value(), rng.value());
        let _ = parse_http_date(a.as_bytes());
        let _ = fields::delta_seconds(a.as_bytes());
        let _ = fields::entity_tag(a.as_bytes());
        let _ = fields::Members(a.as_bytes()).count();
        let _ = package_rule(&a);
        let mut fields_a = String::new();
        let mut fields_b = String::new();
        for name in FIELDS {
            match rng.below(3) {
                0 => fields_a.push_str(&format!("{name}: {a}\r\n")),
                1 => fields_b.push_str(&format!("{name}: {b}\r\n")),
                _ => {}
            }
        }
        let method = ["GET", "HEAD", "POST"][rng.below(3)];
        let req = format!("{method} http://h/p HTTP/1.1\r\n{fields_a}{fields_b}\r\n");
        let resp = format!(
            "HTTP/1.1 {} X\r\n{fields_b}{fields_a}\r\n",
            100 + rng.below(500)
        );
        let (Ok(Some((req, _))), Ok(Some((resp, _)))) = (
            parse_request(req.as_bytes()),
            parse_response(resp.as_bytes()),
        ) else {
            continue; // not a head httparse takes: nothing reaches the rules
        };
        parsed += 1;
        let (now, t) = (
            rng.next() >> 20,
            Times {
                request: rng.next() >> 20,
                response: rng.next() >> 20,
            },
        );
        let _ = (
            lookup_allowed(&req),
            only_if_cached(&req),
            validators(&resp),
        );
        let _ = (
            storable(&req, &resp, &a),
            lifetime(&resp, &a),
            age(&resp, &t, now),
        );
        let _ = (
            use_stored(&req, &resp, &t, &a, now),
            not_modified(&req, &resp),
        );
        let _ = (vary_key(&resp, &req), invalidates(&req.method, resp.status));
        for built in [
            merge_304(&resp, &req_as_response(&req)),
            stored_head(&resp, now),
        ] {
            let head = parse_response(&built)
                .expect("a built head parses")
                .expect("whole");
            assert_eq!(head.1, built.len(), "{}", text(&built));
        }
        let len = rng.next() % 2000;
        for r in [
            range_if(&req, &resp, len),
            range_if(&req, &rs(200, ""), len),
        ] {
            if let Range::Part(first, last) = r {
                assert!(first <= last && last < len, "{r:?} of {len}");
            }
        }
    }
    // The fragments must mostly make heads, or the rules went untested.
    assert!(parsed > FUZZ_CASES / 2, "only {parsed} heads parsed");
}

/// The request's fields as a 304, to merge random fields into a stored head.
fn req_as_response(req: &Head) -> Head {
    let mut raw = b"HTTP/1.1 304 Not Modified\r\n".to_vec();
    for (name, value) in req.fields() {
        raw.extend_from_slice(format!("{name}: ").as_bytes());
        raw.extend_from_slice(value);
        raw.extend_from_slice(b"\r\n");
    }
    raw.extend_from_slice(b"\r\n");
    parse_response(&raw).unwrap().unwrap().0
}
