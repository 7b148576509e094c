//! The shared cache (issue 11) end to end, over loopback: hits after a
//! miss with one origin fetch, Age and Cache-Status, HEAD from a stored
//! GET, what must not be served (no-store, private, Authorization), Vary
//! variants, revalidation with 304 (validators sent, stored head updated),
//! a client's conditional answered 304 from the cache, invalidation by
//! POST, ranges (206, 416), chunked responses stored with a length, cut
//! responses not stored, misses streamed as they arrive, collapsed
//! concurrent misses, and the bound on disk under a stream of new objects.

mod common;

use std::io::{BufReader, Read, Write};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::client::{Response, read_head, read_response};
use common::files::TempDir;
use common::origin::Origin;
use common::{Config, Proxy, start_with, test_config};
use smolproxy::config::CacheConfig;

fn config(dir: &TempDir, max_bytes: u64) -> Config {
    let mut c = test_config();
    c.cache = Some(CacheConfig {
        dir: dir.path().into(),
        max_bytes,
        mem_bytes: 1 << 20,
    });
    c
}

fn cached_proxy(dir: &TempDir) -> Proxy {
    start_with(config(dir, 64 << 20))
}

/// `METHOD url` through the proxy with `extra` field lines, on a new
/// connection.
fn ask(p: &Proxy, method: &str, url: &str, extra: &str) -> Response {
    let host = url.trim_start_matches("http://").split('/').next().unwrap();
    let req =
        format!("{method} {url} HTTP/1.1\r\nHost: {host}\r\n{extra}Connection: close\r\n\r\n");
    let mut s = p.connect();
    s.write_all(req.as_bytes()).unwrap();
    read_response(&mut BufReader::new(s), method == "HEAD").expect("response")
}

fn get(p: &Proxy, url: &str) -> Response {
    ask(p, "GET", url, "")
}

/// An origin answering every request with `fields` and `body`.
fn origin(fields: &'static str, body: &'static str) -> Origin {
    Origin::scripted(move |_| {
        format!(
            "HTTP/1.1 200 OK\r\n{fields}Content-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .into_bytes()
    })
}

fn status(r: &Response) -> String {
    r.header("cache-status").unwrap_or_default()
}

#[test]
fn a_hit_after_a_miss_asks_the_origin_once() {
    let dir = TempDir::new("cache-hit");
    let p = cached_proxy(&dir);
    let o = origin(
        "Cache-Control: max-age=600\r\nETag: \"v1\"\r\n",
        "hello cache",
    );
    let url = o.url("/a.txt");
    let first = get(&p, &url);
    assert_eq!(first.status, 200);
    assert_eq!(first.text(), "hello cache");
    assert_eq!(status(&first), "smolproxy; fwd=uri-miss; stored");
    let second = get(&p, &url);
    assert_eq!(second.status, 200);
    assert_eq!(second.text(), "hello cache");
    assert_eq!(status(&second), "smolproxy; hit");
    assert_eq!(second.header("content-length").as_deref(), Some("11"));
    assert_eq!(second.header("etag").as_deref(), Some("\"v1\""));
    let age: u64 = second.header("age").expect("Age on a hit").parse().unwrap();
    assert!(age <= 2, "age {age}");
    assert_eq!(o.count("GET /a.txt"), 1, "the second came from the cache");
    // HEAD answered from the stored GET: the head alone, its length.
    let head = ask(&p, "HEAD", &url, "");
    assert_eq!(head.status, 200);
    assert_eq!(head.header("content-length").as_deref(), Some("11"));
    assert_eq!(status(&head), "smolproxy; hit");
    assert!(head.body.is_empty());
    assert_eq!(
        o.seen.lock().unwrap().len(),
        1,
        "HEAD did not reach the origin"
    );
}

#[test]
fn what_must_not_be_shared_is_fetched_every_time() {
    let dir = TempDir::new("cache-private");
    let p = cached_proxy(&dir);
    let cases: [(&str, &'static str, &str); 3] = [
        ("/no-store", "Cache-Control: no-store\r\n", ""),
        ("/private", "Cache-Control: private, max-age=600\r\n", ""),
        (
            "/auth",
            "Cache-Control: max-age=600\r\n",
            "Authorization: Basic dTpw\r\n",
        ),
    ];
    for (path, fields, extra) in cases {
        let o = origin(fields, "secret");
        for _ in 0..2 {
            let r = ask(&p, "GET", &o.url(path), extra);
            assert_eq!(r.text(), "secret");
            assert!(!status(&r).contains("hit"), "{path}: {}", r.head);
        }
        assert_eq!(o.count(path), 2, "{path} reached the origin each time");
    }
}

#[test]
fn vary_keeps_one_variant_per_request_field() {
    let dir = TempDir::new("cache-vary");
    let p = cached_proxy(&dir);
    let o = Origin::scripted(|head| {
        let fr = head.contains("Accept-Language: fr");
        let body = if fr { "bonjour" } else { "hello" };
        format!(
            "HTTP/1.1 200 OK\r\nCache-Control: max-age=600\r\nVary: Accept-Language\r\n\
             Content-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .into_bytes()
    });
    let url = o.url("/greeting");
    for _ in 0..2 {
        assert_eq!(
            ask(&p, "GET", &url, "Accept-Language: en\r\n").text(),
            "hello"
        );
        assert_eq!(
            ask(&p, "GET", &url, "Accept-Language: fr\r\n").text(),
            "bonjour"
        );
    }
    assert_eq!(o.count("GET /greeting"), 2, "one fetch per variant");
    let r = ask(&p, "GET", &url, "Accept-Language: fr\r\n");
    assert_eq!(status(&r), "smolproxy; hit");
    let other = ask(&p, "GET", &url, "Accept-Language: de\r\n");
    assert_eq!(status(&other), "smolproxy; fwd=vary-miss; stored");
}

#[test]
fn stale_entries_are_revalidated_and_a_304_updates_them() {
    let dir = TempDir::new("cache-reval");
    let p = cached_proxy(&dir);
    let n = Arc::new(AtomicUsize::new(0));
    let k = n.clone();
    let o = Origin::scripted(move |head| {
        let i = k.fetch_add(1, Ordering::SeqCst);
        if i == 0 {
            b"HTTP/1.1 200 OK\r\nCache-Control: no-cache\r\nETag: \"v1\"\r\nX-Version: 1\r\n\
              Content-Length: 4\r\n\r\nbody"
                .to_vec()
        } else if head.contains("If-None-Match: \"v1\"") {
            // Only the first 304 carries a new X-Version.
            let v = if i == 1 { "X-Version: 2\r\n" } else { "" };
            format!("HTTP/1.1 304 Not Modified\r\nETag: \"v1\"\r\n{v}\r\n").into_bytes()
        } else {
            b"HTTP/1.1 500 No\r\nContent-Length: 0\r\n\r\n".to_vec()
        }
    });
    let url = o.url("/Release");
    assert_eq!(get(&p, &url).text(), "body");
    let second = get(&p, &url);
    assert_eq!(second.status, 200);
    assert_eq!(second.text(), "body");
    assert_eq!(status(&second), "smolproxy; fwd=stale; fwd-status=304");
    assert_eq!(second.header("x-version").as_deref(), Some("2"));
    let third = get(&p, &url);
    assert_eq!(third.text(), "body");
    assert_eq!(
        third.header("x-version").as_deref(),
        Some("2"),
        "the 304 was stored"
    );
    assert_eq!(
        o.count("If-None-Match: \"v1\""),
        2,
        "{:?}",
        o.seen.lock().unwrap()
    );
    // A client's own condition that matches: 304 from the cache (after
    // the revalidation this entry needs).
    let cond = ask(&p, "GET", &url, "If-None-Match: \"v1\"\r\n");
    assert_eq!(cond.status, 304);
    assert!(cond.body.is_empty());
}

#[test]
fn a_clients_conditional_is_answered_from_a_fresh_entry() {
    let dir = TempDir::new("cache-cond");
    let p = cached_proxy(&dir);
    let o = origin(
        "Cache-Control: max-age=600\r\nETag: \"e7\"\r\n",
        "0123456789",
    );
    let url = o.url("/c");
    get(&p, &url);
    let r = ask(&p, "GET", &url, "If-None-Match: W/\"e7\"\r\n");
    assert_eq!(r.status, 304);
    assert_eq!(r.header("etag").as_deref(), Some("\"e7\""));
    assert_eq!(status(&r), "smolproxy; hit");
    let r = ask(&p, "GET", &url, "If-None-Match: \"other\"\r\n");
    assert_eq!((r.status, r.text().as_str()), (200, "0123456789"));
    assert_eq!(o.seen.lock().unwrap().len(), 1);
}

#[test]
fn ranges_are_cut_from_the_stored_body() {
    let dir = TempDir::new("cache-range");
    let p = cached_proxy(&dir);
    let o = origin("Cache-Control: max-age=600\r\n", "0123456789");
    let url = o.url("/r");
    get(&p, &url);
    let r = ask(&p, "GET", &url, "Range: bytes=2-5\r\n");
    assert_eq!(r.status, 206);
    assert_eq!(r.text(), "2345");
    assert_eq!(r.header("content-range").as_deref(), Some("bytes 2-5/10"));
    let r = ask(&p, "GET", &url, "Range: bytes=-3\r\n");
    assert_eq!((r.status, r.text().as_str()), (206, "789"));
    let r = ask(&p, "GET", &url, "Range: bytes=20-30\r\n");
    assert_eq!(r.status, 416);
    assert_eq!(r.header("content-range").as_deref(), Some("bytes */10"));
    assert_eq!(o.seen.lock().unwrap().len(), 1);
}

#[test]
fn post_invalidates_the_stored_uri() {
    let dir = TempDir::new("cache-post");
    let p = cached_proxy(&dir);
    let o = origin("Cache-Control: max-age=600\r\n", "doc");
    let url = o.url("/doc");
    get(&p, &url);
    assert_eq!(status(&get(&p, &url)), "smolproxy; hit");
    let r = ask(&p, "POST", &url, "Content-Length: 0\r\n");
    assert_eq!(r.status, 200);
    assert_eq!(status(&r), "smolproxy; fwd=method");
    assert_eq!(status(&get(&p, &url)), "smolproxy; fwd=uri-miss; stored");
    assert_eq!(o.count("GET /doc"), 2);
}

#[test]
fn chunked_responses_are_stored_with_a_length_and_cut_ones_not_at_all() {
    let dir = TempDir::new("cache-chunked");
    let p = cached_proxy(&dir);
    let o = Origin::scripted(|head| {
        if head.starts_with("GET /cut") {
            b"HTTP/1.1 200 OK\r\nCache-Control: max-age=600\r\nConnection: close\r\n\
              Content-Length: 100\r\n\r\nonly part"
                .to_vec()
        } else {
            b"HTTP/1.1 200 OK\r\nCache-Control: max-age=600\r\nTransfer-Encoding: chunked\r\n\r\n\
              5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
                .to_vec()
        }
    });
    let first = get(&p, &o.url("/chunked"));
    assert_eq!(first.text(), "hello world");
    let hit = get(&p, &o.url("/chunked"));
    assert_eq!(hit.text(), "hello world");
    assert_eq!(hit.header("content-length").as_deref(), Some("11"));
    assert!(hit.header("transfer-encoding").is_none());
    assert_eq!(o.count("GET /chunked"), 1);
    for _ in 0..2 {
        // The origin closes after 9 of 100 bytes: the client's response is
        // cut short too, and nothing is stored.
        let mut s = p.connect();
        s.write_all(format!("GET {} HTTP/1.1\r\nHost: x\r\n\r\n", o.url("/cut")).as_bytes())
            .unwrap();
        let mut all = Vec::new();
        let _ = s.read_to_end(&mut all);
        assert!(String::from_utf8_lossy(&all).ends_with("only part"));
    }
    assert_eq!(
        o.count("GET /cut"),
        2,
        "a cut response was not served again"
    );
}

/// An origin that sends the head and the first half of a `len`-byte body
/// (`a`s), then waits for `go` (at most 10 s) before the rest (`b`s).
fn slow_origin(go: mpsc::Receiver<()>, len: usize) -> Origin {
    let go = Mutex::new(go);
    Origin::raw(move |stream, seen| {
        let mut r = BufReader::new(stream.try_clone().unwrap());
        let mut w = stream;
        let Ok((head, _)) = common::client::read_request(&mut r) else {
            return;
        };
        seen.lock().unwrap().push(head);
        let first = format!(
            "HTTP/1.1 200 OK\r\nCache-Control: max-age=600\r\nContent-Length: {len}\r\n\r\n"
        );
        let _ = w.write_all(first.as_bytes());
        let _ = w.write_all(&vec![b'a'; len / 2]);
        let _ = go.lock().unwrap().recv_timeout(Duration::from_secs(10));
        let _ = w.write_all(&vec![b'b'; len - len / 2]);
    })
}

#[test]
fn a_miss_streams_to_the_client_before_the_origin_has_finished() {
    let dir = TempDir::new("cache-stream");
    let p = cached_proxy(&dir);
    let (go, wait) = mpsc::channel();
    let len = 200_000;
    let o = slow_origin(wait, len);
    let mut s = p.connect();
    s.write_all(format!("GET {} HTTP/1.1\r\nHost: x\r\n\r\n", o.url("/big")).as_bytes())
        .unwrap();
    let mut r = BufReader::new(s);
    let head = read_head(&mut r).unwrap();
    assert!(head.contains("fwd=uri-miss; stored"), "{head}");
    let mut half = vec![0; len / 2];
    // The origin sends the rest only once the test has the first half.
    r.read_exact(&mut half)
        .expect("the first half before the rest was sent");
    assert!(half.iter().all(|&b| b == b'a'));
    go.send(()).unwrap();
    let mut rest = vec![0; len - len / 2];
    r.read_exact(&mut rest).unwrap();
    assert!(rest.iter().all(|&b| b == b'b'));
    // Stored once the leader's exchange ends (until then a request follows it).
    let mut hit = get(&p, &o.url("/big"));
    let t = Instant::now();
    while status(&hit) != "smolproxy; hit" && t.elapsed() < Duration::from_secs(5) {
        assert_eq!(status(&hit), "smolproxy; fwd=uri-miss; collapsed");
        std::thread::sleep(Duration::from_millis(20));
        hit = get(&p, &o.url("/big"));
    }
    assert_eq!(status(&hit), "smolproxy; hit");
    assert_eq!(hit.body.len(), len);
    assert_eq!(&hit.body[len / 2 - 1..len / 2 + 1], b"ab");
}

#[test]
fn concurrent_misses_collapse_onto_one_fetch() {
    let dir = TempDir::new("cache-collapse");
    let p = Arc::new(cached_proxy(&dir));
    let (go, wait) = mpsc::channel();
    let len = 300_000;
    let o = slow_origin(wait, len);
    let url = o.url("/pkg.deb");
    let started = Instant::now();
    let clients: Vec<_> = (0..20)
        .map(|_| {
            let (p, url) = (p.clone(), url.clone());
            std::thread::spawn(move || get(&p, &url))
        })
        .collect();
    // All 20 are in while the origin holds back the second half.
    let fetching = || !o.seen.lock().unwrap().is_empty();
    assert!(common::eventually(Duration::from_secs(5), fetching));
    std::thread::sleep(Duration::from_millis(500));
    go.send(()).unwrap();
    let mut want = vec![b'a'; len / 2];
    want.resize(len, b'b');
    let mut collapsed = 0;
    for c in clients {
        let r = c.join().unwrap();
        assert_eq!(r.status, 200);
        assert!(r.body == want, "a body differs ({} bytes)", r.body.len());
        collapsed += usize::from(status(&r).contains("collapsed"));
    }
    assert_eq!(o.seen.lock().unwrap().len(), 1, "one fetch upstream");
    assert!(collapsed >= 1, "the others followed the one fetch");
    assert!(started.elapsed() < Duration::from_secs(20));
}

/// Kilobytes `dir` takes on disk, as `du -sk` counts them.
fn du_kib(dir: &std::path::Path) -> u64 {
    let out = Command::new("du").arg("-sk").arg(dir).output().expect("du");
    let text = String::from_utf8_lossy(&out.stdout);
    text.split_whitespace().next().unwrap().parse().unwrap()
}

#[test]
fn a_full_cache_stays_within_its_size() {
    let dir = TempDir::new("cache-bound");
    let max = 2 << 20;
    let p = start_with(config(&dir, max));
    let o = Origin::scripted(|head| {
        let mut out =
            b"HTTP/1.1 200 OK\r\nCache-Control: max-age=600\r\nContent-Length: 100000\r\n\r\n"
                .to_vec();
        let tag = head.split_whitespace().nth(1).unwrap_or("").as_bytes()[1];
        out.resize(out.len() + 100_000, tag);
        out
    });
    let mut most = 0;
    for i in 0..60 {
        let r = get(
            &p,
            &o.url(&format!("/{}/obj", (b'a' + (i % 26) as u8) as char)),
        );
        assert_eq!(r.body.len(), 100_000);
        let used = du_kib(dir.path());
        most = most.max(used);
        assert!(
            used * 1024 <= max,
            "{used} KiB on disk after {i} objects, bound {} KiB",
            max / 1024
        );
    }
    assert!(most * 1024 > max / 2, "the cache filled up ({most} KiB)");
}

#[test]
fn collapsed_requests_get_only_their_own_variant() {
    let dir = TempDir::new("cache-collapse-vary");
    let p = Arc::new(cached_proxy(&dir));
    let o = Origin::scripted(|head| {
        // Slow enough that the requests overlap.
        std::thread::sleep(Duration::from_millis(300));
        let body = if head.contains("Accept-Language: fr") {
            "bonjour"
        } else {
            "hello"
        };
        format!(
            "HTTP/1.1 200 OK\r\nCache-Control: max-age=600\r\nVary: Accept-Language\r\n\
             Content-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .into_bytes()
    });
    let url = o.url("/v");
    let clients: Vec<_> = (0..10)
        .map(|i| {
            let (p, url) = (p.clone(), url.clone());
            let lang = if i % 2 == 0 { "en" } else { "fr" };
            std::thread::spawn(move || {
                let r = ask(&p, "GET", &url, &format!("Accept-Language: {lang}\r\n"));
                (lang, r.text())
            })
        })
        .collect();
    for c in clients {
        let (lang, body) = c.join().unwrap();
        assert_eq!(body, if lang == "fr" { "bonjour" } else { "hello" });
    }
}

#[test]
fn through_a_parent_proxy_the_cache_works_the_same() {
    let parent = common::start();
    let dir = TempDir::new("cache-parent");
    let mut c = config(&dir, 64 << 20);
    c.upstream = Some(common::Parent::parse(&format!("http://{}", parent.addr)).unwrap());
    let p = start_with(c);
    let o = origin("Cache-Control: max-age=600\r\n", "via the parent");
    let url = o.url("/p");
    assert_eq!(status(&get(&p, &url)), "smolproxy; fwd=uri-miss; stored");
    let hit = get(&p, &url);
    assert_eq!(
        (status(&hit).as_str(), hit.text().as_str()),
        ("smolproxy; hit", "via the parent")
    );
    assert_eq!(o.count("GET /p"), 1);
    let head = o.seen.lock().unwrap()[0].clone();
    assert_eq!(head.matches("smolproxy").count(), 2, "through both: {head}");
}
