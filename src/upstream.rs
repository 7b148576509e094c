//! Reaching the origin: name resolution on a small, fixed pool of threads
//! (getaddrinfo blocks; a router cannot afford hundreds of threads), or an
//! injected resolver in tests; then a TCP connect with a timeout to every
//! address in turn, each checked against the policy first.

use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr, TcpStream, ToSocketAddrs};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use smol::Async;

use crate::buffer::timed;
use crate::error::Error;
use crate::http::Authority;
use crate::policy::Policy;

/// A future resolving a host and port to addresses.
pub type Lookup = Pin<Box<dyn Future<Output = io::Result<Vec<SocketAddr>>> + Send>>;

/// Turns a host name and port into addresses. Injectable so tests can
/// fail a lookup without any network.
pub type Resolver = Arc<dyn Fn(&str, u16) -> Lookup + Send + Sync>;

/// Lookups waiting for a DNS thread; beyond it a lookup fails at once
/// (502) instead of queueing without bound.
pub const DNS_QUEUE: usize = 256;

type Job = (
    String,
    u16,
    async_channel::Sender<io::Result<Vec<SocketAddr>>>,
);

/// The system resolver (getaddrinfo) on `threads` dedicated threads.
pub fn system_resolver(threads: usize) -> io::Result<Resolver> {
    let (tx, rx) = async_channel::bounded::<Job>(DNS_QUEUE);
    for i in 0..threads.max(1) {
        let rx = rx.clone();
        std::thread::Builder::new()
            .name(format!("dns-{i}"))
            .stack_size(256 * 1024)
            .spawn(move || {
                while let Ok((host, port, reply)) = rx.recv_blocking() {
                    let r = (host.as_str(), port)
                        .to_socket_addrs()
                        .map(Iterator::collect);
                    let _ = reply.try_send(r);
                }
            })?;
    }
    Ok(Arc::new(move |host: &str, port: u16| {
        let tx = tx.clone();
        let host = host.to_string();
        Box::pin(async move {
            let (reply, answer) = async_channel::bounded(1);
            tx.try_send((host, port, reply))
                .map_err(|_| io::Error::other("too many DNS lookups waiting"))?;
            answer
                .recv()
                .await
                .map_err(|_| io::Error::other("DNS thread gone"))?
        }) as Lookup
    }))
}

/// Resolve `a`: IP literals directly, names through `resolver`, the wait
/// bounded by `limit`. An empty answer is an error.
pub async fn resolve(
    a: &Authority,
    resolver: &Resolver,
    limit: Duration,
) -> Result<Vec<SocketAddr>, Error> {
    if let Ok(ip) = a.host.parse::<IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, a.port)]);
    }
    let addrs = timed(limit, resolver(&a.host, a.port))
        .await
        .map_err(|e| Error::Resolve(a.host.clone(), e))?;
    if addrs.is_empty() {
        return Err(Error::Resolve(
            a.host.clone(),
            io::Error::other("no addresses"),
        ));
    }
    Ok(addrs)
}

/// Connect to the first of `addrs` that answers, each attempt bounded by
/// `limit`. Addresses the policy refuses are skipped; if all are refused
/// the refusal is the error.
pub async fn connect(
    addrs: &[SocketAddr],
    policy: &Policy,
    own: &[SocketAddr],
    limit: Duration,
) -> Result<(Async<TcpStream>, SocketAddr), Error> {
    let mut last: Option<Error> = None;
    for &addr in addrs {
        if let Err(denied) = policy.check_target(addr, own) {
            log::debug!("not connecting to {addr}: {}", denied.message());
            last = Some(Error::Denied(denied));
            continue;
        }
        match timed(limit, Async::<TcpStream>::connect(addr)).await {
            Ok(s) => {
                let _ = s.get_ref().set_nodelay(true);
                return Ok((s, addr));
            }
            Err(e) => {
                log::debug!("connect {addr}: {e}");
                last = Some(Error::Connect(addr, e));
            }
        }
    }
    Err(last.unwrap_or(Error::Connect(
        SocketAddr::from(([0, 0, 0, 0], 0)),
        io::Error::other("no address"),
    )))
}
