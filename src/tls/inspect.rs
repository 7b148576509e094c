//! An inspected CONNECT (`--inspect`), start to finish: take the leaf for
//! the CONNECT host (minted off the executor when not cached, before the
//! 200, so a failure is still an error page), answer 200, accept the
//! client's TLS with it (ALPN `http/1.1` only), turn that TLS into a plain
//! socket (`pipe.rs`), then serve HTTP/1.1 requests on it in a loop: each
//! origin-form request is checked (its Host is the CONNECT host; the
//! domain and path rules of the policy in force), logged as `GET
//! https://host/path`, and forwarded by `forward::exchange` — framing,
//! smuggling defences and upgrades as for plain HTTP — to the origin over
//! TLS that rustls verifies against the roots (chain, expiry, the CONNECT
//! host's name). A failed verification is a 502 page saying why, never a
//! pass and never plain text. The leaf is for the CONNECT host whatever
//! the client's SNI says: a client naming another host than it asked
//! CONNECT for fails its own check, which is the honest answer.

use std::future::Future;
use std::io;
use std::net::{SocketAddr, TcpStream};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use futures_lite::FutureExt;
use futures_lite::io::{AsyncRead, AsyncWrite};
use futures_rustls::{TlsAcceptor, TlsConnector};
use rustls::pki_types::ServerName;
use rustls::{CertificateError, ServerConfig};
use smol::Async;

use crate::buffer::{Buffer, Client, HeadRead, read_head, timed, write_all};
use crate::error::{Error, io_reason};
use crate::forward::{self, Dialed};
use crate::http::head::{Head, parse_request};
use crate::http::reply::simple_response;
use crate::http::target::{Authority, parse_authority};
use crate::logger::{Access, Outcome};
use crate::policy::Policy;
use crate::policy::filter::Blocked;
use crate::state::{Shared, Slot};
use crate::upstream::chain::Hop;
use crate::upstream::pool::Kept;

use super::pipe::pipe;

/// A CONNECT the route said to inspect, and what its log lines need.
pub(crate) struct Opened {
    /// The client, its CONNECT head read (bytes after it stay buffered).
    pub(crate) client: Client,
    /// Where the inner requests go.
    pub(crate) authority: Authority,
    /// Through which parent, if any (a CONNECT tunnel through it).
    pub(crate) hop: Hop,
    /// The authenticated user of the CONNECT.
    pub(crate) user: Option<String>,
    /// When the CONNECT began.
    pub(crate) start: Instant,
    /// The connection's place under `--max-clients`.
    pub(crate) slot: Slot,
}

/// Serve `o` as a task of its own (or here when the executor is stopping),
/// so the connection's larger state is freed, as for a tunnel.
pub(crate) async fn hand_off(shared: &Arc<Shared>, o: Opened) {
    if let Err(task) = shared.spawn(serve(Arc::clone(shared), o)) {
        task.await;
    }
}

async fn serve(shared: Arc<Shared>, o: Opened) {
    let Opened {
        client,
        authority,
        hop,
        user,
        start,
        slot,
    } = o;
    let peer = client.peer;
    let target = authority.to_host_port();
    let connect_line = |status: u16, note: &str| {
        let access = Access {
            method: "CONNECT",
            target: &target,
            status,
            user: user.as_deref(),
            note: Some(note),
            ..Access::default()
        };
        let took = start.elapsed();
        shared.stats.request(status, 0, 0, took, start + took);
        shared.access_log.write(peer, &access, took);
    };
    let leaves = shared.inspection.as_ref().map(|i| &i.leaves);
    let config = match leaves {
        Some(leaves) => leaf(leaves, &authority.host).await,
        None => Err("inspection is off".into()),
    };
    let config = match config {
        Ok(c) => c,
        Err(why) => {
            let body = format!("smolproxy: cannot inspect {target}: {why}\n");
            let resp = simple_response(502, "", &body, true);
            let _ = write_all(&client.io, &resp, shared.config.read_timeout).await;
            return connect_line(502, &why);
        }
    };
    let established = b"HTTP/1.1 200 Connection established\r\n\r\n";
    if write_all(&client.io, established, shared.config.read_timeout)
        .await
        .is_err()
    {
        return;
    }
    let stream = Prefixed {
        early: client.buf.filled().to_vec(),
        at: 0,
        io: client.io,
    };
    let accept = TlsAcceptor::from(config).accept(stream);
    let tls = match timed(shared.config.head_timeout, accept).await {
        Ok(tls) => tls,
        Err(e) => {
            // Typically a device without the CA installed ("unknown ca"),
            // or an app that pins its certificate.
            let why = format!("client TLS handshake failed: {}", handshake_words(&e));
            return connect_line(200, &why);
        }
    };
    if let Some(sni) = tls.get_ref().1.server_name()
        && !sni.eq_ignore_ascii_case(&authority.host)
    {
        log::debug!("{peer} CONNECT {target} sent the server name {sni}");
    }
    let io = match pipe(tls, &shared, shared.config.tunnel_idle_timeout) {
        Ok(io) => io,
        Err(e) => return connect_line(200, &format!("pipe: {}", io_reason(&e))),
    };
    let _open = shared.stats.tunnel_open();
    let mut client = Client {
        io,
        buf: Buffer::new(),
        peer,
    };
    let bytes = requests(&shared, &mut client, &authority, &hop, user.as_deref()).await;
    shared.stats.client_bytes(peer.ip().to_canonical(), bytes);
    drop(slot);
}

/// The cached leaf for `host`, or one minted now on a blocking thread.
async fn leaf(leaves: &Arc<super::certs::Leaves>, host: &str) -> Result<Arc<ServerConfig>, String> {
    if let Some(c) = leaves.cached(host) {
        return Ok(c);
    }
    let (leaves, host) = (Arc::clone(leaves), host.to_string());
    smol::unblock(move || leaves.mint(&host))
        .await
        .map_err(|e| e.to_string())
}

/// Serve the inner requests until the client or the origin is done;
/// returns the body bytes moved.
async fn requests(
    shared: &Arc<Shared>,
    client: &mut Client,
    authority: &Authority,
    hop: &Hop,
    user: Option<&str>,
) -> u64 {
    let mut upstream = Kept::default();
    let mut bytes = 0u64;
    let mut first = true;
    let dial = {
        let (shared, hop) = (Arc::clone(shared), hop.clone());
        move |a: &Authority| -> Pin<Box<dyn Future<Output = Dialed> + Send>> {
            Box::pin(dial_tls(Arc::clone(&shared), a.clone(), hop.clone()))
        }
    };
    loop {
        let wait = if first {
            shared.config.head_timeout
        } else {
            shared.config.idle_timeout
        };
        first = false;
        // Idle between requests until the next byte, the timeout or the
        // start of shutdown (as conn.rs waits).
        if client.buf.is_empty() {
            let ready = timed(wait, client.io.readable()).or(async {
                shared.shutdown_started().await;
                Err(io::Error::other("shutting down"))
            });
            if ready.await.is_err() {
                break;
            }
        }
        let start = Instant::now();
        let read = read_head(
            &mut client.buf,
            &client.io,
            parse_request,
            shared.config.head_timeout,
        );
        let head = match Box::pin(read).await {
            HeadRead::Head(h) => h,
            HeadRead::Closed | HeadRead::Broken(_) => break,
            HeadRead::Bad(e) => {
                fail(
                    shared,
                    client,
                    None,
                    authority,
                    user,
                    &Error::Head(e),
                    start,
                )
                .await;
                break;
            }
            HeadRead::TimedOut => {
                let e = Error::HeadTimeout;
                fail(shared, client, None, authority, user, &e, start).await;
                break;
            }
        };
        let policy = shared.policy();
        let done = match check(&head, authority, &policy) {
            Err(e) => {
                if let Error::Denied(crate::policy::Denied::Domain(host, Blocked::Rule(r))) = &e {
                    shared.stats.blocked(host, Some(r));
                }
                Err(e)
            }
            Ok(host_field) => {
                let mut cx = shared.exchange_context(&policy, None);
                cx.connect = Some(&dial);
                // Through the shared cache like plain requests, keyed
                // `https://` + host + path (`cache::exchange` sees `connect`).
                let path = head.target.as_str();
                let exchange = async {
                    match &shared.cache {
                        Some(cache) => {
                            let (u, h) = (&mut upstream, host_field);
                            crate::cache::exchange(cache, &cx, client, u, &head, authority, h, path)
                                .await
                        }
                        None => {
                            forward::exchange(
                                &cx,
                                client,
                                &mut upstream,
                                &head,
                                authority,
                                host_field,
                                path,
                            )
                            .await
                        }
                    }
                };
                Box::pin(exchange).await
            }
        };
        drop(policy);
        let outcome = match done {
            Ok(o) => o,
            Err(e) => {
                fail(shared, client, Some(&head), authority, user, &e, start).await;
                break;
            }
        };
        bytes = bytes.saturating_add(outcome.up.saturating_add(outcome.down));
        log_line(shared, client.peer, &head, authority, user, &outcome, start);
        if !outcome.keep_client || shared.shutting_down() {
            break;
        }
    }
    bytes
}

/// An inner request may go on: it is origin-form, its one Host names the
/// CONNECT authority (a request for another host inside this TLS session
/// would escape the rules checked for it: 400), and the domain and path
/// rules in force allow it. Gives the Host field to send.
fn check<'h>(head: &'h Head, authority: &Authority, policy: &Policy) -> Result<&'h str, Error> {
    if !head.target.starts_with('/') {
        return Err(Error::BadRequest(
            "inside an inspected connection, send origin-form requests (/path)",
        ));
    }
    let mut hosts = head.values("host");
    let host = match (hosts.next(), hosts.next()) {
        (Some(h), None) => std::str::from_utf8(h).map_err(|_| Error::BadRequest("bad Host"))?,
        (None, _) => return Err(Error::BadRequest("missing Host field")),
        (Some(_), Some(_)) => return Err(Error::BadRequest("more than one Host field")),
    };
    let named = parse_authority(host, Some(443)).map_err(Error::Target)?;
    if !named.host.eq_ignore_ascii_case(&authority.host) || named.port != authority.port {
        return Err(Error::BadRequest(
            "the Host field names another host than the CONNECT",
        ));
    }
    policy.check_host(&authority.host).map_err(Error::Denied)?;
    policy
        .check_path(&authority.host, &head.target)
        .map_err(Error::Denied)?;
    Ok(host)
}

/// `https://host[:port]/path`, as the access line shows an inner request.
fn url(authority: &Authority, path: &str) -> String {
    if authority.port == 443 {
        let host = authority.to_host_port();
        let host = host.strip_suffix(":443").unwrap_or(&host);
        format!("https://{host}{path}")
    } else {
        format!("https://{}{path}", authority.to_host_port())
    }
}

fn log_line(
    shared: &Shared,
    peer: SocketAddr,
    head: &Head,
    authority: &Authority,
    user: Option<&str>,
    o: &Outcome,
    start: Instant,
) {
    let target = url(authority, &head.target);
    let access = Access {
        method: &head.method,
        target: &target,
        status: o.status,
        up: o.up,
        down: o.down,
        user,
        note: o.note.as_deref(),
        cache: o.cache,
    };
    let took = start.elapsed();
    shared
        .stats
        .request(o.status, o.up, o.down, took, start + took);
    shared.access_log.write(peer, &access, took);
}

/// Most time spent reading what a client still sends after an error page
/// (as `conn.rs` does): long enough for a request body in flight, short
/// enough that a silent client does not hold the connection.
const LINGER_TIME: std::time::Duration = std::time::Duration::from_secs(2);

/// Answer `e` (when a response can still be sent), log it, and stop
/// sending; what the client still sends is read for a moment, so the
/// close does not cut the page.
async fn fail(
    shared: &Shared,
    client: &Client,
    head: Option<&Head>,
    authority: &Authority,
    user: Option<&str>,
    e: &Error,
    start: Instant,
) {
    let msg = e.message();
    let status = e.status();
    if let Some((_, resp)) = e.page(head.is_none_or(|h| h.method != "HEAD")) {
        let _ = write_all(&client.io, &resp, shared.config.read_timeout).await;
    }
    let target = head.map_or_else(|| "-".into(), |h| url(authority, &h.target));
    let access = Access {
        method: head.map_or("-", |h| h.method.as_str()),
        target: &target,
        status: status.unwrap_or(0),
        user,
        note: Some(&msg),
        ..Access::default()
    };
    let took = start.elapsed();
    shared
        .stats
        .request(access.status, 0, 0, took, start + took);
    shared.access_log.write(client.peer, &access, took);
    let _ = client.io.get_ref().shutdown(std::net::Shutdown::Write);
    let drain = async {
        let mut scratch = [0u8; 1024];
        let mut r = &client.io;
        while futures_lite::AsyncReadExt::read(&mut r, &mut scratch).await? > 0 {}
        Ok(())
    };
    let _ = timed(LINGER_TIME, drain).await;
}

/// Reach the origin as the dialer does (through `hop` if any), then TLS
/// verified against the roots for the CONNECT host, then a pipe.
async fn dial_tls(shared: Arc<Shared>, a: Authority, hop: Hop) -> Dialed {
    let policy = shared.policy();
    let (tcp, addr) = shared.dialer.dial_via(&a, hop.as_deref(), &policy).await?;
    let Some(inspection) = shared.inspection.as_ref() else {
        return Err(Error::BadRequest("inspection is off"));
    };
    let tls_err = |why: String| Error::OriginTls(a.to_host_port(), why);
    let name = ServerName::try_from(a.host.clone()).map_err(|e| tls_err(e.to_string()))?;
    let connector = TlsConnector::from(inspection.origins.config());
    let tls = timed(shared.config.connect_timeout, connector.connect(name, tcp))
        .await
        .map_err(|e| tls_err(handshake_words(&e)))?;
    let io = pipe(tls, &shared, shared.config.tunnel_idle_timeout).map_err(Error::Upstream)?;
    Ok((io, addr))
}

/// Why a TLS handshake failed, in words a person can act on.
fn handshake_words(e: &io::Error) -> String {
    use CertificateError as C;
    let Some(tls) = e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) else {
        return match e.kind() {
            io::ErrorKind::TimedOut => "the TLS handshake timed out".into(),
            _ => io_reason(e),
        };
    };
    let rustls::Error::InvalidCertificate(c) = tls else {
        return tls.to_string();
    };
    match c {
        C::UnknownIssuer => {
            "its certificate is not signed by a trusted root (self-signed, or an unknown CA)".into()
        }
        C::Expired | C::ExpiredContext { .. } => "its certificate has expired".into(),
        C::NotValidYet | C::NotValidYetContext { .. } => {
            "its certificate is not valid yet (or this device's clock is wrong)".into()
        }
        C::NotValidForName | C::NotValidForNameContext { .. } => {
            format!("its certificate is for another name: {c}")
        }
        C::Revoked => "its certificate has been revoked".into(),
        C::BadSignature => "its certificate's signature is invalid".into(),
        other => format!("its certificate was refused: {other}"),
    }
}

/// The client's socket with the bytes already read after its CONNECT head
/// (a TLS hello sent without waiting for the 200) put back in front.
struct Prefixed {
    early: Vec<u8>,
    at: usize,
    io: Async<TcpStream>,
}

impl AsyncRead for Prefixed {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        if let Some(rest) = this.early.get(this.at..).filter(|r| !r.is_empty()) {
            let n = rest.len().min(buf.len());
            buf[..n].copy_from_slice(&rest[..n]);
            this.at += n;
            if this.at == this.early.len() {
                this.early = Vec::new();
                this.at = 0;
            }
            return Poll::Ready(Ok(n));
        }
        Pin::new(&mut this.io).poll_read(cx, buf)
    }
}

impl AsyncWrite for Prefixed {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_close(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inner_urls() {
        let a = |host: &str, port| Authority {
            host: host.into(),
            port,
        };
        assert_eq!(url(&a("a.test", 443), "/x?y"), "https://a.test/x?y");
        assert_eq!(url(&a("a.test", 8443), "/"), "https://a.test:8443/");
        assert_eq!(url(&a("::1", 443), "/"), "https://[::1]/");
    }

    #[test]
    fn inner_requests_checked() {
        use crate::http::head::test_request as head;
        let policy = Policy::new(&crate::policy::PolicyConfig::default()).unwrap();
        let a = Authority {
            host: "a.test".into(),
            port: 443,
        };
        let cases = [
            ("GET /x HTTP/1.1\r\nHost: a.test\r\n\r\n", Ok("a.test")),
            (
                "GET /x HTTP/1.1\r\nHost: A.test:443\r\n\r\n",
                Ok("A.test:443"),
            ),
            ("GET /x HTTP/1.1\r\nHost: b.test\r\n\r\n", Err(400)),
            ("GET /x HTTP/1.1\r\nHost: a.test:8443\r\n\r\n", Err(400)),
            ("GET /x HTTP/1.1\r\n\r\n", Err(400)),
            (
                "GET /x HTTP/1.1\r\nHost: a.test\r\nHost: a.test\r\n\r\n",
                Err(400),
            ),
            (
                "GET https://a.test/x HTTP/1.1\r\nHost: a.test\r\n\r\n",
                Err(400),
            ),
            (
                "CONNECT a.test:443 HTTP/1.1\r\nHost: a.test\r\n\r\n",
                Err(400),
            ),
        ];
        for (raw, want) in cases {
            let h = head(raw);
            let got = check(&h, &a, &policy).map_err(|e| e.status().unwrap_or(0));
            assert_eq!(got, want, "{raw:?}");
        }
    }
}
