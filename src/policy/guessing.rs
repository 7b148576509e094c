//! Password guessing: wrong proxy credentials cost per client address.
//! The first [`FREE_FAILURES`] failures within [`GUESS_WINDOW`] each wait
//! the base pause (`Config::auth_fail_delay`, 1 s); every further one
//! waits twice as long as the one before, up to [`MAX_FACTOR`] times the
//! base, and the answers to one address come one after another, so
//! parallel guesses gain nothing. A right password is never held here.
//! The table is bounded ([`MAX_TRACKED`]); the address that failed least
//! recently is forgotten first.
//!
//! Holding the answers alone would not slow a guesser who does not wait
//! for them (many connections at once, a quick `200` telling the right
//! guess): so while [`MAX_WAITING`] wrong guesses from one address are
//! still waiting, that address's credentials are not checked at all
//! ([`Guesses::flooding`]; `conn.rs` answers 429). Its guessing rate is
//! then bounded by the pauses, whatever its parallelism.

use std::net::IpAddr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use super::acl::canonical;

/// Failures from one address within [`GUESS_WINDOW`] that wait only the
/// base pause: a person mistyping a password a few times is not punished.
pub const FREE_FAILURES: u32 = 5;
/// An address with no failure for this long starts afresh.
pub const GUESS_WINDOW: Duration = Duration::from_secs(600);
/// The longest pause, as a multiple of the base pause (8 s at the default
/// 1 s): bounds how long one guess holds its connection.
pub const MAX_FACTOR: u32 = 8;
/// Wrong guesses from one address that may wait for their answers at
/// once; beyond it the address's credentials are not checked until some
/// are answered. Above a household's worst (20 devices retrying a stale
/// password at once).
pub const MAX_WAITING: u32 = 32;
/// Addresses remembered: enough for a household and a scan of a /22;
/// beyond it the least recent is evicted (each entry is ~48 bytes).
pub const MAX_TRACKED: usize = 1024;

#[derive(Debug)]
struct Entry {
    ip: IpAddr,
    failures: u32,
    last: Instant,
    /// When the last answer to this address is due: the next one waits
    /// for it, so parallel failures are answered one by one.
    free_at: Instant,
    /// Failures whose answer is still waiting.
    waiting: u32,
}

/// The failures of recent client addresses.
#[derive(Debug)]
pub struct Guesses {
    base: Duration,
    capacity: usize,
    table: Mutex<Vec<Entry>>,
    /// Entries with [`MAX_WAITING`] guesses waiting (changed under the
    /// lock): when 0, as almost always, [`Guesses::flooding`] needs no
    /// lock, so an authenticated request pays one atomic load.
    flooding: AtomicU32,
}

impl Guesses {
    /// A table of up to [`MAX_TRACKED`] addresses, pausing `base` per
    /// failure before the growth begins.
    pub fn new(base: Duration) -> Guesses {
        Guesses::with_capacity(base, MAX_TRACKED)
    }

    /// As [`new`](Self::new) with `capacity` addresses (tests).
    pub fn with_capacity(base: Duration, capacity: usize) -> Guesses {
        Guesses {
            base,
            capacity: capacity.max(1),
            table: Mutex::new(Vec::new()),
            flooding: AtomicU32::new(0),
        }
    }

    fn table(&self) -> std::sync::MutexGuard<'_, Vec<Entry>> {
        match self.table.lock() {
            Ok(t) => t,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// Record a failure from `ip` at `now`. Returns how long to wait
    /// before answering it and how many failures `ip` has in the window;
    /// it counts as waiting until the [`Waiting`] guard is dropped.
    pub fn fail(&self, ip: IpAddr, now: Instant) -> (Duration, u32, Waiting<'_>) {
        let ip = canonical(ip);
        let mut t = self.table();
        let i = match t.iter().position(|e| e.ip == ip) {
            Some(i) => i,
            None => {
                if t.len() >= self.capacity
                    && let Some(oldest) = (0..t.len()).min_by_key(|&i| t[i].last)
                {
                    let gone = t.swap_remove(oldest);
                    if gone.waiting >= MAX_WAITING {
                        self.flooding.fetch_sub(1, Ordering::Relaxed);
                    }
                }
                t.push(Entry {
                    ip,
                    failures: 0,
                    last: now,
                    free_at: now,
                    waiting: 0,
                });
                t.len() - 1
            }
        };
        let e = &mut t[i];
        if now.saturating_duration_since(e.last) > GUESS_WINDOW {
            e.failures = 0;
        }
        e.failures = e.failures.saturating_add(1);
        e.waiting = e.waiting.saturating_add(1);
        if e.waiting == MAX_WAITING {
            self.flooding.fetch_add(1, Ordering::Relaxed);
        }
        e.last = now;
        let extra = e
            .failures
            .saturating_sub(FREE_FAILURES)
            .min(MAX_FACTOR.ilog2());
        let pause = self.base * (1u32 << extra).min(MAX_FACTOR);
        e.free_at = e.free_at.max(now) + pause;
        (e.free_at - now, e.failures, Waiting { g: self, ip })
    }

    /// Whether [`MAX_WAITING`] wrong guesses from `ip` wait for answers:
    /// its credentials must then not be checked.
    pub fn flooding(&self, ip: IpAddr) -> bool {
        if self.flooding.load(Ordering::Relaxed) == 0 {
            return false;
        }
        let ip = canonical(ip);
        self.table()
            .iter()
            .any(|e| e.ip == ip && e.waiting >= MAX_WAITING)
    }

    /// Addresses remembered now.
    pub fn len(&self) -> usize {
        self.table().len()
    }

    /// Whether no address is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A wrong guess whose answer is waiting; dropped when it is answered
/// (or its connection is gone).
#[derive(Debug)]
pub struct Waiting<'a> {
    g: &'a Guesses,
    ip: IpAddr,
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        if let Some(e) = self.g.table().iter_mut().find(|e| e.ip == self.ip) {
            if e.waiting == MAX_WAITING {
                self.g.flooding.fetch_sub(1, Ordering::Relaxed);
            }
            e.waiting = e.waiting.saturating_sub(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: Duration = Duration::from_millis(100);

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn pauses_grow_after_the_free_failures_and_queue_per_address() {
        let g = Guesses::new(BASE);
        let t0 = Instant::now();
        let a = ip("192.168.1.5");
        // All at the same instant, as parallel guesses arrive: each waits
        // for the one before it.
        let waits: Vec<u64> = (0..10)
            .map(|_| g.fail(a, t0).0.as_millis() as u64)
            .collect();
        assert_eq!(
            waits,
            [100, 200, 300, 400, 500, 700, 1100, 1900, 2700, 3500]
        );
        // Another address is not affected.
        let (wait, n, _) = g.fail(ip("192.168.1.6"), t0);
        assert_eq!((wait, n), (BASE, 1));
        // IPv4 on a [::] socket is the same address.
        assert_eq!(g.fail(ip("::ffff:192.168.1.5"), t0).1, 11);
    }

    #[test]
    fn sequential_failures_wait_their_own_pause_only() {
        let g = Guesses::new(BASE);
        let a = ip("10.0.0.1");
        let mut now = Instant::now();
        let mut waits = Vec::new();
        for _ in 0..10 {
            let (w, _, _) = g.fail(a, now);
            waits.push(w.as_millis() as u64);
            now += w;
        }
        assert_eq!(waits, [100, 100, 100, 100, 100, 200, 400, 800, 800, 800]);
    }

    #[test]
    fn an_address_quiet_for_the_window_starts_afresh() {
        let g = Guesses::new(BASE);
        let a = ip("10.0.0.2");
        let t0 = Instant::now();
        for _ in 0..8 {
            g.fail(a, t0);
        }
        let later = t0 + GUESS_WINDOW + Duration::from_secs(60);
        let (wait, n, _) = g.fail(a, later);
        assert_eq!((wait, n), (BASE, 1));
    }

    #[test]
    fn an_address_with_too_many_waiting_guesses_is_flooding_until_answered() {
        let g = Guesses::new(BASE);
        let (a, b) = (ip("10.0.0.7"), ip("10.0.0.8"));
        let t0 = Instant::now();
        let mut waiting: Vec<_> = (0..MAX_WAITING - 1).map(|_| g.fail(a, t0).2).collect();
        assert!(!g.flooding(a));
        waiting.push(g.fail(a, t0).2);
        assert!(g.flooding(a));
        assert!(g.flooding(ip("::ffff:10.0.0.7")));
        assert!(!g.flooding(b), "another address is not affected");
        assert_eq!(g.flooding.load(Ordering::Relaxed), 1);
        // One answered: below the bound again.
        waiting.pop();
        assert!(!g.flooding(a));
        drop(waiting);
        // Answered guesses still count as failures in the window.
        assert_eq!(g.fail(a, t0).1, MAX_WAITING + 1);
        assert!(!g.flooding(a));
        assert_eq!(g.flooding.load(Ordering::Relaxed), 0);
        // An evicted flooder no longer counts.
        let small = Guesses::with_capacity(BASE, 1);
        let held: Vec<_> = (0..MAX_WAITING).map(|_| small.fail(a, t0).2).collect();
        assert!(small.flooding(a));
        let _other = small.fail(b, t0 + Duration::from_millis(1));
        assert!(!small.flooding(a));
        assert_eq!(small.flooding.load(Ordering::Relaxed), 0);
        drop(held);
        assert_eq!(small.flooding.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn the_table_is_bounded_and_evicts_the_least_recent() {
        let g = Guesses::with_capacity(BASE, 3);
        let t0 = Instant::now();
        let at = |ms| t0 + Duration::from_millis(ms);
        g.fail(ip("10.0.0.1"), at(0));
        g.fail(ip("10.0.0.2"), at(1));
        g.fail(ip("10.0.0.3"), at(2));
        // 10.0.0.1 fails again: now 10.0.0.2 is the least recent.
        assert_eq!(g.fail(ip("10.0.0.1"), at(3)).1, 2);
        g.fail(ip("10.0.0.4"), at(4));
        assert_eq!(g.len(), 3);
        assert_eq!(g.fail(ip("10.0.0.1"), at(5)).1, 3, "kept");
        assert_eq!(
            g.fail(ip("10.0.0.2"), at(6)).1,
            1,
            "evicted, counted afresh"
        );
        assert_eq!(g.len(), 3);
        assert_eq!(Guesses::new(BASE).len(), 0);
        for i in 0..(MAX_TRACKED as u32 + 50) {
            g.fail(IpAddr::from(i.to_be_bytes()), at(10));
        }
        assert_eq!(g.len(), 3);
        let big = Guesses::new(BASE);
        for i in 0..(MAX_TRACKED as u32 + 50) {
            big.fail(IpAddr::from(i.to_be_bytes()), at(10));
        }
        assert_eq!(big.len(), MAX_TRACKED);
    }
}
