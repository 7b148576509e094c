//! Test harness: start the real proxy in-process on 127.0.0.1:0 with a
//! resolver that knows only `localhost` (no test ever reaches a DNS
//! server), small origin servers on 127.0.0.1:0 (blocking threads, written
//! independently of the proxy's own parser), and raw-socket client helpers.
#![allow(dead_code)]

pub mod bin;

use std::io::{self, BufRead, BufReader, Write};
use std::net::{IpAddr, Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use smolproxy::config::Config;
use smolproxy::policy::ConnectPorts;
use smolproxy::server::Handle;
use smolproxy::upstream::{Lookup, Resolver};

/// How long any test socket waits for a byte before failing the test.
pub const IO_WAIT: Duration = Duration::from_secs(10);

/// A running proxy.
pub struct Proxy {
    pub handle: Handle,
    pub addr: SocketAddr,
}

/// The test resolver: `localhost` → 127.0.0.1; `slow.test` never answers;
/// everything else fails as NXDOMAIN would.
pub fn test_resolver() -> Resolver {
    Arc::new(|host: &str, port: u16| {
        let host = host.to_string();
        Box::pin(async move {
            match host.as_str() {
                "localhost" => Ok(vec![SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port)]),
                "slow.test" => {
                    smol::Timer::after(Duration::from_secs(3600)).await;
                    Ok(vec![])
                }
                _ => Err(io::Error::new(io::ErrorKind::NotFound, "name not found")),
            }
        }) as Lookup
    })
}

/// A config for tests: loopback port 0, any CONNECT port, quiet logs.
pub fn test_config() -> Config {
    let mut c = Config {
        listen: vec!["127.0.0.1:0".parse().unwrap()],
        threads: 2,
        drain_timeout: Duration::from_secs(2),
        ..Config::default()
    };
    c.policy.connect_ports = ConnectPorts::Any;
    c
}

pub fn start_with(c: Config) -> Proxy {
    smolproxy::logger::init(log::LevelFilter::Warn);
    let handle = smolproxy::server::bind(c)
        .expect("bind")
        .with_resolver(test_resolver())
        .start()
        .expect("start");
    let addr = handle.addrs()[0];
    Proxy { handle, addr }
}

pub fn start() -> Proxy {
    start_with(test_config())
}

impl Proxy {
    /// A raw connection to the proxy.
    pub fn connect(&self) -> TcpStream {
        let s = TcpStream::connect(self.addr).expect("connect to proxy");
        s.set_read_timeout(Some(IO_WAIT)).unwrap();
        s.set_write_timeout(Some(IO_WAIT)).unwrap();
        s
    }

    /// Send `req` on a new connection, read one response.
    pub fn roundtrip(&self, req: &[u8]) -> Response {
        let mut s = self.connect();
        s.write_all(req).unwrap();
        read_response(&mut BufReader::new(s), false).expect("response")
    }
}

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
        self.head.lines().skip(1).find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_string())
        })
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
            return Err(io::ErrorKind::UnexpectedEof.into());
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
            let mut b = vec![0; cl.parse().map_err(|_| io::Error::other("bad CL"))?];
            r.read_exact(&mut b)?;
            b
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
        let mut b = vec![0; cl.parse().map_err(|_| io::Error::other("bad CL"))?];
        r.read_exact(&mut b)?;
        b
    } else {
        Vec::new()
    };
    Ok((head, body))
}

/// An origin server on 127.0.0.1:0 running `handler` for each connection
/// on its own thread. Records every request head it parsed via `seen`.
pub struct Origin {
    pub addr: SocketAddr,
    pub connections: Arc<AtomicUsize>,
    pub seen: Arc<Mutex<Vec<String>>>,
}

impl Origin {
    pub fn raw<F>(handler: F) -> Origin
    where
        F: Fn(TcpStream, &Mutex<Vec<String>>) + Send + Sync + 'static,
    {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let connections = Arc::new(AtomicUsize::new(0));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let handler = Arc::new(handler);
        let (c, s) = (connections.clone(), seen.clone());
        std::thread::spawn(move || {
            for stream in l.incoming() {
                let Ok(stream) = stream else { continue };
                stream.set_read_timeout(Some(IO_WAIT)).ok();
                c.fetch_add(1, Ordering::SeqCst);
                let (h, s) = (handler.clone(), s.clone());
                std::thread::spawn(move || h(stream, &s));
            }
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
        Origin::raw(|stream, seen| {
            let mut r = BufReader::new(stream.try_clone().unwrap());
            let mut w = stream;
            while let Ok((head, body)) = read_request(&mut r) {
                seen.lock().unwrap().push(head.clone());
                let mut parts = head.split_whitespace();
                let (m, p) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
                let mut out = format!("{m} {p}\n").into_bytes();
                out.extend_from_slice(&body);
                let close =
                    header_of(&head, "connection").is_some_and(|v| v.eq_ignore_ascii_case("close"));
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

    /// The URL of `path` on this origin.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }
}

/// A GET request for `url` through a proxy.
pub fn get(url: &str) -> Vec<u8> {
    let host = url.trim_start_matches("http://").split('/').next().unwrap();
    format!("GET {url} HTTP/1.1\r\nHost: {host}\r\n\r\n").into_bytes()
}

/// Count this process's open file descriptors.
pub fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .map(|d| d.count())
        .unwrap_or(0)
}

/// Poll `cond` every 20 ms for up to `limit`.
pub fn eventually(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let end = std::time::Instant::now() + limit;
    while std::time::Instant::now() < end {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    cond()
}

/// A local TLS origin: `openssl s_server -www` with a self-signed
/// certificate for `localhost`, made for the test.
pub struct TlsOrigin {
    pub child: std::process::Child,
    pub port: u16,
    pub cert: std::path::PathBuf,
}

impl Drop for TlsOrigin {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn tls_origin() -> TlsOrigin {
    let dir = std::env::temp_dir().join(format!("smolproxy-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let ok = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
        ])
        .args(["-addext", "subjectAltName=DNS:localhost"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stderr(std::process::Stdio::null())
        .status()
        .expect("openssl must be installed (make test installs it)");
    assert!(ok.success());
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let child = std::process::Command::new("openssl")
        .args([
            "s_server",
            "-accept",
            &format!("127.0.0.1:{port}"),
            "-www",
            "-quiet",
        ])
        .arg("-cert")
        .arg(&cert)
        .arg("-key")
        .arg(&key)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    assert!(eventually(Duration::from_secs(10), || {
        TcpStream::connect(("127.0.0.1", port)).is_ok()
    }));
    TlsOrigin { child, port, cert }
}
