//! The policy through the built binary: bad policy input at start-up is a
//! clear one-line error and exit 2; bad list lines are reported with
//! file:line but never fatal; the log names the authenticated user and
//! never holds a password or credentials token; SIGHUP reloads lists,
//! keeping open connections and, when a list fails to load, the old rules.
mod common;

use std::io::{BufReader, Write};

use common::bin::{self, spawn};
use common::client::{connect_with, dial, get, get_with, read_head, read_response};
use common::files::TempFile;
use common::origin::Origin;

/// Run the binary to completion (on a port of its own choosing, should it
/// get as far as binding): exit code and stderr.
fn run(args: &[&str], env: &[(&str, &str)]) -> (i32, String) {
    let r = bin::run(&[&["--listen", "127.0.0.1:0"], args].concat(), env);
    (r.code, r.stderr)
}

#[test]
fn bad_policy_input_exits_2_with_a_clear_message() {
    let bad_users_file = TempFile::new("bad-users", "alice:ok\nnocolon\n");
    let bad_users = bad_users_file.as_str();
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
}

#[test]
fn log_names_the_user_and_never_the_secret() {
    let origin = Origin::echo();
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
    let mut s = dial(p.addr);
    s.write_all(&connect_with(&origin.addr.to_string(), &ok))
        .unwrap();
    let mut r = BufReader::new(s);
    assert!(read_head(&mut r).unwrap().starts_with("HTTP/1.1 200"));
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
    let list = TempFile::new(
        "bad-lines",
        "ok.example\nnot a domain\n||x.example^$third-party\n",
    );
    let path = list.as_str();
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
            .any(|l| l.contains(&format!("block list {path}: 1 rule")))
    );
    let r = p.send(&get("http://www.ok.example/"));
    assert_eq!(r.status, 403);
    p.wait_for("blocked by the rule 'ok.example'");
    p.stop();
}

#[test]
fn sighup_reloads_lists_keeps_connections_and_survives_a_bad_list() {
    let origin = Origin::echo();
    // IP literals need no DNS: block the origin's address, then unblock it.
    let list = TempFile::new("hup-list", "127.0.0.1\n");
    let path = list.as_str();
    let mut p = spawn(&["--block-list", path], &[]);
    let mut kept = dial(p.addr);
    let mut kept_r = BufReader::new(kept.try_clone().unwrap());
    // Opened before the reload, used after it.
    let mut ask_kept = |url: &str| {
        kept.write_all(&get(url)).unwrap();
        read_response(&mut kept_r, false).unwrap().status
    };
    let r = p.send(&get(&origin.url("/")));
    assert_eq!(r.status, 403);
    assert!(
        r.text().contains("blocked by the rule '127.0.0.1'"),
        "{}",
        r.text()
    );

    list.write("blocked.example\n");
    p.signal("-HUP");
    p.wait_for("policy reloaded");
    assert_eq!(p.send(&get(&origin.url("/"))).status, 200);
    assert_eq!(p.send(&get("http://blocked.example/")).status, 403);
    assert_eq!(ask_kept(&origin.url("/kept-1")), 200);

    std::fs::remove_file(list.path()).unwrap();
    p.signal("-HUP");
    let line = p.wait_for("reload failed");
    assert!(line.contains("ERROR") && line.contains(path), "{line}");
    assert_eq!(
        p.send(&get("http://blocked.example/")).status,
        403,
        "the previous rules stay"
    );
    assert_eq!(p.send(&get(&origin.url("/"))).status, 200);
    assert_eq!(ask_kept(&origin.url("/kept-2")), 200);
    p.stop();
}
