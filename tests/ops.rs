//! The small things a newcomer met, each as behaviour: an empty
//! `SMOLPROXY_AUTH=` counts as unset; the start-up line says where users
//! come from (never the secret); the same `--listen` twice is a usage
//! error; signal and throttle wording; `Via` carries the received
//! message's version (RFC 9110 §7.6.3).

mod common;

use std::io::{BufReader, Write};

use common::bin::{Spawn, run, spawn};
use common::client::{dial, dial_from, get, read_response};
use common::files::TempFile;
use common::origin::Origin;

#[test]
fn an_empty_smolproxy_auth_counts_as_unset() {
    let origin = Origin::echo();
    let p = spawn(&[], &[("SMOLPROXY_AUTH", "")]);
    assert_eq!(p.try_get(&origin.url("/")), Some(200));
    assert!(
        !p.seen.iter().any(|l| l.contains("authentication")),
        "{:?}",
        p.seen
    );
    p.stop();
}

#[test]
fn the_start_up_line_says_auth_is_on_and_from_where() {
    let users = TempFile::new("users", "alice:s3cr3t\n");
    let origin = Origin::echo();
    let env = [("SMOLPROXY_AUTH", "bob:hunter2")];
    let both = spawn(&["--auth-file", users.as_str()], &env);
    let want = format!(
        "INFO  proxy authentication on: users from {} and SMOLPROXY_AUTH",
        users.as_str()
    );
    assert!(
        both.seen.iter().any(|l| l.ends_with(&want)),
        "{:?}",
        both.seen
    );
    assert_eq!(both.try_get(&origin.url("/")), Some(407));
    let all = both.stop();
    assert!(!all.contains("hunter2") && !all.contains("s3cr3t"), "{all}");

    let file = spawn(&["--auth-file", users.as_str()], &[]);
    let want = format!("proxy authentication on: users from {}", users.as_str());
    assert!(
        file.seen.iter().any(|l| l.ends_with(&want)),
        "{:?}",
        file.seen
    );
    file.stop();
    let env_only = spawn(&[], &env);
    let want = "proxy authentication on: users from SMOLPROXY_AUTH";
    assert!(
        env_only.seen.iter().any(|l| l.ends_with(want)),
        "{:?}",
        env_only.seen
    );
    env_only.stop();
}

#[test]
fn the_same_listen_address_twice_is_a_usage_error() {
    let out = run(&["--listen", "127.0.0.1:8123", "--listen", "8123"], &[]);
    assert_eq!(out.code, 2);
    assert_eq!(
        out.stderr,
        "smolproxy: --listen 127.0.0.1:8123 is given twice\n"
    );
}

#[test]
fn signals_are_named_as_signals() {
    for (sig, name) in [("-INT", "SIGINT"), ("-TERM", "SIGTERM")] {
        let mut p = spawn(&[], &[]);
        p.signal(sig);
        let line = p.wait_for("received");
        assert!(
            line.ends_with(&format!("INFO  {name} received: shutting down")),
            "{line}"
        );
        assert_eq!(p.child.wait().unwrap().code(), Some(0));
    }
}

#[test]
fn a_refused_client_line_says_nothing_about_zero_held_back() {
    let mut p = Spawn::new(&["--deny", "127.0.0.2/32"]).start();
    let mut s = dial_from("127.0.0.2".parse().unwrap(), p.addr);
    let _ = s.write_all(&get("http://127.0.0.1:1/"));
    let r = read_response(&mut BufReader::new(s), false).unwrap();
    assert_eq!(r.status, 403);
    let line = p.wait_for("refused");
    assert!(line.ends_with("is not allowed to use this proxy"), "{line}");
    assert!(!line.contains("held back"), "{line}");
    // ... and the access line of that answer.
    let access = p.wait_for(" - - 403 ");
    assert!(access.contains(" INFO  127.0.0.2:"), "{access}");
    p.stop();
}

#[test]
fn via_carries_the_version_of_the_message_received() {
    // RFC 9110 §7.6.3: received-protocol is the version of the message as
    // the proxy received it: the client's for a request, the origin's
    // for a response.
    let echo = Origin::echo();
    let old = Origin::fixed(b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok");
    let p = common::start();
    for (version, want) in [("1.0", "Via: 1.0 smolproxy"), ("1.1", "Via: 1.1 smolproxy")] {
        let req = format!(
            "GET {} HTTP/{version}\r\nHost: {}\r\nConnection: close\r\n\r\n",
            echo.url("/v"),
            echo.addr
        );
        let r = p.roundtrip(req.as_bytes());
        assert_eq!(r.status, 200);
        let seen = echo.seen.lock().unwrap().last().unwrap().clone();
        assert!(seen.contains(&format!("{want}\r\n")), "{seen}");
    }
    let mut s = dial(p.addr);
    s.write_all(&get(&old.url("/"))).unwrap();
    let r = read_response(&mut BufReader::new(s), false).unwrap();
    assert_eq!(
        r.header("via").as_deref(),
        Some("1.0 smolproxy"),
        "{}",
        r.head
    );
}
