//! The server name (SNI, RFC 6066 §3) of a TLS ClientHello, read without
//! decrypting or consuming anything: the transparent listener peeks the
//! client's first bytes, asks here, and passes the same bytes on. Pure and
//! bounded: the hello may be split over several TLS records (RFC 8446
//! §5.1: handshake messages may be fragmented) and TCP segments, and is
//! reassembled up to [`MAX_HELLO_BYTES`]; anything malformed, missing or
//! larger is reported, never guessed, and never panics.

/// Most bytes of TLS records read while looking for the ClientHello: a
/// real one is a few hundred bytes, up to about 2 KiB with post-quantum key
/// shares; 16 KiB is one full TLS record (RFC 8446 §5.1), and beyond it
/// the client is not sending an ordinary hello. Bounds the wait's memory.
pub const MAX_HELLO_BYTES: usize = 16 * 1024;

/// TLS record content type `handshake` (RFC 8446 §5.1).
pub const HANDSHAKE: u8 = 0x16;
/// Handshake message type `client_hello` (RFC 8446 §4).
const CLIENT_HELLO: u8 = 1;
/// Extension type `server_name` (RFC 6066 §3).
const SERVER_NAME: u16 = 0;
/// Name type `host_name` (RFC 6066 §3).
const HOST_NAME: u8 = 0;
/// Longest DNS name (RFC 1035 §2.3.4).
const MAX_NAME: usize = 253;

/// What the bytes so far say.
#[derive(Debug, PartialEq, Eq)]
pub enum Hello {
    /// A complete ClientHello is not here yet: read more (while under
    /// [`MAX_HELLO_BYTES`]).
    NeedMore,
    /// A complete ClientHello naming this server (lower-case, no trailing
    /// dot).
    Name(String),
    /// A complete ClientHello without a server name (e.g. to an IP address).
    NoName,
    /// Not a well-formed ClientHello, or one too large to wait for.
    Malformed(&'static str),
}

/// A cursor over a byte slice; every read is checked.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let (head, rest) = (self.0.get(..n)?, self.0.get(n..)?);
        self.0 = rest;
        Some(head)
    }
    fn u8(&mut self) -> Option<u8> {
        self.take(1)?.first().copied()
    }
    fn u16(&mut self) -> Option<u16> {
        let b = self.take(2)?;
        Some(u16::from(*b.first()?) << 8 | u16::from(*b.get(1)?))
    }
    fn u24(&mut self) -> Option<usize> {
        let b = self.take(3)?;
        let v = |i| b.get(i).map(|&x| usize::from(x));
        Some(v(0)? << 16 | v(1)? << 8 | v(2)?)
    }
    /// A block with a `len_bytes`-long length prefix.
    fn block(&mut self, len_bytes: usize) -> Option<Reader<'a>> {
        let n = match len_bytes {
            1 => usize::from(self.u8()?),
            2 => usize::from(self.u16()?),
            _ => self.u24()?,
        };
        self.take(n).map(Reader)
    }
}

/// Look for the server name in `bytes`, the first bytes the client sent.
pub fn parse(bytes: &[u8]) -> Hello {
    if bytes.len() > MAX_HELLO_BYTES {
        return Hello::Malformed("ClientHello larger than the limit");
    }
    // Reassemble the handshake bytes from consecutive records.
    let mut handshake: Vec<u8> = Vec::new();
    let mut records = Reader(bytes);
    loop {
        if handshake.first().is_some_and(|&t| t != CLIENT_HELLO) {
            return Hello::Malformed("first handshake message is not a ClientHello");
        }
        if let Some(whole) = hello_length(&handshake) {
            let Some(body) = handshake.get(4..whole) else {
                return Hello::Malformed("short ClientHello");
            };
            return client_hello(body).unwrap_or(Hello::Malformed("malformed ClientHello"));
        }
        if records.0.is_empty() {
            return Hello::NeedMore;
        }
        let Some(header) = records.take(5) else {
            return Hello::NeedMore;
        };
        let (kind, major, len) = match header {
            [k, maj, _, hi, lo] => (*k, *maj, usize::from(*hi) << 8 | usize::from(*lo)),
            _ => return Hello::NeedMore,
        };
        if kind != HANDSHAKE || major != 3 {
            return Hello::Malformed("not a TLS handshake record");
        }
        // RFC 8446 §5.1: zero-length handshake fragments are not sent.
        if len == 0 {
            return Hello::Malformed("empty handshake record");
        }
        match records.take(len) {
            Some(fragment) => handshake.extend_from_slice(fragment),
            None => return Hello::NeedMore,
        }
    }
}

/// The whole ClientHello message's length (header included), once its
/// 4-byte header is here and the body is complete.
fn hello_length(handshake: &[u8]) -> Option<usize> {
    let mut r = Reader(handshake);
    let _kind = r.u8()?;
    let len = r.u24()?;
    let whole = len.checked_add(4)?;
    (handshake.len() >= whole).then_some(whole)
}

/// The server name in a ClientHello body (RFC 8446 §4.1.2; TLS 1.0–1.2's
/// layout is the same up to the extensions). `None`: malformed.
fn client_hello(body: &[u8]) -> Option<Hello> {
    let mut r = Reader(body);
    let _legacy_version = r.u16()?;
    let _random = r.take(32)?;
    let _session_id = r.block(1)?;
    let _cipher_suites = r.block(2)?;
    let _compression = r.block(1)?;
    if r.0.is_empty() {
        // No extensions at all (an SSL 3.0-style hello): no name.
        return Some(Hello::NoName);
    }
    let mut exts = r.block(2)?;
    while !exts.0.is_empty() {
        let kind = exts.u16()?;
        let mut data = exts.block(2)?;
        if kind != SERVER_NAME {
            continue;
        }
        let mut list = data.block(2)?;
        while !list.0.is_empty() {
            let name_type = list.u8()?;
            let name = list.block(2)?;
            if name_type == HOST_NAME {
                return Some(
                    host_name(name.0).map_or(Hello::Malformed("invalid server name"), Hello::Name),
                );
            }
        }
        return Some(Hello::NoName);
    }
    Some(Hello::NoName)
}

/// A DNS host name (RFC 6066 §3: ASCII, no trailing dot; letters, digits,
/// hyphens and underscores, which some real hosts use), lower-cased.
fn host_name(name: &[u8]) -> Option<String> {
    let name = name.strip_suffix(b".").unwrap_or(name);
    let ok = !name.is_empty()
        && name.len() <= MAX_NAME
        && name.split(|&b| b == b'.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .iter()
                    .all(|b| b.is_ascii_alphanumeric() || *b == b'-' || *b == b'_')
        });
    ok.then(|| String::from_utf8_lossy(name).to_ascii_lowercase())
}

/// A ClientHello in one record, naming `name` (when given), for the tests
/// here and in `tests/` and the fuzz seeds.
pub fn example_hello(name: Option<&str>) -> Vec<u8> {
    let mut exts = Vec::new();
    // An unrelated extension first (supported_versions: TLS 1.3).
    exts.extend_from_slice(&[0x00, 0x2b, 0x00, 0x03, 0x02, 0x03, 0x04]);
    if let Some(n) = name {
        let n = n.as_bytes();
        let entry = n.len() + 3;
        exts.extend_from_slice(&[0, 0]);
        exts.extend_from_slice(&((entry + 2) as u16).to_be_bytes());
        exts.extend_from_slice(&(entry as u16).to_be_bytes());
        exts.push(HOST_NAME);
        exts.extend_from_slice(&(n.len() as u16).to_be_bytes());
        exts.extend_from_slice(n);
    }
    let mut body = vec![0x03, 0x03];
    body.extend_from_slice(&[7; 32]);
    body.extend_from_slice(&[0, 0, 2, 0x13, 0x01, 1, 0]);
    body.extend_from_slice(&(exts.len() as u16).to_be_bytes());
    body.extend_from_slice(&exts);
    let mut hs = vec![CLIENT_HELLO];
    hs.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
    hs.extend_from_slice(&body);
    let mut rec = vec![HANDSHAKE, 3, 1];
    rec.extend_from_slice(&(hs.len() as u16).to_be_bytes());
    rec.extend_from_slice(&hs);
    rec
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The same hello split into records of at most `size` payload bytes.
    fn split_records(one: &[u8], size: usize) -> Vec<u8> {
        let payload = &one[5..];
        let mut out = Vec::new();
        for part in payload.chunks(size) {
            out.extend_from_slice(&[HANDSHAKE, 3, 1]);
            out.extend_from_slice(&(part.len() as u16).to_be_bytes());
            out.extend_from_slice(part);
        }
        out
    }

    #[test]
    fn table() {
        let named = example_hello(Some("Www.Example.TEST."));
        let bare = example_hello(None);
        let name = || Hello::Name("www.example.test".into());
        let mut bad_type = named.clone();
        bad_type[0] = 0x17;
        let mut not_hello = named.clone();
        not_hello[5] = 2;
        let ip_name = example_hello(Some("10.0.0.1"));
        let spaced = example_hello(Some("a b.test"));
        let mut lying_ext = named.clone();
        // The extensions block claims more than the message holds.
        let ext_len_at = 5 + 4 + 2 + 32 + 1 + 4 + 2;
        lying_ext[ext_len_at] = 0xff;
        let mut empty_record = vec![HANDSHAKE, 3, 1, 0, 0];
        empty_record.extend_from_slice(&named[5..]);
        let huge = {
            let mut h = vec![HANDSHAKE, 3, 1, 0x40, 0x00, 1, 0, 0x40, 0];
            h.resize(MAX_HELLO_BYTES + 1, 0);
            h
        };
        let cases: Vec<(&str, Vec<u8>, Hello)> = vec![
            // Real clients' hellos (captured: fuzz/seeds/tls_sni/).
            (
                "openssl s_client",
                include_bytes!("../../fuzz/seeds/tls_sni/01-openssl-s_client").to_vec(),
                Hello::Name("seed.example.test".into()),
            ),
            (
                "curl",
                include_bytes!("../../fuzz/seeds/tls_sni/02-curl").to_vec(),
                Hello::Name("curl.example.test".into()),
            ),
            (
                "curl to an address",
                include_bytes!("../../fuzz/seeds/tls_sni/03-curl-no-sni").to_vec(),
                Hello::NoName,
            ),
            (
                "curl in 100-byte records",
                include_bytes!("../../fuzz/seeds/tls_sni/04-curl-in-100-byte-records").to_vec(),
                Hello::Name("curl.example.test".into()),
            ),
            ("one record", named.clone(), name()),
            ("split in 7-byte records", split_records(&named, 7), name()),
            ("split in 1-byte records", split_records(&named, 1), name()),
            ("no server_name", bare.clone(), Hello::NoName),
            (
                "IP-like name is a name",
                ip_name,
                Hello::Name("10.0.0.1".into()),
            ),
            ("first bytes only", named[..3].to_vec(), Hello::NeedMore),
            ("header only", named[..5].to_vec(), Hello::NeedMore),
            (
                "half the hello",
                named[..named.len() / 2].to_vec(),
                Hello::NeedMore,
            ),
            (
                "half of the second record",
                split_records(&named, 20)[..40].to_vec(),
                Hello::NeedMore,
            ),
            ("empty", Vec::new(), Hello::NeedMore),
            (
                "not handshake",
                bad_type,
                Hello::Malformed("not a TLS handshake record"),
            ),
            (
                "not a ClientHello",
                not_hello,
                Hello::Malformed("first handshake message is not a ClientHello"),
            ),
            (
                "bad characters",
                spaced,
                Hello::Malformed("invalid server name"),
            ),
            (
                "lying length",
                lying_ext,
                Hello::Malformed("malformed ClientHello"),
            ),
            (
                "empty record",
                empty_record,
                Hello::Malformed("empty handshake record"),
            ),
            (
                "too large",
                huge,
                Hello::Malformed("ClientHello larger than the limit"),
            ),
            (
                "HTTP",
                b"GET / HTTP/1.1\r\n\r\n".to_vec(),
                Hello::Malformed("not a TLS handshake record"),
            ),
        ];
        for (what, bytes, want) in cases {
            assert_eq!(parse(&bytes), want, "{what}");
        }
    }

    #[test]
    fn bytes_after_the_hello_are_ignored() {
        let mut b = example_hello(Some("a.test"));
        b.extend_from_slice(&[0x14, 3, 3, 0, 1, 1]);
        assert_eq!(parse(&b), Hello::Name("a.test".into()));
    }

    #[test]
    fn every_prefix_and_every_corruption_is_handled() {
        let named = example_hello(Some("a.test"));
        for n in 0..named.len() {
            assert_eq!(parse(&named[..n]), Hello::NeedMore, "prefix {n}");
        }
        for i in 0..named.len() {
            for v in [0u8, 1, 0x7f, 0xff] {
                let mut b = named.clone();
                b[i] = v;
                let _ = parse(&b);
            }
        }
    }
}
