//! The raw-socket peer's side of a test: request builders (`get`,
//! `get_with`, `connect_req`, `connect_with`), `dial` (a connection with
//! the test timeouts) and `send` (one request, one response), lenient
//! readers for what arrives — heads, chunked bodies, whole responses and,
//! for origins written in the tests, whole requests — and checks of how a
//! connection ends (`read_to_close`, `closed_within`, `silent_for`). The
//! readers are written independently of the proxy's own parser; the strict
//! one that judges what an origin received is in `strict.rs`.

use std::io::{self, BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use super::IO_WAIT;

// ------------------------------------------------------------ requests

/// A GET request for `url` through a proxy.
pub fn get(url: &str) -> Vec<u8> {
    get_with(url, "")
}

/// A GET request for `url` with `extra` header lines (each ending in CRLF).
pub fn get_with(url: &str, extra: &str) -> Vec<u8> {
    let host = url.trim_start_matches("http://").split('/').next().unwrap();
    format!("GET {url} HTTP/1.1\r\nHost: {host}\r\n{extra}\r\n").into_bytes()
}

/// A CONNECT request for `authority`.
pub fn connect_req(authority: &str) -> Vec<u8> {
    connect_with(authority, "")
}

/// A CONNECT request for `authority` with `extra` header lines.
pub fn connect_with(authority: &str, extra: &str) -> Vec<u8> {
    format!("CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n{extra}\r\n").into_bytes()
}

// ------------------------------------------------------------ connections

/// A connection to `addr` whose reads and writes fail the test after
/// `IO_WAIT`.
pub fn dial(addr: impl ToSocketAddrs) -> TcpStream {
    let s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(IO_WAIT)).unwrap();
    s.set_write_timeout(Some(IO_WAIT)).unwrap();
    s
}

/// As `dial`, but from the local address `from` (e.g. 127.0.0.2, a second
/// loopback client address), bound before connecting.
pub fn dial_from(from: std::net::IpAddr, addr: std::net::SocketAddr) -> TcpStream {
    use rustix::net::{AddressFamily, SocketType, bind, connect, socket};
    let family = if from.is_ipv4() {
        AddressFamily::INET
    } else {
        AddressFamily::INET6
    };
    let fd = socket(family, SocketType::STREAM, None).expect("socket");
    bind(&fd, &std::net::SocketAddr::new(from, 0)).expect("bind the client address");
    connect(&fd, &addr).expect("connect");
    let s = TcpStream::from(fd);
    s.set_read_timeout(Some(IO_WAIT)).unwrap();
    s.set_write_timeout(Some(IO_WAIT)).unwrap();
    s
}

/// Send `req` to `addr` on a new connection, read one response.
pub fn send(addr: impl ToSocketAddrs, req: &[u8]) -> Response {
    let mut s = dial(addr);
    s.write_all(req).unwrap();
    read_response(&mut BufReader::new(s), false).expect("response")
}

// ------------------------------------------------------------ readers

/// A response read by the test client.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub head: String,
    pub body: Vec<u8>,
}

impl Response {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<String> {
        header_of(&self.head, name)
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Read a head (through the blank line) from `r`.
pub fn read_head<R: BufRead>(r: &mut R) -> io::Result<String> {
    let mut head = String::new();
    loop {
        let mut line = String::new();
        if r.read_line(&mut line)? == 0 {
            return Err(ErrorKind::UnexpectedEof.into());
        }
        let end = line == "\r\n" || line == "\n";
        head.push_str(&line);
        if end && head.len() > 2 {
            return Ok(head);
        }
        if end {
            head.clear();
        }
    }
}

/// The first value of field `name` in `head` (case-insensitive).
fn header_of(head: &str, name: &str) -> Option<String> {
    head.lines().skip(1).find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.trim()
            .eq_ignore_ascii_case(name)
            .then(|| v.trim().to_string())
    })
}

/// Read a chunked body, returning the payload.
pub fn read_chunked<R: BufRead>(r: &mut R) -> io::Result<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let mut line = String::new();
        r.read_line(&mut line)?;
        let size = usize::from_str_radix(line.trim().split(';').next().unwrap_or(""), 16)
            .map_err(|_| io::Error::other(format!("bad chunk line {line:?}")))?;
        if size == 0 {
            loop {
                let mut t = String::new();
                r.read_line(&mut t)?;
                if t == "\r\n" || t.is_empty() {
                    return Ok(body);
                }
            }
        }
        let mut chunk = vec![0; size + 2];
        r.read_exact(&mut chunk)?;
        body.extend_from_slice(&chunk[..size]);
    }
}

/// A body of `Content-Length: cl`.
fn read_sized<R: BufRead>(r: &mut R, cl: &str) -> io::Result<Vec<u8>> {
    let mut b = vec![0; cl.parse().map_err(|_| io::Error::other("bad CL"))?];
    r.read_exact(&mut b)?;
    Ok(b)
}

/// Read one response; `head_req` when it answers a HEAD request.
pub fn read_response<R: BufRead>(r: &mut R, head_req: bool) -> io::Result<Response> {
    loop {
        let head = read_head(r)?;
        let status: u16 = head
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| io::Error::other(format!("bad status line in {head:?}")))?;
        if (100..200).contains(&status) && status != 101 {
            continue;
        }
        let body = if head_req || status == 204 || status == 304 || status == 101 {
            Vec::new()
        } else if header_of(&head, "transfer-encoding")
            .is_some_and(|v| v.eq_ignore_ascii_case("chunked"))
        {
            read_chunked(r)?
        } else if let Some(cl) = header_of(&head, "content-length") {
            read_sized(r, &cl)?
        } else {
            let mut b = Vec::new();
            r.read_to_end(&mut b)?;
            b
        };
        return Ok(Response { status, head, body });
    }
}

/// Read a request (head + Content-Length or chunked body) as an origin.
pub fn read_request<R: BufRead>(r: &mut R) -> io::Result<(String, Vec<u8>)> {
    let head = read_head(r)?;
    let body = if header_of(&head, "transfer-encoding").is_some() {
        read_chunked(r)?
    } else if let Some(cl) = header_of(&head, "content-length") {
        read_sized(r, &cl)?
    } else {
        Vec::new()
    };
    Ok((head, body))
}

/// Whether a request head asks to close the connection.
pub fn asks_close(head: &str) -> bool {
    header_of(head, "connection").is_some_and(|v| v.eq_ignore_ascii_case("close"))
}

// ------------------------------------------------------------ how it ends

/// Read everything until EOF or reset (bounded by the socket timeout).
pub fn read_to_close(s: &mut TcpStream) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    let mut b = [0u8; 16 * 1024];
    loop {
        match s.read(&mut b) {
            Ok(0) => return Ok(out),
            Ok(n) => out.extend_from_slice(&b[..n]),
            Err(e) if e.kind() == ErrorKind::ConnectionReset => return Ok(out),
            Err(e) => return Err(e),
        }
    }
}

/// Whether the peer has closed `s` (EOF or reset) within `limit`, after
/// discarding nothing: any byte that arrives instead is an error.
pub fn closed_within(s: &mut TcpStream, limit: Duration) -> Result<(), String> {
    s.set_read_timeout(Some(limit)).unwrap();
    let mut b = [0u8; 256];
    match s.read(&mut b) {
        Ok(0) => Ok(()),
        Ok(n) => Err(format!(
            "unexpected bytes: {:?}",
            String::from_utf8_lossy(&b[..n])
        )),
        Err(e) if e.kind() == ErrorKind::ConnectionReset => Ok(()),
        Err(e) => Err(format!("still open: {e}")),
    }
}

/// Whether `s` stays open and silent for `d`.
pub fn silent_for(s: &mut TcpStream, d: Duration) -> Result<(), String> {
    s.set_read_timeout(Some(d)).unwrap();
    let mut b = [0u8; 256];
    let r = match s.read(&mut b) {
        Ok(0) => Err("closed".into()),
        Ok(n) => Err(format!(
            "unexpected bytes: {:?}",
            String::from_utf8_lossy(&b[..n])
        )),
        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => Ok(()),
        Err(e) => Err(format!("error: {e}")),
    };
    s.set_read_timeout(Some(IO_WAIT)).unwrap();
    r
}

/// Run the real curl with `args` (every wait bounded by 20 s): exit code,
/// body bytes, stderr.
pub fn curl(args: &[&str]) -> (i32, Vec<u8>, String) {
    let out = std::process::Command::new("curl")
        .args(["-sS", "--max-time", "20"])
        .args(args)
        .output()
        .expect("curl must be installed (make test installs it)");
    (
        out.status.code().unwrap_or(-1),
        out.stdout,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
