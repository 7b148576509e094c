//! The policy as a client meets it, in-process: who may use the proxy
//! (IPv4, IPv6, IPv4-mapped clients, deny over allow, a flood of refused
//! clients), proxy authentication (407 and its challenge, colons in
//! passwords, the credentials never reaching the origin), CONNECT ports,
//! domain rules (every list format, allow over block, default-deny, no
//! DNS lookup for a blocked host), the private-target guard and reloads.
mod common;

use std::io::{BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use common::client::{
    Response, connect_req, connect_with, dial, get, get_with, read_head, read_response,
};
use common::files::TempFile;
use common::origin::Origin;
use common::{AUTH_FAIL_DELAY, Cidr, Config, ConnectPorts, IO_WAIT, Proxy, Secret};

/// A proxy listening on every address in `listen` (port 0).
fn start_on(listen: &[&str], f: impl FnOnce(&mut Config)) -> Proxy {
    let mut c = common::test_config();
    c.listen = listen.iter().map(|a| a.parse().unwrap()).collect();
    f(&mut c);
    common::start_with(c)
}

fn start(f: impl FnOnce(&mut Config)) -> Proxy {
    start_on(&["127.0.0.1:0"], f)
}

fn cidrs(list: &[&str]) -> Vec<Cidr> {
    list.iter().map(|s| Cidr::parse(s).unwrap()).collect()
}

/// Send `req` to `addr` on a new connection and read one response.
fn send_to(addr: SocketAddr, req: &[u8]) -> Response {
    let mut s = dial(addr);
    // A refused client is answered before its request is read; the write
    // may then meet a closed socket, which is fine.
    let _ = s.write_all(req);
    let mut r = BufReader::new(s);
    if req.starts_with(b"CONNECT ") {
        // A 200 opens a tunnel: its head has no body framing.
        let head = read_head(&mut r).expect("response head");
        if head.starts_with("HTTP/1.1 200") {
            return Response {
                status: 200,
                head,
                body: Vec::new(),
            };
        }
        let status = head.split(' ').nth(1).unwrap().parse().unwrap();
        let mut body = Vec::new();
        std::io::Read::read_to_end(&mut r, &mut body).unwrap();
        return Response { status, head, body };
    }
    read_response(&mut r, false).expect("response")
}

// ---- who may use the proxy ----------------------------------------------

#[test]
fn default_allows_loopback_v4_and_v6() {
    let origin = Origin::echo();
    let p = start_on(&["127.0.0.1:0", "[::1]:0"], |c| {
        c.policy = Default::default();
    });
    for &addr in p.handle.addrs() {
        let r = send_to(addr, &get(&origin.url("/x")));
        assert_eq!(r.status, 200, "via {addr}");
    }
}

#[test]
fn ipv6_client_allowed_ipv4_refused_with_403() {
    let origin = Origin::echo();
    let p = start_on(&["127.0.0.1:0", "[::1]:0"], |c| {
        c.policy.allow = cidrs(&["::1"]);
    });
    let (v4, v6) = (p.handle.addrs()[0], p.handle.addrs()[1]);
    let r = send_to(v4, &get(&origin.url("/x")));
    assert_eq!(r.status, 403);
    assert_eq!(
        r.text(),
        "client 127.0.0.1 is not allowed to use this proxy\n"
    );
    assert_eq!(send_to(v6, &get(&origin.url("/x"))).status, 200);
    assert_eq!(origin.connections.load(Ordering::SeqCst), 1);
}

#[test]
fn deny_wins_over_allow() {
    let origin = Origin::echo();
    let p = start_on(&["127.0.0.1:0", "[::1]:0"], |c| {
        c.policy.allow = cidrs(&["127.0.0.0/8", "::/0"]);
        c.policy.deny = cidrs(&["127.0.0.1", "::1/128"]);
    });
    for &addr in p.handle.addrs() {
        let r = send_to(addr, &get(&origin.url("/x")));
        assert_eq!(r.status, 403, "via {addr}");
    }
    assert_eq!(origin.connections.load(Ordering::SeqCst), 0);
}

#[test]
fn ipv4_mapped_clients_match_as_ipv4() {
    let origin = Origin::echo();
    // A dual-stack listener: IPv4 clients arrive as ::ffff:127.0.0.1.
    let allow_v4 = start_on(&["[::]:0"], |c| c.policy.allow = cidrs(&["127.0.0.0/8"]));
    let port = allow_v4.addr.port();
    let v4: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let v6: SocketAddr = format!("[::1]:{port}").parse().unwrap();
    assert_eq!(send_to(v4, &get(&origin.url("/"))).status, 200);
    assert_eq!(send_to(v6, &get(&origin.url("/"))).status, 403);

    let deny_v4 = start_on(&["[::]:0"], |c| c.policy.deny = cidrs(&["127.0.0.1/32"]));
    let port = deny_v4.addr.port();
    let v4: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let r = send_to(v4, &get(&origin.url("/")));
    assert_eq!(r.status, 403);
    assert!(r.text().starts_with("client 127.0.0.1 "), "{}", r.text());
}

#[test]
fn flood_of_refused_clients_does_not_stall_allowed_ones() {
    let origin = Origin::echo();
    let p = start_on(&["127.0.0.1:0", "[::1]:0"], |c| {
        c.policy.allow = cidrs(&["::1"]);
    });
    let (v4, v6) = (p.handle.addrs()[0], p.handle.addrs()[1]);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let refused = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let flooders: Vec<_> = (0..4)
        .map(|_| {
            let (stop, refused) = (stop.clone(), refused.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    if let Ok(mut s) = TcpStream::connect(v4) {
                        s.set_read_timeout(Some(IO_WAIT)).unwrap();
                        // As real clients do: the first bytes tell the proxy
                        // whether to refuse in HTTP or in SOCKS5.
                        let _ = s.write_all(b"GET http://localhost/ HTTP/1.1\r\n\r\n");
                        let mut buf = [0u8; 64];
                        if matches!(std::io::Read::read(&mut s, &mut buf), Ok(n) if buf[..n].starts_with(b"HTTP/1.1 403"))
                        {
                            refused.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(200));
    for i in 0..30 {
        let t = Instant::now();
        let r = send_to(v6, &get(&origin.url(&format!("/{i}"))));
        assert_eq!(r.status, 200);
        assert!(
            t.elapsed() < Duration::from_secs(2),
            "request {i} took {:?}",
            t.elapsed()
        );
    }
    stop.store(true, Ordering::Relaxed);
    for f in flooders {
        f.join().unwrap();
    }
    assert!(
        refused.load(Ordering::Relaxed) > 100,
        "the flood was refused"
    );
    assert!(common::eventually(Duration::from_secs(5), || p
        .handle
        .active()
        == 0));
}

// ---- CONNECT ports ------------------------------------------------------

#[test]
fn connect_ports_default_443_only() {
    let p = start(|c| c.policy.connect_ports = ConnectPorts::Only(vec![443]));
    let origin = Origin::echo();
    let r = send_to(p.addr, &connect_req(&origin.addr.to_string()));
    assert_eq!(r.status, 403);
    assert!(r.text().contains(&format!(
        "CONNECT to port {} is not allowed",
        origin.addr.port()
    )));
    assert_eq!(origin.connections.load(Ordering::SeqCst), 0);
    // Port 443 passes the port rule (and then finds nothing listening).
    let r = send_to(p.addr, &connect_req("127.0.0.1:443"));
    assert_ne!(r.status, 403);
}

#[test]
fn connect_ports_list_and_any() {
    let origin = Origin::echo();
    let port = origin.addr.port();
    let listed = start(|c| c.policy.connect_ports = ConnectPorts::Only(vec![8443, port]));
    let r = send_to(listed.addr, &connect_req(&format!("localhost:{port}")));
    assert_eq!(r.status, 200);
    let r = send_to(listed.addr, &connect_req("localhost:25"));
    assert_eq!(r.status, 403);
    let any = start(|c| c.policy.connect_ports = ConnectPorts::Any);
    let r = send_to(any.addr, &connect_req(&format!("localhost:{port}")));
    assert_eq!(r.status, 200);
}

// ---- authentication -----------------------------------------------------

const ALICE: &str = "Proxy-Authorization: Basic YWxpY2U6czNjcjN0\r\n"; // alice:s3cr3t
const BOB: &str = "Proxy-Authorization: Basic Ym9iOnBhOnNzOndvcmQ=\r\n"; // bob:pa:ss:word
const BOB_CUT: &str = "Proxy-Authorization: Basic Ym9iOnBh\r\n"; // bob:pa
const WRONG: &str = "Proxy-Authorization: Basic YWxpY2U6d3Jvbmc=\r\n"; // alice:wrong

fn auth_proxy() -> (Proxy, TempFile) {
    let f = TempFile::new("users", "# household\nalice:s3cr3t\n\nbob:pa:ss:word\n");
    let path = f.path().to_path_buf();
    let p = start(move |c| c.policy.auth_file = Some(path));
    (p, f)
}

fn assert_407(r: &Response) {
    assert_eq!(r.status, 407, "{}", r.head);
    assert_eq!(
        r.header("proxy-authenticate").as_deref(),
        Some("Basic realm=\"smolproxy\"")
    );
}

#[test]
fn auth_missing_or_wrong_gets_407_with_challenge() {
    let origin = Origin::echo();
    let (p, _f) = auth_proxy();
    let port = origin.addr.port();
    for extra in ["", WRONG, BOB_CUT, "Proxy-Authorization: Bearer abc\r\n"] {
        let start = std::time::Instant::now();
        assert_407(&send_to(p.addr, &get_with(&origin.url("/"), extra)));
        assert_407(&send_to(
            p.addr,
            &connect_with(&format!("localhost:{port}"), extra),
        ));
        // Wrong credentials are answered only after a pause (guessing is
        // slow); the first challenge, without credentials, at once.
        let waited = start.elapsed();
        if extra.is_empty() {
            assert!(waited < AUTH_FAIL_DELAY, "{waited:?}");
        } else {
            assert!(waited >= 2 * AUTH_FAIL_DELAY, "{waited:?}");
        }
    }
    let twice = format!("{ALICE}{ALICE}");
    assert_407(&send_to(p.addr, &get_with(&origin.url("/"), &twice)));
    assert_eq!(origin.connections.load(Ordering::SeqCst), 0);
    // The proxy's PAC script needs no credentials; its dashboard does
    // (tests/own_pages.rs checks every page).
    assert_eq!(
        send_to(p.addr, b"GET /proxy.pac HTTP/1.1\r\nHost: x\r\n\r\n").status,
        200
    );
    assert_eq!(
        send_to(p.addr, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").status,
        401
    );
}

#[test]
fn auth_right_credentials_pass_and_never_reach_the_origin() {
    let origin = Origin::echo();
    let (p, _f) = auth_proxy();
    let r = send_to(p.addr, &get_with(&origin.url("/a"), ALICE));
    assert_eq!(r.status, 200);
    let r = send_to(p.addr, &get_with(&origin.url("/b"), BOB));
    assert_eq!(r.status, 200, "a colon in the password");
    let r = send_to(
        p.addr,
        &get_with(
            &origin.url("/c"),
            "proxy-authorization:   basic   YWxpY2U6czNjcjN0  \r\n",
        ),
    );
    assert_eq!(r.status, 200, "scheme is case-insensitive");
    let seen = origin.seen.lock().unwrap().join("\n").to_ascii_lowercase();
    assert_eq!(origin.seen.lock().unwrap().len(), 3);
    assert!(!seen.contains("proxy-authorization"), "{seen}");
    assert!(!seen.contains("ywxpy2u6"), "{seen}");
    // CONNECT with credentials opens the tunnel.
    let r = send_to(
        p.addr,
        &connect_with(&format!("localhost:{}", origin.addr.port()), ALICE),
    );
    assert_eq!(r.status, 200);
}

#[test]
fn auth_from_environment_value() {
    let origin = Origin::echo();
    let p = start(|c| c.policy.auth_env = Some(Secret("alice:s3cr3t".into())));
    assert_eq!(
        send_to(p.addr, &get_with(&origin.url("/"), ALICE)).status,
        200
    );
    assert_407(&send_to(p.addr, &get_with(&origin.url("/"), BOB)));
}

// ---- domain rules -------------------------------------------------------

/// The status for a GET of `http://host/` (502: not blocked, and the test
/// resolver does not know the name).
fn get_status(p: &Proxy, host: &str) -> (u16, String) {
    let r = send_to(p.addr, &get(&format!("http://{host}/")));
    (r.status, r.text())
}

#[test]
fn block_covers_subdomains_any_case_and_trailing_dot() {
    let p = start(|c| c.policy.block = vec!["ads.example.com".into()]);
    for host in [
        "ads.example.com",
        "ADS.Example.Com",
        "x.y.ads.example.com",
        "ads.example.com.",
    ] {
        let (status, body) = get_status(&p, host);
        assert_eq!(status, 403, "{host}");
        assert!(
            body.contains("is blocked by the rule 'ads.example.com'"),
            "{body}"
        );
    }
    for host in ["example.com", "notads.example.com", "ads.example.co"] {
        assert_eq!(get_status(&p, host).0, 502, "{host}");
    }
}

#[test]
fn blocked_connect_gets_plain_text_403_naming_the_rule() {
    let p = start(|c| c.policy.block = vec!["tracker.net".into()]);
    let r = send_to(p.addr, &connect_req("cdn.tracker.net:443"));
    assert_eq!(r.status, 403);
    assert!(r.header("content-type").unwrap().starts_with("text/plain"));
    assert_eq!(
        r.text(),
        "smolproxy: cdn.tracker.net is blocked by the rule 'tracker.net'\n"
    );
}

#[test]
fn blocked_before_any_dns_lookup_or_connection() {
    let origin = Origin::echo();
    // The test resolver never answers for slow.test: a lookup would hang.
    let p = start(|c| c.policy.block = vec!["slow.test".into(), "127.0.0.1".into()]);
    let t = Instant::now();
    assert_eq!(get_status(&p, "slow.test").0, 403);
    let r = send_to(p.addr, &connect_req("slow.test:443"));
    assert_eq!(r.status, 403);
    assert!(t.elapsed() < Duration::from_secs(2));
    // IP literals are matched as written.
    let r = send_to(p.addr, &get(&origin.url("/")));
    assert_eq!(r.status, 403);
    assert_eq!(origin.connections.load(Ordering::SeqCst), 0);
}

#[test]
fn allow_domain_overrides_block() {
    let origin = Origin::echo();
    let port = origin.addr.port();
    let p = start(|c| {
        c.policy.block = vec!["localhost".into(), "example.com".into()];
        c.policy.allow_domains = vec!["localhost".into(), "good.example.com".into()];
    });
    let r = send_to(p.addr, &get(&format!("http://localhost:{port}/ok")));
    assert_eq!(r.status, 200);
    assert_eq!(get_status(&p, "good.example.com").0, 502);
    assert_eq!(get_status(&p, "www.good.example.com").0, 502);
    assert_eq!(get_status(&p, "bad.example.com").0, 403);
}

#[test]
fn default_deny_allows_only_the_allow_list() {
    let origin = Origin::echo();
    let port = origin.addr.port();
    let list = TempFile::new("kid-allow", "# school\nlocalhost\n||school.example^\n");
    let path = list.path().to_path_buf();
    let p = start(move |c| {
        c.policy.default_deny = true;
        c.policy.allow_lists = vec![path];
    });
    let r = send_to(p.addr, &get(&format!("http://localhost:{port}/")));
    assert_eq!(r.status, 200);
    assert_eq!(get_status(&p, "www.school.example").0, 502);
    let (status, body) = get_status(&p, "games.example");
    assert_eq!(status, 403);
    assert!(
        body.contains("games.example is not on the allow list"),
        "{body}"
    );
    let r = send_to(p.addr, &connect_req("games.example:443"));
    assert_eq!(r.status, 403);
    let r = send_to(p.addr, &get(&origin.url("/")));
    assert_eq!(r.status, 403, "IP literals are not on the list");
}

#[test]
fn every_list_format_and_bad_lines_never_fatal() {
    let list = TempFile::new(
        "mixed-list",
        "# plain\nplain.example\n\
         127.0.0.1 localhost\n::1 localhost ip6-localhost\n0.0.0.0 0.0.0.0\n\
         0.0.0.0 hosts1.example hosts2.example # comment\n\
         127.0.0.1\thosts3.example\n\
         [Adblock Plus 2.0]\n! comment\n||adblock.example^\n\
         ||partial.example^$third-party\nexample.org##.banner\nnot a domain\nb@d.example\n",
    );
    let path = list.path().to_path_buf();
    let p = start(move |c| c.policy.block_lists = vec![path]);
    for host in [
        "plain.example",
        "www.plain.example",
        "hosts1.example",
        "hosts2.example",
        "hosts3.example",
        "adblock.example",
        "sub.adblock.example",
    ] {
        assert_eq!(get_status(&p, host).0, 403, "{host}");
    }
    for host in ["partial.example", "example.org", "other.example"] {
        assert_eq!(get_status(&p, host).0, 502, "{host} must not be blocked");
    }
    // `127.0.0.1 localhost` is hosts-file boilerplate, not a rule.
    let origin = Origin::echo();
    let r = send_to(
        p.addr,
        &get(&format!("http://localhost:{}/", origin.addr.port())),
    );
    assert_eq!(r.status, 200);
}

#[test]
fn start_fails_on_an_unreadable_list() {
    let mut c = common::test_config();
    c.policy.block_lists = vec!["/nonexistent/smolproxy-list".into()];
    let e = common::launch(c)
        .err()
        .expect("an unreadable list fails the start");
    assert!(e.to_string().contains("/nonexistent/smolproxy-list"), "{e}");
}

// ---- egress guard -------------------------------------------------------

#[test]
fn deny_private_targets_refuses_loopback_only_when_set() {
    let origin = Origin::echo();
    let port = origin.addr.port();
    let on = start(|c| c.policy.deny_private_targets = true);
    let r = send_to(on.addr, &get(&origin.url("/")));
    assert_eq!(r.status, 403);
    assert!(r.text().contains("is a private address"), "{}", r.text());
    // Checked on every resolved address, names included.
    let r = send_to(on.addr, &get(&format!("http://localhost:{port}/")));
    assert_eq!(r.status, 403);
    let r = send_to(on.addr, &connect_req(&format!("localhost:{port}")));
    assert_eq!(r.status, 403);
    let r = send_to(on.addr, &connect_req(&format!("[::ffff:127.0.0.1]:{port}")));
    assert_eq!(r.status, 403);
    assert_eq!(origin.connections.load(Ordering::SeqCst), 0);
    let off = start(|_| {});
    assert_eq!(send_to(off.addr, &get(&origin.url("/"))).status, 200);
}

// ---- reload -------------------------------------------------------------

#[test]
fn reload_applies_a_good_list_and_keeps_rules_on_a_bad_one() {
    let origin = Origin::echo();
    let list = TempFile::new("reload-list", "one.example\n");
    let path = list.path().to_path_buf();
    let p = start(move |c| c.policy.block_lists = vec![path]);
    // A keep-alive connection open across the reloads.
    let mut kept = dial(p.addr);
    let mut kept_r = BufReader::new(kept.try_clone().unwrap());
    let mut ask_kept = |path: &str| {
        kept.write_all(&get(&origin.url(path))).unwrap();
        read_response(&mut kept_r, false).unwrap().status
    };
    assert_eq!(ask_kept("/before"), 200);
    assert_eq!(get_status(&p, "one.example").0, 403);
    assert_eq!(get_status(&p, "two.example").0, 502);

    list.write("two.example\n");
    p.reload();
    assert_eq!(get_status(&p, "one.example").0, 502);
    assert_eq!(get_status(&p, "two.example").0, 403);
    assert_eq!(ask_kept("/after-good-reload"), 200);

    std::fs::remove_file(list.path()).unwrap();
    p.reload();
    assert_eq!(get_status(&p, "two.example").0, 403, "previous rules kept");
    assert_eq!(ask_kept("/after-bad-reload"), 200);
}

#[test]
fn reload_rereads_the_auth_file() {
    let origin = Origin::echo();
    let (p, users) = auth_proxy();
    assert_eq!(
        send_to(p.addr, &get_with(&origin.url("/"), ALICE)).status,
        200
    );
    users.write("bob:pa:ss:word\n");
    p.reload();
    assert_407(&send_to(p.addr, &get_with(&origin.url("/"), ALICE)));
    assert_eq!(
        send_to(p.addr, &get_with(&origin.url("/"), BOB)).status,
        200
    );
    users.write("no colon here\n");
    p.reload();
    assert_eq!(
        send_to(p.addr, &get_with(&origin.url("/"), BOB)).status,
        200,
        "a bad auth file keeps the previous users"
    );
}
