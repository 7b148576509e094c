//! parse_request and what the proxy does with a request head: no panics,
//! counts within the input, the same head from any longer buffer and no
//! verdict from a prefix, and the head write_request produces parses back
//! to the same method, target path and framing, without hop-by-hop fields.
#![no_main]

use libfuzzer_sys::fuzz_target;
use smolproxy::http::framing::{Body, keeps_alive, request_body};
use smolproxy::http::head::{HeadError, MAX_FIELDS, MAX_HEAD_BYTES, MAX_TARGET_BYTES, parse_request};
use smolproxy::http::rewrite::{RequestOut, write_request};
use smolproxy::http::target::{Target, parse_target};

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
    let (head, n) = match parse_request(data) {
        Ok(Some(x)) => x,
        Ok(None) => {
            assert!(data.len() < MAX_HEAD_BYTES);
            return;
        }
        Err(_) => return,
    };

    // The head and its parts.
    assert!(n > 0 && n <= data.len() && n <= MAX_HEAD_BYTES, "{n}");
    assert!(data[..n].ends_with(b"\n"));
    assert!(!head.method.is_empty() && head.method.bytes().all(tchar));
    assert!(!head.target.is_empty() && head.target.len() <= MAX_TARGET_BYTES);
    assert!(head.minor <= 1);
    assert!(head.field_count() <= MAX_FIELDS);
    assert_eq!(head.fields().count(), head.field_count());
    for (name, value) in head.fields() {
        assert!(!name.is_empty() && name.bytes().all(tchar), "{name:?}");
        assert!(!value.contains(&b'\r') && !value.contains(&b'\n'));
        assert!(!value.ends_with(b" ") && !value.ends_with(b"\t"));
    }

    // Only the head's own bytes matter; a strict prefix is "need more".
    let (again, n2) = parse_request(&data[..n]).unwrap().unwrap();
    assert_eq!(n2, n);
    assert_eq!(
        (&again.method, &again.target, again.minor, fields(&again)),
        (&head.method, &head.target, head.minor, fields(&head))
    );
    let step = if n <= 512 { 1 } else { n / 97 };
    for k in (0..n).step_by(step).chain([n - 1]) {
        assert_eq!(
            parse_request(&data[..k]).map(|o| o.is_some()),
            Ok(false),
            "prefix {k}"
        );
    }

    let _ = keeps_alive(&head);
    let body = request_body(&head);
    if let Ok(Body::Length(len)) = body {
        assert!(len > 0);
    }
    assert!(!matches!(body, Ok(Body::UntilClose)));

    // Forward it, as the proxy does, and read what we wrote.
    let (host, path) = match parse_target(&head.method, &head.target) {
        Ok(Target::Http {
            host_field, path, ..
        }) => (host_field, path),
        Ok(Target::Origin(p)) => ("origin.test:8080".to_string(), p),
        _ => return,
    };
    let Ok(body) = body else { return };
    for via in [false, true] {
        let r = RequestOut {
            host: &host,
            path: &path,
            body,
            upgrade: None,
            via,
        };
        let mut out = Vec::new();
        write_request(&mut out, &head, &r);
        let (sent, m) = match parse_request(&out) {
            Ok(Some(x)) => x,
            // We add up to five fields and some bytes of our own.
            Err(HeadError::TooLarge)
                if head.field_count() + 5 > MAX_FIELDS || out.len() > MAX_HEAD_BYTES =>
            {
                continue;
            }
            other => panic!("{other:?} from {:?}", String::from_utf8_lossy(&out)),
        };
        assert_eq!(m, out.len());
        assert_eq!(sent.method, head.method);
        assert_eq!(sent.target, path);
        assert_eq!(sent.minor, 1);
        assert_eq!(
            request_body(&sent),
            Ok(body),
            "{:?}",
            String::from_utf8_lossy(&out)
        );
        let hosts: Vec<&[u8]> = sent.values("host").collect();
        assert_eq!(hosts, [host.as_bytes()]);
        for hop in [
            "proxy-connection",
            "proxy-authorization",
            "keep-alive",
            "upgrade",
            "trailer",
        ] {
            assert_eq!(sent.value(hop), None, "{hop} forwarded");
        }
        for c in sent.list("connection") {
            assert!(c.eq_ignore_ascii_case(b"te"), "Connection: {c:?}");
        }
        for te in sent.values("te") {
            assert_eq!(te, b"trailers");
        }
        // Every client field we pass on is one the client sent, in order.
        let ours = [
            "host",
            "content-length",
            "transfer-encoding",
            "te",
            "connection",
        ];
        let mut theirs = head.fields();
        let sent_fields = fields(&sent);
        let passed = &sent_fields[..sent_fields.len() - usize::from(via)];
        for (name, value) in passed {
            if ours.iter().any(|o| name.eq_ignore_ascii_case(o)) {
                continue;
            }
            assert!(
                theirs.any(|(n, v)| n == name && v == value),
                "{name}: {value:?} not sent by the client in this order"
            );
        }
        // Forwarding what we forwarded changes nothing.
        if !via {
            let mut twice = Vec::new();
            write_request(&mut twice, &sent, &r);
            assert_eq!(
                String::from_utf8_lossy(&twice),
                String::from_utf8_lossy(&out)
            );
        }
    }
});
