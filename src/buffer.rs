//! The per-connection read buffer, reading one message head into it, and
//! the timed I/O helpers every other module uses: no read or write in the
//! proxy waits without a limit, and no buffer grows past the limit its
//! caller names.

use std::future::Future;
use std::io;
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use futures_lite::{AsyncReadExt, AsyncWriteExt, FutureExt};
use smol::{Async, Timer};

use crate::http::head::{self, Head, HeadError, ParseHead};

/// Size of each read while streaming a body: large enough to move a bulk
/// transfer in few syscalls, small enough for thousands of connections.
pub const READ_CHUNK: usize = 16 * 1024;
/// First allocation of a read buffer: most request heads fit; larger ones
/// grow it (doubling, up to the caller's limit).
pub const FIRST_READ: usize = 4 * 1024;

/// Run `f`, or fail with `TimedOut` after `d`.
pub async fn timed<T>(d: Duration, f: impl Future<Output = io::Result<T>>) -> io::Result<T> {
    f.or(async {
        Timer::after(d).await;
        Err(io::ErrorKind::TimedOut.into())
    })
    .await
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
            match buf.fill(io, head::MAX_HEAD_BYTES, limit).await {
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
    match timed(limit, read).await {
        Ok(r) => r,
        Err(e) if e.kind() == io::ErrorKind::TimedOut => HeadRead::TimedOut,
        Err(e) => HeadRead::Broken(e),
    }
}

/// A growable read buffer holding bytes received but not yet used.
/// Empty buffers own no memory ([`Buffer::release`]).
#[derive(Debug, Default)]
pub struct Buffer {
    data: Vec<u8>,
    start: usize,
    end: usize,
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
            self.data = Vec::new();
            self.start = 0;
            self.end = 0;
        }
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
                self.data.resize(grown, 0);
            }
        }
        let spare = self.data.get_mut(self.end..).unwrap_or(&mut []);
        let n = timed(d, async {
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
