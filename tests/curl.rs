//! Real clients against the proxy: curl for plain HTTP, a large POST, and
//! HTTPS through a CONNECT tunnel to a local TLS origin (openssl s_server
//! with a self-signed certificate made for the test). `make test` installs
//! curl and openssl when they are missing; here a missing tool fails loudly.
mod common;

use std::process::Command;

use common::files::TempDir;
use common::origin::{Origin, TlsOrigin};

/// curl through `proxy`.
fn curl(proxy: &common::Proxy, args: &[&str]) -> (i32, Vec<u8>, String) {
    let via = format!("http://{}", proxy.addr);
    common::client::curl(&[&["-x", via.as_str()], args].concat())
}

#[test]
fn curl_get_and_head() {
    let origin = Origin::echo();
    let proxy = common::start();
    let (code, out, err) = curl(&proxy, &[&origin.url("/curl?q=1")]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, b"GET /curl?q=1\n");
    let (code, out, err) = curl(&proxy, &["-I", &origin.url("/")]);
    assert_eq!(code, 0, "{err}");
    let out = String::from_utf8_lossy(&out);
    assert!(out.starts_with("HTTP/1.1 200 OK"), "{out}");
    assert!(out.contains("Via: 1.1 smolproxy"), "{out}");
}

#[test]
fn curl_large_post_streams_through() {
    let origin = Origin::echo();
    let proxy = common::start();
    let dir = TempDir::new("curl");
    let file = dir.path().join("body.bin");
    let body: Vec<u8> = (0..8_000_000u32).map(|i| (i % 253) as u8).collect();
    std::fs::write(&file, &body).unwrap();
    let (code, out, err) = curl(
        &proxy,
        &[
            "--data-binary",
            &format!("@{}", file.display()),
            &origin.url("/upload"),
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(&out[..13], b"POST /upload\n");
    assert!(out[13..] == body[..], "body altered in transit");
    // Chunked upload (curl sends chunked when told so).
    let (code, out, err) = curl(
        &proxy,
        &[
            "-H",
            "Transfer-Encoding: chunked",
            "--data-binary",
            &format!("@{}", file.display()),
            &origin.url("/chunked"),
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert!(out[14..] == body[..], "chunked body altered in transit");
}

#[test]
fn curl_https_through_connect() {
    let tls = TlsOrigin::start();
    let proxy = common::start();
    let url = format!("https://localhost:{}/", tls.port);
    let (code, out, err) = curl(&proxy, &["--cacert", &tls.cert.display().to_string(), &url]);
    assert_eq!(code, 0, "{err}");
    let out = String::from_utf8_lossy(&out);
    assert!(out.contains("s_server"), "{out}");
    // curl -p forces a tunnel for plain HTTP too.
    let origin = Origin::echo();
    let (code, out, err) = curl(&proxy, &["-p", &origin.url("/tunnelled")]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, b"GET /tunnelled\n");
}

#[test]
fn wget_through_the_proxy() {
    let origin = Origin::echo();
    let proxy = common::start();
    let out = Command::new("wget")
        .args(["-q", "-O", "-", "--timeout=20", &origin.url("/wget")])
        .env("http_proxy", format!("http://{}", proxy.addr))
        .output()
        .expect("wget must be installed (make test installs it)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.stdout, b"GET /wget\n");
}
