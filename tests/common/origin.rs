//! Origin servers for the proxy to reach, on loopback port 0, each a
//! blocking thread per connection written independently of the proxy's
//! parser: `Origin` runs a handler per connection and records the request
//! heads it read (ready-made: `echo`, `fixed`, `hostile`, `tcp_echo`);
//! `Recorder` keeps every raw byte per connection and answers what the
//! strict parser frames; `TlsOrigin` is `openssl s_server` with a
//! certificate made for the test.

use std::io::{BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::IO_WAIT;
use super::client::{asks_close, read_request};
use super::files::TempDir;
use super::strict::parse_message;

/// Accept on `l` forever on a thread of its own, handing each connection
/// to `on_accept` (on that thread, in accept order).
fn accept_each(
    l: TcpListener,
    mut on_accept: impl FnMut(TcpStream) + Send + 'static,
) -> SocketAddr {
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in l.incoming() {
            let Ok(stream) = stream else { continue };
            on_accept(stream);
        }
    });
    addr
}

/// An origin running a handler for each connection on its own thread.
/// Counts connections, and keeps the request heads a handler pushes to
/// `seen`.
pub struct Origin {
    pub addr: SocketAddr,
    pub connections: Arc<AtomicUsize>,
    pub seen: Arc<Mutex<Vec<String>>>,
}

impl Origin {
    /// An origin on 127.0.0.1:0 running `handler` for each connection
    /// (whose reads time out after `IO_WAIT`).
    pub fn raw<F>(handler: F) -> Origin
    where
        F: Fn(TcpStream, &Mutex<Vec<String>>) + Send + Sync + 'static,
    {
        Origin::on(TcpListener::bind("127.0.0.1:0").unwrap(), handler)
    }

    /// The same on a listener the test bound itself (another address).
    pub fn on<F>(l: TcpListener, handler: F) -> Origin
    where
        F: Fn(TcpStream, &Mutex<Vec<String>>) + Send + Sync + 'static,
    {
        let connections = Arc::new(AtomicUsize::new(0));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let handler = Arc::new(handler);
        let (c, s) = (connections.clone(), seen.clone());
        let addr = accept_each(l, move |stream| {
            stream.set_read_timeout(Some(IO_WAIT)).ok();
            c.fetch_add(1, Ordering::SeqCst);
            let (h, s) = (handler.clone(), s.clone());
            std::thread::spawn(move || h(stream, &s));
        });
        Origin {
            addr,
            connections,
            seen,
        }
    }

    /// A keep-alive origin that answers every request with `200` and a body
    /// `METHOD PATH\n` followed by the request body it received.
    pub fn echo() -> Origin {
        Origin::echo_on(TcpListener::bind("127.0.0.1:0").unwrap())
    }

    /// The same on a listener the test bound itself.
    pub fn echo_on(l: TcpListener) -> Origin {
        Origin::on(l, |stream, seen| {
            let mut r = BufReader::new(stream.try_clone().unwrap());
            let mut w = stream;
            while let Ok((head, body)) = read_request(&mut r) {
                seen.lock().unwrap().push(head.clone());
                let mut parts = head.split_whitespace();
                let (m, p) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
                let mut out = format!("{m} {p}\n").into_bytes();
                out.extend_from_slice(&body);
                let close = asks_close(&head);
                let resp = format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nX-Origin: echo\r\n{}\r\n",
                    out.len(),
                    if close { "Connection: close\r\n" } else { "" }
                );
                if w.write_all(resp.as_bytes())
                    .and_then(|_| w.write_all(if m == "HEAD" { &[] } else { &out }))
                    .is_err()
                    || close
                {
                    break;
                }
            }
        })
    }

    /// An origin that reads one request, then writes `reply` verbatim and
    /// closes (its write side, then the socket).
    pub fn fixed(reply: &'static [u8]) -> Origin {
        Origin::raw(move |stream, seen| {
            let mut r = BufReader::new(stream.try_clone().unwrap());
            if let Ok((head, _)) = read_request(&mut r) {
                seen.lock().unwrap().push(head);
            }
            let mut w = stream;
            let _ = w.write_all(reply);
            let _ = w.shutdown(Shutdown::Write);
            std::thread::sleep(Duration::from_millis(200));
        })
    }

    /// A keep-alive origin that answers `/evil` with `reply` (then closes
    /// when `close`) and anything else with `200` and body `clean`.
    pub fn hostile(reply: &'static [u8], close: bool) -> Origin {
        const CLEAN: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nclean";
        Origin::raw(move |stream, seen| {
            let mut r = BufReader::new(stream.try_clone().unwrap());
            let mut w = stream;
            while let Ok((head, _)) = read_request(&mut r) {
                seen.lock().unwrap().push(head.clone());
                let evil = head.split_whitespace().nth(1) == Some("/evil");
                if w.write_all(if evil { reply } else { CLEAN }).is_err() {
                    return;
                }
                if evil && close {
                    let _ = w.shutdown(Shutdown::Both);
                    return;
                }
            }
        })
    }

    /// A keep-alive origin whose answer to each request is what `reply`
    /// returns for its head (whole response bytes; one saying `Connection:
    /// close` closes the connection after it); every head is kept in
    /// `seen`, so a test counts what reached the origin (the cache tests).
    pub fn scripted<F>(reply: F) -> Origin
    where
        F: Fn(&str) -> Vec<u8> + Send + Sync + 'static,
    {
        Origin::raw(move |stream, seen| {
            let mut r = BufReader::new(stream.try_clone().unwrap());
            let mut w = stream;
            while let Ok((head, _)) = read_request(&mut r) {
                seen.lock().unwrap().push(head.clone());
                let out = reply(&head);
                // A reply saying `Connection: close` ends the connection.
                let end = out
                    .windows(19)
                    .any(|w| w.eq_ignore_ascii_case(b"connection: close\r\n"));
                if w.write_all(&out).is_err() || asks_close(&head) || end {
                    let _ = w.shutdown(Shutdown::Both);
                    return;
                }
            }
        })
    }

    /// How many request heads containing `needle` reached this origin.
    pub fn count(&self, needle: &str) -> usize {
        let seen = self.seen.lock().unwrap();
        seen.iter().filter(|h| h.contains(needle)).count()
    }

    /// A byte-level server for tunnels: echoes everything until EOF, then
    /// writes `tail` and half-closes. Its reads never time out (an idle
    /// tunnel is what some tests hold open).
    pub fn tcp_echo(tail: &'static [u8]) -> Origin {
        Origin::tcp_echo_on(TcpListener::bind("127.0.0.1:0").unwrap(), tail)
    }

    /// The same on a listener the test bound itself.
    pub fn tcp_echo_on(l: TcpListener, tail: &'static [u8]) -> Origin {
        Origin::on(l, move |mut s, _| {
            s.set_read_timeout(None).ok();
            let mut w = s.try_clone().unwrap();
            let _ = std::io::copy(&mut s, &mut w);
            let _ = w.write_all(tail);
            let _ = w.shutdown(Shutdown::Write);
        })
    }

    /// The URL of `path` on this origin.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }
}

// ------------------------------------------------------------ recorder

/// One upstream connection as a `Recorder` saw it.
#[derive(Debug, Default)]
pub struct ConnLog {
    pub bytes: Vec<u8>,
    pub closed: bool,
}

/// An origin on 127.0.0.1:0 that records raw bytes per connection and
/// answers each complete request (framed by the strict parser) with `200`
/// and body `ok` (no body for HEAD).
pub struct Recorder {
    pub addr: SocketAddr,
    pub conns: Arc<Mutex<Vec<Arc<Mutex<ConnLog>>>>>,
}

impl Recorder {
    pub fn start() -> Recorder {
        let conns: Arc<Mutex<Vec<Arc<Mutex<ConnLog>>>>> = Arc::default();
        let c = conns.clone();
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = accept_each(l, move |s| {
            let log = Arc::new(Mutex::new(ConnLog::default()));
            c.lock().unwrap().push(log.clone());
            std::thread::spawn(move || record(s, &log));
        });
        Recorder { addr, conns }
    }

    /// Every byte received, one entry per connection, in accept order.
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
        super::eventually(limit, || {
            self.conns
                .lock()
                .unwrap()
                .iter()
                .all(|c| c.lock().unwrap().closed)
        })
    }
}

/// Serve one recorded connection until EOF, error or `IO_WAIT` of silence.
fn record(mut s: TcpStream, log: &Mutex<ConnLog>) {
    s.set_read_timeout(Some(IO_WAIT)).ok();
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
}

// ------------------------------------------------------------ TLS

/// A local TLS origin: `openssl s_server` with a self-signed certificate
/// made for the test (and removed with it): for `localhost` on loopback
/// (`start`), or for a test name inside a network namespace (`files_in`).
pub struct TlsOrigin {
    pub child: Child,
    pub port: u16,
    pub cert: PathBuf,
    _dir: TempDir,
}

impl Drop for TlsOrigin {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl TlsOrigin {
    /// On a free 127.0.0.1 port, for `localhost`, answering `-www`.
    pub fn start() -> TlsOrigin {
        let port = super::free_port();
        let accept: SocketAddr = ([127, 0, 0, 1], port).into();
        TlsOrigin::start_with("localhost", None, accept, "-www")
    }

    /// On a free 127.0.0.1 port, for `localhost`, serving the files of
    /// [`dir`](Self::dir) (`-WWW`).
    pub fn files() -> TlsOrigin {
        let accept: SocketAddr = ([127, 0, 0, 1], super::free_port()).into();
        TlsOrigin::start_with("localhost", None, accept, "-WWW")
    }

    /// In the network namespace `ns` on `accept`, with a certificate for
    /// `name`, serving the files of [`dir`](Self::dir) (`-WWW`).
    pub fn files_in(ns: &str, accept: SocketAddr, name: &str) -> TlsOrigin {
        TlsOrigin::start_with(name, Some(ns), accept, "-WWW")
    }

    /// Where `-WWW` serves files from.
    pub fn dir(&self) -> &std::path::Path {
        self._dir.path()
    }

    fn start_with(name: &str, ns: Option<&str>, accept: SocketAddr, mode: &str) -> TlsOrigin {
        let dir = TempDir::new("tls");
        let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
        let ok = Command::new("openssl")
            .args([
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "1",
                "-subj",
                &format!("/CN={name}"),
            ])
            .args(["-addext", &format!("subjectAltName=DNS:{name}")])
            .arg("-keyout")
            .arg(&key)
            .arg("-out")
            .arg(&cert)
            .stderr(Stdio::null())
            .status()
            .expect("openssl must be installed (make test installs it)");
        assert!(ok.success());
        let mut cmd = match ns {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns, "openssl"]);
                c
            }
            None => Command::new("openssl"),
        };
        let child = cmd
            .args(["s_server", "-accept", &accept.to_string(), mode, "-quiet"])
            .arg("-cert")
            .arg(&cert)
            .arg("-key")
            .arg(&key)
            .current_dir(dir.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let reach = || TcpStream::connect(accept).is_ok();
        assert!(super::eventually(Duration::from_secs(10), || match ns {
            Some(ns) => super::netns::in_ns(ns, reach),
            None => reach(),
        }));
        TlsOrigin {
            child,
            port: accept.port(),
            cert,
            _dir: dir,
        }
    }
}
