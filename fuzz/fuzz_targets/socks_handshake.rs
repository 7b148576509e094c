//! The SOCKS5 message parsers (greeting, RFC 1929 username/password,
//! request) and the reply encoder: no panics, and properties —
//! split-invariance (bytes fed in two pieces give what one piece gives:
//! every prefix either needs more or already gives the final answer), the
//! length used is exactly the message's, a parsed request re-encodes to
//! the very bytes it came from, and every reply parses back to its code
//! and address.
#![no_main]

use std::net::{IpAddr, SocketAddr};

use libfuzzer_sys::fuzz_target;
use smolproxy::socks::wire::{
    self, Addr, MAX_MESSAGE, Parsed, Request, encode_request, parse_greeting, parse_request,
    parse_user_pass,
};

/// Split-invariance and length checks for one parser; its answer.
fn check<T: PartialEq + std::fmt::Debug>(p: fn(&[u8]) -> Parsed<T>, data: &[u8]) -> Parsed<T> {
    let whole = p(data);
    for k in 0..=data.len() {
        let part = p(&data[..k]);
        // First piece alone: either "need more" or already the answer.
        assert!(part == Ok(None) || part == whole, "prefix {k}: {part:?} vs {whole:?}");
    }
    match &whole {
        Ok(Some((_, n))) => {
            assert!(*n <= MAX_MESSAGE && *n <= data.len() && *n > 0);
            assert_eq!(p(&data[..*n]), whole, "the message alone");
            assert_eq!(p(&data[..n - 1]), Ok(None), "one byte short");
        }
        // Waiting for more is only possible below the largest message.
        Ok(None) => assert!(data.len() < MAX_MESSAGE, "{} bytes", data.len()),
        Err(_) => {}
    }
    whole
}

fuzz_target!(|data: &[u8]| {
    if let Ok(Some((_, n))) = check(parse_greeting, data) {
        assert_eq!(n, 2 + usize::from(data[1]));
    }
    if let Ok(Some((up, n))) = check(parse_user_pass, data) {
        assert!((1..=255).contains(&up.user.len()) && (1..=255).contains(&up.pass.len()));
        assert_eq!(n, 3 + up.user.len() + up.pass.len());
    }
    if let Ok(Some((req, n))) = check(parse_request, data) {
        // Canonical form: the same bytes come back.
        assert_eq!(encode_request(&req), &data[..n]);
    }
    // Any code and bound address: the reply has a request's layout, so the
    // request parser reads it back (a v4-mapped address as its IPv4).
    if data.len() >= 19 {
        let code = data[0];
        let port = u16::from_be_bytes([data[1], data[2]]);
        let ip: IpAddr = if data[3] & 1 == 0 {
            IpAddr::from([data[4], data[5], data[6], data[7]])
        } else {
            let mut b = [0u8; 16];
            b.copy_from_slice(&data[3..19]);
            IpAddr::from(b)
        };
        let bytes = wire::reply(code, Some(SocketAddr::new(ip, port)));
        let want_ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        let want = Request {
            cmd: code,
            addr: Addr::Ip(want_ip),
            port,
        };
        assert_eq!(parse_request(&bytes), Ok(Some((want, bytes.len()))));
    }
});
