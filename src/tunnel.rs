//! Relaying bytes both ways for CONNECT tunnels and upgraded connections
//! (WebSocket): the two directions run joined, never raced, so when one
//! side half-closes its write side the other direction keeps flowing and
//! the shutdown is passed on (RFC 9112 §9.6). A tunnel that carries no byte
//! in either direction for the idle timeout is closed.
//!
//! Memory: an idle tunnel owns no buffer. Each direction waits for
//! readiness first and only then borrows a buffer from a small per-thread
//! pool for the bytes in flight.

use std::cell::RefCell;
use std::io::{self, Read};
use std::net::{Shutdown, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use smol::Async;

use crate::buffer::{timed, write_all};

/// Bytes moved per read in a tunnel.
pub const TUNNEL_CHUNK: usize = 32 * 1024;
/// Buffers kept per thread for reuse; the rest are freed.
const POOL_KEEP: usize = 4;

thread_local! {
    static POOL: RefCell<Vec<Vec<u8>>> = const { RefCell::new(Vec::new()) };
}

fn take_buffer() -> Vec<u8> {
    POOL.with(|p| p.borrow_mut().pop())
        .unwrap_or_else(|| vec![0; TUNNEL_CHUNK])
}

fn give_buffer(b: Vec<u8>) {
    POOL.with(|p| {
        let mut p = p.borrow_mut();
        if p.len() < POOL_KEEP {
            p.push(b);
        }
    });
}

/// Bytes each way and how the relay ended.
#[derive(Debug, Default)]
pub struct Relayed {
    /// Client to upstream.
    pub up: u64,
    /// Upstream to client.
    pub down: u64,
    /// The error that ended it, if it did not end by both sides closing.
    pub error: Option<io::Error>,
}

/// Shared between both directions: when anything last moved, in ms since
/// `start`, and the byte counters.
struct Activity {
    start: Instant,
    last_ms: AtomicU64,
}

impl Activity {
    fn touch(&self) {
        let ms = self.start.elapsed().as_millis() as u64;
        self.last_ms.store(ms, Ordering::Relaxed);
    }

    fn idle_for(&self) -> Duration {
        let now = self.start.elapsed().as_millis() as u64;
        Duration::from_millis(now.saturating_sub(self.last_ms.load(Ordering::Relaxed)))
    }
}

/// Relay between `client` and `upstream` until both directions have ended,
/// an error occurs, or nothing moved for `idle`.
pub async fn relay(
    client: &Async<TcpStream>,
    upstream: &Async<TcpStream>,
    idle: Duration,
) -> Relayed {
    let act = Activity {
        start: Instant::now(),
        last_ms: AtomicU64::new(0),
    };
    let up = AtomicU64::new(0);
    let down = AtomicU64::new(0);
    let r = futures_lite::future::try_zip(
        pump(client, upstream, &up, &act, idle),
        pump(upstream, client, &down, &act, idle),
    )
    .await;
    Relayed {
        up: up.load(Ordering::Relaxed),
        down: down.load(Ordering::Relaxed),
        error: r.err(),
    }
}

/// Copy `src` to `dst` until `src` ends, then shut down `dst`'s write side.
async fn pump(
    src: &Async<TcpStream>,
    dst: &Async<TcpStream>,
    moved: &AtomicU64,
    act: &Activity,
    idle: Duration,
) -> io::Result<()> {
    loop {
        // Wait for bytes without holding a buffer. A quiet direction is
        // fine while the other one moves: only total silence times out.
        loop {
            let left = idle.saturating_sub(act.idle_for());
            if left.is_zero() {
                return Err(io::Error::new(io::ErrorKind::TimedOut, "tunnel idle"));
            }
            match timed(left, src.readable()).await {
                Ok(()) => break,
                Err(e) if e.kind() == io::ErrorKind::TimedOut => continue,
                Err(e) => return Err(e),
            }
        }
        let mut buf = take_buffer();
        let n = match src.get_ref().read(&mut buf) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                give_buffer(buf);
                continue;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {
                give_buffer(buf);
                continue;
            }
            Err(e) => {
                give_buffer(buf);
                return Err(e);
            }
        };
        if n == 0 {
            give_buffer(buf);
            // Half-close: pass the end of this direction on, keep the other.
            let _ = dst.get_ref().shutdown(Shutdown::Write);
            return Ok(());
        }
        let written = write_all(dst, buf.get(..n).unwrap_or(&[]), idle).await;
        give_buffer(buf);
        written?;
        moved.fetch_add(n as u64, Ordering::Relaxed);
        act.touch();
    }
}
