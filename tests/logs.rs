//! `--access-log` and `--log-format`, through the binary as a child:
//! logrotate's rename + SIGHUP under load loses no line; JSON lines parse
//! (checked by Python's strict `json` module) and carry the right fields,
//! hostile targets included; the refused client gets an access line; an
//! IPv4 client on a `[::]` socket is logged as IPv4.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::bin::Spawn;
use common::client::{dial, dial_from, get, read_response};
use common::files::TempDir;
use common::origin::Origin;

/// A keep-alive origin answering everything `200 clean`.
fn origin() -> Origin {
    Origin::hostile(b"", false)
}

fn lines(path: &Path) -> Vec<String> {
    match std::fs::read_to_string(path) {
        Ok(t) => t.lines().map(str::to_string).collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => panic!("{}: {e}", path.display()),
    }
}

#[test]
fn rename_and_sighup_under_load_lose_no_line() {
    let origin = origin();
    let dir = TempDir::new("rotate");
    let log = dir.path().join("access.log");
    let log_arg = log.to_str().unwrap().to_string();
    let mut p = Spawn::new(&["--access-log", &log_arg]).start();
    // Clients until told to stop; bounded in count (4 × 3000) and time.
    let stop = Arc::new(AtomicBool::new(false));
    let answered = Arc::new(AtomicUsize::new(0));
    let clients: Vec<_> = (0..4)
        .map(|i| {
            let (stop, answered, addr) = (Arc::clone(&stop), Arc::clone(&answered), p.addr);
            let url = origin.url(&format!("/c{i}"));
            std::thread::spawn(move || {
                let s = dial(addr);
                let mut r = BufReader::new(s.try_clone().unwrap());
                let mut w = s;
                for _ in 0..3000 {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    w.write_all(&get(&url)).unwrap();
                    let resp = read_response(&mut r, false).unwrap();
                    assert_eq!(resp.status, 200);
                    answered.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    // logrotate: rename, then `kill -HUP`, twice, while requests flow.
    let started = Instant::now();
    for n in 1..=2 {
        std::thread::sleep(Duration::from_millis(300));
        let before = answered.load(Ordering::Relaxed);
        std::fs::rename(&log, dir.path().join(format!("access.log.{n}"))).unwrap();
        p.signal("-HUP");
        p.wait_for("reopened");
        std::thread::sleep(Duration::from_millis(300));
        assert!(
            answered.load(Ordering::Relaxed) > before,
            "requests flowed across rotation {n}"
        );
    }
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.join().unwrap();
    }
    assert!(started.elapsed() < Duration::from_secs(30));
    let sent = answered.load(Ordering::Relaxed);
    // SIGTERM: the writer empties its queue before the process exits.
    let stderr = p.stop();
    let files = ["access.log.1", "access.log.2", "access.log"].map(|f| lines(&dir.path().join(f)));
    let counts: Vec<usize> = files.iter().map(Vec::len).collect();
    eprintln!("{sent} requests; lines per file (.1, .2, current): {counts:?}");
    assert_eq!(counts.iter().sum::<usize>(), sent, "{counts:?}");
    assert!(counts.iter().all(|&n| n > 0), "{counts:?}");
    for l in files.iter().flatten() {
        // 2026-12-02T04:18:41.791Z 127.0.0.1:5555 GET http://… 200 up=0 down=5 0ms user=-
        assert!(
            l.contains(" 127.0.0.1:") && l.contains(" 200 up=0 down=5 "),
            "{l}"
        );
        assert!(l.as_bytes()[4] == b'-' && l.as_bytes()[23] == b'Z', "{l}");
    }
    // Access lines went to the file, not to stderr.
    assert!(!stderr.contains(" GET "), "{stderr}");
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(dir.path().join("access.log"))
            .unwrap()
            .permissions(),
    );
    assert_eq!(mode & 0o777, 0o640);
}

#[test]
fn an_access_log_that_cannot_be_opened_stops_the_start() {
    let out = common::bin::run(
        &[
            "--listen",
            "127.0.0.1:0",
            "--access-log",
            "/nonexistent-dir/a.log",
        ],
        &[],
    );
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stderr
            .contains("cannot open the access log /nonexistent-dir/a.log"),
        "{}",
        out.stderr
    );
}

/// Check `lines` with Python's json module (strict: no NaN, no control
/// characters in strings) and return each as `key=value` text for checks.
fn python_json(lines: &[String]) -> Vec<String> {
    let script = r#"
import json, sys
keys = ["time", "client", "method", "target", "status", "up", "down", "ms", "user", "note"]
for line in sys.stdin.read().split("\n")[:-1]:
    o = json.loads(line, parse_constant=lambda c: sys.exit("constant " + c))
    assert list(o) == keys, list(o)
    for k in ("status", "up", "down", "ms"):
        assert type(o[k]) is int, (k, o[k])
    for k in ("time", "client", "method", "target"):
        assert type(o[k]) is str, (k, o[k])
    for k in ("user", "note"):
        assert o[k] is None or type(o[k]) is str, (k, o[k])
    print(json.dumps(o, ensure_ascii=True))
"#;
    let mut child = std::process::Command::new("python3")
        .args(["-c", script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("python3 (installed by make test-deps)");
    let mut text = lines.join("\n");
    text.push('\n');
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn json_lines_parse_and_carry_the_fields_hostile_targets_included() {
    let origin = origin();
    let dir = TempDir::new("json");
    let log = dir.path().join("a.json");
    let log_arg = log.to_str().unwrap().to_string();
    // 127.0.0.2 is refused; 127.0.0.1 served.
    let p = Spawn::new(&[
        "--access-log",
        &log_arg,
        "--log-format",
        "json",
        "--deny",
        "127.0.0.2/32",
    ])
    .start();
    let plain = origin.url("/plain?q=1");
    assert_eq!(p.send(&get(&plain)).status, 200);
    // Quotes, backslashes, a would-be line break and bytes beyond ASCII:
    // the request line allows them (obs-text), the log must keep them in
    // one line of valid JSON.
    let mut hostile = b"GET ".to_vec();
    hostile.extend_from_slice(origin.url("/a\"b\\c\\n{}").as_bytes());
    hostile.extend_from_slice(b"\xc3\xa9\xe2\x80\xa8 HTTP/1.1\r\nHost: x\r\n\r\n");
    let mut s = dial(p.addr);
    s.write_all(&hostile).unwrap();
    let r = read_response(&mut BufReader::new(s), false).unwrap();
    assert!(r.status == 200 || r.status == 400, "{}", r.head);
    // The refused client: 403 and an access line like any other answer.
    let mut s = dial_from("127.0.0.2".parse().unwrap(), p.addr);
    s.write_all(&get(&plain)).unwrap();
    let r = read_response(&mut BufReader::new(s), false).unwrap();
    assert_eq!(r.status, 403);
    assert!(common::eventually(Duration::from_secs(5), || lines(&log)
        .len()
        == 3));
    let raw = lines(&log);
    let parsed = python_json(&raw);
    assert_eq!(parsed.len(), 3);
    // Lines are written after each answer: find each by its target.
    let find = |what: &str| {
        parsed
            .iter()
            .find(|l| l.contains(what))
            .unwrap_or_else(|| panic!("no line with {what} in {parsed:#?}"))
    };
    let line = find("/plain");
    assert!(
        line.contains(&format!(
            r#""method": "GET", "target": "{plain}", "status": 200, "up": 0, "down": 5,"#
        )),
        "{line}"
    );
    assert!(line.contains(r#""user": null, "note": null}"#), "{line}");
    assert!(line.contains(r#""client": "127.0.0.1:"#), "{line}");
    // Python read the target back exactly as sent.
    find(r#"/a\"b\\c\\n{}\u00e9\u2028", "status": 200"#);
    let line = find(r#""status": 403"#);
    assert!(
        line.contains(r#""client": "127.0.0.2:"#)
            && line.contains(r#""method": "-", "target": "-", "status": 403,"#)
            && line.contains(r#""note": "client 127.0.0.2 is not allowed to use this proxy"}"#),
        "{line}"
    );
    // The raw file: one line each, nothing unescaped.
    assert!(raw.iter().all(|l| l.starts_with('{') && l.ends_with('}')));
    p.stop();
}

#[test]
fn json_to_stderr_is_one_object_per_line() {
    let origin = origin();
    let mut p = Spawn::new(&["--log-format", "json"]).start();
    assert_eq!(p.send(&get(&origin.url("/e"))).status, 200);
    let line = p.wait_for("/e\"");
    assert!(line.starts_with("{\"time\":\""), "{line}");
    python_json(&[line]);
    p.stop();
}

#[test]
fn ipv4_clients_on_a_dual_stack_socket_are_logged_as_ipv4() {
    let origin = origin();
    let dir = TempDir::new("v4mapped");
    let log = dir.path().join("a.log");
    let log_arg = log.to_str().unwrap().to_string();
    let port = common::free_port();
    let any6 = format!("[::]:{port}");
    let p = Spawn::new(&["--listen", &any6, "--access-log", &log_arg]).start();
    // To the [::] socket over IPv4: the kernel reports ::ffff:127.0.0.1.
    let addr = SocketAddr::new(IpAddr::from([127, 0, 0, 1]), port);
    let mut s = dial(addr);
    s.write_all(&get(&origin.url("/mapped"))).unwrap();
    let r = read_response(&mut BufReader::new(s), false).unwrap();
    assert_eq!(r.status, 200);
    assert!(common::eventually(Duration::from_secs(5), || !lines(&log).is_empty()));
    let l = lines(&log).remove(0);
    assert!(l.contains("Z 127.0.0.1:") && !l.contains("ffff"), "{l}");
    p.stop();
}

#[test]
fn long_lines_are_written_whole() {
    // Lines are written whole, one after another, by one writer: every
    // line of hundreds with long targets is complete and in its place.
    let origin = origin();
    let dir = TempDir::new("whole");
    let log = dir.path().join("a.log");
    let log_arg = log.to_str().unwrap().to_string();
    let p = Spawn::new(&["--access-log", &log_arg]).start();
    let url = origin.url(&format!("/{}", "x".repeat(400)));
    let s = dial(p.addr);
    let mut r = BufReader::new(s.try_clone().unwrap());
    let mut w = s;
    for _ in 0..200 {
        w.write_all(&get(&url)).unwrap();
        assert_eq!(read_response(&mut r, false).unwrap().status, 200);
    }
    p.stop();
    let f = BufReader::new(std::fs::File::open(&log).unwrap());
    let all: Vec<String> = f.lines().map(Result::unwrap).collect();
    assert_eq!(all.len(), 200);
    assert!(
        all.iter()
            .all(|l| l.contains(&url) && l.ends_with("user=-"))
    );
}

#[test]
fn the_shipped_logrotate_snippet_rotates_without_losing_a_line() {
    // cross/smolproxy.logrotate, pointed at a temporary directory and this
    // proxy's pid, run by the real logrotate (-f: rotate now).
    let origin = origin();
    let dir = TempDir::new("logrotate");
    let log = dir.path().join("access.log");
    let log_arg = log.to_str().unwrap().to_string();
    let p = Spawn::new(&["--access-log", &log_arg]).start();
    let url = origin.url("/before");
    for _ in 0..5 {
        assert_eq!(p.send(&get(&url)).status, 200);
    }
    assert!(common::eventually(Duration::from_secs(5), || lines(&log)
        .len()
        == 5));
    let snippet = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/cross/smolproxy.logrotate"
    ))
    .unwrap();
    assert!(snippet.contains("/var/log/smolproxy/access.log {"));
    let conf: String = snippet
        .replace("/var/log/smolproxy/access.log", &log_arg)
        .lines()
        .map(|l| {
            if l.trim_start()
                .starts_with("systemctl reload smolproxy.service")
            {
                format!("        kill -HUP {}\n", p.pid())
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    assert!(conf.contains(&format!("kill -HUP {}", p.pid())), "{conf}");
    let conf_path = dir.path().join("smolproxy.conf");
    std::fs::write(&conf_path, conf).unwrap();
    // In /usr/sbin, which a user's PATH may lack.
    let logrotate = ["/usr/sbin/logrotate", "/usr/bin/logrotate"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .unwrap_or("logrotate");
    let out = std::process::Command::new(logrotate)
        .arg("-f")
        .arg("-s")
        .arg(dir.path().join("state"))
        .arg(&conf_path)
        .output()
        .expect("logrotate (installed by make test-deps)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // delaycompress: the rotated file stays plain this time.
    let rotated = dir.path().join("access.log.1");
    assert_eq!(lines(&rotated).len(), 5);
    for _ in 0..3 {
        assert_eq!(p.send(&get(&origin.url("/after"))).status, 200);
    }
    assert!(common::eventually(Duration::from_secs(5), || lines(&log)
        .len()
        == 3));
    assert!(lines(&log).iter().all(|l| l.contains("/after")));
    p.stop();
}

/// `n` keep-alive GETs of `url` through `proxy` on one connection.
fn requests(proxy: SocketAddr, url: &str, n: usize) {
    let s = dial(proxy);
    let mut r = BufReader::new(s.try_clone().unwrap());
    let mut w = s;
    for _ in 0..n {
        w.write_all(&get(url)).unwrap();
        assert_eq!(read_response(&mut r, false).unwrap().status, 200);
    }
}

#[test]
fn a_full_disk_is_logged_rate_limited_and_never_stops_the_proxy() {
    let origin = origin();
    let mut p = Spawn::new(&["--access-log", "/dev/full"]).start();
    let started = Instant::now();
    requests(p.addr, &origin.url("/full"), 100);
    let line = p.wait_for("cannot write");
    assert!(
        line.contains("ERROR access log /dev/full: cannot write: No space left on device"),
        "{line}"
    );
    // Still serving, and the 100 failed writes made at most one line a second.
    requests(p.addr, &origin.url("/after"), 1);
    let secs = started.elapsed().as_secs() as usize;
    let all = p.stop();
    let errors = all.matches("cannot write").count();
    assert!(errors <= secs + 2, "{errors} lines in {secs} s:\n{all}");
}

#[test]
fn a_stuck_log_drops_lines_counted_and_never_stalls_serving() {
    // A FIFO nobody reads: the writer thread blocks once the pipe is full,
    // then the queue fills, then lines are dropped, while requests are
    // still answered at once.
    let origin = origin();
    let dir = TempDir::new("stuck");
    let fifo = dir.path().join("fifo");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    let (tx, rx) = std::sync::mpsc::channel();
    let reader_path = fifo.clone();
    // Opening a FIFO waits for the other end: the proxy opens it to write.
    std::thread::spawn(move || tx.send(std::fs::File::open(reader_path).unwrap()).unwrap());
    let fifo_arg = fifo.to_str().unwrap().to_string();
    let mut p = Spawn::new(&["--access-log", &fifo_arg]).start();
    let reader = rx.recv_timeout(Duration::from_secs(10)).unwrap();
    let sent = 6000;
    requests(p.addr, &origin.url("/stuck"), sent);
    let line = p.wait_for("cannot keep up");
    assert!(line.contains("WARN  access log cannot keep up: "), "{line}");
    let t = Instant::now();
    requests(p.addr, &origin.url("/still"), 1);
    // Not held up by the stuck log (which would hold it for good).
    assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
    // Read what was written, then stop: the queued lines are written out.
    let drain = std::thread::spawn(move || BufReader::new(reader).lines().count());
    p.stop();
    let got = drain.join().unwrap();
    assert!(
        got > 4096 && got < sent,
        "{got} of {sent} lines reached the stuck log"
    );
}
