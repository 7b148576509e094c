//! A bounded soak run (`make soak`): starts the proxy binary, drives mixed
//! traffic and faults through it from a few client threads for a fixed
//! time, and reports requests served, errors by kind, and the proxy's RSS
//! and open descriptors at start and end. Loopback only; the only name used
//! is `localhost`. Not part of `make test`.
//!
//! Usage: soak --proxy PATH [--secs N] [--workers N]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const IO: Duration = Duration::from_secs(10);

type Tally = Arc<Mutex<BTreeMap<String, u64>>>;

fn count(t: &Tally, k: impl Into<String>) {
    *t.lock().unwrap().entry(k.into()).or_default() += 1;
}

/// Read a request head; returns it, or None at EOF.
fn read_head(r: &mut impl BufRead) -> Option<String> {
    let mut head = String::new();
    loop {
        let mut line = String::new();
        if r.read_line(&mut line).ok()? == 0 {
            return None;
        }
        head.push_str(&line);
        if line == "\r\n" {
            return Some(head);
        }
    }
}

fn content_length(head: &str) -> usize {
    head.lines()
        .find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse().ok())?
        })
        .unwrap_or(0)
}

/// Origin: behaviour chosen by the path. Keep-alive for well-behaved paths.
fn origin() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        for s in l.incoming().flatten() {
            std::thread::spawn(move || {
                let _ = s.set_read_timeout(Some(IO));
                let _ = s.set_write_timeout(Some(IO));
                let mut r = BufReader::new(s.try_clone().unwrap());
                let mut w = s;
                while let Some(head) = read_head(&mut r) {
                    let path = head.split_whitespace().nth(1).unwrap_or("").to_string();
                    if head
                        .to_ascii_lowercase()
                        .contains("transfer-encoding: chunked")
                    {
                        // Drain a chunked body.
                        loop {
                            let mut l = String::new();
                            if r.read_line(&mut l).unwrap_or(0) == 0 {
                                return;
                            }
                            let n = usize::from_str_radix(l.trim(), 16).unwrap_or(0);
                            let mut b = vec![0; n + 2];
                            if r.read_exact(&mut b).is_err() {
                                return;
                            }
                            if n == 0 {
                                break;
                            }
                        }
                    } else {
                        let mut b = vec![0; content_length(&head)];
                        if r.read_exact(&mut b).is_err() {
                            return;
                        }
                    }
                    let ok = match path.as_str() {
                        "/close-early" => return,
                        "/stall" => {
                            std::thread::sleep(Duration::from_secs(4));
                            return;
                        }
                        "/overrun" => w
                            .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokEXTRA")
                            .is_ok(),
                        "/truncated" => {
                            let _ = w.write_all(
                                b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort",
                            );
                            return;
                        }
                        "/chunked" => w
                            .write_all(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n")
                            .is_ok(),
                        "/big" => {
                            let _ = w.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 4194304\r\n\r\n");
                            let chunk = vec![b'b'; 64 * 1024];
                            (0..64).all(|_| w.write_all(&chunk).is_ok())
                        }
                        _ => w
                            .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                            .is_ok(),
                    };
                    if !ok {
                        return;
                    }
                }
            });
        }
    });
    addr
}

/// Read one response's status and body (CL, chunked or until close).
fn response(r: &mut BufReader<TcpStream>) -> Result<u16, String> {
    let head = loop {
        let h = read_head(r).ok_or("closed before a response")?;
        if !h.starts_with("HTTP/1.1 1") {
            break h;
        }
    };
    let status: u16 = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or("bad status line")?;
    let lower = head.to_ascii_lowercase();
    if lower.contains("transfer-encoding: chunked") {
        loop {
            let mut l = String::new();
            r.read_line(&mut l).map_err(|e| kind(&e))?;
            let n = usize::from_str_radix(l.trim(), 16).map_err(|_| "bad chunk")?;
            let mut b = vec![0; n + 2];
            r.read_exact(&mut b).map_err(|e| kind(&e))?;
            if n == 0 {
                break;
            }
        }
    } else if lower.contains("content-length:") {
        let mut b = vec![0; content_length(&head)];
        r.read_exact(&mut b).map_err(|e| kind(&e))?;
    } else {
        let mut b = Vec::new();
        r.read_to_end(&mut b).map_err(|e| kind(&e))?;
    }
    Ok(status)
}

fn kind(e: &std::io::Error) -> String {
    match e.kind() {
        ErrorKind::WouldBlock | ErrorKind::TimedOut => "client timeout".into(),
        ErrorKind::ConnectionReset => "reset".into(),
        ErrorKind::UnexpectedEof => "truncated body".into(),
        k => format!("{k:?}"),
    }
}

fn conn(proxy: SocketAddr) -> Result<(TcpStream, BufReader<TcpStream>), String> {
    let s = TcpStream::connect_timeout(&proxy, IO).map_err(|e| format!("connect: {}", kind(&e)))?;
    s.set_read_timeout(Some(IO)).unwrap();
    s.set_write_timeout(Some(IO)).unwrap();
    let r = BufReader::new(s.try_clone().unwrap());
    Ok((s, r))
}

/// One scenario; records each response status or error kind.
fn scenario(n: u64, proxy: SocketAddr, o: SocketAddr, closed: SocketAddr, t: &Tally) {
    let get = |path: &str, host: &dyn std::fmt::Display| {
        format!("GET http://{host}{path} HTTP/1.1\r\nHost: {host}\r\n\r\n")
    };
    let one = |req: String, label: &str| match conn(proxy) {
        Ok((mut s, mut r)) => {
            let res = s
                .write_all(req.as_bytes())
                .map_err(|e| kind(&e))
                .and_then(|()| response(&mut r));
            match res {
                Ok(st) => count(t, format!("{label}: {st}")),
                Err(e) => count(t, format!("{label}: {e}")),
            }
        }
        Err(e) => count(t, format!("{label}: {e}")),
    };
    match n % 12 {
        0..=2 => {
            // Keep-alive: three requests on one connection.
            if let Ok((mut s, mut r)) = conn(proxy) {
                for i in 0..3 {
                    let st = s
                        .write_all(get(&format!("/ka{i}"), &o).as_bytes())
                        .map_err(|e| kind(&e))
                        .and_then(|()| response(&mut r));
                    match st {
                        Ok(st) => count(t, format!("keep-alive GET: {st}")),
                        Err(e) => count(t, format!("keep-alive GET: {e}")),
                    }
                }
            }
        }
        3 => {
            let body = "p".repeat(64 * 1024);
            one(
                format!(
                    "POST http://{o}/post HTTP/1.1\r\nHost: {o}\r\nContent-Length: {}\r\n\r\n{body}",
                    body.len()
                ),
                "POST 64 KiB",
            );
        }
        4 => one(
            format!(
                "POST http://{o}/c HTTP/1.1\r\nHost: {o}\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
            ),
            "chunked POST",
        ),
        5 => one(get("/chunked", &o), "chunked response"),
        6 => one(get("/big", &o), "4 MiB download"),
        7 => {
            let path = ["/close-early", "/overrun", "/truncated", "/stall"][(n / 12 % 4) as usize];
            one(get(path, &o), &format!("fault {path}"));
        }
        8 => one(get("/", &closed), "connect refused"),
        9 => one(
            get("/", &format!("localhost:{}", o.port())),
            "GET via localhost",
        ),
        10 => {
            // Abandon: a download cut after a few bytes, or a partial head.
            if let Ok((mut s, _)) = conn(proxy) {
                if (n / 12).is_multiple_of(2) {
                    let _ = s.write_all(get("/big", &o).as_bytes());
                    let mut b = [0u8; 4096];
                    let _ = s.read(&mut b);
                    count(t, "abandoned download");
                } else {
                    let _ = s.write_all(b"GET http://127.0.0.1/ HTTP/1.1\r\nHo");
                    std::thread::sleep(Duration::from_millis(50));
                    count(t, "abandoned head");
                }
                let _ = s.shutdown(Shutdown::Both);
            }
        }
        _ => {
            // CONNECT tunnel carrying one request.
            match conn(proxy) {
                Ok((mut s, mut r)) => {
                    let res = s
                        .write_all(format!("CONNECT {o} HTTP/1.1\r\nHost: {o}\r\n\r\n").as_bytes())
                        .map_err(|e| kind(&e))
                        .and_then(|()| {
                            read_head(&mut r).ok_or("no CONNECT answer")?;
                            s.write_all(format!("GET /t HTTP/1.1\r\nHost: {o}\r\n\r\n").as_bytes())
                                .map_err(|e| kind(&e))?;
                            response(&mut r)
                        });
                    match res {
                        Ok(st) => count(t, format!("tunnel GET: {st}")),
                        Err(e) => count(t, format!("tunnel GET: {e}")),
                    }
                }
                Err(e) => count(t, format!("tunnel GET: {e}")),
            }
        }
    }
}

fn proc_value(pid: u32, key: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

fn fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0)
}

fn main() {
    let mut args = std::env::args().skip(1);
    let (mut bin, mut secs, mut workers) = (String::new(), 180u64, 12u64);
    while let Some(a) = args.next() {
        let v = args.next().unwrap_or_default();
        match a.as_str() {
            "--proxy" => bin = v,
            "--secs" => secs = v.parse().expect("--secs N"),
            "--workers" => workers = v.parse().expect("--workers N"),
            _ => panic!("usage: soak --proxy PATH [--secs N] [--workers N]"),
        }
    }
    assert!(
        !bin.is_empty(),
        "usage: soak --proxy PATH [--secs N] [--workers N]"
    );
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let proxy: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let mut child = Command::new(&bin)
        .args(["--listen", &proxy.to_string(), "-q"])
        .args([
            "--read-timeout",
            "2s",
            "--connect-timeout",
            "1s",
            "--head-timeout",
            "2s",
        ])
        .args(["--connect-ports", "any"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the proxy");
    let pid = child.id();
    let start = Instant::now();
    while TcpStream::connect(proxy).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "proxy did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(200));
    let o = origin();
    let closed = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let (rss0, fd0) = (proc_value(pid, "VmRSS:"), fds(pid));
    println!("soak: {secs} s, {workers} workers, proxy pid {pid}: VmRSS {rss0} KiB, {fd0} fds");
    let tally: Tally = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let end = Instant::now() + Duration::from_secs(secs);
    let handles: Vec<_> = (0..workers)
        .map(|w| {
            let (t, stop) = (tally.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut n = w * 7919;
                while Instant::now() < end && !stop.load(Ordering::Relaxed) {
                    scenario(n, proxy, o, closed, &t);
                    n += 1;
                }
            })
        })
        .collect();
    let mut next = Instant::now() + Duration::from_secs(10);
    while Instant::now() < end {
        std::thread::sleep(Duration::from_millis(200));
        if Instant::now() >= next {
            let done: u64 = tally.lock().unwrap().values().sum();
            println!(
                "  {:>4} s: {done} outcomes, VmRSS {} KiB, {} fds",
                start.elapsed().as_secs(),
                proc_value(pid, "VmRSS:"),
                fds(pid)
            );
            next += Duration::from_secs(10);
        }
    }
    stop.store(true, Ordering::Relaxed);
    for h in handles {
        let _ = h.join();
    }
    // Let timeouts close what the faults left behind.
    std::thread::sleep(Duration::from_secs(5));
    let (rss1, fd1) = (proc_value(pid, "VmRSS:"), fds(pid));
    let alive = matches!(child.try_wait(), Ok(None));
    let _ = child.kill();
    let _ = child.wait();
    let t = tally.lock().unwrap();
    let total: u64 = t.values().sum();
    let served: u64 = t
        .iter()
        .filter(|(k, _)| k.ends_with(": 200"))
        .map(|(_, v)| v)
        .sum();
    println!("\noutcomes ({total}, {served} served with 200):");
    for (k, v) in t.iter() {
        println!("  {v:>8}  {k}");
    }
    println!("\nproxy VmRSS: {rss0} KiB at start, {rss1} KiB at end");
    println!("proxy descriptors: {fd0} at start, {fd1} at end");
    let mut ok = alive;
    if !alive {
        println!("FAIL: the proxy exited during the soak");
    }
    if fd1 > fd0 + 4 {
        println!("FAIL: descriptors leaked ({fd0} -> {fd1})");
        ok = false;
    }
    if served == 0 {
        println!("FAIL: nothing was served");
        ok = false;
    }
    std::process::exit(if ok { 0 } else { 1 });
}
