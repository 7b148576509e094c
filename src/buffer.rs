//! The per-connection read buffer, reading one message head into it, and
//! the timed I/O helpers every other module uses: no read or write in the
//! proxy waits without a limit, and no buffer grows past the limit its
//! caller names. A buffer's reads share one timer ([`Watch`]), so the hot
//! path's waits cost no timer registration each.

use std::cell::RefCell;
use std::future::{Future, poll_fn};
use std::io;
use std::net::{SocketAddr, TcpStream};
use std::pin::{Pin, pin};
use std::task::Poll;
use std::time::{Duration, Instant};

use futures_lite::{AsyncReadExt, AsyncWriteExt, FutureExt};
use smol::{Async, Timer};

use crate::http::head::{self, Head, HeadError, ParseHead};

/// Size of each read while streaming a body: large enough to move a bulk
/// transfer in few syscalls, small enough for thousands of connections.
pub const READ_CHUNK: usize = 16 * 1024;
/// First allocation of a read buffer: most request heads fit; larger ones
/// grow it (doubling, up to the caller's limit).
pub const FIRST_READ: usize = 4 * 1024;
/// Released first-size buffers kept per thread for the next connection
/// that reads: a keep-alive connection gives its buffer up between requests
/// (an idle connection holds none), and taking one back costs neither an
/// allocation nor zeroing 4 KiB. At most 64 KiB per thread.
const SPARE_BUFFERS: usize = 16;

thread_local! {
    static SPARE: RefCell<Vec<Vec<u8>>> = const { RefCell::new(Vec::new()) };
}

/// Run `f`, or fail with `TimedOut` after `d`.
pub async fn timed<T>(d: Duration, f: impl Future<Output = io::Result<T>>) -> io::Result<T> {
    f.or(async {
        Timer::after(d).await;
        Err(io::ErrorKind::TimedOut.into())
    })
    .await
}

/// One connection's timer for all its waits, instead of a timer per wait:
/// async-io wakes the reactor thread (an eventfd write and read, a timerfd
/// re-arm) for every timer it registers. Each wait has its own deadline, a
/// plain number; the timer stays armed at an earlier deadline while later
/// ones come (an idle keep-alive connection's waits only move it forward),
/// and when it fires before the wait's own deadline it is re-armed to that
/// one. So it is registered again about once per timeout period, not once
/// per wait, and a wait never outlives its deadline.
pub struct Watch {
    timer: Timer,
    /// When the timer is registered to fire, if it is.
    armed: Option<Instant>,
}

impl Default for Watch {
    fn default() -> Watch {
        Watch {
            timer: Timer::never(),
            armed: None,
        }
    }
}

impl std::fmt::Debug for Watch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Watch({:?})", self.armed)
    }
}

impl Watch {
    /// Run `f`, or fail with `TimedOut` after `d`.
    pub async fn timed<T>(
        &mut self,
        d: Duration,
        f: impl Future<Output = io::Result<T>>,
    ) -> io::Result<T> {
        // A duration beyond the clock's range means no limit.
        let deadline = Instant::now().checked_add(d);
        let mut f = pin!(f);
        poll_fn(|cx| {
            if let Poll::Ready(r) = f.as_mut().poll(cx) {
                return Poll::Ready(r);
            }
            let Some(deadline) = deadline else {
                return Poll::Pending;
            };
            loop {
                if self.armed.is_none_or(|at| at > deadline) {
                    self.timer.set_at(deadline);
                    self.armed = Some(deadline);
                }
                match Pin::new(&mut self.timer).poll(cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(_) => {
                        self.armed = None;
                        if Instant::now() >= deadline {
                            return Poll::Ready(Err(io::ErrorKind::TimedOut.into()));
                        }
                    }
                }
            }
        })
        .await
    }

    /// Unregister the timer (its waker belongs to the task that last
    /// waited): for a connection that goes idle into a pool.
    pub fn disarm(&mut self) {
        *self = Watch::default();
    }
}

/// Write all of `bytes` to `io`, each stall bounded by `d` as a whole.
pub async fn write_all(io: &Async<TcpStream>, bytes: &[u8], d: Duration) -> io::Result<()> {
    timed(d, async {
        let mut w = io;
        w.write_all(bytes).await
    })
    .await
}

/// The client side of a connection: socket plus bytes read but not used.
pub(crate) struct Client {
    /// The socket.
    pub(crate) io: Async<TcpStream>,
    /// Received bytes not yet consumed (pipelined requests, body bytes).
    pub(crate) buf: Buffer,
    /// Where the client connects from.
    pub(crate) peer: SocketAddr,
}

/// What reading a head gave.
#[derive(Debug)]
pub(crate) enum HeadRead {
    /// A complete head; its bytes are consumed from the buffer.
    Head(Head),
    /// The stream ended cleanly before any byte of a head.
    Closed,
    /// The bytes are not an acceptable head (or exceed a limit).
    Bad(HeadError),
    /// The whole head did not arrive within the limit.
    TimedOut,
    /// The stream failed, or ended in the middle of a head.
    Broken(io::Error),
}

/// Read one head from `buf`/`io` with `parse`, within `limit` overall.
pub(crate) async fn read_head(
    buf: &mut Buffer,
    io: &Async<TcpStream>,
    parse: ParseHead,
    limit: Duration,
) -> HeadRead {
    // The whole head within `limit`: each read waits only what is left.
    let deadline = Instant::now().checked_add(limit);
    let read = async {
        let mut check = !buf.is_empty();
        let mut seen_lf = buf.filled().contains(&b'\n');
        loop {
            // A head can only complete at a LF: parse again only when new
            // bytes brought one, so a slow drip costs no quadratic work.
            if check {
                match parse(buf.filled()) {
                    Ok(Some((h, n))) => {
                        buf.consume(n);
                        return Ok(HeadRead::Head(h));
                    }
                    Ok(None) => {}
                    Err(e) => return Ok(HeadRead::Bad(e)),
                }
            }
            let had = buf.filled().len();
            let left = deadline.map_or(limit, |at| at.saturating_duration_since(Instant::now()));
            match buf.fill(io, head::MAX_HEAD_BYTES, left).await {
                Ok(0) if had == 0 => return Ok(HeadRead::Closed),
                Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::OutOfMemory => {
                    // Full without a complete head: let the parser say
                    // which limit it is (414 or 431).
                    let e = parse(buf.filled()).err().unwrap_or(HeadError::TooLarge);
                    return Ok(HeadRead::Bad(e));
                }
                Err(e) => return Err(e),
            }
            let new_lf = buf
                .filled()
                .get(had..)
                .is_some_and(|new| new.contains(&b'\n'));
            // A first line longer than any valid one is refused at once.
            check = new_lf || (!seen_lf && buf.filled().len() > head::MAX_TARGET_BYTES + 64);
            seen_lf |= new_lf;
        }
    };
    match read.await {
        Ok(r) => r,
        Err(e) if e.kind() == io::ErrorKind::TimedOut => HeadRead::TimedOut,
        Err(e) => HeadRead::Broken(e),
    }
}

/// A growable read buffer holding bytes received but not yet used, and
/// the timer of the connection's reads. Empty buffers own no memory
/// ([`Buffer::release`]).
#[derive(Debug, Default)]
pub struct Buffer {
    data: Vec<u8>,
    start: usize,
    end: usize,
    watch: Watch,
}

impl Buffer {
    /// An empty buffer that owns no memory.
    pub fn new() -> Self {
        Buffer::default()
    }

    /// Bytes received and not yet consumed.
    pub fn filled(&self) -> &[u8] {
        self.data.get(self.start..self.end).unwrap_or(&[])
    }

    /// Whether no bytes are waiting.
    pub fn is_empty(&self) -> bool {
        self.start == self.end
    }

    /// Forget the first `n` waiting bytes.
    pub fn consume(&mut self, n: usize) {
        self.start = (self.start + n).min(self.end);
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
    }

    /// Free the memory of an empty buffer (an idle connection keeps none).
    pub fn release(&mut self) {
        if self.is_empty() {
            let data = std::mem::take(&mut self.data);
            self.start = 0;
            self.end = 0;
            if data.len() == FIRST_READ {
                let _ = SPARE.try_with(|s| {
                    let mut spare = s.borrow_mut();
                    if spare.len() < SPARE_BUFFERS {
                        spare.push(data);
                    }
                });
            }
        }
    }

    /// Run `f` (a wait on this buffer's connection), or fail with
    /// `TimedOut` after `d`, on the connection's one timer.
    pub async fn timed<T>(
        &mut self,
        d: Duration,
        f: impl Future<Output = io::Result<T>>,
    ) -> io::Result<T> {
        self.watch.timed(d, f).await
    }

    /// Unregister the connection's timer (see [`Watch::disarm`]).
    pub fn disarm(&mut self) {
        self.watch.disarm();
    }

    /// Make room for at least `n` bytes in all (for streaming a body).
    pub fn grow_to(&mut self, n: usize) {
        if self.data.len() < n {
            self.data.resize(n, 0);
        }
    }

    /// Read more bytes from `io` (waiting at most `d`), keeping at most
    /// `limit` bytes in the buffer. Returns how many were read: 0 at end of
    /// stream. Fails with `OutOfMemory` when already holding `limit` bytes.
    pub async fn fill(
        &mut self,
        io: &Async<TcpStream>,
        limit: usize,
        d: Duration,
    ) -> io::Result<usize> {
        if self.end == self.data.len() {
            if self.start > 0 {
                self.data.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
            } else if self.data.len() >= limit {
                return Err(io::ErrorKind::OutOfMemory.into());
            } else {
                let grown = (self.data.len() * 2).max(FIRST_READ).min(limit.max(1));
                let spare = (self.data.is_empty() && grown == FIRST_READ)
                    .then(|| SPARE.try_with(|s| s.borrow_mut().pop()).ok().flatten())
                    .flatten();
                match spare {
                    Some(v) => self.data = v,
                    None => self.data.resize(grown, 0),
                }
            }
        }
        let spare = self.data.get_mut(self.end..).unwrap_or(&mut []);
        let n = self
            .watch
            .timed(d, async {
                let mut r = io;
                r.read(spare).await
            })
            .await?;
        self.end += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::net::TcpListener;

    #[test]
    fn one_watch_keeps_every_deadline() {
        smol::block_on(async {
            let mut w = Watch::default();
            let never = || std::future::pending::<io::Result<()>>();
            let after = |ms| async move {
                Timer::after(Duration::from_millis(ms)).await;
                Ok(())
            };
            // Armed far ahead, then a shorter wait: re-armed earlier.
            w.timed(Duration::from_secs(5), after(10)).await.unwrap();
            let t = Instant::now();
            let e = w.timed(Duration::from_millis(50), never()).await;
            assert_eq!(e.unwrap_err().kind(), io::ErrorKind::TimedOut);
            assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
            // Armed early, then a longer wait: the early firing is not a
            // timeout, the wait gets its whole time.
            w.timed(Duration::from_millis(30), after(5)).await.unwrap();
            let t = Instant::now();
            let e = w.timed(Duration::from_millis(300), never()).await;
            assert_eq!(e.unwrap_err().kind(), io::ErrorKind::TimedOut);
            assert!(
                t.elapsed() >= Duration::from_millis(300),
                "{:?}",
                t.elapsed()
            );
            // Disarmed (pooled): still times out when used again.
            w.disarm();
            let e = w.timed(Duration::from_millis(20), never()).await;
            assert_eq!(e.unwrap_err().kind(), io::ErrorKind::TimedOut);
        });
    }

    #[test]
    fn fills_grows_and_releases() {
        smol::block_on(async {
            let l = TcpListener::bind("127.0.0.1:0").unwrap();
            let mut w = TcpStream::connect(l.local_addr().unwrap()).unwrap();
            let r = Async::new(l.accept().unwrap().0).unwrap();
            let mut b = Buffer::new();
            w.write_all(&[7u8; 40_000]).unwrap();
            let mut total = 0;
            while total < 40_000 {
                total += b.fill(&r, 64 * 1024, Duration::from_secs(5)).await.unwrap();
            }
            assert_eq!(b.filled().len(), 40_000);
            b.consume(39_999);
            assert_eq!(b.filled(), &[7]);
            b.release();
            assert_eq!(b.filled(), &[7], "release keeps waiting bytes");
            b.consume(1);
            b.release();
            assert_eq!(b.data.capacity(), 0);
            // A limit reached with no room left is an error, not growth.
            w.write_all(&[1u8; 100]).unwrap();
            let mut small = Buffer::new();
            while small.filled().len() < 16 {
                small.fill(&r, 16, Duration::from_secs(5)).await.unwrap();
            }
            let e = small
                .fill(&r, 16, Duration::from_secs(5))
                .await
                .unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::OutOfMemory);
            small.consume(16);
            let mut rest = 0;
            while rest < 84 {
                rest += small.fill(&r, 16, Duration::from_secs(5)).await.unwrap();
                small.consume(small.filled().len());
            }
            // Timeouts fire.
            let mut idle = Buffer::new();
            let e = idle
                .fill(&r, 1024, Duration::from_millis(50))
                .await
                .unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::TimedOut);
        });
    }
}
