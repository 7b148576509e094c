//! SOCKS5 on the proxy's HTTP port (RFC 1928, RFC 1929), over loopback:
//! curl's `--socks5` and `--socks5-hostname` (with and without
//! credentials), a raw client for every reply code the proxy sends,
//! malformed, truncated and slow handshakes, early data, half-close both
//! ways, a large transfer byte-exact, `--no-socks`, and the access line.
//!
//! The raw client here encodes and decodes the messages itself (not with
//! the proxy's own `socks::wire`), so a shared mistake cannot hide. Log
//! lines are captured in-process, as tests/faults.rs does, so expected
//! warnings never reach the terminal.
mod common;

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::{Mutex, mpsc};
use std::time::{Duration, Instant};

use common::capture;
use common::client::{closed_within, curl, read_response, read_to_close};
use common::origin::Origin;
use common::{Config, ConnectPorts, Proxy, Secret, eventually, free_port};

// ------------------------------------------------------------ log capture

/// Where the capture stood when each client socket was opened: its access
/// line is looked for only after that point (tests run in parallel in one
/// process, and an ephemeral port used by an earlier connection, whose
/// line is also captured, can come round again).
static OPENED: Mutex<Vec<(SocketAddr, usize)>> = Mutex::new(Vec::new());

/// A new client connection to the proxy, remembered for [`access_line`].
fn dial(proxy: &Proxy) -> TcpStream {
    let before = capture::lines().len();
    let s = proxy.connect();
    let mut opened = OPENED.lock().unwrap_or_else(|p| p.into_inner());
    opened.push((s.local_addr().unwrap(), before));
    s
}

/// The access line of the client connection `s` (found by its address,
/// among the lines logged since it was opened), waiting for it.
fn access_line(s: &TcpStream) -> String {
    let local = s.local_addr().unwrap();
    let me = format!("{local} SOCKS5 ");
    let from = OPENED
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .iter()
        .rev()
        .find(|(a, _)| *a == local)
        .map_or(0, |&(_, n)| n);
    let find = || {
        let lines = capture::lines();
        lines
            .get(from..)
            .unwrap_or(&[])
            .iter()
            .find(|l| l.contains(&me))
            .cloned()
    };
    assert!(
        eventually(Duration::from_secs(5), || find().is_some()),
        "no access line for {me}"
    );
    find().unwrap()
}

// ------------------------------------------------------------ proxy

/// A test config whose SOCKS5 may reach any port (the origins' are random).
fn config() -> Config {
    let mut c = common::test_config();
    c.socks_ports = ConnectPorts::Any;
    c
}

/// Start the proxy, its log captured at info (the access lines).
fn start(c: Config) -> Proxy {
    capture::install(log::LevelFilter::Info);
    Proxy::new(common::launch(c).expect("start"))
}

fn with_auth() -> Config {
    let mut c = config();
    c.policy.auth_env = Some(Secret("me:s3cret".into()));
    c
}

// ------------------------------------------------------------ raw client

/// The proxy's answer to a request: the code and the bound address.
#[derive(Debug)]
struct Reply {
    code: u8,
    bound: SocketAddr,
}

/// Send a greeting offering `methods`; the method chosen.
fn greet(s: &mut TcpStream, methods: &[u8]) -> u8 {
    let mut g = vec![5, methods.len() as u8];
    g.extend_from_slice(methods);
    s.write_all(&g).unwrap();
    let mut m = [0u8; 2];
    s.read_exact(&mut m).unwrap();
    assert_eq!(m[0], 5, "method reply version");
    m[1]
}

/// The bytes of a request.
fn request(cmd: u8, addr: &Target, port: u16) -> Vec<u8> {
    let mut r = vec![5, cmd, 0];
    match addr {
        Target::Ip(SocketAddr::V4(a)) => {
            r.push(1);
            r.extend_from_slice(&a.ip().octets());
        }
        Target::Ip(SocketAddr::V6(a)) => {
            r.push(4);
            r.extend_from_slice(&a.ip().octets());
        }
        Target::Name(n) => {
            r.push(3);
            r.push(n.len() as u8);
            r.extend_from_slice(n.as_bytes());
        }
    }
    r.extend_from_slice(&port.to_be_bytes());
    r
}

enum Target<'a> {
    Ip(SocketAddr),
    Name(&'a str),
}

/// Read a reply (RFC 1928 §6).
fn read_reply(s: &mut TcpStream) -> Reply {
    let mut head = [0u8; 4];
    s.read_exact(&mut head).unwrap();
    assert_eq!((head[0], head[2]), (5, 0), "reply {head:?}");
    let ip: std::net::IpAddr = match head[3] {
        1 => {
            let mut b = [0u8; 4];
            s.read_exact(&mut b).unwrap();
            b.into()
        }
        4 => {
            let mut b = [0u8; 16];
            s.read_exact(&mut b).unwrap();
            b.into()
        }
        t => panic!("reply address type {t}"),
    };
    let mut p = [0u8; 2];
    s.read_exact(&mut p).unwrap();
    Reply {
        code: head[1],
        bound: SocketAddr::new(ip, u16::from_be_bytes(p)),
    }
}

/// Greet without auth, send a CONNECT to `to`, read the reply.
fn connect(proxy: &Proxy, to: &Target, port: u16) -> (TcpStream, Reply) {
    let mut s = dial(proxy);
    assert_eq!(greet(&mut s, &[0]), 0);
    s.write_all(&request(1, to, port)).unwrap();
    let r = read_reply(&mut s);
    (s, r)
}

/// The reply code for a no-auth CONNECT to `to`, and the access line.
fn code_for(proxy: &Proxy, to: &Target, port: u16) -> (u8, String) {
    let (mut s, r) = connect(proxy, to, port);
    if r.code != 0 {
        assert_eq!(r.bound, "0.0.0.0:0".parse().unwrap());
        closed_within(&mut s, Duration::from_secs(5)).expect("closed after a failure");
    }
    (r.code, access_line(&s))
}

fn ip(a: SocketAddr) -> Target<'static> {
    Target::Ip(a)
}

// ------------------------------------------------------------ curl

#[test]
fn curl_socks5_and_socks5_hostname() {
    let origin = Origin::echo();
    let proxy = start(config());
    let p = proxy.addr.to_string();
    // --socks5: curl resolves, the request carries an IPv4 address.
    let (code, out, err) = curl(&["--socks5", &p, &origin.url("/four?x=1")]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, b"GET /four?x=1\n");
    // --socks5-hostname: the proxy resolves the name.
    let url = format!("http://localhost:{}/name", origin.addr.port());
    let (code, out, err) = curl(&["--socks5-hostname", &p, &url]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, b"GET /name\n");
    // The same through -x with a scheme, and a POST body.
    let proxy_url = format!("socks5h://{p}");
    let (code, out, err) = curl(&["-x", &proxy_url, "-d", "body!", &url]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, b"POST /name\nbody!");
    // A name the proxy cannot resolve: curl reports the SOCKS5 failure.
    let (code, _, err) = curl(&["--socks5-hostname", &p, "http://nowhere.test/"]);
    assert_eq!(code, 97, "curl's 'proxy handshake error': {err}");
}

#[test]
fn curl_with_credentials_right_and_wrong() {
    let origin = Origin::echo();
    let proxy = start(with_auth());
    let p = proxy.addr;
    let url = origin.url("/auth");
    let right = format!("socks5h://me:s3cret@{p}");
    let (code, out, err) = curl(&["-x", &right, &url]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, b"GET /auth\n");
    let (code, out, err) = curl(&[
        "--socks5",
        &p.to_string(),
        "--proxy-user",
        "me:s3cret",
        &url,
    ]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, b"GET /auth\n");
    // Wrong password, wrong user, none at all: refused, nothing fetched.
    let start = Instant::now();
    let (code, out, err) = curl(&["-x", &format!("socks5h://me:guess@{p}"), &url]);
    assert_eq!((code, out.is_empty()), (97, true), "{err}");
    assert!(
        start.elapsed() >= common::AUTH_FAIL_DELAY,
        "no pause after a wrong password"
    );
    let (code, _, err) = curl(&["-x", &format!("socks5h://you:s3cret@{p}"), &url]);
    assert_eq!(code, 97, "{err}");
    let (code, _, err) = curl(&["-x", &format!("socks5h://{p}"), &url]);
    assert_eq!(code, 97, "{err}");
    assert_eq!(
        origin.connections.load(std::sync::atomic::Ordering::SeqCst),
        2
    );
}

// ------------------------------------------------------------ raw codes

#[test]
fn success_reply_names_the_upstream_socket_and_bytes_flow() {
    let echo = Origin::tcp_echo(b"");
    let proxy = start(config());
    let (mut s, r) = connect(&proxy, &ip(echo.addr), echo.addr.port());
    assert_eq!(r.code, 0);
    assert!(r.bound.ip().is_loopback() && r.bound.port() != 0, "{r:?}");
    assert_ne!(r.bound, echo.addr, "the local end, not the origin");
    s.write_all(b"ping over socks").unwrap();
    let mut b = [0u8; 15];
    s.read_exact(&mut b).unwrap();
    assert_eq!(&b, b"ping over socks");
    // The same by name, resolved by the proxy.
    let (mut s, r) = connect(&proxy, &Target::Name("localhost"), echo.addr.port());
    assert_eq!(r.code, 0);
    s.write_all(b"x").unwrap();
    let mut b = [0u8; 1];
    s.read_exact(&mut b).unwrap();
}

#[test]
fn ipv6_targets() {
    let l = std::net::TcpListener::bind("[::1]:0").expect("::1 is needed for this test");
    let echo = Origin::on(l, |mut s, _| {
        let mut w = s.try_clone().unwrap();
        let _ = std::io::copy(&mut s, &mut w);
    });
    let proxy = start(config());
    let (mut s, r) = connect(&proxy, &ip(echo.addr), echo.addr.port());
    assert_eq!(r.code, 0);
    assert_eq!(r.bound.ip(), "::1".parse::<std::net::IpAddr>().unwrap());
    s.write_all(b"six").unwrap();
    let mut b = [0u8; 3];
    s.read_exact(&mut b).unwrap();
    assert_eq!(&b, b"six");
    s.shutdown(Shutdown::Write).unwrap();
    assert!(read_to_close(&mut s).unwrap().is_empty());
    let line = access_line(&s);
    assert!(
        line.contains(&format!("SOCKS5 [::1]:{} ", echo.addr.port())),
        "{line}"
    );
}

#[test]
fn refusals_by_the_rules_are_0x02() {
    let echo = Origin::tcp_echo(b"");
    let mut c = common::test_config(); // default --socks-ports 80,443
    c.policy.block = vec!["blocked.test".into()];
    let proxy = start(c);
    let (code, line) = code_for(&proxy, &Target::Name("ads.blocked.test"), 443);
    assert_eq!(code, 2);
    assert!(line.contains("SOCKS5 ads.blocked.test:443 403"), "{line}");
    assert!(line.contains("blocked by the rule"), "{line}");
    // A port outside --socks-ports (the default 80,443).
    let (code, line) = code_for(&proxy, &ip(echo.addr), 25);
    assert_eq!(code, 2);
    assert!(line.contains("see --socks-ports"), "{line}");
    let (code, _) = code_for(&proxy, &ip(echo.addr), echo.addr.port());
    assert_eq!(code, 2, "the origin's random port is not 80 or 443");
    // The egress guard: the proxy's own address would loop.
    let mut c = config();
    c.listen = vec!["127.0.0.1:0".parse().unwrap()];
    let proxy = start(c);
    let (code, line) = code_for(&proxy, &ip(proxy.addr), proxy.addr.port());
    assert_eq!(code, 2);
    assert!(
        line.contains(" 508 ") && line.contains("would loop"),
        "{line}"
    );
}

#[test]
fn a_client_the_access_list_refuses_gets_0x02_or_0xff() {
    let echo = Origin::tcp_echo(b"");
    let mut c = config();
    c.policy.deny = vec![common::Cidr::parse("127.0.0.0/8").unwrap()];
    let proxy = start(c);
    let (code, line) = code_for(&proxy, &ip(echo.addr), echo.addr.port());
    assert_eq!(code, 2);
    assert!(
        line.contains(" 403 ") && line.contains("not allowed to use this proxy"),
        "{line}"
    );
    assert_eq!(
        echo.connections.load(std::sync::atomic::Ordering::SeqCst),
        0
    );
    // Offering only username/password: refused at the greeting.
    let mut s = dial(&proxy);
    assert_eq!(greet(&mut s, &[2]), 0xff);
    closed_within(&mut s, Duration::from_secs(5)).unwrap();
    // HTTP clients still get their 403 page; a silent one too, once the
    // wait for its first bytes (the lingering close's 2 s) is over.
    let r = proxy.roundtrip(b"GET http://localhost/ HTTP/1.1\r\nHost: localhost\r\n\r\n");
    assert_eq!(r.status, 403);
    let start = Instant::now();
    let silent = dial(&proxy);
    let r = read_response(&mut std::io::BufReader::new(silent), false).unwrap();
    assert_eq!(r.status, 403);
    let waited = start.elapsed();
    assert!(
        waited >= Duration::from_millis(1900) && waited < Duration::from_secs(4),
        "{waited:?}"
    );
}

#[test]
fn dns_and_connect_failures() {
    let proxy = start(config());
    let (code, line) = code_for(&proxy, &Target::Name("nowhere.test"), 80);
    assert_eq!(code, 4, "unresolvable name: host unreachable");
    assert!(line.contains("SOCKS5 nowhere.test:80 502"), "{line}");
    let closed = free_port();
    let (code, line) = code_for(&proxy, &Target::Name("localhost"), closed);
    assert_eq!(code, 5, "nothing listening: connection refused");
    assert!(line.contains("connection refused"), "{line}");
    // A name that is not a host name.
    let (code, _) = code_for(&proxy, &Target::Name("bad name!"), 80);
    assert_eq!(code, 4);
}

#[test]
fn a_connect_timeout_is_0x06() {
    let mut c = config();
    c.connect_timeout = Duration::from_millis(500);
    let proxy = start(c);
    let (l, fill) = common::full_backlog().expect("the accept queue never filled");
    let target = l.local_addr().unwrap();
    let start = Instant::now();
    let (code, line) = code_for(&proxy, &ip(target), target.port());
    assert_eq!(code, 6, "TTL expired stands for the connect timeout");
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
    assert!(
        line.contains(" 504 ") && line.contains("timed out"),
        "{line}"
    );
    drop((l, fill));
}

#[test]
fn unsupported_commands_and_address_types() {
    let proxy = start(config());
    let to = ip("127.0.0.1:80".parse().unwrap());
    for cmd in [2u8, 3, 0x7f] {
        let mut s = dial(&proxy);
        assert_eq!(greet(&mut s, &[0]), 0);
        s.write_all(&request(cmd, &to, 80)).unwrap();
        assert_eq!(read_reply(&mut s).code, 7, "command {cmd}");
        closed_within(&mut s, Duration::from_secs(5)).unwrap();
        assert!(access_line(&s).contains(" 501 "));
    }
    for atyp in [0u8, 2, 5, 0xff] {
        let mut s = dial(&proxy);
        assert_eq!(greet(&mut s, &[0]), 0);
        s.write_all(&[5, 1, 0, atyp, 127, 0, 0, 1, 0, 80]).unwrap();
        assert_eq!(read_reply(&mut s).code, 8, "address type {atyp}");
        closed_within(&mut s, Duration::from_secs(5)).unwrap();
    }
    // A malformed request (reserved octet set, wrong version): 0x01.
    for bad in [
        [5u8, 1, 1, 1, 127, 0, 0, 1, 0, 80],
        [4, 1, 0, 1, 127, 0, 0, 1, 0, 80],
    ] {
        let mut s = dial(&proxy);
        assert_eq!(greet(&mut s, &[0]), 0);
        s.write_all(&bad).unwrap();
        assert_eq!(read_reply(&mut s).code, 1, "{bad:?}");
        closed_within(&mut s, Duration::from_secs(5)).unwrap();
    }
}

#[test]
fn method_selection() {
    let proxy = start(config());
    // Auth off: no-auth is chosen among others; without it, 0xFF.
    let mut s = dial(&proxy);
    assert_eq!(greet(&mut s, &[0x80, 2, 0]), 0);
    for offer in [&[2u8][..], &[1, 0x80], &[]] {
        let mut s = dial(&proxy);
        assert_eq!(greet(&mut s, offer), 0xff, "{offer:?}");
        closed_within(&mut s, Duration::from_secs(5)).unwrap();
    }
    // Auth on: username/password is required.
    let proxy = start(with_auth());
    let mut s = dial(&proxy);
    assert_eq!(greet(&mut s, &[0]), 0xff);
    closed_within(&mut s, Duration::from_secs(5)).unwrap();
    assert!(access_line(&s).contains(" 407 "));
    // The largest greeting: 255 methods.
    let mut all: Vec<u8> = (0..=254).collect();
    all.reverse();
    let mut s = dial(&proxy);
    assert_eq!(greet(&mut s, &all), 2);
}

/// RFC 1929 sub-negotiation: `user`/`pass`, the status octet.
fn sub_negotiate(s: &mut TcpStream, user: &[u8], pass: &[u8]) -> u8 {
    let mut m = vec![1, user.len() as u8];
    m.extend_from_slice(user);
    m.push(pass.len() as u8);
    m.extend_from_slice(pass);
    s.write_all(&m).unwrap();
    let mut st = [0u8; 2];
    s.read_exact(&mut st).unwrap();
    assert_eq!(st[0], 1);
    st[1]
}

#[test]
fn raw_username_password() {
    let echo = Origin::tcp_echo(b"");
    let proxy = start(with_auth());
    let mut s = dial(&proxy);
    assert_eq!(greet(&mut s, &[0, 2]), 2);
    assert_eq!(sub_negotiate(&mut s, b"me", b"s3cret"), 0);
    s.write_all(&request(1, &ip(echo.addr), echo.addr.port()))
        .unwrap();
    assert_eq!(read_reply(&mut s).code, 0);
    s.shutdown(Shutdown::Write).unwrap();
    assert!(read_to_close(&mut s).unwrap().is_empty());
    let line = access_line(&s);
    assert!(line.contains(" 200 ") && line.contains("user=me"), "{line}");
    // Wrong, overlong-prefix and empty-field attempts: status failure, close.
    let cases: [(&[u8], &[u8]); 4] = [
        (b"me", b"s3cre"),
        (b"me", b"s3cret!"),
        (b"me\0", b"s3cret"),
        (&[b'u'; 255], &[b'p'; 255]),
    ];
    for (user, pass) in cases {
        let mut s = dial(&proxy);
        assert_eq!(greet(&mut s, &[2]), 2);
        let start = Instant::now();
        assert_ne!(sub_negotiate(&mut s, user, pass), 0);
        assert!(start.elapsed() >= common::AUTH_FAIL_DELAY);
        closed_within(&mut s, Duration::from_secs(5)).unwrap();
        assert!(access_line(&s).contains(" 407 "));
    }
    // A malformed sub-negotiation (wrong version, empty user name).
    for bad in [&[5u8, 2, b'm', b'e', 1, b'x'][..], &[1, 0, 1, b'x']] {
        let mut s = dial(&proxy);
        assert_eq!(greet(&mut s, &[2]), 2);
        s.write_all(bad).unwrap();
        let mut st = [0u8; 2];
        s.read_exact(&mut st).unwrap();
        assert_eq!(st, [1, 1], "{bad:?}");
        closed_within(&mut s, Duration::from_secs(5)).unwrap();
    }
}

// ------------------------------------------------------------ time and shape

#[test]
fn truncated_slow_and_silent_handshakes_are_cut() {
    let mut c = config();
    c.head_timeout = Duration::from_millis(800);
    let proxy = start(c);
    // Truncated, then closed: the proxy closes too, and logs it.
    let mut s = dial(&proxy);
    s.write_all(&[5, 3, 0]).unwrap();
    s.shutdown(Shutdown::Write).unwrap();
    closed_within(&mut s, Duration::from_secs(5)).unwrap();
    assert!(access_line(&s).contains(" 0 "), "{}", access_line(&s));
    // Silent after the first byte; silent mid-request.
    let mut s = dial(&proxy);
    s.write_all(&[5]).unwrap();
    let start = Instant::now();
    closed_within(&mut s, Duration::from_secs(5)).unwrap();
    assert!(
        start.elapsed() >= Duration::from_millis(700),
        "{:?}",
        start.elapsed()
    );
    let line = access_line(&s);
    assert!(
        line.contains(" 408 ") && line.contains("not completed in time"),
        "{line}"
    );
    let mut s = dial(&proxy);
    assert_eq!(greet(&mut s, &[0]), 0);
    s.write_all(&[5, 1, 0, 3, 200, b'a']).unwrap();
    closed_within(&mut s, Duration::from_secs(5)).unwrap();
    // A drip of one byte every 200 ms: the whole handshake is bounded,
    // not each read.
    let mut s = dial(&proxy);
    let start = Instant::now();
    let greeting = [
        5u8, 20, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 0,
    ];
    for b in greeting {
        if s.write_all(&[b]).is_err() {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
        if start.elapsed() > Duration::from_secs(3) {
            break;
        }
    }
    closed_within(&mut s, Duration::from_secs(2)).unwrap();
    assert!(
        start.elapsed() < Duration::from_secs(4),
        "{:?}",
        start.elapsed()
    );
}

#[test]
fn early_data_after_the_request_is_passed_on() {
    let echo = Origin::tcp_echo(b"");
    let proxy = start(config());
    let mut s = dial(&proxy);
    // Greeting, request and payload in one write, before any answer.
    let mut all = vec![5, 1, 0];
    all.extend(request(1, &ip(echo.addr), echo.addr.port()));
    all.extend_from_slice(b"early bytes");
    s.write_all(&all).unwrap();
    let mut m = [0u8; 2];
    s.read_exact(&mut m).unwrap();
    assert_eq!(m, [5, 0]);
    assert_eq!(read_reply(&mut s).code, 0);
    let mut b = [0u8; 11];
    s.read_exact(&mut b).unwrap();
    assert_eq!(&b, b"early bytes");
    s.shutdown(Shutdown::Write).unwrap();
    assert!(read_to_close(&mut s).unwrap().is_empty());
    let line = access_line(&s);
    assert!(line.contains(" 200 up=11 down=11 "), "{line}");
}

#[test]
fn half_close_both_ways() {
    let proxy = start(config());
    // Client ends first: the origin sees EOF, then still answers.
    let echo = Origin::tcp_echo(b" and a tail");
    let (mut s, r) = connect(&proxy, &ip(echo.addr), echo.addr.port());
    assert_eq!(r.code, 0);
    s.write_all(b"data").unwrap();
    s.shutdown(Shutdown::Write).unwrap();
    assert_eq!(read_to_close(&mut s).unwrap(), b"data and a tail");
    // Origin ends first: the client sees EOF, then still sends.
    let (tx, rx) = mpsc::channel();
    let tx = Mutex::new(tx);
    let origin = Origin::raw(move |mut s, _| {
        s.write_all(b"bye first").unwrap();
        s.shutdown(Shutdown::Write).unwrap();
        let mut got = Vec::new();
        s.read_to_end(&mut got).unwrap();
        tx.lock().unwrap().send(got).unwrap();
    });
    let (mut s, r) = connect(&proxy, &ip(origin.addr), origin.addr.port());
    assert_eq!(r.code, 0);
    assert_eq!(read_to_close(&mut s).unwrap(), b"bye first");
    s.write_all(b"after your end").unwrap();
    s.shutdown(Shutdown::Write).unwrap();
    let got = rx.recv_timeout(Duration::from_secs(10)).unwrap();
    assert_eq!(got, b"after your end");
}

/// Bytes of the large transfer each way.
const LARGE: usize = 128 << 20;
/// A bound that catches a relay gone slow or stuck, not a benchmark.
const LARGE_LIMIT: Duration = Duration::from_secs(60);

fn pattern(i: usize) -> u8 {
    (i.wrapping_mul(31) ^ (i >> 13)) as u8
}

#[test]
fn large_transfer_byte_exact_both_ways() {
    // The origin checks what it receives and sends the same pattern back.
    let (tx, rx) = mpsc::channel();
    let tx = Mutex::new(tx);
    let origin = Origin::raw(move |s, _| {
        let mut w = s.try_clone().unwrap();
        let writer = std::thread::spawn(move || {
            let mut buf = vec![0u8; 1 << 16];
            let mut sent = 0;
            while sent < LARGE {
                let n = buf.len().min(LARGE - sent);
                for (k, b) in buf[..n].iter_mut().enumerate() {
                    *b = pattern(sent + k);
                }
                w.write_all(&buf[..n]).unwrap();
                sent += n;
            }
            w.shutdown(Shutdown::Write).unwrap();
        });
        let mut r = s;
        let (mut got, mut ok, mut buf) = (0usize, true, vec![0u8; 1 << 16]);
        loop {
            match r.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    ok &= buf[..n]
                        .iter()
                        .enumerate()
                        .all(|(k, &b)| b == pattern(got + k));
                    got += n;
                }
            }
        }
        writer.join().unwrap();
        tx.lock().unwrap().send((got, ok)).unwrap();
    });
    let proxy = start(config());
    let start = Instant::now();
    let (s, r) = connect(&proxy, &ip(origin.addr), origin.addr.port());
    assert_eq!(r.code, 0);
    s.set_read_timeout(Some(LARGE_LIMIT)).unwrap();
    let mut w = s.try_clone().unwrap();
    let sender = std::thread::spawn(move || {
        let mut buf = vec![0u8; 1 << 16];
        let mut sent = 0;
        while sent < LARGE {
            let n = buf.len().min(LARGE - sent);
            for (k, b) in buf[..n].iter_mut().enumerate() {
                *b = pattern(sent + k);
            }
            w.write_all(&buf[..n]).unwrap();
            sent += n;
        }
        w.shutdown(Shutdown::Write).unwrap();
    });
    let mut r = s;
    let (mut got, mut buf) = (0usize, vec![0u8; 1 << 16]);
    loop {
        let n = r.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        assert!(
            buf[..n]
                .iter()
                .enumerate()
                .all(|(k, &b)| b == pattern(got + k)),
            "bytes differ near offset {got}"
        );
        got += n;
    }
    sender.join().unwrap();
    assert_eq!(got, LARGE, "bytes received by the client");
    let (up, ok) = rx.recv_timeout(LARGE_LIMIT).unwrap();
    assert_eq!((up, ok), (LARGE, true), "bytes received by the origin");
    let took = start.elapsed();
    assert!(took < LARGE_LIMIT, "{took:?}");
    let line = access_line(&r);
    assert!(
        line.contains(&format!(" 200 up={LARGE} down={LARGE} ")),
        "{line}"
    );
}

#[test]
fn socks_is_counted_in_the_dashboard_statistics() {
    let echo = Origin::tcp_echo(b"");
    let mut c = config();
    c.policy.block = vec!["blocked.test".into()];
    let proxy = start(c);
    let status = || {
        let url = format!("http://{}/status.json", proxy.addr);
        proxy.roundtrip(&common::client::get(&url)).text()
    };
    let (mut s, r) = connect(&proxy, &ip(echo.addr), echo.addr.port());
    assert_eq!(r.code, 0);
    s.write_all(b"12345").unwrap();
    let mut b = [0u8; 5];
    s.read_exact(&mut b).unwrap();
    let open = status();
    assert!(open.contains("\"tunnels_active\": 1,"), "{open}");
    s.shutdown(Shutdown::Write).unwrap();
    assert!(read_to_close(&mut s).unwrap().is_empty());
    access_line(&s);
    let (code, _) = code_for(&proxy, &Target::Name("ads.blocked.test"), 443);
    assert_eq!(code, 2);
    let after = status();
    for want in [
        "\"tunnels_active\": 0,",
        "\"bytes\": {\"up\": 5, \"down\": 5,",
        "\"blocked\": {\"total\": 1,",
        "{\"domain\": \"ads.blocked.test\", \"requests\": 1}",
        "{\"client\": \"127.0.0.1\", \"bytes\": 10}",
    ] {
        assert!(after.contains(want), "{want} in {after}");
    }
}

#[test]
fn no_socks_makes_0x05_a_bad_http_request() {
    let mut c = config();
    c.socks = false;
    let proxy = start(c);
    let mut s = dial(&proxy);
    s.write_all(&[5, 1, 0]).unwrap();
    s.write_all(b"\r\n\r\n").unwrap();
    let r = read_response(&mut std::io::BufReader::new(s), false).unwrap();
    assert_eq!(r.status, 400);
    // And with SOCKS on, HTTP is unchanged on the same port.
    let origin = Origin::echo();
    let proxy = start(config());
    let r = proxy.roundtrip(common::client::get(&origin.url("/http")).as_slice());
    assert_eq!((r.status, r.text().as_str()), (200, "GET /http\n"));
}

#[test]
fn the_binary_takes_the_flags() {
    let out = common::bin::run(&["--help"], &[]);
    assert!(out.stdout.contains("--socks-ports LIST") && out.stdout.contains("--no-socks"));
    let out = common::bin::run(&["--socks-ports", "0"], &[]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains("--socks-ports: invalid port '0'"),
        "{}",
        out.stderr
    );
}
