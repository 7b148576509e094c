//! The pages the proxy serves itself: which page a path names, the HTML
//! dashboard (self-contained: inline CSS and SVG, no script, no external
//! asset, so a Pi on a LAN without internet renders it; it refreshes
//! itself and fits a phone), the 404 and 405 answers, and the answer to a
//! TRACE or OPTIONS whose Max-Forwards reached zero (RFC 9110 §7.6.2).
//! Pure: values in, bytes out.

use std::fmt::Write as _;

use crate::http::head::Head;
use crate::http::reply::{simple_response, typed_response};
use crate::http::rewrite::trace_body;
use crate::stats::{CLASSES, Snapshot};

/// Methods the proxy passes on, for `Allow` on a last-hop OPTIONS.
const ALLOW: &str = "Allow: GET, HEAD, POST, PUT, DELETE, PATCH, OPTIONS, TRACE, CONNECT\r\n";
/// Methods the own pages answer (RFC 9110 §15.5.6: a 405 lists them).
pub(crate) const PAGE_ALLOW: &str = "Allow: GET, HEAD\r\n";
/// Seconds between the dashboard's own reloads.
pub(crate) const REFRESH_SECS: u32 = 10;
/// Rows shown in each of the dashboard's top tables.
pub(crate) const TOP_ROWS: usize = 10;

/// Which of its own pages the proxy answers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Page {
    /// `/`: the HTML dashboard.
    Dashboard,
    /// `/status.json`: the dashboard's numbers.
    StatusJson,
    /// `/metrics`: Prometheus text format.
    Metrics,
    /// `/proxy.pac` or `/wpad.dat`: the auto-config script.
    Pac,
    /// `/ca.pem`: the HTTPS inspection CA, for devices to install.
    CaPem,
    /// Any other path, or `*`.
    NotFound,
    /// A TRACE or OPTIONS with `Max-Forwards: 0`: the proxy is its final
    /// recipient.
    LastHop,
}

impl Page {
    /// The page a path names (the query, if any, is ignored).
    pub(crate) fn for_path(path: &str) -> Page {
        match path.split('?').next().unwrap_or("") {
            "/" => Page::Dashboard,
            "/status.json" => Page::StatusJson,
            "/metrics" => Page::Metrics,
            "/proxy.pac" | "/wpad.dat" => Page::Pac,
            "/ca.pem" => Page::CaPem,
            _ => Page::NotFound,
        }
    }

    /// Whether the page shows the household's traffic, so needs the
    /// proxy's credentials when authentication is on. The PAC script does
    /// not: devices fetch it before they know any password.
    pub(crate) fn needs_auth(self) -> bool {
        matches!(self, Page::Dashboard | Page::StatusJson | Page::Metrics)
    }
}

/// Answers that need no counters: the last hop, 404, and 405 for a page
/// asked with a method other than GET or HEAD. `None`: serve the page.
pub(crate) fn plain(page: Page, head: &Head) -> Option<(u16, Vec<u8>)> {
    let with_body = head.method != "HEAD";
    Some(match page {
        Page::LastHop if head.method == "TRACE" => {
            let body = trace_body(head);
            (200, typed_response(200, "message/http", "", &body, true))
        }
        Page::LastHop => {
            let r = typed_response(200, "text/plain; charset=utf-8", ALLOW, b"", true);
            (200, r)
        }
        Page::NotFound => {
            let body = "smolproxy: this is a proxy; send absolute-form requests \
                        (http://host/path) or CONNECT. Its own pages: / (dashboard), \
                        /status.json, /metrics, /proxy.pac\n";
            (404, simple_response(404, "", body, with_body))
        }
        _ if !matches!(head.method.as_str(), "GET" | "HEAD") => {
            let body = "smolproxy: this page answers GET and HEAD only\n";
            (405, simple_response(405, PAGE_ALLOW, body, true))
        }
        _ => return None,
    })
}

/// Text safe inside HTML elements and attribute values.
pub(crate) fn html(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

/// Bytes for people: `999 B`, `1.5 KiB`, `2.0 GiB`.
pub(crate) fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    // Integers only (tenths), so the binary carries no float formatting.
    let mut unit = 0;
    let mut scale: u128 = 1024;
    while u128::from(n) >= scale * 1024 && unit + 1 < UNITS.len() {
        scale *= 1024;
        unit += 1;
    }
    let tenths = (u128::from(n) * 10 + scale / 2) / scale;
    format!("{}.{} {}", tenths / 10, tenths % 10, UNITS[unit])
}

/// An uptime for people: `45s`, `12m 5s`, `3h 2m`, `4d 1h`.
pub(crate) fn human_uptime(secs: u64) -> String {
    let (d, h, m, s) = (secs / 86_400, secs / 3600 % 24, secs / 60 % 60, secs % 60);
    match (d, h, m) {
        (0, 0, 0) => format!("{s}s"),
        (0, 0, _) => format!("{m}m {s}s"),
        (0, _, _) => format!("{h}h {m}m"),
        _ => format!("{d}d {h}h"),
    }
}

/// The traffic chart of the last hour: a bar per minute (bytes) and a
/// line for requests, each scaled to its own peak.
fn chart(s: &Snapshot) -> String {
    const W: u64 = 600;
    const H: u64 = 120;
    let bar = W / s.minutes.len() as u64;
    let peak_bytes = s.minutes.iter().map(|m| m.1).max().unwrap_or(0).max(1);
    let peak_req = s.minutes.iter().map(|m| m.0).max().unwrap_or(0).max(1);
    let mut o = format!(
        "<svg viewBox=\"0 0 {W} {H}\" role=\"img\" aria-label=\"traffic per minute, last hour\">\
         <rect width=\"{W}\" height=\"{H}\" fill=\"#f4f6f8\"/>"
    );
    let mut line = String::new();
    for (i, &(req, bytes)) in s.minutes.iter().enumerate() {
        let x = i as u64 * bar;
        let h = bytes * (H - 4) / peak_bytes;
        if h > 0 {
            let _ = write!(
                o,
                "<rect x=\"{x}\" y=\"{}\" width=\"{}\" height=\"{h}\" fill=\"#7aa6d8\"/>",
                H - h,
                bar - 1
            );
        }
        let y = H - 2 - req * (H - 4) / peak_req;
        let _ = write!(line, "{},{y} ", x + bar / 2);
    }
    let _ = write!(
        o,
        "<polyline points=\"{}\" fill=\"none\" stroke=\"#c0392b\" stroke-width=\"2\"/></svg>",
        line.trim_end()
    );
    o
}

/// Rows of a top table, or one row saying there is nothing yet.
fn rows<K: ToString>(o: &mut String, list: &[(K, u64)], fmt: fn(u64) -> String) {
    if list.is_empty() {
        o.push_str("<tr><td colspan=2 class=muted>none yet</td></tr>");
    }
    for (k, n) in list {
        let _ = write!(
            o,
            "<tr><td>{}</td><td class=n>{}</td></tr>",
            html(&k.to_string()),
            fmt(*n)
        );
    }
}

/// The dashboard's HTML.
pub(crate) fn dashboard(s: &Snapshot, version: &str, ca: bool) -> String {
    let (min_req, min_bytes) = s.last_minute();
    let (hour_req, hour_bytes) = s.last_hour();
    let mut o = String::with_capacity(8192);
    let _ = write!(
        o,
        "<!DOCTYPE html><html lang=en><head><meta charset=utf-8>\
         <meta name=viewport content=\"width=device-width, initial-scale=1\">\
         <meta http-equiv=refresh content=\"{REFRESH_SECS}\"><title>smolproxy</title><style>\
         body{{font:15px/1.4 system-ui,sans-serif;margin:0 auto;max-width:46em;padding:.8em;color:#222}}\
         h1{{font-size:1.3em;margin:.2em 0}}h2{{font-size:1.05em;margin:1.2em 0 .4em}}\
         .cards{{display:flex;flex-wrap:wrap;gap:.5em}}\
         .card{{flex:1 1 9em;background:#f4f6f8;border-radius:6px;padding:.5em .7em}}\
         .big{{font-size:1.5em;font-weight:600}}table{{border-collapse:collapse;width:100%}}\
         td,th{{text-align:left;padding:.2em .4em;border-bottom:1px solid #e3e6ea;word-break:break-all}}\
         .n{{text-align:right;white-space:nowrap}}.muted{{color:#777}}svg{{width:100%;height:auto}}\
         </style></head><body><h1>smolproxy {}</h1>\
         <p class=muted>up {} &middot; refreshes every {REFRESH_SECS} s</p><div class=cards>\
         <div class=card>clients connected<div class=big id=connections>{}</div></div>\
         <div class=card>tunnels open<div class=big id=tunnels>{}</div></div>\
         <div class=card>requests since start<div class=big id=requests-total>{}</div></div>\
         <div class=card>blocked since start<div class=big id=blocked-total>{}</div></div></div>",
        html(version),
        human_uptime(s.uptime.as_secs()),
        s.connections,
        s.tunnels,
        s.total(),
        s.blocked,
    );
    let _ = write!(
        o,
        "<h2>Traffic</h2><table><tr><th></th><th class=n>requests</th><th class=n>bytes</th></tr>\
         <tr><td>this minute</td><td class=n id=requests-minute>{min_req}</td><td class=n>{}</td></tr>\
         <tr><td>last hour</td><td class=n id=requests-hour>{hour_req}</td><td class=n>{}</td></tr>\
         <tr><td>since start</td><td class=n>{}</td><td class=n>{} down, {} up</td></tr></table>\
         <h2>Last hour</h2><p class=muted>bars: bytes per minute; line: requests per minute</p>{}",
        human_bytes(min_bytes),
        human_bytes(hour_bytes),
        s.total(),
        human_bytes(s.down),
        human_bytes(s.up),
        chart(s),
    );
    o.push_str("<h2>Answers</h2><table>");
    for (class, n) in CLASSES.iter().zip(s.requests) {
        let name = if *class == "none" { "no answer" } else { class };
        let _ = write!(
            o,
            "<tr><td>{name}</td><td class=n id=class-{class}>{n}</td></tr>"
        );
    }
    o.push_str("</table>");
    if let Some(c) = &s.cache {
        super::cache::dashboard(&mut o, c, human_bytes);
    }
    o.push_str("<h2>Top clients by bytes</h2><table>");
    rows(&mut o, &s.clients, human_bytes);
    o.push_str("</table><h2>Top blocking rules</h2><table>");
    rows(&mut o, &s.rules, |n| n.to_string());
    o.push_str("</table><h2>Top blocked domains</h2><table>");
    rows(&mut o, &s.domains, |n| n.to_string());
    o.push_str(
        "</table><p class=muted>Client totals count when a connection closes. \
         <a href=\"/status.json\">status.json</a> &middot; <a href=\"/metrics\">metrics</a> \
         &middot; <a href=\"/proxy.pac\">proxy.pac</a>",
    );
    if ca {
        o.push_str(" &middot; <a href=\"/ca.pem\">ca.pem</a> (the HTTPS inspection CA)");
    }
    o.push_str("</p></body></html>\n");
    o
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::head::test_request as req;

    #[test]
    fn paths() {
        let cases = [
            ("/", Page::Dashboard),
            ("/?x=1", Page::Dashboard),
            ("/status.json", Page::StatusJson),
            ("/metrics", Page::Metrics),
            ("/proxy.pac", Page::Pac),
            ("/wpad.dat", Page::Pac),
            ("/ca.pem", Page::CaPem),
            ("/metrics/", Page::NotFound),
            ("/x", Page::NotFound),
            ("*", Page::NotFound),
        ];
        for (path, want) in cases {
            assert_eq!(Page::for_path(path), want, "{path}");
        }
        assert!(Page::Metrics.needs_auth() && !Page::Pac.needs_auth());
    }

    #[test]
    fn plain_answers() {
        let cases = [
            (
                Page::NotFound,
                "GET /x HTTP/1.1\r\n\r\n",
                Some(404),
                "this is a proxy",
            ),
            (
                Page::NotFound,
                "OPTIONS * HTTP/1.1\r\n\r\n",
                Some(404),
                "this is a proxy",
            ),
            (
                Page::Metrics,
                "POST /metrics HTTP/1.1\r\n\r\n",
                Some(405),
                "Allow: GET, HEAD\r\n",
            ),
            (
                Page::Pac,
                "DELETE /wpad.dat HTTP/1.1\r\n\r\n",
                Some(405),
                "Allow: GET, HEAD",
            ),
            (Page::Dashboard, "GET / HTTP/1.1\r\n\r\n", None, ""),
            (Page::Pac, "HEAD /proxy.pac HTTP/1.1\r\n\r\n", None, ""),
            (
                Page::LastHop,
                "OPTIONS http://a/ HTTP/1.1\r\nMax-Forwards: 0\r\n\r\n",
                Some(200),
                "Allow: GET",
            ),
            (
                Page::LastHop,
                "TRACE http://a/ HTTP/1.1\r\nMax-Forwards: 0\r\nCookie: c\r\n\r\n",
                Some(200),
                "message/http",
            ),
        ];
        for (page, raw, status, has) in cases {
            let got = plain(page, &req(raw));
            assert_eq!(got.as_ref().map(|g| g.0), status, "{raw:?}");
            let text = String::from_utf8(got.map(|g| g.1).unwrap_or_default()).unwrap();
            assert!(text.contains(has), "{raw:?}: {text}");
            assert!(!text.contains("Cookie: c"), "TRACE leaves cookies out");
        }
        let (_, head_only) = plain(Page::NotFound, &req("HEAD /x HTTP/1.1\r\n\r\n")).unwrap();
        assert!(head_only.ends_with(b"\r\n\r\n"), "no body for HEAD");
    }

    #[test]
    fn people_units() {
        let cases = [
            (0, "0 B"),
            (1023, "1023 B"),
            (1536, "1.5 KiB"),
            (5 << 30, "5.0 GiB"),
        ];
        for (n, want) in cases {
            assert_eq!(human_bytes(n), want);
        }
        let cases = [
            (45, "45s"),
            (725, "12m 5s"),
            (10_920, "3h 2m"),
            (349_200, "4d 1h"),
        ];
        for (n, want) in cases {
            assert_eq!(human_uptime(n), want);
        }
        assert_eq!(
            html("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }

    #[test]
    fn dashboard_shows_the_numbers_escaped() {
        let mut s = Snapshot {
            requests: [0, 0, 40, 1, 1, 0],
            blocked: 2,
            connections: 3,
            rules: vec![("<script>".into(), 2)],
            domains: vec![("x.ads.example".into(), 2)],
            clients: vec![("192.168.1.20".parse().unwrap(), 2048)],
            ..Snapshot::default()
        };
        s.minutes[59] = (5, 4096);
        s.minutes[10] = (37, 100);
        let page = dashboard(&s, "0.1.0", false);
        let want = [
            "<meta name=viewport",
            "<meta http-equiv=refresh content=\"10\">",
            "id=requests-total>42<",
            "id=connections>3<",
            "id=blocked-total>2<",
            "id=requests-minute>5<",
            "id=requests-hour>42<",
            "id=class-2xx>40<",
            "&lt;script&gt;",
            "<td>192.168.1.20</td><td class=n>2.0 KiB</td>",
            "<svg viewBox",
            "<polyline points=\"5,",
        ];
        for w in want {
            assert!(page.contains(w), "missing {w:?} in\n{page}");
        }
        assert!(!page.contains("<script"), "no script, none injected");
        assert!(
            !page.contains("http://") && !page.contains("https://"),
            "no external asset"
        );
        let empty = dashboard(&Snapshot::default(), "0.1.0", true);
        assert!(empty.contains("<a href=\"/ca.pem\">"));
        assert!(!page.contains("ca.pem"));
        assert!(empty.contains("none yet"));
    }
}
