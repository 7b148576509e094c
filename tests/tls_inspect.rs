//! HTTPS inspection (`--inspect`, the `tls` build), end to end over
//! loopback: a test root CA and origin certificates made here with rcgen,
//! TLS origins served by rustls on 127.0.0.1, the proxy in-process with
//! its CA in a temporary directory, and real clients: curl, openssl
//! s_client, headless Chromium, and a rustls client for WebSockets.
//! Run with `cargo test --features tls --test tls_inspect`.
#![cfg(feature = "tls")]

mod common;

use std::io::{BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use common::capture;
use common::files::{TempDir, TempFile};
use common::{Proxy, eventually};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use smolproxy::config::{CacheConfig, InspectConfig};
use smolproxy::policy::inspect::InspectScope;

// ------------------------------------------------------------ certificates

/// A test root CA, its PEM in a file the proxy is given as `--ca-roots`.
struct Pki {
    issuer: Issuer<'static, KeyPair>,
    roots: TempFile,
}

fn pki() -> Pki {
    let key = KeyPair::generate().unwrap();
    let mut p = CertificateParams::default();
    p.distinguished_name
        .push(DnType::CommonName, "smolproxy test root");
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let cert = p.self_signed(&key).unwrap();
    Pki {
        roots: TempFile::new("roots.pem", &cert.pem()),
        issuer: Issuer::new(p, key),
    }
}

/// An origin certificate for `names`, valid over `from..until` (from now),
/// signed by `pki` (or self-signed).
fn leaf(
    pki: Option<&Pki>,
    names: &[&str],
    from: i64,
    until: i64,
) -> (CertificateDer<'static>, PrivateKeyDer<'static>) {
    let key = KeyPair::generate().unwrap();
    let mut p =
        CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
    p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let now = SystemTime::now();
    let at = |secs: i64| {
        if secs >= 0 {
            now + Duration::from_secs(secs as u64)
        } else {
            now - Duration::from_secs(secs.unsigned_abs())
        }
    };
    p.not_before = at(from).into();
    p.not_after = at(until).into();
    let cert = match pki {
        Some(pki) => p.signed_by(&key, &pki.issuer).unwrap(),
        None => p.self_signed(&key).unwrap(),
    };
    let der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
    (cert.into(), der)
}

const DAY: i64 = 24 * 3600;

/// A good origin certificate for localhost and 127.0.0.1.
fn good(pki: &Pki) -> (CertificateDer<'static>, PrivateKeyDer<'static>) {
    leaf(Some(pki), &["localhost", "127.0.0.1"], -3600, DAY)
}

// ------------------------------------------------------------ origin

/// The page every origin path answers with.
fn page(path: &str) -> String {
    format!("<!DOCTYPE html><title>origin</title><p id=hello>hello from {path}</p>\n")
}

/// A TLS origin on 127.0.0.1 (rustls, a thread per connection): HTTP/1.1
/// keep-alive answering [`page`], and a WebSocket-style upgrade (101, then
/// an echo of every byte). Returns its port.
fn tls_origin(cert: (CertificateDer<'static>, PrivateKeyDer<'static>)) -> u16 {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert.0], cert.1)
        .unwrap();
    let config = Arc::new(config);
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for tcp in l.incoming().flatten() {
            let config = Arc::clone(&config);
            std::thread::spawn(move || {
                let _ = tcp.set_read_timeout(Some(common::IO_WAIT));
                let conn = rustls::ServerConnection::new(config).unwrap();
                serve_origin(rustls::StreamOwned::new(conn, tcp));
            });
        }
    });
    port
}

/// Requests for `/cached...` paths the TLS origins answered.
static CACHED_FETCHES: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

fn serve_origin(stream: rustls::StreamOwned<rustls::ServerConnection, TcpStream>) {
    let mut r = BufReader::new(stream);
    loop {
        let Ok(head) = common::client::read_head(&mut r) else {
            return;
        };
        let path = head.split(' ').nth(1).unwrap_or("/").to_string();
        let lower = head.to_ascii_lowercase();
        if lower.contains("\r\nupgrade: websocket") {
            let w = r.get_mut();
            let _ = w.write_all(
                b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
            );
            let _ = w.flush();
            let mut buf = [0u8; 1024];
            loop {
                match r.read(&mut buf) {
                    Ok(0) | Err(_) => return,
                    Ok(n) => {
                        let w = r.get_mut();
                        if w.write_all(&buf[..n]).and_then(|()| w.flush()).is_err() {
                            return;
                        }
                    }
                }
            }
        }
        let body = page(&path);
        // `/cached...`: fresh for a minute, and counted.
        let fresh = if path.starts_with("/cached") {
            CACHED_FETCHES.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            "Cache-Control: max-age=60\r\n"
        } else {
            ""
        };
        let resp = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n{fresh}Content-Length: {}\r\n\r\n{body}",
            body.len()
        );
        let w = r.get_mut();
        if w.write_all(resp.as_bytes())
            .and_then(|()| w.flush())
            .is_err()
        {
            return;
        }
    }
}

// ------------------------------------------------------------ proxy

/// An inspecting proxy: its CA in a new directory, origins checked
/// against `roots`, inspecting CONNECTs to `port` (the origins' random
/// ports stand in for 443), except `skip`; block lists as given.
struct Inspecting {
    proxy: Proxy,
    ca_dir: TempDir,
}

impl Inspecting {
    fn ca_pem(&self) -> PathBuf {
        self.ca_dir.path().join("ca").join("ca.pem")
    }

    fn url(&self) -> String {
        format!("http://{}", self.proxy.addr)
    }
}

fn inspecting(roots: &Path, port: u16, skip: &[&str], block_lists: Vec<PathBuf>) -> Inspecting {
    inspecting_in(TempDir::new("ca"), roots, port, skip, block_lists)
}

/// The same with the CA in `ca_dir`/ca (which may hold one already).
fn inspecting_in(
    ca_dir: TempDir,
    roots: &Path,
    port: u16,
    skip: &[&str],
    block_lists: Vec<PathBuf>,
) -> Inspecting {
    launch_inspecting(ca_dir, roots, port, skip, block_lists, None)
}

/// [`inspecting_in`], with the shared cache in `cache` if given.
fn launch_inspecting(
    ca_dir: TempDir,
    roots: &Path,
    port: u16,
    skip: &[&str],
    block_lists: Vec<PathBuf>,
    cache: Option<&Path>,
) -> Inspecting {
    capture::install(log::LevelFilter::Info);
    let mut c = common::test_config();
    c.cache = cache.map(|dir| CacheConfig {
        dir: dir.to_path_buf(),
        max_bytes: 64 << 20,
        mem_bytes: 1 << 20,
    });
    c.inspect = Some(InspectConfig {
        ca_dir: ca_dir.path().join("ca"),
        roots: vec![roots.to_path_buf()],
    });
    c.policy.inspect = Some(InspectScope {
        ports: vec![port],
        only: Vec::new(),
        skip: skip.iter().map(|s| s.to_string()).collect(),
    });
    c.policy.block_lists = block_lists;
    let proxy = Proxy::new(common::launch(c).expect("start"));
    Inspecting { proxy, ca_dir }
}

/// curl through the proxy: (status, body, verbose log).
fn curl(p: &Inspecting, cacert: &Path, url: &str, extra: &[&str]) -> (String, String, String) {
    let out = Command::new("curl")
        .args([
            "-sS",
            "-v",
            "--max-time",
            "10",
            "-o",
            "-",
            "-w",
            "\n%{http_code}",
        ])
        .args(["--proxy", &p.url()])
        .arg("--cacert")
        .arg(cacert)
        .args(extra)
        .arg(url)
        .output()
        .expect("curl must be installed (make test installs it)");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, status) = stdout.rsplit_once('\n').unwrap_or(("", &stdout));
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    (status.to_string(), body.to_string(), stderr)
}

/// Wait for a captured log line containing every one of `words`.
fn logged(words: &[&str]) -> String {
    let find = || {
        capture::lines()
            .into_iter()
            .find(|l| words.iter().all(|w| l.contains(w)))
    };
    assert!(
        eventually(Duration::from_secs(5), || find().is_some()),
        "no log line with {words:?} in {:#?}",
        capture::lines()
    );
    find().unwrap()
}

/// openssl s_client through the proxy's CONNECT: its whole output.
fn s_client(p: &Inspecting, host: &str, port: u16, extra: &[&str]) -> String {
    let mut child = Command::new("openssl")
        .args(["s_client", "-proxy", &p.proxy.addr.to_string()])
        .args(["-connect", &format!("{host}:{port}")])
        .args(["-servername", host, "-showcerts"])
        .args(extra)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("openssl must be installed (make test installs it)");
    drop(child.stdin.take());
    let out = child.wait_with_output().unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
}

/// The first certificate in `s_client` output, as `openssl x509` text.
fn first_cert_text(s_client_out: &str) -> String {
    let begin = s_client_out
        .find("-----BEGIN CERTIFICATE-----")
        .expect("a certificate");
    let end = s_client_out[begin..]
        .find("-----END CERTIFICATE-----")
        .unwrap()
        + begin
        + 25;
    let mut child = Command::new("openssl")
        .args([
            "x509",
            "-noout",
            "-subject",
            "-issuer",
            "-ext",
            "subjectAltName,extendedKeyUsage",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(&s_client_out.as_bytes()[begin..end])
        .unwrap();
    String::from_utf8_lossy(&child.wait_with_output().unwrap().stdout).into_owned()
}

// ------------------------------------------------------------ tests

#[test]
fn curl_gets_the_exact_bytes_and_the_log_names_the_inner_request() {
    let pki = pki();
    let port = tls_origin(good(&pki));
    let p = inspecting(pki.roots.path(), port, &[], Vec::new());
    let url = format!("https://localhost:{port}/some/path?q=1");
    let (status, body, _) = curl(&p, &p.ca_pem(), &url, &[]);
    assert_eq!(
        (status.as_str(), body.as_str()),
        ("200", page("/some/path?q=1").as_str())
    );
    logged(&[&format!("GET {url} 200")]);
    // Keep-alive inside: two URLs on one curl run, one CONNECT.
    let (status, body, verbose) = curl(
        &p,
        &p.ca_pem(),
        &url,
        &[&format!("https://localhost:{port}/two")],
    );
    assert_eq!(status, "200");
    assert!(body.starts_with(&page("/two")), "{body}");
    assert!(body.ends_with(&page("/some/path?q=1")), "{body}");
    assert!(
        verbose.contains("Re-using existing connection"),
        "{verbose}"
    );
    // The CA is offered on the proxy's own pages.
    let own = common::client::send(p.proxy.addr, b"GET /ca.pem HTTP/1.1\r\nHost: p\r\n\r\n");
    assert_eq!(own.status, 200);
    assert_eq!(own.text(), std::fs::read_to_string(p.ca_pem()).unwrap());
    let dash = common::client::send(p.proxy.addr, b"GET / HTTP/1.1\r\nHost: p\r\n\r\n");
    assert!(dash.text().contains("href=\"/ca.pem\""));
}

#[test]
fn inspected_responses_go_through_the_shared_cache() {
    let pki = pki();
    let port = tls_origin(good(&pki));
    let cache = TempDir::new("inspect-cache");
    let p = launch_inspecting(
        TempDir::new("ca"),
        pki.roots.path(),
        port,
        &[],
        Vec::new(),
        Some(cache.path()),
    );
    let url = format!("https://localhost:{port}/cached/a.deb");
    let before = CACHED_FETCHES.load(std::sync::atomic::Ordering::SeqCst);
    let mut statuses = Vec::new();
    for _ in 0..2 {
        let (status, body, verbose) = curl(&p, &p.ca_pem(), &url, &[]);
        assert_eq!(
            (status.as_str(), body.as_str()),
            ("200", page("/cached/a.deb").as_str())
        );
        let line = verbose
            .lines()
            .find(|l| l.to_ascii_lowercase().starts_with("< cache-status:"))
            .unwrap_or_else(|| panic!("no Cache-Status in {verbose}"))
            .to_string();
        statuses.push(line);
    }
    assert!(statuses[0].contains("miss; stored"), "{statuses:?}");
    assert!(statuses[1].contains("hit"), "{statuses:?}");
    // Other tests share the origin's counter: this URL alone is ours.
    let after = CACHED_FETCHES.load(std::sync::atomic::Ordering::SeqCst);
    assert_eq!(after - before, 1, "the second request came from the cache");
    logged(&[&format!("GET {url} 200"), "cache=HIT"]);
    // A plain http:// request to the same host and port is another entry.
    let plain = format!("http://localhost:{port}/cached/a.deb");
    let r = common::client::send(
        p.proxy.addr,
        format!("GET {plain} HTTP/1.1\r\nHost: localhost:{port}\r\nConnection: close\r\n\r\n")
            .as_bytes(),
    );
    assert_ne!(
        r.header("cache-status").unwrap_or_default(),
        "smolproxy; hit"
    );
}

#[test]
fn the_client_sees_a_leaf_from_our_ca_for_the_name_it_asked() {
    let pki = pki();
    let port = tls_origin(good(&pki));
    let p = inspecting(pki.roots.path(), port, &[], Vec::new());
    let out = s_client(
        &p,
        "localhost",
        port,
        &["-CAfile", p.ca_pem().to_str().unwrap()],
    );
    assert!(out.contains("Verify return code: 0 (ok)"), "{out}");
    let cert = first_cert_text(&out);
    assert!(
        cert.contains("issuer=CN = smolproxy inspection CA on ") && cert.contains("O = smolproxy"),
        "{cert}"
    );
    assert!(cert.contains("DNS:localhost"), "{cert}");
    assert!(cert.contains("TLS Web Server Authentication"), "{cert}");
    // An IP literal gets a leaf with that IP as its name.
    let out = s_client(&p, "127.0.0.1", port, &[]);
    let cert = first_cert_text(&out);
    assert!(cert.contains("IP Address:127.0.0.1"), "{cert}");
}

#[test]
fn unverifiable_origins_get_a_502_that_says_why() {
    let pki = pki();
    let cases = [
        (
            leaf(None, &["localhost"], -3600, DAY),
            "not signed by a trusted root",
        ),
        (
            leaf(Some(&pki), &["localhost"], -2 * DAY, -DAY),
            "has expired",
        ),
        (
            leaf(Some(&pki), &["other.example"], -3600, DAY),
            "is for another name",
        ),
    ];
    for (cert, why) in cases {
        let port = tls_origin(cert);
        let p = inspecting(pki.roots.path(), port, &[], Vec::new());
        let url = format!("https://localhost:{port}/secret");
        let (status, body, _) = curl(&p, &p.ca_pem(), &url, &[]);
        assert_eq!(status, "502", "{why}: {body}");
        assert!(
            body.contains(&format!("TLS to localhost:{port} failed")),
            "{body}"
        );
        assert!(body.contains(why), "{why}: {body}");
        assert!(!body.contains("hello from"), "{body}");
        logged(&[&format!("GET {url} 502"), why]);
    }
}

#[test]
fn no_inspect_tunnels_untouched_and_the_client_sees_the_origin() {
    let pki = pki();
    let port = tls_origin(good(&pki));
    let p = inspecting(pki.roots.path(), port, &["localhost"], Vec::new());
    let url = format!("https://localhost:{port}/x");
    // The origin's own certificate: the test root verifies it, ours not.
    let (status, body, _) = curl(&p, pki.roots.path(), &url, &[]);
    assert_eq!(
        (status.as_str(), body.as_str()),
        ("200", page("/x").as_str())
    );
    let (status, _, verbose) = curl(&p, &p.ca_pem(), &url, &[]);
    assert_eq!(status, "000", "{verbose}");
    logged(&[&format!("CONNECT localhost:{port} 200")]);
}

/// curl's `--pinnedpubkey` for `cert`: `sha256//` and its key's hash.
fn pin_of(cert: &CertificateDer<'_>) -> String {
    let der = TempFile::new("pinned.der", "");
    std::fs::write(der.path(), cert.as_ref()).unwrap();
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "openssl x509 -inform der -in '{}' -pubkey -noout | openssl pkey -pubin -outform der \
             | openssl dgst -sha256 -binary | base64",
            der.as_str()
        ))
        .output()
        .unwrap();
    format!("sha256//{}", String::from_utf8(out.stdout).unwrap().trim())
}

#[test]
fn a_client_pinning_the_origin_key_fails_only_where_inspected() {
    let pki = pki();
    let cert = good(&pki);
    let pin = pin_of(&cert.0);
    let port = tls_origin(cert);
    let url = format!("https://localhost:{port}/pinned");
    let pinned = ["--pinnedpubkey", pin.as_str()];
    let p = inspecting(pki.roots.path(), port, &[], Vec::new());
    let (status, _, verbose) = curl(&p, &p.ca_pem(), &url, &pinned);
    assert_eq!(status, "000", "{verbose}");
    assert!(verbose.contains("pinned public key"), "{verbose}");
    let q = inspecting(pki.roots.path(), port, &["localhost"], Vec::new());
    let (status, body, _) = curl(&q, pki.roots.path(), &url, &pinned);
    assert_eq!(
        (status.as_str(), body.as_str()),
        ("200", page("/pinned").as_str())
    );
}

#[test]
fn a_ca_made_elsewhere_is_loaded_and_signs_the_leaves() {
    let pki = pki();
    let port = tls_origin(good(&pki));
    // A household CA made with openssl (tests/common/pki.rs), put in place.
    let household = common::pki::TestCa::new("household-ca");
    let ca_dir = TempDir::new("own-ca");
    let dir = ca_dir.path().join("ca");
    std::fs::create_dir(&dir).unwrap();
    std::fs::copy(household.pem(), dir.join("ca.pem")).unwrap();
    std::fs::copy(household.pem().with_file_name("ca.key"), dir.join("ca.key")).unwrap();
    let p = inspecting_in(ca_dir, pki.roots.path(), port, &[], Vec::new());
    let url = format!("https://localhost:{port}/household");
    let (status, body, _) = curl(&p, &household.pem(), &url, &[]);
    assert_eq!(
        (status.as_str(), body.as_str()),
        ("200", page("/household").as_str())
    );
}

#[test]
fn sighup_rereads_the_roots() {
    let (known, other) = (pki(), pki());
    let port = tls_origin(good(&other));
    let p = inspecting(known.roots.path(), port, &[], Vec::new());
    let url = format!("https://localhost:{port}/after");
    let (status, body, _) = curl(&p, &p.ca_pem(), &url, &[]);
    assert_eq!(status, "502", "{body}");
    // The other root joins the file; the reload (SIGHUP) reads it.
    let both = std::fs::read_to_string(known.roots.path()).unwrap()
        + &std::fs::read_to_string(other.roots.path()).unwrap();
    known.roots.write(&both);
    p.proxy.reload();
    let (status, body, _) = curl(&p, &p.ca_pem(), &url, &[]);
    assert_eq!(
        (status.as_str(), body.as_str()),
        ("200", page("/after").as_str())
    );
}

#[test]
fn alpn_offers_of_h2_get_http_1_1() {
    let pki = pki();
    let port = tls_origin(good(&pki));
    let p = inspecting(pki.roots.path(), port, &[], Vec::new());
    let out = s_client(&p, "localhost", port, &["-alpn", "h2,http/1.1"]);
    assert!(out.contains("ALPN protocol: http/1.1"), "{out}");
    let (status, _, verbose) = curl(
        &p,
        &p.ca_pem(),
        &format!("https://localhost:{port}/"),
        &["--http2"],
    );
    assert_eq!(status, "200");
    assert!(
        verbose.contains("ALPN: server accepted http/1.1"),
        "{verbose}"
    );
    // h2 alone cannot be served: the handshake fails, logged as such.
    let out = s_client(&p, "localhost", port, &["-alpn", "h2"]);
    assert!(!out.contains("ALPN protocol: h2"), "{out}");
    logged(&[
        &format!("CONNECT localhost:{port}"),
        "client TLS handshake failed",
    ]);
}

#[test]
fn path_rules_apply_inside_but_not_to_plain_tunnels() {
    let pki = pki();
    let port = tls_origin(good(&pki));
    let list = TempFile::new("block.txt", "||localhost/ads/\n||localhost/pixel^\n");
    let p = inspecting(pki.roots.path(), port, &[], vec![list.path().to_path_buf()]);
    let base = format!("https://localhost:{port}");
    let (status, body, _) = curl(&p, &p.ca_pem(), &format!("{base}/ads/banner.js"), &[]);
    assert_eq!(status, "403");
    assert!(
        body.contains("blocked by the rule 'localhost/ads/'"),
        "{body}"
    );
    let (status, _, _) = curl(&p, &p.ca_pem(), &format!("{base}/pixel?id=7"), &[]);
    assert_eq!(status, "403");
    for ok in ["/news/", "/pixels", "/adsx"] {
        let (status, body, _) = curl(&p, &p.ca_pem(), &format!("{base}{ok}"), &[]);
        assert_eq!(
            (status.as_str(), body.as_str()),
            ("200", page(ok).as_str()),
            "{ok}"
        );
    }
    // A plain tunnel to the same domain: only its host is seen.
    let q = inspecting(
        pki.roots.path(),
        port,
        &["localhost"],
        vec![list.path().to_path_buf()],
    );
    let (status, body, _) = curl(&q, pki.roots.path(), &format!("{base}/ads/banner.js"), &[]);
    assert_eq!(
        (status.as_str(), body.as_str()),
        ("200", page("/ads/banner.js").as_str())
    );
}

#[test]
fn websocket_upgrades_work_inside() {
    let pki = pki();
    let port = tls_origin(good(&pki));
    let p = inspecting(pki.roots.path(), port, &[], Vec::new());
    let mut tcp = common::client::dial(p.proxy.addr);
    write!(
        tcp,
        "CONNECT localhost:{port} HTTP/1.1\r\nHost: localhost:{port}\r\n\r\n"
    )
    .unwrap();
    let mut plain = BufReader::new(tcp.try_clone().unwrap());
    let head = common::client::read_head(&mut plain).unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    drop(plain);
    let mut roots = rustls::RootCertStore::empty();
    let ours = std::fs::read(p.ca_pem()).unwrap();
    for c in <CertificateDer<'_> as rustls::pki_types::pem::PemObject>::pem_slice_iter(&ours) {
        roots.add(c.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = ServerName::try_from("localhost").unwrap();
    let conn = rustls::ClientConnection::new(Arc::new(config), name).unwrap();
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    write!(
        tls,
        "GET /chat HTTP/1.1\r\nHost: localhost:{port}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
    )
    .unwrap();
    let mut r = BufReader::new(tls);
    let head = common::client::read_head(&mut r).unwrap();
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    for msg in [&b"ping one"[..], b"and two"] {
        r.get_mut().write_all(msg).unwrap();
        r.get_mut().flush().unwrap();
        let mut got = vec![0u8; msg.len()];
        r.read_exact(&mut got).unwrap();
        assert_eq!(got, msg);
    }
    drop(r);
    logged(&[&format!("GET https://localhost:{port}/chat 101")]);
}

#[test]
fn headless_chromium_loads_a_page_through_inspection() {
    let pki = pki();
    let port = tls_origin(good(&pki));
    let p = inspecting(pki.roots.path(), port, &[], Vec::new());
    // Our CA trusted the way a Linux user installs it for Chromium: in
    // the NSS database of the profile's home (certutil, libnss3-tools).
    // (`--ignore-certificate-errors-spki-list` with the CA's key does not
    // help: Chromium matches only keys of the chain the server sends.)
    let home = TempDir::new("chromium-home");
    let db = format!("sql:{}/.pki/nssdb", home.path().display());
    std::fs::create_dir_all(home.path().join(".pki/nssdb")).unwrap();
    let certutil = |args: &[&str]| {
        let out = Command::new("certutil")
            .args(args)
            .output()
            .expect("certutil must be installed (make test installs libnss3-tools)");
        assert!(out.status.success(), "certutil {args:?}: {out:?}");
    };
    certutil(&["-N", "-d", &db, "--empty-password"]);
    let ca = p.ca_pem();
    certutil(&[
        "-A",
        "-d",
        &db,
        "-t",
        "C,,",
        "-n",
        "smolproxy",
        "-i",
        ca.to_str().unwrap(),
    ]);
    let url = format!("https://localhost:{port}/browser");
    let child = Command::new("timeout")
        .args([
            "60",
            "chromium",
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
        ])
        .args([
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
        ])
        .args(["--disable-component-update", "--disable-sync"])
        .arg(format!(
            "--user-data-dir={}",
            home.path().join("profile").display()
        ))
        .arg(format!("--proxy-server={}", p.url()))
        // Chromium sends loopback names directly unless told not to.
        .arg("--proxy-bypass-list=<-loopback>")
        .args(["--dump-dom", &url])
        .env("HOME", home.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("chromium must be installed (make test installs it)");
    let out = child.wait_with_output().unwrap();
    let dom = String::from_utf8_lossy(&out.stdout);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(dom.contains("hello from /browser"), "{dom}\n{err}");
    logged(&[&format!("GET {url} 200")]);
}

#[test]
fn print_ca_prints_a_pem_openssl_reads_and_keeps_the_key_private() {
    use std::os::unix::fs::PermissionsExt;
    let dir = TempDir::new("print-ca");
    let ca_dir = dir.path().join("ca");
    let ca = ca_dir.to_str().unwrap();
    let first = common::bin::run(&["--print-ca", "--ca-dir", ca], &[]);
    assert_eq!(first.code, 0, "{}", first.stderr);
    assert!(
        first.stdout.starts_with("-----BEGIN CERTIFICATE-----"),
        "{}",
        first.stdout
    );
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&ca_dir.join("ca.key")), 0o600);
    assert_eq!(mode(&ca_dir), 0o700);
    let mut x509 = Command::new("openssl")
        .args(["x509", "-noout", "-subject", "-dates"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    x509.stdin
        .take()
        .unwrap()
        .write_all(first.stdout.as_bytes())
        .unwrap();
    let text = String::from_utf8(x509.wait_with_output().unwrap().stdout).unwrap();
    assert!(
        text.contains("subject=CN = smolproxy inspection CA on"),
        "{text}"
    );
    // The same CA the next time.
    let again = common::bin::run(&["--print-ca", "--ca-dir", ca], &[]);
    assert_eq!(
        (again.code, again.stdout.as_str()),
        (0, first.stdout.as_str())
    );
    // A directory that cannot be: one line, exit 1.
    let bad = common::bin::run(&["--print-ca", "--ca-dir", "/dev/null/ca"], &[]);
    assert_eq!(bad.code, 1);
    assert_eq!(bad.stderr.lines().count(), 1, "{}", bad.stderr);
    assert!(bad.stderr.contains("/dev/null/ca"), "{}", bad.stderr);
    // Usage mistakes are one line, exit 2.
    let usage = common::bin::run(&["--inspect"], &[]);
    assert_eq!(usage.code, 2);
    assert!(
        usage.stderr.contains("--inspect needs --ca-dir DIR"),
        "{}",
        usage.stderr
    );
}

#[test]
fn unusable_roots_stop_the_start() {
    let dir = TempDir::new("roots");
    let ca = dir.path().join("ca");
    let junk = TempFile::new("junk.pem", "not a certificate\n");
    let args = [
        "--listen",
        "127.0.0.1:0",
        "--inspect",
        "--ca-dir",
        ca.to_str().unwrap(),
    ];
    let run = common::bin::run(&[&args[..], &["--ca-roots", junk.as_str()]].concat(), &[]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("no usable PEM certificate"),
        "{}",
        run.stderr
    );
    let missing = dir.path().join("missing.pem");
    let run = common::bin::run(
        &[&args[..], &["--ca-roots", missing.to_str().unwrap()]].concat(),
        &[],
    );
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains("missing.pem"), "{}", run.stderr);
}
