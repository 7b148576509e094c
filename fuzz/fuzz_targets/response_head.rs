//! parse_response and what the proxy does with a response head: no
//! panics, counts within the input, the same head from any longer buffer
//! and no verdict from a prefix, and the head write_response produces
//! parses back to the same status and framing, without hop-by-hop fields.
#![no_main]

use libfuzzer_sys::fuzz_target;
use smolproxy::http::framing::{Body, keeps_alive, response_body};
use smolproxy::http::head::{HeadError, MAX_FIELDS, MAX_HEAD_BYTES, parse_response};
use smolproxy::http::rewrite::{ResponseOut, write_response};

fn tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

type Fields = Vec<(String, Vec<u8>)>;

fn fields(h: &smolproxy::http::head::Head) -> Fields {
    h.fields()
        .map(|(n, v)| (n.to_string(), v.to_vec()))
        .collect()
}

fuzz_target!(|data: &[u8]| {
    let (head, n) = match parse_response(data) {
        Ok(Some(x)) => x,
        Ok(None) => {
            assert!(data.len() < MAX_HEAD_BYTES);
            return;
        }
        Err(_) => return,
    };

    assert!(n > 0 && n <= data.len() && n <= MAX_HEAD_BYTES, "{n}");
    assert!(data[..n].ends_with(b"\n"));
    assert!(head.status <= 999 && head.minor <= 1);
    assert!(!head.reason.contains(['\r', '\n']));
    assert!(head.field_count() <= MAX_FIELDS);
    for (name, value) in head.fields() {
        assert!(!name.is_empty() && name.bytes().all(tchar), "{name:?}");
        assert!(!value.contains(&b'\r') && !value.contains(&b'\n'));
    }

    let (again, n2) = parse_response(&data[..n]).unwrap().unwrap();
    assert_eq!(n2, n);
    assert_eq!(
        (again.status, &again.reason, again.minor, fields(&again)),
        (head.status, &head.reason, head.minor, fields(&head))
    );
    let step = if n <= 512 { 1 } else { n / 97 };
    for k in (0..n).step_by(step).chain([n - 1]) {
        assert_eq!(
            parse_response(&data[..k]).map(|o| o.is_some()),
            Ok(false),
            "prefix {k}"
        );
    }

    let keep = keeps_alive(&head);
    for method in ["HEAD", "CONNECT", "POST"] {
        let _ = response_body(method, &head);
    }
    assert_eq!(
        response_body("HEAD", &head)
            .map(|(b, _)| b)
            .unwrap_or(Body::None),
        Body::None
    );
    let Ok((body, reusable)) = response_body("GET", &head) else {
        return;
    };
    if body == Body::UntilClose {
        assert!(!reusable);
    }

    // Forward it to the client and read what we wrote.
    for (client_http10, via) in [(false, false), (true, false), (false, true)] {
        let r = ResponseOut {
            body,
            keep_alive: keep && reusable,
            client_http10,
            upgrade: None,
            via,
        };
        let mut out = Vec::new();
        write_response(&mut out, &head, &r);
        let (sent, m) = match parse_response(&out) {
            Ok(Some(x)) => x,
            Err(HeadError::TooLarge)
                if head.field_count() + 5 > MAX_FIELDS || out.len() > MAX_HEAD_BYTES =>
            {
                continue;
            }
            other => panic!("{other:?} from {:?}", String::from_utf8_lossy(&out)),
        };
        assert_eq!(m, out.len());
        assert_eq!(sent.status, head.status);
        assert_eq!(sent.reason, head.reason);
        assert_eq!(
            response_body("GET", &sent).map(|(b, _)| b),
            Ok(body),
            "{:?}",
            String::from_utf8_lossy(&out)
        );
        assert_eq!(
            keeps_alive(&sent) || client_http10,
            r.keep_alive || client_http10
        );
        for hop in [
            "proxy-connection",
            "proxy-authenticate",
            "keep-alive",
            "upgrade",
            "trailer",
            "te",
        ] {
            assert_eq!(sent.value(hop), None, "{hop} forwarded");
        }
        // Framing fields: ours for a length or chunked body; the origin's
        // as sent for a bodiless response; its non-chunked coding alone
        // for an until-close body (never with Content-Length, RFC 9112 §6.2),
        // and none at all then for an HTTP/1.0 client.
        let te: Vec<&[u8]> = sent.values("transfer-encoding").collect();
        let cl: Vec<&[u8]> = sent.values("content-length").collect();
        let their_te: Vec<&[u8]> = head.values("transfer-encoding").collect();
        let their_cl: Vec<&[u8]> = head.values("content-length").collect();
        match body {
            Body::Length(n) => {
                assert!(te.is_empty());
                assert_eq!(cl, [n.to_string().as_bytes()]);
            }
            Body::Chunked => {
                assert_eq!(te, [b"chunked"]);
                assert!(cl.is_empty());
            }
            Body::None => assert_eq!((te, cl), (their_te, their_cl)),
            Body::UntilClose => {
                // Never Transfer-Encoding to an HTTP/1.0 client (RFC 9112 §6.1).
                if client_http10 {
                    assert!(te.is_empty(), "Transfer-Encoding sent to HTTP/1.0");
                } else {
                    assert_eq!(te, their_te);
                }
                assert!(
                    cl.is_empty(),
                    "Content-Length sent with an until-close body"
                );
            }
        }
        // Forwarding what we forwarded changes nothing (a field named
        // "close" is reserved: our own "Connection: close" removes it).
        if !via && head.value("close").is_none() {
            let mut twice = Vec::new();
            write_response(&mut twice, &sent, &r);
            assert_eq!(
                String::from_utf8_lossy(&twice),
                String::from_utf8_lossy(&out)
            );
        }
    }
});
