//! The shared pool of idle origin connections (`src/upstream/pool.rs`):
//! clients that each open a connection per request share one origin
//! connection; a reload of the rules retires pooled connections; a pooled
//! connection the origin closed meanwhile is replaced — by a retry, once,
//! for an idempotent request (RFC 9110 §9.2.2), by the probe for others —
//! and a request that is not idempotent is never sent twice.

mod common;

use std::io::{BufReader, Write};
use std::net::Shutdown;
use std::sync::atomic::Ordering;
use std::time::Duration;

use common::client::{get_with, read_request};
use common::origin::Origin;
use common::{Proxy, start_with, test_config};

/// One executor thread: the pool is per thread, so every client of the
/// test meets the same pool.
fn one_thread() -> Proxy {
    let mut c = test_config();
    c.threads = 1;
    start_with(c)
}

fn close_get(url: &str) -> Vec<u8> {
    get_with(url, "Connection: close\r\n")
}

#[test]
fn clients_with_a_connection_per_request_share_one_origin_connection() {
    let origin = Origin::echo();
    let proxy = one_thread();
    for i in 0..5 {
        let r = proxy.roundtrip(&close_get(&origin.url(&format!("/{i}"))));
        assert_eq!(r.status, 200);
        assert_eq!(r.body, format!("GET /{i}\n").into_bytes());
    }
    assert_eq!(origin.connections.load(Ordering::SeqCst), 1);

    // New rules (SIGHUP): the pooled connection is not used again.
    proxy.reload();
    let r = proxy.roundtrip(&close_get(&origin.url("/after")));
    assert_eq!(r.status, 200);
    assert_eq!(origin.connections.load(Ordering::SeqCst), 2);
    let r = proxy.roundtrip(&close_get(&origin.url("/again")));
    assert_eq!(r.status, 200);
    assert_eq!(origin.connections.load(Ordering::SeqCst), 2);
}

#[test]
fn connections_are_dealt_to_the_threads_in_turn_and_stay_there() {
    // Two executor threads, each with its own executor and pool: client
    // connections are dealt to them in turn, and every task of a
    // connection runs where it was dealt, so sequential clients leave one
    // origin connection in each thread's pool and reuse it: two in all,
    // however many clients (a connection run on the other thread, or
    // moved between them, would find an empty pool and open a third).
    let origin = Origin::echo();
    let mut c = test_config();
    c.threads = 2;
    let proxy = start_with(c);
    for i in 0..8 {
        let r = proxy.roundtrip(&close_get(&origin.url(&format!("/{i}"))));
        assert_eq!(r.status, 200);
        assert_eq!(r.body, format!("GET /{i}\n").into_bytes());
    }
    assert_eq!(origin.connections.load(Ordering::SeqCst), 2);
}

#[test]
fn a_pooled_connection_the_origin_closed_is_replaced() {
    // Answers one request as if keeping the connection, then closes it.
    let origin = Origin::raw(|stream, seen| {
        let mut r = BufReader::new(stream.try_clone().unwrap());
        let mut w = stream;
        if let Ok((head, body)) = read_request(&mut r) {
            seen.lock().unwrap().push(head);
            let resp = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", body.len());
            let _ = w.write_all(resp.as_bytes());
            let _ = w.write_all(&body);
        }
        std::thread::sleep(Duration::from_millis(100));
        let _ = w.shutdown(Shutdown::Both);
    });
    let proxy = one_thread();
    let post = |body: &str| {
        format!(
            "POST {} HTTP/1.1\r\nHost: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            origin.url("/p"),
            origin.addr,
            body.len()
        )
    };
    assert_eq!(proxy.roundtrip(&close_get(&origin.url("/1"))).status, 200);
    std::thread::sleep(Duration::from_millis(300));
    // A GET is sent on the pooled connection without a probe, fails before
    // any response byte and is retried on a new one.
    assert_eq!(proxy.roundtrip(&close_get(&origin.url("/2"))).status, 200);
    std::thread::sleep(Duration::from_millis(300));
    // A POST takes a pooled connection only if it still looks open.
    let r = proxy.roundtrip(post("abc").as_bytes());
    assert_eq!((r.status, r.body.as_slice()), (200, &b"abc"[..]));
    let seen = origin.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 3, "{seen:?}");
    assert_eq!(origin.connections.load(Ordering::SeqCst), 3);
}

#[test]
fn only_idempotent_requests_are_retried_and_only_once() {
    // Keeps the connection for GET /ok; reads anything else, then closes
    // without an answer.
    let origin = Origin::raw(|stream, seen| {
        let mut r = BufReader::new(stream.try_clone().unwrap());
        let mut w = stream;
        while let Ok((head, _)) = read_request(&mut r) {
            seen.lock()
                .unwrap()
                .push(head.lines().next().unwrap_or("").to_string());
            if !head.starts_with("GET /ok ") {
                let _ = w.shutdown(Shutdown::Both);
                return;
            }
            let _ = w.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
        }
    });
    let proxy = one_thread();
    let lines = || origin.seen.lock().unwrap().clone();
    assert_eq!(proxy.roundtrip(&close_get(&origin.url("/ok"))).status, 200);
    // A POST on the pooled connection, which looks open: the origin drops
    // it unanswered, and the outcome is unknown: 502, sent once.
    let post = format!(
        "POST {} HTTP/1.1\r\nHost: {}\r\nContent-Length: 1\r\nConnection: close\r\n\r\nx",
        origin.url("/p"),
        origin.addr
    );
    assert_eq!(proxy.roundtrip(post.as_bytes()).status, 502);
    let posts = lines().iter().filter(|l| l.starts_with("POST")).count();
    assert_eq!(posts, 1, "{:?}", lines());

    // A GET dropped the same way is sent again on a new connection, once.
    assert_eq!(proxy.roundtrip(&close_get(&origin.url("/ok"))).status, 200);
    assert_eq!(
        proxy.roundtrip(&close_get(&origin.url("/drop"))).status,
        502
    );
    let drops = lines()
        .iter()
        .filter(|l| l.starts_with("GET /drop"))
        .count();
    assert_eq!(drops, 2, "{:?}", lines());
}
