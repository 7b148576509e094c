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
