//! "TLS is a pipe": a TLS stream (the client's, on the HTTPS listener; or
//! either side of an inspected connection) is turned into an ordinary
//! `Async<TcpStream>` so the whole HTTP machinery (conn, forward, body,
//! tunnel) works on it unchanged. [`pipe`] makes a connected pair of Unix
//! stream sockets and spawns a small relay task that copies plaintext
//! between the TLS stream and one end; the caller gets the other end.
//!
//! The relay passes half-closes on both ways: the TLS peer's close_notify
//! (or its TCP end) becomes `shutdown(Write)` on the socket pair, and the
//! socket pair's end becomes close_notify plus the TCP write side's
//! shutdown. It ends when both ways have ended, on the first error, or when
//! no byte moved either way for the idle bound. Memory per pipe is bounded:
//! one [`PIPE_BUF`] buffer per direction in the relay, and the socket
//! pair's kernel buffers asked down to [`PAIR_SNDBUF`] (rustls holds at
//! most one record of its own per direction).
//!
//! The pair's sockets are `AF_UNIX`: reads, writes, shutdown and splice(2)
//! work on them as on TCP; TCP socket options (`TCP_NODELAY`) fail
//! harmlessly, and `local_addr`/`peer_addr` fail, so users fall back on
//! the addresses they were given.

use std::io;
use std::net::{Shutdown, TcpStream};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use futures_lite::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use futures_lite::{FutureExt, future};
use rustix::net::{AddressFamily, SocketFlags, SocketType, socketpair};
use smol::{Async, Timer};

use crate::state::Shared;

/// Bytes moved per read in each direction: one TLS record's plaintext at
/// most (RFC 8446 §5.1: 2^14), so a read takes one decrypted record.
pub(crate) const PIPE_BUF: usize = 16 * 1024;

/// Send buffer asked for on each end of the socket pair. The kernel's
/// default (net.core.wmem_default, ~200 KiB) would let each TLS connection
/// park that much plaintext in the kernel; 64 KiB keeps a bulk flow
/// moving with few wake-ups. Best effort: the kernel may round it.
pub(crate) const PAIR_SNDBUF: usize = 64 * 1024;

/// Turn `tls` into a plain socket: returns the end the caller reads and
/// writes plaintext on, and runs the relay as a task on the server's
/// executor. The relay ends at the latest after `idle` without a byte
/// moving either way. Errors: no descriptors for the pair, or the server
/// is stopping.
pub(crate) fn pipe<S>(tls: S, shared: &Shared, idle: Duration) -> io::Result<Async<TcpStream>>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (ours, theirs) = pair()?;
    let task = async move {
        if let Err(e) = relay(tls, ours, idle).await {
            log::debug!("tls pipe ended: {e}");
        }
    };
    shared
        .spawn(task)
        .map_err(|_| io::Error::other("the server is stopping"))?;
    Ok(theirs)
}

/// A connected pair of non-blocking Unix stream sockets, as `TcpStream`s.
fn pair() -> io::Result<(Async<TcpStream>, Async<TcpStream>)> {
    let flags = SocketFlags::CLOEXEC | SocketFlags::NONBLOCK;
    let (a, b) = socketpair(AddressFamily::UNIX, SocketType::STREAM, flags, None)?;
    for fd in [&a, &b] {
        // Best effort (see PAIR_SNDBUF): a larger buffer still works.
        let _ = rustix::net::sockopt::set_socket_send_buffer_size(fd, PAIR_SNDBUF);
    }
    Ok((
        Async::new(TcpStream::from(a))?,
        Async::new(TcpStream::from(b))?,
    ))
}

/// When a byte last moved, in milliseconds since the relay began (a u32
/// wraps after 49 days; differences use wrapping arithmetic). Atomic so
/// both directions' futures can share it and the task stays `Send`.
struct Clock {
    start: Instant,
    last: AtomicU32,
}

impl Clock {
    fn now(&self) -> u32 {
        self.start.elapsed().as_millis() as u32
    }

    fn touch(&self) {
        self.last.store(self.now(), Ordering::Relaxed);
    }

    fn quiet(&self) -> Duration {
        let ms = self.now().wrapping_sub(self.last.load(Ordering::Relaxed));
        Duration::from_millis(u64::from(ms))
    }
}

/// Copy plaintext both ways between `tls` and `plain` until both ways
/// have ended (Ok), an error, or `idle` without traffic (TimedOut).
pub(crate) async fn relay<S>(tls: S, plain: Async<TcpStream>, idle: Duration) -> io::Result<()>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let (mut tls_r, mut tls_w) = futures_lite::io::split(tls);
    let clock = Clock {
        start: Instant::now(),
        last: AtomicU32::new(0),
    };
    let plain = &plain;
    let clock = &clock;
    // TLS → plain: a close_notify (Ok(0)) or a TCP end without one
    // (UnexpectedEof: HTTP framing still tells a cut message) ends it.
    let down = async move {
        let mut buf = vec![0u8; PIPE_BUF];
        loop {
            let n = match tls_r.read(&mut buf).await {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => break,
                Err(e) => return Err(e),
            };
            clock.touch();
            let mut w = plain;
            w.write_all(buf.get(..n).unwrap_or(&[])).await?;
        }
        let _ = plain.get_ref().shutdown(Shutdown::Write);
        Ok::<(), io::Error>(())
    };
    // plain → TLS: each read is written and flushed as records at once
    // (the other end of the pair already batches what it writes).
    let up = async move {
        let mut buf = vec![0u8; PIPE_BUF];
        loop {
            let mut r = plain;
            let n = r.read(&mut buf).await?;
            if n == 0 {
                break;
            }
            clock.touch();
            tls_w.write_all(buf.get(..n).unwrap_or(&[])).await?;
            tls_w.flush().await?;
        }
        // close_notify, then the TCP write side's shutdown (RFC 8446 §6.1).
        tls_w.close().await
    };
    let watch = async move {
        loop {
            let quiet = clock.quiet();
            if quiet >= idle {
                return Err(io::Error::new(io::ErrorKind::TimedOut, "tls pipe idle"));
            }
            Timer::after(idle - quiet).await;
        }
    };
    let both = async move { future::try_zip(down, up).await.map(|_| ()) };
    both.or(watch).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::net::TcpListener;

    /// A loopback TCP pair (blocking std end, async end), standing in for
    /// the TLS stream: the relay only needs AsyncRead + AsyncWrite.
    fn tcp() -> (TcpStream, Async<TcpStream>) {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let a = TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let b = l.accept().unwrap().0;
        a.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        (a, Async::new(b).unwrap())
    }

    fn blocking(a: Async<TcpStream>) -> TcpStream {
        let s = a.into_inner().unwrap();
        s.set_nonblocking(false).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s
    }

    #[test]
    fn bytes_and_half_close_pass_both_ways() {
        let (mut far, near) = tcp();
        let (ours, theirs) = pair().unwrap();
        let mut inner = blocking(theirs);
        let relay =
            std::thread::spawn(move || smol::block_on(relay(near, ours, Duration::from_secs(10))));
        // More than the pair's buffers hold, both ways at once.
        let data: Vec<u8> = (0..1_000_000u32).map(|i| (i % 251) as u8).collect();
        let (d1, d2) = (data.clone(), data.clone());
        let mut far2 = far.try_clone().unwrap();
        let mut inner2 = inner.try_clone().unwrap();
        let w1 = std::thread::spawn(move || far2.write_all(&d1).unwrap());
        let w2 = std::thread::spawn(move || inner2.write_all(&d2).unwrap());
        let mut got_inner = vec![0u8; data.len()];
        let r = std::thread::spawn(move || {
            inner.read_exact(&mut got_inner).unwrap();
            (inner, got_inner)
        });
        let mut got_far = vec![0u8; data.len()];
        far.read_exact(&mut got_far).unwrap();
        let (mut inner, got_inner) = r.join().unwrap();
        w1.join().unwrap();
        w2.join().unwrap();
        assert!(got_far == data && got_inner == data, "bytes differ");
        // The far side ends its sending: the inner side sees the end and
        // can still answer.
        far.shutdown(Shutdown::Write).unwrap();
        let mut rest = Vec::new();
        inner.read_to_end(&mut rest).unwrap();
        assert!(rest.is_empty());
        inner.write_all(b"answer").unwrap();
        inner.shutdown(Shutdown::Write).unwrap();
        let mut answer = Vec::new();
        far.read_to_end(&mut answer).unwrap();
        assert_eq!(answer, b"answer");
        relay.join().unwrap().unwrap();
    }

    #[test]
    fn silence_ends_the_pipe() {
        let (_far, near) = tcp();
        let (ours, _theirs) = pair().unwrap();
        let start = Instant::now();
        let r = smol::block_on(relay(near, ours, Duration::from_millis(200)));
        assert_eq!(r.map_err(|e| e.kind()), Err(io::ErrorKind::TimedOut));
        assert!(start.elapsed() >= Duration::from_millis(200));
    }

    #[test]
    fn the_pair_takes_what_tcp_code_does() {
        let (a, b) = pair().unwrap();
        // TCP options fail without harm; local_addr fails (callers fall
        // back); shutdown works.
        let _ = a.get_ref().set_nodelay(true);
        assert!(a.get_ref().local_addr().is_err());
        a.get_ref().shutdown(Shutdown::Write).unwrap();
        let mut b = blocking(b);
        let mut rest = Vec::new();
        b.read_to_end(&mut rest).unwrap();
        assert!(rest.is_empty());
    }
}
