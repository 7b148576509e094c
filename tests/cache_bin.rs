//! The shared cache in the shipped binary: its flags' usage errors (exit
//! 2) and an unusable `--cache-dir` (exit 1, one line), the access line's
//! cache result, the counters on `/metrics`, `/status.json` and the
//! dashboard, and a `kill -9` in the middle of storing a 200 MiB response:
//! after a restart on the same folder the URL is a miss again (fetched
//! whole, exact bytes), nothing cut is served, and the folder stays within
//! its bound.

mod common;

use std::io::{BufReader, Read, Write};
use std::net::{Shutdown, TcpListener};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::bin::{Spawn, run};
use common::client::{read_head, read_response};
use common::files::{TempDir, TempFile};
use common::origin::Origin;

#[test]
fn cache_flags_are_checked() {
    let bad: [&[&str]; 4] = [
        &["--cache-size", "1G"],
        &["--cache-mem", "1M"],
        &["--cache-dir", "/tmp/x", "--cache-size", "12Q"],
        &["--cache-dir", "/tmp/x", "--cache-mem", "0"],
    ];
    for args in bad {
        let e = run(args, &[]);
        assert_eq!(e.code, 2, "{args:?}: {}", e.stderr);
        assert_eq!(e.stderr.lines().count(), 1, "{args:?}: {}", e.stderr);
        assert!(e.stderr.contains("--cache-"), "{}", e.stderr);
    }
    let help = run(&["--help"], &[]).stdout;
    for flag in ["--cache-dir DIR", "--cache-size SIZE", "--cache-mem SIZE"] {
        assert!(help.contains(flag), "--help lacks {flag}");
    }
}

#[test]
fn an_unusable_cache_dir_stops_the_start() {
    let file = TempFile::new("not-a-dir", "x");
    let under_a_file = format!("{}/cache", file.as_str());
    let e = run(
        &["--listen", "127.0.0.1:0", "--cache-dir", &under_a_file],
        &[],
    );
    assert_eq!(e.code, 1, "{}", e.stderr);
    // (Run as root, the proxy also warns that it is.)
    let lines: Vec<&str> = e
        .stderr
        .lines()
        .filter(|l| !l.contains("running as root"))
        .collect();
    assert_eq!(lines.len(), 1, "{}", e.stderr);
    assert!(
        lines[0].contains("cannot open the cache in"),
        "{}",
        e.stderr
    );
}

/// `GET url` through the proxy at `addr`, on a new connection.
fn get(addr: std::net::SocketAddr, url: &str) -> common::client::Response {
    let mut s = common::client::dial(addr);
    s.write_all(format!("GET {url} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes())
        .unwrap();
    read_response(&mut BufReader::new(s), false).unwrap()
}

#[test]
fn access_lines_and_own_pages_show_the_cache() {
    let dir = TempDir::new("cache-bin-pages");
    let log = TempFile::new("cache-access.log", "");
    let args = [
        "--cache-dir",
        dir.path().to_str().unwrap(),
        "--access-log",
        log.as_str(),
    ];
    let p = Spawn::new(&args).start();
    let o = Origin::scripted(|_| {
        b"HTTP/1.1 200 OK\r\nCache-Control: max-age=600\r\nContent-Length: 3\r\n\r\nabc".to_vec()
    });
    let url = o.url("/x");
    assert_eq!(get(p.addr, &url).text(), "abc");
    assert_eq!(get(p.addr, &url).text(), "abc");
    let want = [
        "smolproxy_cache_hits_total 1\n",
        "smolproxy_cache_misses_total 1\n",
        "smolproxy_cache_hit_bytes_total 3\n",
        "smolproxy_cache_entries 1\n",
    ];
    // The byte count is added once the hit's answer is out.
    let mut metrics = String::new();
    let counted = common::eventually(Duration::from_secs(5), || {
        metrics = get(p.addr, "/metrics").text();
        want.iter().all(|w| metrics.contains(w))
    });
    assert!(counted, "{want:?} not all in\n{metrics}");
    let status = get(p.addr, "/status.json").text();
    assert!(
        status.contains("\"cache\": {\"hits\": 1, \"misses\": 1,"),
        "{status}"
    );
    let page = get(p.addr, "/").text();
    assert!(page.contains("id=cache-ratio>50%<"), "{page}");
    p.stop();
    let lines = std::fs::read_to_string(log.path()).unwrap();
    let ours: Vec<&str> = lines.lines().filter(|l| l.contains("/x ")).collect();
    assert_eq!(ours.len(), 2, "{lines}");
    // Lines are written after the answers, so in either order.
    assert!(ours.iter().any(|l| l.ends_with("cache=MISS")), "{lines}");
    assert!(ours.iter().any(|l| l.ends_with("cache=HIT")), "{lines}");
}

/// The byte at `i` of the big test body: varies with position, so a byte
/// from the wrong place shows.
fn byte_at(i: u64) -> u8 {
    (i.wrapping_mul(2_654_435_761) >> 13) as u8
}

/// Bytes of the big body.
const BIG: u64 = 200 << 20;

/// An origin serving `BIG` bytes at `/big.iso`, counting requests; the
/// first answer stalls after `stall_at` bytes until its connection breaks.
fn big_origin(stall_at: u64) -> (std::net::SocketAddr, Arc<AtomicUsize>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let count = Arc::new(AtomicUsize::new(0));
    let c = count.clone();
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(s) = s else { continue };
            let n = c.fetch_add(1, Ordering::SeqCst);
            std::thread::spawn(move || {
                let mut r = BufReader::new(s.try_clone().unwrap());
                let Ok(_) = read_head(&mut r) else { return };
                let mut w = s;
                let head = format!(
                    "HTTP/1.1 200 OK\r\nCache-Control: max-age=3600\r\nContent-Length: {BIG}\r\n\r\n"
                );
                w.write_all(head.as_bytes()).unwrap();
                let mut buf = vec![0u8; 1 << 16];
                let mut at = 0u64;
                while at < BIG {
                    if n == 0 && at >= stall_at {
                        // Hold the rest back until the proxy is gone.
                        let mut one = [0u8; 1];
                        let _ = w.set_read_timeout(Some(Duration::from_secs(30)));
                        let _ = w.read(&mut one);
                        return;
                    }
                    let k = buf.len().min((BIG - at) as usize);
                    for (j, b) in buf[..k].iter_mut().enumerate() {
                        *b = byte_at(at + j as u64);
                    }
                    if w.write_all(&buf[..k]).is_err() {
                        return;
                    }
                    at += k as u64;
                }
                let _ = w.shutdown(Shutdown::Write);
            });
        }
    });
    (addr, count)
}

/// Read a whole `BIG` response through the proxy at `addr`, checking every
/// byte as it comes (200 MiB never held at once); returns its head.
fn fetch_exact(addr: std::net::SocketAddr, url: &str) -> String {
    let mut s = common::client::dial(addr);
    s.write_all(format!("GET {url} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes())
        .unwrap();
    let mut r = BufReader::with_capacity(1 << 16, s);
    let head = read_head(&mut r).unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(head.contains(&format!("Content-Length: {BIG}")), "{head}");
    let mut buf = vec![0u8; 1 << 16];
    let mut at = 0u64;
    while at < BIG {
        let n = r.read(&mut buf).unwrap();
        assert!(n > 0, "cut at {at}");
        for (j, b) in buf[..n].iter().enumerate() {
            assert_eq!(*b, byte_at(at + j as u64), "byte {}", at + j as u64);
        }
        at += n as u64;
    }
    head
}

fn du_kib(dir: &std::path::Path) -> u64 {
    let out = Command::new("du").arg("-sk").arg(dir).output().expect("du");
    let text = String::from_utf8_lossy(&out.stdout);
    text.split_whitespace().next().unwrap().parse().unwrap()
}

#[test]
fn kill_9_while_storing_then_restart_serves_nothing_cut() {
    let dir = TempDir::new("cache-crash");
    let d = dir.path().to_str().unwrap();
    let bound = "1G";
    let args = ["-q", "--cache-dir", d, "--cache-size", bound];
    let (origin, count) = big_origin(64 << 20);
    let url = format!("http://{origin}/big.iso");
    let p = Spawn::new(&args).start();
    // The first fetch: read 32 MiB of it, then kill the proxy mid-body.
    let mut s = common::client::dial(p.addr);
    s.write_all(format!("GET {url} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
        .unwrap();
    let mut r = BufReader::new(s);
    read_head(&mut r).unwrap();
    let mut part = vec![0u8; 32 << 20];
    r.read_exact(&mut part).unwrap();
    assert!(du_kib(dir.path()) > 16 << 10, "the body was being stored");
    let pid = p.pid();
    let killed = Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    p.kill();
    drop(r);
    // Restart on the same folder: a miss (fetched whole, exact), then a hit.
    let p = Spawn::new(&args).start();
    let head = fetch_exact(p.addr, &url);
    assert!(head.contains("fwd=uri-miss; stored"), "{head}");
    assert_eq!(
        count.load(Ordering::SeqCst),
        2,
        "fetched again after the crash"
    );
    let head = fetch_exact(p.addr, &url);
    assert!(head.contains("Cache-Status: smolproxy; hit"), "{head}");
    assert_eq!(count.load(Ordering::SeqCst), 2);
    let used = du_kib(dir.path());
    assert!(used <= 1 << 20, "{used} KiB on disk, bound 1 GiB");
    p.kill();
}
