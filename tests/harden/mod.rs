//! Helpers shared by the hardening tests (smuggling, faults, exhaustion):
//! a recording origin that keeps every raw byte it received per
//! connection, a strict parser for what an origin received, and client
//! checks for "the connection is closed".
#![allow(dead_code)]

use std::io::{self, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One upstream connection as an origin saw it.
#[derive(Debug, Default)]
pub struct ConnLog {
    pub bytes: Vec<u8>,
    pub closed: bool,
}

/// An origin on 127.0.0.1:0 that records raw bytes per connection and
/// answers each complete request (framed by its own strict parser) with
/// `200` and body `ok` (no body for HEAD).
pub struct Recorder {
    pub addr: SocketAddr,
    pub conns: Arc<Mutex<Vec<Arc<Mutex<ConnLog>>>>>,
}

impl Recorder {
    pub fn start() -> Recorder {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let conns: Arc<Mutex<Vec<Arc<Mutex<ConnLog>>>>> = Arc::default();
        let c = conns.clone();
        std::thread::spawn(move || {
            for s in l.incoming() {
                let Ok(mut s) = s else { continue };
                let log = Arc::new(Mutex::new(ConnLog::default()));
                c.lock().unwrap().push(log.clone());
                std::thread::spawn(move || {
                    s.set_read_timeout(Some(Duration::from_secs(10))).ok();
                    let mut pending = Vec::new();
                    let mut buf = [0u8; 16 * 1024];
                    loop {
                        let n = match s.read(&mut buf) {
                            Ok(0) | Err(_) => break,
                            Ok(n) => n,
                        };
                        log.lock().unwrap().bytes.extend_from_slice(&buf[..n]);
                        pending.extend_from_slice(&buf[..n]);
                        while let Ok(Some(m)) = parse_message(&pending) {
                            pending.drain(..m.len);
                            let reply: &[u8] = if m.head.starts_with("HEAD ") {
                                b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n"
                            } else {
                                b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
                            };
                            if s.write_all(reply).is_err() {
                                break;
                            }
                        }
                    }
                    log.lock().unwrap().closed = true;
                });
            }
        });
        Recorder { addr, conns }
    }

    /// Every byte received, all connections concatenated in order.
    pub fn received(&self) -> Vec<Vec<u8>> {
        self.conns
            .lock()
            .unwrap()
            .iter()
            .map(|c| c.lock().unwrap().bytes.clone())
            .collect()
    }

    /// Wait until every upstream connection the proxy opened is closed.
    pub fn all_closed(&self, limit: Duration) -> bool {
        crate::common::eventually(limit, || {
            self.conns
                .lock()
                .unwrap()
                .iter()
                .all(|c| c.lock().unwrap().closed)
        })
    }
}

/// One message as a strict recipient parsed it.
#[derive(Debug)]
pub struct Message {
    pub head: String,
    pub body: Vec<u8>,
    /// Bytes of the input it took.
    pub len: usize,
}

impl Message {
    pub fn fields(&self, name: &str) -> Vec<String> {
        self.head
            .split("\r\n")
            .skip(1)
            .filter_map(|l| l.split_once(':'))
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.trim().to_string())
            .collect()
    }
}

fn tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Parse one request (or response, if it starts with `HTTP/`) strictly:
/// CRLF only, token names, no control bytes, at most one of CL/TE, TE
/// exactly `chunked`, a strict chunked body. `Ok(None)`: incomplete.
pub fn parse_message(b: &[u8]) -> Result<Option<Message>, String> {
    let Some(end) = b.windows(4).position(|w| w == b"\r\n\r\n") else {
        return Ok(None);
    };
    let head = &b[..end + 4];
    for (i, &c) in head.iter().enumerate() {
        if c == b'\n' && (i == 0 || head[i - 1] != b'\r') {
            return Err("bare LF in head".into());
        }
        if c == b'\r' && head.get(i + 1) != Some(&b'\n') {
            return Err("bare CR in head".into());
        }
        if (c < 0x20 && c != b'\r' && c != b'\n' && c != b'\t') || c == 0x7f {
            return Err(format!("control byte {c:#x} in head"));
        }
    }
    let head = String::from_utf8_lossy(head).into_owned();
    let mut cl = Vec::new();
    let mut te = Vec::new();
    for line in head.split("\r\n").skip(1).filter(|l| !l.is_empty()) {
        let (n, v) = line.split_once(':').ok_or("field without colon")?;
        if n.is_empty() || !n.bytes().all(tchar) {
            return Err(format!("bad field name {n:?}"));
        }
        if n.eq_ignore_ascii_case("content-length") {
            cl.push(v.trim().to_string());
        }
        if n.eq_ignore_ascii_case("transfer-encoding") {
            te.push(v.trim().to_string());
        }
    }
    let rest = &b[end + 4..];
    let response = head.starts_with("HTTP/");
    let (body, used) = match (cl.len(), te.len()) {
        (0, 0) if response => (rest.to_vec(), rest.len()),
        (0, 0) => (Vec::new(), 0),
        (1, 0) => {
            let v = &cl[0];
            if v.is_empty() || !v.bytes().all(|c| c.is_ascii_digit()) {
                return Err(format!("bad Content-Length {v:?}"));
            }
            let n: usize = v.parse().map_err(|_| "Content-Length overflow")?;
            if rest.len() < n {
                return Ok(None);
            }
            (rest[..n].to_vec(), n)
        }
        (0, 1) if te[0] == "chunked" => match dechunk(rest)? {
            Some(x) => x,
            None => return Ok(None),
        },
        // A response whose last coding is not chunked ends at close.
        (0, 1)
            if response
                && !te[0]
                    .rsplit(',')
                    .next()
                    .is_some_and(|c| c.trim().eq_ignore_ascii_case("chunked")) =>
        {
            (rest.to_vec(), rest.len())
        }
        _ => return Err(format!("ambiguous framing CL={cl:?} TE={te:?}")),
    };
    Ok(Some(Message {
        len: end + 4 + used,
        head,
        body,
    }))
}

fn line(b: &[u8]) -> Result<Option<(&[u8], usize)>, String> {
    match b.windows(2).position(|w| w == b"\r\n") {
        Some(i) => {
            if b[..i].iter().any(|&c| c == b'\n' || c == b'\r') {
                return Err("bare CR/LF in chunked framing".into());
            }
            Ok(Some((&b[..i], i + 2)))
        }
        None => Ok(None),
    }
}

fn dechunk(b: &[u8]) -> Result<Option<(Vec<u8>, usize)>, String> {
    let mut pos = 0;
    let mut body = Vec::new();
    loop {
        let Some((l, n)) = line(&b[pos..])? else {
            return Ok(None);
        };
        pos += n;
        let size = l.split(|&c| c == b';').next().unwrap_or(&[]);
        let size = std::str::from_utf8(size).map_err(|_| "chunk size not ASCII")?;
        if size.is_empty() || !size.bytes().all(|c| c.is_ascii_hexdigit()) {
            return Err(format!("bad chunk size {size:?}"));
        }
        let size = usize::from_str_radix(size, 16).map_err(|_| "chunk size overflow")?;
        if size == 0 {
            loop {
                let Some((t, n)) = line(&b[pos..])? else {
                    return Ok(None);
                };
                pos += n;
                if t.is_empty() {
                    return Ok(Some((body, pos)));
                }
            }
        }
        if b.len() < pos + size + 2 {
            return Ok(None);
        }
        body.extend_from_slice(&b[pos..pos + size]);
        if &b[pos + size..pos + size + 2] != b"\r\n" {
            return Err("chunk data not followed by CRLF".into());
        }
        pos += size + 2;
    }
}

/// Every message in `b`, which must split into complete, strict messages.
pub fn parse_all(mut b: &[u8]) -> Result<Vec<Message>, String> {
    let mut out = Vec::new();
    while !b.is_empty() {
        match parse_message(b)? {
            Some(m) => {
                b = &b[m.len..];
                out.push(m);
            }
            None => {
                return Err(format!(
                    "incomplete message: {:?}",
                    String::from_utf8_lossy(b)
                ));
            }
        }
    }
    Ok(out)
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
    s.set_read_timeout(Some(crate::common::IO_WAIT)).unwrap();
    r
}

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
