//! The binary as a user runs it: help, version, usage errors (exit 2),
//! runtime errors (exit 1), the start-up line, access lines, and a clean
//! exit 0 on SIGTERM and SIGINT.
mod common;

use std::io::{BufReader, Write};
use std::net::TcpStream;

use common::bin::{self, Spawn, spawn};
use common::client::{get, read_response};
use common::origin::Origin;

/// Run the binary with `args` to completion.
fn run(args: &[&str]) -> (i32, String, String) {
    let r = bin::run(args, &[]);
    (r.code, r.stdout, r.stderr)
}

#[test]
fn help_and_version() {
    let (code, out, _) = run(&["--help"]);
    assert_eq!(code, 0);
    for flag in [
        "--listen",
        "--threads",
        "--max-clients",
        "--connect-timeout",
        "--head-timeout",
        "--idle-timeout",
        "--read-timeout",
        "--tunnel-idle-timeout",
        "--drain-timeout",
        "--no-via",
        "--log-level",
        "--connect-ports",
        "EXAMPLES",
    ] {
        assert!(out.contains(flag), "--help lacks {flag}");
    }
    let (code, out, _) = run(&["--version"]);
    assert_eq!(
        (code, out.trim()),
        (
            0,
            format!("smolproxy {}", env!("CARGO_PKG_VERSION")).as_str()
        )
    );
}

#[test]
fn usage_errors_exit_2_with_one_clear_line() {
    let cases: &[(&[&str], &str)] = &[
        (&["--frobnicate"], "unknown argument '--frobnicate'"),
        (&["--listen", "localhost:99999"], "invalid listen address"),
        (&["--threads", "many"], "--threads must be a number"),
        (
            &["--max-clients", "0"],
            "--max-clients must be a number from 1",
        ),
        (
            &["--idle-timeout", "soon"],
            "--idle-timeout: invalid duration",
        ),
        (
            &["--connect-ports", "https"],
            "--connect-ports: invalid port",
        ),
        (&["--allow", "10.0.0.0/40"], "invalid CIDR '10.0.0.0/40'"),
    ];
    for (args, want) in cases {
        let (code, out, err) = run(args);
        assert_eq!(code, 2, "{args:?}");
        assert!(out.is_empty());
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(err.contains(want), "{args:?}: {err}");
    }
}

#[test]
fn busy_port_exits_1() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let (code, _, err) = run(&["--listen", &addr]);
    assert_eq!(code, 1);
    assert!(err.contains(&format!("cannot listen on {addr}")), "{err}");
}

#[test]
fn start_up_access_lines_and_sigterm() {
    let origin = Origin::echo();
    let mut p = spawn(&[], &[]);
    let listening = format!("INFO  listening on {}", p.addr);
    assert!(
        p.seen.iter().any(|l| l.contains(&listening)),
        "{:?}",
        p.seen
    );
    let mut s = TcpStream::connect(&p.addr).unwrap();
    s.write_all(&get(&origin.url("/logged?x=1"))).unwrap();
    let r = read_response(&mut BufReader::new(s), false).unwrap();
    assert_eq!(r.status, 200);
    let line = p.wait_for("/logged");
    // 2026-11-25T21:40:01.123Z INFO  127.0.0.1:5555 GET http://… 200 up=0 down=15 1ms user=-
    assert!(line.contains(" INFO  127.0.0.1:"), "{line}");
    assert!(
        line.contains(&format!("GET {} 200 up=0 down=", origin.url("/logged?x=1"))),
        "{line}"
    );
    assert!(line.contains("ms user=-"), "{line}");
    assert!(
        line.as_bytes()[4] == b'-' && line.contains('T') && line.contains("Z "),
        "{line}"
    );
    p.signal("-TERM");
    p.wait_for("shutting down");
    let status = p.child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
}

#[test]
fn startup_line_names_the_address_and_sigint_exits_0() {
    // Ready once it accepts connections (-q logs no `ready` line).
    let mut quiet = Spawn::new(&["-q"]).start();
    quiet.signal("-INT");
    let status = quiet.child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
    // -q: warnings only, so no start-up or access lines at all (only the
    // warning about running as root, when the tests run as root).
    let err: Vec<_> = quiet
        .all_lines()
        .iter()
        .filter(|l| !l.contains("WARN  running as root: use --user NAME"))
        .collect();
    assert!(err.is_empty(), "{err:?}");

    let mut p = spawn(&[], &[]);
    p.signal("-INT");
    let status = p.child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
}
