//! The heads around a stored response: the conditional fields that
//! revalidate it (RFC 9111 §4.3.1), whether a client's own conditional
//! request lets the cache answer 304 (§4.3.2), the head to store (§3.1),
//! the head after a 304 (§4.3.4), and the Vary key (§4.1). Pure.

use std::fmt::Write as _;
use std::time::{Duration, UNIX_EPOCH};

use super::Secs;
use super::dates::parse_http_date;
use super::fields::{Member, Members, entity_tag};
use crate::http::head::{Head, trim_ows};
use crate::http::reply::{Fmt, http_date};

/// The conditional fields that revalidate `resp` (RFC 9111 §4.3.1): the
/// cache MUST send its entity-tag in If-None-Match and SHOULD send its
/// Last-Modified in If-Modified-Since; both when both are there (an origin
/// then decides by If-None-Match, RFC 9110 §13.1.3). Empty: nothing to
/// validate with.
pub(crate) fn validators(resp: &Head) -> Vec<(&'static str, Vec<u8>)> {
    let mut out = Vec::new();
    if let Some(etag) = resp.value("etag").filter(|v| entity_tag(v).is_some()) {
        out.push(("If-None-Match", trim_ows(etag).to_vec()));
    }
    if let Some(lm) = resp
        .value("last-modified")
        .filter(|v| parse_http_date(v).is_some())
    {
        out.push(("If-Modified-Since", trim_ows(lm).to_vec()));
    }
    out
}

/// Whether `resp` has a validator [`validators`] would send (without
/// building them: this is asked on every store and every lookup).
pub(crate) fn has_validator(resp: &Head) -> bool {
    resp.value("etag").is_some_and(|v| entity_tag(v).is_some())
        || resp
            .value("last-modified")
            .is_some_and(|v| parse_http_date(v).is_some())
}

/// Whether the client's own conditional GET or HEAD matches the stored
/// response, so the cache answers 304 (RFC 9111 §4.3.2). If-None-Match
/// compares weakly (RFC 9110 §13.1.2), `*` matching any stored response;
/// If-Modified-Since counts only without If-None-Match (§13.1.3), against
/// the stored Last-Modified, else its Date.
pub(crate) fn not_modified(req: &Head, resp: &Head) -> bool {
    if req.method != "GET" && req.method != "HEAD" {
        return false; // RFC 9110 §13.1: these conditionals are for GET and HEAD
    }
    if !(200..300).contains(&resp.status) {
        return false; // RFC 9110 §13.2.1: preconditions apply only to a 2xx
    }
    if req.value("if-none-match").is_some() {
        let stored = resp.value("etag").and_then(entity_tag);
        return req
            .values("if-none-match")
            .flat_map(Members)
            .any(|m| match m {
                Member::Any => true,
                Member::Tag(t) => stored.is_some_and(|s| s.weak_eq(&t)),
            });
    }
    let Some(since) = req.value("if-modified-since").and_then(parse_http_date) else {
        return false; // absent or invalid: ignored (RFC 9110 §13.1.3)
    };
    let modified = resp.value("last-modified").or_else(|| resp.value("date"));
    modified
        .and_then(parse_http_date)
        .is_some_and(|m| m <= since)
}

/// Fields that describe one connection and are never stored (RFC 9111
/// §3.1, RFC 9110 §7.6.1), besides those the Connection field names.
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "proxy-connection",
    "keep-alive",
    "te",
    "transfer-encoding",
    "upgrade",
    "trailer",
    "proxy-authenticate",
    "proxy-authentication-info",
];

fn hop_by_hop(head: &Head, name: &str) -> bool {
    HOP_BY_HOP.iter().any(|h| name.eq_ignore_ascii_case(h)) || head.has_token("connection", name)
}

fn status_line(out: &mut Vec<u8>, head: &Head) {
    let _ = write!(Fmt(out), "HTTP/1.1 {} {}\r\n", head.status, head.reason);
}

fn put_field(out: &mut Vec<u8>, name: &str, value: &[u8]) {
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

/// The head to store for a response received at `received`: the status
/// line and every field but the hop-by-hop ones (RFC 9111 §3.1), plus a
/// `Date` when the origin sent none (RFC 9110 §6.6.1: a cache MUST add
/// one). Content-Length is kept; the framing of a hit comes from the
/// stored body's length.
pub(crate) fn stored_head(resp: &Head, received: Secs) -> Vec<u8> {
    let mut out = Vec::with_capacity(512);
    status_line(&mut out, resp);
    for (name, value) in resp.fields().filter(|(n, _)| !hop_by_hop(resp, n)) {
        put_field(&mut out, name, value);
    }
    if resp.value("date").is_none() {
        let date = http_date(UNIX_EPOCH + Duration::from_secs(received));
        put_field(&mut out, "Date", date.as_bytes());
    }
    out.extend_from_slice(b"\r\n");
    out
}

/// The stored head updated by a 304 (RFC 9111 §4.3.4, §3.2): each field of
/// the 304 replaces every stored field of its name, except Content-Length
/// and hop-by-hop fields; the status line stays the stored one. Returns
/// the new head bytes. The caller also stores new [`Times`] (those of the
/// revalidation), as the 304's Date now dates the response.
pub(crate) fn merge_304(stored: &Head, fresh: &Head) -> Vec<u8> {
    let update = |n: &str| !n.eq_ignore_ascii_case("content-length") && !hop_by_hop(fresh, n);
    let mut out = Vec::with_capacity(512);
    status_line(&mut out, stored);
    let replaced = |n: &str| {
        fresh
            .fields()
            .any(|(f, _)| f.eq_ignore_ascii_case(n) && update(f))
    };
    for (name, value) in stored.fields() {
        if !hop_by_hop(stored, name) && !replaced(name) {
            put_field(&mut out, name, value);
        }
    }
    for (name, value) in fresh.fields().filter(|(n, _)| update(n)) {
        put_field(&mut out, name, value);
    }
    out.extend_from_slice(b"\r\n");
    out
}

/// The secondary cache key of `req` under the stored response's Vary
/// (RFC 9111 §4.1): for each named field (lower-cased, sorted, once), its
/// field lines combined as RFC 9110 §5.3 does, or a mark that it is absent
/// (absent never matches present, even empty). `None` for `Vary: *`,
/// which matches nothing. Without Vary, the empty key.
pub(crate) fn vary_key(resp: &Head, req: &Head) -> Option<Vec<u8>> {
    let mut names: Vec<String> = Vec::new();
    for name in resp.list("vary") {
        if name == b"*" {
            return None;
        }
        names.push(String::from_utf8_lossy(name).to_ascii_lowercase());
    }
    names.sort_unstable();
    names.dedup();
    let mut key = Vec::new();
    for name in &names {
        key.extend_from_slice(name.as_bytes());
        let mut lines = req.values(name).map(trim_ows).peekable();
        if lines.peek().is_none() {
            key.push(b'!'); // absent: cannot be produced by any field value
        } else {
            key.push(b':');
            for (i, line) in lines.enumerate() {
                if i > 0 {
                    key.extend_from_slice(b", ");
                }
                key.extend_from_slice(line);
            }
        }
        key.push(b'\n'); // no field value holds a line feed (RFC 9110 §5.5)
    }
    Some(key)
}

#[cfg(test)]
mod tests {
    use super::super::testkit::{rq, rs, text};
    use super::*;
    use crate::http::head::parse_response;

    #[test]
    fn revalidation_fields() {
        // RFC 9111 §4.3.1: the entity-tag, and Last-Modified beside it.
        let v = |resp: &str| -> Vec<(&str, String)> {
            let r = rs(200, resp);
            let out = validators(&r);
            out.into_iter().map(|(n, v)| (n, text(&v))).collect()
        };
        let lm = "Sun, 06 Nov 1994 08:49:37 GMT";
        assert_eq!(
            v(&format!("ETag: W/\"a\"|Last-Modified: {lm}")),
            [
                ("If-None-Match", "W/\"a\"".into()),
                ("If-Modified-Since", lm.into())
            ]
        );
        assert_eq!(v("ETag:  \"a\" "), [("If-None-Match", "\"a\"".into())]);
        assert_eq!(
            v(&format!("Last-Modified: {lm}")),
            [("If-Modified-Since", lm.into())]
        );
        assert_eq!(v("ETag: a|Last-Modified: yesterday"), []); // neither is valid
        assert_eq!(v(""), []);
        for resp in [
            "ETag: \"a\"",
            "Last-Modified: {0}",
            "ETag: a",
            "Last-Modified: 0",
            "",
        ] {
            assert_eq!(has_validator(&rs(200, resp)), !v(resp).is_empty(), "{resp}");
        }
    }

    #[test]
    fn conditional_requests_answered_from_the_cache() {
        let stored = "ETag: \"a\"|Last-Modified: {-100}|Date: {0}";
        #[rustfmt::skip]
        let cases: &[(&str, &str, bool)] = &[
            ("GET|If-None-Match: \"a\"", stored, true),           // §4.3.2
            ("GET|If-None-Match: W/\"a\"", stored, true),         // RFC 9110 §13.1.2 weak compare
            ("GET|If-None-Match: \"a\"", "ETag: W/\"a\"", true),  // RFC 9110 §13.1.2 weak compare
            ("GET|If-None-Match: \"b\", \"a\"", stored, true),    // RFC 9110 §13.1.2 a list
            ("GET|If-None-Match: \"b\"|If-None-Match: \"a\"", stored, true), // RFC 9110 §5.3 lines
            ("GET|If-None-Match: \"b\"", stored, false),
            ("GET|If-None-Match: *", stored, true),               // RFC 9110 §13.1.2 any
            ("GET|If-None-Match: \"a\"", "Date: {0}", false),     // nothing to compare with
            ("GET|If-None-Match: \"a,b\"", "ETag: \"a,b\"", true), // RFC 9110 §8.8.3 a comma inside
            ("GET|If-None-Match: a", stored, false),              // not an entity-tag
            ("GET|If-None-Match: \"b\"|If-Modified-Since: {0}", stored, false), // RFC 9110 §13.1.3
            ("GET|If-Modified-Since: {0}", stored, true),         // §4.3.2 not modified since
            ("GET|If-Modified-Since: {-100}", stored, true),      // equal is not modified
            ("GET|If-Modified-Since: {-200}", stored, false),     // modified since
            ("GET|If-Modified-Since: {0}", "Date: {-5}", true),   // §4.3.2 no LM: the Date
            ("GET|If-Modified-Since: {-9}", "Date: {-5}", false),
            ("GET|If-Modified-Since: yesterday", stored, false),  // RFC 9110 §13.1.3 invalid
            ("HEAD|If-None-Match: \"a\"", stored, true),          // RFC 9110 §13.1.2 GET and HEAD
            ("POST|If-None-Match: \"a\"", stored, false),
            ("GET", stored, false),                               // not conditional
        ];
        for (req, resp, want) in cases {
            assert_eq!(
                not_modified(&rq(req), &rs(200, resp)),
                *want,
                "{req} / {resp}"
            );
        }
        // RFC 9110 §13.2.1: a stored 404 is not "not modified", even for `*`.
        for req in [
            "GET|If-None-Match: *",
            "GET|If-None-Match: \"a\"",
            "GET|If-Modified-Since: {0}",
        ] {
            assert!(!not_modified(&rq(req), &rs(404, stored)), "{req}");
        }
    }

    #[test]
    fn the_head_to_store() {
        // RFC 9111 §3.1: hop-by-hop fields go; RFC 9110 §6.6.1: a Date is added.
        let resp = rs(
            200,
            "Connection: close, X-Hop|X-Hop: 1|Keep-Alive: timeout=5|Transfer-Encoding: chunked\
             |ETag: \"a\"|Content-Length: 5|Proxy-Connection: close",
        );
        assert_eq!(
            text(&stored_head(&resp, 784_111_777)),
            "HTTP/1.1 200 X\r\nETag: \"a\"\r\nContent-Length: 5\r\n\
             Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n\r\n"
        );
        let dated = rs(200, "Date: {-5}|Age: 3");
        assert_eq!(
            text(&stored_head(&dated, 0)),
            "HTTP/1.1 200 X\r\nDate: Sun, 06 Nov 1994 08:49:32 GMT\r\nAge: 3\r\n\r\n"
        );
    }

    #[test]
    fn a_304_updates_the_stored_head() {
        // RFC 9111 §4.3.4, §3.2: the 304's fields replace the stored ones,
        // all lines of a name, except Content-Length and hop-by-hop fields.
        let stored = rs(
            200,
            "Content-Length: 5|ETag: \"a\"|Cache-Control: max-age=10|Cache-Control: public\
             |X-Keep: 1|Date: {0}",
        );
        let fresh = rs(
            304,
            "ETag: \"a\"|cache-control: max-age=60|Date: {100}|Content-Length: 0\
             |Connection: X-Drop|X-Drop: 1|Keep-Alive: timeout=1|X-New: 2",
        );
        let merged = merge_304(&stored, &fresh);
        let (head, n) = parse_response(&merged).unwrap().unwrap();
        assert_eq!(n, merged.len());
        assert_eq!(head.status, 200);
        let fields: Vec<String> = head
            .fields()
            .map(|(n, v)| format!("{n}: {}", text(v)))
            .collect();
        assert_eq!(
            fields,
            [
                "Content-Length: 5",
                "X-Keep: 1",
                "ETag: \"a\"",
                "cache-control: max-age=60",
                "Date: Sun, 06 Nov 1994 08:51:17 GMT",
                "X-New: 2",
            ]
        );
    }

    #[test]
    fn vary_keys() {
        // RFC 9111 §4.1: the request fields the stored response varies on.
        let key = |vary: &str, req: &str| vary_key(&rs(200, vary), &rq(req));
        assert_eq!(key("", "GET|Accept: a"), Some(Vec::new())); // no Vary
        assert_eq!(key("Vary: *", "GET"), None); // matches nothing
        assert_eq!(key("Vary: Accept, *", "GET"), None);
        let gzip = key("Vary: Accept-Encoding", "GET|Accept-Encoding: gzip");
        assert_eq!(gzip.as_deref(), Some(&b"accept-encoding:gzip\n"[..]));
        assert_ne!(
            gzip,
            key("Vary: Accept-Encoding", "GET|Accept-Encoding: br")
        );
        // Names: any case, any order, repeated, over several lines.
        let both = "GET|Accept: a|Accept-Encoding: gzip";
        let k = key("Vary: Accept-Encoding, accept", both);
        assert_eq!(k, key("Vary: ACCEPT|Vary: Accept-Encoding, Accept", both));
        assert_eq!(k.as_deref(), Some(&b"accept:a\naccept-encoding:gzip\n"[..]));
        // §4.1 via RFC 9110 §5.3: field lines combine in order; whitespace
        // around a value is not part of it.
        let lines = key("Vary: Accept", "GET|Accept: a|Accept: b");
        assert_eq!(lines, key("Vary: Accept", "GET|Accept: a, b"));
        assert_ne!(lines, key("Vary: Accept", "GET|Accept: b, a"));
        assert_eq!(
            key("Vary: Accept", "GET|Accept:  a "),
            key("Vary: Accept", "GET|Accept: a")
        );
        // §4.1: an absent field matches only absent, never empty.
        let absent = key("Vary: Accept", "GET");
        assert_eq!(absent.as_deref(), Some(&b"accept!\n"[..]));
        assert_ne!(absent, key("Vary: Accept", "GET|Accept: "));
        // Other fields do not count.
        assert_eq!(absent, key("Vary: Accept", "GET|Cookie: x"));
    }
}
