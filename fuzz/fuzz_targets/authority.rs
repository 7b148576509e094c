//! parse_authority and parse_target: no panics, and every accepted value
//! survives a round trip through its own text form.
#![no_main]

use libfuzzer_sys::fuzz_target;
use smolproxy::http::target::{Authority, Target, parse_authority, parse_target};

/// What any accepted authority must look like, and that it re-parses to itself.
fn check_authority(a: &Authority) {
    assert_ne!(a.port, 0, "{a:?}");
    assert!(!a.host.is_empty(), "{a:?}");
    if a.host.contains(':') {
        // Only a bracketed IPv6 literal may hold a colon.
        assert!(a.host.parse::<std::net::Ipv6Addr>().is_ok(), "{a:?}");
    } else {
        assert!(a.host.len() <= 253, "{a:?}");
        assert!(
            a.host
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-._".contains(&b)),
            "{a:?}"
        );
    }
    let text = a.to_host_port();
    for default in [None, Some(80), Some(443)] {
        assert_eq!(parse_authority(&text, default).as_ref(), Ok(a), "{text:?}");
    }
    assert_eq!(
        parse_target("CONNECT", &text),
        Ok(Target::Connect(a.clone()))
    );
}

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    for default in [None, Some(80), Some(443)] {
        if let Ok(a) = parse_authority(s, default) {
            check_authority(&a);
            // A default port only fills in a missing one.
            if let (Some(d), Ok(b)) = (default, parse_authority(s, None)) {
                assert_eq!(a, b, "default {d} changed an explicit port");
            }
        }
    }
    for method in ["GET", "CONNECT", "OPTIONS", "POST"] {
        match parse_target(method, s) {
            Ok(Target::Connect(a)) => {
                assert_eq!(method, "CONNECT");
                assert_eq!(parse_authority(s, None), Ok(a.clone()));
                check_authority(&a);
            }
            Ok(Target::Http {
                authority,
                host_field,
                path,
            }) => {
                assert_ne!(method, "CONNECT");
                check_authority(&authority);
                // The Host field we send names the same place we connect to.
                assert_eq!(parse_authority(&host_field, Some(80)), Ok(authority));
                assert!(!host_field.contains(['/', '?', '#', '@']), "{host_field:?}");
                // An origin-form path: no fragment, starts with '/', and
                // is a piece of what the client sent.
                assert!(path.starts_with('/'), "{path:?}");
                assert!(!path.contains('#'), "{path:?}");
                assert!(
                    s.contains(path.as_str()) || s.contains(&path[1..]),
                    "{s:?} -> {path:?}"
                );
                // Sending it on as origin-form is a request for the origin.
                assert_eq!(
                    parse_target(method, &path),
                    Ok(Target::Origin(path.clone()))
                );
            }
            Ok(Target::Origin(p)) => assert_eq!(p, s),
            Ok(Target::Asterisk) => assert_eq!(s, "*"),
            Ok(Target::Https) | Ok(Target::OtherScheme) => assert!(s.contains("://")),
            Err(_) => {}
        }
    }
});
