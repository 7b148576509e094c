//! Request and response heads: parse one from the start of a buffer (via
//! httparse) into an owned [`Head`], within the documented size limits.
//! Pure: bytes in, values out; the request-target is parsed in `target.rs`.

/// Largest request or response head we accept (start line + fields), in
/// bytes. Larger heads get 431 (request) or 502 (response). 64 KiB is what
/// browsers' largest cookie jars fit in, and what squid allows by default.
pub const MAX_HEAD_BYTES: usize = 64 * 1024;
/// Most header fields in one head. More get 431 (RFC 6585 §5).
pub const MAX_FIELDS: usize = 100;
/// Longest request-target. Longer gets 414 (RFC 9112 §3: servers must
/// bound it; 8 KiB is the RFC's recommended minimum to support).
pub const MAX_TARGET_BYTES: usize = 8 * 1024;

/// Why a head could not be taken; each maps to one status in `error.rs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeadError {
    /// Not a valid HTTP/1.x head.
    Malformed(&'static str),
    /// The head (or one of its limits) exceeds [`MAX_HEAD_BYTES`] or [`MAX_FIELDS`].
    TooLarge,
    /// The request-target exceeds [`MAX_TARGET_BYTES`].
    UriTooLong,
    /// An HTTP version other than 1.0 or 1.1.
    Version,
}

#[derive(Debug, Clone, Copy)]
struct Span {
    start: u32,
    end: u32,
}

/// An owned, parsed head: the start line's parts plus the field lines,
/// stored as spans into one copy of the received bytes (one allocation).
#[derive(Debug)]
pub struct Head {
    raw: Vec<u8>,
    fields: Vec<(Span, Span)>,
    /// Request method (empty for responses).
    pub method: String,
    /// Request-target as received (empty for responses).
    pub target: String,
    /// Minor version: 0 for HTTP/1.0, 1 for HTTP/1.1.
    pub minor: u8,
    /// Response status code (0 for requests).
    pub status: u16,
    /// Response reason phrase (empty for requests).
    pub reason: String,
}

fn span_of(base: &[u8], part: &[u8]) -> Span {
    let start = part.as_ptr() as usize - base.as_ptr() as usize;
    Span {
        start: start as u32,
        end: (start + part.len()) as u32,
    }
}

impl Head {
    fn slice(&self, s: Span) -> &[u8] {
        self.raw
            .get(s.start as usize..s.end as usize)
            .unwrap_or(&[])
    }

    /// Every field line in order, as (name, value).
    pub fn fields(&self) -> impl Iterator<Item = (&str, &[u8])> {
        self.fields.iter().map(|&(n, v)| {
            // Names were validated as tokens by httparse, hence ASCII.
            (
                std::str::from_utf8(self.slice(n)).unwrap_or(""),
                self.slice(v),
            )
        })
    }

    /// Every field line in order, as (name, value) bytes: for the loops
    /// that run on every request and only compare or copy names.
    pub fn raw_fields(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        self.fields
            .iter()
            .map(|&(n, v)| (self.slice(n), self.slice(v)))
    }

    /// Values of every field named `name` (case-insensitive).
    /// (Lookups compare bytes: no UTF-8 check of every name they pass.)
    pub fn values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a [u8]> + 'a {
        self.fields
            .iter()
            .filter(move |&&(n, _)| self.slice(n).eq_ignore_ascii_case(name.as_bytes()))
            .map(|&(_, v)| self.slice(v))
    }

    /// The single value of `name`, or None when absent.
    pub fn value(&self, name: &str) -> Option<&[u8]> {
        let name = name.as_bytes();
        self.fields
            .iter()
            .find(|&&(n, _)| self.slice(n).eq_ignore_ascii_case(name))
            .map(|&(_, v)| self.slice(v))
    }

    /// Every comma-separated element of every `name` field, trimmed, empty
    /// elements skipped (RFC 9110 §5.6.1 list syntax).
    pub fn list<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a [u8]> + 'a {
        self.values(name)
            .flat_map(|v| v.split(|&b| b == b','))
            .map(trim_ows)
            .filter(|e| !e.is_empty())
    }

    /// Whether the `name` list contains `token` (case-insensitive).
    pub(crate) fn has_token(&self, name: &str, token: &str) -> bool {
        self.list(name)
            .any(|e| e.eq_ignore_ascii_case(token.as_bytes()))
    }

    /// Number of field lines.
    pub fn field_count(&self) -> usize {
        self.fields.len()
    }
}

/// Trim optional white space (SP / HTAB) at both ends.
pub(crate) fn trim_ows(mut v: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = v {
        v = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = v {
        v = rest;
    }
    v
}

fn owned_head(raw: &[u8], headers: &[httparse::Header<'_>], len: usize) -> Head {
    let raw_copy = raw.get(..len).unwrap_or(raw).to_vec();
    let fields = headers
        .iter()
        .map(|h| (span_of(raw, h.name.as_bytes()), span_of(raw, h.value)))
        .collect();
    Head {
        raw: raw_copy,
        fields,
        method: String::new(),
        target: String::new(),
        minor: 1,
        status: 0,
        reason: String::new(),
    }
}

/// Limits that apply to a partial head: once `buf` holds `MAX_HEAD_BYTES`
/// without a complete head it never will be acceptable.
fn partial_limits(buf: &[u8], request: bool) -> Result<(), HeadError> {
    if request {
        let line_end = buf.iter().position(|&b| b == b'\n');
        let line_len = line_end.unwrap_or(buf.len());
        if line_len > MAX_TARGET_BYTES + 64 {
            return Err(HeadError::UriTooLong);
        }
    }
    if buf.len() >= MAX_HEAD_BYTES {
        return Err(HeadError::TooLarge);
    }
    Ok(())
}

fn map_httparse(e: httparse::Error) -> HeadError {
    match e {
        httparse::Error::TooManyHeaders => HeadError::TooLarge,
        httparse::Error::Version => HeadError::Version,
        httparse::Error::HeaderName => HeadError::Malformed("invalid header field name"),
        httparse::Error::HeaderValue => HeadError::Malformed("invalid header field value"),
        httparse::Error::NewLine => HeadError::Malformed("invalid line ending"),
        httparse::Error::Token => HeadError::Malformed("invalid method or target"),
        httparse::Error::Status => HeadError::Malformed("invalid status"),
    }
}

/// The shape of [`parse_request`] and [`parse_response`].
pub(crate) type ParseHead = fn(&[u8]) -> Result<Option<(Head, usize)>, HeadError>;

/// Parse a request head from the start of `buf`. `Ok(None)` means more
/// bytes are needed; `Ok(Some((head, n)))` means the head took `n` bytes.
pub fn parse_request(buf: &[u8]) -> Result<Option<(Head, usize)>, HeadError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_FIELDS];
    let mut req = httparse::Request::new(&mut headers);
    match req.parse(buf) {
        Ok(httparse::Status::Complete(n)) => {
            if n > MAX_HEAD_BYTES {
                return Err(HeadError::TooLarge);
            }
            let target = req.path.unwrap_or("");
            if target.len() > MAX_TARGET_BYTES {
                return Err(HeadError::UriTooLong);
            }
            let mut head = owned_head(buf, req.headers, n);
            head.method = req.method.unwrap_or("").to_string();
            head.target = target.to_string();
            head.minor = req.version.unwrap_or(1);
            Ok(Some((head, n)))
        }
        Ok(httparse::Status::Partial) => partial_limits(buf, true).map(|()| None),
        Err(httparse::Error::Version) if buf.starts_with(b"PRI * HTTP/2") => {
            Err(HeadError::Version)
        }
        Err(e) => Err(map_httparse(e)),
    }
}

/// Parse a response head from the start of `buf`, as [`parse_request`].
pub fn parse_response(buf: &[u8]) -> Result<Option<(Head, usize)>, HeadError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_FIELDS];
    let mut res = httparse::Response::new(&mut headers);
    match res.parse(buf) {
        Ok(httparse::Status::Complete(n)) => {
            if n > MAX_HEAD_BYTES {
                return Err(HeadError::TooLarge);
            }
            let status = res.code.unwrap_or(0);
            if status < 100 {
                // No such class (RFC 9110 §15), and not writable as 3 digits.
                return Err(HeadError::Malformed("invalid status"));
            }
            let mut head = owned_head(buf, res.headers, n);
            head.status = status;
            head.reason = res.reason.unwrap_or("").to_string();
            head.minor = res.version.unwrap_or(1);
            Ok(Some((head, n)))
        }
        Ok(httparse::Status::Partial) => partial_limits(buf, false).map(|()| None),
        Err(e) => Err(map_httparse(e)),
    }
}

/// A request head from text, for the tests of every module that reads heads.
#[cfg(test)]
pub(crate) fn test_request(raw: &str) -> Head {
    parse_request(raw.as_bytes()).unwrap().unwrap().0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_heads() {
        let cases: &[(&str, &str, Result<bool, HeadError>)] = &[
            (
                "simple",
                "GET http://a/ HTTP/1.1\r\nHost: a\r\n\r\n",
                Ok(true),
            ),
            (
                "partial",
                "GET http://a/ HTTP/1.1\r\nHost: a\r\n",
                Ok(false),
            ),
            ("http10", "GET http://a/ HTTP/1.0\r\n\r\n", Ok(true)),
            (
                "version 2",
                "GET / HTTP/2.0\r\n\r\n",
                Err(HeadError::Version),
            ),
            (
                "h2 preface",
                "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
                Err(HeadError::Version),
            ),
            (
                "space before colon",
                "GET / HTTP/1.1\r\nHost : a\r\n\r\n",
                Err(HeadError::Malformed("invalid header field name")),
            ),
            (
                "obs-fold",
                "GET / HTTP/1.1\r\nX: a\r\n b\r\n\r\n",
                Err(HeadError::Malformed("invalid header field name")),
            ),
            (
                "NUL in value",
                "GET / HTTP/1.1\r\nX: a\0b\r\n\r\n",
                Err(HeadError::Malformed("invalid header field value")),
            ),
            (
                "bare CR",
                "GET / HTTP/1.1\r\nX: a\rb: c\r\n\r\n",
                Err(HeadError::Malformed("invalid header field value")),
            ),
        ];
        for (name, raw, want) in cases {
            let got = parse_request(raw.as_bytes()).map(|o| o.is_some());
            assert_eq!(&got, want, "{name}");
        }
    }

    #[test]
    fn response_heads() {
        let cases: &[(&str, Result<bool, HeadError>)] = &[
            ("HTTP/1.1 200 OK\r\n\r\n", Ok(true)),
            ("HTTP/1.1 100 Continue\r\n\r\n", Ok(true)),
            ("HTTP/1.1 200 OK\r\n", Ok(false)),
            // Fuzz finding: status 099 was accepted and re-written as "99".
            (
                "HTTP/1.1 099 Low\r\n\r\n",
                Err(HeadError::Malformed("invalid status")),
            ),
            (
                "HTTP/1.1 000 \r\n\r\n",
                Err(HeadError::Malformed("invalid status")),
            ),
        ];
        for (raw, want) in cases {
            let got = parse_response(raw.as_bytes()).map(|o| o.is_some());
            assert_eq!(&got, want, "{raw:?}");
        }
    }

    #[test]
    fn head_limits() {
        let long_target = format!("GET /{} HTTP/1.1\r\n\r\n", "a".repeat(MAX_TARGET_BYTES));
        assert_eq!(
            parse_request(long_target.as_bytes()).err(),
            Some(HeadError::UriTooLong)
        );
        let no_end = format!("GET /{}", "a".repeat(MAX_TARGET_BYTES + 100));
        assert_eq!(
            parse_request(no_end.as_bytes()).err(),
            Some(HeadError::UriTooLong)
        );
        let big = format!("GET / HTTP/1.1\r\nX: {}", "a".repeat(MAX_HEAD_BYTES));
        assert_eq!(
            parse_request(big.as_bytes()).err(),
            Some(HeadError::TooLarge)
        );
        let many: String = (0..=MAX_FIELDS).map(|i| format!("X{i}: v\r\n")).collect();
        let many = format!("GET / HTTP/1.1\r\n{many}\r\n");
        assert_eq!(
            parse_request(many.as_bytes()).err(),
            Some(HeadError::TooLarge)
        );
    }
}
