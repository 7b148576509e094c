//! One plain-HTTP exchange: send the rewritten request head upstream,
//! stream the request body up while reading the response (so
//! `Expect: 100-continue` and early answers work), relay interim 1xx
//! responses, then stream the response body down — never buffering a
//! whole body. The upstream connection is kept for the next request on the
//! same route when both sides allow it (by this client connection, then by
//! the thread's pool, `upstream/pool.rs`). Through an HTTP parent proxy the
//! request goes to the parent in absolute form, with our credentials, and
//! the kept connection is the parent's.

use std::future::{Future, poll_fn};
use std::io;
use std::net::TcpStream;
use std::pin::{Pin, pin};
use std::sync::atomic::{AtomicU16, Ordering};
use std::task::Poll;
use std::time::Duration;

use smol::Async;

use crate::body::{BodyError, Pending, Tap, copy_body};
use crate::buffer::{Buffer, Client, HeadRead, read_head, write_all};
use crate::error::Error;
use crate::http::framing::{Body, keeps_alive, request_body, response_body};
use crate::http::head::{Head, HeadError, parse_response};
use crate::http::rewrite::{RequestOut, ResponseOut, write_request, write_response};
use crate::http::target::Authority;
use crate::logger::Outcome;
use crate::policy::Policy;
use crate::upstream::chain::{Kind, Parent};
use crate::upstream::pool::{self, Kept, Key, Transport};
use crate::upstream::{Dialer, Upstream};

/// What an exchange needs besides the two connections.
pub(crate) struct Context<'a> {
    /// Silence allowed from either side during the exchange.
    pub(crate) read_timeout: Duration,
    /// Silence allowed on an upgraded (101) connection.
    pub(crate) tunnel_idle_timeout: Duration,
    /// Add `Via` to forwarded messages.
    pub(crate) via: bool,
    /// How to reach the origin.
    pub(crate) dialer: &'a Dialer,
    /// The egress rules the dialer applies.
    pub(crate) policy: &'a Policy,
    /// The parent proxy to go through, if any.
    pub(crate) hop: Option<&'a Parent>,
    /// Dials origins instead of `dialer` (an inspected connection's TLS to
    /// its origin, `tls/inspect.rs`, which sets no `hop`); `None`: `dialer`.
    pub(crate) connect: Option<&'a Connect>,
}

/// Dials an origin, for [`Context::connect`].
pub(crate) type Connect = dyn Fn(&Authority) -> Pin<Box<dyn Future<Output = Dialed> + Send>> + Sync;
/// A dialed origin and the address reached, or why not.
pub(crate) type Dialed = Result<(Async<TcpStream>, std::net::SocketAddr), Error>;

/// What the response side produced.
struct Down {
    keep_client: bool,
    reuse_upstream: bool,
    upgraded: bool,
}

/// Forward one absolute-form request to `origin`. `Err` means nothing was
/// sent to the client yet, so the caller answers with the error's status.
pub(crate) async fn exchange(
    cx: &Context<'_>,
    client: &mut Client,
    slot: &mut Kept,
    req: &Head,
    origin: &Authority,
    host_field: &str,
    path: &str,
) -> Result<Outcome, Error> {
    exchange_tapped(cx, client, slot, req, origin, host_field, path, None).await
}

/// [`exchange`], with the shared cache's [`Tap`] on the response.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn exchange_tapped(
    cx: &Context<'_>,
    client: &mut Client,
    slot: &mut Kept,
    req: &Head,
    origin: &Authority,
    host_field: &str,
    path: &str,
    mut tap: Option<&mut dyn Tap>,
) -> Result<Outcome, Error> {
    let body = request_body(req).map_err(Error::Framing)?;
    let upgrade = if req.has_token("connection", "upgrade") {
        req.value("upgrade")
    } else {
        None
    };
    // An HTTP parent gets the absolute form (RFC 9112 §3.2.2) and our
    // credentials; the client's own were dropped as hop-by-hop fields.
    let http_parent = cx.hop.filter(|p| p.kind == Kind::Http);
    let absolute;
    let (origin, path) = match http_parent {
        Some(p) => {
            absolute = format!("http://{host_field}{path}");
            (&p.addr, absolute.as_str())
        }
        None => (origin, path),
    };
    let mut head = Vec::with_capacity(1024);
    let out = RequestOut {
        host: host_field,
        path,
        body,
        upgrade,
        via: cx.via,
    };
    write_request(&mut head, req, &out);
    if let Some(c) = http_parent.and_then(|p| p.auth.as_ref()) {
        // Before the blank line that ends the head.
        head.truncate(head.len().saturating_sub(2));
        head.extend_from_slice(c.field_line().as_bytes());
        head.extend_from_slice(b"\r\n");
    }
    log::trace!(
        "request head to {}:\n{}",
        origin.to_host_port(),
        String::from_utf8_lossy(&head)
    );

    // The client connection's own kept connection first, then an idle one
    // from the thread's pool, both only for the same route. A request that
    // may be sent again (idempotent, no body: RFC 9110 §9.2.2) skips the
    // probe: if the connection fails before any response byte, it is
    // retried once on a new one (the server closed it meanwhile). Others
    // take only a connection that still looks open.
    // An inspected origin (`cx.connect`: TLS, verified) is keyed apart
    // from a plain connection to the same host and port.
    let transport = match cx.connect {
        Some(_) => Transport::Tls,
        None => Transport::Plain,
    };
    let key = Key::new(transport, origin, cx.hop);
    let retry = body == Body::None && idempotent(&req.method);
    let mut kept = match slot.0.take() {
        Some(u) if u.key == key => Some(u).filter(|u| retry || u.still_open()),
        Some(other) => {
            pool::put(other);
            None
        }
        None => None,
    };
    if kept.is_none() {
        kept = pool::take(&key, !retry);
    }
    loop {
        let reused = kept.is_some();
        let mut up = match kept.take() {
            Some(u) => u,
            None => {
                let (io, addr) = match (cx.connect, http_parent) {
                    (Some(connect), _) => connect(origin).await?,
                    (None, Some(p)) => cx.dialer.dial_parent(p).await?,
                    (None, None) => cx.dialer.dial_via(origin, cx.hop, cx.policy).await?,
                };
                log::debug!(
                    "{} connected to {addr} for {}",
                    client.peer,
                    origin.to_host_port()
                );
                Upstream {
                    io,
                    buf: Buffer::new(),
                    key: key.clone(),
                }
            }
        };
        let attempt = run(
            cx,
            client,
            &mut up,
            req,
            body,
            upgrade.is_some(),
            head.clone(),
            tap.as_mut().map(|tap| &mut **tap as &mut dyn Tap),
        )
        .await;
        match attempt {
            Attempt::Unanswered(Error::UpstreamClosed | Error::Upstream(_)) if reused && retry => {
                log::debug!(
                    "kept connection to {} was closed; retrying",
                    origin.to_host_port()
                );
                continue;
            }
            Attempt::Unanswered(e) => return Err(e),
            Attempt::Answered { outcome, reuse } => {
                if outcome.upgraded {
                    let (up_bytes, down_bytes) = upgrade_relay(cx, client, up).await;
                    return Ok(Outcome {
                        up: up_bytes,
                        down: down_bytes,
                        ..outcome
                    });
                }
                if reuse {
                    up.buf.release();
                    slot.0 = Some(up);
                }
                return Ok(outcome);
            }
        }
    }
}

/// Methods whose request may be sent again after a failure that left its
/// outcome unknown (RFC 9110 §9.2.2).
fn idempotent(method: &str) -> bool {
    matches!(
        method,
        "GET" | "HEAD" | "OPTIONS" | "TRACE" | "PUT" | "DELETE"
    )
}

/// After a relayed 101: pass on bytes already read on both sides, then
/// relay until both sides close.
async fn upgrade_relay(cx: &Context<'_>, client: &mut Client, up: Upstream) -> (u64, u64) {
    let t = cx.tunnel_idle_timeout;
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

/// How one attempt on one upstream connection ended.
enum Attempt {
    /// A response went out (perhaps cut short: see its note). `reuse`:
    /// the upstream connection may carry another request.
    Answered { outcome: Outcome, reuse: bool },
    /// Nothing reached the client: the caller answers with the error's
    /// status (none for a client that is gone), or retries.
    Unanswered(Error),
}

/// The exchange on one upstream connection.
#[allow(clippy::too_many_arguments)]
async fn run(
    cx: &Context<'_>,
    client: &mut Client,
    up: &mut Upstream,
    req: &Head,
    body: Body,
    upgrade: bool,
    head: Vec<u8>,
    tap: Option<&mut dyn Tap>,
) -> Attempt {
    let t = cx.read_timeout;
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
            &mut up_bytes,
            None
        ));
        let mut download = pin!(download(
            cx,
            ubuf,
            uio,
            cio,
            req,
            upgrade,
            &sent_status,
            &mut down_bytes,
            tap
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
        // The upload broke (the client's body ended early or its chunked
        // framing was invalid) and the download was abandoned for it.
        (None, Some(Err(BodyError::Chunk(e)))) if !began => {
            Attempt::Unanswered(Error::RequestChunk(e))
        }
        (None, Some(Err(BodyError::Read(e)))) if !began => Attempt::Unanswered(Error::Client(e)),
        (None, sent) => {
            // A response had begun: it cannot be replaced by an error page.
            outcome.note = Some(match sent {
                Some(Err(BodyError::Chunk(e))) => Error::RequestChunk(e).message(),
                Some(Err(BodyError::Read(e))) => Error::Client(e).message(),
                _ => "request body failed".into(),
            });
            Attempt::Answered {
                outcome,
                reuse: false,
            }
        }
        (Some(Err(e)), _) if !began => Attempt::Unanswered(e),
        (Some(Err(e)), _) => {
            outcome.note = Some(e.message());
            Attempt::Answered {
                outcome,
                reuse: false,
            }
        }
        (Some(Ok(d)), sent) => {
            let body_done = matches!(sent, Some(Ok(())));
            outcome.upgraded = d.upgraded;
            // A request body left unread would be taken for the next request.
            outcome.keep_client = d.keep_client && body_done;
            Attempt::Answered {
                outcome,
                reuse: d.reuse_upstream && body_done,
            }
        }
    }
}

/// Read the response (relaying 1xx), send its head and stream its body.
#[allow(clippy::too_many_arguments)]
async fn download(
    cx: &Context<'_>,
    ubuf: &mut Buffer,
    uio: &Async<TcpStream>,
    cio: &Async<TcpStream>,
    req: &Head,
    upgrade: bool,
    sent_status: &AtomicU16,
    moved: &mut u64,
    mut tap: Option<&mut dyn Tap>,
) -> Result<Down, Error> {
    let t = cx.read_timeout;
    let client10 = req.minor == 0;
    loop {
        let head = match read_head(ubuf, uio, parse_response, t).await {
            HeadRead::Head(h) => h,
            HeadRead::Closed => return Err(Error::UpstreamClosed),
            HeadRead::Bad(HeadError::TooLarge) => {
                return Err(Error::BadResponse("response head too large"));
            }
            HeadRead::Bad(_) => return Err(Error::BadResponse("malformed response head")),
            HeadRead::TimedOut => return Err(Error::UpstreamTimeout("no response")),
            HeadRead::Broken(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                return Err(Error::UpstreamClosed);
            }
            HeadRead::Broken(e) => return Err(Error::Upstream(e)),
        };
        if head.status == 407
            && let Some(p) = cx.hop.filter(|p| p.kind == Kind::Http)
        {
            // The parent wants credentials we lack or it refused: its
            // challenge is not the client's to answer.
            let what = "refused our credentials (407)".to_string();
            return Err(Error::Parent(p.addr.to_host_port(), what));
        }
        // Room for the head and the body bytes already read, which go out
        // with it in one write (`body::Pending`): no regrowth on the way.
        let mut out = Vec::with_capacity(1024 + ubuf.filled().len());
        if head.status == 101 {
            if !upgrade {
                return Err(Error::BadResponse("101 without an upgrade request"));
            }
            let r = ResponseOut {
                body: Body::None,
                keep_alive: true,
                client_http10: false,
                upgrade: head.value("upgrade"),
                via: cx.via,
            };
            write_response(&mut out, &head, &r);
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
                let r = ResponseOut {
                    body: Body::None,
                    keep_alive: true,
                    client_http10: false,
                    upgrade: None,
                    via: false,
                };
                write_response(&mut out, &head, &r);
                write_all(cio, &out, t).await.map_err(Error::Client)?;
            }
            continue;
        }
        let (body, reusable) =
            response_body(&req.method, &head).map_err(|_| Error::BadResponse("invalid framing"))?;
        // An HTTP/1.0 client cannot read chunked: strip it, end by closing.
        let dechunk = client10 && body == Body::Chunked;
        let to_client = if dechunk { Body::UntilClose } else { body };
        let keep_client = keeps_alive(req) && to_client != Body::UntilClose;
        let extra = match tap.as_deref_mut().map(|tap| tap.head(&head, body)) {
            Some(None) if body == Body::None => {
                // The cache answers this one itself (a 304 to its own
                // conditional request): nothing goes to the client.
                if let Some(tap) = tap {
                    tap.end();
                }
                let reuse = reusable && keeps_alive(&head) && ubuf.is_empty();
                return Ok(Down {
                    keep_client,
                    reuse_upstream: reuse,
                    upgraded: false,
                });
            }
            Some(extra) => extra,
            None => None,
        };
        write_response(
            &mut out,
            &head,
            &ResponseOut {
                body: to_client,
                keep_alive: keep_client,
                client_http10: client10,
                upgrade: None,
                via: cx.via,
            },
        );
        if let Some(extra) = extra {
            // Before the blank line that ends the head.
            out.truncate(out.len().saturating_sub(2));
            out.extend_from_slice(&extra);
            out.extend_from_slice(b"\r\n");
        }
        let out = Pending {
            bytes: out,
            sent: Some((sent_status, head.status.max(1))),
        };
        let tee = tap.as_mut().map(|tap| &mut **tap as &mut dyn Tap);
        match copy_body(out, body, dechunk, ubuf, uio, cio, t, moved, tee).await {
            Ok(()) => {
                if let Some(tap) = tap {
                    tap.end();
                }
            }
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
        let reuse = reusable && keeps_alive(&head) && ubuf.is_empty();
        return Ok(Down {
            keep_client,
            reuse_upstream: reuse,
            upgraded: false,
        });
    }
}
