//! `--transparent`: connections an nftables `redirect` rule sends to the
//! proxy, with real REDIRECT semantics, which loopback cannot give. Each
//! test makes its own "router" namespace (the proxy binary, its nftables
//! rule, the origins on the router's veth address in 198.18.0.0/15) and a
//! "LAN client" namespace joined to it by a veth pair (curl, raw sockets);
//! nothing leaves the two namespaces and no name is resolved.
//!
//! They need root and `ip netns`: `cargo test` skips them (ignored), and
//! `make test` runs them with `--ignored` wherever `ip netns add` works.
//! Run where namespaces are unavailable, they fail: never a silent pass.

mod common;

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::process::Command;
use std::sync::atomic::Ordering;
use std::time::Duration;

use common::bin::{Running, Spawn};
use common::netns::{Lan, in_ns};
use common::origin::{Origin, TlsOrigin};

/// The transparent listener's port in the router namespace.
const PORT: u16 = 8889;
const IGNORE: &str = "needs root and ip netns; make test runs them";

/// The router's nftables rule: TCP from the LAN to these ports goes to the
/// transparent listener (IPv4 and IPv6: an `inet` table).
fn redirect(lan: &Lan, ports: &str) {
    lan.nft(&format!(
        "table inet smolproxy {{
           chain prerouting {{
             type nat hook prerouting priority dstnat; policy accept;
             iifname \"lan0\" meta l4proto tcp tcp dport {{ {ports} }} redirect to :{PORT}
           }}
         }}"
    ));
}

/// The proxy in the router namespace with `args`, allowing the LAN's
/// benchmark-range clients (not among the private ranges allowed by
/// default).
fn proxy(lan: &Lan, args: &[&str]) -> Running {
    let mut all = vec!["--allow", "198.18.0.0/15", "--allow", "2001:2::/48"];
    all.extend_from_slice(args);
    Spawn::new(&all).netns(&lan.router).start()
}

/// A listener in the router namespace.
fn bind_router(lan: &Lan, addr: String) -> TcpListener {
    in_ns(&lan.router, || TcpListener::bind(addr.as_str()).unwrap())
}

/// A connection from the LAN client to `to`.
fn dial_from_lan(lan: &Lan, to: String) -> TcpStream {
    let s = in_ns(&lan.client, || TcpStream::connect(to.as_str()).unwrap());
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s
}

/// Everything `s` sends until it closes (a reset counts as a close).
fn read_to_close(s: &mut TcpStream) -> Vec<u8> {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return got,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return got,
            Err(e) => panic!("no close within the timeout: {e}"),
        }
    }
}

/// An origin on `l` answering each request with `body` (and closing),
/// keeping the address each connection came from.
fn page(l: TcpListener, body: &'static str) -> Origin {
    Origin::on(l, move |s, seen| {
        seen.lock()
            .unwrap()
            .push(s.peer_addr().unwrap().ip().to_string());
        let mut r = std::io::BufReader::new(&s);
        let mut line = String::new();
        while std::io::BufRead::read_line(&mut r, &mut line).is_ok_and(|n| n > 2) {
            line.clear();
        }
        let head = format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        let _ = (&s).write_all(head.as_bytes());
    })
}

fn curl(lan: &Lan, args: &[&str]) -> std::process::Output {
    let mut all = vec!["curl", "-sS", "--max-time", "10"];
    all.extend_from_slice(args);
    lan.client_run(&all)
}

#[test]
#[ignore = "needs root and ip netns; make test runs them"]
fn plain_http_arrives_with_its_host_on_one_kept_connection() {
    let _ = IGNORE;
    let lan = Lan::new();
    let ip = lan.router_v4.clone();
    let origin = Origin::echo_on(bind_router(&lan, format!("{ip}:80")));
    redirect(&lan, "80");
    let mut p = proxy(&lan, &["--transparent", &format!("{ip}:{PORT}")]);
    let resolve = format!("web.test:80:{ip}");
    let out = curl(
        &lan,
        &[
            "--resolve",
            &resolve,
            "http://web.test/one?x=1",
            "http://web.test/two",
        ],
    );
    let body = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        body,
        "GET /one?x=1\nGET /two\n",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let seen = origin.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 2, "{seen:?}");
    for head in &seen {
        assert!(head.contains("\r\nHost: web.test\r\n"), "{head}");
        assert!(head.starts_with("GET /"), "origin-form upstream: {head}");
    }
    // Both requests over one client connection and one origin connection.
    assert_eq!(origin.connections.load(Ordering::SeqCst), 1);
    let line = p.wait_for("http://web.test/one?x=1");
    assert!(line.contains(" GET http://web.test/one?x=1 200 "), "{line}");
    let line = p.wait_for("http://web.test/two");
    assert!(line.contains(" GET http://web.test/two 200 "), "{line}");
}

#[test]
#[ignore = "needs root and ip netns; make test runs them"]
fn a_blocked_host_gets_403_and_never_reaches_the_origin() {
    let lan = Lan::new();
    let ip = lan.router_v4.clone();
    let origin = Origin::echo_on(bind_router(&lan, format!("{ip}:80")));
    redirect(&lan, "80");
    let args = [
        "--transparent",
        &format!("{ip}:{PORT}"),
        "--block",
        "ads.test",
    ];
    let mut p = proxy(&lan, &args);
    let resolve = format!("x.ads.test:80:{ip}");
    let out = curl(
        &lan,
        &[
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "--resolve",
            &resolve,
            "http://x.ads.test/t",
        ],
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "403");
    assert_eq!(origin.connections.load(Ordering::SeqCst), 0);
    let line = p.wait_for("http://x.ads.test/t");
    assert!(line.contains(" GET http://x.ads.test/t 403 "), "{line}");
}

#[test]
#[ignore = "needs root and ip netns; make test runs them"]
fn tls_passes_byte_exact_with_the_origins_own_certificate() {
    let lan = Lan::new();
    let ip = lan.router_v4.clone();
    let addr: SocketAddr = format!("{ip}:443").parse().unwrap();
    let tls = TlsOrigin::files_in(&lan.router, addr, "tls.test");
    let blob: Vec<u8> = (0..300_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(tls.dir().join("blob"), &blob).unwrap();
    redirect(&lan, "443");
    let mut p = proxy(&lan, &["--transparent", &format!("{ip}:{PORT}")]);
    let resolve = format!("tls.test:443:{ip}");
    let cacert = tls.cert.to_str().unwrap();
    let out = curl(
        &lan,
        &[
            "--resolve",
            &resolve,
            "--cacert",
            cacert,
            "https://tls.test/blob",
        ],
    );
    assert!(
        out.status.success(),
        "curl verifies the origin's certificate through the proxy: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.stdout == blob,
        "{} bytes, not the file",
        out.stdout.len()
    );
    let line = p.wait_for("tls.test:443");
    assert!(line.contains(" TLS tls.test:443 200 "), "{line}");
}

#[test]
#[ignore = "needs root and ip netns; make test runs them"]
fn a_blocked_server_name_is_refused_before_any_byte_reaches_the_origin() {
    let lan = Lan::new();
    let ip = lan.router_v4.clone();
    // Records whether a connection's first byte is a TLS handshake record.
    let origin = Origin::on(bind_router(&lan, format!("{ip}:443")), |mut s, seen| {
        let mut first = [0u8; 1];
        if s.read_exact(&mut first).is_ok() {
            seen.lock().unwrap().push(format!("{:#04x}", first[0]));
        }
    });
    redirect(&lan, "443");
    let args = [
        "--transparent",
        &format!("{ip}:{PORT}"),
        "--block",
        "blocked.test",
    ];
    let mut p = proxy(&lan, &args);
    let resolve = format!("www.blocked.test:443:{ip}");
    let out = curl(
        &lan,
        &["-k", "--resolve", &resolve, "https://www.blocked.test/"],
    );
    assert!(!out.status.success());
    let line = p.wait_for("www.blocked.test:443");
    assert!(line.contains(" TLS www.blocked.test:443 403 "), "{line}");
    assert_eq!(origin.connections.load(Ordering::SeqCst), 0);
    // Without a server name (curl sends none to an address), the rules
    // see the original destination's address, and the hello goes on.
    let _ = curl(&lan, &["-k", "--max-time", "3", &format!("https://{ip}/")]);
    let line = p.wait_for(&format!("{ip}:443"));
    assert!(line.contains(&format!(" TLS {ip}:443 200 ")), "{line}");
    assert_eq!(origin.connections.load(Ordering::SeqCst), 1);
    assert_eq!(*origin.seen.lock().unwrap(), ["0x16"]);
}

#[test]
#[ignore = "needs root and ip netns; make test runs them"]
fn other_protocols_are_tunnelled_on_allowed_ports_and_closed_on_others() {
    let lan = Lan::new();
    let ip = lan.router_v4.clone();
    let allowed = Origin::tcp_echo_on(bind_router(&lan, format!("{ip}:7777")), b"bye");
    let refused = Origin::tcp_echo_on(bind_router(&lan, format!("{ip}:7778")), b"bye");
    redirect(&lan, "7777, 7778");
    let args = [
        "--transparent",
        &format!("{ip}:{PORT}"),
        "--connect-ports",
        "443,7777",
    ];
    let mut p = proxy(&lan, &args);
    let mut s = dial_from_lan(&lan, format!("{ip}:7777"));
    s.write_all(b"\x00\x01 not http, not tls\n").unwrap();
    let mut echo = [0u8; 21];
    s.read_exact(&mut echo).unwrap();
    assert_eq!(&echo, b"\x00\x01 not http, not tls\n");
    s.shutdown(Shutdown::Write).unwrap();
    assert_eq!(read_to_close(&mut s), b"bye", "half-close passed on");
    let line = p.wait_for(&format!("{ip}:7777"));
    assert!(
        line.contains(&format!(" TCP {ip}:7777 200 up=21 down=24 ")),
        "{line}"
    );

    let mut s = dial_from_lan(&lan, format!("{ip}:7778"));
    s.write_all(b"\x00\x01 not http, not tls\n").unwrap();
    assert_eq!(read_to_close(&mut s), b"");
    let line = p.wait_for(&format!("{ip}:7778"));
    assert!(line.contains(&format!(" TCP {ip}:7778 403 ")), "{line}");
    assert_eq!(refused.connections.load(Ordering::SeqCst), 0);
    assert_eq!(allowed.connections.load(Ordering::SeqCst), 1);
}

#[test]
#[ignore = "needs root and ip netns; make test runs them"]
fn a_connection_that_was_not_redirected_or_loops_is_closed() {
    let lan = Lan::new();
    let ip = lan.router_v4.clone();
    // 8888 is also a --listen port of the proxy: a redirect from it loops.
    redirect(&lan, "8888");
    let args = [
        "--transparent",
        &format!("{ip}:{PORT}"),
        "--listen",
        &format!("{ip}:8888"),
    ];
    let mut p = proxy(&lan, &args);
    let mut s = dial_from_lan(&lan, format!("{ip}:{PORT}"));
    let _ = s.write_all(b"GET / HTTP/1.1\r\nHost: a.test\r\n\r\n");
    assert_eq!(read_to_close(&mut s), b"", "no answer, closed");
    let line = p.wait_for("not redirected");
    assert!(
        line.contains(&format!("connected to {ip}:{PORT} directly")),
        "{line}"
    );

    let mut s = dial_from_lan(&lan, format!("{ip}:8888"));
    let _ = s.write_all(b"GET / HTTP/1.1\r\nHost: a.test\r\n\r\n");
    assert_eq!(read_to_close(&mut s), b"", "no answer, closed");
    // The access line; the warning that says the same goes to stderr
    // too, in either order.
    let line = p.wait_for(" 508 ");
    assert!(line.contains("loop"), "{line}");
}

#[test]
#[ignore = "needs root and ip netns; make test runs them"]
fn ipv6_and_ipv4_redirects_reach_one_dual_stack_listener() {
    let lan = Lan::new();
    let (v4, v6) = (lan.router_v4.clone(), lan.router_v6.clone());
    let origin6 = Origin::echo_on(bind_router(&lan, format!("[{v6}]:80")));
    let origin4 = Origin::echo_on(bind_router(&lan, format!("{v4}:80")));
    redirect(&lan, "80");
    let mut p = proxy(&lan, &["--transparent", &format!("[::]:{PORT}")]);
    let r6 = format!("six.test:80:[{v6}]");
    let out = curl(&lan, &["--resolve", &r6, "http://six.test/v6"]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "GET /v6\n",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(origin6.seen.lock().unwrap()[0].contains("\r\nHost: six.test\r\n"));
    let line = p.wait_for("http://six.test/v6");
    assert!(line.contains(" 200 "), "{line}");
    let r4 = format!("four.test:80:{v4}");
    let out = curl(&lan, &["--resolve", &r4, "http://four.test/v4"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "GET /v4\n");
    assert_eq!(origin4.connections.load(Ordering::SeqCst), 1);
    let line = p.wait_for("http://four.test/v4");
    assert!(line.contains(" 200 "), "{line}");
}

#[test]
#[ignore = "needs root and ip netns; make test runs them"]
fn the_debian_snippet_redirects_the_lans_web_traffic_but_not_the_routers_own() {
    let lan = Lan::with_wan();
    let wan = lan.wan.clone().unwrap();
    // An origin out on the "internet", and a web page of the router's own.
    let far = in_ns(&wan, || {
        TcpListener::bind(format!("{}:80", lan.wan_v4)).unwrap()
    });
    let far = page(far, "far");
    let own = page(bind_router(&lan, format!("{}:80", lan.router_v4)), "own");
    let snippet = std::fs::read_to_string("examples/router/debian.nft").unwrap();
    assert!(snippet.contains("define LAN = \"eth1\""));
    lan.nft(&snippet.replace("define LAN = \"eth1\"", "define LAN = \"lan0\""));
    let mut p = proxy(&lan, &["--transparent", &format!("[::]:{PORT}")]);
    let resolve = format!("far.test:80:{}", lan.wan_v4);
    let out = curl(&lan, &["--resolve", &resolve, "http://far.test/x"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "far");
    let line = p.wait_for("http://far.test/x");
    assert!(line.contains(" GET http://far.test/x 200 "), "{line}");
    // The origin saw the proxy's connection (from the router), not the
    // client's: the proxy's own traffic was not redirected again.
    assert_eq!(*far.seen.lock().unwrap(), [lan.router_wan_v4.as_str()]);
    // The router's own page is reached directly, not through the proxy.
    let out = curl(&lan, &[&format!("http://{}/", lan.router_v4)]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "own");
    assert_eq!(*own.seen.lock().unwrap(), [lan.client_v4.as_str()]);
    let stopped = p.stop();
    assert!(
        !stopped.contains(&format!("http://{}/", lan.router_v4)),
        "{stopped}"
    );
}

#[test]
#[ignore = "needs root and ip netns; make test runs them"]
fn the_openwrt_snippet_loads_into_a_fw4_table() {
    let lan = Lan::new();
    let path = std::fs::canonicalize("examples/router/openwrt-fw4.nft").unwrap();
    // fw4 includes /etc/nftables.d/*.nft inside its `table inet fw4`.
    lan.nft(&format!(
        "table inet fw4 {{\ninclude \"{}\"\n}}\n",
        path.display()
    ));
    let out = Command::new("ip")
        .args([
            "netns",
            "exec",
            &lan.router,
            "nft",
            "list",
            "chain",
            "inet",
            "fw4",
        ])
        .arg("smolproxy_transparent")
        .output()
        .unwrap();
    let listed = String::from_utf8_lossy(&out.stdout);
    assert!(
        listed.contains("iifname \"br-lan\" tcp dport { 80, 443 }")
            && listed.contains("redirect to :8889"),
        "{listed}"
    );
}

#[test]
#[ignore = "needs root and ip netns; make test runs them"]
fn a_hello_or_head_that_does_not_complete_in_the_head_timeout_is_closed() {
    let lan = Lan::new();
    let ip = lan.router_v4.clone();
    let tls = Origin::tcp_echo_on(bind_router(&lan, format!("{ip}:443")), b"");
    let web = Origin::echo_on(bind_router(&lan, format!("{ip}:80")));
    redirect(&lan, "80, 443");
    let args = [
        "--transparent",
        &format!("{ip}:{PORT}"),
        "--head-timeout",
        "1s",
    ];
    let mut p = proxy(&lan, &args);
    // Half a ClientHello, then silence: closed, not let through by address.
    let hello = smolproxy::transparent::sni::example_hello(Some("slow.test"));
    let mut s = dial_from_lan(&lan, format!("{ip}:443"));
    s.write_all(&hello[..hello.len() / 2]).unwrap();
    let t = std::time::Instant::now();
    assert_eq!(read_to_close(&mut s), b"");
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    let line = p.wait_for(&format!(" TLS {ip}:443 "));
    assert!(line.contains(" 408 "), "{line}");
    assert_eq!(tls.connections.load(Ordering::SeqCst), 0);
    // Half a request head: 408, within the same bound.
    let mut s = dial_from_lan(&lan, format!("{ip}:80"));
    s.write_all(b"GET /slow HTTP/1.1\r\nHost: slow.test\r\n")
        .unwrap();
    let got = read_to_close(&mut s);
    assert!(
        got.starts_with(b"HTTP/1.1 408 "),
        "{}",
        String::from_utf8_lossy(&got)
    );
    assert_eq!(web.connections.load(Ordering::SeqCst), 0);
}
