//! Range requests answered from a complete stored response: the one byte
//! range of a `Range` field (RFC 9110 §14.1.2, §14.2), and `If-Range`
//! (§13.1.5) against the stored validators. A multi-range or malformed
//! Range is answered with the full 200, which §14.2 allows. Pure.

use super::Secs;
use super::dates::parse_http_date;
use super::fields::entity_tag;
use crate::http::head::{Head, trim_ows};

/// What to send for a GET of a stored body of a given length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Range {
    /// The whole body, 200.
    Full,
    /// 206 with these bytes, first and last inclusive, both within the body.
    Part(u64, u64),
    /// 416 with `Content-Range: bytes */len` (RFC 9110 §15.5.17).
    Unsatisfiable,
}

/// The range to serve when the stored head is not at hand: an `If-Range`
/// cannot be checked then, so its presence means the full body (always a
/// correct answer, §13.1.5). Prefer [`range_if`].
pub(crate) fn range(req: &Head, len: u64) -> Range {
    if req.value("if-range").is_some() {
        return Range::Full;
    }
    byte_range(req, len)
}

/// The range to serve, honouring `If-Range` against `stored`'s validators
/// (RFC 9110 §13.1.5): when it does not hold, the full body.
pub(crate) fn range_if(req: &Head, stored: &Head, len: u64) -> Range {
    match req.value("if-range") {
        Some(v) if !if_range_holds(v, stored) => Range::Full,
        _ => byte_range(req, len),
    }
}

/// How long before its `Date` a `Last-Modified` must lie to be a strong
/// validator for a cache (RFC 9110 §8.8.2.2).
const STRONG_LM_SECS: Secs = 60;

fn if_range_holds(v: &[u8], stored: &Head) -> bool {
    if let Some(tag) = entity_tag(v) {
        // §13.1.5: an entity-tag is compared strongly, so W/ never holds.
        let etag = stored.value("etag").and_then(entity_tag);
        return etag.is_some_and(|e| e.strong_eq(&tag));
    }
    let date = parse_http_date(v);
    let lm = stored.value("last-modified").and_then(parse_http_date);
    let sent = stored.value("date").and_then(parse_http_date);
    match (date, lm, sent) {
        // §13.1.5: an exact match of a strong Last-Modified (§8.8.2.2).
        (Some(d), Some(lm), Some(sent)) => d == lm && lm.saturating_add(STRONG_LM_SECS) <= sent,
        _ => false,
    }
}

/// A first-pos, last-pos or suffix-length: empty is `Ok(None)`; digits
/// saturate at u64::MAX (still beyond any body); anything else is Err.
fn position(v: &[u8]) -> Result<Option<u64>, ()> {
    if v.is_empty() {
        return Ok(None);
    }
    if !v.iter().all(u8::is_ascii_digit) {
        return Err(());
    }
    Ok(Some(v.iter().fold(0u64, |n, &d| {
        n.saturating_mul(10).saturating_add(u64::from(d - b'0'))
    })))
}

fn byte_range(req: &Head, len: u64) -> Range {
    // §14.2: GET is the only method range handling is defined for.
    if req.method != "GET" {
        return Range::Full;
    }
    let mut fields = req.values("range");
    let (Some(v), None) = (fields.next(), fields.next()) else {
        return Range::Full; // absent, or two Range lines: not one valid field
    };
    let v = trim_ows(v);
    let Some(eq) = v.iter().position(|&b| b == b'=') else {
        return Range::Full;
    };
    let (unit, set) = (v.get(..eq).unwrap_or(&[]), v.get(eq + 1..).unwrap_or(&[]));
    // §14.1: range units are case-insensitive; "bytes" is the one we serve.
    if !unit.eq_ignore_ascii_case(b"bytes") {
        return Range::Full;
    }
    let mut specs = set
        .split(|&b| b == b',')
        .map(trim_ows)
        .filter(|s| !s.is_empty());
    let (Some(spec), None) = (specs.next(), specs.next()) else {
        return Range::Full; // none, or a multi-range: the full body
    };
    let Some(dash) = spec.iter().position(|&b| b == b'-') else {
        return Range::Full;
    };
    let first = position(spec.get(..dash).unwrap_or(&[]));
    let last = position(spec.get(dash + 1..).unwrap_or(&[]));
    match (first, last) {
        // §14.1.2: last < first makes the range-spec (so the field) invalid.
        (Ok(Some(f)), Ok(Some(l))) if l < f => Range::Full,
        // §14.1.1: an int-range is satisfiable only if first-pos < length.
        (Ok(Some(f)), Ok(_)) if f >= len => Range::Unsatisfiable,
        // §14.1.2: a last-pos at or beyond the end means the end.
        (Ok(Some(f)), Ok(Some(l))) => Range::Part(f, l.min(len - 1)),
        (Ok(Some(f)), Ok(None)) => Range::Part(f, len - 1),
        // §14.1.1: a suffix-range is satisfiable only if non-zero.
        (Ok(None), Ok(Some(0))) => Range::Unsatisfiable,
        // §14.1.1: of an empty body only a suffix is satisfiable, and it is
        // the empty body itself: the 200 says the same.
        (Ok(None), Ok(Some(_))) if len == 0 => Range::Full,
        // §14.1.2: a suffix longer than the body is the whole body.
        (Ok(None), Ok(Some(n))) => Range::Part(len - n.min(len), len - 1),
        _ => Range::Full,
    }
}
