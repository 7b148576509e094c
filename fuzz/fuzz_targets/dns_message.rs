//! dns_wire::parse_reply on any datagram: no panic, no hang (pointer
//! loops bounded); an accepted answer holds only addresses of the asked
//! family; our own query is never taken for an answer; a query that
//! encodes is one the same name and type can be answered for.
#![no_main]

use libfuzzer_sys::fuzz_target;
use smolproxy::upstream::dns_wire::{Reply, TYPE_A, TYPE_AAAA, WireError, encode_query, parse_reply};

fuzz_target!(|data: &[u8]| {
    // The ID the input carries, so most inputs get past the ID check.
    let id = match data {
        [a, b, ..] => u16::from_be_bytes([*a, *b]),
        _ => 0,
    };
    for name in ["a.test", "A.TEST.", "x"] {
        for qtype in [TYPE_A, TYPE_AAAA] {
            if let Ok(Reply::Answer { addrs, .. }) = parse_reply(data, id, name, qtype) {
                for (ip, ttl) in addrs {
                    assert_eq!(ip.is_ipv6(), qtype == TYPE_AAAA, "{ip}");
                    assert!(ttl <= i32::MAX as u32, "RFC 2181 §8");
                }
            }
        }
    }
    // The input as a name: a query that encodes is not itself an answer.
    if let Ok(name) = std::str::from_utf8(data)
        && let Some(q) = encode_query(id, name, TYPE_A)
    {
        assert!(q.len() <= 12 + 255 + 4, "{name:?}");
        assert_eq!(parse_reply(&q, id, name, TYPE_A), Err(WireError::NotOurs));
    }
});
