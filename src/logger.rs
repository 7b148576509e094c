//! A small `log::Log` that writes one line per record to stderr
//! (`2026-11-25T21:40:01.123Z INFO  message`), the access-line format, and
//! a throttle for lines a flood could repeat.
//!
//! Level policy: `error` — the proxy itself cannot go on as asked (cannot
//! listen, a reload failed); `warn` — a client or upstream misbehaved in a
//! way an operator may want to see (refused clients, bad responses,
//! timeouts); `info` — start-up, shutdown and one access line per request
//! or tunnel; `debug` — per-connection detail; `trace` — heads as sent.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::http::reply::civil_from_days;

struct Logger;

static LOGGER: Logger = Logger;

impl log::Log for Logger {
    fn enabled(&self, m: &log::Metadata<'_>) -> bool {
        m.level() <= log::max_level()
    }

    fn log(&self, r: &log::Record<'_>) {
        if !self.enabled(r.metadata()) {
            return;
        }
        let line = format!(
            "{} {:<5} {}\n",
            timestamp(SystemTime::now()),
            r.level(),
            r.args()
        );
        // One write per line so lines from several threads never
        // interleave. Through `eprint!` so a test harness that captures
        // output (libtest) captures these lines too.
        eprint!("{line}");
    }

    fn flush(&self) {}
}

/// Install the logger at `level`. Safe to call more than once (tests).
pub fn init(level: log::LevelFilter) {
    let _ = log::set_logger(&LOGGER);
    log::set_max_level(level);
}

/// `YYYY-MM-DDTHH:MM:SS.mmmZ` in UTC.
pub(crate) fn timestamp(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs();
    let (y, m, day) = civil_from_days((secs / 86_400) as i64);
    let s = secs % 86_400;
    format!(
        "{y:04}-{m:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        s / 3600,
        s / 60 % 60,
        s % 60,
        d.subsec_millis()
    )
}

/// How an exchange ended, for the keep-alive loop and the access line.
#[derive(Debug, Default)]
pub(crate) struct Outcome {
    /// Status sent to the client.
    pub(crate) status: u16,
    /// Request body bytes sent upstream.
    pub(crate) up: u64,
    /// Response body bytes sent to the client.
    pub(crate) down: u64,
    /// The client connection may carry another request.
    pub(crate) keep_client: bool,
    /// A 101 was relayed: the connection is now a tunnel.
    pub(crate) upgraded: bool,
    /// What went wrong after the response began, if anything.
    pub(crate) note: Option<String>,
}

/// One exchange or tunnel, as the access line reports it.
#[derive(Debug, Default)]
pub struct Access<'a> {
    /// Method (`CONNECT` for tunnels).
    pub method: &'a str,
    /// Target as received, cut to a sane length.
    pub target: &'a str,
    /// Status sent to the client (0 when none could be sent).
    pub status: u16,
    /// Bytes from the client to upstream (body or tunnel payload).
    pub up: u64,
    /// Bytes from upstream to the client.
    pub down: u64,
    /// The authenticated user, if any.
    pub user: Option<&'a str>,
    /// What went wrong, if anything.
    pub note: Option<&'a str>,
}

/// Longest target written to the log; longer ones are cut.
const MAX_LOGGED_TARGET: usize = 512;

/// Write the access line: `CLIENT METHOD TARGET STATUS up=N down=N Nms`.
pub fn access(peer: SocketAddr, a: &Access<'_>, took: Duration) {
    if !log::log_enabled!(log::Level::Info) {
        return;
    }
    let mut target = a.target;
    if target.len() > MAX_LOGGED_TARGET {
        let mut cut = MAX_LOGGED_TARGET;
        while !target.is_char_boundary(cut) {
            cut -= 1;
        }
        target = &target[..cut];
    }
    // Targets come from the network: escape anything that could forge a line.
    let target = target.escape_debug();
    log::info!(
        "{peer} {} {target} {} up={} down={} {}ms user={}{}{}",
        a.method,
        a.status,
        a.up,
        a.down,
        took.as_millis(),
        a.user.unwrap_or("-"),
        if a.note.is_some() { " note=" } else { "" },
        a.note.unwrap_or(""),
    );
}

/// Lets a repeated log line through at most once per second, counting what
/// it held back, so a flood of refused clients cannot flood the log.
#[derive(Debug, Default)]
pub(crate) struct Throttle {
    // 32-bit atomics: 64-bit ones are missing on 32-bit MIPS.
    last_sec: AtomicU32,
    held: AtomicU32,
}

impl Throttle {
    /// A throttle that lets the first line through.
    pub const fn new() -> Self {
        Throttle {
            last_sec: AtomicU32::new(0),
            held: AtomicU32::new(0),
        }
    }

    /// `Some(n)` when a line may be written now, `n` lines having been held
    /// back since the last one; `None` when this one must be dropped.
    pub fn allow(&self) -> Option<u32> {
        // Seconds, truncated to 32 bits: only equality matters here.
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(1, |d| (d.as_secs() as u32).max(1));
        let last = self.last_sec.load(Ordering::Relaxed);
        if now != last
            && self
                .last_sec
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            return Some(self.held.swap(0, Ordering::Relaxed));
        }
        let _ = self
            .held
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |h| {
                Some(h.saturating_add(1))
            });
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps() {
        let cases = [
            (0, "1970-01-01T00:00:00.000Z"),
            (951_782_400, "2000-02-29T00:00:00.000Z"),
            (1_795_642_496, "2026-11-25T21:34:56.000Z"),
            (4_107_542_399, "2100-02-28T23:59:59.000Z"),
        ];
        for (secs, want) in cases {
            assert_eq!(timestamp(UNIX_EPOCH + Duration::from_secs(secs)), want);
        }
    }

    #[test]
    fn throttle_holds_back_repeats() {
        let t = Throttle::new();
        assert_eq!(t.allow(), Some(0));
        assert_eq!(t.allow(), None);
        assert_eq!(t.allow(), None);
        std::thread::sleep(Duration::from_millis(1100));
        assert_eq!(t.allow(), Some(2));
    }
}
