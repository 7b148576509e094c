//! The policy through the built binary: bad policy input at start-up is a
//! clear one-line error and exit 2; bad list lines are reported with
//! file:line but never fatal; the log names the authenticated user and
//! never holds a password or credentials token; SIGHUP reloads lists,
//! keeping open connections and, when a list fails to load, the old rules.
mod common;

use common::bin::{BIN, EnvRemove, spawn};

use std::io::{BufReader, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::Command;

fn temp(name: &str, contents: &str) -> PathBuf {
    let p = std::env::temp_dir().join(format!("smolproxy-cli-{}-{name}", std::process::id()));
    std::fs::write(&p, contents).unwrap();
    p
}

/// Run the binary to completion: exit code and stderr.
fn run(args: &[&str], env: &[(&str, &str)]) -> (i32, String) {
    let out = Command::new(BIN)
        .args(["--listen", "127.0.0.1:0"])
        .args(args)
        .envs(env.iter().copied())
        .env_remove_if_absent(env)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn bad_policy_input_exits_2_with_a_clear_message() {
    let bad_users = temp("bad-users", "alice:ok\nnocolon\n");
    let bad_users = bad_users.to_str().unwrap();
    type Case<'a> = (&'a [&'a str], &'a [(&'a str, &'a str)], &'a str);
    let cases: &[Case<'_>] = &[
        (
            &["--allow", "10.0.0.0/33"],
            &[],
            "smolproxy: invalid CIDR '10.0.0.0/33'",
        ),
        (
            &["--deny", "192.168.1.300"],
            &[],
            "smolproxy: invalid CIDR '192.168.1.300'",
        ),
        (
            &["--block", "a..b"],
            &[],
            "smolproxy: --block: invalid domain 'a..b'",
        ),
        (
            &["--block-list", "/nonexistent/ads.txt"],
            &[],
            "smolproxy: cannot read /nonexistent/ads.txt:",
        ),
        (
            &["--allow-list", "/nonexistent/ok.txt"],
            &[],
            "smolproxy: cannot read /nonexistent/ok.txt:",
        ),
        (
            &["--auth-file", "/nonexistent/users"],
            &[],
            "smolproxy: cannot read /nonexistent/users:",
        ),
        (&["--auth-file", bad_users], &[], "smolproxy: "),
        (
            &[],
            &[("SMOLPROXY_AUTH", "nocolon")],
            "smolproxy: SMOLPROXY_AUTH: expected user:password",
        ),
    ];
    for (args, env, want) in cases {
        let (code, err) = run(args, env);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(err.lines().any(|l| l.starts_with(want)), "{args:?}: {err}");
        assert!(
            !err.contains("listening"),
            "{args:?} must fail before binding"
        );
    }
    let (_, err) = run(&["--auth-file", bad_users], &[]);
    assert!(
        err.contains(&format!("{bad_users}:2: expected user:password")),
        "{err}"
    );
    let _ = std::fs::remove_file(bad_users);
}

fn get_with(url: &str, extra: &str) -> Vec<u8> {
    let host = url.trim_start_matches("http://").split('/').next().unwrap();
    format!("GET {url} HTTP/1.1\r\nHost: {host}\r\n{extra}\r\n").into_bytes()
}

#[test]
fn log_names_the_user_and_never_the_secret() {
    let origin = common::Origin::echo();
    // -vv: even trace lines (heads as sent upstream) must not leak it.
    let mut p = spawn(
        &["-vv", "--connect-ports", "any"],
        &[("SMOLPROXY_AUTH", "alice:Sup3r-s3cret:x")],
    );
    let token = "YWxpY2U6U3VwM3ItczNjcmV0Ong="; // alice:Sup3r-s3cret:x
    let wrong = "YWxpY2U6V3JvbmctcGFzcw=="; // alice:Wrong-pass
    let ok = format!("Proxy-Authorization: Basic {token}\r\n");
    let r = p.send(&get_with(&origin.url("/who"), &ok));
    assert_eq!(r.status, 200);
    let line = p.wait_for("/who 200 ");
    assert!(
        line.contains("200") && line.ends_with("user=alice"),
        "{line}"
    );
    let bad = format!("Proxy-Authorization: Basic {wrong}\r\n");
    let r = p.send(&get_with(&origin.url("/nope"), &bad));
    assert_eq!(r.status, 407);
    let line = p.wait_for("/nope 407 ");
    assert!(line.contains(" 407 ") && line.contains("user=-"), "{line}");
    // A request that passed authentication and then failed names its user.
    let r = p.send(&get_with("http://127.0.0.1:1/refused", &ok));
    assert_eq!(r.status, 502);
    let line = p.wait_for("/refused 502 ");
    assert!(line.contains("user=alice"), "{line}");
    // A tunnel's access line names the user too.
    let tunnel = format!("CONNECT {0} HTTP/1.1\r\nHost: {0}\r\n{ok}\r\n", origin.addr);
    let mut s = TcpStream::connect(&p.addr).unwrap();
    s.set_read_timeout(Some(common::IO_WAIT)).unwrap();
    s.write_all(tunnel.as_bytes()).unwrap();
    let mut r = BufReader::new(s);
    assert!(
        common::read_head(&mut r)
            .unwrap()
            .starts_with("HTTP/1.1 200")
    );
    drop(r);
    let line = p.wait_for(&format!("CONNECT {} 200", origin.addr));
    assert!(
        line.ends_with("user=alice") || line.contains("user=alice "),
        "{line}"
    );
    let log = p.stop();
    for secret in ["Sup3r-s3cret", token, "Wrong-pass", wrong, "YWxpY2U6"] {
        assert!(!log.contains(secret), "{secret} in the log:\n{log}");
    }
    assert!(
        log.to_ascii_lowercase().contains("request head to"),
        "trace was on"
    );
}

#[test]
fn bad_list_lines_are_reported_with_file_and_line() {
    let list = temp(
        "bad-lines",
        "ok.example\nnot a domain\n||x.example^$third-party\n",
    );
    let path = list.to_str().unwrap();
    let mut p = spawn(&["--block-list", path], &[]);
    assert!(
        p.seen
            .iter()
            .any(|l| l.contains(&format!("{path}:2: expected a domain")))
    );
    assert!(
        p.seen
            .iter()
            .any(|l| l.contains(&format!("{path}:3: unsupported Adblock rule")))
    );
    assert!(p.seen.iter().any(|l| l.contains("2 lines not understood")));
    assert!(
        p.seen
            .iter()
            .any(|l| l.contains(&format!("block list {path}: 1 rules")))
    );
    let r = p.send(&get_with("http://www.ok.example/", ""));
    assert_eq!(r.status, 403);
    p.wait_for("blocked by the rule 'ok.example'");
    p.stop();
    let _ = std::fs::remove_file(list);
}

#[test]
fn sighup_reloads_lists_keeps_connections_and_survives_a_bad_list() {
    let origin = common::Origin::echo();
    // IP literals need no DNS: block the origin's address, then unblock it.
    let list = temp("hup-list", "127.0.0.1\n");
    let path = list.to_str().unwrap();
    let mut p = spawn(&["--block-list", path], &[]);
    let mut kept = TcpStream::connect(&p.addr).unwrap();
    kept.set_read_timeout(Some(common::IO_WAIT)).unwrap();
    let mut kept_r = BufReader::new(kept.try_clone().unwrap());
    // Opened before the reload, used after it.
    let mut ask_kept = |url: &str| {
        kept.write_all(&get_with(url, "")).unwrap();
        common::read_response(&mut kept_r, false).unwrap().status
    };
    let r = p.send(&common::get(&origin.url("/")));
    assert_eq!(r.status, 403);
    assert!(
        r.text().contains("blocked by the rule '127.0.0.1'"),
        "{}",
        r.text()
    );

    std::fs::write(&list, "blocked.example\n").unwrap();
    p.signal("-HUP");
    p.wait_for("policy reloaded");
    assert_eq!(p.send(&common::get(&origin.url("/"))).status, 200);
    assert_eq!(p.send(&get_with("http://blocked.example/", "")).status, 403);
    assert_eq!(ask_kept(&origin.url("/kept-1")), 200);

    std::fs::remove_file(&list).unwrap();
    p.signal("-HUP");
    let line = p.wait_for("reload failed");
    assert!(line.contains("ERROR") && line.contains(path), "{line}");
    assert_eq!(
        p.send(&get_with("http://blocked.example/", "")).status,
        403,
        "the previous rules stay"
    );
    assert_eq!(p.send(&common::get(&origin.url("/"))).status, 200);
    assert_eq!(ask_kept(&origin.url("/kept-2")), 200);
    p.stop();
}
