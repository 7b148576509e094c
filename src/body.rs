//! Streaming one message body from one socket to another, never holding
//! it whole: Content-Length, chunked (checked strictly and passed on
//! verbatim, or de-chunked for HTTP/1.0 clients) and close-delimited
//! bodies; the head waits to leave with the first body bytes, so small
//! messages go out in one write.

use std::io;
use std::net::TcpStream;
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::Duration;

use smol::Async;

use crate::buffer::{Buffer, READ_CHUNK, write_all};
use crate::http::chunked::{ChunkError, Decoder, Piece};
use crate::http::framing::Body;
use crate::http::head::Head;

/// What the shared cache (`cache/mod.rs`) sees of a forwarded response:
/// its final head before it is sent, its body bytes as they pass to the
/// client (chunked framing removed), and whether the body ended whole.
pub(crate) trait Tap: Send {
    /// The final response head (never a 1xx) and its framing. Returns
    /// field lines (each ending in CRLF) to add to the head sent to the
    /// client, or `None` to send nothing to the client: honoured only for
    /// a response without a body (a 304 to the cache's own conditional
    /// request, which the cache answers itself).
    fn head(&mut self, head: &Head, body: Body) -> Option<Vec<u8>>;
    /// Body bytes as they pass to the client.
    fn body(&mut self, bytes: &[u8]);
    /// The body ended complete (length met, last chunk, or none at all):
    /// said before its last bytes are written, perhaps more than once.
    fn end(&mut self);
}

/// Failures while moving a body: which side failed matters.
#[derive(Debug)]
pub(crate) enum BodyError {
    /// Reading the sending side failed or it ended early.
    Read(io::Error),
    /// Writing the receiving side failed.
    Write(io::Error),
    /// The chunked framing was invalid.
    Chunk(ChunkError),
}

/// A head waiting to go out with the first body bytes (so small messages
/// leave in one write), and the status to record once it is out: from then
/// on no error page can be sent on that connection.
pub(crate) struct Pending<'a> {
    /// The bytes.
    pub(crate) bytes: Vec<u8>,
    /// Where to record the status, and which.
    pub(crate) sent: Option<(&'a AtomicU16, u16)>,
}

impl Pending<'_> {
    /// Write the pending bytes followed by `more`.
    async fn flush(&mut self, more: &[u8], dst: &Async<TcpStream>, t: Duration) -> io::Result<()> {
        self.bytes.extend_from_slice(more);
        let r = write_all(dst, &self.bytes, t).await;
        if let Some((slot, status)) = self.sent.take() {
            // Even a failed write may have sent part of the head.
            slot.store(status, Ordering::Relaxed);
        }
        self.bytes = Vec::new();
        r
    }
}

/// Copy one body of framing `body` from `src` (bytes first from `buf`) to
/// `dst`, writing `pending` before the first body bytes. With `dechunk`,
/// chunked framing is removed. `tap` sees the payload as it passes.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn copy_body(
    mut pending: Pending<'_>,
    body: Body,
    dechunk: bool,
    buf: &mut Buffer,
    src: &Async<TcpStream>,
    dst: &Async<TcpStream>,
    t: Duration,
    moved: &mut u64,
    mut tap: Option<&mut dyn Tap>,
) -> Result<(), BodyError> {
    // The tap's own view of verbatim chunked bytes: their payload only.
    let mut tap_decoder = Decoder::new();
    let mut remaining = match body {
        Body::Length(n) => n,
        _ => 0,
    };
    let mut decoder = Decoder::new();
    if remaining > READ_CHUNK as u64 || matches!(body, Body::Chunked | Body::UntilClose) {
        buf.grow_to(READ_CHUNK);
    }
    // Set when the buffer holds only the start of a chunk line: read more.
    let mut stalled = false;
    loop {
        let complete = match body {
            Body::None => true,
            Body::Length(_) => remaining == 0,
            Body::Chunked => decoder.is_done(),
            Body::UntilClose => false,
        };
        if complete {
            break;
        }
        if buf.is_empty() || stalled {
            // The head goes out before we wait for a body that has not
            // begun (the sender may wait for a 100 first); while a chunk
            // line is half here, it waits with it, so a refused line
            // leaves nothing at all with the receiver.
            if !pending.bytes.is_empty() && !stalled {
                pending.flush(&[], dst, t).await.map_err(BodyError::Write)?;
            }
            let n = buf
                .fill(src, READ_CHUNK, t)
                .await
                .map_err(BodyError::Read)?;
            if n == 0 {
                if body == Body::UntilClose {
                    break;
                }
                return Err(BodyError::Read(io::ErrorKind::UnexpectedEof.into()));
            }
        }
        let avail = buf.filled();
        let (fwd, used) = match body {
            Body::Length(_) => {
                let k = usize::try_from(remaining)
                    .unwrap_or(usize::MAX)
                    .min(avail.len());
                remaining -= k as u64;
                (k, k)
            }
            Body::Chunked if dechunk => match decoder.step(avail).map_err(BodyError::Chunk)? {
                Piece::Data(n) => (n, n),
                Piece::Framing(n) | Piece::End(n) => (0, n),
            },
            Body::Chunked => {
                // Pass the framing through verbatim: it was checked
                // strictly. A line is passed on only once it is whole and
                // valid, so the receiver never sees part of a line that is
                // then refused; the partial line stays in the buffer.
                let mut used = 0;
                let mut safe = (0, decoder.clone());
                while used < avail.len() && !decoder.is_done() {
                    if !decoder.mid_line() {
                        safe = (used, decoder.clone());
                    }
                    let rest = avail.get(used..).unwrap_or(&[]);
                    match decoder.step(rest).map_err(BodyError::Chunk)? {
                        Piece::Data(n) | Piece::Framing(n) | Piece::End(n) => used += n,
                    }
                }
                if decoder.mid_line() {
                    (used, decoder) = safe;
                }
                stalled = used == 0;
                (used, used)
            }
            Body::UntilClose | Body::None => (avail.len(), avail.len()),
        };
        let out = avail.get(..fwd).unwrap_or(&[]);
        // Complete with these bytes: the tap hears of it before they are
        // written, so the cache commits before the client has the end (a
        // request right after it finds the entry).
        let ends = match body {
            Body::Length(_) => remaining == 0,
            Body::Chunked => decoder.is_done(),
            Body::UntilClose | Body::None => false,
        };
        if let Some(tap) = tap.as_deref_mut() {
            if body == Body::Chunked && !dechunk {
                // Whole, already checked lines: the same payload again.
                let mut rest = out;
                while !rest.is_empty() && !tap_decoder.is_done() {
                    match tap_decoder.step(rest) {
                        Ok(Piece::Data(n)) => {
                            tap.body(rest.get(..n).unwrap_or(&[]));
                            rest = rest.get(n..).unwrap_or(&[]);
                        }
                        Ok(Piece::Framing(n) | Piece::End(n)) => {
                            rest = rest.get(n..).unwrap_or(&[])
                        }
                        Err(_) => break,
                    }
                }
            } else {
                tap.body(out);
            }
            if ends {
                tap.end();
            }
        }
        if out.is_empty() {
            // Nothing to pass on yet (framing only, or half a line).
        } else if !pending.bytes.is_empty() {
            pending.flush(out, dst, t).await.map_err(BodyError::Write)?;
        } else {
            write_all(dst, out, t).await.map_err(BodyError::Write)?;
        }
        *moved += fwd as u64;
        buf.consume(used);
    }
    if !pending.bytes.is_empty() {
        pending.flush(&[], dst, t).await.map_err(BodyError::Write)?;
    }
    Ok(())
}
