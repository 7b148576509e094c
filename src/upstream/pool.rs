//! Idle origin connections shared across client connections: one small
//! pool per executor thread (thread-local: no lock on the hot path), so a
//! client that opens a connection per request still costs the origin what a
//! keep-alive request costs. An entry is keyed by the route it was dialed
//! for (origin or HTTP parent, the parent in between and our credentials
//! for it, and the transport), and by the policy generation it was dialed
//! under: a SIGHUP that reloads the rules makes every pooled connection
//! unusable, so the egress guard's answer is never reused past a change.
//! A connection comes here only after its response was read to its end and
//! both sides allowed reuse (`forward.rs`); tunnels never do. Idle entries
//! hold no timer or task: they expire when the pool is next used on that
//! thread, or at the latest when the thread's one [`sweeper`] runs (a
//! single timer, armed only while the pool holds something); a taken one is
//! probed first (a non-blocking peek).

use std::cell::{Cell, RefCell};
use std::future::poll_fn;
use std::sync::atomic::{AtomicU32, Ordering};
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

use smol::Timer;

use crate::http::target::Authority;
use crate::upstream::Upstream;
use crate::upstream::chain::{Credentials, Kind, Parent};

/// Idle connections kept per route and thread: a browser opens up to six
/// connections per host, and a household's devices hit the same few
/// origins (a CDN, the package mirror) at once; connections that finish
/// together go idle together, and a smaller bound would close them only
/// for the next clients to dial again. Half the thread's bound, so one busy
/// origin cannot take all of it.
pub(crate) const IDLE_PER_ROUTE: usize = 64;
/// Idle connections kept per thread in all: each is a descriptor and a
/// socket buffer at the origin; a household's proxy talks to few origins
/// at once.
pub(crate) const IDLE_PER_THREAD: usize = 128;
/// How long an idle connection may wait for its next request. Shorter than
/// the keep-alive timeouts servers commonly use (Apache httpd 5 s, nginx
/// 75 s, IIS 120 s), so we give a connection up before the server does and
/// seldom send a request into one the server is closing.
pub(crate) const IDLE_TIME: Duration = Duration::from_secs(4);

/// Bumped when the rules change (SIGHUP): older entries are not reused.
static GENERATION: AtomicU32 = AtomicU32::new(0);

/// Forget every pooled connection (each thread drops its own at its next
/// use of the pool): the policy or the name resolution changed, and a
/// connection the old rules allowed may not be allowed now.
pub(crate) fn forget_all() {
    GENERATION.fetch_add(1, Ordering::Relaxed);
}

/// How the bytes travel on the connection: a TLS upstream (an inspected
/// origin) has a kind of its own so it is never mixed with a plain one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Transport {
    /// Plain TCP.
    Plain,
    /// TLS to an inspected origin (`--inspect`), through its plaintext pipe.
    Tls,
}

/// The parent proxy a connection goes through, as far as reuse goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Via {
    kind: Kind,
    addr: Authority,
    auth: Option<Credentials>,
}

/// The route a connection was dialed for: only a request with the same
/// route may use it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Key {
    /// Plain (or, later, TLS).
    pub(crate) transport: Transport,
    /// The origin; for requests forwarded to an HTTP parent in absolute
    /// form, the parent itself (any origin's requests may use it).
    pub(crate) to: Authority,
    /// The parent in between, with the credentials we gave it.
    pub(crate) via: Option<Via>,
    /// The rules in force when it was dialed (see [`forget_all`]).
    generation: u32,
}

impl Key {
    /// The route to `to` through `hop` (none: directly), plain TCP.
    #[cfg(test)]
    pub(crate) fn plain(to: &Authority, hop: Option<&Parent>) -> Key {
        Key::new(Transport::Plain, to, hop)
    }

    /// The route to `to` through `hop` (none: directly) over `transport`.
    pub(crate) fn new(transport: Transport, to: &Authority, hop: Option<&Parent>) -> Key {
        Key {
            transport,
            to: to.clone(),
            via: hop.map(|p| Via {
                kind: p.kind,
                addr: p.addr.clone(),
                auth: p.auth.clone(),
            }),
            generation: GENERATION.load(Ordering::Relaxed),
        }
    }
}

struct Entry {
    up: Upstream,
    since: Instant,
}

thread_local! {
    /// Oldest first.
    static POOL: RefCell<Vec<Entry>> = const { RefCell::new(Vec::new()) };
    /// The thread's sweeper, waiting for the pool to hold something.
    static SWEEPER: Cell<Option<Waker>> = const { Cell::new(None) };
}

/// Close this thread's idle connections once they have idled
/// [`IDLE_TIME`], so an idle proxy holds no descriptor to an origin for
/// long. Run once per executor thread, beside its executor (never as a
/// task another thread could steal). While the pool is empty it waits
/// without a timer.
pub(crate) async fn sweeper() {
    let mut timer = Timer::never();
    loop {
        let oldest = poll_fn(|cx| {
            let oldest = POOL.with(|p| p.borrow().first().map(|e| e.since));
            match oldest {
                Some(at) => Poll::Ready(at),
                None => {
                    SWEEPER.set(Some(cx.waker().clone()));
                    Poll::Pending
                }
            }
        })
        .await;
        timer.set_at(oldest + IDLE_TIME);
        (&mut timer).await;
        let generation = GENERATION.load(Ordering::Relaxed);
        POOL.with(|p| sweep(&mut p.borrow_mut(), Instant::now(), generation));
    }
}

/// Drop the entries that may no longer be used (idle too long, or dialed
/// under rules since replaced).
fn sweep(pool: &mut Vec<Entry>, now: Instant, generation: u32) {
    pool.retain(|e| e.up.key.generation == generation && now.duration_since(e.since) < IDLE_TIME);
}

/// An idle connection for `key`, most recently used first. With `probe`,
/// one that looks closed or holds unexpected bytes is dropped and the next
/// tried; without, the caller retries a request that fails before any
/// response byte (idempotent requests only, RFC 9110 §9.2.2).
pub(crate) fn take(key: &Key, probe: bool) -> Option<Upstream> {
    let now = Instant::now();
    let generation = GENERATION.load(Ordering::Relaxed);
    POOL.try_with(|p| {
        let mut pool = p.borrow_mut();
        sweep(&mut pool, now, generation);
        while let Some(i) = pool.iter().rposition(|e| e.up.key == *key) {
            let e = pool.remove(i);
            if !probe || e.up.still_open() {
                return Some(e.up);
            }
        }
        None
    })
    .ok()
    .flatten()
}

/// Keep `up` for the next request on its route, within the bounds (the
/// oldest idle entry of its route, or of the thread, makes room).
pub(crate) fn put(mut up: Upstream) {
    up.buf.disarm();
    let now = Instant::now();
    let generation = GENERATION.load(Ordering::Relaxed);
    let _ = POOL.try_with(|p| {
        let mut pool = p.borrow_mut();
        sweep(&mut pool, now, generation);
        let same = pool.iter().filter(|e| e.up.key == up.key).count();
        if same >= IDLE_PER_ROUTE
            && let Some(i) = pool.iter().position(|e| e.up.key == up.key)
        {
            pool.remove(i);
        }
        if pool.len() >= IDLE_PER_THREAD {
            pool.remove(0);
        }
        pool.push(Entry { up, since: now });
    });
    if let Ok(Some(w)) = SWEEPER.try_with(Cell::take) {
        w.wake();
    }
}

/// The upstream connection a client connection keeps between its requests
/// (reused first: no probe of the pool, no other client can take it);
/// when the client connection ends, it goes to the shared pool.
#[derive(Default)]
pub(crate) struct Kept(pub(crate) Option<Upstream>);

impl Drop for Kept {
    fn drop(&mut self) {
        if let Some(up) = self.0.take() {
            put(up);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::buffer::Buffer;
    use smol::Async;
    use std::net::{TcpListener, TcpStream};

    fn origin(port: u16) -> Authority {
        Authority {
            host: "localhost".into(),
            port,
        }
    }

    /// A connected pair: the pooled side, and the server side to close.
    fn conn(l: &TcpListener, key: &Key) -> (Upstream, TcpStream) {
        let io = Async::<TcpStream>::new(TcpStream::connect(l.local_addr().unwrap()).unwrap());
        let up = Upstream {
            io: io.unwrap(),
            buf: Buffer::new(),
            key: key.clone(),
        };
        (up, l.accept().unwrap().0)
    }

    #[test]
    fn keyed_bounded_probed_and_forgotten() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let a = Key::plain(&origin(1), None);
        let b = Key::plain(&origin(2), None);
        assert!(take(&a, true).is_none());
        let (up, _s1) = conn(&l, &a);
        put(up);
        assert!(take(&b, true).is_none(), "another route");
        let tls = Key::new(Transport::Tls, &origin(1), None);
        assert!(take(&tls, true).is_none(), "TLS never takes a plain one");
        assert!(take(&a, true).is_some());
        assert!(take(&a, true).is_none(), "taken once");
        let (up, _s0) = conn(&l, &tls);
        put(up);
        assert!(take(&a, true).is_none(), "plain never takes a TLS one");
        assert!(take(&tls, true).is_some());

        // A parent in between, or other credentials, is another route.
        let parent = Parent::parse("http://u:p@localhost:3128").unwrap();
        let other = Parent::parse("http://u:q@localhost:3128").unwrap();
        let via = Key::plain(&origin(1), Some(&parent));
        let (up, _s2) = conn(&l, &via);
        put(up);
        assert!(take(&a, true).is_none());
        assert!(take(&Key::plain(&origin(1), Some(&other)), true).is_none());
        assert!(take(&via, true).is_some());

        // Closed by the server while idle: the probe drops it.
        let (up, s3) = conn(&l, &a);
        put(up);
        drop(s3);
        std::thread::sleep(Duration::from_millis(50));
        assert!(take(&a, true).is_none());

        // Bounded per route.
        let mut servers = Vec::new();
        for _ in 0..IDLE_PER_ROUTE + 3 {
            let (up, s) = conn(&l, &a);
            servers.push(s);
            put(up);
        }
        let mut n = 0;
        while take(&a, true).is_some() {
            n += 1;
        }
        assert_eq!(n, IDLE_PER_ROUTE);

        // Rules changed: nothing older is reused.
        let (up, _s4) = conn(&l, &a);
        put(up);
        forget_all();
        assert!(take(&a, true).is_none());

        // Idle too long: swept.
        let a = Key::plain(&origin(1), None);
        let (up, _s6) = conn(&l, &a);
        put(up);
        POOL.with(|p| {
            let mut pool = p.borrow_mut();
            let generation = GENERATION.load(Ordering::Relaxed);
            sweep(&mut pool, Instant::now() + IDLE_TIME / 2, generation);
            assert_eq!(pool.len(), 1);
            sweep(&mut pool, Instant::now() + IDLE_TIME, generation);
            assert!(pool.is_empty());
        });

        // Bounded per thread: the oldest goes.
        let mut servers = Vec::new();
        for port in 1..=IDLE_PER_THREAD as u16 + 2 {
            let (up, s) = conn(&l, &Key::plain(&origin(port), None));
            servers.push(s);
            put(up);
        }
        assert_eq!(POOL.with(|p| p.borrow().len()), IDLE_PER_THREAD);
        assert!(take(&Key::plain(&origin(1), None), true).is_none());
        assert!(take(&Key::plain(&origin(3), None), true).is_some());

        // Kept goes to the pool when dropped.
        let b = Key::plain(&origin(2), None);
        let (up, _s5) = conn(&l, &b);
        drop(Kept(Some(up)));
        assert!(take(&b, false).is_some());
    }
}
