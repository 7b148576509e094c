//! CONNECT tunnels over real loopback sockets: exact bytes both ways,
//! half-close, early data, port policy, idle timeout, errors, IPv6.
mod common;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::time::Duration;

use common::client::{connect_req, get};
use common::origin::Origin;
use common::{ConnectPorts, PolicyConfig};

/// Open a tunnel to `target` and return the stream after the 200.
fn tunnel(proxy: &common::Proxy, target: &str) -> TcpStream {
    let mut s = proxy.connect();
    s.write_all(&connect_req(target)).unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        s.read_exact(&mut byte).unwrap();
        head.push(byte[0]);
    }
    assert_eq!(head, b"HTTP/1.1 200 Connection established\r\n\r\n");
    s
}

#[test]
fn bytes_are_exact_both_ways_with_half_close() {
    let server = Origin::tcp_echo(b"bye after your EOF").addr;
    let proxy = common::start();
    let s = tunnel(&proxy, &server.to_string());
    let data: Vec<u8> = (0..3_000_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let mut w = s.try_clone().unwrap();
    let sent = data.clone();
    let writer = std::thread::spawn(move || {
        w.write_all(&sent).unwrap();
        // Half-close: we are done sending, but still want the reply.
        w.shutdown(Shutdown::Write).unwrap();
    });
    let mut got = Vec::new();
    let mut r = s;
    r.read_to_end(&mut got).unwrap();
    writer.join().unwrap();
    assert_eq!(got.len(), data.len() + 18);
    assert!(got[..data.len()] == data[..], "echoed bytes differ");
    assert_eq!(&got[data.len()..], b"bye after your EOF");
}

#[test]
fn early_data_after_the_connect_head_is_forwarded() {
    let server = Origin::tcp_echo(b"").addr;
    let proxy = common::start();
    let mut s = proxy.connect();
    write!(
        s,
        "CONNECT {server} HTTP/1.1\r\nHost: {server}\r\n\r\nclient hello"
    )
    .unwrap();
    s.shutdown(Shutdown::Write).unwrap();
    let mut got = Vec::new();
    s.read_to_end(&mut got).unwrap();
    assert_eq!(
        got,
        b"HTTP/1.1 200 Connection established\r\n\r\nclient hello"
    );
}

#[test]
fn server_first_protocols_work() {
    // Like SMTP or SSH: the server speaks first.
    let server = Origin::raw(|mut s, _| {
        s.write_all(b"220 hello\r\n").unwrap();
        let mut buf = [0u8; 6];
        s.read_exact(&mut buf).unwrap();
        s.write_all(&buf).unwrap();
    });
    let proxy = common::start();
    let mut s = tunnel(&proxy, &server.addr.to_string());
    let mut greet = [0u8; 11];
    s.read_exact(&mut greet).unwrap();
    assert_eq!(&greet, b"220 hello\r\n");
    s.write_all(b"QUIT\r\n").unwrap();
    let mut back = [0u8; 6];
    s.read_exact(&mut back).unwrap();
    assert_eq!(&back, b"QUIT\r\n");
}

#[test]
fn default_policy_allows_only_port_443() {
    let server = Origin::tcp_echo(b"").addr;
    let mut c = common::test_config();
    c.policy = PolicyConfig::default();
    let proxy = common::start_with(c);
    let resp = proxy.roundtrip(format!("CONNECT {server} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes());
    assert_eq!(resp.status, 403);
    assert!(
        resp.text()
            .contains(&format!("port {} is not allowed", server.port())),
        "{}",
        resp.text()
    );

    let mut c = common::test_config();
    c.policy.connect_ports = ConnectPorts::Only(vec![server.port()]);
    let proxy = common::start_with(c);
    drop(tunnel(&proxy, &server.to_string()));
}

#[test]
fn connect_errors() {
    let mut c = common::test_config();
    c.connect_timeout = Duration::from_millis(300);
    let proxy = common::start_with(c);
    let cases: &[(&str, u16, &str)] = &[
        ("127.0.0.1:1", 502, "connection refused"),
        (
            "nxdomain.test:443",
            502,
            "could not resolve host nxdomain.test",
        ),
        ("slow.test:443", 504, "timed out"),
        ("localhost", 400, "a port is required"),
        ("[::1", 400, "unclosed"),
        ("0.0.0.0:443", 403, "not allowed"),
    ];
    for (target, status, words) in cases {
        let resp = proxy.roundtrip(&connect_req(target));
        assert_eq!(resp.status, *status, "{target}: {}", resp.text());
        assert!(resp.text().contains(words), "{target}: {}", resp.text());
    }
    let resp =
        proxy.roundtrip(format!("CONNECT {} HTTP/1.1\r\nHost: x\r\n\r\n", proxy.addr).as_bytes());
    assert_eq!(resp.status, 508);
}

#[test]
fn idle_tunnel_is_closed() {
    let server = Origin::tcp_echo(b"").addr;
    let mut c = common::test_config();
    c.tunnel_idle_timeout = Duration::from_millis(300);
    let proxy = common::start_with(c);
    let mut s = tunnel(&proxy, &server.to_string());
    // Activity in one direction keeps it open past the timeout...
    for _ in 0..4 {
        s.write_all(b"x").unwrap();
        let mut b = [0u8; 1];
        s.read_exact(&mut b).unwrap();
        std::thread::sleep(Duration::from_millis(150));
    }
    // ...silence closes it.
    let start = std::time::Instant::now();
    let mut rest = Vec::new();
    assert_eq!(s.read_to_end(&mut rest).unwrap(), 0);
    assert!(start.elapsed() < Duration::from_secs(5));
    assert!(common::eventually(Duration::from_secs(5), || proxy
        .handle
        .active()
        == 0));
}

#[test]
fn ipv6_listen_and_target() {
    // Not a skip: every machine this runs on (developers', CI) has ::1.
    let l = TcpListener::bind("[::1]:0").unwrap_or_else(|e| {
        panic!("cannot bind the IPv6 loopback [::1]:0 ({e}); this test needs IPv6 on lo")
    });
    let addr = Origin::on(l, |mut s, _| {
        s.write_all(b"v6").unwrap();
    })
    .addr;
    let mut c = common::test_config();
    c.listen = vec!["[::1]:0".parse().unwrap()];
    let proxy = common::start_with(c);
    assert!(proxy.addr.is_ipv6());
    let mut s = tunnel(&proxy, &format!("[::1]:{}", addr.port()));
    let mut b = [0u8; 2];
    s.read_exact(&mut b).unwrap();
    assert_eq!(&b, b"v6");
}

#[test]
fn many_idle_tunnels_on_two_threads() {
    // Each tunnel is a task, not a thread: 300 idle tunnels on 2 threads
    // leave the proxy fully responsive.
    let server = Origin::tcp_echo(b"").addr;
    let proxy = common::start();
    let tunnels: Vec<TcpStream> = (0..300)
        .map(|_| tunnel(&proxy, &server.to_string()))
        .collect();
    let origin = Origin::echo();
    let resp = proxy.roundtrip(&get(&origin.url("/still-fine")));
    assert_eq!(resp.text(), "GET /still-fine\n");
    let mut last = &tunnels[299];
    last.write_all(b"ping").unwrap();
    let mut b = [0u8; 4];
    last.read_exact(&mut b).unwrap();
    assert_eq!(&b, b"ping");
    drop(tunnels);
    assert!(common::eventually(Duration::from_secs(5), || proxy
        .handle
        .active()
        == 0));
}
