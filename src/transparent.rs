//! Connections a firewall redirected to a `--transparent` listener
//! (nftables `redirect`, iptables `REDIRECT`): the client never chose the
//! proxy, so nothing of it is configured. After the client access list,
//! the original destination comes from the kernel (`SO_ORIGINAL_DST`,
//! `IP6T_SO_ORIGINAL_DST`); a connection that was not redirected, or whose
//! destination is the proxy itself (a loop), is closed. The first bytes
//! tell the protocol, waited for within the head timeout and
//! [`sni::MAX_HELLO_BYTES`]: plain HTTP (port 80, or a request line) is
//! routed by its `Host` through `route::transparent` and forwarded with the
//! normal exchange, keep-alive included; TLS (a handshake record) is
//! checked by the ClientHello's server name without consuming it, then
//! relayed — hello first — to the original destination; anything else is
//! relayed when its port is in `--connect-ports`, else closed. Every
//! connection reaches the original destination's address, never a
//! re-resolved name; the egress guard still applies. Access lines:
//! `GET http://host/path`, `TLS sni:443`, `TCP addr:port`; counted in
//! the statistics like requests and CONNECT tunnels.

mod redirect;
pub mod sni;

use std::io;
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::Instant;

use futures_lite::FutureExt;
use smol::Async;

use crate::buffer::{Buffer, Client, HeadRead, read_head, timed, write_all};
use crate::error::{Error, io_reason};
use crate::forward;
use crate::http::head::parse_request;
use crate::http::target::Authority;
use crate::logger::{Access, HeldBack, Throttle};
use crate::policy::filter::Blocked;
use crate::policy::{Denied, Policy};
use crate::route::{Route, transparent};
use crate::state::{Shared, Slot};
use crate::upstream::pool::Kept;
use redirect::{NoRedirect, destination, original_dst};
use sni::Hello;

static REFUSED_LOG: Throttle = Throttle::new();

/// Whether the first bytes start an HTTP/1 request line: a method token
/// (upper-case letters, as every registered method is), a space, and the
/// start of a target (`/`, `*` or `http://`; RFC 9112 §3.2), which tells it
/// from text protocols with upper-case commands (SMTP's `EHLO x`).
fn looks_like_http(b: &[u8]) -> bool {
    let method = b.iter().take_while(|c| c.is_ascii_uppercase()).count();
    let target = b.get(method + 1..).unwrap_or_default();
    (3..=16).contains(&method)
        && b.get(method) == Some(&b' ')
        && (target.starts_with(b"/") || target.starts_with(b"*") || target.starts_with(b"http://"))
}

/// Serve one redirected connection until it closes.
pub(crate) async fn serve(io: Async<TcpStream>, peer: SocketAddr, shared: Arc<Shared>, slot: Slot) {
    let start = Instant::now();
    let mut client = Client {
        io,
        buf: Buffer::new(),
        peer,
    };
    let local = client.io.get_ref().local_addr();
    let to = match shared.policy().check_client(peer.ip()) {
        Err(denied) => Err((403, denied.message())),
        Ok(()) => local
            .map(|l| (original_dst(client.io.get_ref(), l), l))
            .map_err(NoRedirect::Unknown)
            .and_then(|(got, l)| destination(got, l, shared.dialer.own()))
            .map_err(|r| (r.status(), r.message())),
    };
    let to = match to {
        Ok(to) => to,
        Err((status, why)) => {
            if let Some(held) = REFUSED_LOG.allow() {
                let c = crate::logger::client(peer);
                log::warn!(
                    "{c} refused on a transparent listener: {why}{}",
                    HeldBack(held)
                );
            }
            let access = Access {
                method: "-",
                target: "-",
                status,
                note: Some(&why),
                cache: None,
                ..Access::default()
            };
            finish(&shared, &client, &access, start);
            return;
        }
    };
    // The first bytes, within the head timeout: a silent client (a
    // protocol whose server speaks first) is "anything else".
    let first = client
        .buf
        .fill(&client.io, sni::MAX_HELLO_BYTES, shared.config.head_timeout)
        .await;
    match first {
        Ok(0) => return,
        Err(e) if e.kind() != io::ErrorKind::TimedOut => return,
        // Silent past the head timeout on the HTTP port: nothing to do.
        Err(_) if to.port() == 80 => return,
        _ => {}
    }
    let bytes = client.buf.filled();
    if to.port() == 80 || looks_like_http(bytes) {
        Box::pin(http(&shared, &mut client, to, start)).await;
    } else if bytes.first() == Some(&sni::HANDSHAKE) {
        Box::pin(tls(&shared, client, to, start)).await;
    } else {
        Box::pin(other(&shared, client, to, start)).await;
    }
    drop(slot);
}

/// Count and log a connection that ends here.
fn finish(shared: &Shared, client: &Client, access: &Access<'_>, start: Instant) {
    let took = start.elapsed();
    shared
        .stats
        .request(access.status, access.up, access.down, took, start + took);
    shared.access_log.write(client.peer, access, took);
}

/// Plain HTTP: each request routed by its Host, forwarded to `to`.
async fn http(shared: &Shared, client: &mut Client, to: SocketAddr, opened: Instant) {
    let mut upstream = Kept::default();
    let mut bytes = 0u64;
    let mut first = true;
    loop {
        if !first && client.buf.is_empty() {
            client.buf.release();
            let idle = shared.config.idle_timeout;
            let ready = timed(idle, client.io.readable())
                .or(async {
                    shared.shutdown_started().await;
                    Err(io::Error::other("shutting down"))
                })
                .await;
            if ready.is_err() {
                break;
            }
        }
        // The first head shares the connection's one head timeout with
        // the wait for its first bytes; later ones have their own.
        let limit = match first {
            true => shared.config.head_timeout.saturating_sub(opened.elapsed()),
            false => shared.config.head_timeout,
        };
        first = false;
        let start = Instant::now();
        let head = match read_head(&mut client.buf, &client.io, parse_request, limit).await {
            HeadRead::Head(h) => h,
            HeadRead::Closed | HeadRead::Broken(_) => break,
            HeadRead::Bad(e) => {
                refuse(shared, client, ("-", "-"), &Error::Head(e), start).await;
                break;
            }
            HeadRead::TimedOut => {
                refuse(shared, client, ("-", "-"), &Error::HeadTimeout, start).await;
                break;
            }
        };
        let policy = shared.policy();
        let done = match transparent(&head, &policy, to) {
            Route::Direct {
                origin,
                host_field,
                path,
                hop: _,
            } => {
                let cx = shared.exchange_context(&policy, None);
                let target = format!("http://{host_field}{path}");
                let sent = forward::exchange(
                    &cx,
                    client,
                    &mut upstream,
                    &head,
                    &origin,
                    &host_field,
                    &path,
                );
                (target, Box::pin(sent).await)
            }
            Route::Refuse(e) => {
                let host = head.value("host").map(String::from_utf8_lossy);
                let target = match host {
                    Some(h) if head.target.starts_with('/') => format!("http://{h}{}", head.target),
                    _ => head.target.clone(),
                };
                (target, Err(e))
            }
            // route::transparent decides only these two.
            Route::Own(_) | Route::Tunnel(..) => break,
            #[cfg(feature = "tls")]
            Route::Inspect(..) => break,
        };
        drop(policy);
        let (target, outcome) = match done {
            (target, Ok(o)) => (target, o),
            (target, Err(e)) => {
                refuse(shared, client, (&head.method, &target), &e, start).await;
                break;
            }
        };
        let access = Access {
            method: &head.method,
            target: &target,
            status: outcome.status,
            up: outcome.up,
            down: outcome.down,
            user: None,
            note: outcome.note.as_deref(),
            cache: None,
        };
        finish(shared, client, &access, start);
        bytes = bytes.saturating_add(outcome.up.saturating_add(outcome.down));
        if !outcome.keep_client || shared.shutting_down() {
            break;
        }
    }
    shared
        .stats
        .client_bytes(client.peer.ip().to_canonical(), bytes);
}

/// Answer an HTTP request we will not forward with its status, log it,
/// and stop sending.
async fn refuse(
    shared: &Shared,
    client: &Client,
    (method, target): (&str, &str),
    e: &Error,
    start: Instant,
) {
    let msg = e.message();
    blocked(shared, e);
    let status = e.status();
    if let Some((_, resp)) = e.page(true) {
        let _ = write_all(&client.io, &resp, shared.config.read_timeout).await;
        let _ = client.io.get_ref().shutdown(std::net::Shutdown::Write);
    }
    let access = Access {
        method,
        target,
        status: status.unwrap_or(0),
        note: Some(&msg),
        cache: None,
        ..Access::default()
    };
    finish(shared, client, &access, start);
}

/// Count a domain refusal on the dashboard's blocked list.
fn blocked(shared: &Shared, e: &Error) {
    if let Error::Denied(Denied::Domain(host, how)) = e {
        let rule = match how {
            Blocked::Rule(r) => Some(r.as_str()),
            Blocked::NotAllowed => None,
        };
        shared.stats.blocked(host, rule);
    }
}

/// The server name of a TLS client, read within what is left of the head
/// timeout since the connection `opened` and [`sni::MAX_HELLO_BYTES`],
/// nothing consumed. `Ok(None)`: the hello has no name, is malformed or
/// larger than the bound (the rules then see the address). A hello that
/// does not complete in time is an error (408): waiting out the timeout
/// must not turn a name check into an address check.
async fn server_name(
    shared: &Shared,
    client: &mut Client,
    opened: Instant,
) -> Result<Option<String>, Error> {
    let limit = shared.config.head_timeout.saturating_sub(opened.elapsed());
    let read = async {
        loop {
            match sni::parse(client.buf.filled()) {
                Hello::Name(n) => return Ok(Some(n)),
                Hello::NoName | Hello::Malformed(_) => return Ok(None),
                Hello::NeedMore => {}
            }
            match client
                .buf
                .fill(&client.io, sni::MAX_HELLO_BYTES, limit)
                .await
            {
                Ok(0) => return Err(Error::Client(io::ErrorKind::UnexpectedEof.into())),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::OutOfMemory => return Ok(None),
                Err(e) if e.kind() == io::ErrorKind::TimedOut => return Err(Error::HeadTimeout),
                Err(e) => return Err(Error::Client(e)),
            }
        }
    };
    match timed(limit, async { Ok(read.await) }).await {
        Ok(r) => r,
        Err(_) => Err(Error::HeadTimeout),
    }
}

/// TLS: check the server name, then relay to `to`, hello first.
async fn tls(shared: &Shared, mut client: Client, to: SocketAddr, start: Instant) {
    let (name, checked) = match server_name(shared, &mut client, start).await {
        Ok(name) => (name, Ok(())),
        Err(e) => (None, Err(e)),
    };
    let name = name.unwrap_or_else(|| to.ip().to_string());
    let policy = shared.policy();
    let checked = checked.and_then(|()| policy.check_host(&name).map_err(Error::Denied));
    let target = Authority {
        host: name,
        port: to.port(),
    }
    .to_host_port();
    relay(
        shared,
        client,
        to,
        checked,
        ("TLS", &target),
        start,
        &policy,
    )
    .await;
}

/// Anything else: relayed when the port is in `--connect-ports`.
async fn other(shared: &Shared, client: Client, to: SocketAddr, start: Instant) {
    let policy = shared.policy();
    let checked = policy
        .check_connect_port(to.port())
        .and_then(|()| policy.check_host(&to.ip().to_string()))
        .map_err(Error::Denied);
    let target = to.to_string();
    relay(
        shared,
        client,
        to,
        checked,
        ("TCP", &target),
        start,
        &policy,
    )
    .await;
}

/// Unless `checked` refused it, dial `to`, pass on the buffered bytes and
/// relay both ways; one access line as `shown`, whatever happens.
async fn relay(
    shared: &Shared,
    mut client: Client,
    to: SocketAddr,
    checked: Result<(), Error>,
    (method, target): (&str, &str),
    start: Instant,
    policy: &Policy,
) {
    let origin = Authority {
        host: to.ip().to_string(),
        port: to.port(),
    };
    let dialed = match checked {
        Ok(()) => shared.dialer.dial_via(&origin, None, policy).await,
        Err(e) => Err(e),
    };
    let up = match dialed {
        Ok((up, _)) => up,
        Err(e) => {
            // Nothing reaches the origin; the client is closed unanswered
            // (it speaks a protocol we cannot answer in).
            blocked(shared, &e);
            let msg = e.message();
            let access = Access {
                method,
                target,
                status: e.status().unwrap_or(0),
                note: Some(&msg),
                cache: None,
                ..Access::default()
            };
            finish(shared, &client, &access, start);
            return;
        }
    };
    let early = client.buf.filled().len() as u64;
    let sent = write_all(&up, client.buf.filled(), shared.config.read_timeout).await;
    client.buf.release();
    let _open = shared.stats.tunnel_open();
    let r = match sent {
        Ok(()) => crate::tunnel::relay(&client.io, &up, shared.config.tunnel_idle_timeout).await,
        Err(e) => crate::tunnel::Relayed {
            error: Some(e),
            ..Default::default()
        },
    };
    let note = r.error.map(|e| io_reason(&e));
    let access = Access {
        method,
        target,
        status: 200,
        up: r.up + early,
        down: r.down,
        user: None,
        note: note.as_deref(),
        cache: None,
    };
    finish(shared, &client, &access, start);
    let bytes = access.up.saturating_add(access.down);
    shared
        .stats
        .client_bytes(client.peer.ip().to_canonical(), bytes);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A transparent route's shape and status, as one short string.
    fn shape(r: &Route) -> String {
        match r {
            Route::Refuse(e) => format!("refuse {}", e.status().unwrap_or(0)),
            Route::Direct {
                origin,
                host_field,
                path,
                hop,
            } => format!(
                "direct {} {host_field} {path}{}",
                origin.to_host_port(),
                if hop.is_some() { " via a parent" } else { "" }
            ),
            other => format!("{other:?}"),
        }
    }

    #[test]
    fn transparent_requests_dial_the_original_destination() {
        use crate::http::head::test_request as head;
        use crate::policy::PolicyConfig;
        use crate::policy::auth::Secret;
        let c = PolicyConfig {
            block: vec!["ads.example".into()],
            auth_env: Some(Secret("alice:pw".into())),
            ..PolicyConfig::default()
        };
        let policy = Policy::new(&c).unwrap();
        let to: SocketAddr = "198.18.0.9:80".parse().unwrap();
        let cases = [
            // The name from Host, the address from the redirect; no 407.
            (
                "GET /a?b HTTP/1.1\r\nHost: www.a.test\r\n\r\n",
                "direct 198.18.0.9:80 www.a.test /a?b",
            ),
            (
                "GET / HTTP/1.1\r\nHost: b.test:8080\r\n\r\n",
                "direct 198.18.0.9:80 b.test:8080 /",
            ),
            (
                "GET http://c.test/x HTTP/1.1\r\nHost: c.test\r\n\r\n",
                "direct 198.18.0.9:80 c.test /x",
            ),
            // The rules apply to the Host name, not to the address.
            (
                "GET / HTTP/1.1\r\nHost: x.ads.example\r\n\r\n",
                "refuse 403",
            ),
            ("GET / HTTP/1.1\r\n\r\n", "refuse 400"),
            ("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", "refuse 400"),
            ("GET / HTTP/1.1\r\nHost: a b\r\n\r\n", "refuse 400"),
            ("CONNECT a.test:443 HTTP/1.1\r\n\r\n", "refuse 501"),
            ("OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n", "refuse 501"),
        ];
        for (raw, want) in cases {
            assert_eq!(
                shape(&transparent(&head(raw), &policy, to)),
                want,
                "{raw:?}"
            );
        }
        let v6: SocketAddr = "[2001:db8::1]:80".parse().unwrap();
        let raw = "GET / HTTP/1.1\r\nHost: a.test\r\n\r\n";
        assert_eq!(
            shape(&transparent(&head(raw), &policy, v6)),
            "direct [2001:db8::1]:80 a.test /"
        );
    }

    #[test]
    fn http_is_told_by_its_request_line() {
        let cases: [(&[u8], bool); 9] = [
            (b"GET / HTTP/1.1\r\n", true),
            (b"OPTIONS * HTTP/1.1", true),
            (b"PROPFIND /x", true),
            (b"GE", false),
            (b"get / HTTP/1.1", false),
            (b"\x16\x03\x01\x02\x00", false),
            (b"SSH-2.0-OpenSSH_9.2\r\n", false),
            (b"EHLO x\r\n", false),
            (b"GET http://a.test/ HTTP/1.1", true),
        ];
        for (b, want) in cases {
            assert_eq!(looks_like_http(b), want, "{:?}", String::from_utf8_lossy(b));
        }
    }
}
