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

/// The range to serve, honouring `If-Range` against `stored`'s validators
/// (RFC 9110 §13.1.5): when it does not hold, the full body. Only a stored
/// 200 is served in parts (§15.3.7: a 206 is a part of a 200's content).
pub(crate) fn range_if(req: &Head, stored: &Head, len: u64) -> Range {
    if stored.status != 200 {
        return Range::Full;
    }
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

#[cfg(test)]
mod tests {
    use super::super::testkit::{rq, rs};
    use super::*;
    use Range::*;

    #[test]
    fn byte_ranges() {
        let plain = rs(200, ""); // no validators: If-Range never holds
        #[rustfmt::skip]
        let cases: &[(&str, u64, Range)] = &[
            ("GET|Range: bytes=0-99", 1000, Part(0, 99)),         // RFC 9110 §14.1.2 int-range
            ("GET|Range: bytes=900-", 1000, Part(900, 999)),      // §14.1.2 open-ended
            ("GET|Range: bytes=-100", 1000, Part(900, 999)),      // §14.1.2 suffix
            ("GET|Range: bytes=990-2000", 1000, Part(990, 999)),  // §14.1.2 last-pos beyond the end
            ("GET|Range: bytes=-5000", 1000, Part(0, 999)),       // §14.1.2 suffix beyond the start
            ("GET|Range: bytes=999-999", 1000, Part(999, 999)),   // the last byte
            ("GET|Range: BYTES=0-1", 1000, Part(0, 1)),           // §14.1 units case-insensitive
            ("GET|Range: bytes=0-1, ", 1000, Part(0, 1)),         // RFC 9110 §5.6.1 empty elements
            ("GET|Range: bytes=1000-", 1000, Unsatisfiable),      // §14.1.1 first-pos ≥ length
            ("GET|Range: bytes=1000-1001", 1000, Unsatisfiable),  // §14.1.1
            ("GET|Range: bytes=99999999999999999999999-", 1000, Unsatisfiable), // overflow: beyond
            ("GET|Range: bytes=-0", 1000, Unsatisfiable),         // §14.1.1 zero suffix
            ("GET|Range: bytes=0-", 0, Unsatisfiable),            // §14.1.1 nothing to start at
            ("GET|Range: bytes=-5", 0, Full),                     // §14.1.1 the empty body itself
            ("GET|Range: bytes=0-1,5-6", 1000, Full),             // multi-range: the full 200
            ("GET|Range: bytes=5-1", 1000, Full),                 // §14.1.2 invalid: ignored
            ("GET|Range: bytes=abc", 1000, Full),                 // garbage: ignored
            ("GET|Range: bytes=1-2-3", 1000, Full),
            ("GET|Range: bytes=-", 1000, Full),
            ("GET|Range: bytes= 0-1", 1000, Part(0, 1)),          // RFC 9110 §5.6.1 OWS in a list
            ("GET|Range: bytes=+1-2", 1000, Full),
            ("GET|Range: bytes=", 1000, Full),
            ("GET|Range: bytes 0-1", 1000, Full),
            ("GET|Range: items=0-1", 1000, Full),                 // §14.1 an unknown unit
            ("GET|Range: bytes=0-1|Range: bytes=2-3", 1000, Full), // two fields: not one range
            ("HEAD|Range: bytes=0-1", 1000, Full),                // §14.2 GET only
            ("GET", 1000, Full),
        ];
        for (req, len, want) in cases {
            assert_eq!(range_if(&rq(req), &plain, *len), *want, "{req} of {len}");
        }
    }

    #[test]
    fn if_range() {
        // RFC 9110 §13.1.5, against a response whose Last-Modified is strong
        // (§8.8.2.2: at least 60 s before its Date).
        let stored = rs(200, "ETag: \"v1\"|Last-Modified: {-3600}|Date: {0}");
        #[rustfmt::skip]
        let cases: &[(&str, Range)] = &[
            ("GET|Range: bytes=0-9|If-Range: \"v1\"", Part(0, 9)),    // §13.1.5 the same tag
            ("GET|Range: bytes=0-9|If-Range: \"v2\"", Full),          // §13.1.5 changed
            ("GET|Range: bytes=0-9|If-Range: W/\"v1\"", Full),        // §13.1.5 strong comparison
            ("GET|Range: bytes=0-9|If-Range: {-3600}", Part(0, 9)),   // §13.1.5 the same date
            ("GET|Range: bytes=0-9|If-Range: {-3599}", Full),         // §13.1.5 exact match only
            ("GET|Range: bytes=0-9|If-Range: garbage", Full),
            ("GET|Range: bytes=2000-|If-Range: \"v1\"", Unsatisfiable),
            ("GET|If-Range: \"v1\"", Full),                           // §13.1.5 no Range
            ("GET|Range: bytes=0-9", Part(0, 9)),                     // no If-Range
        ];
        for (req, want) in cases {
            assert_eq!(range_if(&rq(req), &stored, 1000), *want, "{req}");
        }
        // §8.8.2.2: a Last-Modified within 60 s of the Date is weak.
        let weak = rs(200, "Last-Modified: {-30}|Date: {0}");
        assert_eq!(
            range_if(&rq("GET|Range: bytes=0-9|If-Range: {-30}"), &weak, 1000),
            Full
        );
        let weak_tag = rs(200, "ETag: W/\"v1\"");
        assert_eq!(
            range_if(&rq("GET|Range: bytes=0-9|If-Range: W/\"v1\""), &weak_tag, 9),
            Full
        );
        // §15.3.7: only a 200 is served in parts; a stored 404 whole.
        let missing = rs(404, "ETag: \"v1\"");
        assert_eq!(range_if(&rq("GET|Range: bytes=0-9"), &missing, 1000), Full);
    }
}
