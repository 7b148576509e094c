//! `--user NAME`, through the binary as a child: started as root it binds
//! (a port below 1024 included), then every thread runs as the user, with
//! its groups, and it still serves; an unknown user is a usage error
//! (exit 2); a drop that the kernel refuses (not root) is exit 1 with one
//! line; root without `--user` gets one warning line. The tests that need
//! root are ignored and run by `make test` when it runs as root.

mod common;

use std::process::Command;

use common::bin::{BIN, Spawn, run};
use common::origin::Origin;

fn is_root() -> bool {
    let out = Command::new("id").arg("-u").output().expect("id");
    String::from_utf8_lossy(&out.stdout).trim() == "0"
}

/// `nobody`'s uid and gid from /etc/passwd.
fn nobody() -> (String, String) {
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap();
    let f: Vec<&str> = passwd
        .lines()
        .find(|l| l.starts_with("nobody:"))
        .expect("a nobody user")
        .split(':')
        .collect();
    (f[2].to_string(), f[3].to_string())
}

/// A free loopback port below 1024, or `None` if all are taken.
fn low_port() -> Option<u16> {
    (900..1024).find(|&p| std::net::TcpListener::bind(("127.0.0.1", p)).is_ok())
}

#[test]
#[ignore = "needs root: make test runs it when root (cargo test --test privileges -- --ignored)"]
fn user_nobody_as_root_drops_every_thread_and_still_serves() {
    assert!(is_root(), "this test must run as root");
    let origin = Origin::echo();
    let (uid, gid) = nobody();
    let low = low_port().expect("a free port below 1024");
    let low_listen = format!("127.0.0.1:{low}");
    let p = Spawn::new(&["--user", "nobody", "--listen", &low_listen]).start();
    // Start-up lines come before `ready`, which `start` waited for.
    let line = p
        .seen
        .iter()
        .find(|l| l.contains("running as nobody"))
        .unwrap();
    assert!(line.contains(&format!("(uid {uid}, gid {gid})")), "{line}");
    // Serve a request on each listener, so every thread has run.
    assert_eq!(p.try_get(&origin.url("/a")), Some(200));
    let status = common::client::send(("127.0.0.1", low), &common::client::get(&origin.url("/b")));
    assert_eq!(status.status, 200);
    let tasks: Vec<_> = std::fs::read_dir(format!("/proc/{}/task", p.pid()))
        .unwrap()
        .map(|t| t.unwrap().path())
        .collect();
    assert!(tasks.len() >= 3, "{tasks:?}");
    for t in &tasks {
        let status = std::fs::read_to_string(t.join("status")).unwrap();
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .unwrap()
                .split_whitespace()
                .map(str::to_string)
                .collect::<Vec<_>>()
        };
        // Real, effective, saved and filesystem ids: all the user's.
        assert_eq!(
            field("Uid:"),
            [uid.as_str(); 4],
            "{}: {status}",
            t.display()
        );
        assert_eq!(
            field("Gid:"),
            [gid.as_str(); 4],
            "{}: {status}",
            t.display()
        );
        assert!(!field("Groups:").contains(&"0".to_string()), "{status}");
    }
    assert!(!p.seen.iter().any(|l| l.contains("running as root")));
    p.stop();
}

#[test]
#[ignore = "needs root: make test runs it when root (cargo test --test privileges -- --ignored)"]
fn root_without_user_is_warned_once() {
    assert!(is_root(), "this test must run as root");
    let p = Spawn::new(&[]).start();
    let warned = p
        .seen
        .iter()
        .filter(|l| l.contains("running as root"))
        .count();
    assert_eq!(warned, 1, "{:?}", p.seen);
    let line = p
        .seen
        .iter()
        .find(|l| l.contains("running as root"))
        .unwrap();
    assert!(
        line.contains(" WARN  running as root: use --user NAME"),
        "{line}"
    );
    p.kill();
}

#[test]
fn an_unknown_user_is_a_usage_error() {
    let out = run(
        &["--listen", "127.0.0.1:0", "--user", "no-such-user-here"],
        &[],
    );
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert_eq!(
        out.stderr,
        "smolproxy: --user: no user 'no-such-user-here' in /etc/passwd\n"
    );
}

#[test]
fn a_refused_drop_exits_1_with_one_line() {
    // Not root: the kernel refuses setgroups/setresgid. As root, run the
    // proxy as nobody first (setpriv), so the failure path is the same.
    let mut cmd = if is_root() {
        let (uid, gid) = nobody();
        let mut c = Command::new("setpriv");
        c.args([
            &format!("--reuid={uid}"),
            &format!("--regid={gid}"),
            "--clear-groups",
            BIN,
        ]);
        c
    } else {
        Command::new(BIN)
    };
    let out = cmd
        .args(["--listen", "127.0.0.1:0", "--user", "root"])
        .env_remove("SMOLPROXY_AUTH")
        .output()
        .expect("setpriv (util-linux)");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 1, "{err}");
    assert!(
        lines[0].ends_with(
            "ERROR cannot drop privileges to 'root': Operation not permitted (os error 1)"
        ),
        "{err}"
    );
}
