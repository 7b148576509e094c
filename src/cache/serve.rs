//! Answering from the cache: the stored head rewritten for this client
//! (status 200, 206, 304 or 416; `Content-Length`, `Content-Range`, `Age`,
//! `Cache-Status`, `Connection`, `Via`), then the body straight from the
//! entry's file with sendfile (`store::send_file`), small bodies read into
//! the head's write instead. Also the collapsed follower's answer, streamed
//! from the file another request is writing, as it grows.

use std::fmt::Write as _;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::sync::Arc;

use super::collapse::{Flight, Progress, Started};
use super::fresh::{self, Range, Secs};
use super::store::{Hit, send_file};
use crate::buffer::{Client, timed, write_all};
use crate::error::Error;
use crate::forward::Context;
use crate::http::framing::keeps_alive;
use crate::http::head::Head;
use crate::http::reply::Fmt;
use crate::logger::Outcome;

/// Bodies up to this size are read from the file and leave in the same
/// write as the head (one system call for a small hit); larger ones go by
/// sendfile. The buffer is the size a body read uses anyway (`READ_CHUNK`).
const INLINE_BODY: u64 = crate::buffer::READ_CHUNK as u64;

/// Fields a 304 carries from the stored response (RFC 9110 §15.4.5).
const NOT_MODIFIED_FIELDS: &[&str] = &[
    "cache-control",
    "content-location",
    "date",
    "etag",
    "expires",
    "vary",
    "last-modified",
];

/// Fields of the stored head never sent as they are: the cache writes its
/// own framing, Age and range fields.
const REPLACED: &[&str] = &[
    "content-length",
    "transfer-encoding",
    "age",
    "content-range",
    "connection",
    "keep-alive",
    "cache-status",
];

/// A stored response to answer with.
pub(super) struct Stored<'a> {
    head: &'a Head,
    file: &'a File,
    offset: u64,
    len: u64,
    age: Secs,
}

impl<'a> Stored<'a> {
    /// The entry `hit`, whose head (parsed, perhaps updated) is `head`.
    pub(super) fn of(hit: &'a Hit, head: &'a Head, age: Secs) -> Self {
        Stored {
            head,
            file: &hit.file,
            offset: hit.body_offset,
            len: hit.body_len,
            age,
        }
    }
}

/// The head sent for a stored response.
struct Out<'a> {
    status: u16,
    /// `Content-Length` (also for HEAD: the GET's length).
    len: u64,
    /// `Content-Range`, for 206 (first, last, length) and 416 (length).
    range: Option<(u64, u64, u64)>,
    age: Secs,
    cache_status: &'a str,
}

fn head_bytes(cx: &Context<'_>, req: &Head, stored: &Head, o: &Out<'_>) -> Vec<u8> {
    let reason = match o.status {
        s if s == stored.status => stored.reason.as_str(),
        206 => "Partial Content",
        304 => "Not Modified",
        416 => "Range Not Satisfiable",
        _ => "",
    };
    let mut out = Vec::with_capacity(512);
    let put = |out: &mut Vec<u8>, name: &str, value: &[u8]| {
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value);
        out.extend_from_slice(b"\r\n");
    };
    let _ = write!(Fmt(&mut out), "HTTP/1.1 {} {reason}\r\n", o.status);
    for (name, value) in stored.fields() {
        let keep = if o.status == 304 {
            NOT_MODIFIED_FIELDS
                .iter()
                .any(|f| name.eq_ignore_ascii_case(f))
        } else if o.status == 416 {
            name.eq_ignore_ascii_case("date")
        } else {
            !REPLACED.iter().any(|f| name.eq_ignore_ascii_case(f))
        };
        if keep {
            put(&mut out, name, value);
        }
    }
    if o.status != 304 {
        let _ = write!(Fmt(&mut out), "Content-Length: {}\r\n", o.len);
    }
    match o.range {
        Some((a, b, len)) if o.status == 206 => {
            let _ = write!(Fmt(&mut out), "Content-Range: bytes {a}-{b}/{len}\r\n");
        }
        Some((_, _, len)) => {
            let _ = write!(Fmt(&mut out), "Content-Range: bytes */{len}\r\n");
        }
        None => {}
    }
    let _ = write!(Fmt(&mut out), "Age: {}\r\n", o.age);
    put(&mut out, "Cache-Status", o.cache_status.as_bytes());
    if !keeps_alive(req) {
        out.extend_from_slice(b"Connection: close\r\n");
    } else if req.minor == 0 {
        out.extend_from_slice(b"Connection: keep-alive\r\n");
    }
    if cx.via {
        // The version of the message as received (RFC 9110 §7.6.3).
        let via = if req.minor == 0 { "1.0" } else { "1.1" };
        put(&mut out, "Via", via.as_bytes());
        out.truncate(out.len() - 2);
        out.extend_from_slice(b" smolproxy\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out
}

/// Answer `req` from `s`: 304 when the client's own condition matches
/// (§4.3.2), a range of a 200 as 206 (or 416), else the whole response;
/// HEAD gets the head alone.
pub(super) async fn answer(
    cx: &Context<'_>,
    client: &Client,
    req: &Head,
    s: &Stored<'_>,
    cache_status: &str,
) -> Result<Outcome, Error> {
    let mut o = Out {
        status: s.head.status,
        len: s.len,
        range: None,
        age: s.age,
        cache_status,
    };
    let mut first = 0;
    if fresh::not_modified(req, s.head) {
        o.status = 304;
        o.len = 0;
    } else if req.method == "GET" && s.head.status == 200 {
        match fresh::range_if(req, s.head, s.len) {
            Range::Full => {}
            Range::Part(a, b) => {
                o.status = 206;
                first = a;
                o.len = b.saturating_sub(a).saturating_add(1);
                o.range = Some((a, b, s.len));
            }
            Range::Unsatisfiable => {
                o.status = 416;
                o.len = 0;
                o.range = Some((0, 0, s.len));
            }
        }
    }
    let mut out = head_bytes(cx, req, s.head, &o);
    let body = if req.method == "HEAD" || o.status == 304 {
        0
    } else {
        o.len
    };
    let t = cx.read_timeout;
    let keep = keeps_alive(req);
    let mut outcome = Outcome {
        status: o.status,
        keep_client: keep,
        ..Outcome::default()
    };
    if body <= INLINE_BODY {
        let at = out.len();
        out.resize(at + body as usize, 0);
        let read = s
            .file
            .read_exact_at(out.get_mut(at..).unwrap_or(&mut []), s.offset + first);
        if let Err(e) = read {
            // The entry changed under us (evicted and reused): nothing was
            // sent yet, so it is an error page, not a cut body.
            log::warn!("cache: cannot read {}: {e}", req.target);
            return Err(Error::BadResponse("cache entry unreadable"));
        }
        write_all(&client.io, &out, t)
            .await
            .map_err(Error::Client)?;
        outcome.down = body;
        return Ok(outcome);
    }
    write_all(&client.io, &out, t)
        .await
        .map_err(Error::Client)?;
    match send_file(s.file, s.offset + first, body, &client.io, t).await {
        Ok(n) if n == body => outcome.down = n,
        Ok(n) => {
            outcome.down = n;
            outcome.keep_client = false;
            outcome.note = Some("cache entry shorter than its length".into());
        }
        Err(e) => {
            outcome.keep_client = false;
            outcome.note = Some(format!("client: {e}"));
        }
    }
    Ok(outcome)
}

/// A collapsed follower's answer: the leader's head (its length known, or
/// the body already complete), then the body from the file being written,
/// each part as soon as it is there, each wait bounded by the read timeout.
pub(super) async fn follow(
    cx: &Context<'_>,
    client: &Client,
    req: &Head,
    head: &Head,
    flight: &Arc<Flight>,
    started: Started,
    cache_status: &str,
) -> Result<Outcome, Error> {
    let len = match (started.len, flight.watch().0) {
        (Some(n), _) => n,
        (None, Progress::Done(_, n)) => n,
        _ => return Err(Error::BadResponse("collapsed fetch ended without a length")),
    };
    let o = Out {
        status: head.status,
        len,
        range: None,
        age: 0,
        cache_status,
    };
    let out = head_bytes(cx, req, head, &o);
    let t = cx.read_timeout;
    write_all(&client.io, &out, t)
        .await
        .map_err(Error::Client)?;
    let mut outcome = Outcome {
        status: head.status,
        keep_client: keeps_alive(req),
        ..Outcome::default()
    };
    let mut sent = 0;
    while sent < len {
        let (p, wake) = flight.watch();
        let have = match p {
            Progress::Body(_, w) | Progress::Done(_, w) => w.min(len),
            Progress::Waiting => 0,
            Progress::Failed => {
                outcome.keep_client = false;
                outcome.note = Some("the collapsed fetch failed".into());
                break;
            }
        };
        if have > sent {
            let n = have - sent;
            match send_file(&started.file, started.offset + sent, n, &client.io, t).await {
                Ok(k) if k > 0 => sent += k,
                Ok(_) => {
                    outcome.keep_client = false;
                    outcome.note = Some("cache entry shorter than its length".into());
                    break;
                }
                Err(e) => {
                    outcome.keep_client = false;
                    outcome.note = Some(format!("client: {e}"));
                    break;
                }
            }
            continue;
        }
        let woke = timed(t, async {
            wake.await;
            Ok(())
        })
        .await;
        if woke.is_err() {
            outcome.keep_client = false;
            outcome.note = Some("the collapsed fetch stalled".into());
            break;
        }
    }
    outcome.down = sent;
    Ok(outcome)
}
