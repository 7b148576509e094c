//! A real browser through the proxy: headless Chromium loads a page over
//! plain HTTP (absolute-form requests, keep-alive, a sub-resource) and over
//! HTTPS (a CONNECT tunnel to a local TLS origin). The in-process proxy's
//! resolver knows only `localhost`, so the browser's own background calls
//! fail at the proxy and nothing leaves the machine. `make test` installs
//! Chromium when it is missing; here a missing browser fails loudly.
mod common;

use std::io::{BufReader, Write};
use std::process::Command;
use std::sync::atomic::Ordering;

use common::client::read_request;
use common::files::TempDir;
use common::origin::{Origin, TlsOrigin};

/// Load `url` in headless Chromium through `proxy`; return the DOM.
fn dump_dom(proxy: &common::Proxy, url: &str) -> String {
    let profile = TempDir::new("chromium");
    let out = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--ignore-certificate-errors",
            "--virtual-time-budget=5000",
            // Chromium never proxies loopback unless told to.
            "--proxy-bypass-list=<-loopback>",
        ])
        .arg(format!("--proxy-server=http://{}", proxy.addr))
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg("--dump-dom")
        .arg(url)
        .output()
        .expect("chromium must be installed (make test installs it)");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn chromium_loads_a_page_and_its_script_over_plain_http() {
    // The page pulls a script that writes into it: two requests, the
    // second usually on the same kept connection.
    let origin = Origin::raw(|stream, seen| {
        let mut r = BufReader::new(stream.try_clone().unwrap());
        let mut w = stream;
        while let Ok((head, _)) = read_request(&mut r) {
            seen.lock().unwrap().push(head.clone());
            let (ctype, body) = if head.starts_with("GET /app.js ") {
                (
                    "text/javascript",
                    "document.getElementById('x').textContent = 'script ran';",
                )
            } else if head.starts_with("GET / ") {
                (
                    "text/html",
                    "<html><body><p id=x>page only</p><script src=/app.js></script></body></html>",
                )
            } else {
                ("text/plain", "")
            };
            let status = if body.is_empty() {
                "404 Not Found"
            } else {
                "200 OK"
            };
            let resp = format!(
                "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            );
            if w.write_all(resp.as_bytes()).is_err() {
                return;
            }
        }
    });
    let proxy = common::start();
    let dom = dump_dom(&proxy, &origin.url("/"));
    assert!(dom.contains("script ran"), "{dom}");
    let seen = origin.seen.lock().unwrap().clone();
    assert!(
        seen.iter()
            .any(|h| h.starts_with("GET /app.js HTTP/1.1\r\n")),
        "{seen:?}"
    );
    assert!(
        seen.iter().all(|h| h.contains("Via: 1.1 smolproxy")),
        "{seen:?}"
    );
    assert!(origin.connections.load(Ordering::SeqCst) >= 1);
}

#[test]
fn chromium_loads_https_through_a_connect_tunnel() {
    let tls = TlsOrigin::start();
    let proxy = common::start();
    let url = format!("https://localhost:{}/", tls.port);
    let dom = dump_dom(&proxy, &url);
    // openssl s_server -www answers with a page describing the session.
    assert!(dom.contains("s_server"), "{dom}");
    // The same page with the proxy refusing the host: the browser really
    // went through the proxy (it gets nothing).
    let mut c = common::test_config();
    c.policy.block = vec!["localhost".into()];
    let blocking = common::start_with(c);
    let dom = dump_dom(&blocking, &url);
    assert!(!dom.contains("s_server"), "{dom}");
}
