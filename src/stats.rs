//! The proxy's counters, for the dashboard, `/status.json` and `/metrics`:
//! answers by status class, body bytes each way, the tunnels open, blocked
//! requests, a request-duration histogram, a per-minute ring of the last
//! hour, and three small "top" tables (clients by bytes, blocking rules,
//! blocked domains). The per-request path touches only 32-bit atomics, no
//! lock, no allocation and no clock read: 32-bit MIPS and ARMv6 have no
//! 64-bit atomics, so each 64-bit total is a pair of `AtomicU32` folded
//! together on read; the counters are sharded, one shard per executor
//! thread (up to [`SHARDS`]), so threads do not fight over cache lines; the
//! minute comes from the request's own end time. The top tables take a
//! short lock, but only on a block and once per client connection (not
//! per request). A [`Snapshot`] sums the shards on read.

use std::net::IpAddr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Upper bounds of the request-duration histogram, in milliseconds (the
/// last bucket, `+Inf`, is implied). Spans a cached LAN answer (5 ms) to
/// a long download or tunnel (5 min).
pub(crate) const BUCKETS_MS: [u32; 14] = [
    5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10_000, 30_000, 60_000, 300_000,
];
/// Minutes in the ring: the last hour, one slot per minute (fixed memory).
pub(crate) const RING_MINUTES: usize = 60;
/// Clients tracked by bytes. A household has a few dozen devices; when the
/// table is full the client with the fewest bytes is evicted.
pub(crate) const TOP_CLIENTS: usize = 64;
/// Blocking rules and blocked domains tracked, each; when full, the entry
/// with the smallest count is evicted for the new one.
pub(crate) const TOP_BLOCKED: usize = 128;
/// Longest key kept in a top table (a DNS name is at most 253 bytes); a
/// longer host or rule is cut, so the tables' memory is bounded.
pub(crate) const MAX_KEY: usize = 253;
/// Counter shards: threads beyond this many share shards (still correct,
/// only slower). `--threads` defaults to at most 4.
pub(crate) const SHARDS: usize = 8;
/// Status classes: index 0 is "no response sent", 1–5 are 1xx–5xx.
pub(crate) const CLASSES: [&str; 6] = ["none", "1xx", "2xx", "3xx", "4xx", "5xx"];

/// A 64-bit counter made of two 32-bit atomics. A reader can see a value
/// 2^32 too low only in the few instructions between a low word's wrap and
/// the carry into the high word (once per 4 GiB counted).
#[derive(Default)]
pub(crate) struct Counter {
    hi: AtomicU32,
    lo: AtomicU32,
}

impl Counter {
    /// Add `n` (nothing to touch for 0, e.g. a GET's upload).
    pub(crate) fn add(&self, n: u64) {
        if n == 0 {
            return;
        }
        let lo = n as u32;
        let old = self.lo.fetch_add(lo, Ordering::Relaxed);
        let carry = u32::from(old.checked_add(lo).is_none());
        let hi = ((n >> 32) as u32).wrapping_add(carry);
        if hi != 0 {
            self.hi.fetch_add(hi, Ordering::Relaxed);
        }
    }

    /// The total: the high word read on both sides of the low one.
    pub(crate) fn get(&self) -> u64 {
        loop {
            let hi = self.hi.load(Ordering::SeqCst);
            let lo = self.lo.load(Ordering::SeqCst);
            if self.hi.load(Ordering::SeqCst) == hi {
                return (u64::from(hi) << 32) | u64::from(lo);
            }
        }
    }

    fn clear(&self) {
        self.lo.store(0, Ordering::Relaxed);
        self.hi.store(0, Ordering::Relaxed);
    }
}

/// One minute of the ring.
#[derive(Default)]
struct Minute {
    /// Minutes since the epoch this slot counts (0: never used).
    stamp: AtomicU32,
    requests: AtomicU32,
    bytes: Counter,
}

/// A bounded table of the largest totals by key.
pub(crate) struct Top<K> {
    cap: usize,
    entries: Mutex<Vec<(K, u64)>>,
}

impl<K: PartialEq + Clone> Top<K> {
    /// An empty table of at most `cap` keys.
    pub(crate) fn new(cap: usize) -> Top<K> {
        Top {
            cap,
            entries: Mutex::new(Vec::new()),
        }
    }

    /// Add `n` to `key`'s total. A new key in a full table replaces the
    /// entry with the smallest total (which is then forgotten).
    pub(crate) fn add(&self, key: K, n: u64) {
        let mut e = match self.entries.lock() {
            Ok(e) => e,
            Err(poisoned) => poisoned.into_inner(),
        };
        if let Some(slot) = e.iter_mut().find(|(k, _)| *k == key) {
            slot.1 = slot.1.saturating_add(n);
        } else if e.len() < self.cap {
            e.push((key, n));
        } else if let Some(min) = e.iter_mut().min_by_key(|(_, v)| *v) {
            *min = (key, n);
        }
    }

    /// The `n` largest totals, largest first.
    pub(crate) fn top(&self, n: usize) -> Vec<(K, u64)> {
        let mut v = match self.entries.lock() {
            Ok(e) => e.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        };
        v.sort_by_key(|e| std::cmp::Reverse(e.1));
        v.truncate(n);
        v
    }
}

/// The per-request counters one thread adds to, on cache lines of its own.
#[repr(align(128))]
struct Shard {
    requests: [Counter; 6],
    up: Counter,
    down: Counter,
    buckets: [Counter; BUCKETS_MS.len() + 1],
    duration_us: Counter,
    ring: [Minute; RING_MINUTES],
}

impl Shard {
    fn new() -> Shard {
        Shard {
            requests: Default::default(),
            up: Counter::default(),
            down: Counter::default(),
            buckets: Default::default(),
            duration_us: Counter::default(),
            ring: std::array::from_fn(|_| Minute::default()),
        }
    }
}

/// Hands each thread its shard, in turn.
static NEXT_SHARD: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    static MY_SHARD: usize = NEXT_SHARD.fetch_add(1, Ordering::Relaxed) % SHARDS;
}

/// Every counter of a running proxy.
pub(crate) struct Stats {
    started: Instant,
    /// Wall-clock seconds at `started`: minutes are counted from here on
    /// the monotonic clock.
    started_unix: u64,
    shards: Box<[Shard]>,
    tunnels: AtomicU32,
    blocked: Counter,
    clients: Top<IpAddr>,
    rules: Top<String>,
    domains: Top<String>,
}

/// The class index of `status` in [`CLASSES`].
pub(crate) fn class(status: u16) -> usize {
    match status / 100 {
        c @ 1..=5 => usize::from(c),
        _ => 0,
    }
}

/// The histogram bucket of a duration.
fn bucket(took: Duration) -> usize {
    let ms = took.as_millis();
    BUCKETS_MS
        .iter()
        .position(|&b| ms <= u128::from(b))
        .unwrap_or(BUCKETS_MS.len())
}

fn cut(s: &str) -> String {
    let mut end = s.len().min(MAX_KEY);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s.get(..end).unwrap_or_default().to_string()
}

impl Stats {
    /// Counters at zero, the uptime starting now.
    pub(crate) fn new() -> Stats {
        Stats {
            started: Instant::now(),
            started_unix: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
            shards: (0..SHARDS).map(|_| Shard::new()).collect(),
            tunnels: AtomicU32::new(0),
            blocked: Counter::default(),
            clients: Top::new(TOP_CLIENTS),
            rules: Top::new(TOP_BLOCKED),
            domains: Top::new(TOP_BLOCKED),
        }
    }

    /// The minute (since the epoch) that `at` falls in, without reading
    /// the clock.
    pub(crate) fn minute_at(&self, at: Instant) -> u32 {
        let secs = at.saturating_duration_since(self.started).as_secs();
        (self.started_unix.saturating_add(secs) / 60) as u32
    }

    /// The minute now.
    pub(crate) fn minute_now(&self) -> u32 {
        self.minute_at(Instant::now())
    }

    /// Count one answered request or finished tunnel (status 0: none
    /// sent) that took `took` and ended at `end`.
    pub(crate) fn request(&self, status: u16, up: u64, down: u64, took: Duration, end: Instant) {
        self.request_in(self.minute_at(end), status, up, down, took);
    }

    /// [`request`](Self::request) in minute `minute`.
    fn request_in(&self, minute: u32, status: u16, up: u64, down: u64, took: Duration) {
        let shard = MY_SHARD.with(|i| *i);
        let Some(sh) = self.shards.get(shard) else {
            return;
        };
        if let Some(c) = sh.requests.get(class(status)) {
            c.add(1);
        }
        sh.up.add(up);
        sh.down.add(down);
        if let Some(b) = sh.buckets.get(bucket(took)) {
            b.add(1);
        }
        sh.duration_us
            .add(u64::try_from(took.as_micros()).unwrap_or(u64::MAX));
        let slot = &sh.ring[minute as usize % RING_MINUTES];
        let seen = slot.stamp.load(Ordering::Acquire);
        if seen != minute
            && slot
                .stamp
                .compare_exchange(seen, minute, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
        {
            // First in a new minute: start the slot over. A count another
            // thread adds between these lines may be lost (a rare few at a
            // minute's edge; the since-start totals are exact).
            slot.requests.store(0, Ordering::Relaxed);
            slot.bytes.clear();
        }
        slot.requests.fetch_add(1, Ordering::Relaxed);
        slot.bytes.add(up.saturating_add(down));
    }

    /// A request refused by a domain rule: `rule` is `None` for
    /// `--default-deny` (no allow rule covered the host).
    pub(crate) fn blocked(&self, host: &str, rule: Option<&str>) {
        self.blocked.add(1);
        self.domains.add(cut(host), 1);
        self.rules
            .add(cut(rule.unwrap_or("(not on the allow list)")), 1);
    }

    /// Add a finished client connection's body bytes to its client's total.
    pub(crate) fn client_bytes(&self, client: IpAddr, bytes: u64) {
        if bytes > 0 {
            self.clients.add(client, bytes);
        }
    }

    /// Count a tunnel as open while the returned guard lives.
    pub(crate) fn tunnel_open(&self) -> TunnelOpen<'_> {
        self.tunnels.fetch_add(1, Ordering::Relaxed);
        TunnelOpen(&self.tunnels)
    }

    /// Everything summed, with `connections` client connections open, in
    /// minute `minute`; top tables cut to `top` entries.
    pub(crate) fn snapshot(&self, connections: usize, minute: u32, top: usize) -> Snapshot {
        let sum = |f: &dyn Fn(&Shard) -> u64| self.shards.iter().map(f).sum::<u64>();
        let minutes = std::array::from_fn(|i| {
            // Oldest first: i = 59 is this minute.
            let want = minute.wrapping_sub((RING_MINUTES - 1 - i) as u32);
            let at = want as usize % RING_MINUTES;
            let mut m = (0, 0);
            for slot in self.shards.iter().filter_map(|sh| sh.ring.get(at)) {
                if want != 0 && slot.stamp.load(Ordering::Acquire) == want {
                    m.0 += u64::from(slot.requests.load(Ordering::Relaxed));
                    m.1 += slot.bytes.get();
                }
            }
            m
        });
        Snapshot {
            uptime: self.started.elapsed(),
            requests: std::array::from_fn(|i| sum(&|sh| sh.requests[i].get())),
            up: sum(&|sh| sh.up.get()),
            down: sum(&|sh| sh.down.get()),
            connections: connections as u64,
            tunnels: u64::from(self.tunnels.load(Ordering::Relaxed)),
            blocked: self.blocked.get(),
            buckets: std::array::from_fn(|i| sum(&|sh| sh.buckets[i].get())),
            duration_us: sum(&|sh| sh.duration_us.get()),
            minutes,
            clients: self.clients.top(top),
            rules: self.rules.top(top),
            domains: self.domains.top(top),
            cache: None,
        }
    }
}

/// Keeps a tunnel counted as open; dropped when it ends (also on panic).
pub(crate) struct TunnelOpen<'a>(&'a AtomicU32);

impl Drop for TunnelOpen<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The counters at one moment: what every page renders.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Snapshot {
    /// Since the proxy started.
    pub(crate) uptime: Duration,
    /// Answers by class, indexed as [`CLASSES`].
    pub(crate) requests: [u64; 6],
    /// Body (and tunnel) bytes from clients to upstreams.
    pub(crate) up: u64,
    /// Body (and tunnel) bytes from upstreams to clients.
    pub(crate) down: u64,
    /// Client connections open now.
    pub(crate) connections: u64,
    /// Tunnels open now.
    pub(crate) tunnels: u64,
    /// Requests refused by a domain rule.
    pub(crate) blocked: u64,
    /// Requests per duration bucket ([`BUCKETS_MS`], then `+Inf`), not
    /// cumulative.
    pub(crate) buckets: [u64; BUCKETS_MS.len() + 1],
    /// Sum of all durations, in microseconds.
    pub(crate) duration_us: u64,
    /// (requests, bytes) per minute of the last hour, oldest first; the
    /// last is the current minute so far.
    pub(crate) minutes: [(u64, u64); RING_MINUTES],
    /// Clients by bytes, largest first.
    pub(crate) clients: Vec<(IpAddr, u64)>,
    /// Blocking rules by requests refused, largest first.
    pub(crate) rules: Vec<(String, u64)>,
    /// Blocked domains by requests refused, largest first.
    pub(crate) domains: Vec<(String, u64)>,
    /// The shared cache's figures, with `--cache-dir` (`cache/mod.rs`).
    pub(crate) cache: Option<CacheStats>,
}

/// What the shared cache holds and has done (its counters live in
/// `cache/mod.rs`; the own pages show them).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct CacheStats {
    /// Entries on disk.
    pub(crate) entries: u64,
    /// Bytes on disk.
    pub(crate) bytes: u64,
    /// The bound (`--cache-size`).
    pub(crate) max_bytes: u64,
    /// Answers from the cache without asking upstream (collapsed ones too).
    pub(crate) hits: u64,
    /// Answers fetched upstream (misses, and stale entries replaced).
    pub(crate) misses: u64,
    /// Stale entries answered from the cache after a 304 from upstream.
    pub(crate) revalidated: u64,
    /// Body bytes sent from the cache.
    pub(crate) hit_bytes: u64,
}

impl CacheStats {
    /// Answers with the body from the cache (hits and revalidated), in
    /// percent of all the cache answered; 0 before the first.
    pub(crate) fn hit_percent(&self) -> u64 {
        let served = self.hits + self.revalidated;
        (served * 100)
            .checked_div(served + self.misses)
            .unwrap_or(0)
    }
}

impl Default for Snapshot {
    fn default() -> Snapshot {
        Snapshot {
            uptime: Duration::ZERO,
            requests: [0; 6],
            up: 0,
            down: 0,
            connections: 0,
            tunnels: 0,
            blocked: 0,
            buckets: [0; BUCKETS_MS.len() + 1],
            duration_us: 0,
            minutes: [(0, 0); RING_MINUTES],
            clients: Vec::new(),
            rules: Vec::new(),
            domains: Vec::new(),
            cache: None,
        }
    }
}

impl Snapshot {
    /// Requests answered since the start, every class.
    pub(crate) fn total(&self) -> u64 {
        self.requests.iter().sum()
    }

    /// (requests, bytes) in the current minute so far.
    pub(crate) fn last_minute(&self) -> (u64, u64) {
        self.minutes.last().copied().unwrap_or_default()
    }

    /// (requests, bytes) in the last hour (the ring).
    pub(crate) fn last_hour(&self) -> (u64, u64) {
        self.minutes
            .iter()
            .fold((0, 0), |(r, b), &(mr, mb)| (r + mr, b + mb))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counter_carries_into_the_high_word() {
        let c = Counter::default();
        let cases: &[(u64, u64)] = &[
            (1, 1),
            (u64::from(u32::MAX) - 1, u64::from(u32::MAX)),
            (1, 1 << 32),
            (5 << 32, 6 << 32),
            ((1 << 32) + 7, (7 << 32) + 7),
            (u64::from(u32::MAX), (8 << 32) + 6),
        ];
        for &(add, want) in cases {
            c.add(add);
            assert_eq!(c.get(), want, "after adding {add}");
        }
    }

    #[test]
    fn classes_and_buckets() {
        let cases = [
            (0, 0),
            (101, 1),
            (200, 2),
            (304, 3),
            (407, 4),
            (508, 5),
            (600, 0),
        ];
        for (status, want) in cases {
            assert_eq!(class(status), want, "{status}");
        }
        let cases = [
            (0, 0),
            (5, 0),
            (6, 1),
            (1000, 7),
            (1001, 8),
            (300_000, 13),
            (300_001, 14),
        ];
        for (ms, want) in cases {
            assert_eq!(bucket(Duration::from_millis(ms)), want, "{ms} ms");
        }
    }

    #[test]
    fn requests_land_in_their_class_bucket_and_minute() {
        let s = Stats::new();
        let m = 29_000_000;
        s.request_in(m, 200, 10, 100, Duration::from_millis(3));
        s.request_in(m, 404, 0, 5, Duration::from_millis(70));
        s.request_in(m - 2, 0, 0, 0, Duration::from_secs(400));
        let snap = s.snapshot(3, m, 10);
        assert_eq!(snap.requests, [1, 0, 1, 0, 1, 0]);
        assert_eq!(snap.total(), 3);
        assert_eq!((snap.up, snap.down, snap.connections), (10, 105, 3));
        assert_eq!(snap.buckets[0], 1);
        assert_eq!(snap.buckets[4], 1);
        assert_eq!(snap.buckets[14], 1);
        assert_eq!(snap.duration_us, 400_073_000);
        assert_eq!(snap.last_minute(), (2, 115));
        assert_eq!(snap.minutes[57], (1, 0));
        assert_eq!(snap.last_hour(), (3, 115));
    }

    #[test]
    fn ring_forgets_minutes_older_than_an_hour() {
        let s = Stats::new();
        let m = 29_000_000;
        s.request_in(m, 200, 0, 1, Duration::ZERO);
        // The same slot an hour later starts over.
        s.request_in(m + 60, 200, 0, 2, Duration::ZERO);
        let snap = s.snapshot(0, m + 60, 10);
        assert_eq!(snap.last_minute(), (1, 2));
        assert_eq!(snap.last_hour(), (1, 2));
        // An hour and a minute later, that slot is out of the window.
        let snap = s.snapshot(0, m + 121, 10);
        assert_eq!(snap.last_hour(), (0, 0));
        assert_eq!(snap.total(), 2, "since-start totals stay");
    }

    #[test]
    fn shards_sum_and_minutes_follow_the_monotonic_clock() {
        let s = std::sync::Arc::new(Stats::new());
        let end = s.started + Duration::from_secs(150);
        let want = (s.started_unix + 150) / 60;
        assert_eq!(u64::from(s.minute_at(end)), want);
        assert_eq!(u64::from(s.minute_at(s.started)), s.started_unix / 60);
        let threads: Vec<_> = (0..SHARDS + 3)
            .map(|_| {
                let s = std::sync::Arc::clone(&s);
                std::thread::spawn(move || {
                    for _ in 0..1000 {
                        s.request(200, 1, 2, Duration::from_millis(1), end);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let n = (SHARDS as u64 + 3) * 1000;
        let snap = s.snapshot(0, want as u32, 10);
        assert_eq!((snap.total(), snap.up, snap.down), (n, n, 2 * n));
        assert_eq!(snap.buckets[0], n);
        assert_eq!(snap.last_minute(), (n, 3 * n));
    }

    #[test]
    fn top_table_evicts_the_smallest_at_its_bound() {
        let t = Top::new(3);
        t.add("a", 5);
        t.add("b", 1);
        t.add("c", 3);
        t.add("a", 5);
        assert_eq!(t.top(10), [("a", 10), ("c", 3), ("b", 1)]);
        // Full: "d" replaces the smallest, "b".
        t.add("d", 2);
        assert_eq!(t.top(10), [("a", 10), ("c", 3), ("d", 2)]);
        assert_eq!(t.top(1), [("a", 10)]);
    }

    #[test]
    fn blocks_tunnels_and_clients() {
        let s = Stats::new();
        s.blocked("x.ads.example", Some("ads.example"));
        s.blocked("y.ads.example", Some("ads.example"));
        s.blocked("game.example", None);
        s.blocked(&"a".repeat(1000), Some("r"));
        s.client_bytes("10.0.0.2".parse().unwrap(), 50);
        s.client_bytes("10.0.0.3".parse().unwrap(), 0);
        s.client_bytes("10.0.0.2".parse().unwrap(), 25);
        let open = s.tunnel_open();
        let snap = s.snapshot(0, 1, 10);
        assert_eq!(snap.blocked, 4);
        assert_eq!(snap.rules[0], ("ads.example".into(), 2));
        assert!(snap.rules.contains(&("(not on the allow list)".into(), 1)));
        assert!(snap.domains.iter().all(|(d, _)| d.len() <= MAX_KEY));
        assert_eq!(snap.clients, [("10.0.0.2".parse().unwrap(), 75)]);
        assert_eq!(snap.tunnels, 1);
        drop(open);
        assert_eq!(s.snapshot(0, 1, 10).tunnels, 0);
    }
}
