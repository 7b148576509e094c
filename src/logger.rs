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
    /// The shared cache's part (`HIT`, `MISS`, ...; `cache/mod.rs`), if any.
    pub(crate) cache: Option<&'static str>,
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
    /// The shared cache's part (`HIT`, `MISS`, `REVALIDATED`, ...), if any.
    pub cache: Option<&'a str>,
}

/// Longest target written to the log; longer ones are cut.
const MAX_LOGGED_TARGET: usize = 512;

/// `s` cut to at most `max` bytes, on a character boundary.
fn cut(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// The client as logged: an IPv4 client reaching a `[::]` socket shows as
/// `1.2.3.4:port`, not `[::ffff:1.2.3.4]:port`.
pub fn client(peer: SocketAddr) -> SocketAddr {
    SocketAddr::new(crate::policy::acl::canonical(peer.ip()), peer.port())
}

/// `s` as is, or escaped when it holds a character that could end or
/// forge a line (control characters, U+2028/2029).
fn one_line(s: &str) -> std::borrow::Cow<'_, str> {
    if s.chars()
        .any(|c| c.is_control() || c == '\u{2028}' || c == '\u{2029}')
    {
        s.escape_debug().to_string().into()
    } else {
        s.into()
    }
}

/// The text access line, without time and level:
/// `CLIENT METHOD TARGET STATUS up=N down=N Nms user=U [note=…]`.
/// Written straight into the log line (no string of its own).
pub fn text_line<'a>(peer: SocketAddr, a: &'a Access<'a>, took: Duration) -> TextLine<'a> {
    TextLine { peer, a, took }
}

/// See [`text_line`].
pub struct TextLine<'a> {
    peer: SocketAddr,
    a: &'a Access<'a>,
    took: Duration,
}

impl std::fmt::Display for TextLine<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let a = self.a;
        // Targets come from the network: escape anything that could forge a line.
        let target = cut(a.target, MAX_LOGGED_TARGET).escape_debug();
        write!(
            f,
            "{} {} {target} {} up={} down={} {}ms user={}",
            client(self.peer),
            one_line(a.method),
            a.status,
            a.up,
            a.down,
            self.took.as_millis(),
            one_line(a.user.unwrap_or("-")),
        )?;
        if let Some(c) = a.cache {
            write!(f, " cache={c}")?;
        }
        match a.note {
            Some(n) => write!(f, " note={}", one_line(n)),
            None => Ok(()),
        }
    }
}

/// The JSON access line: one object, keys `time client method target
/// status up down ms user note` (`user`, `note` null when absent).
pub fn json_line(time: SystemTime, peer: SocketAddr, a: &Access<'_>, took: Duration) -> String {
    let mut o = String::with_capacity(192 + a.target.len().min(MAX_LOGGED_TARGET));
    o.push_str("{\"time\":\"");
    o.push_str(&timestamp(time));
    o.push_str("\",\"client\":\"");
    o.push_str(&client(peer).to_string());
    o.push_str("\",\"method\":");
    json_str(&mut o, Some(a.method));
    o.push_str(",\"target\":");
    json_str(&mut o, Some(cut(a.target, MAX_LOGGED_TARGET)));
    let numbers = format!(
        ",\"status\":{},\"up\":{},\"down\":{},\"ms\":{},\"user\":",
        a.status,
        a.up,
        a.down,
        took.as_millis()
    );
    o.push_str(&numbers);
    json_str(&mut o, a.user);
    o.push_str(",\"note\":");
    json_str(&mut o, a.note);
    if a.cache.is_some() {
        o.push_str(",\"cache\":");
        json_str(&mut o, a.cache);
    }
    o.push('}');
    o
}

/// `s` as a JSON string (RFC 8259 §7: quote, backslash and control
/// characters escaped), or `null`. The one JSON escaper (access lines and
/// `/status.json`).
pub(crate) fn json_str(o: &mut String, s: Option<&str>) {
    use std::fmt::Write;
    let Some(s) = s else {
        o.push_str("null");
        return;
    };
    o.push('"');
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            '\n' => o.push_str("\\n"),
            '\r' => o.push_str("\\r"),
            '\t' => o.push_str("\\t"),
            // U+2028/2029 are valid JSON but end lines in JavaScript.
            c if c.is_control() || c == '\u{2028}' || c == '\u{2029}' => {
                let _ = write!(o, "\\u{:04x}", c as u32);
            }
            c => o.push(c),
        }
    }
    o.push('"');
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

/// Shows ` (N more held back)` after a throttled line, or nothing when
/// none were held back.
#[derive(Debug, Clone, Copy)]
pub struct HeldBack(pub u32);

impl std::fmt::Display for HeldBack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            0 => Ok(()),
            n => write!(f, " ({n} more held back)"),
        }
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

    fn sample() -> Access<'static> {
        Access {
            method: "GET",
            target: "http://a.example/\"x\"\\\n\u{1b}[31m\u{2028}é",
            status: 200,
            up: 1,
            down: 22,
            user: None,
            note: Some("a \"note\""),
            cache: None,
        }
    }

    #[test]
    fn access_lines_name_the_cache_result() {
        let peer: SocketAddr = "127.0.0.1:9".parse().unwrap();
        let a = Access {
            cache: Some("HIT"),
            note: None,
            ..sample()
        };
        let text = text_line(peer, &a, Duration::from_millis(3)).to_string();
        assert!(text.ends_with("user=- cache=HIT"), "{text}");
        let json = json_line(SystemTime::UNIX_EPOCH, peer, &a, Duration::ZERO);
        assert!(
            json.ends_with(",\"note\":null,\"cache\":\"HIT\"}"),
            "{json}"
        );
        let none = json_line(SystemTime::UNIX_EPOCH, peer, &sample(), Duration::ZERO);
        assert!(!none.contains("cache"), "{none}");
    }

    #[test]
    fn access_lines_escape_hostile_targets() {
        let peer: SocketAddr = "[::ffff:192.168.1.9]:4242".parse().unwrap();
        let took = Duration::from_millis(7);
        let t = text_line(peer, &sample(), took).to_string();
        assert_eq!(
            t,
            "192.168.1.9:4242 GET http://a.example/\\\"x\\\"\\\\\\n\\u{1b}[31m\\u{2028}é 200 \
             up=1 down=22 7ms user=- note=a \"note\""
        );
        let j = json_line(UNIX_EPOCH, peer, &sample(), took);
        assert_eq!(
            j,
            "{\"time\":\"1970-01-01T00:00:00.000Z\",\"client\":\"192.168.1.9:4242\",\
             \"method\":\"GET\",\"target\":\"http://a.example/\\\"x\\\"\\\\\\n\\u001b[31m\\u2028é\",\
             \"status\":200,\"up\":1,\"down\":22,\"ms\":7,\"user\":null,\"note\":\"a \\\"note\\\"\"}"
        );
        let with_user = Access {
            user: Some("al\"ice"),
            note: None,
            ..sample()
        };
        let j = json_line(UNIX_EPOCH, peer, &with_user, took);
        assert!(j.ends_with(",\"user\":\"al\\\"ice\",\"note\":null}"), "{j}");
        let v6: SocketAddr = "[2001:db8::1]:80".parse().unwrap();
        assert!(
            text_line(v6, &sample(), took)
                .to_string()
                .starts_with("[2001:db8::1]:80 GET ")
        );
        let forged = Access {
            note: Some("x\n2026-01-01T00:00:00.000Z INFO  forged"),
            ..sample()
        };
        let t = text_line(peer, &forged, took).to_string();
        assert!(
            t.ends_with(" note=x\\n2026-01-01T00:00:00.000Z INFO  forged"),
            "{t}"
        );
    }

    #[test]
    fn long_targets_are_cut_on_a_character_boundary() {
        let long = "é".repeat(400);
        let a = Access {
            target: &long,
            ..Access::default()
        };
        let peer: SocketAddr = "127.0.0.1:1".parse().unwrap();
        let j = json_line(UNIX_EPOCH, peer, &a, Duration::ZERO);
        assert!(j.contains(&format!("\"{}\"", "é".repeat(256))), "{j}");
    }

    #[test]
    fn held_back_wording() {
        assert_eq!(format!("x{}", HeldBack(0)), "x");
        assert_eq!(format!("x{}", HeldBack(3)), "x (3 more held back)");
    }
}
