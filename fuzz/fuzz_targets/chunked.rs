//! The chunked decoder: fed whole, one byte at a time and in random
//! splits it gives the same payload and result; it agrees with a simple
//! whole-buffer model of the grammar; every count fits its input; and a
//! body we encode ourselves decodes back to its payload.
#![no_main]

use libfuzzer_sys::fuzz_target;
use smolproxy::http::chunked::{Decoder, MAX_CHUNK_LINE, MAX_TRAILER_BYTES, Piece};

#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    /// The body ended after this many bytes.
    Done(usize),
    /// All input was used and more is needed.
    Incomplete,
    /// Refused.
    Error,
}

/// Small deterministic generator, seeded from the input.
struct Rng(u64);
impl Rng {
    fn new(data: &[u8]) -> Rng {
        let mut h = 0xcbf2_9ce4_8422_2325u64;
        for &b in data {
            h = (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
        }
        Rng(h | 1)
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Feed `input` to a fresh decoder in pieces whose lengths come from
/// `piece_len`; return the outcome and the payload.
fn decode(input: &[u8], mut piece_len: impl FnMut() -> usize) -> (Outcome, Vec<u8>) {
    let mut d = Decoder::new();
    let mut payload = Vec::new();
    let mut pos = 0;
    while pos < input.len() {
        let end = (pos + piece_len().max(1)).min(input.len());
        let mut part = &input[pos..end];
        while !part.is_empty() {
            let piece = match d.step(part) {
                Ok(p) => p,
                Err(_) => return (Outcome::Error, payload),
            };
            let n = match piece {
                Piece::Framing(n) | Piece::Data(n) | Piece::End(n) => n,
            };
            // Progress on every call, never past the input.
            assert!(n > 0 && n <= part.len(), "{piece:?} of {}", part.len());
            if let Piece::Data(n) = piece {
                payload.extend_from_slice(&part[..n]);
            }
            part = &part[n..];
            if let Piece::End(_) = piece {
                assert!(d.is_done());
                return (Outcome::Done(end - part.len()), payload);
            }
            assert!(!d.is_done());
        }
        pos = end;
    }
    (Outcome::Incomplete, payload)
}

/// Fields the decoder refuses in trailers.
const FORBIDDEN: &[&str] = smolproxy::http::chunked::FORBIDDEN_TRAILERS;

fn tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// The grammar of RFC 9112 §7.1 with the decoder's limits, over the
/// whole buffer at once (written independently of the state machine).
fn model(input: &[u8]) -> (Outcome, Vec<u8>) {
    let mut payload = Vec::new();
    let mut i = 0;
    macro_rules! byte {
        () => {{
            let Some(&b) = input.get(i) else {
                return (Outcome::Incomplete, payload);
            };
            b
        }};
    }
    macro_rules! fail {
        () => {
            return (Outcome::Error, payload)
        };
    }
    loop {
        // chunk-size [ BWS ";" chunk-ext ] CRLF; at most MAX_CHUNK_LINE
        // bytes up to and including the CR.
        let line = i;
        let mut size: u64 = 0;
        let mut digits = 0;
        let mut in_ext = false;
        let mut spaces = false;
        loop {
            let b = byte!();
            if i - line >= MAX_CHUNK_LINE {
                fail!();
            }
            i += 1;
            if in_ext {
                match b {
                    b'\r' => break,
                    b'\t' | 0x20..=0x7e | 0x80..=0xff => {}
                    _ => fail!(),
                }
            } else if b.is_ascii_hexdigit() && !spaces {
                let d = (b as char).to_digit(16).unwrap() as u64;
                match size.checked_mul(16).and_then(|s| s.checked_add(d)) {
                    Some(s) => size = s,
                    None => fail!(),
                }
                digits += 1;
            } else if digits == 0 {
                fail!();
            } else if b == b';' {
                in_ext = true;
            } else if b == b' ' || b == b'\t' {
                spaces = true;
            } else if b == b'\r' && !spaces {
                break;
            } else {
                fail!();
            }
        }
        if byte!() != b'\n' {
            fail!();
        }
        i += 1;
        if size == 0 {
            break;
        }
        let avail = (input.len() - i).min(size as usize);
        payload.extend_from_slice(&input[i..i + avail]);
        if (avail as u64) < size {
            return (Outcome::Incomplete, payload);
        }
        i += avail;
        if byte!() != b'\r' {
            fail!();
        }
        i += 1;
        if byte!() != b'\n' {
            fail!();
        }
        i += 1;
    }
    // trailer-section CRLF
    let mut trailer_bytes = 0;
    loop {
        if byte!() == b'\r' {
            i += 1;
            if byte!() != b'\n' {
                fail!();
            }
            return (Outcome::Done(i + 1), payload);
        }
        let start = i;
        while byte!() != b'\r' {
            trailer_bytes += 1;
            if trailer_bytes > MAX_TRAILER_BYTES {
                fail!();
            }
            i += 1;
        }
        let field = &input[start..i];
        let Some(colon) = field.iter().position(|&b| b == b':') else {
            fail!();
        };
        let (name, value) = (&field[..colon], &field[colon + 1..]);
        if name.is_empty() || !name.iter().all(|&b| tchar(b)) {
            fail!();
        }
        if value.iter().any(|&b| (b < 0x20 && b != b'\t') || b == 0x7f) {
            fail!();
        }
        if FORBIDDEN
            .iter()
            .any(|f| f.as_bytes().eq_ignore_ascii_case(name))
        {
            fail!();
        }
        i += 1;
        if byte!() != b'\n' {
            fail!();
        }
        i += 1;
    }
}

/// Encode `payload` as a chunked body with chunk sizes, hex case, leading
/// zeros, extensions and trailers chosen by `rng`.
fn encode(payload: &[u8], rng: &mut Rng) -> Vec<u8> {
    let mut out = Vec::new();
    let mut rest = payload;
    while !rest.is_empty() {
        let n = 1 + rng.below(rest.len().min(300));
        let zeros = "0".repeat(rng.below(20));
        let hex = if rng.next() & 1 == 0 {
            format!("{n:x}")
        } else {
            format!("{n:X}")
        };
        out.extend_from_slice(zeros.as_bytes());
        out.extend_from_slice(hex.as_bytes());
        match rng.below(4) {
            0 => out.extend_from_slice(b";ext=1"),
            1 => out.extend_from_slice(b" \t;a=\"q;\\\"x\";b"),
            _ => {}
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(&rest[..n]);
        out.extend_from_slice(b"\r\n");
        rest = &rest[n..];
    }
    out.extend_from_slice(b"0");
    if rng.below(3) == 0 {
        out.extend_from_slice(b";last");
    }
    out.extend_from_slice(b"\r\n");
    for t in 0..rng.below(3) {
        out.extend_from_slice(format!("X-Trailer-{t}: v\t{t}\r\n").as_bytes());
    }
    out.extend_from_slice(b"\r\n");
    out
}

fuzz_target!(|data: &[u8]| {
    let mut rng = Rng::new(data);

    // 1. Decoding the input as a chunked body.
    let whole = decode(data, || usize::MAX);
    if let Outcome::Done(n) = whole.0 {
        assert!(n <= data.len());
    }
    assert_eq!(decode(data, || 1), whole, "fed byte by byte");
    let mut r = Rng(rng.next() | 1);
    assert_eq!(
        decode(data, || 1 + r.below(16)),
        whole,
        "fed in random splits"
    );
    let mut r = Rng(rng.next() | 1);
    assert_eq!(
        decode(data, || 1 + r.below(512)),
        whole,
        "fed in random splits"
    );
    let expect = model(data);
    match (&whole.0, &expect.0) {
        // Payload delivered before an error is not compared.
        (Outcome::Error, Outcome::Error) => {}
        _ => assert_eq!(whole, expect, "decoder vs model"),
    }

    // 2. Our own encoding of the input as payload decodes back to it, and
    // bytes after the body are left alone.
    let mut body = encode(data, &mut rng);
    let len = body.len();
    body.extend_from_slice(b"GET / HTTP/1.1\r\n");
    let want = (Outcome::Done(len), data.to_vec());
    assert_eq!(decode(&body, || usize::MAX), want, "round trip");
    let mut r = Rng(rng.next() | 1);
    assert_eq!(decode(&body, || 1 + r.below(64)), want, "round trip, split");
});
