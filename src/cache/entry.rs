//! The cache's entries as `store.rs` keeps them: the key (the absolute
//! URI, RFC 9111 §2, and a Vary variant's own key, §4.1) and the meta
//! beside the body: what kind of record, when the request went and the
//! response came (§4.2.3), and the response head as stored
//! (`fresh::stored_head`). Pure.

use std::time::{SystemTime, UNIX_EPOCH};

use super::fresh::{Secs, Times};
use crate::http::head::{Head, parse_response};
use crate::http::target::Authority;

/// Seconds since the epoch now.
pub(super) fn now() -> Secs {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The cache key of a request (RFC 9111 §2): the absolute URI as the client
/// asked for it: scheme, lower-cased host, the port unless 80, path+query.
pub(crate) fn key_of(scheme: Scheme, origin: &Authority, path: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(16 + origin.host.len() + path.len());
    k.extend_from_slice(scheme.prefix().as_bytes());
    if origin.port == scheme.default_port() {
        if origin.host.contains(':') {
            k.extend_from_slice(format!("[{}]", origin.host).as_bytes());
        } else {
            k.extend_from_slice(origin.host.to_ascii_lowercase().as_bytes());
        }
    } else {
        k.extend_from_slice(origin.to_host_port().to_ascii_lowercase().as_bytes());
    }
    k.extend_from_slice(path.as_bytes());
    k
}

/// How the origin was reached: plain HTTP, or HTTPS inside an inspected
/// connection (`--inspect`). Part of the key, so `http://h:443/` and
/// `https://h/` are never one entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scheme {
    /// `http://`, default port 80.
    Http,
    /// `https://`, default port 443.
    Https,
}

impl Scheme {
    fn prefix(self) -> &'static str {
        match self {
            Scheme::Http => "http://",
            Scheme::Https => "https://",
        }
    }

    fn default_port(self) -> u16 {
        match self {
            Scheme::Http => 80,
            Scheme::Https => 443,
        }
    }
}

/// The key of one Vary variant: the primary key, a NUL (never in a URI)
/// and the secondary key.
pub(super) fn variant_key(key: &[u8], secondary: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(key.len() + 1 + secondary.len());
    k.extend_from_slice(key);
    k.push(0);
    k.extend_from_slice(secondary);
    k
}

/// What an entry's meta holds: a response, or (at a primary key whose
/// responses vary) the Vary record pointing at the variants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Response = b'R' as isize,
    Vary = b'V' as isize,
}

/// Bytes of the meta before the head: kind, request time, response time.
const META_PREFIX: usize = 17;

/// The meta stored with an entry: kind, the two times (§4.2.3) and the
/// stored response head.
pub(super) fn encode_meta(kind: Kind, t: &Times, head: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(META_PREFIX + head.len());
    m.push(kind as u8);
    m.extend_from_slice(&t.request.to_le_bytes());
    m.extend_from_slice(&t.response.to_le_bytes());
    m.extend_from_slice(head);
    m
}

/// The meta's parts; `None` for meta this version did not write.
pub(super) fn decode_meta(m: &[u8]) -> Option<(Kind, Times, Head)> {
    let kind = match m.first()? {
        b'R' => Kind::Response,
        b'V' => Kind::Vary,
        _ => return None,
    };
    let secs = |r: std::ops::Range<usize>| -> Option<Secs> {
        Some(u64::from_le_bytes(m.get(r)?.try_into().ok()?))
    };
    let times = Times {
        request: secs(1..9)?,
        response: secs(9..17)?,
    };
    let (head, _) = parse_response(m.get(META_PREFIX..)?).ok()??;
    Some((kind, times, head))
}

/// The key of a `Location` or `Content-Location` to invalidate with the
/// target (§4.4): only on the same origin (a response must not make the
/// cache drop another site's entries).
pub(super) fn same_origin_key(scheme: Scheme, origin: &Authority, uri: &[u8]) -> Option<Vec<u8>> {
    let uri = std::str::from_utf8(uri).ok()?;
    if uri.starts_with('/') && !uri.starts_with("//") {
        return Some(key_of(scheme, origin, uri));
    }
    let prefix = scheme.prefix();
    let rest = uri
        .get(..prefix.len())
        .filter(|s| s.eq_ignore_ascii_case(prefix))?;
    let after = uri.get(rest.len()..)?;
    let split = after.find('/').unwrap_or(after.len());
    let (auth, path) = after.split_at(split);
    let ours = key_of(scheme, origin, "");
    let theirs = format!("{prefix}{}", auth.to_ascii_lowercase());
    let with_port = |mut k: Vec<u8>| {
        k.extend_from_slice(format!(":{}", scheme.default_port()).as_bytes());
        k
    };
    let same = ours == theirs.as_bytes()
        || (origin.port == scheme.default_port() && with_port(ours) == theirs.as_bytes());
    same.then(|| key_of(scheme, origin, if path.is_empty() { "/" } else { path }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use Scheme::{Http, Https};

    fn auth(host: &str, port: u16) -> Authority {
        Authority {
            host: host.into(),
            port,
        }
    }

    #[test]
    fn keys_are_absolute_uris() {
        assert_eq!(
            key_of(Http, &auth("deb.example", 80), "/a?b"),
            b"http://deb.example/a?b"
        );
        assert_eq!(
            key_of(Http, &auth("Deb.Example", 8080), "/"),
            b"http://deb.example:8080/"
        );
        assert_eq!(key_of(Http, &auth("::1", 80), "/"), b"http://[::1]/");
        assert_eq!(key_of(Http, &auth("::1", 81), "/"), b"http://[::1]:81/");
        // Inspected HTTPS: its own scheme and default port.
        assert_eq!(
            key_of(Https, &auth("Deb.Example", 443), "/a"),
            b"https://deb.example/a"
        );
        assert_eq!(
            key_of(Http, &auth("deb.example", 443), "/a"),
            b"http://deb.example:443/a"
        );
        assert_eq!(
            key_of(Https, &auth("deb.example", 80), "/a"),
            b"https://deb.example:80/a"
        );
    }

    #[test]
    fn meta_round_trips_and_foreign_meta_is_refused() {
        let t = Times {
            request: 5,
            response: 7,
        };
        let m = encode_meta(
            Kind::Response,
            &t,
            b"HTTP/1.1 200 OK\r\nETag: \"x\"\r\n\r\n",
        );
        let (kind, times, head) = decode_meta(&m).unwrap();
        assert_eq!(kind, Kind::Response);
        assert_eq!((times.request, times.response), (5, 7));
        assert_eq!(head.value("etag"), Some(&b"\"x\""[..]));
        assert!(decode_meta(b"X").is_none());
        assert!(decode_meta(&m[..10]).is_none());
        assert!(decode_meta(&m[..m.len() - 2]).is_none());
    }

    #[test]
    fn invalidation_stays_on_the_origin() {
        let o = auth("a.example", 80);
        let k = |u: &str| same_origin_key(Http, &o, u.as_bytes());
        assert_eq!(k("/x"), Some(b"http://a.example/x".to_vec()));
        assert_eq!(
            k("http://A.example/y"),
            Some(b"http://a.example/y".to_vec())
        );
        assert_eq!(
            k("http://a.example:80/y"),
            Some(b"http://a.example/y".to_vec())
        );
        assert_eq!(k("http://a.example"), Some(b"http://a.example/".to_vec()));
        assert_eq!(k("http://b.example/y"), None);
        assert_eq!(k("http://a.example.evil/y"), None);
        assert_eq!(k("//b.example/y"), None);
        assert_eq!(k("https://a.example/y"), None);
        let o = auth("a.example", 443);
        let k = |u: &str| same_origin_key(Https, &o, u.as_bytes());
        assert_eq!(k("/x"), Some(b"https://a.example/x".to_vec()));
        assert_eq!(
            k("https://a.example:443/y"),
            Some(b"https://a.example/y".to_vec())
        );
        assert_eq!(k("http://a.example/y"), None);
        assert_eq!(k("https://b.example/y"), None);
    }
}
