//! The proxy's own pages over real loopback sockets: the dashboard in
//! headless Chromium (a screenshot kept under target/, the DOM checked for
//! the request count, with and without authentication), `/metrics` parsed
//! by the real PyPI `prometheus-client` parser with its counters moving
//! with traffic, `/status.json` parsed by Python's json with the same
//! numbers, the PAC script evaluated by a real PAC engine (pacparser), and
//! the 401/407 rules, methods, types and lengths of every page. `make test`
//! installs the parser, pacparser and Chromium; missing, a test fails.
mod common;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::client::{Response, connect_req, dial, get, get_with, send};
use common::files::TempDir;
use common::origin::Origin;
use common::{AUTH_FAIL_DELAY, Proxy, Secret};

/// "alice:pw" in base64.
const CREDS: &str = "YWxpY2U6cHc=";

fn locked() -> Proxy {
    let mut c = common::test_config();
    c.policy.auth_env = Some(Secret("alice:pw".into()));
    common::start_with(c)
}

/// An origin-form request for `path` with `extra` header lines.
fn page(proxy: &Proxy, method: &str, path: &str, extra: &str) -> Response {
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {}\r\n{extra}\r\n",
        proxy.addr
    );
    let mut s = dial(proxy.addr);
    s.write_all(req.as_bytes()).unwrap();
    let mut r = std::io::BufReader::new(s);
    common::client::read_response(&mut r, method == "HEAD").expect("response")
}

/// Run `program` with `args`, `input` on stdin; its stdout, or a failure
/// naming what to install.
fn run(program: &str, args: &[&str], input: &str, needs: &str) -> String {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{program}: {e} (make test-deps installs {needs})"));
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{program} failed (make test-deps installs {needs}): {stderr}"
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Parse `/metrics` text with prometheus_client; every sample as
/// `name{k=v,...}` → value.
fn parse_metrics(text: &str) -> BTreeMap<String, f64> {
    let script = r#"
import sys
from prometheus_client.parser import text_string_to_metric_families
for fam in text_string_to_metric_families(sys.stdin.read()):
    for s in fam.samples:
        labels = ",".join("%s=%s" % kv for kv in sorted(s.labels.items()))
        print("%s{%s} %r" % (s.name, labels, float(s.value)))
"#;
    run("python3", &["-c", script], text, "prometheus-client (pip)")
        .lines()
        .map(|l| {
            let (k, v) = l.rsplit_once(' ').unwrap();
            (k.to_string(), v.parse().unwrap())
        })
        .collect()
}

fn scrape(proxy: &Proxy) -> BTreeMap<String, f64> {
    let r = page(proxy, "GET", "/metrics", "");
    assert_eq!(r.status, 200, "{}", r.text());
    parse_metrics(&r.text())
}

/// Let the last answer's counters land (they are added just after the
/// response is written).
fn settle() {
    std::thread::sleep(Duration::from_millis(100));
}

#[test]
fn pages_have_types_lengths_methods_and_no_store() {
    let proxy = common::start();
    let cases = [
        ("/", "text/html; charset=utf-8"),
        ("/status.json", "application/json"),
        ("/metrics", "text/plain; version=0.0.4; charset=utf-8"),
        ("/proxy.pac", "application/x-ns-proxy-autoconfig"),
        ("/wpad.dat", "application/x-ns-proxy-autoconfig"),
    ];
    for (path, ctype) in cases {
        let r = page(&proxy, "GET", path, "");
        assert_eq!(r.status, 200, "{path}");
        assert_eq!(r.header("content-type").as_deref(), Some(ctype), "{path}");
        assert_eq!(
            r.header("cache-control").as_deref(),
            Some("no-store"),
            "{path}"
        );
        let len: usize = r.header("content-length").unwrap().parse().unwrap();
        assert_eq!(len, r.body.len(), "{path}");
        assert!(len > 0, "{path}");
        let h = page(&proxy, "HEAD", path, "");
        assert_eq!(h.status, 200, "{path}");
        assert!(h.body.is_empty(), "HEAD {path}");
        assert!(h.header("content-length").is_some(), "HEAD {path}");
        let p = page(&proxy, "POST", path, "Content-Length: 0\r\n");
        assert_eq!(p.status, 405, "POST {path}");
        assert_eq!(p.header("allow").as_deref(), Some("GET, HEAD"), "{path}");
    }
    let r = page(&proxy, "GET", "/favicon.ico", "");
    assert_eq!(r.status, 404);
    assert!(r.text().contains("/metrics"), "{}", r.text());
}

#[test]
fn absolute_form_to_the_proxy_itself_gets_its_pages_and_loops_stay_refused() {
    let proxy = common::start();
    let port = proxy.addr.port();
    let r = send(proxy.addr, &get(&format!("http://{}/metrics", proxy.addr)));
    assert_eq!(r.status, 200);
    assert!(
        r.text().contains("smolproxy_requests_total"),
        "{}",
        r.text()
    );
    let r = send(proxy.addr, &get(&format!("http://{}/nope", proxy.addr)));
    assert_eq!(r.status, 404, "{}", r.text());
    // A name for the proxy is not recognised without DNS: the egress guard
    // refuses the loop, as before; so does a CONNECT to its own address.
    let r = send(
        proxy.addr,
        &get(&format!("http://localhost:{port}/metrics")),
    );
    assert_eq!(r.status, 508, "{}", r.text());
    let r = send(proxy.addr, &connect_req(&proxy.addr.to_string()));
    assert_eq!(r.status, 508, "{}", r.text());
    // Another port on the same address is an ordinary origin.
    let other = common::free_port();
    let r = send(
        proxy.addr,
        &get(&format!("http://127.0.0.1:{other}/metrics")),
    );
    assert_eq!(r.status, 502, "{}", r.text());
}

#[test]
fn metrics_parse_with_prometheus_client_and_move_with_traffic() {
    let origin = Origin::echo();
    let mut c = common::test_config();
    c.policy.block = vec!["blocked.test".into()];
    let proxy = common::start_with(c);
    let before = scrape(&proxy);
    for name in [
        "smolproxy_requests_total{class=2xx}",
        "smolproxy_bytes_total{direction=down}",
        "smolproxy_connections_active{}",
        "smolproxy_tunnels_active{}",
        "smolproxy_blocked_total{}",
        "smolproxy_request_duration_seconds_count{}",
        "smolproxy_request_duration_seconds_bucket{le=+Inf}",
        "smolproxy_request_duration_seconds_sum{}",
        "process_resident_memory_bytes{}",
        "process_open_fds{}",
        "process_cpu_seconds_total{}",
        "process_start_time_seconds{}",
    ] {
        assert!(before.contains_key(name), "{name} missing: {before:?}");
    }
    let version = format!(
        "smolproxy_build_info{{version={}}}",
        env!("CARGO_PKG_VERSION")
    );
    assert_eq!(before.get(&version), Some(&1.0), "{before:?}");
    const N: usize = 7;
    let mut down = 0;
    for i in 0..N {
        let r = send(proxy.addr, &get(&origin.url(&format!("/r{i}"))));
        assert_eq!(r.status, 200);
        down += r.body.len();
    }
    let r = send(proxy.addr, &get("http://ads.blocked.test/"));
    assert_eq!(r.status, 403);
    settle();
    let after = scrape(&proxy);
    let delta = |k: &str| after[k] - before[k];
    // The first scrape is counted too (after it was answered).
    assert_eq!(delta("smolproxy_requests_total{class=2xx}"), (N + 1) as f64);
    assert_eq!(delta("smolproxy_requests_total{class=4xx}"), 1.0);
    assert_eq!(delta("smolproxy_blocked_total{}"), 1.0);
    assert_eq!(delta("smolproxy_bytes_total{direction=down}"), down as f64);
    assert_eq!(
        delta("smolproxy_request_duration_seconds_count{}"),
        (N + 2) as f64
    );
    let count = after["smolproxy_request_duration_seconds_count{}"];
    let total: f64 = after
        .iter()
        .filter(|(k, _)| k.starts_with("smolproxy_requests_total{"))
        .map(|(_, v)| v)
        .sum();
    assert_eq!(count, total, "every answer is in the histogram");
    assert_eq!(
        after["smolproxy_request_duration_seconds_bucket{le=+Inf}"],
        count
    );
    assert!(
        after["smolproxy_connections_active{}"] >= 1.0,
        "the scrape's own"
    );
    assert!(after["process_open_fds{}"] >= 3.0);
}

#[test]
fn tunnels_and_connections_are_gauges() {
    let echo = Origin::tcp_echo(b"");
    let proxy = common::start();
    let mut t = dial(proxy.addr);
    t.write_all(&connect_req(&echo.addr.to_string())).unwrap();
    let mut buf = [0u8; 39];
    t.read_exact(&mut buf).unwrap();
    assert!(buf.starts_with(b"HTTP/1.1 200"));
    t.write_all(b"ping").unwrap();
    let mut pong = [0u8; 4];
    t.read_exact(&mut pong).unwrap();
    let m = scrape(&proxy);
    assert_eq!(m["smolproxy_tunnels_active{}"], 1.0);
    assert_eq!(
        m["smolproxy_connections_active{}"], 2.0,
        "the tunnel and the scrape"
    );
    drop(t);
    let closed = common::eventually(Duration::from_secs(5), || {
        scrape(&proxy)["smolproxy_tunnels_active{}"] == 0.0
    });
    assert!(closed, "the tunnel gauge goes back to 0");
    let m = scrape(&proxy);
    assert_eq!(
        m["smolproxy_bytes_total{direction=up}"], 4.0,
        "tunnel bytes counted"
    );
}

#[test]
fn status_json_has_the_same_numbers_as_metrics() {
    let origin = Origin::echo();
    let mut c = common::test_config();
    c.policy.block = vec!["blocked.test".into()];
    let proxy = common::start_with(c);
    for _ in 0..3 {
        assert_eq!(send(proxy.addr, &get(&origin.url("/a"))).status, 200);
    }
    for host in ["x.blocked.test", "y.blocked.test", "x.blocked.test"] {
        assert_eq!(
            send(proxy.addr, &get(&format!("http://{host}/"))).status,
            403
        );
    }
    settle();
    let json = page(&proxy, "GET", "/status.json", "");
    assert_eq!(json.status, 200);
    settle();
    let m = scrape(&proxy);
    let script = r#"
import json, sys
d = json.load(sys.stdin)
r = d["requests"]
print(r["by_class"]["2xx"], r["by_class"]["4xx"], r["total"], r["last_minute"], r["last_hour"],
      d["bytes"]["down"], d["bytes"]["up"], d["blocked"]["total"],
      d["blocked"]["top_rules"][0]["rule"], d["blocked"]["top_rules"][0]["requests"],
      d["blocked"]["top_domains"][0]["domain"], d["blocked"]["top_domains"][0]["requests"],
      d["top_clients"][0]["client"], d["connections_active"], d["tunnels_active"],
      len(d["per_minute"]["requests"]), sum(d["per_minute"]["requests"]), d["version"])
"#;
    let out = run("python3", &["-c", script], &json.text(), "python");
    let f: Vec<&str> = out.split_whitespace().collect();
    let num = |i: usize| f[i].parse::<f64>().unwrap();
    // /metrics was asked after /status.json, which it counts as one more 2xx.
    assert_eq!(num(0) + 1.0, m["smolproxy_requests_total{class=2xx}"]);
    assert_eq!(num(1), m["smolproxy_requests_total{class=4xx}"]);
    assert_eq!((num(0), num(1), num(2)), (3.0, 3.0, 6.0));
    assert_eq!((num(3), num(4)), (6.0, 6.0), "this minute and hour");
    assert_eq!(num(5), m["smolproxy_bytes_total{direction=down}"]);
    assert_eq!(num(6), m["smolproxy_bytes_total{direction=up}"]);
    assert_eq!(num(7), m["smolproxy_blocked_total{}"]);
    assert_eq!(num(7), 3.0);
    assert_eq!((f[8], num(9)), ("blocked.test", 3.0));
    assert_eq!((f[10], num(11)), ("x.blocked.test", 2.0));
    assert_eq!(f[12], "127.0.0.1");
    assert_eq!((num(13), num(14)), (1.0, 0.0));
    assert_eq!((num(15), num(16)), (60.0, 6.0));
    assert_eq!(f[17], env!("CARGO_PKG_VERSION"));
}

#[test]
fn auth_guards_the_traffic_pages_but_not_the_pac() {
    let proxy = locked();
    for path in ["/", "/status.json", "/metrics"] {
        let r = page(&proxy, "GET", path, "");
        assert_eq!(r.status, 401, "{path}");
        assert_eq!(
            r.header("www-authenticate").as_deref(),
            Some("Basic realm=\"smolproxy\""),
            "{path}"
        );
        assert!(!r.text().contains("smolproxy_"), "{path}: nothing leaks");
        let t = Instant::now();
        let wrong = page(&proxy, "GET", path, "Authorization: Basic YWxpY2U6eHg=\r\n");
        assert_eq!(wrong.status, 401, "{path}");
        assert!(
            t.elapsed() >= AUTH_FAIL_DELAY,
            "wrong password waits: {path}"
        );
        let ok = page(
            &proxy,
            "GET",
            path,
            &format!("Authorization: Basic {CREDS}\r\n"),
        );
        assert_eq!(ok.status, 200, "{path}");
        let ok = page(
            &proxy,
            "GET",
            path,
            &format!("Proxy-Authorization: Basic {CREDS}\r\n"),
        );
        assert_eq!(ok.status, 200, "{path}");
        // Through the proxy (absolute-form), the proxy's own challenge.
        let url = format!("http://{}{path}", proxy.addr);
        let r = send(proxy.addr, &get(&url));
        assert_eq!(r.status, 407, "{url}");
        assert!(r.header("proxy-authenticate").is_some(), "{url}");
        let extra = format!("Proxy-Authorization: Basic {CREDS}\r\n");
        assert_eq!(
            send(proxy.addr, &get_with(&url, &extra)).status,
            200,
            "{url}"
        );
    }
    for path in ["/proxy.pac", "/wpad.dat"] {
        let r = page(&proxy, "GET", path, "");
        assert_eq!(r.status, 200, "{path}");
        assert!(r.text().contains("FindProxyForURL"), "{path}");
    }
}

/// Evaluate `pac` with pacparser for each (url, host); the answers.
fn find_proxy(pac: &str, cases: &[(&str, &str)]) -> Vec<String> {
    let script = r#"
import sys, warnings
warnings.simplefilter("ignore")
import pacparser
pacparser.init()
pacparser.parse_pac_string(sys.stdin.read())
for arg in sys.argv[1:]:
    url, host = arg.split(" ")
    print(pacparser.find_proxy(url, host))
pacparser.cleanup()
"#;
    let args: Vec<String> = cases.iter().map(|(u, h)| format!("{u} {h}")).collect();
    let mut argv = vec!["-W", "ignore", "-c", script];
    argv.extend(args.iter().map(String::as_str));
    run("/usr/bin/python3", &argv, pac, "python3-pacparser (apt)")
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn pac_script_evaluated_by_pacparser() {
    let mut c = common::test_config();
    c.pac_direct = vec!["bank.example".into()];
    let proxy = common::start_with(c);
    let pac = page(&proxy, "GET", "/proxy.pac", "").text();
    assert_eq!(page(&proxy, "GET", "/wpad.dat", "").text(), pac);
    let via = format!("PROXY {}; DIRECT", proxy.addr);
    let cases: &[(&str, &str, &str)] = &[
        // A public name: never resolved, only passed to the script.
        ("http://example.com/", "example.com", &via),
        ("https://Example.COM/x", "Example.COM", &via),
        ("http://printer/", "printer", "DIRECT"),
        ("http://localhost:631/", "localhost", "DIRECT"),
        ("http://192.168.1.10/", "192.168.1.10", "DIRECT"),
        ("http://10.1.2.3/", "10.1.2.3", "DIRECT"),
        ("http://172.31.0.1/", "172.31.0.1", "DIRECT"),
        ("http://172.32.0.1/", "172.32.0.1", &via),
        ("http://127.0.0.1:8080/", "127.0.0.1", "DIRECT"),
        ("http://169.254.1.1/", "169.254.1.1", "DIRECT"),
        ("http://100.64.0.1/", "100.64.0.1", "DIRECT"),
        ("http://100.128.0.1/", "100.128.0.1", &via),
        ("http://93.184.215.14/", "93.184.215.14", &via),
        ("http://[fd12::1]/", "fd12::1", "DIRECT"),
        ("http://[fe80::1]/", "fe80::1", "DIRECT"),
        ("http://[::1]/", "::1", "DIRECT"),
        ("http://[2001:db8::1]/", "2001:db8::1", &via),
        ("http://nas.local/", "nas.local", "DIRECT"),
        ("http://router.lan/", "router.lan", "DIRECT"),
        ("http://tv.home.arpa/", "tv.home.arpa", "DIRECT"),
        // --pac-direct: the domain and its subdomains, not look-alikes.
        ("http://bank.example/", "bank.example", "DIRECT"),
        ("https://www.bank.example/", "www.bank.example", "DIRECT"),
        ("http://notbank.example/", "notbank.example", &via),
        ("http://bank.example.evil/", "bank.example.evil", &via),
    ];
    let asked: Vec<(&str, &str)> = cases.iter().map(|(u, h, _)| (*u, *h)).collect();
    let got = find_proxy(&pac, &asked);
    assert_eq!(got.len(), cases.len(), "{got:?}");
    for ((url, _, want), got) in cases.iter().zip(&got) {
        assert_eq!(got, want, "{url}");
    }
}

/// Load `url` in headless Chromium (no proxy: the page is asked for
/// directly, as a person types it): (DOM, screenshot written?).
fn chromium(url: &str, shot: Option<&std::path::Path>) -> String {
    let profile = TempDir::new("chromium");
    let mut cmd = Command::new("chromium");
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=412,1400",
        "--virtual-time-budget=3000",
    ])
    .arg(format!("--user-data-dir={}", profile.path().display()));
    match shot {
        Some(p) => cmd.arg(format!("--screenshot={}", p.display())),
        None => cmd.arg("--dump-dom"),
    };
    let out = cmd
        .arg(url)
        .output()
        .expect("chromium must be installed (make test installs it)");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The number in the dashboard's `requests-total` card.
fn requests_shown(dom: &str) -> Option<u64> {
    let at = dom.find("id=\"requests-total\">")? + "id=\"requests-total\">".len();
    dom[at..].split('<').next()?.trim().parse().ok()
}

fn traffic(proxy: &Proxy, n: usize) {
    let origin = Origin::echo();
    for i in 0..n {
        assert_eq!(
            send(proxy.addr, &get(&origin.url(&format!("/{i}")))).status,
            200
        );
    }
    settle();
}

#[test]
fn chromium_renders_the_dashboard() {
    let proxy = common::start();
    traffic(&proxy, 5);
    let url = format!("http://{}/", proxy.addr);
    let dom = chromium(&url, None);
    let shown = requests_shown(&dom).unwrap_or_else(|| panic!("no request count: {dom}"));
    // The browser may have asked for more (a favicon), never for less.
    assert!((5..=8).contains(&shown), "{shown}: {dom}");
    assert!(dom.contains("<svg"), "{dom}");
    assert!(dom.contains("Top clients by bytes"), "{dom}");
    let shot = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("dashboard.png");
    let _ = std::fs::remove_file(&shot);
    chromium(&url, Some(&shot));
    let png = std::fs::read(&shot).expect("screenshot written");
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 5000,
        "{}",
        png.len()
    );
}

#[test]
fn chromium_renders_the_dashboard_with_auth() {
    let proxy = locked();
    traffic_locked(&proxy, 4);
    let SocketAddr::V4(a) = proxy.addr else {
        panic!("IPv4 test address")
    };
    let dom = chromium(&format!("http://{a}/"), None);
    assert_eq!(
        requests_shown(&dom),
        None,
        "no count without credentials: {dom}"
    );
    let url = format!("http://alice:pw@{a}/");
    let dom = chromium(&url, None);
    let shown = requests_shown(&dom).unwrap_or_else(|| panic!("no request count: {dom}"));
    assert!((4..=10).contains(&shown), "{shown}: {dom}");
    let shot = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("dashboard-auth.png");
    let _ = std::fs::remove_file(&shot);
    chromium(&url, Some(&shot));
    let png = std::fs::read(&shot).expect("screenshot written");
    assert!(png.starts_with(b"\x89PNG"), "a PNG");
}

fn traffic_locked(proxy: &Proxy, n: usize) {
    let origin = Origin::echo();
    let extra = format!("Proxy-Authorization: Basic {CREDS}\r\n");
    for i in 0..n {
        let r = send(proxy.addr, &get_with(&origin.url(&format!("/{i}")), &extra));
        assert_eq!(r.status, 200);
    }
    settle();
}

#[test]
fn pac_over_ipv6_names_the_bracketed_address_reached() {
    // Not a skip: every machine this runs on has ::1 (as tests/connect.rs).
    let mut c = common::test_config();
    c.listen = vec!["[::1]:0".parse().unwrap()];
    let proxy = common::start_with(c);
    assert!(proxy.addr.is_ipv6());
    let pac = page(&proxy, "GET", "/proxy.pac", "").text();
    let via = format!("PROXY [::1]:{}; DIRECT", proxy.addr.port());
    let got = find_proxy(&pac, &[("http://example.com/", "example.com")]);
    assert_eq!(got, [via]);
    // Absolute-form to the bracketed own address: the page, not a loop.
    let r = send(
        proxy.addr,
        &get(&format!("http://{}/status.json", proxy.addr)),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.text().contains("\"requests\""), "{}", r.text());
}
