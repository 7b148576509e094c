//! Reaching an upstream, the one way CONNECT and forwarding both use: the
//! [`Dialer`] resolves a name (on a small, fixed pool of threads:
//! getaddrinfo blocks, and a router cannot afford hundreds of threads; or
//! an injected resolver in tests), checks every address against the egress
//! guard, and connects with a timeout to each in turn. Also the
//! [`Upstream`] connection kept between requests to the same origin.

use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr, TcpStream, ToSocketAddrs};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use smol::Async;

use crate::buffer::{Buffer, timed};
use crate::error::Error;
use crate::http::target::Authority;
use crate::policy::Policy;

/// A future resolving a host and port to addresses.
pub type Lookup = Pin<Box<dyn Future<Output = io::Result<Vec<SocketAddr>>> + Send>>;

/// Turns a host name and port into addresses. Injectable so tests can
/// fail a lookup without any network.
pub type Resolver = Arc<dyn Fn(&str, u16) -> Lookup + Send + Sync>;

/// Lookups waiting for a DNS thread; beyond it a lookup fails at once
/// (502) instead of queueing without bound.
pub(crate) const DNS_QUEUE: usize = 256;

type Job = (
    String,
    u16,
    async_channel::Sender<io::Result<Vec<SocketAddr>>>,
);

/// The system resolver (getaddrinfo) on `threads` dedicated threads,
/// started at the first lookup (an idle proxy keeps none).
pub(crate) fn system_resolver(threads: usize) -> Resolver {
    let (tx, rx) = async_channel::bounded::<Job>(DNS_QUEUE);
    let started = std::sync::Once::new();
    Arc::new(move |host: &str, port: u16| {
        started.call_once(|| {
            for i in 0..threads.max(1) {
                let rx = rx.clone();
                let spawned = std::thread::Builder::new()
                    .name(format!("dns-{i}"))
                    .stack_size(256 * 1024)
                    .spawn(move || {
                        while let Ok((host, port, reply)) = rx.recv_blocking() {
                            let r = (host.as_str(), port)
                                .to_socket_addrs()
                                .map(Iterator::collect);
                            let _ = reply.try_send(r);
                        }
                    });
                if let Err(e) = spawned {
                    log::error!("cannot start a DNS thread: {e}");
                }
            }
        });
        let tx = tx.clone();
        let host = host.to_string();
        Box::pin(async move {
            let (reply, answer) = async_channel::bounded(1);
            tx.try_send((host, port, reply))
                .map_err(|_| io::Error::other("too many DNS lookups waiting"))?;
            answer
                .recv()
                .await
                .map_err(|_| io::Error::other("no DNS thread"))?
        }) as Lookup
    })
}

/// Resolve → egress check → connect.
pub(crate) struct Dialer {
    resolver: Resolver,
    /// The addresses the proxy listens on: connecting there would loop.
    own: Vec<SocketAddr>,
    /// Each lookup and each connect attempt.
    timeout: Duration,
}

impl Dialer {
    /// A dialer using `resolver`, refusing `own` addresses, each step
    /// bounded by `timeout`.
    pub(crate) fn new(resolver: Resolver, own: Vec<SocketAddr>, timeout: Duration) -> Dialer {
        Dialer {
            resolver,
            own,
            timeout,
        }
    }

    /// The addresses the proxy listens on.
    pub(crate) fn own(&self) -> &[SocketAddr] {
        &self.own
    }

    /// Connect to `to`: the first of its addresses that `policy` allows and
    /// that answers. Refused addresses are skipped; if every one is refused
    /// the refusal is the error.
    pub(crate) async fn dial(
        &self,
        to: &Authority,
        policy: &Policy,
    ) -> Result<(Async<TcpStream>, SocketAddr), Error> {
        let addrs = resolve(to, &self.resolver, self.timeout).await?;
        let mut last: Option<Error> = None;
        for addr in addrs {
            if let Err(denied) = policy.check_target(addr, &self.own) {
                log::debug!("not connecting to {addr}: {}", denied.message());
                last = Some(Error::Denied(denied));
                continue;
            }
            match timed(self.timeout, Async::<TcpStream>::connect(addr)).await {
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
}

/// Resolve `a`: IP literals directly, names through `resolver`, the wait
/// bounded by `limit`. An empty answer is an error.
async fn resolve(
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

/// A connection to an origin, kept between requests to the same origin.
pub(crate) struct Upstream {
    /// The socket.
    pub(crate) io: Async<TcpStream>,
    /// Received bytes not yet consumed.
    pub(crate) buf: Buffer,
    /// The origin it is connected to.
    pub(crate) origin: Authority,
}

impl Upstream {
    /// Whether this kept connection still looks usable: no bytes and no
    /// end-of-stream waiting (a server that closed an idle connection).
    pub(crate) fn still_open(&self) -> bool {
        let mut probe = [0u8; 1];
        self.buf.is_empty()
            && matches!(self.io.get_ref().peek(&mut probe),
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn system_resolver_knows_localhost_and_literals_skip_it() {
        let r = system_resolver(1);
        let a = Authority {
            host: "localhost".into(),
            port: 8080,
        };
        let addrs = smol::block_on(resolve(&a, &r, Duration::from_secs(10))).unwrap();
        assert!(
            addrs
                .iter()
                .all(|s| s.ip().is_loopback() && s.port() == 8080),
            "{addrs:?}"
        );
        let failing: Resolver = Arc::new(|_: &str, _: u16| {
            Box::pin(async { Err(io::Error::other("must not be asked")) }) as Lookup
        });
        let lit = Authority {
            host: "::1".into(),
            port: 1,
        };
        let addrs = smol::block_on(resolve(&lit, &failing, Duration::from_secs(1))).unwrap();
        assert_eq!(addrs, vec!["[::1]:1".parse().unwrap()]);
        let name = Authority {
            host: "example.invalid".into(),
            port: 1,
        };
        let err = smol::block_on(resolve(&name, &failing, Duration::from_secs(1))).unwrap_err();
        assert!(
            err.message()
                .contains("could not resolve host example.invalid"),
            "{}",
            err.message()
        );
    }
}
