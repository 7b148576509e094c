//! One client connection, start to finish: check the client may use the
//! proxy, then for each request — read the head, apply the policy, forward
//! it (plain HTTP) or open a tunnel (CONNECT), write the access line — and
//! keep the connection for the next request while both sides allow it.
//! Every error is answered here, once, with the status `error.rs` gives it.

use std::io;
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::Instant;

use futures_lite::FutureExt;
use smol::Async;

use crate::auth::AuthError;
use crate::buffer::{Buffer, timed, write_all};
use crate::error::Error;
use crate::forward::{Client, Outcome, Upstream};
use crate::http::{self, Head};
use crate::logger::{self, Access, Throttle};
use crate::server::{Shared, Slot};
use crate::target::{self, Target};

static REFUSED_LOG: Throttle = Throttle::new();

/// Pause before answering wrong proxy credentials with 407.
pub const AUTH_FAIL_DELAY: std::time::Duration = std::time::Duration::from_secs(1);

/// Serve one client connection until it closes, errs or idles out.
pub async fn serve(io: Async<TcpStream>, peer: SocketAddr, shared: Arc<Shared>, slot: Slot) {
    let mut client = Client {
        io,
        buf: Buffer::new(),
        peer,
    };
    if let Err(denied) = shared.policy().check_client(peer.ip()) {
        if let Some(held) = REFUSED_LOG.allow() {
            log::warn!(
                "{peer} refused: {} ({held} more held back)",
                denied.message()
            );
        }
        let body = format!("{}\n", denied.message());
        let resp = http::simple_response(403, "", &body, true);
        let _ = write_all(&client.io, &resp, shared.config.head_timeout).await;
        // Its request is unread: drain it, or the close could reset the
        // connection before the client reads the page.
        linger(&client).await;
        return;
    }
    let mut upstream: Option<Upstream> = None;
    let mut first = true;
    loop {
        if !wait_for_request(&shared, &mut client, first).await {
            break;
        }
        first = false;
        let start = Instant::now();
        // Boxed, like every large step, so the connection's own state
        // (which an idle tunnel keeps for hours) stays small.
        let head = match Box::pin(crate::forward::read_head(
            &mut client.buf,
            &client.io,
            http::parse_request,
            shared.config.head_timeout,
        ))
        .await
        {
            Ok(Ok(Some(h))) => h,
            Ok(Ok(None)) => break,
            Ok(Err(e)) => {
                Box::pin(fail(&shared, &client, None, None, &Error::Head(e), start)).await;
                break;
            }
            Err(e) if e.kind() == io::ErrorKind::TimedOut => {
                Box::pin(fail(
                    &shared,
                    &client,
                    None,
                    None,
                    &Error::HeadTimeout,
                    start,
                ))
                .await;
                break;
            }
            Err(e) => {
                log::debug!("{peer} closed mid-head: {e}");
                break;
            }
        };
        // Set by `handle` once the client has authenticated.
        let mut user: Option<String> = None;
        let outcome = match handle(&shared, &mut client, &mut upstream, &head, &mut user).await {
            Ok(Next::Done(o)) => o,
            Ok(Next::Tunnel(up, early)) => {
                // A tunnel lives on as a small task of its own, and this
                // connection's larger state is freed.
                let t = Tunnel {
                    client: client.io,
                    up,
                    early,
                    peer,
                    target: head.target,
                    user,
                    start,
                    slot,
                };
                if let Err(t) = shared.spawn(tunnel(Arc::clone(&shared), t)) {
                    t.await;
                }
                return;
            }
            Err(e) => {
                Box::pin(fail(
                    &shared,
                    &client,
                    Some(&head),
                    user.as_deref(),
                    &e,
                    start,
                ))
                .await;
                break;
            }
        };
        let note = outcome.note.as_deref();
        let access = Access {
            method: &head.method,
            target: &head.target,
            status: outcome.status,
            up: outcome.up,
            down: outcome.down,
            user: user.as_deref(),
            note,
        };
        logger::access(peer, &access, start.elapsed());
        if !outcome.keep_client || shared.shutting_down() {
            break;
        }
    }
}

/// Wait until the next request's first byte is here (or buffered). The
/// first request gets the head timeout, later ones the keep-alive idle
/// timeout; shutdown ends the wait. An idle connection holds no buffer.
async fn wait_for_request(shared: &Shared, client: &mut Client, first: bool) -> bool {
    if !client.buf.is_empty() {
        return true;
    }
    client.buf.release();
    let limit = if first {
        shared.config.head_timeout
    } else {
        shared.config.idle_timeout
    };
    let ready = timed(limit, client.io.readable())
        .or(async {
            shared.shutdown_started().await;
            Err(io::Error::other("shutting down"))
        })
        .await;
    ready.is_ok()
}

/// Answer `e` (when a response can still be sent) and log it.
async fn fail(
    shared: &Shared,
    client: &Client,
    head: Option<&Head>,
    user: Option<&str>,
    e: &Error,
    start: Instant,
) {
    let msg = e.message();
    let status = e.status();
    if let Some(status) = status {
        let with_body = head.is_none_or(|h| h.method != "HEAD");
        let resp = http::simple_response(
            status,
            e.extra_fields(),
            &format!("smolproxy: {msg}\n"),
            with_body,
        );
        let _ = write_all(&client.io, &resp, shared.config.read_timeout).await;
    }
    let access = Access {
        method: head.map_or("-", |h| h.method.as_str()),
        target: head.map_or("-", |h| h.target.as_str()),
        status: status.unwrap_or(0),
        user,
        note: Some(&msg),
        ..Access::default()
    };
    logger::access(client.peer, &access, start.elapsed());
    if status.is_some() {
        linger(client).await;
    }
}

/// Most time spent draining a client after an error page.
pub const LINGER_TIME: std::time::Duration = std::time::Duration::from_secs(2);
/// Most bytes read and dropped while draining.
pub const LINGER_BYTES: usize = 256 * 1024;

/// A lingering close: after an error page, stop sending and read what the
/// client still sends (a request body we refused) for a short while, so
/// closing with unread data does not reset the connection before the
/// client has read the page (RFC 9112 §9.6).
async fn linger(client: &Client) {
    let _ = client.io.get_ref().shutdown(std::net::Shutdown::Write);
    let drain = async {
        let mut scratch = vec![0u8; 4096];
        let mut total = 0;
        while total < LINGER_BYTES {
            let mut r = &client.io;
            match futures_lite::AsyncReadExt::read(&mut r, &mut scratch).await {
                Ok(0) | Err(_) => break,
                Ok(n) => total += n,
            }
        }
        Ok(())
    };
    let _ = timed(LINGER_TIME, drain).await;
}

/// What a request led to.
enum Next {
    /// It was answered: its outcome.
    Done(Outcome),
    /// A CONNECT tunnel is open to this upstream (with this many early
    /// client bytes already sent): relay from here on.
    Tunnel(Async<TcpStream>, u64),
}

/// An open tunnel and what its access line needs.
struct Tunnel {
    client: Async<TcpStream>,
    up: Async<TcpStream>,
    early: u64,
    peer: SocketAddr,
    target: String,
    user: Option<String>,
    start: Instant,
    slot: Slot,
}

/// Relay a tunnel until it ends, then write its access line.
async fn tunnel(shared: Arc<Shared>, t: Tunnel) {
    let r = crate::tunnel::relay(&t.client, &t.up, shared.config.tunnel_idle_timeout).await;
    let note = r.error.map(|e| crate::error::io_reason(&e));
    let access = Access {
        method: "CONNECT",
        target: &t.target,
        status: 200,
        up: r.up + t.early,
        down: r.down,
        user: t.user.as_deref(),
        note: note.as_deref(),
    };
    logger::access(t.peer, &access, t.start.elapsed());
    drop(t.slot);
}

/// One request: decide what it is and serve it.
async fn handle(
    shared: &Shared,
    client: &mut Client,
    upstream: &mut Option<Upstream>,
    head: &Head,
    user: &mut Option<String>,
) -> Result<Next, Error> {
    let target = target::parse_target(&head.method, &head.target).map_err(Error::Target)?;
    check_host_fields(head)?;
    if http::max_forwards(head) == Some(0) {
        // RFC 9110 §7.6.2: the last hop a TRACE or OPTIONS may take.
        return Ok(Next::Done(Box::pin(last_hop(shared, client, head)).await?));
    }
    let policy = shared.policy();
    // Order: who (407), then where (domain rules, 403), then the CONNECT
    // port — all before any DNS lookup or connection.
    if let Target::Connect(_) | Target::Http { .. } = &target {
        match policy.authenticate(head.values("proxy-authorization")) {
            Ok(u) => *user = u,
            Err(e) => {
                if e != AuthError::Missing {
                    // Wrong credentials wait before the answer, as login
                    // programs do, so guessing is slow; the first
                    // challenge (no credentials yet) does not.
                    smol::Timer::after(AUTH_FAIL_DELAY).await;
                }
                return Err(Error::ProxyAuth(e));
            }
        }
    }
    match target {
        Target::Connect(authority) => {
            policy.check_host(&authority.host).map_err(Error::Denied)?;
            policy
                .check_connect_port(authority.port)
                .map_err(Error::Denied)?;
            drop(policy);
            // Boxed: the set-up's state is only needed briefly.
            let (up, early) = Box::pin(open_tunnel(shared, client, &authority)).await?;
            Ok(Next::Tunnel(up, early))
        }
        Target::Http {
            authority,
            host_field,
            path,
        } => {
            policy.check_host(&authority.host).map_err(Error::Denied)?;
            drop(policy);
            // Boxed: an exchange's state is large, and an idle tunnel or
            // keep-alive connection should not carry its size.
            let o = Box::pin(crate::forward::exchange(
                shared,
                client,
                upstream,
                head,
                &authority,
                &host_field,
                &path,
            ))
            .await?;
            Ok(Next::Done(o))
        }
        Target::Https => Err(Error::NotImplemented(
            "https:// URLs must be sent through a CONNECT tunnel (set this proxy for HTTPS too)",
        )),
        Target::OtherScheme => Err(Error::NotImplemented(
            "only http:// URLs and CONNECT are supported",
        )),
        Target::Origin(_) | Target::Asterisk => Ok(Next::Done(
            Box::pin(status_page(shared, client, head)).await?,
        )),
    }
}

/// RFC 9112 §3.2: an HTTP/1.1 request must carry exactly one Host field.
/// (Its value is then replaced by the target's authority, §3.2.2.)
fn check_host_fields(head: &Head) -> Result<(), Error> {
    match head.values("host").count() {
        0 if head.minor >= 1 && head.method != "CONNECT" => {
            Err(Error::BadRequest("missing Host field"))
        }
        0 | 1 => Ok(()),
        _ => Err(Error::BadRequest("more than one Host field")),
    }
}

/// Resolve, connect, answer 200, and pass on bytes the client sent after
/// the CONNECT head (a TLS hello); returns the upstream and their count.
async fn open_tunnel(
    shared: &Shared,
    client: &mut Client,
    authority: &target::Authority,
) -> Result<(Async<TcpStream>, u64), Error> {
    let cfg = &shared.config;
    let addrs = crate::upstream::resolve(authority, &shared.resolver, cfg.connect_timeout).await?;
    let policy = shared.policy();
    let (up, addr) =
        crate::upstream::connect(&addrs, &policy, &shared.own, cfg.connect_timeout).await?;
    log::debug!("{} tunnel to {addr}", client.peer);
    let established = b"HTTP/1.1 200 Connection established\r\n\r\n";
    write_all(&client.io, established, cfg.read_timeout)
        .await
        .map_err(Error::Client)?;
    let early = client.buf.filled().len();
    if early > 0 {
        // After the 200 no error page can be sent: a failure here closes.
        write_all(&up, client.buf.filled(), cfg.read_timeout)
            .await
            .map_err(Error::Client)?;
        client.buf.consume(early);
    }
    client.buf.release();
    Ok((up, early as u64))
}

/// Methods the proxy passes on, for `Allow`.
const ALLOW: &str = "Allow: GET, HEAD, POST, PUT, DELETE, PATCH, OPTIONS, TRACE, CONNECT\r\n";

/// Answer a TRACE or OPTIONS whose Max-Forwards reached 0 as its final
/// recipient: OPTIONS with the methods allowed, TRACE with the request.
async fn last_hop(shared: &Shared, client: &Client, head: &Head) -> Result<Outcome, Error> {
    let resp = if head.method == "TRACE" {
        http::typed_response(200, "message/http", "", &http::trace_body(head), true)
    } else {
        http::typed_response(200, "text/plain; charset=utf-8", ALLOW, b"", true)
    };
    write_all(&client.io, &resp, shared.config.read_timeout)
        .await
        .map_err(Error::Client)?;
    Ok(Outcome {
        status: 200,
        ..Outcome::default()
    })
}

/// A request for the proxy itself (origin-form or `*`): a small page that
/// says what this is, instead of forwarding it to ourselves in a loop.
async fn status_page(shared: &Shared, client: &Client, head: &Head) -> Result<Outcome, Error> {
    let (status, body) = match (head.method.as_str(), head.target.as_str()) {
        ("GET" | "HEAD", "/") => (
            200,
            format!(
                "smolproxy {} is running.\nSet it as the HTTP and HTTPS proxy of your browser or \
                 system, or use curl -x http://HOST:PORT URL.\n",
                env!("CARGO_PKG_VERSION")
            ),
        ),
        _ => (
            404,
            "smolproxy: this is a proxy; send absolute-form requests (http://host/path) or CONNECT\n"
                .to_string(),
        ),
    };
    let resp = http::simple_response(status, "", &body, head.method != "HEAD");
    write_all(&client.io, &resp, shared.config.read_timeout)
        .await
        .map_err(Error::Client)?;
    Ok(Outcome {
        status,
        ..Outcome::default()
    })
}
