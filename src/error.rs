//! The one error type of a proxied exchange, and the one place that maps
//! each error to the HTTP status the client sees (or to a silent close when
//! no response can be sent any more).

use std::io;
use std::net::SocketAddr;

use crate::http::chunked::ChunkError;
use crate::http::framing::FramingError;
use crate::http::head::HeadError;
use crate::http::reply::simple_response;
use crate::http::target::TargetError;
use crate::policy::Denied;
use crate::policy::auth::{AuthError, CHALLENGE_FIELD};

/// The challenge of a 401 for an own page (RFC 9110 §11.6.1): the browser
/// then asks for the proxy's user name and password.
pub(crate) const PAGE_CHALLENGE_FIELD: &str = "WWW-Authenticate: Basic realm=\"smolproxy\"\r\n";

/// Everything that can end an exchange early.
#[derive(Debug)]
pub(crate) enum Error {
    /// The request head is malformed or too large.
    Head(HeadError),
    /// The request-target cannot be used.
    Target(TargetError),
    /// The request's framing is ambiguous or unsupported.
    Framing(FramingError),
    /// The request's chunked body is malformed.
    RequestChunk(ChunkError),
    /// Any other malformed request.
    BadRequest(&'static str),
    /// `https://` in absolute form, or another scheme: not for a plain proxy.
    NotImplemented(&'static str),
    /// The policy refuses this.
    Denied(Denied),
    /// Proxy authentication is required and missing or wrong (407).
    ProxyAuth(AuthError),
    /// An own page asked for directly needs the proxy's credentials (401).
    PageAuth(AuthError),
    /// Too many wrong passwords from this client wait for their answers:
    /// its credentials are not checked now (429, RFC 6585 §4).
    Guessing,
    /// The client took too long to send its head.
    HeadTimeout,
    /// The host name did not resolve.
    Resolve(String, io::Error),
    /// Connecting upstream failed (every address tried; the last error).
    Connect(SocketAddr, io::Error),
    /// The upstream took too long to connect or answer.
    UpstreamTimeout(&'static str),
    /// The upstream closed before a complete response head.
    UpstreamClosed,
    /// The upstream sent an invalid response.
    BadResponse(&'static str),
    /// The client went away or stalled; nothing more can be sent.
    Client(io::Error),
    /// An upstream I/O error after the response began: close.
    Upstream(io::Error),
    /// The parent proxy (its `host:port`) failed or refused: what it did.
    Parent(String, String),
    /// TLS to the origin (`host:port`) of an inspected request failed:
    /// why, in words (an unverifiable certificate is never passed).
    #[cfg(feature = "tls")]
    OriginTls(String, String),
}

impl Error {
    /// The status to answer with, if a response can still be sent.
    pub(crate) fn status(&self) -> Option<u16> {
        Some(match self {
            Error::Head(HeadError::TooLarge) => 431,
            Error::Head(HeadError::UriTooLong) => 414,
            Error::Head(HeadError::Version) => 505,
            Error::Head(HeadError::Malformed(_)) => 400,
            Error::Target(_) | Error::RequestChunk(_) | Error::BadRequest(_) => 400,
            Error::Framing(FramingError::Invalid(_)) => 400,
            Error::Framing(FramingError::UnknownCoding) | Error::NotImplemented(_) => 501,
            Error::Denied(Denied::Loop(_)) => 508,
            Error::Denied(_) => 403,
            Error::ProxyAuth(_) => 407,
            Error::PageAuth(_) => 401,
            Error::Guessing => 429,
            Error::HeadTimeout => 408,
            Error::Resolve(_, e) if e.kind() == io::ErrorKind::TimedOut => 504,
            Error::Connect(_, e) if e.kind() == io::ErrorKind::TimedOut => 504,
            Error::Resolve(..) | Error::Connect(..) => 502,
            Error::UpstreamTimeout(_) => 504,
            Error::UpstreamClosed | Error::BadResponse(_) | Error::Upstream(_) => 502,
            Error::Parent(..) => 502,
            #[cfg(feature = "tls")]
            Error::OriginTls(..) => 502,
            Error::Client(_) => return None,
        })
    }

    /// Header lines the error response carries besides the usual ones:
    /// a 407 and a 401 must send their challenge (RFC 9110 §15.5.8, §15.5.2).
    pub(crate) fn extra_fields(&self) -> &'static str {
        match self {
            Error::ProxyAuth(_) => CHALLENGE_FIELD,
            Error::PageAuth(_) => PAGE_CHALLENGE_FIELD,
            Error::Guessing => "Retry-After: 60\r\n",
            _ => "",
        }
    }

    /// The error page answering this error, with its status: `None` when
    /// no response can be sent (the client is gone). `with_body` is false
    /// for a HEAD request (RFC 9110 §9.3.2).
    pub(crate) fn page(&self, with_body: bool) -> Option<(u16, Vec<u8>)> {
        let status = self.status()?;
        let body = format!("smolproxy: {}\n", self.message());
        let resp = simple_response(status, self.extra_fields(), &body, with_body);
        Some((status, resp))
    }

    /// A one-line, lower-case explanation for the error page and the log.
    pub(crate) fn message(&self) -> String {
        match self {
            Error::Head(HeadError::TooLarge) => "request head too large".into(),
            Error::Head(HeadError::UriTooLong) => "request-target too long".into(),
            Error::Head(HeadError::Version) => "only HTTP/1.0 and HTTP/1.1 are supported".into(),
            Error::Head(HeadError::Malformed(m)) => format!("malformed request: {m}"),
            Error::Target(TargetError(m)) => format!("bad request-target: {m}"),
            Error::Framing(FramingError::Invalid(m)) => format!("bad request framing: {m}"),
            Error::Framing(FramingError::UnknownCoding) => {
                "unsupported Transfer-Encoding (only chunked is supported)".into()
            }
            Error::RequestChunk(e) => format!("bad chunked request body: {}", e.message()),
            Error::BadRequest(m) => format!("bad request: {m}"),
            Error::NotImplemented(m) => (*m).into(),
            Error::Denied(d) => d.message(),
            Error::ProxyAuth(a) | Error::PageAuth(a) => a.message().into(),
            Error::Guessing => "too many wrong passwords from this address; try again later".into(),
            Error::HeadTimeout => "request head not received in time".into(),
            Error::Resolve(host, e) if e.kind() == io::ErrorKind::TimedOut => {
                format!("DNS lookup for {host} timed out")
            }
            Error::Resolve(host, e) => format!("could not resolve host {host}: {e}"),
            Error::Connect(addr, e) if e.kind() == io::ErrorKind::TimedOut => {
                format!("connecting to {addr} timed out")
            }
            Error::Connect(addr, e) => format!("could not connect to {addr}: {}", io_reason(e)),
            Error::UpstreamTimeout(m) => format!("upstream timed out: {m}"),
            Error::UpstreamClosed => "upstream closed the connection without a response".into(),
            Error::BadResponse(m) => format!("invalid response from upstream: {m}"),
            Error::Client(e) => format!("client: {}", io_reason(e)),
            Error::Upstream(e) => format!("upstream: {}", io_reason(e)),
            Error::Parent(p, what) => format!("upstream proxy {p} {what}"),
            #[cfg(feature = "tls")]
            Error::OriginTls(o, why) => format!("TLS to {o} failed: {why}"),
        }
    }
}

/// A short, stable description of an I/O error.
pub(crate) fn io_reason(e: &io::Error) -> String {
    use io::ErrorKind::*;
    match e.kind() {
        ConnectionRefused => "connection refused".into(),
        ConnectionReset => "connection reset".into(),
        TimedOut => "timed out".into(),
        UnexpectedEof => "closed early".into(),
        BrokenPipe => "connection closed".into(),
        HostUnreachable => "host unreachable".into(),
        NetworkUnreachable => "network unreachable".into(),
        AddrNotAvailable => "address not available".into(),
        _ => e.to_string(),
    }
}
