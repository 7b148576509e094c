//! One plain-HTTP exchange: send the rewritten request head upstream,
//! stream the request body up while reading the response (so
//! `Expect: 100-continue` and early answers work), relay interim 1xx
//! responses, then stream the response body down — never buffering a
//! whole body. The upstream connection is kept for the next request to the
//! same origin when both sides allow it.

use std::future::{Future, poll_fn};
use std::io;
use std::net::{SocketAddr, TcpStream};
use std::pin::pin;
use std::sync::atomic::{AtomicU16, Ordering};
use std::task::Poll;
use std::time::Duration;

use smol::Async;

use crate::buffer::{Buffer, READ_CHUNK, timed, write_all};
use crate::chunked::{ChunkError, Decoder, Piece};
use crate::error::Error;
use crate::http::{self, Body, Head, HeadError};
use crate::server::Shared;
use crate::target::Authority;

/// The client side of a connection: socket plus bytes read but not used.
pub struct Client {
    /// The socket.
    pub io: Async<TcpStream>,
    /// Received bytes not yet consumed (pipelined requests, body bytes).
    pub buf: Buffer,
    /// Where the client connects from.
    pub peer: SocketAddr,
}

/// A connection to an origin, kept between requests to the same origin.
pub struct Upstream {
    /// The socket.
    pub io: Async<TcpStream>,
    /// Received bytes not yet consumed.
    pub buf: Buffer,
    /// The origin it is connected to.
    pub origin: Authority,
}

impl Upstream {
    /// Whether this kept connection still looks usable: no bytes and no
    /// end-of-stream waiting (a server that closed an idle connection).
    fn still_open(&self) -> bool {
        let mut probe = [0u8; 1];
        self.buf.is_empty()
            && matches!(self.io.get_ref().peek(&mut probe),
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock)
    }
}

/// How an exchange ended, for the keep-alive loop and the access line.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Status sent to the client.
    pub status: u16,
    /// Request body bytes sent upstream.
    pub up: u64,
    /// Response body bytes sent to the client.
    pub down: u64,
    /// The client connection may carry another request.
    pub keep_client: bool,
    /// A 101 was relayed: the connection is now a tunnel.
    pub upgraded: bool,
    /// What went wrong after the response began, if anything.
    pub note: Option<String>,
}

/// Failures while moving a body: which side failed matters.
#[derive(Debug)]
pub enum BodyError {
    /// Reading the sending side failed or it ended early.
    Read(io::Error),
    /// Writing the receiving side failed.
    Write(io::Error),
    /// The chunked framing was invalid.
    Chunk(ChunkError),
}

/// Read one head from `buf`/`io` with `parse`, within `limit` overall.
/// `Ok(None)`: the stream ended before any byte of a head.
pub async fn read_head(
    buf: &mut Buffer,
    io: &Async<TcpStream>,
    parse: http::ParseHead,
    limit: Duration,
) -> io::Result<Result<Option<Head>, HeadError>> {
    let read = async {
        let mut check = !buf.is_empty();
        let mut seen_lf = buf.filled().contains(&b'\n');
        loop {
            // A head can only complete at a LF: parse again only when new
            // bytes brought one, so a slow drip costs no quadratic work.
            if check {
                match parse(buf.filled()) {
                    Ok(Some((h, n))) => {
                        buf.consume(n);
                        return Ok(Ok(Some(h)));
                    }
                    Ok(None) => {}
                    Err(e) => return Ok(Err(e)),
                }
            }
            let had = buf.filled().len();
            match buf.fill(io, http::MAX_HEAD_BYTES, limit).await {
                Ok(0) if had == 0 => return Ok(Ok(None)),
                Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::OutOfMemory => {
                    // Full without a complete head: let the parser say
                    // which limit it is (414 or 431).
                    return Ok(Err(parse(buf.filled())
                        .err()
                        .unwrap_or(HeadError::TooLarge)));
                }
                Err(e) => return Err(e),
            }
            let new_lf = buf
                .filled()
                .get(had..)
                .is_some_and(|new| new.contains(&b'\n'));
            // A first line longer than any valid one is refused at once.
            check = new_lf || (!seen_lf && buf.filled().len() > http::MAX_TARGET_BYTES + 64);
            seen_lf |= new_lf;
        }
    };
    timed(limit, read).await
}

/// A head waiting to go out with the first body bytes (so small messages
/// leave in one write), and the status to record once it is out: from then
/// on no error page can be sent on that connection.
pub struct Pending<'a> {
    /// The bytes.
    pub bytes: Vec<u8>,
    /// Where to record the status, and which.
    pub sent: Option<(&'a AtomicU16, u16)>,
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
/// chunked framing is removed.
#[allow(clippy::too_many_arguments)]
pub async fn copy_body(
    mut pending: Pending<'_>,
    body: Body,
    dechunk: bool,
    buf: &mut Buffer,
    src: &Async<TcpStream>,
    dst: &Async<TcpStream>,
    t: Duration,
    moved: &mut u64,
) -> Result<(), BodyError> {
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

/// What the response side produced.
struct Down {
    keep_client: bool,
    reuse_upstream: bool,
    upgraded: bool,
}

/// Forward one absolute-form request to `origin`. `Err` means nothing was
/// sent to the client yet, so the caller answers with the error's status.
pub async fn exchange(
    shared: &Shared,
    client: &mut Client,
    slot: &mut Option<Upstream>,
    req: &Head,
    origin: &Authority,
    host_field: &str,
    path: &str,
) -> Result<Outcome, Error> {
    let cfg = &shared.config;
    let body = http::request_body(req).map_err(Error::Framing)?;
    let upgrade = if req.has_token("connection", "upgrade") {
        req.value("upgrade")
    } else {
        None
    };
    let mut head = Vec::with_capacity(1024);
    http::write_request(
        &mut head,
        req,
        &http::RequestOut {
            host: host_field,
            path,
            body,
            upgrade,
            via: cfg.via,
        },
    );
    log::trace!(
        "request head to {}:\n{}",
        origin.to_host_port(),
        String::from_utf8_lossy(&head)
    );

    // A kept connection to this origin is used if it still looks open. If
    // it fails before any response byte, a request without body is retried
    // once on a new connection (the server closed it meanwhile).
    let mut kept = slot
        .take()
        .filter(|u| u.origin == *origin && u.still_open());
    loop {
        let reused = kept.is_some();
        let mut up = match kept.take() {
            Some(u) => u,
            None => {
                let addrs =
                    crate::upstream::resolve(origin, &shared.resolver, cfg.connect_timeout).await?;
                let policy = shared.policy();
                let (io, addr) =
                    crate::upstream::connect(&addrs, &policy, &shared.own, cfg.connect_timeout)
                        .await?;
                log::debug!(
                    "{} connected to {addr} for {}",
                    client.peer,
                    origin.to_host_port()
                );
                Upstream {
                    io,
                    buf: Buffer::new(),
                    origin: origin.clone(),
                }
            }
        };
        match run(
            shared,
            client,
            &mut up,
            req,
            body,
            upgrade.is_some(),
            head.clone(),
        )
        .await
        {
            Err((Error::UpstreamClosed | Error::Upstream(_), false))
                if reused && body == Body::None =>
            {
                log::debug!(
                    "kept connection to {} was closed; retrying",
                    origin.to_host_port()
                );
                continue;
            }
            Err((e, _)) => return Err(e),
            Ok((outcome, reuse)) => {
                if reuse && !outcome.upgraded {
                    up.buf.release();
                    *slot = Some(up);
                } else if outcome.upgraded {
                    let relayed = upgrade_relay(shared, client, up).await;
                    return Ok(Outcome {
                        up: relayed.0,
                        down: relayed.1,
                        ..outcome
                    });
                }
                return Ok(outcome);
            }
        }
    }
}

/// After a relayed 101: pass on bytes already read on both sides, then
/// relay until both sides close.
async fn upgrade_relay(shared: &Shared, client: &mut Client, up: Upstream) -> (u64, u64) {
    let t = shared.config.tunnel_idle_timeout;
    let early_up = client.buf.filled().len() as u64;
    let early_down = up.buf.filled().len() as u64;
    if write_all(&up.io, client.buf.filled(), t).await.is_err()
        || write_all(&client.io, up.buf.filled(), t).await.is_err()
    {
        return (0, 0);
    }
    client.buf.consume(client.buf.filled().len());
    client.buf.release();
    let r = crate::tunnel::relay(&client.io, &up.io, t).await;
    (r.up + early_up, r.down + early_down)
}

/// The exchange on one upstream connection. The error's flag says whether
/// any response byte was sent to the client (then it cannot be answered).
async fn run(
    shared: &Shared,
    client: &mut Client,
    up: &mut Upstream,
    req: &Head,
    body: Body,
    upgrade: bool,
    head: Vec<u8>,
) -> Result<(Outcome, bool), (Error, bool)> {
    let t = shared.config.read_timeout;
    // The status sent to the client; 0 while nothing final was sent.
    let sent_status = AtomicU16::new(0);
    let (mut up_bytes, mut down_bytes) = (0u64, 0u64);
    let Client {
        io: cio, buf: cbuf, ..
    } = client;
    let Upstream {
        io: uio, buf: ubuf, ..
    } = up;
    let (received, sent) = {
        let head = Pending {
            bytes: head,
            sent: None,
        };
        let mut upload = pin!(copy_body(
            head,
            body,
            false,
            cbuf,
            cio,
            uio,
            t,
            &mut up_bytes
        ));
        let mut download = pin!(download(
            shared,
            ubuf,
            uio,
            cio,
            req,
            upgrade,
            &sent_status,
            &mut down_bytes
        ));
        let mut sent: Option<Result<(), BodyError>> = None;
        let received = poll_fn(|cx| {
            if sent.is_none()
                && let Poll::Ready(r) = upload.as_mut().poll(cx)
            {
                sent = Some(r);
            }
            // A broken request body ends the exchange; an upstream that
            // stops reading it may still answer (e.g. 413): keep reading.
            if let Some(Err(BodyError::Read(_) | BodyError::Chunk(_))) = &sent {
                return Poll::Ready(None);
            }
            download.as_mut().poll(cx).map(Some)
        })
        .await;
        (received, sent)
    };
    let status = sent_status.load(Ordering::Relaxed);
    let began = status != 0;
    let mut outcome = Outcome {
        up: up_bytes,
        down: down_bytes,
        status,
        ..Outcome::default()
    };
    match (received, sent) {
        (None, Some(Err(BodyError::Chunk(e)))) => Err((Error::RequestChunk(e), began)),
        (None, Some(Err(BodyError::Read(e)))) => Err((Error::Client(e), true)),
        (None, _) => Err((Error::Client(io::ErrorKind::Other.into()), true)),
        (Some(Err(e)), _) => {
            if began {
                outcome.note = Some(e.message());
                Ok((outcome, false))
            } else {
                Err((e, false))
            }
        }
        (Some(Ok(d)), sent) => {
            let body_done = matches!(sent, Some(Ok(())));
            outcome.upgraded = d.upgraded;
            // A request body left unread would be taken for the next request.
            outcome.keep_client = d.keep_client && body_done;
            Ok((outcome, d.reuse_upstream && body_done))
        }
    }
}

/// Read the response (relaying 1xx), send its head and stream its body.
#[allow(clippy::too_many_arguments)]
async fn download(
    shared: &Shared,
    ubuf: &mut Buffer,
    uio: &Async<TcpStream>,
    cio: &Async<TcpStream>,
    req: &Head,
    upgrade: bool,
    sent_status: &AtomicU16,
    moved: &mut u64,
) -> Result<Down, Error> {
    let cfg = &shared.config;
    let t = cfg.read_timeout;
    let client10 = req.minor == 0;
    loop {
        let head = match read_head(ubuf, uio, http::parse_response, t).await {
            Ok(Ok(Some(h))) => h,
            Ok(Ok(None)) => return Err(Error::UpstreamClosed),
            Ok(Err(HeadError::TooLarge)) => {
                return Err(Error::BadResponse("response head too large"));
            }
            Ok(Err(_)) => return Err(Error::BadResponse("malformed response head")),
            Err(e) if e.kind() == io::ErrorKind::TimedOut => {
                return Err(Error::UpstreamTimeout("no response"));
            }
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                return Err(Error::UpstreamClosed);
            }
            Err(e) => return Err(Error::Upstream(e)),
        };
        let mut out = Vec::with_capacity(1024);
        if head.status == 101 {
            if !upgrade {
                return Err(Error::BadResponse("101 without an upgrade request"));
            }
            let r = http::ResponseOut {
                body: Body::None,
                keep_alive: true,
                client_http10: false,
                upgrade: head.value("upgrade"),
                via: cfg.via,
            };
            http::write_response(&mut out, &head, &r);
            write_all(cio, &out, t).await.map_err(Error::Client)?;
            sent_status.store(101, Ordering::Relaxed);
            return Ok(Down {
                keep_client: false,
                reuse_upstream: false,
                upgraded: true,
            });
        }
        if (100..200).contains(&head.status) {
            // Interim responses go to HTTP/1.1 clients only (RFC 9110 §15.2).
            if !client10 {
                let r = http::ResponseOut {
                    body: Body::None,
                    keep_alive: true,
                    client_http10: false,
                    upgrade: None,
                    via: false,
                };
                http::write_response(&mut out, &head, &r);
                write_all(cio, &out, t).await.map_err(Error::Client)?;
            }
            continue;
        }
        let (body, reusable) = http::response_body(&req.method, &head)
            .map_err(|_| Error::BadResponse("invalid framing"))?;
        // An HTTP/1.0 client cannot read chunked: strip it, end by closing.
        let dechunk = client10 && body == Body::Chunked;
        let to_client = if dechunk { Body::UntilClose } else { body };
        let keep_client = http::keeps_alive(req) && to_client != Body::UntilClose;
        http::write_response(
            &mut out,
            &head,
            &http::ResponseOut {
                body: to_client,
                keep_alive: keep_client,
                client_http10: client10,
                upgrade: None,
                via: cfg.via,
            },
        );
        let out = Pending {
            bytes: out,
            sent: Some((sent_status, head.status.max(1))),
        };
        match copy_body(out, body, dechunk, ubuf, uio, cio, t, moved).await {
            Ok(()) => {}
            Err(BodyError::Write(e)) => return Err(Error::Client(e)),
            Err(BodyError::Read(e)) if e.kind() == io::ErrorKind::TimedOut => {
                return Err(Error::UpstreamTimeout("response body stalled"));
            }
            Err(BodyError::Read(e)) => return Err(Error::Upstream(e)),
            Err(BodyError::Chunk(e)) => {
                log::warn!("bad chunked response from {}: {}", req.target, e.message());
                return Err(Error::BadResponse("invalid chunked body"));
            }
        }
        // Bytes beyond the declared length mean the origin cannot be
        // trusted to frame the next response: do not reuse it.
        let reuse = reusable && http::keeps_alive(&head) && ubuf.is_empty();
        return Ok(Down {
            keep_client,
            reuse_upstream: reuse,
            upgraded: false,
        });
    }
}
