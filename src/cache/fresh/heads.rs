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

/// Whether the client's own conditional GET or HEAD matches the stored
/// response, so the cache answers 304 (RFC 9111 §4.3.2). If-None-Match
/// compares weakly (RFC 9110 §13.1.2), `*` matching any stored response;
/// If-Modified-Since counts only without If-None-Match (§13.1.3), against
/// the stored Last-Modified, else its Date.
pub(crate) fn not_modified(req: &Head, resp: &Head) -> bool {
    if req.method != "GET" && req.method != "HEAD" {
        return false; // RFC 9110 §13.1: these conditionals are for GET and HEAD
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
