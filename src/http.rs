//! Pure HTTP/1.x message handling: parse a request or response head (via
//! httparse) into an owned [`Head`] (its target is parsed in `target.rs`), decide message
//! framing (RFC 9112 §6), and write the heads the proxy forwards with the
//! hop-by-hop fields removed (RFC 9110 §7.6.1). No I/O lives here: every
//! function takes bytes and returns values, so the rules are tested as tables.

use std::fmt::Write as _;

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

/// Why a message's framing is refused (RFC 9112 §6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FramingError {
    /// Ambiguous or invalid framing: 400 for a request, 502 for a response.
    Invalid(&'static str),
    /// A transfer coding we do not implement: 501 (RFC 9112 §6.1).
    UnknownCoding,
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

    /// Values of every field named `name` (case-insensitive).
    pub fn values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a [u8]> + 'a {
        self.fields()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }

    /// The single value of `name`, or None when absent.
    pub fn value(&self, name: &str) -> Option<&[u8]> {
        self.fields()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
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
    pub fn has_token(&self, name: &str, token: &str) -> bool {
        self.list(name)
            .any(|e| e.eq_ignore_ascii_case(token.as_bytes()))
    }

    /// Number of field lines.
    pub fn field_count(&self) -> usize {
        self.fields.len()
    }
}

/// Trim optional white space (SP / HTAB) at both ends.
pub fn trim_ows(mut v: &[u8]) -> &[u8] {
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
pub type ParseHead = fn(&[u8]) -> Result<Option<(Head, usize)>, HeadError>;

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

// ---------------------------------------------------------------- framing

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
pub fn max_forwards(head: &Head) -> Option<u32> {
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

// ---------------------------------------------------------------- writing

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

/// `io::Write`-free formatting into a byte vector.
struct Fmt<'a>(&'a mut Vec<u8>);
impl std::fmt::Write for Fmt<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
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

/// The reason phrase for a status the proxy itself sends.
pub fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        407 => "Proxy Authentication Required",
        408 => "Request Timeout",
        413 => "Content Too Large",
        414 => "URI Too Long",
        417 => "Expectation Failed",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        505 => "HTTP Version Not Supported",
        508 => "Loop Detected",
        _ => "Error",
    }
}

/// A complete response the proxy writes itself: plain-text body, closed.
/// `extra` holds whole field lines (each ending in CRLF).
pub fn simple_response(status: u16, extra: &str, body: &str, with_body: bool) -> Vec<u8> {
    typed_response(
        status,
        "text/plain; charset=utf-8",
        extra,
        body.as_bytes(),
        with_body,
    )
}

/// [`simple_response`] with another content type.
pub fn typed_response(
    status: u16,
    ctype: &str,
    extra: &str,
    body: &[u8],
    with_body: bool,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(200 + body.len());
    let _ = write!(
        Fmt(&mut out),
        "HTTP/1.1 {status} {}\r\nDate: {}\r\nContent-Type: {ctype}\r\n\
         Content-Length: {}\r\n{extra}Connection: close\r\nCache-Control: no-store\r\n\r\n",
        reason(status),
        crate::logger::http_date(std::time::SystemTime::now()),
        body.len()
    );
    if with_body {
        out.extend_from_slice(body);
    }
    out
}

/// Fields a TRACE answer leaves out: credentials and cookies (RFC 9110
/// §9.3.8 advises against reflecting sensitive data).
const NOT_TRACED: &[&str] = &["authorization", "proxy-authorization", "cookie"];

/// The body of our answer to a TRACE with `Max-Forwards: 0`: the request
/// as received, sensitive fields left out (`message/http`).
pub fn trace_body(head: &Head) -> Vec<u8> {
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

    fn req(raw: &str) -> Head {
        parse_request(raw.as_bytes()).unwrap().unwrap().0
    }

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
