//! The HTTPS proxy listener (`--tls-listen`, the `tls` build) over real
//! loopback sockets, with certificates the tests make (a test CA and a
//! proxy certificate for `localhost` and 127.0.0.1): real curl through
//! `--proxy https://…` for http:// and https:// targets, with exact bytes;
//! a certificate from another CA refused by curl; Basic auth and the ACL
//! over TLS; the handshake timeout, garbage instead of a ClientHello, the
//! bound on handshakes in progress; SIGHUP reloading the certificate in the
//! real binary (a broken one keeps the old); the PAC's `HTTPS` entry; and
//! half-close through the plaintext pipe with a rustls client.
#![cfg(feature = "tls")]

mod common;

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::bin::Spawn;
use common::client::{closed_within, curl, dial, read_response};
use common::origin::{Origin, TlsOrigin};
use common::pki::{Leaf, TestCa, served_serial};
use common::{Cidr, Config, Proxy, Secret};

/// The answer of the plain origin.
const REPLY: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\nhello, tls!\n";

/// A proxy with a plain listener (first) and a TLS one, set up by `tune`.
struct TlsProxy {
    proxy: Proxy,
    tls: SocketAddr,
    ca: TestCa,
    _leaf: Leaf,
}

fn start_tls(tune: impl FnOnce(&mut Config)) -> TlsProxy {
    let ca = TestCa::new("smolproxy-test-ca");
    let leaf = ca.issue("proxy", "DNS:localhost,IP:127.0.0.1", 1);
    let mut c = common::test_config();
    c.tls.listen = vec!["127.0.0.1:0".parse().unwrap()];
    c.tls.cert = Some(leaf.cert.clone());
    c.tls.key = Some(leaf.key.clone());
    tune(&mut c);
    let proxy = common::start_with(c);
    let tls = *proxy.handle.addrs().last().unwrap();
    assert_ne!(tls, proxy.addr);
    TlsProxy {
        proxy,
        tls,
        ca,
        _leaf: leaf,
    }
}

impl TlsProxy {
    /// `--proxy https://localhost:PORT --proxy-cacert ca.pem` and `args`.
    fn curl(&self, args: &[&str]) -> (i32, Vec<u8>, String) {
        let proxy = format!("https://localhost:{}", self.tls.port());
        let ca = self.ca.pem();
        let mut all = vec!["--proxy", &proxy, "--proxy-cacert", ca.to_str().unwrap()];
        all.extend_from_slice(args);
        curl(&all)
    }
}

#[test]
fn curl_reaches_http_and_https_targets_through_the_tls_listener() {
    let p = start_tls(|_| {});
    let origin = Origin::fixed(REPLY);
    let (code, body, err) = p.curl(&[&origin.url("/plain")]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(body, b"hello, tls!\n");
    // CONNECT inside TLS to a TLS origin: TLS in TLS, the file's exact bytes.
    let tls_origin = TlsOrigin::files();
    let data: Vec<u8> = (0..200_000u32).map(|i| b'a' + (i % 26) as u8).collect();
    std::fs::write(tls_origin.dir().join("big.txt"), &data).unwrap();
    let url = format!("https://localhost:{}/big.txt", tls_origin.port);
    let cert = tls_origin.cert.to_str().unwrap().to_string();
    let (code, body, err) = p.curl(&["--cacert", &cert, &url]);
    assert_eq!(code, 0, "{err}");
    assert!(body == data, "{} bytes differ", body.len());
}

#[test]
fn a_proxy_certificate_from_another_ca_is_refused_by_curl() {
    let p = start_tls(|_| {});
    let other = TestCa::new("someone-else");
    let proxy = format!("https://localhost:{}", p.tls.port());
    let origin = Origin::fixed(REPLY);
    let (code, body, err) = curl(&[
        "--proxy",
        &proxy,
        "--proxy-cacert",
        other.pem().to_str().unwrap(),
        &origin.url("/"),
    ]);
    assert!(code == 60 || code == 35, "curl exit {code}: {err}");
    assert!(body.is_empty());
    assert!(
        origin.seen.lock().unwrap().is_empty(),
        "nothing got through"
    );
}

#[test]
fn basic_auth_works_over_tls() {
    let p = start_tls(|c| c.policy.auth_env = Some(Secret("alice:pw".into())));
    let origin = Origin::fixed(REPLY);
    let url = origin.url("/");
    let (code, body, err) = p.curl(&["--proxy-user", "alice:pw", &url]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(body, b"hello, tls!\n");
    let (code, status, err) = p.curl(&["-o", "/dev/null", "-w", "%{http_code}", &url]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(status, b"407");
    let wrong = p.curl(&[
        "--proxy-user",
        "alice:no",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        &url,
    ]);
    assert_eq!(wrong.1, b"407");
}

#[test]
fn the_acl_sees_the_real_client_address_over_tls() {
    // 127.0.0.1 is outside --allow 10.0.0.0/8: refused over TLS as in
    // plain, so the ACL saw the TCP peer, not the pipe.
    let p = start_tls(|c| c.policy.allow = vec![Cidr::parse("10.0.0.0/8").unwrap()]);
    let origin = Origin::fixed(REPLY);
    let (code, status, err) = p.curl(&["-o", "/dev/null", "-w", "%{http_code}", &origin.url("/")]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(status, b"403");
    assert!(origin.seen.lock().unwrap().is_empty());
    let allowed = start_tls(|c| c.policy.allow = vec![Cidr::parse("127.0.0.1/32").unwrap()]);
    let (code, body, err) = allowed.curl(&[&origin.url("/")]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(body, b"hello, tls!\n");
}

#[test]
fn a_silent_client_is_closed_after_the_handshake_timeout() {
    let p = start_tls(|c| c.tls.handshake_timeout = Duration::from_millis(300));
    let mut s = dial(p.tls);
    let start = Instant::now();
    closed_within(&mut s, Duration::from_secs(3)).unwrap();
    assert!(
        start.elapsed() >= Duration::from_millis(250),
        "{:?}",
        start.elapsed()
    );
}

#[test]
fn garbage_instead_of_a_client_hello_is_closed_and_the_proxy_goes_on() {
    let p = start_tls(|_| {});
    for garbage in [
        &b"GET http://localhost/ HTTP/1.1\r\nHost: localhost\r\n\r\n"[..],
        b"\x16\x03\x01\x00\x05hello",
        b"\x16\x03\x01\xff\xff",
    ] {
        let mut s = dial(p.tls);
        s.write_all(garbage).unwrap();
        let _ = s.shutdown(Shutdown::Write);
        // An alert at most, then the end; never an HTTP answer.
        let mut got = Vec::new();
        let _ = s.read_to_end(&mut got);
        assert!(!got.starts_with(b"HTTP"), "{got:?}");
        assert!(got.len() < 64, "{got:?}");
    }
    let origin = Origin::fixed(REPLY);
    let (code, body, err) = p.curl(&[&origin.url("/")]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(body, b"hello, tls!\n");
}

#[test]
fn handshakes_beyond_the_bound_are_closed_at_once() {
    let p = start_tls(|c| {
        c.tls.max_handshakes = 3;
        c.tls.handshake_timeout = Duration::from_secs(1);
    });
    let stalled: Vec<TcpStream> = (0..3).map(|_| dial(p.tls)).collect();
    // Let the three be accepted and begin their handshakes.
    std::thread::sleep(Duration::from_millis(300));
    let mut extra = dial(p.tls);
    let start = Instant::now();
    // At once: well before the 1 s handshake timeout would close it.
    closed_within(&mut extra, Duration::from_millis(800)).unwrap();
    assert!(start.elapsed() < Duration::from_millis(800));
    // The stalled ones time out; then a real client gets through.
    std::thread::sleep(Duration::from_millis(1200));
    let origin = Origin::fixed(REPLY);
    let (code, body, err) = p.curl(&[&origin.url("/")]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(body, b"hello, tls!\n");
    drop(stalled);
}

#[test]
fn the_pac_names_the_https_listener_only_when_there_is_one() {
    let pac = |proxy: &Proxy| {
        let req = format!(
            "GET /proxy.pac HTTP/1.1\r\nHost: localhost:{}\r\n\r\n",
            proxy.addr.port()
        );
        proxy.roundtrip(req.as_bytes()).text()
    };
    let p = start_tls(|_| {});
    let want = format!(
        "\"HTTPS localhost:{}; PROXY 127.0.0.1:{}; DIRECT\"",
        p.tls.port(),
        p.proxy.addr.port()
    );
    let text = pac(&p.proxy);
    assert!(text.contains(&want), "{want} in {text}");
    let plain = common::start();
    let text = pac(&plain);
    assert!(!text.contains("HTTPS"), "{text}");
    assert!(text.contains("\"PROXY 127.0.0.1:"), "{text}");
}

/// A rustls client config trusting `ca` only.
fn client_config(ca: &TestCa) -> Arc<rustls::ClientConfig> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca.pem()).unwrap() {
        roots.add(cert.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut c = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    c.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Arc::new(c)
}

#[test]
fn a_half_closed_tls_client_still_gets_its_response() {
    let p = start_tls(|_| {});
    let origin = Origin::fixed(REPLY);
    let name = "localhost".try_into().unwrap();
    let mut conn = rustls::ClientConnection::new(client_config(&p.ca), name).unwrap();
    let mut tcp = dial(p.tls);
    let mut tls = rustls::Stream::new(&mut conn, &mut tcp);
    let req = format!("GET {} HTTP/1.1\r\nHost: x\r\n\r\n", origin.url("/half"));
    tls.write_all(req.as_bytes()).unwrap();
    tls.flush().unwrap();
    // ALPN: h2 and http/1.1 offered, http/1.1 chosen.
    assert_eq!(tls.conn.alpn_protocol(), Some(&b"http/1.1"[..]));
    // The client is done sending: close_notify, then the TCP write side.
    tls.conn.send_close_notify();
    tls.flush().unwrap();
    tls.sock.shutdown(Shutdown::Write).unwrap();
    tls.sock
        .set_read_timeout(Some(Duration::from_secs(3)))
        .unwrap();
    let r = read_response(&mut std::io::BufReader::new(&mut tls), false).unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.body, b"hello, tls!\n");
    // The end passed on: the proxy closes (close_notify) at once rather
    // than waiting out its idle timeout for a next request.
    let mut rest = Vec::new();
    tls.read_to_end(&mut rest).expect("a clean end within 3 s");
    assert!(rest.is_empty(), "{rest:?}");
}

#[test]
fn sighup_reloads_the_certificate_and_a_broken_one_keeps_the_old() {
    let ca = TestCa::new("reload-ca");
    let first = ca.issue("first", "DNS:localhost,IP:127.0.0.1", 0x1111);
    let second = ca.issue("second", "DNS:localhost,IP:127.0.0.1", 0x2222);
    // The proxy reads these two paths; the test swaps their contents.
    let dir = common::files::TempDir::new("live");
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::copy(&first.cert, &cert).unwrap();
    std::fs::copy(&first.key, &key).unwrap();
    let tls: SocketAddr = format!("127.0.0.1:{}", common::free_port())
        .parse()
        .unwrap();
    let tls_s = tls.to_string();
    let args = [
        "--tls-listen",
        &tls_s,
        "--tls-cert",
        cert.to_str().unwrap(),
        "--tls-key",
        key.to_str().unwrap(),
    ];
    let mut bin = Spawn::new(&args).start();
    assert_eq!(served_serial(tls), "serial=1111");
    std::fs::copy(&second.cert, &cert).unwrap();
    std::fs::copy(&second.key, &key).unwrap();
    bin.signal("-HUP");
    bin.wait_for("TLS certificate reloaded");
    assert_eq!(served_serial(tls), "serial=2222");
    // A certificate that does not match its key: the old pair stays.
    std::fs::copy(&first.cert, &cert).unwrap();
    bin.signal("-HUP");
    let line = bin.wait_for("TLS reload failed");
    assert!(line.contains("does not match"), "{line}");
    assert_eq!(served_serial(tls), "serial=2222");
    // A file with no certificate at all: the same.
    std::fs::write(&cert, "not a certificate\n").unwrap();
    bin.signal("-HUP");
    let line = bin.wait_for("TLS reload failed");
    assert!(line.contains("no certificate in"), "{line}");
    assert_eq!(served_serial(tls), "serial=2222");
    bin.stop();
}

#[test]
fn a_missing_or_mismatched_pair_stops_the_start_with_one_line() {
    let ca = TestCa::new("start-ca");
    let a = ca.issue("a", "DNS:localhost", 1);
    let b = ca.issue("b", "DNS:localhost", 2);
    let cases = [
        (
            a.cert.to_str().unwrap(),
            "/nonexistent/key.pem",
            "cannot read /nonexistent/key.pem",
        ),
        (
            a.cert.to_str().unwrap(),
            b.key.to_str().unwrap(),
            "does not match the certificate",
        ),
        (
            a.key.to_str().unwrap(),
            a.key.to_str().unwrap(),
            "no certificate in",
        ),
        (
            a.cert.to_str().unwrap(),
            a.cert.to_str().unwrap(),
            "no private key in",
        ),
    ];
    for (cert, key, want) in cases {
        let args = [
            "--tls-listen",
            "127.0.0.1:0",
            "--tls-cert",
            cert,
            "--tls-key",
            key,
        ];
        let port = format!("127.0.0.1:{}", common::free_port());
        let mut all = vec!["--listen", &port];
        all.extend_from_slice(&args);
        let out = common::bin::run(&all, &[]);
        assert_eq!(out.code, 1, "{want}: {}", out.stderr);
        let errors: Vec<&str> = out.stderr.lines().filter(|l| l.contains("ERROR")).collect();
        assert_eq!(errors.len(), 1, "{}", out.stderr);
        assert!(errors[0].contains(want), "{want}: {}", out.stderr);
    }
}
