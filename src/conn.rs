//! One client connection, start to finish: check the client may use the
//! proxy, then for each request — read the head, let `route.rs` decide,
//! carry the decision out (an own page, a refusal, a tunnel, a forwarded
//! exchange), write the access line — and keep the connection for the
//! next request while both sides allow it. Every error is answered here,
//! once, with the status `error.rs` gives it.

use std::io;
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_lite::FutureExt;
use smol::Async;

use crate::buffer::{Buffer, Client, HeadRead, read_head, timed, write_all};
use crate::error::Error;
use crate::forward;
use crate::handoff::{Tunnel, hand_off};
use crate::http::head::{Head, MAX_HEAD_BYTES, parse_request};
use crate::http::reply::simple_response;
use crate::http::target::Authority;
use crate::logger::{Access, HeldBack, Outcome, Throttle};
use crate::own::{self, View};
use crate::policy::auth::AuthError;
use crate::policy::filter::Blocked;
use crate::policy::{Denied, Policy};
use crate::route::{Decision, Here, NOWHERE, Route, may_name_self, route};
use crate::socks;
use crate::state::{Shared, Slot};
use crate::upstream::chain::Parent;
use crate::upstream::pool::Kept;

static REFUSED_LOG: Throttle = Throttle::new();

/// Serve one client connection until it closes, errs or idles out.
pub(crate) async fn serve(io: Async<TcpStream>, peer: SocketAddr, shared: Arc<Shared>, slot: Slot) {
    let mut client = Client {
        io,
        buf: Buffer::new(),
        peer,
    };
    if let Err(denied) = shared.policy().check_client(peer.ip()) {
        if let Some(held) = REFUSED_LOG.allow() {
            let client = crate::logger::client(peer);
            log::warn!("{client} refused: {}{}", denied.message(), HeldBack(held));
        }
        // A SOCKS5 client is told in its own protocol (its first bytes
        // are waited for no longer than a lingering close lasts).
        if shared.config.socks && socks::sniff(&mut client, LINGER_TIME).await {
            return socks::serve(shared, client, slot, Some(denied)).await;
        }
        let msg = denied.message();
        let body = format!("{msg}\n");
        let resp = simple_response(403, "", &body, true);
        let start = Instant::now();
        let _ = write_all(&client.io, &resp, shared.config.head_timeout).await;
        let access = Access {
            method: "-",
            target: "-",
            status: 403,
            note: Some(&msg),
            ..Access::default()
        };
        shared.access_log.write(peer, &access, start.elapsed());
        // Its request is unread: drain it, or the close could reset the
        // connection before the client reads the page.
        linger(&client).await;
        return;
    }
    let mut upstream = Kept::default();
    let mut first = true;
    // The address this client reached: asked of the kernel only once a
    // request may be for the proxy itself, a system call that plain
    // forwarding does not need.
    let mut reached: Option<SocketAddr> = None;
    // Body bytes of this connection, added to its client's total once, at
    // the end (the top-clients table takes a lock; requests do not).
    let mut conn_bytes = 0u64;
    loop {
        if !wait_for_request(&shared, &mut client, first).await {
            break;
        }
        // SOCKS5 on the same port: told apart by its first byte.
        let head_timeout = shared.config.head_timeout;
        if first && shared.config.socks && socks::sniff(&mut client, head_timeout).await {
            return socks::serve(shared, client, slot, None).await;
        }
        first = false;
        let start = Instant::now();
        // Boxed, like every large step, so the connection's own state
        // (which an idle tunnel keeps for hours) stays small.
        let read = Box::pin(read_head(
            &mut client.buf,
            &client.io,
            parse_request,
            shared.config.head_timeout,
        ));
        let head = match read.await {
            HeadRead::Head(h) => h,
            HeadRead::Closed => break,
            HeadRead::Bad(e) => {
                Box::pin(fail(&shared, &client, None, None, &Error::Head(e), start)).await;
                break;
            }
            HeadRead::TimedOut => {
                let e = Error::HeadTimeout;
                Box::pin(fail(&shared, &client, None, None, &e, start)).await;
                break;
            }
            HeadRead::Broken(e) => {
                log::debug!("{peer} closed mid-head: {e}");
                break;
            }
        };
        let policy = shared.policy();
        if reached.is_none() && may_name_self(&head.target) {
            reached = Some(client.io.get_ref().local_addr().unwrap_or(peer));
        }
        let here = Here {
            reached: reached.unwrap_or(NOWHERE),
            listening: shared.dialer.own(),
        };
        let Decision { route, user } = route(&head, &policy, &here, shared.dialer.hops());
        let (route, user) = guessing_flood(&shared, peer, &head, route, user);
        let user = user.as_deref();
        let done: Result<Outcome, Error> = match route {
            Route::Own(page) => {
                let view = View {
                    stats: &shared.stats,
                    connections: shared.active(),
                    reached: here.reached,
                    pac_direct: &shared.config.pac_direct,
                    cache: shared.cache.as_ref().map(crate::cache::Cache::stats),
                    #[cfg(feature = "tls")]
                    ca_pem: shared.inspection.as_ref().map(|i| i.ca_pem()),
                    #[cfg(not(feature = "tls"))]
                    ca_pem: None,
                    https_port: shared.config.tls.listen.first().map(SocketAddr::port),
                };
                let (status, resp) = own::respond(page, &head, &view);
                write_all(&client.io, &resp, shared.config.read_timeout)
                    .await
                    .map(|()| Outcome {
                        status,
                        ..Outcome::default()
                    })
                    .map_err(Error::Client)
            }
            Route::Refuse(e) => {
                if let Error::Denied(Denied::Domain(host, how)) = &e {
                    let rule = match how {
                        Blocked::Rule(r) => Some(r.as_str()),
                        Blocked::NotAllowed => None,
                    };
                    shared.stats.blocked(host, rule);
                }
                if matches!(e, Error::ProxyAuth(ref a) | Error::PageAuth(ref a) if *a != AuthError::Missing)
                {
                    // Wrong credentials wait before the answer, longer and
                    // one by one after a few from one address, so guessing
                    // is slow; the first challenge (none sent yet) does not.
                    let (wait, n, _waiting) = shared.guesses.fail(peer.ip(), Instant::now());
                    let ip = crate::policy::acl::canonical(peer.ip());
                    log::warn!("auth failed: client {ip} ({}; failure {n})", e.message());
                    smol::Timer::after(wait).await;
                }
                Err(e)
            }
            Route::Tunnel(authority, hop) => {
                // Boxed: the set-up's state is only needed briefly.
                let to = (&authority, hop.as_deref());
                let opened = Box::pin(open_tunnel(&shared, &policy, &mut client, to)).await;
                match opened {
                    Ok((up, early)) => {
                        // A tunnel lives on as a small task of its own, and
                        // this connection's larger state is freed.
                        let t = Tunnel {
                            client: client.io,
                            up,
                            early,
                            peer,
                            method: "CONNECT",
                            target: head.target,
                            user: user.map(str::to_string),
                            start,
                            slot,
                        };
                        shared
                            .stats
                            .client_bytes(peer.ip().to_canonical(), conn_bytes);
                        hand_off(&shared, t).await;
                        return;
                    }
                    Err(e) => Err(e),
                }
            }
            #[cfg(feature = "tls")]
            Route::Inspect(authority, hop) => {
                // Opened here, served as a task of its own (tls/inspect.rs).
                shared
                    .stats
                    .client_bytes(peer.ip().to_canonical(), conn_bytes);
                let o = crate::tls::inspect::Opened {
                    client,
                    authority,
                    hop,
                    user: user.map(str::to_string),
                    start,
                    slot,
                };
                crate::tls::inspect::hand_off(&shared, o).await;
                return;
            }
            Route::Direct {
                origin,
                host_field,
                path,
                hop,
            } => {
                let cx = shared.exchange_context(&policy, hop.as_deref());
                // Boxed: an exchange's state is large, and an idle tunnel or
                // keep-alive connection should not carry its size.
                match &shared.cache {
                    // With --cache-dir, through the shared cache.
                    Some(cache) => {
                        let (c, u) = (&mut client, &mut upstream);
                        let (o, h, p) = (&origin, &host_field, &path);
                        Box::pin(crate::cache::exchange(cache, &cx, c, u, &head, o, h, p)).await
                    }
                    None => {
                        Box::pin(forward::exchange(
                            &cx,
                            &mut client,
                            &mut upstream,
                            &head,
                            &origin,
                            &host_field,
                            &path,
                        ))
                        .await
                    }
                }
            }
        };
        drop(policy);
        let outcome = match done {
            Ok(o) => o,
            Err(e) => {
                Box::pin(fail(&shared, &client, Some(&head), user, &e, start)).await;
                break;
            }
        };
        let access = Access {
            method: &head.method,
            target: &head.target,
            status: outcome.status,
            up: outcome.up,
            down: outcome.down,
            user,
            note: outcome.note.as_deref(),
            cache: outcome.cache,
        };
        let took = start.elapsed();
        count(&shared, &access, start, took);
        conn_bytes = conn_bytes.saturating_add(outcome.up.saturating_add(outcome.down));
        shared.access_log.write(peer, &access, took);
        if !outcome.keep_client || shared.shutting_down() {
            break;
        }
    }
    shared
        .stats
        .client_bytes(peer.ip().to_canonical(), conn_bytes);
}

/// Count an answered request or a finished tunnel, beside its access line.
fn count(shared: &Shared, a: &Access<'_>, start: Instant, took: Duration) {
    let end = start + took;
    shared.stats.request(a.status, a.up, a.down, took, end);
}

static FLOOD_LOG: Throttle = Throttle::new();

/// While too many wrong guesses from this client wait for their answers,
/// a request carrying credentials (for proxying or for an own page) is
/// refused (429) without a word on whether they were right: a guesser cannot learn from answers it does
/// not wait for (`policy/guessing.rs`).
fn guessing_flood(
    shared: &Shared,
    peer: SocketAddr,
    head: &Head,
    route: Route,
    user: Option<String>,
) -> (Route, Option<String>) {
    // The flood check first: it is one atomic load when nobody floods, and
    // this runs for every request. Both headers: the own pages take
    // `Authorization` too (route.rs).
    if !shared.guesses.flooding(peer.ip())
        || (head.value("proxy-authorization").is_none() && head.value("authorization").is_none())
    {
        return (route, user);
    }
    if let Some(held) = FLOOD_LOG.allow() {
        let ip = crate::policy::acl::canonical(peer.ip());
        log::warn!(
            "auth failed: client {ip} (too many wrong passwords waiting; 429){}",
            HeldBack(held)
        );
    }
    (Route::Refuse(Error::Guessing), None)
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
    let wait = async {
        if first {
            // A new client has usually sent its request by the time its
            // task runs: read at once rather than register for readiness
            // first (an epoll_ctl saved). End of stream ends the connection.
            let n = client.buf.fill(&client.io, MAX_HEAD_BYTES, limit).await?;
            if n == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            Ok(())
        } else {
            // The next request of a keep-alive client is never here yet.
            client.buf.timed(limit, client.io.readable()).await
        }
    };
    let ready = wait
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
    if let Some((_, resp)) = e.page(head.is_none_or(|h| h.method != "HEAD")) {
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
    let took = start.elapsed();
    count(shared, &access, start, took);
    shared.access_log.write(client.peer, &access, took);
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

/// Dial (directly or through the parent), answer 200, and pass on bytes
/// the client sent after the CONNECT head (a TLS hello); returns the
/// upstream and their count.
async fn open_tunnel(
    shared: &Shared,
    policy: &Policy,
    client: &mut Client,
    (authority, hop): (&Authority, Option<&Parent>),
) -> Result<(Async<TcpStream>, u64), Error> {
    let cfg = &shared.config;
    let (up, addr) = shared.dialer.dial_via(authority, hop, policy).await?;
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
