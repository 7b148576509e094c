//! `/proxy.pac` and `/wpad.dat`: a proxy auto-config script whose
//! `FindProxyForURL` sends everything through the address the client
//! reached (`PROXY addr; DIRECT`, so a stopped proxy does not cut the
//! household off) except what is local: plain host names, `localhost`,
//! names under `.local` (mDNS, which a static musl binary cannot resolve),
//! `.lan`, `.home.arpa` and `.internal` (names only the household's own
//! DNS knows), IP literals in loopback, RFC 1918, link-local, CGNAT and ULA
//! ranges, and each `--pac-direct` domain with its subdomains. The script
//! never asks DNS (no `isInNet`/`dnsResolve` on names: an address is only
//! recognised when the URL holds it literally), so a browser does not wait
//! on a lookup per URL. With an HTTPS listener (`--tls-listen`), an
//! `HTTPS host:port` entry comes first (browsers that know it send
//! requests to the proxy over TLS; others skip to `PROXY`); its host is
//! the name the client used for the proxy (the PAC request's `Host`), which
//! is the name the proxy's certificate is likely issued for. Pure: values
//! in, text out.

use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};

use super::status::json_string;

/// The content type PAC clients expect.
pub(crate) const CONTENT_TYPE: &str = "application/x-ns-proxy-autoconfig";

/// Name suffixes that stay on the LAN (see the module text).
const LOCAL_SUFFIXES: [&str; 4] = [".local", ".lan", ".home.arpa", ".internal"];

/// `host:port` as a PAC `PROXY` entry: IPv6 in brackets, an IPv4 client on
/// a `[::]` socket as plain IPv4.
pub(crate) fn proxy_address(reached: SocketAddr) -> String {
    let ip = match reached.ip() {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    };
    SocketAddr::new(ip, reached.port()).to_string()
}

/// `host:port` for the PAC's `HTTPS` entry: the host of the PAC request's
/// `Host` field when it is a plain name or IP literal, else the address
/// reached; `port` is the TLS listener's.
pub(crate) fn https_entry(host_field: Option<&[u8]>, reached: SocketAddr, port: u16) -> String {
    let host = host_field
        .and_then(|h| std::str::from_utf8(h).ok())
        .map(|h| match h.strip_prefix('[') {
            // [v6]:port: the address between the brackets.
            Some(rest) => rest.split_once(']').map_or("", |(v6, _)| v6),
            None => h.split(':').next().unwrap_or(""),
        });
    let fallback = SocketAddr::new(reached.ip(), port);
    match host.unwrap_or("") {
        "" => proxy_address(fallback),
        h => match h.parse::<IpAddr>() {
            Ok(ip) => proxy_address(SocketAddr::new(ip, port)),
            Err(_)
                if h.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-') =>
            {
                format!("{}:{port}", h.to_ascii_lowercase())
            }
            Err(_) => proxy_address(fallback),
        },
    }
}

/// The script for a client that reached the proxy at `reached`; `https`
/// is the `HTTPS` entry's `host:port` when there is an HTTPS listener.
pub(crate) fn render(reached: SocketAddr, direct: &[String], https: Option<&str>) -> String {
    let mut domains = String::new();
    for (i, d) in direct.iter().enumerate() {
        let sep = if i == 0 { "" } else { ", " };
        let _ = write!(domains, "{sep}{}", json_string(d));
    }
    let suffixes = LOCAL_SUFFIXES
        .iter()
        .map(|s| json_string(s))
        .collect::<Vec<_>>()
        .join(", ");
    let https = https.map(|h| format!("HTTPS {h}; ")).unwrap_or_default();
    let proxy = json_string(&format!("{https}PROXY {}; DIRECT", proxy_address(reached)));
    format!(
        r#"// smolproxy {version}: proxy auto-config (served as /proxy.pac and /wpad.dat)
var DIRECT_DOMAINS = [{domains}];
var LOCAL_SUFFIXES = [{suffixes}];

// An IPv4 literal as a number, or -1 (no DNS lookup).
function smolproxyIPv4(h) {{
  var p = h.split(".");
  if (p.length != 4) return -1;
  var n = 0;
  for (var i = 0; i < 4; i++) {{
    if (!/^[0-9]{{1,3}}$/.test(p[i]) || +p[i] > 255) return -1;
    n = n * 256 + (+p[i]);
  }}
  return n;
}}

function smolproxyIn(n, net, bits) {{
  var size = Math.pow(2, 32 - bits);
  return Math.floor(n / size) == Math.floor(net / size);
}}

function FindProxyForURL(url, host) {{
  host = host.toLowerCase();
  if (host.charAt(0) == "[") host = host.substring(1, host.length - 1);
  var n = smolproxyIPv4(host);
  if (n >= 0) {{
    if (smolproxyIn(n, 2130706432, 8) || smolproxyIn(n, 167772160, 8) ||
        smolproxyIn(n, 2886729728, 12) || smolproxyIn(n, 3232235520, 16) ||
        smolproxyIn(n, 2851995648, 16) || smolproxyIn(n, 1681915904, 10))
      return "DIRECT";
    return {proxy};
  }}
  if (host.indexOf(":") >= 0) {{
    // IPv6 literal: loopback, ULA fc00::/7, link-local fe80::/10 (a
    // first group of four hex digits; a shorter one is zero-padded).
    if (host == "::1" || /^f[cd][0-9a-f]{{2}}:/.test(host) || /^fe[89ab][0-9a-f]:/.test(host))
      return "DIRECT";
    return {proxy};
  }}
  if (isPlainHostName(host) || host == "localhost") return "DIRECT";
  for (var i = 0; i < LOCAL_SUFFIXES.length; i++)
    if (dnsDomainIs(host, LOCAL_SUFFIXES[i])) return "DIRECT";
  for (var j = 0; j < DIRECT_DOMAINS.length; j++)
    if (host == DIRECT_DOMAINS[j] || dnsDomainIs(host, "." + DIRECT_DOMAINS[j]))
      return "DIRECT";
  return {proxy};
}}
"#,
        version = env!("CARGO_PKG_VERSION"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proxy_addresses() {
        let cases = [
            ("192.168.1.2:8888", "192.168.1.2:8888"),
            ("[::ffff:192.168.1.2]:8888", "192.168.1.2:8888"),
            ("[fd00::1]:3128", "[fd00::1]:3128"),
        ];
        for (reached, want) in cases {
            assert_eq!(proxy_address(reached.parse().unwrap()), want);
        }
    }

    #[test]
    fn script() {
        let direct = vec!["bank.example".to_string(), "a\"b".to_string()];
        let text = render("[::ffff:10.0.0.2]:8888".parse().unwrap(), &direct, None);
        let want = [
            "function FindProxyForURL(url, host) {",
            "return \"PROXY 10.0.0.2:8888; DIRECT\";",
            "var DIRECT_DOMAINS = [\"bank.example\", \"a\\\"b\"];",
            "\".home.arpa\"",
            "isPlainHostName(host)",
        ];
        for w in want {
            assert!(text.contains(w), "missing {w:?} in\n{text}");
        }
        assert!(
            !text.contains("isInNet") && !text.contains("dnsResolve"),
            "no DNS"
        );
        let empty = render("127.0.0.1:1".parse().unwrap(), &[], None);
        assert!(empty.contains("var DIRECT_DOMAINS = [];"), "{empty}");
        assert!(!empty.contains("HTTPS"), "{empty}");
        let https = render("10.0.0.2:8888".parse().unwrap(), &[], Some("pi.lan:8443"));
        let want = "return \"HTTPS pi.lan:8443; PROXY 10.0.0.2:8888; DIRECT\";";
        assert!(https.contains(want), "{https}");
    }

    #[test]
    fn https_entries() {
        let reached: SocketAddr = "[::ffff:192.168.1.2]:8888".parse().unwrap();
        let cases: [(Option<&[u8]>, &str); 8] = [
            (Some(b"Pi.LAN:8888"), "pi.lan:8443"),
            (Some(b"pi.lan"), "pi.lan:8443"),
            (Some(b"192.168.1.2:8888"), "192.168.1.2:8443"),
            (Some(b"[fd00::1]:8888"), "[fd00::1]:8443"),
            (None, "192.168.1.2:8443"),
            (Some(b""), "192.168.1.2:8443"),
            // Anything else is not echoed into the script.
            (Some(b"a\"b;evil"), "192.168.1.2:8443"),
            (Some(b"[nope"), "192.168.1.2:8443"),
        ];
        for (host, want) in cases {
            assert_eq!(https_entry(host, reached, 8443), want, "{host:?}");
        }
    }
}
