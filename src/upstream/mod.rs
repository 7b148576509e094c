//! Reaching an upstream, the one way CONNECT and forwarding both use: the
//! [`Dialer`] resolves a name (on a small, fixed pool of threads:
//! getaddrinfo blocks, and a router cannot afford hundreds of threads; its
//! answers kept [`SYSTEM_CACHE_TIME`]; or an injected resolver in tests),
//! checks every address against the egress guard, and connects by Happy
//! Eyeballs (`eyeballs.rs`) — directly, or through the parent proxy that
//! `chain.rs` names for the host. Also the [`Upstream`] connection kept
//! between requests on the same route (`pool.rs` shares idle ones).

use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr, TcpStream, ToSocketAddrs};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use futures_lite::FutureExt;
use smol::Async;

use crate::buffer::{Buffer, timed};
use crate::error::Error;
use crate::http::target::Authority;
use crate::policy::{Policy, PolicyConfig};

pub mod chain;
pub(crate) mod dns;
pub mod dns_wire;
pub(crate) mod eyeballs;
pub(crate) mod pool;

use chain::{Hops, Kind, Parent, TunnelTo};

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

/// How long the system resolver's answers are reused. getaddrinfo gives
/// no TTL, so this is short: it spares the thread pool the lookups of a
/// page's burst of connections to one host, and bounds how stale an
/// answer can be.
pub const SYSTEM_CACHE_TIME: Duration = Duration::from_secs(10);
/// Names the system resolver's cache holds; beyond it the oldest goes.
pub const SYSTEM_CACHE_ENTRIES: usize = 256;

type CacheMap = HashMap<String, (Instant, Vec<IpAddr>)>;

fn lock(c: &Mutex<CacheMap>) -> std::sync::MutexGuard<'_, CacheMap> {
    c.lock().unwrap_or_else(|p| p.into_inner())
}

/// `inner` with its successful answers kept [`SYSTEM_CACHE_TIME`] (at most
/// [`SYSTEM_CACHE_ENTRIES`] names); failures are not kept.
pub(crate) fn cached(inner: Resolver) -> Resolver {
    let cache: Arc<Mutex<CacheMap>> = Arc::default();
    Arc::new(move |host: &str, port: u16| {
        let with_port =
            move |ips: &[IpAddr]| ips.iter().map(|&ip| SocketAddr::new(ip, port)).collect();
        if let Some((at, ips)) = lock(&cache).get(host)
            && at.elapsed() < SYSTEM_CACHE_TIME
        {
            let addrs: Vec<SocketAddr> = with_port(ips);
            return Box::pin(async move { Ok(addrs) }) as Lookup;
        }
        let (cache, lookup, host) = (Arc::clone(&cache), inner(host, port), host.to_string());
        Box::pin(async move {
            let addrs = lookup.await?;
            let mut c = lock(&cache);
            if c.len() >= SYSTEM_CACHE_ENTRIES {
                c.retain(|_, (at, _)| at.elapsed() < SYSTEM_CACHE_TIME);
            }
            if c.len() >= SYSTEM_CACHE_ENTRIES
                && let Some(oldest) = c
                    .iter()
                    .min_by_key(|(_, (at, _))| *at)
                    .map(|(k, _)| k.clone())
            {
                c.remove(&oldest);
            }
            c.insert(
                host,
                (Instant::now(), addrs.iter().map(SocketAddr::ip).collect()),
            );
            Ok(addrs)
        }) as Lookup
    })
}

/// The system resolver (getaddrinfo) on `threads` dedicated threads,
/// started at the first lookup (an idle proxy keeps none), behind the
/// short cache of [`cached`].
pub(crate) fn system_resolver(threads: usize) -> Resolver {
    cached(getaddrinfo_pool(threads))
}

fn getaddrinfo_pool(threads: usize) -> Resolver {
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

/// Resolve → egress check → connect, directly or through a parent.
pub(crate) struct Dialer {
    resolver: Resolver,
    /// The addresses the proxy listens on: connecting there would loop.
    own: Vec<SocketAddr>,
    /// Each lookup, each connect race, each parent handshake.
    timeout: Duration,
    /// Which parent proxy, if any, each host is reached through.
    hops: Hops,
    /// The guard for parents: only the loop check. The operator named
    /// them, so `--deny-private-targets` does not refuse a LAN parent.
    parent_guard: Policy,
    /// The `--dns-server` client, whose hosts file SIGHUP re-reads.
    dns: Option<Arc<dns::Client>>,
}

impl Dialer {
    /// A dialer using `resolver`, refusing `own` addresses, each step
    /// bounded by `timeout`, reaching hosts through `hops`.
    pub(crate) fn new(
        resolver: Resolver,
        own: Vec<SocketAddr>,
        timeout: Duration,
        hops: Hops,
    ) -> Dialer {
        let parent_guard =
            Policy::new(&PolicyConfig::default()).expect("the default policy reads no file");
        Dialer {
            resolver,
            own,
            timeout,
            hops,
            parent_guard,
            dns: None,
        }
    }

    /// The addresses the proxy listens on.
    pub(crate) fn own(&self) -> &[SocketAddr] {
        &self.own
    }

    /// Resolve with the `--dns-server` client `c` (its hosts file is
    /// re-read by [`reload`](Self::reload)).
    pub(crate) fn with_dns(mut self, c: Arc<dns::Client>) -> Dialer {
        let client = Arc::clone(&c);
        self.resolver = Arc::new(move |host: &str, port: u16| {
            let (client, host) = (Arc::clone(&client), host.to_ascii_lowercase());
            Box::pin(async move {
                let ips = client.lookup(host.trim_end_matches('.')).await?;
                Ok(ips
                    .into_iter()
                    .map(|ip| SocketAddr::new(ip, port))
                    .collect())
            }) as Lookup
        });
        self.dns = Some(c);
        self
    }

    /// SIGHUP: re-read the hosts file of the `--dns-server` client.
    pub(crate) fn reload(&self) {
        if let Some(c) = &self.dns {
            c.reload();
        }
    }

    /// The parent-proxy rules (for `route.rs`).
    pub(crate) fn hops(&self) -> &Hops {
        &self.hops
    }

    /// Connect to `to` the way the rules say: directly, or by a tunnel
    /// through its parent. Returns the socket and the address connected to
    /// (the parent's, through one).
    pub(crate) async fn dial(
        &self,
        to: &Authority,
        policy: &Policy,
    ) -> Result<(Async<TcpStream>, SocketAddr), Error> {
        self.dial_via(to, self.hops.pick(&to.host).map(|p| &**p), policy)
            .await
    }

    /// Connect to `to` directly (`hop` is `None`), or open a tunnel to it
    /// through the parent `hop`.
    pub(crate) async fn dial_via(
        &self,
        to: &Authority,
        hop: Option<&Parent>,
        policy: &Policy,
    ) -> Result<(Async<TcpStream>, SocketAddr), Error> {
        let Some(parent) = hop else {
            return self.connect(to, policy).await;
        };
        let literal = to.host.parse::<IpAddr>().ok();
        let target = match (parent.kind, literal) {
            (_, Some(ip)) => {
                let a = SocketAddr::new(ip, to.port);
                policy.check_target(a, &self.own).map_err(Error::Denied)?;
                TunnelTo::Ip(a)
            }
            // socks5://: we resolve, and the egress guard sees the address.
            (Kind::Socks5, None) => {
                let addrs = resolve(to, &self.resolver, self.timeout).await?;
                let mut allowed = addrs
                    .iter()
                    .map(|&a| (a, policy.check_target(a, &self.own)));
                match allowed.clone().find(|(_, ok)| ok.is_ok()) {
                    Some((a, _)) => TunnelTo::Ip(a),
                    None => match allowed.next() {
                        Some((_, Err(denied))) => return Err(Error::Denied(denied)),
                        _ => {
                            return Err(Error::Resolve(
                                to.host.clone(),
                                io::Error::other("no addresses"),
                            ));
                        }
                    },
                }
            }
            // The parent resolves the name: the guard applies there.
            (Kind::Http | Kind::Socks5h, None) => TunnelTo::Name(to.host.clone(), to.port),
        };
        let (io, addr) = self.dial_parent(parent).await?;
        let too_slow = async {
            smol::Timer::after(self.timeout).await;
            let name = parent.addr.to_host_port();
            Err(Error::Parent(name, "did not answer in time".into()))
        };
        chain::handshake(&io, parent, &target).or(too_slow).await?;
        Ok((io, addr))
    }

    /// A plain connection to the parent itself (for requests forwarded to
    /// an HTTP parent in absolute form). A failure names the parent.
    pub(crate) async fn dial_parent(
        &self,
        parent: &Parent,
    ) -> Result<(Async<TcpStream>, SocketAddr), Error> {
        self.connect(&parent.addr, &self.parent_guard)
            .await
            .map_err(|e| match e {
                Error::Denied(d) => Error::Denied(d),
                other => Error::Parent(
                    parent.addr.to_host_port(),
                    format!("unreachable: {}", other.message()),
                ),
            })
    }

    /// Resolve, then race the addresses `policy` allows (Happy Eyeballs).
    async fn connect(
        &self,
        to: &Authority,
        policy: &Policy,
    ) -> Result<(Async<TcpStream>, SocketAddr), Error> {
        let addrs = resolve(to, &self.resolver, self.timeout).await?;
        let allowed = |a| policy.check_target(a, &self.own).map_err(Error::Denied);
        let attempt =
            |a| Box::pin(Async::<TcpStream>::connect(a)) as eyeballs::Attempt<'_, Async<TcpStream>>;
        let (s, addr) = eyeballs::race(&addrs, self.timeout, allowed, attempt).await?;
        let _ = s.get_ref().set_nodelay(true);
        Ok((s, addr))
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

/// A connection to an origin, kept between requests on the same route.
pub(crate) struct Upstream {
    /// The socket.
    pub(crate) io: Async<TcpStream>,
    /// Received bytes not yet consumed.
    pub(crate) buf: Buffer,
    /// The route it was dialed for: the origin (or the HTTP parent proxy
    /// that requests go through: then any origin's requests may use it).
    pub(crate) key: pool::Key,
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

    #[test]
    fn the_cache_answers_repeats_and_keeps_no_failure() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let asked = Arc::new(AtomicUsize::new(0));
        let n = Arc::clone(&asked);
        let inner: Resolver = Arc::new(move |host: &str, port: u16| {
            n.fetch_add(1, Ordering::Relaxed);
            let ok = host.ends_with("a.test");
            Box::pin(async move {
                if ok {
                    Ok(vec![SocketAddr::from(([10, 0, 0, 1], port))])
                } else {
                    Err(io::Error::other("nxdomain"))
                }
            }) as Lookup
        });
        let r = cached(inner);
        let first = smol::block_on(r("a.test", 80)).unwrap();
        let again = smol::block_on(r("a.test", 443)).unwrap();
        assert_eq!(first, vec!["10.0.0.1:80".parse().unwrap()]);
        assert_eq!(again, vec!["10.0.0.1:443".parse().unwrap()]);
        assert_eq!(asked.load(Ordering::Relaxed), 1);
        assert!(smol::block_on(r("b.test", 80)).is_err());
        assert!(smol::block_on(r("b.test", 80)).is_err());
        assert_eq!(asked.load(Ordering::Relaxed), 3);
        for i in 0..SYSTEM_CACHE_ENTRIES + 10 {
            let _ = smol::block_on(r(&format!("{i}.a.test"), 80));
        }
        // Bounded: the oldest names went; the table never grew past the cap.
        let before = asked.load(Ordering::Relaxed);
        let _ = smol::block_on(r("a.test", 80));
        assert_eq!(asked.load(Ordering::Relaxed), before + 1);
    }
}
