//! Adblock path rules (`||example.com/ads/` in a block list) as a client
//! meets them in the default build: a plain `http://` request shows the
//! proxy its path, so a rule refuses it (403 naming the rule) while other
//! paths and other hosts pass; a CONNECT shows only the host, so a path
//! rule never refuses the tunnel. (Inside HTTPS, with `--inspect`, see
//! tests/tls_inspect.rs.)
mod common;

use std::io::{BufReader, Write};

use common::client::{connect_req, dial, get, read_head, send};
use common::files::TempFile;
use common::origin::Origin;

#[test]
fn path_rules_refuse_plain_http_paths_and_leave_tunnels_alone() {
    let list = TempFile::new("paths.txt", "||localhost/ads/\n||localhost/pixel^\n");
    let mut c = common::test_config();
    c.policy.block_lists = vec![list.path().to_path_buf()];
    let proxy = common::start_with(c);
    let origin = Origin::echo();
    let port = origin.addr.port();
    let url = |path: &str| format!("http://localhost:{port}{path}");
    for (path, want) in [
        ("/ads/banner.js", 403),
        ("/ADS/x", 403),
        ("/pixel?id=1", 403),
        ("/pixel", 403),
        ("/news/", 200),
        ("/pixels", 200),
        ("/ads", 200),
    ] {
        let r = send(proxy.addr, &get(&url(path)));
        assert_eq!(r.status, want, "{path}: {}", r.text());
        if want == 403 {
            assert!(
                r.text().contains("is blocked by the rule 'localhost/"),
                "{}",
                r.text()
            );
        }
    }
    // The same rules, by IP: another host, not blocked.
    let r = send(proxy.addr, &get(&origin.url("/ads/banner.js")));
    assert_eq!(r.status, 200);
    // A tunnel to the domain: only its host is seen.
    let mut s = dial(proxy.addr);
    s.write_all(&connect_req(&format!("localhost:{port}")))
        .unwrap();
    let head = read_head(&mut BufReader::new(&s)).unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
}
