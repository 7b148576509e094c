//! Password guessing costs per client address: 20 parallel wrong guesses
//! from one address take at least 10× as long as a single one (which is
//! what 20 parallel guesses took before: each waited the same pause at the
//! same time), while a right password from that address or another is
//! answered at once. In-process with a short base pause; the log line a
//! fail2ban filter reads is checked through the binary.

mod common;

use std::io::{BufReader, Write};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use common::Secret;
use common::client::{dial_from, get_with, read_response};
use common::origin::Origin;

/// The base pause in these tests: short, but far above loopback noise.
const BASE: Duration = Duration::from_millis(20);
const WRONG: &str = "Proxy-Authorization: Basic YWxpY2U6d3Jvbmc=\r\n"; // alice:wrong
const RIGHT: &str = "Proxy-Authorization: Basic YWxpY2U6czNjcjN0\r\n"; // alice:s3cr3t

fn status_from(from: &str, proxy: SocketAddr, req: &[u8]) -> u16 {
    let ip: IpAddr = from.parse().unwrap();
    let mut s = dial_from(ip, proxy);
    s.write_all(req).unwrap();
    read_response(&mut BufReader::new(s), false)
        .expect("response")
        .status
}

#[test]
fn parallel_guesses_from_one_address_queue_and_others_pass_at_once() {
    let origin = Origin::echo();
    let mut c = common::test_config();
    c.auth_fail_delay = BASE;
    c.policy.auth_env = Some(Secret("alice:s3cr3t".into()));
    let p = common::start_with(c);
    let addr = p.addr;
    let url = origin.url("/");
    let wrong = get_with(&url, WRONG);
    let right = get_with(&url, RIGHT);

    // One wrong guess alone: what each of 20 parallel guesses took before.
    let t = Instant::now();
    assert_eq!(status_from("127.0.0.3", addr, &wrong), 407);
    let single = t.elapsed();
    assert!(single >= BASE, "{single:?}");

    let t = Instant::now();
    let guesses: Vec<_> = (0..20)
        .map(|_| {
            let wrong = wrong.clone();
            std::thread::spawn(move || status_from("127.0.0.1", addr, &wrong))
        })
        .collect();
    std::thread::sleep(4 * BASE);
    // Meanwhile a right password from another address, and from the
    // guessing address itself, is answered at once.
    for from in ["127.0.0.2", "127.0.0.1"] {
        let t = Instant::now();
        assert_eq!(status_from(from, addr, &right), 200);
        // Not queued behind the guesses (which end after 115 × BASE; the
        // bound leaves room for a busy machine).
        assert!(t.elapsed() < 40 * BASE, "{from}: {:?}", t.elapsed());
    }
    for g in guesses {
        assert_eq!(g.join().unwrap(), 407);
    }
    let twenty = t.elapsed();
    assert!(
        twenty >= 10 * single,
        "20 parallel guesses took {twenty:?}, one alone {single:?}"
    );
    // 5 base pauses, then 2, 4 and 8, then 8 each: 115 × BASE.
    assert!(twenty >= 115 * BASE, "{twenty:?}");
    eprintln!("one wrong guess: {single:?}; 20 in parallel from one address: {twenty:?}");
    // Another address is still unaffected.
    let t = Instant::now();
    assert_eq!(status_from("127.0.0.4", addr, &wrong), 407);
    assert!(t.elapsed() < 40 * BASE, "{:?}", t.elapsed());
}

#[test]
fn each_failure_is_one_greppable_line_with_the_client_address() {
    let origin = Origin::echo();
    let mut p = common::bin::spawn(&[], &[("SMOLPROXY_AUTH", "alice:s3cr3t")]);
    let status = status_from("127.0.0.2", p.addr, &get_with(&origin.url("/"), WRONG));
    assert_eq!(status, 407);
    let line = p.wait_for("auth failed");
    // The README's fail2ban filter, with fail2ban's <HOST> as a group.
    let re = r"^.* auth failed: client (?P<host>\S+) \(";
    let check = std::process::Command::new("python3")
        .args([
            "-c",
            "import re,sys; m=re.match(sys.argv[1], sys.argv[2]); print(m.group('host'))",
            re,
            &line,
        ])
        .output()
        .expect("python3");
    assert_eq!(
        String::from_utf8_lossy(&check.stdout).trim(),
        "127.0.0.2",
        "{line}"
    );
    assert!(
        line.contains(
            " WARN  auth failed: client 127.0.0.2 (wrong proxy user name or password; failure 1)"
        ),
        "{line}"
    );
    assert!(
        !line.contains("s3cr3t") && !line.contains("YWxpY2U6"),
        "{line}"
    );
    p.stop();
}

#[test]
fn a_flood_of_guesses_gets_429_and_learns_nothing_while_answers_wait() {
    // A guesser that does not wait for answers: 40 at once. Once 32 wrong
    // guesses from its address wait, its credentials are not checked at
    // all, right or wrong: 429, so a quick answer tells it nothing.
    const SLOW: Duration = Duration::from_secs(1);
    let origin = Origin::echo();
    let mut c = common::test_config();
    c.auth_fail_delay = SLOW;
    c.policy.auth_env = Some(Secret("alice:s3cr3t".into()));
    let p = common::start_with(c);
    let addr = p.addr;
    let url = origin.url("/");
    let wrong = get_with(&url, WRONG);
    let right = get_with(&url, RIGHT);
    let start = Instant::now();
    let (tx, answers) = std::sync::mpsc::channel();
    for _ in 0..40 {
        let (wrong, tx) = (wrong.clone(), tx.clone());
        std::thread::spawn(move || {
            // The proxy is dropped before the slow answers: no panic here.
            let mut s = dial_from("127.0.0.1".parse().unwrap(), addr);
            let _ = s.write_all(&wrong);
            let r = read_response(&mut BufReader::new(s), false);
            let _ = tx.send(r.map(|r| r.status).ok());
        });
    }
    // The first answer is a 429, long before any 407 (due after SLOW).
    let first = answers.recv_timeout(SLOW).expect("a quick answer");
    assert_eq!(first, Some(429));
    // The right password from the flooding address: refused unchecked.
    let mut s = dial_from("127.0.0.1".parse().unwrap(), addr);
    s.write_all(&right).unwrap();
    let r = read_response(&mut BufReader::new(s), false).unwrap();
    assert!(
        start.elapsed() < SLOW,
        "too slow to test: {:?}",
        start.elapsed()
    );
    assert_eq!(r.status, 429, "{}", r.head);
    assert_eq!(r.header("retry-after").as_deref(), Some("60"));
    // Another address: served at once.
    let t = Instant::now();
    assert_eq!(status_from("127.0.0.2", addr, &right), 200);
    assert!(t.elapsed() < SLOW / 3, "{:?}", t.elapsed());
    // 8 refused (40 - 32) at once; the 32 checked wait their turn.
    let mut refused = 1;
    while let Ok(a) = answers.recv_timeout(Duration::from_millis(200)) {
        assert_eq!(a, Some(429));
        refused += 1;
    }
    assert_eq!(refused, 8);
}
