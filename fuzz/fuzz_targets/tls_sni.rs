//! The ClientHello server-name parser of the transparent listener
//! (`transparent/sni.rs`): no panics, and properties — split-invariance
//! (every prefix of the input is "need more" or already the whole input's
//! answer, so a hello arriving in pieces gives what one piece gives); a
//! name found is a lower-case DNS name within 253 bytes; and the input
//! taken as a name, put in a hello (one record, and split into records of
//! a size the input picks), parses back to that name, lower-cased.
#![no_main]

use libfuzzer_sys::fuzz_target;
use smolproxy::transparent::sni::{Hello, MAX_HELLO_BYTES, example_hello, parse};

/// A one-record hello split into records of at most `size` payload bytes.
fn split(one: &[u8], size: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for part in one[5..].chunks(size) {
        out.extend_from_slice(&[0x16, 3, 1]);
        out.extend_from_slice(&(part.len() as u16).to_be_bytes());
        out.extend_from_slice(part);
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let whole = parse(data);
    if data.len() <= MAX_HELLO_BYTES {
        for k in 0..data.len() {
            let part = parse(&data[..k]);
            assert!(
                part == Hello::NeedMore || part == whole,
                "prefix {k}: {part:?} vs {whole:?}"
            );
        }
    }
    if let Hello::Name(n) = &whole {
        assert!(!n.is_empty() && n.len() <= 253, "{n:?}");
        assert!(
            n.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-_.".contains(&b)),
            "{n:?}"
        );
        assert!(!n.ends_with('.') && !n.contains(".."), "{n:?}");
    }
    // The input as a name.
    if let Ok(name) = std::str::from_utf8(data) {
        if name.is_empty() || name.len() > 1000 {
            return;
        }
        let one = example_hello(Some(name));
        let got = parse(&one);
        let size = usize::from(data[0] % 64) + 1;
        assert_eq!(parse(&split(&one, size)), got, "split into {size}-byte records");
        let bare = name.strip_suffix('.').unwrap_or(name);
        let valid = !bare.is_empty()
            && bare.len() <= 253
            && bare.split('.').all(|l| {
                !l.is_empty()
                    && l.len() <= 63
                    && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            });
        if valid {
            assert_eq!(got, Hello::Name(bare.to_ascii_lowercase()));
        } else {
            assert_eq!(got, Hello::Malformed("invalid server name"), "{name:?}");
        }
    }
});
