//! Resource exhaustion: running out of descriptors (a spawned proxy under
//! a low `ulimit -n`), slow-header and slow-read clients, memory under many
//! idle connections and large heads (a spawned proxy's VmRSS), and the
//! client cap. Every load loop is bounded in count and time.
mod common;

use std::io::{BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::bin::{Running, Spawn};
use common::client::{dial, get, read_request, read_response, read_to_close};
use common::eventually;
use common::origin::Origin;

// ------------------------------------------------------------ spawned proxy

/// The proxy binary under `prlimit --nofile=N`, logging only warnings.
fn spawn_limited(nofile: u32, extra: &[&str]) -> Running {
    let args = [&["-q", "--threads", "2"], extra].concat();
    Spawn::new(&args).nofile(nofile).start()
}

// ------------------------------------------------------------ descriptors

#[test]
fn out_of_descriptors_backs_off_and_recovers() {
    let origin = Origin::echo();
    let mut p = spawn_limited(64, &["--head-timeout", "30s", "--max-clients", "10000"]);
    assert_eq!(p.try_get(&origin.url("/before")), Some(200));
    // Hold far more connections than the proxy has descriptors.
    let mut flood = Vec::new();
    let until = Instant::now() + Duration::from_secs(10);
    for _ in 0..300 {
        if Instant::now() > until {
            break;
        }
        if let Ok(s) = TcpStream::connect_timeout(&p.addr, Duration::from_millis(200)) {
            flood.push(s);
        }
    }
    assert!(flood.len() > 100, "only {} connections made", flood.len());
    std::thread::sleep(Duration::from_millis(500));
    // Out of descriptors, the accept loop must pause, not spin.
    let t0 = p.cpu_ticks();
    std::thread::sleep(Duration::from_secs(1));
    let used = p.cpu_ticks() - t0;
    assert!(
        used < 50,
        "{used} ticks of CPU in 1 s while out of descriptors"
    );
    assert!(p.alive(), "the proxy died out of descriptors");
    drop(flood);
    // Once descriptors free up, service resumes.
    assert!(
        eventually(Duration::from_secs(15), || p.try_get(&origin.url("/after"))
            == Some(200)),
        "service did not resume"
    );
    assert!(p.alive());
    let log = p.kill();
    assert!(
        log.contains("accept failed"),
        "no accept warning in:\n{log}"
    );
}

// ------------------------------------------------------------ slow clients

#[test]
fn slow_header_clients_are_cut_and_others_still_served() {
    let origin = Origin::echo();
    let mut c = common::test_config();
    c.head_timeout = Duration::from_secs(2);
    let proxy = common::start_with(c);
    // 500 clients: half send part of a head, half send nothing at all.
    let mut slow = Vec::new();
    for i in 0..500 {
        let mut s = proxy.connect();
        if i % 2 == 0 {
            s.write_all(b"GET http://127.0.0.1:9/ HTTP/1.1\r\nHost: a\r\nX-Slow: ")
                .unwrap();
        }
        slow.push(s);
    }
    // A drip-feeding client: one byte every 100 ms, never a whole head.
    let addr = proxy.addr;
    let drip = std::thread::spawn(move || {
        let mut s = TcpStream::connect(addr).unwrap();
        let start = Instant::now();
        for b in b"GET http://127.0.0.1:9/ HTTP/1.1\r\nHost: a\r\nX-Drip: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" {
            if s.write_all(&[*b]).is_err() {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let got = read_to_close(&mut s).unwrap_or_default();
        (start.elapsed(), got)
    });
    let start = Instant::now();
    let r = proxy.roundtrip(&get(&origin.url("/normal")));
    assert_eq!(r.status, 200);
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "a normal client waited {:?}",
        start.elapsed()
    );
    // Every slow client is cut: 408 for a begun head, a silent close else.
    for (i, mut s) in slow.into_iter().enumerate() {
        let got = read_to_close(&mut s).expect("cut by the head timeout");
        if i % 2 == 0 {
            assert!(
                got.starts_with(b"HTTP/1.1 408 "),
                "{:?}",
                String::from_utf8_lossy(&got)
            );
        } else {
            assert!(got.is_empty());
        }
    }
    let (took, got) = drip.join().unwrap();
    assert!(
        got.starts_with(b"HTTP/1.1 408 "),
        "{:?}",
        String::from_utf8_lossy(&got)
    );
    assert!(took < Duration::from_secs(6), "drip-feeder lasted {took:?}");
    assert!(eventually(Duration::from_secs(5), || proxy.handle.active() == 0));
}

#[test]
fn slow_reader_is_cut_by_the_read_timeout() {
    let done = Arc::new(AtomicBool::new(false));
    let d = done.clone();
    let origin = Origin::raw(move |mut s, _| {
        let mut r = BufReader::new(s.try_clone().unwrap());
        let _ = read_request(&mut r);
        let _ = s.set_write_timeout(Some(Duration::from_secs(20)));
        let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 268435456\r\n\r\n");
        let chunk = vec![b'z'; 64 * 1024];
        for _ in 0..4096 {
            if s.write_all(&chunk).is_err() {
                break;
            }
        }
        d.store(true, Ordering::SeqCst);
    });
    let mut c = common::test_config();
    c.read_timeout = Duration::from_secs(1);
    let proxy = common::start_with(c);
    let mut s = proxy.connect();
    s.write_all(&get(&origin.url("/big"))).unwrap();
    // Read nothing for a while: the proxy's writes stall.
    std::thread::sleep(Duration::from_secs(3));
    // Meanwhile others are served.
    let other = Origin::echo();
    assert_eq!(proxy.roundtrip(&get(&other.url("/x"))).status, 200);
    let mut total = 0usize;
    let mut b = vec![0u8; 256 * 1024];
    loop {
        match s.read(&mut b) {
            Ok(0) => break,
            Ok(n) => total += n,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
            Err(e) => panic!("still open after {total} bytes: {e}"),
        }
        assert!(total < 268_435_456, "the whole body arrived");
    }
    assert!(eventually(Duration::from_secs(5), || done.load(Ordering::SeqCst)));
    assert!(eventually(Duration::from_secs(5), || proxy.handle.active() == 0));
}

// ------------------------------------------------------------ memory

#[test]
fn memory_stays_bounded_under_idle_connections_and_large_heads() {
    let origin = Origin::echo();
    let p = spawn_limited(4096, &["--head-timeout", "60s", "--max-clients", "5000"]);
    assert_eq!(p.try_get(&origin.url("/warm")), Some(200));
    let base = p.rss_kib();
    let mut held = Vec::new();
    for _ in 0..1000 {
        held.push(TcpStream::connect(p.addr).unwrap());
    }
    // 200 clients hold an unfinished 60 KiB head each: the proxy buffers them.
    let big = format!(
        "GET {} HTTP/1.1\r\nHost: h\r\nX-Big: {}",
        origin.url("/"),
        "b".repeat(60 * 1024)
    );
    for _ in 0..200 {
        let mut s = TcpStream::connect(p.addr).unwrap();
        s.write_all(big.as_bytes()).unwrap();
        held.push(s);
    }
    // And 300 complete 60 KiB heads, a few at a time.
    let full = format!("{big}\r\n\r\n");
    let mut served = 0;
    for _ in 0..30 {
        let mut batch = Vec::new();
        for _ in 0..10 {
            let mut s = dial(p.addr);
            s.write_all(full.as_bytes()).unwrap();
            batch.push(s);
        }
        for s in batch {
            if read_response(&mut BufReader::new(s), false).is_ok_and(|r| r.status == 200) {
                served += 1;
            }
        }
    }
    assert_eq!(served, 300);
    std::thread::sleep(Duration::from_millis(300));
    let loaded = p.rss_kib();
    println!("VmRSS: {base} KiB idle, {loaded} KiB with 1200 held connections");
    // 200 × 64 KiB of head buffers is 12.5 MiB; allow generous slack.
    assert!(loaded < 96 * 1024, "VmRSS {loaded} KiB (base {base} KiB)");
    drop(held);
    assert_eq!(p.try_get(&origin.url("/after")), Some(200));
}

// ------------------------------------------------------------ client cap

#[test]
fn client_cap_refuses_a_flood_with_503_and_recovers() {
    let origin = Origin::echo();
    let mut c = common::test_config();
    c.max_clients = 3;
    let proxy = common::start_with(c);
    let held: Vec<TcpStream> = (0..3).map(|_| proxy.connect()).collect();
    assert!(eventually(Duration::from_secs(5), || proxy.handle.active() == 3));
    for _ in 0..50 {
        let mut s = proxy.connect();
        let got = read_to_close(&mut s).expect("refused and closed");
        let text = String::from_utf8_lossy(&got);
        assert!(text.starts_with("HTTP/1.1 503 "), "{text}");
        assert!(text.contains("\r\nRetry-After: 2\r\n"), "{text}");
        assert!(text.contains("\r\nConnection: close\r\n"), "{text}");
        assert_eq!(proxy.handle.active(), 3);
    }
    drop(held);
    assert!(eventually(Duration::from_secs(5), || proxy.handle.active() == 0));
    let r = proxy.roundtrip(&get(&origin.url("/back")));
    assert_eq!(r.status, 200);
}
