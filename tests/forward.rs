//! Plain-HTTP forwarding over real loopback sockets: rewriting, hop-by-hop
//! removal, keep-alive and upstream reuse, pipelining, every body framing,
//! 100-continue, upgrades, and each error status.
mod common;

use std::io::{BufReader, Read, Write};
use std::net::Shutdown;
use std::sync::atomic::Ordering;
use std::time::Duration;

use common::client::{get, read_head, read_request, read_response};
use common::origin::Origin;

#[test]
fn rewrites_to_origin_form_and_strips_hop_by_hop() {
    let origin = Origin::echo();
    let proxy = common::start();
    let req = format!(
        "GET {} HTTP/1.1\r\nHost: wrong.example\r\nConnection: keep-alive, X-Hop\r\nX-Hop: 1\r\n\
         Proxy-Connection: keep-alive\r\nKeep-Alive: 300\r\nTE: gzip\r\nTrailer: X\r\n\
         Proxy-Authorization: Basic c2VjcmV0\r\nX-Keep: yes\r\n\r\n",
        origin.url("/a/b?c=1&d=%20#frag")
    );
    let r = proxy.roundtrip(req.as_bytes());
    assert_eq!(r.status, 200);
    assert_eq!(
        r.text(),
        "GET /a/b?c=1&d=%20\n",
        "path and query exact, fragment dropped"
    );
    assert!(r.header("via").unwrap().contains("1.1 smolproxy"));
    let seen = origin.seen.lock().unwrap()[0].clone();
    assert!(
        seen.starts_with("GET /a/b?c=1&d=%20 HTTP/1.1\r\n"),
        "{seen}"
    );
    assert!(
        seen.contains(&format!("Host: {}\r\n", origin.addr)),
        "{seen}"
    );
    assert!(seen.contains("X-Keep: yes\r\n"));
    assert!(seen.contains("Via: 1.1 smolproxy\r\n"));
    for gone in [
        "wrong.example",
        "X-Hop",
        "Proxy-Connection",
        "Keep-Alive",
        "TE:",
        "Trailer",
        "Proxy-Authorization",
        "c2VjcmV0",
    ] {
        assert!(!seen.contains(gone), "{gone} forwarded: {seen}");
    }
}

#[test]
fn no_via_flag() {
    let origin = Origin::echo();
    let mut c = common::test_config();
    c.via = false;
    let proxy = common::start_with(c);
    let r = proxy.roundtrip(&get(&origin.url("/")));
    assert_eq!(r.status, 200);
    assert!(r.header("via").is_none());
    assert!(!origin.seen.lock().unwrap()[0].contains("Via"));
}

#[test]
fn keep_alive_reuses_the_upstream_connection() {
    let origin = Origin::echo();
    let proxy = common::start();
    let s = proxy.connect();
    let mut r = BufReader::new(s.try_clone().unwrap());
    let mut w = s;
    for i in 0..5 {
        w.write_all(&get(&origin.url(&format!("/{i}")))).unwrap();
        let resp = read_response(&mut r, false).unwrap();
        assert_eq!(resp.text(), format!("GET /{i}\n"));
        assert!(
            resp.header("connection").is_none(),
            "HTTP/1.1 keep-alive is implicit"
        );
    }
    assert_eq!(
        origin.connections.load(Ordering::SeqCst),
        1,
        "one upstream connection reused"
    );
}

#[test]
fn pipelined_requests_are_answered_in_order() {
    let origin = Origin::echo();
    let proxy = common::start();
    let s = proxy.connect();
    let mut all = Vec::new();
    for i in 0..4 {
        all.extend_from_slice(&get(&origin.url(&format!("/p{i}"))));
    }
    let post = format!(
        "POST {} HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello",
        origin.url("/post")
    );
    all.extend_from_slice(post.as_bytes());
    (&s).write_all(&all).unwrap();
    let mut r = BufReader::new(s);
    for i in 0..4 {
        assert_eq!(
            read_response(&mut r, false).unwrap().text(),
            format!("GET /p{i}\n")
        );
    }
    assert_eq!(
        read_response(&mut r, false).unwrap().text(),
        "POST /post\nhello"
    );
}

#[test]
fn content_length_and_chunked_request_bodies_stream_through() {
    let origin = Origin::echo();
    let proxy = common::start();
    let body: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    let mut req = format!(
        "PUT {} HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
        origin.url("/cl"),
        body.len()
    )
    .into_bytes();
    req.extend_from_slice(&body);
    let r = proxy.roundtrip(&req);
    assert_eq!(&r.body[..8], b"PUT /cl\n");
    assert_eq!(&r.body[8..], &body[..]);

    let req = format!(
        "POST {} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-T: 1\r\n\r\n",
        origin.url("/ch")
    );
    let r = proxy.roundtrip(req.as_bytes());
    assert_eq!(r.text(), "POST /ch\nhello world");
    let seen = origin.seen.lock().unwrap().last().unwrap().clone();
    assert!(seen.contains("Transfer-Encoding: chunked"), "{seen}");
    assert!(!seen.contains("Content-Length"), "{seen}");
}

#[test]
fn chunked_response_passes_through_and_is_dechunked_for_http10() {
    let reply: &'static [u8] =
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n4;x=y\r\ndefg\r\n0\r\n\r\n";
    let origin = Origin::fixed(reply);
    let proxy = common::start();
    let r = proxy.roundtrip(&get(&origin.url("/")));
    assert_eq!(r.header("transfer-encoding").as_deref(), Some("chunked"));
    assert_eq!(r.text(), "abcdefg");

    let origin = Origin::fixed(reply);
    let mut s = proxy.connect();
    write!(s, "GET {} HTTP/1.0\r\n\r\n", origin.url("/")).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let raw = String::from_utf8(raw).unwrap();
    assert!(raw.starts_with("HTTP/1.1 200 OK\r\n"), "{raw}");
    assert!(
        !raw.to_ascii_lowercase().contains("transfer-encoding"),
        "{raw}"
    );
    assert!(raw.contains("Connection: close\r\n"), "{raw}");
    assert!(raw.ends_with("\r\n\r\nabcdefg"), "{raw}");
}

#[test]
fn close_delimited_response_ends_with_the_connection() {
    let origin = Origin::fixed(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end");
    let proxy = common::start();
    let mut s = proxy.connect();
    s.write_all(&get(&origin.url("/"))).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let raw = String::from_utf8(raw).unwrap();
    assert!(raw.contains("Connection: close\r\n"), "{raw}");
    assert!(raw.ends_with("\r\n\r\nuntil the end"), "{raw}");
}

#[test]
fn http10_keep_alive_is_honoured() {
    let origin = Origin::echo();
    let proxy = common::start();
    let s = proxy.connect();
    let mut r = BufReader::new(s.try_clone().unwrap());
    let mut w = s;
    for i in 0..2 {
        write!(
            w,
            "GET {} HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
            origin.url(&format!("/{i}"))
        )
        .unwrap();
        let resp = read_response(&mut r, false).unwrap();
        assert_eq!(resp.header("connection").as_deref(), Some("keep-alive"));
        assert_eq!(resp.text(), format!("GET /{i}\n"));
    }
    // Without keep-alive an HTTP/1.0 connection closes after the response.
    write!(w, "GET {} HTTP/1.0\r\n\r\n", origin.url("/last")).unwrap();
    let resp = read_response(&mut r, false).unwrap();
    assert_eq!(resp.header("connection").as_deref(), Some("close"));
    let mut rest = Vec::new();
    assert_eq!(r.read_to_end(&mut rest).unwrap(), 0);
}

#[test]
fn head_204_and_304_have_no_body_and_keep_the_connection() {
    let origin = Origin::raw(|stream, _| {
        let mut r = BufReader::new(stream.try_clone().unwrap());
        let mut w = stream;
        let replies: [&[u8]; 3] = [
            b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n",
            b"HTTP/1.1 204 No Content\r\n\r\n",
            b"HTTP/1.1 304 Not Modified\r\nContent-Length: 50\r\n\r\n",
        ];
        for reply in replies {
            if read_request(&mut r).is_err() {
                return;
            }
            w.write_all(reply).unwrap();
        }
        let _ = read_request(&mut r);
        w.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            .unwrap();
    });
    let proxy = common::start();
    let s = proxy.connect();
    let mut r = BufReader::new(s.try_clone().unwrap());
    let mut w = s;
    write!(w, "HEAD {} HTTP/1.1\r\nHost: x\r\n\r\n", origin.url("/")).unwrap();
    let resp = read_response(&mut r, true).unwrap();
    assert_eq!(
        (resp.status, resp.header("content-length").as_deref()),
        (200, Some("100"))
    );
    for want in [204, 304] {
        w.write_all(&get(&origin.url("/"))).unwrap();
        let resp = read_response(&mut r, true).unwrap();
        assert_eq!(resp.status, want);
    }
    w.write_all(&get(&origin.url("/"))).unwrap();
    assert_eq!(read_response(&mut r, false).unwrap().text(), "ok");
}

#[test]
fn expect_100_continue_is_relayed() {
    let origin = Origin::raw(|stream, _| {
        let mut r = BufReader::new(stream.try_clone().unwrap());
        let mut w = stream;
        let head = read_head(&mut r).unwrap();
        assert!(head.contains("Expect: 100-continue"));
        w.write_all(b"HTTP/1.1 100 Continue\r\n\r\n").unwrap();
        let mut body = [0u8; 4];
        r.read_exact(&mut body).unwrap();
        w.write_all(b"HTTP/1.1 201 Created\r\nContent-Length: 4\r\n\r\n")
            .unwrap();
        w.write_all(&body).unwrap();
    });
    let proxy = common::start();
    let s = proxy.connect();
    let mut r = BufReader::new(s.try_clone().unwrap());
    let mut w = s;
    write!(
        w,
        "POST {} HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n",
        origin.url("/")
    )
    .unwrap();
    // The client waits for the interim response before sending the body.
    let interim = read_head(&mut r).unwrap();
    assert!(
        interim.starts_with("HTTP/1.1 100 Continue\r\n"),
        "{interim}"
    );
    w.write_all(b"data").unwrap();
    let resp = read_response(&mut r, false).unwrap();
    assert_eq!((resp.status, resp.text().as_str()), (201, "data"));
}

#[test]
fn early_final_response_closes_unread_upload() {
    // The origin answers 413 without reading the body; the client's
    // connection cannot be reused, since its body was not consumed.
    let origin = Origin::raw(|stream, _| {
        let mut r = BufReader::new(stream.try_clone().unwrap());
        let _ = read_head(&mut r);
        let mut w = stream;
        let _ = w.write_all(
            b"HTTP/1.1 413 Content Too Large\r\nContent-Length: 3\r\nConnection: close\r\n\r\nbig",
        );
        std::thread::sleep(Duration::from_millis(300));
    });
    let proxy = common::start();
    let mut s = proxy.connect();
    write!(
        s,
        "POST {} HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\nstart",
        origin.url("/")
    )
    .unwrap();
    let mut r = BufReader::new(s);
    let resp = read_response(&mut r, false).unwrap();
    assert_eq!(resp.status, 413);
    assert_eq!(resp.text(), "big");
    let mut rest = Vec::new();
    assert_eq!(
        r.read_to_end(&mut rest).unwrap_or(0),
        0,
        "connection closed after"
    );
}

#[test]
fn websocket_upgrade_relays_both_ways() {
    let origin = Origin::raw(|stream, seen| {
        let mut r = BufReader::new(stream.try_clone().unwrap());
        let head = read_head(&mut r).unwrap();
        seen.lock().unwrap().push(head);
        let mut w = stream;
        w.write_all(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\nhi").unwrap();
        let mut buf = [0u8; 5];
        r.read_exact(&mut buf).unwrap();
        w.write_all(&buf).unwrap();
    });
    let proxy = common::start();
    let s = proxy.connect();
    let mut r = BufReader::new(s.try_clone().unwrap());
    let mut w = s;
    write!(
        w,
        "GET {} HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: k\r\n\r\n",
        origin.url("/ws")
    )
    .unwrap();
    let head = read_head(&mut r).unwrap();
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    assert!(head.contains("Upgrade: websocket\r\n"), "{head}");
    let mut hi = [0u8; 2];
    r.read_exact(&mut hi).unwrap();
    assert_eq!(&hi, b"hi");
    w.write_all(b"frame").unwrap();
    let mut echo = [0u8; 5];
    r.read_exact(&mut echo).unwrap();
    assert_eq!(&echo, b"frame");
    let seen = origin.seen.lock().unwrap()[0].clone();
    assert!(
        seen.contains("Upgrade: websocket\r\n") && seen.contains("Connection: Upgrade\r\n"),
        "{seen}"
    );
}

#[test]
fn error_statuses() {
    let origin = Origin::echo();
    let proxy = common::start();
    let big = format!(
        "GET {} HTTP/1.1\r\nHost: x\r\nX: {}\r\n\r\n",
        origin.url("/"),
        "a".repeat(70_000)
    );
    let long = format!(
        "GET {} HTTP/1.1\r\nHost: x\r\n\r\n",
        origin.url(&format!("/{}", "a".repeat(9000)))
    );
    let many: String = (0..150).map(|i| format!("X-{i}: v\r\n")).collect();
    let many = format!("GET {} HTTP/1.1\r\nHost: x\r\n{many}\r\n", origin.url("/"));
    let cases: Vec<(&str, Vec<u8>, u16, &str)> = vec![
        ("garbage", b"hello there\r\n\r\n".to_vec(), 400, "malformed"),
        ("https absolute", b"GET https://localhost/ HTTP/1.1\r\nHost: localhost\r\n\r\n".to_vec(), 501, "CONNECT"),
        ("ftp", b"GET ftp://localhost/ HTTP/1.1\r\nHost: localhost\r\n\r\n".to_vec(), 501, "only http"),
        ("version", b"GET http://localhost/ HTTP/2.0\r\n\r\n".to_vec(), 505, "HTTP/1.0 and HTTP/1.1"),
        ("no host", format!("GET {} HTTP/1.1\r\n\r\n", origin.url("/")).into_bytes(), 400, "missing Host"),
        ("two hosts", format!("GET {} HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", origin.url("/")).into_bytes(), 400, "more than one Host"),
        ("userinfo", b"GET http://u:p@localhost/ HTTP/1.1\r\nHost: localhost\r\n\r\n".to_vec(), 400, "userinfo"),
        ("cl+te", format!("POST {} HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", origin.url("/")).into_bytes(), 400, "both"),
        ("two cl", format!("POST {} HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n", origin.url("/")).into_bytes(), 400, "conflicting"),
        ("gzip te", format!("POST {} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", origin.url("/")).into_bytes(), 501, "Transfer-Encoding"),
        ("head too large", big.into_bytes(), 431, "too large"),
        ("too many fields", many.into_bytes(), 431, "too large"),
        ("uri too long", long.into_bytes(), 414, "too long"),
        ("endless first line", format!("GET /{}", "a".repeat(12_000)).into_bytes(), 414, "too long"),
        ("dns failure", b"GET http://nxdomain.test/ HTTP/1.1\r\nHost: nxdomain.test\r\n\r\n".to_vec(), 502, "could not resolve host nxdomain.test"),
        ("refused", b"GET http://127.0.0.1:1/ HTTP/1.1\r\nHost: 127.0.0.1:1\r\n\r\n".to_vec(), 502, "connection refused"),
        ("loop", format!("GET http://localhost:{}/ HTTP/1.1\r\nHost: x\r\n\r\n", proxy.addr.port()).into_bytes(), 508, "loop"),
        ("bad chunk", format!("POST {} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", origin.url("/")).into_bytes(), 400, "chunk"),
    ];
    for (name, req, status, words) in cases {
        let mut s = proxy.connect();
        s.write_all(&req).unwrap();
        let mut r = BufReader::new(s);
        let resp = read_response(&mut r, false).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(resp.status, status, "{name}: {}", resp.text());
        assert!(resp.text().contains(words), "{name}: {}", resp.text());
        assert_eq!(
            resp.header("connection").as_deref(),
            Some("close"),
            "{name}"
        );
        assert_eq!(
            resp.header("content-type").as_deref(),
            Some("text/plain; charset=utf-8")
        );
    }
    assert!(
        origin.seen.lock().unwrap().is_empty(),
        "no bad request reached the origin"
    );
}

#[test]
fn slow_head_gets_408_and_silent_idle_connection_closes() {
    let mut c = common::test_config();
    c.head_timeout = Duration::from_millis(300);
    let proxy = common::start_with(c);
    let mut s = proxy.connect();
    s.write_all(b"GET http://localhost/ HTTP/1.1\r\nHost: local")
        .unwrap();
    let resp = read_response(&mut BufReader::new(s), false).unwrap();
    assert_eq!(resp.status, 408);
    // A connection that never sends a byte is closed without a response.
    let mut s = proxy.connect();
    let mut buf = Vec::new();
    assert_eq!(s.read_to_end(&mut buf).unwrap(), 0);
}

#[test]
fn upstream_that_never_answers_gets_504() {
    let origin = Origin::raw(|stream, _| {
        std::thread::sleep(Duration::from_secs(3));
        drop(stream);
    });
    let mut c = common::test_config();
    c.read_timeout = Duration::from_millis(300);
    let proxy = common::start_with(c);
    let resp = proxy.roundtrip(&get(&origin.url("/")));
    assert_eq!(resp.status, 504);
    assert!(resp.text().contains("timed out"), "{}", resp.text());
}

#[test]
fn dns_timeout_gets_504() {
    let mut c = common::test_config();
    c.connect_timeout = Duration::from_millis(200);
    let proxy = common::start_with(c);
    let resp = proxy.roundtrip(b"GET http://slow.test/ HTTP/1.1\r\nHost: slow.test\r\n\r\n");
    assert_eq!(resp.status, 504);
    assert!(
        resp.text().contains("DNS lookup for slow.test timed out"),
        "{}",
        resp.text()
    );
}

#[test]
fn status_page_for_requests_to_the_proxy_itself() {
    let proxy = common::start();
    let resp = proxy.roundtrip(b"GET / HTTP/1.1\r\nHost: proxy\r\n\r\n");
    assert_eq!(resp.status, 200);
    assert!(resp.text().contains("smolproxy"));
    let resp = proxy.roundtrip(b"GET /other HTTP/1.1\r\nHost: proxy\r\n\r\n");
    assert_eq!(resp.status, 404);
}

#[test]
fn stale_kept_upstream_is_replaced_transparently() {
    // The origin answers one request per connection, then closes (while
    // saying nothing about it): the proxy must notice and reconnect.
    let origin = Origin::raw(|stream, _| {
        let mut r = BufReader::new(stream.try_clone().unwrap());
        if read_request(&mut r).is_ok() {
            let mut w = stream;
            let _ = w.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
        }
    });
    let proxy = common::start();
    let s = proxy.connect();
    let mut r = BufReader::new(s.try_clone().unwrap());
    let mut w = s;
    for _ in 0..3 {
        w.write_all(&get(&origin.url("/"))).unwrap();
        let resp = read_response(&mut r, false).unwrap();
        assert_eq!((resp.status, resp.text().as_str()), (200, "ok"));
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(origin.connections.load(Ordering::SeqCst), 3);
}

#[test]
fn client_cap_answers_503_then_recovers() {
    let mut c = common::test_config();
    c.max_clients = 2;
    let proxy = common::start_with(c);
    let a = proxy.connect();
    let b = proxy.connect();
    assert!(common::eventually(Duration::from_secs(5), || proxy
        .handle
        .active()
        == 2));
    let mut third = proxy.connect();
    let mut raw = Vec::new();
    let _ = third.read_to_end(&mut raw);
    let raw = String::from_utf8_lossy(&raw);
    assert!(raw.starts_with("HTTP/1.1 503"), "{raw}");
    assert!(raw.contains("Retry-After: 2\r\n"), "{raw}");
    drop((a, b));
    assert!(common::eventually(Duration::from_secs(5), || proxy
        .handle
        .active()
        == 0));
    let resp = proxy.roundtrip(b"GET / HTTP/1.1\r\nHost: p\r\n\r\n");
    assert_eq!(resp.status, 200);
}

#[test]
fn graceful_shutdown_lets_an_exchange_finish() {
    let origin = Origin::raw(|stream, _| {
        let mut r = BufReader::new(stream.try_clone().unwrap());
        let _ = read_request(&mut r);
        std::thread::sleep(Duration::from_millis(500));
        let mut w = stream;
        let _ = w.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\ndone");
    });
    let proxy = common::start();
    let mut s = proxy.connect();
    s.write_all(&get(&origin.url("/"))).unwrap();
    std::thread::sleep(Duration::from_millis(100));
    let addr = proxy.addr;
    let stopper = std::thread::spawn(move || proxy.handle.shutdown());
    let resp = read_response(&mut BufReader::new(s.try_clone().unwrap()), false).unwrap();
    assert_eq!(resp.text(), "done");
    assert_eq!(stopper.join().unwrap(), 0, "nothing was cut");
    assert!(
        std::net::TcpStream::connect(addr).is_err(),
        "no longer listening"
    );
    let _ = s.shutdown(Shutdown::Both);
}

#[test]
fn max_forwards_zero_is_answered_by_the_proxy() {
    let origin = Origin::echo();
    let proxy = common::start();
    let opt = format!(
        "OPTIONS {} HTTP/1.1\r\nHost: x\r\nMax-Forwards: 0\r\n\r\n",
        origin.url("/")
    );
    let resp = proxy.roundtrip(opt.as_bytes());
    assert_eq!(resp.status, 200);
    assert!(resp.header("allow").unwrap().contains("CONNECT"));
    let trace = format!(
        "TRACE {} HTTP/1.1\r\nHost: x\r\nMax-Forwards: 0\r\nCookie: secret\r\nX-Mine: 1\r\n\r\n",
        origin.url("/t")
    );
    let resp = proxy.roundtrip(trace.as_bytes());
    assert_eq!(resp.header("content-type").as_deref(), Some("message/http"));
    assert!(
        resp.text().contains("X-Mine: 1") && !resp.text().contains("secret"),
        "{}",
        resp.text()
    );
    assert!(origin.seen.lock().unwrap().is_empty(), "nothing forwarded");
    // Above zero: forwarded, one less.
    let opt = format!(
        "OPTIONS {} HTTP/1.1\r\nHost: x\r\nMax-Forwards: 3\r\n\r\n",
        origin.url("/")
    );
    assert_eq!(proxy.roundtrip(opt.as_bytes()).status, 200);
    assert!(origin.seen.lock().unwrap()[0].contains("Max-Forwards: 2\r\n"));
}
