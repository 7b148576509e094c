//! Relaying bytes both ways for CONNECT tunnels and upgraded connections
//! (WebSocket). Both directions are driven together and neither is ever
//! dropped for the other: when one side shuts down its write side, the end
//! is passed on and the other direction keeps flowing (half-close, RFC 9112
//! §9.6). A tunnel that moves no byte either way for the idle timeout is
//! closed.
//!
//! Memory: the relay is one small state machine polled by hand (no future
//! per direction, one timer per tunnel), and an idle tunnel owns no
//! buffer. Bytes in flight sit in a buffer borrowed from a small
//! per-thread pool; on Linux a bulk flow (a read that fills a whole
//! buffer) moves on to splice(2) through a pipe, so large transfers never
//! enter user space. The pipe is given back after [`PIPE_LINGER`] without
//! traffic, and without a pipe (out of descriptors, or splice refused) the
//! copy path carries on.

use std::cell::RefCell;
use std::future::{Future, poll_fn};
use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use smol::{Async, Timer};

/// Bytes moved per read on the copy path.
pub(crate) const TUNNEL_CHUNK: usize = 32 * 1024;
/// Buffers kept per thread for reuse; the rest are freed.
const POOL_KEEP: usize = 4;
/// How long a tunnel keeps its pipes while no bytes move.
pub(crate) const PIPE_LINGER: Duration = Duration::from_secs(2);
/// Reads or writes one direction may do before letting other tasks run.
const BUDGET: usize = 16;

/// How tunnels move bytes on this build, for the start-up log.
pub(crate) const RELAY_METHOD: &str = if cfg!(target_os = "linux") {
    "splice(2) (zero-copy; read/write as fallback)"
} else {
    "read/write"
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
pub(crate) struct Relayed {
    /// Client to upstream.
    pub(crate) up: u64,
    /// Upstream to client.
    pub(crate) down: u64,
    /// The error that ended it, if it did not end by both sides closing.
    pub(crate) error: Option<io::Error>,
}

/// Where the bytes of one direction wait between read and write.
enum Hold {
    /// Nothing held (no pipe, no buffer).
    Empty,
    /// A pipe (read end, write end) for splice(2).
    #[cfg(target_os = "linux")]
    Pipe(std::os::fd::OwnedFd, std::os::fd::OwnedFd),
    /// A pooled buffer and the offset of its first unwritten byte.
    Buffer(Vec<u8>, usize),
}

/// One direction: from `src` to `dst`.
struct Dir<'a> {
    src: &'a Async<TcpStream>,
    dst: &'a Async<TcpStream>,
    hold: Hold,
    /// Bytes read and not yet written.
    pending: usize,
    /// Total bytes written to `dst`.
    moved: u64,
    /// `src` has ended.
    eof: bool,
    /// The end was passed on; nothing more to do.
    finished: bool,
    /// Use splice(2) when possible.
    zero_copy: bool,
    /// The current burst fills whole buffers: worth a pipe.
    bulk: bool,
}

fn would_block(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
    )
}

impl<'a> Dir<'a> {
    fn new(src: &'a Async<TcpStream>, dst: &'a Async<TcpStream>, zero_copy: bool) -> Self {
        Dir {
            src,
            dst,
            hold: Hold::Empty,
            pending: 0,
            moved: 0,
            eof: false,
            finished: false,
            zero_copy,
            bulk: false,
        }
    }

    /// Read what `src` has into the hold. 0 means end of stream. Each
    /// burst starts on the copy path; once a read fills a whole buffer the
    /// flow is bulk and moves on to a pipe (so small exchanges and EOFs
    /// never cost a pipe's two descriptors).
    fn read(&mut self) -> io::Result<usize> {
        #[cfg(target_os = "linux")]
        if self.zero_copy && self.bulk {
            if matches!(self.hold, Hold::Empty) {
                match zero_copy::pipe() {
                    Ok((r, w)) => self.hold = Hold::Pipe(r, w),
                    Err(e) => {
                        // Out of descriptors, most likely: copy instead.
                        log::debug!("no pipe for splice ({e}); copying instead");
                        self.bulk = false;
                    }
                }
            }
            if let Hold::Pipe(_, w) = &self.hold {
                match zero_copy::fill(self.src.get_ref(), w) {
                    Err(e) if zero_copy::unsupported(&e) => {
                        // The kernel refuses splice for these descriptors.
                        self.zero_copy = false;
                        self.hold = Hold::Empty;
                    }
                    r => return r,
                }
            }
        }
        let mut buf = match std::mem::replace(&mut self.hold, Hold::Empty) {
            Hold::Buffer(b, _) => b,
            _ => take_buffer(),
        };
        let r = self.src.get_ref().read(&mut buf);
        match r {
            Ok(n) if n > 0 => {
                self.bulk = n == buf.len();
                self.hold = Hold::Buffer(buf, 0);
            }
            _ => give_buffer(buf),
        }
        r
    }

    /// Write held bytes to `dst`.
    fn write(&mut self) -> io::Result<usize> {
        match &mut self.hold {
            #[cfg(target_os = "linux")]
            Hold::Pipe(r, _) => zero_copy::drain(r, self.dst.get_ref(), self.pending),
            Hold::Buffer(b, off) => {
                let start = *off;
                let n = self
                    .dst
                    .get_ref()
                    .write(b.get(start..start + self.pending).unwrap_or(&[]))?;
                *off += n;
                Ok(n)
            }
            Hold::Empty => Ok(0),
        }
    }

    /// Move bytes until both sockets would block, the budget is spent, or
    /// the direction is finished. Registers for the readiness it waits on.
    /// Returns whether any byte moved.
    fn drive(&mut self, cx: &mut Context<'_>) -> io::Result<bool> {
        let mut progress = false;
        for _ in 0..BUDGET {
            if self.finished {
                return Ok(progress);
            }
            if self.pending > 0 {
                match self.write() {
                    Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                    Ok(n) => {
                        self.pending -= n.min(self.pending);
                        self.moved += n as u64;
                        progress = true;
                        if self.pending == 0
                            && let Hold::Buffer(..) = self.hold
                            && let Hold::Buffer(b, _) =
                                std::mem::replace(&mut self.hold, Hold::Empty)
                        {
                            // Written out: the buffer goes back to the pool.
                            give_buffer(b);
                        }
                    }
                    Err(e) if would_block(&e) => match self.dst.poll_writable(cx) {
                        Poll::Ready(Ok(())) => {}
                        Poll::Ready(Err(e)) => return Err(e),
                        Poll::Pending => return Ok(progress),
                    },
                    Err(e) => return Err(e),
                }
                continue;
            }
            if self.eof {
                // Half-close: pass the end on, keep the other direction.
                let _ = self.dst.get_ref().shutdown(Shutdown::Write);
                self.finished = true;
                return Ok(progress);
            }
            // Holding nothing: wait for readiness before taking a pipe or
            // a buffer, so an idle direction never owns either.
            if matches!(self.hold, Hold::Empty) {
                match self.src.poll_readable(cx) {
                    Poll::Ready(Ok(())) => {}
                    Poll::Ready(Err(e)) => return Err(e),
                    Poll::Pending => return Ok(progress),
                }
            }
            match self.read() {
                Ok(0) => self.eof = true,
                Ok(n) => {
                    self.pending = n;
                    progress = true;
                }
                Err(e) if would_block(&e) => match self.src.poll_readable(cx) {
                    Poll::Ready(Ok(())) => {}
                    Poll::Ready(Err(e)) => return Err(e),
                    Poll::Pending => return Ok(progress),
                },
                Err(e) => return Err(e),
            }
        }
        // Budget spent with work left: come back after others had a turn.
        cx.waker().wake_by_ref();
        Ok(progress)
    }

    /// After a quiet spell: give back a pipe or buffer that holds nothing
    /// (a pipe is closed), and start the next burst on the copy path.
    fn release(&mut self) {
        if self.pending == 0 {
            self.bulk = false;
            if let Hold::Buffer(b, _) = std::mem::replace(&mut self.hold, Hold::Empty) {
                give_buffer(b);
            }
        }
    }
}

/// Relay between `client` and `upstream` until both directions have ended,
/// an error occurs, or nothing moved for `idle`.
pub(crate) async fn relay(
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
    let mut up = Dir::new(client, upstream, zero_copy);
    let mut down = Dir::new(upstream, client, zero_copy);
    let mut last = Instant::now();
    // Nothing is held yet: the first wake-up is the idle timeout itself.
    let mut timer = Timer::after(idle);
    let result = poll_fn(|cx| {
        loop {
            let moved = up.drive(cx)? | down.drive(cx)?;
            if up.finished && down.finished {
                return Poll::Ready(Ok(()));
            }
            if moved {
                last = Instant::now();
                let holding = !matches!((&up.hold, &down.hold), (Hold::Empty, Hold::Empty));
                timer.set_after(if holding { idle.min(PIPE_LINGER) } else { idle });
            }
            if Pin::new(&mut timer).poll(cx).is_pending() {
                return Poll::Pending;
            }
            // The timer fired: a quiet tunnel gives back its pipes, a
            // silent one ends.
            let quiet = last.elapsed();
            if quiet >= idle {
                return Poll::Ready(Err(io::Error::new(io::ErrorKind::TimedOut, "tunnel idle")));
            }
            up.release();
            down.release();
            timer.set_after(idle - quiet);
        }
    })
    .await;
    Relayed {
        up: up.moved,
        down: down.moved,
        error: result.err(),
    }
}

#[cfg(target_os = "linux")]
mod zero_copy {
    //! socket → pipe → socket with splice(2): the bytes stay in the kernel.

    use std::io;
    use std::net::TcpStream;
    use std::os::fd::OwnedFd;

    use rustix::io::Errno;
    use rustix::pipe::{PipeFlags, SpliceFlags, pipe_with, splice};

    /// Pipe capacity asked for, and most bytes moved per splice call:
    /// larger than the 64 KiB default, so a bulk flow needs fewer calls
    /// and wake-ups. The kernel may grant less (pipe-user-pages-soft).
    const PIPE_CHUNK: usize = 256 * 1024;

    fn flags() -> SpliceFlags {
        SpliceFlags::MOVE | SpliceFlags::NONBLOCK
    }

    pub fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
        let (r, w) = pipe_with(PipeFlags::CLOEXEC | PipeFlags::NONBLOCK)?;
        // Best effort: a smaller pipe still works, only with more calls.
        let _ = rustix::pipe::fcntl_setpipe_size(&w, PIPE_CHUNK);
        Ok((r, w))
    }

    /// Splice calls made, for the tests to see this path was taken.
    #[cfg(test)]
    pub static CALLS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

    /// socket → pipe.
    pub fn fill(src: &TcpStream, w: &OwnedFd) -> io::Result<usize> {
        #[cfg(test)]
        CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok(splice(src, None, w, None, PIPE_CHUNK, flags())?)
    }

    /// pipe → socket, at most `len` bytes.
    pub fn drain(r: &OwnedFd, dst: &TcpStream, len: usize) -> io::Result<usize> {
        Ok(splice(r, None, dst, None, len, flags())?)
    }

    /// Errors that mean "splice cannot be used for these descriptors".
    pub fn unsupported(e: &io::Error) -> bool {
        let raw = e.raw_os_error();
        [Errno::INVAL, Errno::NOSYS, Errno::OPNOTSUPP]
            .iter()
            .any(|x| Some(x.raw_os_error()) == raw)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
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
        // Both directions at once, more than any socket buffer holds.
        let data: Vec<u8> = (0..3_000_000u32).map(|i| (i % 241) as u8).collect();
        let (mut c2, mut s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
        let (d1, d2) = (data.clone(), data.clone());
        let w1 = std::thread::spawn(move || c2.write_all(&d1).unwrap());
        let w2 = std::thread::spawn(move || s2.write_all(&d2).unwrap());
        let mut got_s = vec![0u8; data.len()];
        let mut got_c = vec![0u8; data.len()];
        let r1 = std::thread::spawn(move || {
            server.read_exact(&mut got_s).unwrap();
            (server, got_s)
        });
        client.read_exact(&mut got_c).unwrap();
        let (mut server, got_s) = r1.join().unwrap();
        w1.join().unwrap();
        w2.join().unwrap();
        assert!(got_s == data && got_c == data, "bytes differ");
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
        assert_eq!((r.up, r.down), (3_000_000, 3_000_010));
    }

    #[test]
    fn copy_path_relays_exactly_with_half_close() {
        exercise(false);
    }

    #[test]
    fn zero_copy_path_relays_exactly_with_half_close() {
        exercise(true);
        #[cfg(target_os = "linux")]
        assert!(
            zero_copy::CALLS.load(std::sync::atomic::Ordering::Relaxed) > 0,
            "splice was used"
        );
    }

    #[test]
    fn an_idle_tunnel_state_stays_small() {
        // The relay is what a long-lived idle tunnel keeps in memory
        // (besides its sockets): guard its size against regressions.
        let (_a, a) = pair();
        let (_b, b) = pair();
        let f = relay(&a, &b, Duration::from_secs(1));
        assert!(
            std::mem::size_of_val(&f) <= 512,
            "relay state is {} bytes",
            std::mem::size_of_val(&f)
        );
    }

    #[test]
    fn silence_ends_the_tunnel() {
        let (_client, client_side) = pair();
        let (_server, server_side) = pair();
        let start = Instant::now();
        let r = smol::block_on(relay(
            &client_side,
            &server_side,
            Duration::from_millis(200),
        ));
        assert_eq!(r.error.map(|e| e.kind()), Some(io::ErrorKind::TimedOut));
        assert!(start.elapsed() >= Duration::from_millis(200));
    }
}
