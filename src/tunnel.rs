//! Relaying bytes both ways for CONNECT tunnels and upgraded connections
//! (WebSocket): the two directions run joined, never raced, so when one
//! side half-closes its write side the other direction keeps flowing and
//! the shutdown is passed on (RFC 9112 §9.6). A tunnel that carries no byte
//! in either direction for the idle timeout is closed.
//!
//! Memory: an idle tunnel owns no buffer. Each direction waits for
//! readiness first. On Linux the bytes then move with splice(2) through a
//! pipe and never enter user space; the pipe is made on first use and
//! given back after [`PIPE_LINGER`] without traffic, so idle tunnels hold
//! no pipe. Elsewhere, or when splice is refused, a buffer is borrowed from
//! a small per-thread pool for the bytes in flight.

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
/// How long a direction keeps its pipe while no bytes arrive.
pub const PIPE_LINGER: Duration = Duration::from_secs(2);

/// How tunnels move bytes on this build, for the start-up log and `--help`.
pub const RELAY_METHOD: &str = if cfg!(target_os = "linux") {
    "splice(2) through a pipe (zero-copy), read/write as fallback"
} else {
    "read/write through a pooled buffer"
};

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
    relay_by(client, upstream, idle, true).await
}

/// [`relay`], with the zero-copy path allowed or not.
async fn relay_by(
    client: &Async<TcpStream>,
    upstream: &Async<TcpStream>,
    idle: Duration,
    zero_copy: bool,
) -> Relayed {
    let act = Activity {
        start: Instant::now(),
        last_ms: AtomicU64::new(0),
    };
    let up = AtomicU64::new(0);
    let down = AtomicU64::new(0);
    let r = futures_lite::future::try_zip(
        pump(client, upstream, &up, &act, idle, zero_copy),
        pump(upstream, client, &down, &act, idle, zero_copy),
    )
    .await;
    Relayed {
        up: up.load(Ordering::Relaxed),
        down: down.load(Ordering::Relaxed),
        error: r.err(),
    }
}

/// Move `src` to `dst` until `src` ends, then shut down `dst`'s write side.
async fn pump(
    src: &Async<TcpStream>,
    dst: &Async<TcpStream>,
    moved: &AtomicU64,
    act: &Activity,
    idle: Duration,
    zero_copy: bool,
) -> io::Result<()> {
    #[cfg(target_os = "linux")]
    if zero_copy && let Some(done) = splice::pump(src, dst, moved, act, idle).await {
        return done;
    }
    copy_pump(src, dst, moved, act, idle).await
}

/// Wait until `src` is readable, or fail when the whole tunnel has been
/// silent for `idle`, or return `Ok(false)` after `linger` (if given).
async fn wait_readable(
    src: &Async<TcpStream>,
    act: &Activity,
    idle: Duration,
    linger: Option<Duration>,
) -> io::Result<bool> {
    // A quiet direction is fine while the other one moves: only total
    // silence times out.
    loop {
        let left = idle.saturating_sub(act.idle_for());
        if left.is_zero() {
            return Err(io::Error::new(io::ErrorKind::TimedOut, "tunnel idle"));
        }
        let wait = linger.map_or(left, |l| l.min(left));
        match timed(wait, src.readable()).await {
            Ok(()) => return Ok(true),
            Err(e) if e.kind() == io::ErrorKind::TimedOut => {
                if linger.is_some_and(|l| l <= left) {
                    return Ok(false);
                }
            }
            Err(e) => return Err(e),
        }
    }
}

/// The portable path: read into a pooled buffer, write it out.
async fn copy_pump(
    src: &Async<TcpStream>,
    dst: &Async<TcpStream>,
    moved: &AtomicU64,
    act: &Activity,
    idle: Duration,
) -> io::Result<()> {
    loop {
        wait_readable(src, act, idle, None).await?;
        let mut buf = take_buffer();
        let n = match src.get_ref().read(&mut buf) {
            Ok(n) => n,
            Err(e)
                if e.kind() == io::ErrorKind::WouldBlock
                    || e.kind() == io::ErrorKind::Interrupted =>
            {
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

#[cfg(target_os = "linux")]
mod splice {
    //! Zero-copy relay: socket → pipe → socket with splice(2).

    use std::io;
    use std::net::{Shutdown, TcpStream};
    use std::os::fd::OwnedFd;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::time::Duration;

    use rustix::io::Errno;
    use rustix::pipe::{PipeFlags, SpliceFlags, pipe_with, splice};
    use smol::Async;

    use super::{Activity, PIPE_LINGER, wait_readable};
    use crate::buffer::timed;

    /// Most bytes moved per splice call: the default pipe capacity.
    const PIPE_CHUNK: usize = 64 * 1024;

    fn flags() -> SpliceFlags {
        SpliceFlags::MOVE | SpliceFlags::NONBLOCK
    }

    /// Relay with splice. `None` when splice cannot be used here (no pipe
    /// to be had, or the kernel refuses these descriptors) before any byte
    /// moved: the caller then copies instead.
    pub(super) async fn pump(
        src: &Async<TcpStream>,
        dst: &Async<TcpStream>,
        moved: &AtomicU64,
        act: &Activity,
        idle: Duration,
    ) -> Option<io::Result<()>> {
        let mut pipe: Option<(OwnedFd, OwnedFd)> = None;
        loop {
            match wait_readable(src, act, idle, pipe.as_ref().map(|_| PIPE_LINGER)).await {
                Ok(true) => {}
                // Quiet for a while: give the pipe back until bytes come.
                Ok(false) => {
                    pipe = None;
                    continue;
                }
                Err(e) => return Some(Err(e)),
            }
            let (r, w) = match &pipe {
                Some(p) => p,
                None => match pipe_with(PipeFlags::CLOEXEC | PipeFlags::NONBLOCK) {
                    Ok(p) => pipe.insert(p),
                    Err(e) => {
                        log::debug!("no pipe for splice ({e}); copying instead");
                        return None;
                    }
                },
            };
            let n = match splice(src.get_ref(), None, w, None, PIPE_CHUNK, flags()) {
                Ok(0) => {
                    // Half-close: pass the end of this direction on.
                    let _ = dst.get_ref().shutdown(Shutdown::Write);
                    return Some(Ok(()));
                }
                Ok(n) => n,
                Err(Errno::AGAIN | Errno::INTR) => continue,
                Err(Errno::INVAL | Errno::NOSYS | Errno::OPNOTSUPP)
                    if moved.load(Ordering::Relaxed) == 0 =>
                {
                    return None;
                }
                Err(e) => return Some(Err(e.into())),
            };
            let mut left = n;
            while left > 0 {
                match splice(r, None, dst.get_ref(), None, left, flags()) {
                    Ok(0) => return Some(Err(io::ErrorKind::WriteZero.into())),
                    Ok(m) => left -= m.min(left),
                    Err(Errno::AGAIN) => {
                        if let Err(e) = timed(idle, dst.writable()).await {
                            return Some(Err(e));
                        }
                    }
                    Err(Errno::INTR) => {}
                    Err(e) => return Some(Err(e.into())),
                }
            }
            moved.fetch_add(n as u64, Ordering::Relaxed);
            act.touch();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::net::TcpListener;

    /// A connected pair of loopback sockets: (blocking std end, async end).
    fn pair() -> (TcpStream, Async<TcpStream>) {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let a = TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let b = l.accept().unwrap().0;
        a.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        (a, Async::new(b).unwrap())
    }

    fn exercise(zero_copy: bool) {
        let (mut client, client_side) = pair();
        let (mut server, server_side) = pair();
        let relay = std::thread::spawn(move || {
            smol::block_on(relay_by(
                &client_side,
                &server_side,
                Duration::from_secs(10),
                zero_copy,
            ))
        });
        let data: Vec<u8> = (0..500_000u32).map(|i| (i % 241) as u8).collect();
        let mut got = vec![0u8; data.len()];
        let mut c2 = client.try_clone().unwrap();
        let d2 = data.clone();
        let w = std::thread::spawn(move || c2.write_all(&d2).unwrap());
        server.read_exact(&mut got).unwrap();
        w.join().unwrap();
        assert!(got == data);
        // A pause longer than the pipe linger, then more bytes.
        std::thread::sleep(PIPE_LINGER + Duration::from_millis(200));
        server.write_all(b"later").unwrap();
        let mut later = [0u8; 5];
        client.read_exact(&mut later).unwrap();
        assert_eq!(&later, b"later");
        // Half-close from the client: the server sees EOF, can still reply.
        client.shutdown(Shutdown::Write).unwrap();
        let mut rest = Vec::new();
        server.read_to_end(&mut rest).unwrap();
        assert!(rest.is_empty());
        server.write_all(b"reply").unwrap();
        server.shutdown(Shutdown::Write).unwrap();
        let mut reply = Vec::new();
        client.read_to_end(&mut reply).unwrap();
        assert_eq!(reply, b"reply");
        let r = relay.join().unwrap();
        assert!(r.error.is_none(), "{:?}", r.error);
        assert_eq!((r.up, r.down), (500_000, 10));
    }

    #[test]
    fn copy_path_relays_exactly_with_half_close() {
        exercise(false);
    }

    #[test]
    fn zero_copy_path_relays_exactly_with_half_close() {
        exercise(true);
    }
}
