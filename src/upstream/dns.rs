//! `--dns-server`: a DNS client on the executor instead of getaddrinfo's
//! blocking threads. A name is looked up in the hosts file first (read at
//! start and on SIGHUP), then in a TTL cache (capped in time and size,
//! negative answers included, RFC 2308), then asked of each server in turn:
//! A and AAAA in parallel over UDP from a fresh socket (a new random
//! source port from the kernel) with a random ID, TCP when the answer is
//! truncated. Only the server's own address can answer (connected
//! sockets), and only a reply matching our ID and question counts
//! (`dns_wire.rs`); others are ignored while we keep waiting.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};
use std::io;
use std::net::{IpAddr, SocketAddr, TcpStream, UdpSocket};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use futures_lite::{AsyncReadExt, AsyncWriteExt, future};
use smol::Async;

use super::dns_wire::{NXDOMAIN, Reply, TYPE_A, TYPE_AAAA, WireError, encode_query, parse_reply};
use crate::buffer::timed;

/// Wait for one answer from one server before asking again.
pub const DNS_TRY_TIMEOUT: Duration = Duration::from_secs(2);
/// Times each server is asked before the next one is.
pub const DNS_TRIES: usize = 2;
/// Longest a positive answer is kept, whatever its TTL: a household
/// router should notice moved hosts within minutes.
pub const DNS_MAX_TTL: Duration = Duration::from_secs(3600);
/// Longest a negative answer is kept (RFC 2308 §5 allows hours; a typo
/// fixed on the server should not stay broken here for long).
pub const DNS_MAX_NEGATIVE_TTL: Duration = Duration::from_secs(300);
/// How long a negative answer without an SOA is kept. RFC 2308 §5 says
/// such answers SHOULD NOT be cached, against loops between caching
/// servers; this is a stub at the end of the chain, and home routers
/// answer AAAA for names they know only an IPv4 address of with exactly
/// that, so without a short stay every new connection would ask again.
pub const DNS_NEGATIVE_NO_SOA: Duration = Duration::from_secs(10);
/// Names × types the cache holds; when full, expired entries go first,
/// then the oldest.
pub const DNS_CACHE_ENTRIES: usize = 1024;
/// Largest UDP answer read; we send no EDNS, so servers keep to 512
/// bytes (RFC 1035 §4.2.1) and truncate beyond it.
const MAX_UDP_ANSWER: usize = 1232;
/// Largest hosts file read (a hosts-file blocklist can be large).
pub const MAX_HOSTS_BYTES: u64 = 8 * 1024 * 1024;

/// A cached answer: addresses, or none (a negative answer).
struct Entry {
    stored: Instant,
    expires: Instant,
    addrs: Vec<IpAddr>,
}

/// The client: servers, hosts file, cache.
pub(crate) struct Client {
    servers: Vec<SocketAddr>,
    hosts_path: PathBuf,
    hosts: RwLock<HashMap<String, Vec<IpAddr>>>,
    cache: Mutex<HashMap<(String, u16), Entry>>,
}

/// Why one question got no usable answer.
enum Failure {
    /// The name or type does not exist.
    Negative,
    /// No server answered usefully.
    Io(io::Error),
}

impl Client {
    /// A client asking `servers`, reading `hosts_path` now.
    pub(crate) fn new(servers: Vec<SocketAddr>, hosts_path: PathBuf) -> Arc<Client> {
        let c = Client {
            servers,
            hosts_path,
            hosts: RwLock::default(),
            cache: Mutex::default(),
        };
        c.reload();
        Arc::new(c)
    }

    /// Read the hosts file again (SIGHUP). A missing file means no entries.
    pub(crate) fn reload(&self) {
        let table = match read_hosts(&self.hosts_path) {
            Ok(t) => t,
            Err(e) => {
                log::warn!("cannot read {}: {e}", self.hosts_path.display());
                HashMap::new()
            }
        };
        match self.hosts.write() {
            Ok(mut h) => *h = table,
            Err(p) => *p.into_inner() = table,
        }
    }

    /// The addresses of `host` (lower-case, no trailing dot), IPv6 first.
    pub(crate) async fn lookup(&self, host: &str) -> io::Result<Vec<IpAddr>> {
        let known = match self.hosts.read() {
            Ok(h) => h.get(host).cloned(),
            Err(p) => p.into_inner().get(host).cloned(),
        };
        if let Some(ips) = known {
            return Ok(ips);
        }
        let (v6, v4) = future::zip(self.ask(host, TYPE_AAAA), self.ask(host, TYPE_A)).await;
        match (v6, v4) {
            (Ok(mut a), Ok(b)) => {
                a.extend(b);
                Ok(a)
            }
            (Ok(a), Err(_)) | (Err(_), Ok(a)) => Ok(a),
            (Err(Failure::Io(e)), _) | (_, Err(Failure::Io(e))) => Err(e),
            (Err(Failure::Negative), Err(Failure::Negative)) => {
                Err(io::Error::new(io::ErrorKind::NotFound, "no such host"))
            }
        }
    }

    /// One type for one name: the cache, else the servers.
    async fn ask(&self, host: &str, qtype: u16) -> Result<Vec<IpAddr>, Failure> {
        let key = (host.to_string(), qtype);
        if let Some(e) = lock(&self.cache).get(&key)
            && e.expires > Instant::now()
        {
            return match e.addrs.is_empty() {
                true => Err(Failure::Negative),
                false => Ok(e.addrs.clone()),
            };
        }
        let mut last = io::Error::other("no DNS server configured");
        for &server in &self.servers {
            for _ in 0..DNS_TRIES {
                match query(server, host, qtype).await {
                    Ok(Reply::Answer {
                        rcode,
                        addrs,
                        negative_ttl,
                    }) if rcode == 0 || rcode == NXDOMAIN => {
                        if addrs.is_empty() {
                            let keep = negative_ttl.map_or(DNS_NEGATIVE_NO_SOA, |s| {
                                Duration::from_secs(s.into()).min(DNS_MAX_NEGATIVE_TTL)
                            });
                            self.store(key, keep, Vec::new());
                            return Err(Failure::Negative);
                        }
                        let ttl = addrs.iter().map(|a| a.1).min().unwrap_or(0);
                        let ips: Vec<IpAddr> = addrs.into_iter().map(|a| a.0).collect();
                        self.store(
                            key,
                            Duration::from_secs(ttl.into()).min(DNS_MAX_TTL),
                            ips.clone(),
                        );
                        return Ok(ips);
                    }
                    Ok(Reply::Answer { rcode, .. }) => {
                        // SERVFAIL, REFUSED…: the next server may do better.
                        last =
                            io::Error::other(format!("DNS server {server} answered rcode {rcode}"));
                        break;
                    }
                    Ok(Reply::Truncated) => {
                        last = io::Error::other(format!("DNS server {server} truncated over TCP"));
                        break;
                    }
                    Err(e) => last = e,
                }
            }
        }
        Err(Failure::Io(last))
    }

    fn store(&self, key: (String, u16), ttl: Duration, addrs: Vec<IpAddr>) {
        if ttl.is_zero() {
            return;
        }
        let mut c = lock(&self.cache);
        if c.len() >= DNS_CACHE_ENTRIES && !c.contains_key(&key) {
            let now = Instant::now();
            c.retain(|_, e| e.expires > now);
            if c.len() >= DNS_CACHE_ENTRIES
                && let Some(k) = c
                    .iter()
                    .min_by_key(|(_, e)| e.stored)
                    .map(|(k, _)| k.clone())
            {
                c.remove(&k);
            }
        }
        let stored = Instant::now();
        let expires = stored + ttl;
        c.insert(
            key,
            Entry {
                stored,
                expires,
                addrs,
            },
        );
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// A random 16-bit query ID: std's randomly keyed SipHash over a counter
/// and the time (no new crate; not for cryptography, for unguessable IDs).
fn random_id() -> u16 {
    static N: AtomicU32 = AtomicU32::new(0);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u32(N.fetch_add(1, Ordering::Relaxed));
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    h.finish() as u16
}

/// Ask `server` once: UDP, then TCP if truncated; bounded by
/// [`DNS_TRY_TIMEOUT`].
async fn query(server: SocketAddr, host: &str, qtype: u16) -> io::Result<Reply> {
    let id = random_id();
    let q = encode_query(id, host, qtype)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "not a valid host name"))?;
    let bad =
        |e: WireError| io::Error::other(format!("bad answer from DNS server {server}: {e:?}"));
    let udp = timed(DNS_TRY_TIMEOUT, async {
        let any = SocketAddr::new(
            if server.is_ipv6() {
                std::net::Ipv6Addr::UNSPECIFIED.into()
            } else {
                std::net::Ipv4Addr::UNSPECIFIED.into()
            },
            0,
        );
        // Port 0: the kernel picks a random ephemeral port per socket.
        let s = Async::<UdpSocket>::bind(any)?;
        // Connected: datagrams from any other address are dropped.
        s.get_ref().connect(server)?;
        s.send(&q).await?;
        let mut buf = vec![0u8; MAX_UDP_ANSWER];
        loop {
            let n = s.recv(&mut buf).await?;
            match parse_reply(buf.get(..n).unwrap_or_default(), id, host, qtype) {
                Err(WireError::NotOurs) => log::debug!("ignored a stray DNS answer from {server}"),
                other => return other.map_err(bad),
            }
        }
    })
    .await?;
    if udp != Reply::Truncated {
        return Ok(udp);
    }
    timed(DNS_TRY_TIMEOUT, async {
        let s = Async::<TcpStream>::connect(server).await?;
        let mut w = &s;
        let mut msg = (q.len() as u16).to_be_bytes().to_vec();
        msg.extend_from_slice(&q);
        w.write_all(&msg).await?;
        let mut len = [0u8; 2];
        let mut r = &s;
        r.read_exact(&mut len).await?;
        // RFC 1035 §4.2.2: a two-byte length bounds the answer.
        let mut answer = vec![0u8; usize::from(u16::from_be_bytes(len))];
        r.read_exact(&mut answer).await?;
        parse_reply(&answer, id, host, qtype).map_err(bad)
    })
    .await
}

/// `IP name…` lines; `#` starts a comment. Names are lower-cased.
fn read_hosts(path: &std::path::Path) -> io::Result<HashMap<String, Vec<IpAddr>>> {
    use std::io::Read;
    let mut text = String::new();
    match std::fs::File::open(path) {
        Ok(f) => f.take(MAX_HOSTS_BYTES).read_to_string(&mut text)?,
        Err(e) if e.kind() == io::ErrorKind::NotFound => 0,
        Err(e) => return Err(e),
    };
    Ok(parse_hosts(&text))
}

fn parse_hosts(text: &str) -> HashMap<String, Vec<IpAddr>> {
    let mut table: HashMap<String, Vec<IpAddr>> = HashMap::new();
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or("");
        let mut words = line.split_whitespace();
        let Some(Ok(ip)) = words.next().map(str::parse::<IpAddr>) else {
            continue;
        };
        for name in words {
            let ips = table.entry(name.to_ascii_lowercase()).or_default();
            if !ips.contains(&ip) {
                ips.push(ip);
            }
        }
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_lines() {
        let t = parse_hosts(
            "127.0.0.1 localhost Local.Test # c\n::1 localhost\n# 1.2.3.4 x\nbad line\n0.0.0.0 ads.test\n",
        );
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert_eq!(t["localhost"], [ip("127.0.0.1"), ip("::1")]);
        assert_eq!(t["local.test"], [ip("127.0.0.1")]);
        assert_eq!(t["ads.test"], [ip("0.0.0.0")]);
        assert!(!t.contains_key("x") && !t.contains_key("line"));
    }

    #[test]
    fn ids_vary() {
        let ids: std::collections::HashSet<u16> = (0..64).map(|_| random_id()).collect();
        assert!(ids.len() > 56, "{}", ids.len());
    }

    #[test]
    fn the_cache_is_bounded_and_drops_the_oldest() {
        let c = Client::new(vec![], "/nonexistent/hosts".into());
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        let long = Duration::from_secs(600);
        for i in 0..=DNS_CACHE_ENTRIES {
            c.store((format!("{i}.test"), TYPE_A), long, vec![ip]);
        }
        let cache = lock(&c.cache);
        assert_eq!(cache.len(), DNS_CACHE_ENTRIES);
        assert!(!cache.contains_key(&("0.test".to_string(), TYPE_A)));
        assert!(cache.contains_key(&(format!("{DNS_CACHE_ENTRIES}.test"), TYPE_A)));
        drop(cache);
        // A zero TTL is not kept; a cached negative answer is served.
        c.store(("zero.test".into(), TYPE_A), Duration::ZERO, vec![ip]);
        assert!(!lock(&c.cache).contains_key(&("zero.test".to_string(), TYPE_A)));
        c.store(("nx.test".into(), TYPE_A), long, vec![]);
        c.store(("nx.test".into(), TYPE_AAAA), long, vec![]);
        let e = smol::block_on(c.lookup("nx.test")).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::NotFound);
    }
}
