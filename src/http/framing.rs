//! Message framing (RFC 9112 §6): how a request's or response's body is
//! delimited, refusing ambiguous framing (the smuggling defences), plus
//! the per-message rules that read fields: persistence and Max-Forwards.

use super::head::{Head, trim_ows};

/// Why a message's framing is refused (RFC 9112 §6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FramingError {
    /// Ambiguous or invalid framing: 400 for a request, 502 for a response.
    Invalid(&'static str),
    /// A transfer coding we do not implement: 501 (RFC 9112 §6.1).
    UnknownCoding,
}

/// How a message body is delimited (RFC 9112 §6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Body {
    /// No body.
    None,
    /// Exactly this many bytes.
    Length(u64),
    /// Chunked transfer coding.
    Chunked,
    /// Until the sender closes (responses only).
    UntilClose,
}

/// The Content-Length of `head`, if any: every value (also comma lists,
/// RFC 9110 §8.6) must be the same run of digits, else it is invalid.
fn content_length(head: &Head) -> Result<Option<u64>, FramingError> {
    let mut found: Option<u64> = None;
    for v in head.values("content-length") {
        for e in v.split(|&b| b == b',').map(trim_ows) {
            // Digits only: no sign, no space, no hex (RFC 9110 §8.6); 18
            // digits keep the value far from u64 overflow.
            if e.is_empty() || e.len() > 18 || !e.iter().all(u8::is_ascii_digit) {
                return Err(FramingError::Invalid("invalid Content-Length"));
            }
            let n = e.iter().fold(0u64, |a, &d| a * 10 + u64::from(d - b'0'));
            if found.is_some_and(|f| f != n) {
                return Err(FramingError::Invalid("conflicting Content-Length values"));
            }
            found = Some(n);
        }
    }
    Ok(found)
}

/// Whether Transfer-Encoding is present, and if so whether its final coding
/// is chunked, checking the list is one we can forward.
fn transfer_coding(head: &Head, request: bool) -> Result<Option<bool>, FramingError> {
    if head.values("transfer-encoding").next().is_none() {
        return Ok(None);
    }
    let codings: Vec<&[u8]> = head.list("transfer-encoding").collect();
    let chunked_at: Vec<usize> = codings
        .iter()
        .enumerate()
        .filter(|(_, c)| c.eq_ignore_ascii_case(b"chunked"))
        .map(|(i, _)| i)
        .collect();
    let last_is_chunked = chunked_at.last() == Some(&codings.len().wrapping_sub(1));
    if chunked_at.len() > 1 || (!chunked_at.is_empty() && !last_is_chunked) {
        // RFC 9112 §6.1: chunked must be applied once, and last.
        return Err(FramingError::Invalid("invalid Transfer-Encoding"));
    }
    if request && codings.len() != 1 {
        // We only forward plain chunked requests; anything else (gzip,
        // identity, xchunked, empty) is a coding we do not implement.
        return Err(FramingError::UnknownCoding);
    }
    Ok(Some(last_is_chunked))
}

/// Framing of a request (RFC 9112 §6.3 rules 3–7 for requests).
pub fn request_body(head: &Head) -> Result<Body, FramingError> {
    let te = transfer_coding(head, true)?;
    let cl = content_length(head)?;
    match (te, cl) {
        // RFC 9112 §6.1: TE in HTTP/1.0 means faulty framing.
        (Some(_), _) if head.minor == 0 => Err(FramingError::Invalid(
            "Transfer-Encoding in an HTTP/1.0 request",
        )),
        // RFC 9112 §6.3 rule 3: both present is a smuggling attempt; reject.
        (Some(_), Some(_)) => Err(FramingError::Invalid(
            "both Transfer-Encoding and Content-Length",
        )),
        (Some(true), None) => Ok(Body::Chunked),
        (Some(false), None) => Err(FramingError::UnknownCoding),
        (None, Some(0)) | (None, None) => Ok(Body::None),
        (None, Some(n)) => Ok(Body::Length(n)),
    }
}

/// Framing of a response to a request with `method` (RFC 9112 §6.3).
/// The bool is false when the upstream connection cannot be reused after.
pub fn response_body(method: &str, head: &Head) -> Result<(Body, bool), FramingError> {
    let s = head.status;
    if method == "HEAD" || (100..200).contains(&s) || s == 204 || s == 304 {
        return Ok((Body::None, true));
    }
    let te = transfer_coding(head, false)?;
    match te {
        // TE overrides CL (rule 3); such a message must not be reused.
        Some(true) => Ok((Body::Chunked, head.value("content-length").is_none())),
        Some(false) => Ok((Body::UntilClose, false)),
        None => match content_length(head)? {
            Some(n) => Ok((Body::Length(n), true)),
            None => Ok((Body::UntilClose, false)),
        },
    }
}

/// The Max-Forwards of a TRACE or OPTIONS request (RFC 9110 §7.6.2), the
/// only methods it applies to; None when absent or not a number.
pub(crate) fn max_forwards(head: &Head) -> Option<u32> {
    if head.method != "TRACE" && head.method != "OPTIONS" {
        return None;
    }
    let v = trim_ows(head.value("max-forwards")?);
    if v.is_empty() || v.len() > 9 || !v.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(v).ok()?.parse().ok()
}

/// Whether a message's connection persists after it (RFC 9112 §9.3).
pub fn keeps_alive(head: &Head) -> bool {
    if head.has_token("connection", "close") {
        return false;
    }
    head.minor >= 1 || head.has_token("connection", "keep-alive")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::head::{parse_response, test_request as req};

    #[test]
    fn request_framing() {
        use Body::*;
        use FramingError::*;
        let cases: &[(&str, Result<Body, FramingError>)] = &[
            ("", Ok(None)),
            ("Content-Length: 0\r\n", Ok(None)),
            ("Content-Length: 5\r\n", Ok(Length(5))),
            ("Content-Length: 5, 5\r\n", Ok(Length(5))),
            ("Content-Length: 5\r\nContent-Length: 5\r\n", Ok(Length(5))),
            (
                "Content-Length: 5\r\nContent-Length: 6\r\n",
                Err(Invalid("conflicting Content-Length values")),
            ),
            (
                "Content-Length: 5, 6\r\n",
                Err(Invalid("conflicting Content-Length values")),
            ),
            (
                "Content-Length: +5\r\n",
                Err(Invalid("invalid Content-Length")),
            ),
            (
                "Content-Length: -1\r\n",
                Err(Invalid("invalid Content-Length")),
            ),
            (
                "Content-Length: 0x5\r\n",
                Err(Invalid("invalid Content-Length")),
            ),
            (
                "Content-Length: 99999999999999999999\r\n",
                Err(Invalid("invalid Content-Length")),
            ),
            (
                "Content-Length:\r\n",
                Err(Invalid("invalid Content-Length")),
            ),
            ("Transfer-Encoding: chunked\r\n", Ok(Chunked)),
            ("Transfer-Encoding: CHUNKED\r\n", Ok(Chunked)),
            ("Transfer-Encoding: chunked \r\n", Ok(Chunked)),
            (
                "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n",
                Err(Invalid("both Transfer-Encoding and Content-Length")),
            ),
            (
                "Transfer-Encoding: chunked, chunked\r\n",
                Err(Invalid("invalid Transfer-Encoding")),
            ),
            (
                "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n",
                Err(Invalid("invalid Transfer-Encoding")),
            ),
            (
                "Transfer-Encoding: chunked, gzip\r\n",
                Err(Invalid("invalid Transfer-Encoding")),
            ),
            ("Transfer-Encoding: gzip, chunked\r\n", Err(UnknownCoding)),
            ("Transfer-Encoding: xchunked\r\n", Err(UnknownCoding)),
            ("Transfer-Encoding: identity\r\n", Err(UnknownCoding)),
            ("Transfer-Encoding: \r\n", Err(UnknownCoding)),
        ];
        for (fields, want) in cases {
            let h = req(&format!(
                "POST http://a/ HTTP/1.1\r\nHost: a\r\n{fields}\r\n"
            ));
            assert_eq!(&request_body(&h), want, "{fields:?}");
        }
        let h10 = req("POST http://a/ HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n");
        assert_eq!(
            request_body(&h10),
            Err(Invalid("Transfer-Encoding in an HTTP/1.0 request"))
        );
    }

    #[test]
    fn response_framing() {
        use Body::*;
        let res = |raw: &str| parse_response(raw.as_bytes()).unwrap().unwrap().0;
        type Want = Result<(Body, bool), FramingError>;
        let cases: &[(&str, &str, Want)] = &[
            (
                "GET",
                "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n",
                Ok((Length(3), true)),
            ),
            (
                "HEAD",
                "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n",
                Ok((None, true)),
            ),
            ("GET", "HTTP/1.1 204 No Content\r\n\r\n", Ok((None, true))),
            (
                "GET",
                "HTTP/1.1 304 Not Modified\r\nContent-Length: 9\r\n\r\n",
                Ok((None, true)),
            ),
            ("GET", "HTTP/1.1 100 Continue\r\n\r\n", Ok((None, true))),
            ("GET", "HTTP/1.1 200 OK\r\n\r\n", Ok((UntilClose, false))),
            (
                "GET",
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
                Ok((Chunked, true)),
            ),
            (
                "GET",
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n",
                Ok((Chunked, false)),
            ),
            (
                "GET",
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
                Ok((UntilClose, false)),
            ),
            (
                "GET",
                "HTTP/1.1 200 OK\r\nContent-Length: 1, 2\r\n\r\n",
                Err(FramingError::Invalid("conflicting Content-Length values")),
            ),
        ];
        for (m, raw, want) in cases {
            assert_eq!(&response_body(m, &res(raw)), want, "{m} {raw:?}");
        }
    }

    #[test]
    fn persistence() {
        let cases = [
            ("HTTP/1.1", "", true),
            ("HTTP/1.1", "Connection: close\r\n", false),
            ("HTTP/1.1", "Connection: Keep-Alive, CLOSE\r\n", false),
            ("HTTP/1.0", "", false),
            ("HTTP/1.0", "Connection: keep-alive\r\n", true),
        ];
        for (v, f, want) in cases {
            let h = req(&format!("GET http://a/ {v}\r\nHost: a\r\n{f}\r\n"));
            assert_eq!(keeps_alive(&h), want, "{v} {f:?}");
        }
    }
}
