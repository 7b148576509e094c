//! Sending a stored body to a client socket: sendfile(2) on Linux, so a
//! hit's bytes go from the page cache to the socket without passing
//! through user space; a read + write loop elsewhere (also built for the
//! tests on Linux, which compare the two). Either way each wait for the
//! socket is bounded by the caller's timeout, and a file shorter than it
//! should be (cut under us) is an error, never a hang or a short body sent
//! as if whole.

use std::fs::File;
use std::io;
use std::net::TcpStream;
use std::time::Duration;

use smol::Async;

#[cfg(any(not(target_os = "linux"), test))]
use crate::buffer::write_all;

/// Most bytes asked of one sendfile call or read: small enough that one
/// call's disk read stays short on an SD card, large enough that a fast
/// socket needs few calls.
const CHUNK: u64 = 1024 * 1024;
/// A task that keeps finding the socket writable yields to the others on
/// its executor thread after this many bytes, so one large hit on a fast
/// link cannot starve the connections beside it.
const YIELD_EVERY: u64 = 4 * CHUNK;

/// The error for a file that ends before `len` bytes were sent.
fn short() -> io::Error {
    io::Error::new(
        io::ErrorKind::UnexpectedEof,
        "cache file shorter than its header says",
    )
}

/// Send `len` bytes of `file` from `offset` to `dst`; returns `len`. Each
/// wait for the socket to take more is bounded by `t` (then TimedOut).
pub(crate) async fn send_file(
    file: &File,
    offset: u64,
    len: u64,
    dst: &Async<TcpStream>,
    t: Duration,
) -> io::Result<u64> {
    #[cfg(target_os = "linux")]
    return sendfile_loop(file, offset, len, dst, t).await;
    #[cfg(not(target_os = "linux"))]
    return copy_loop(file, offset, len, dst, t).await;
}

/// sendfile(2) from the file at an explicit offset (the file's own
/// position is not used, so several hits may share nothing but the data).
#[cfg(target_os = "linux")]
async fn sendfile_loop(
    file: &File,
    offset: u64,
    len: u64,
    dst: &Async<TcpStream>,
    t: Duration,
) -> io::Result<u64> {
    use rustix::io::Errno;
    let (mut at, mut sent, mut since_yield) = (offset, 0u64, 0u64);
    while sent < len {
        let ask = usize::try_from((len - sent).min(CHUNK)).unwrap_or(usize::MAX);
        match rustix::fs::sendfile(dst.get_ref(), file, Some(&mut at), ask) {
            Ok(0) => return Err(short()),
            Ok(n) => {
                sent += n as u64;
                since_yield += n as u64;
                if since_yield >= YIELD_EVERY {
                    since_yield = 0;
                    futures_lite::future::yield_now().await;
                }
            }
            Err(Errno::AGAIN) => crate::buffer::timed(t, dst.writable()).await?,
            Err(Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(sent)
}

/// Portable: read a chunk at the offset, write it with a bounded wait.
#[cfg(any(not(target_os = "linux"), test))]
pub(crate) async fn copy_loop(
    file: &File,
    offset: u64,
    len: u64,
    dst: &Async<TcpStream>,
    t: Duration,
) -> io::Result<u64> {
    use std::io::{Read, Seek, SeekFrom};
    /// The copy buffer: big enough to fill a socket buffer in a few writes.
    const BUF: usize = 64 * 1024;
    let mut f = file;
    f.seek(SeekFrom::Start(offset))?;
    let mut buf = vec![0u8; BUF];
    let mut sent = 0u64;
    while sent < len {
        let want = usize::try_from((len - sent).min(BUF as u64)).unwrap_or(BUF);
        let n = f.read(&mut buf[..want])?;
        if n == 0 {
            return Err(short());
        }
        write_all(dst, &buf[..n], t).await?;
        sent += n as u64;
    }
    Ok(sent)
}

#[cfg(test)]
mod tests {
    use std::fs::OpenOptions;
    use std::io::{Read, Write};
    use std::net::TcpListener;
    use std::thread;

    use super::*;
    use crate::cache::store::tests::{Dir, pattern};

    /// The proxy's side (non-blocking, as smol has it) and the client's.
    fn pair() -> (Async<TcpStream>, TcpStream) {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (ours, _) = l.accept().unwrap();
        (Async::new(ours).unwrap(), client)
    }

    /// A file holding `data` (read + write, so tests can cut it).
    fn file(d: &Dir, data: &[u8]) -> File {
        std::fs::create_dir_all(d.path()).unwrap();
        let p = d.path().join("body");
        let mut f = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(p)
            .unwrap();
        f.write_all(data).unwrap();
        f
    }

    /// Read everything until the sender closes, `pause` after each read.
    fn drain(mut c: TcpStream, pause: Duration) -> thread::JoinHandle<Vec<u8>> {
        thread::spawn(move || {
            let (mut got, mut buf) = (Vec::new(), [0u8; 8192]);
            loop {
                match c.read(&mut buf) {
                    Ok(0) | Err(_) => return got,
                    Ok(n) => got.extend_from_slice(&buf[..n]),
                }
                thread::sleep(pause);
            }
        })
    }

    /// Send with the platform's way (sendfile here) or the fallback.
    fn send(
        f: &File,
        off: u64,
        len: u64,
        dst: &Async<TcpStream>,
        t: Duration,
        fallback: bool,
    ) -> io::Result<u64> {
        if fallback {
            smol::block_on(copy_loop(f, off, len, dst, t))
        } else {
            smol::block_on(send_file(f, off, len, dst, t))
        }
    }

    const T: Duration = Duration::from_secs(10);

    #[test]
    fn exact_bytes_whole_and_ranges() {
        let d = Dir::new("send");
        let data = pattern(3 * 1024 * 1024 + 17, 2);
        let f = file(&d, &data);
        let n = data.len() as u64;
        for fallback in [false, true] {
            for (off, len) in [(0, n), (12_345, 100_000), (n - 1, 1), (5, 0)] {
                let (ours, client) = pair();
                let reader = drain(client, Duration::ZERO);
                assert_eq!(send(&f, off, len, &ours, T, fallback).unwrap(), len);
                drop(ours);
                let got = reader.join().unwrap();
                assert!(
                    got == data[off as usize..(off + len) as usize],
                    "{off}+{len} fallback={fallback}"
                );
            }
        }
    }

    #[test]
    fn a_slow_reader_with_a_small_window_gets_everything() {
        let d = Dir::new("slow");
        let data = pattern(256 * 1024, 7);
        let f = file(&d, &data);
        for fallback in [false, true] {
            let (ours, client) = pair();
            rustix::net::sockopt::set_socket_recv_buffer_size(&client, 16 * 1024).unwrap();
            rustix::net::sockopt::set_socket_send_buffer_size(ours.get_ref(), 16 * 1024).unwrap();
            let reader = drain(client, Duration::from_millis(1));
            let sent = send(&f, 0, data.len() as u64, &ours, T, fallback).unwrap();
            assert_eq!(sent, data.len() as u64);
            drop(ours);
            assert!(reader.join().unwrap() == data, "fallback={fallback}");
        }
    }

    #[test]
    fn a_file_cut_short_is_an_error_not_a_hang() {
        let d = Dir::new("short");
        let f = file(&d, &pattern(300_000, 1));
        f.set_len(100_000).unwrap();
        for fallback in [false, true] {
            let (ours, client) = pair();
            let reader = drain(client, Duration::ZERO);
            let e = send(&f, 0, 300_000, &ours, T, fallback).unwrap_err();
            assert_eq!(
                e.kind(),
                io::ErrorKind::UnexpectedEof,
                "fallback={fallback}"
            );
            drop(ours);
            assert_eq!(reader.join().unwrap().len(), 100_000);
        }
    }

    #[test]
    fn a_reader_that_stops_reading_times_out() {
        let d = Dir::new("stall");
        let f = file(&d, &pattern(8 * 1024 * 1024, 1));
        for fallback in [false, true] {
            let (ours, client) = pair();
            rustix::net::sockopt::set_socket_recv_buffer_size(&client, 4096).unwrap();
            rustix::net::sockopt::set_socket_send_buffer_size(ours.get_ref(), 4096).unwrap();
            let started = std::time::Instant::now();
            let e = send(
                &f,
                0,
                8 * 1024 * 1024,
                &ours,
                Duration::from_millis(300),
                fallback,
            )
            .unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::TimedOut, "fallback={fallback}");
            assert!(started.elapsed() < Duration::from_secs(5));
        }
    }
}
