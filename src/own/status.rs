//! `/status.json`: the dashboard's numbers for scripts, as one JSON
//! object written by hand (no serde). Host names and rules come from the
//! network and from downloaded lists, so every string is escaped per RFC
//! 8259 §7. Pure: a snapshot in, text out.

use std::fmt::Write as _;

use super::metrics::decimal;
use crate::logger::json_str;
use crate::stats::{CLASSES, Snapshot};

/// `s` as a JSON string literal, quotes included (the access log's
/// escaping, RFC 8259 §7).
pub(crate) fn json_string(s: &str) -> String {
    let mut o = String::with_capacity(s.len() + 2);
    json_str(&mut o, Some(s));
    o
}

/// A list of (key, count) as `[{"NAME": "key", "FIELD": n}, …]`.
fn table<K: ToString>(o: &mut String, rows: &[(K, u64)], name: &str, field: &str) {
    o.push('[');
    for (i, (k, n)) in rows.iter().enumerate() {
        let sep = if i == 0 { "" } else { ", " };
        let k = json_string(&k.to_string());
        let _ = write!(o, "{sep}{{\"{name}\": {k}, \"{field}\": {n}}}");
    }
    o.push(']');
}

/// The whole document.
pub(crate) fn render(s: &Snapshot, version: &str) -> String {
    let mut o = String::with_capacity(4096);
    let (min_req, min_bytes) = s.last_minute();
    let (hour_req, hour_bytes) = s.last_hour();
    let _ = write!(
        o,
        "{{\"version\": {}, \"uptime_seconds\": {}, \"connections_active\": {}, \
         \"tunnels_active\": {},\n\"requests\": {{\"total\": {}, \"last_minute\": {min_req}, \
         \"last_hour\": {hour_req}, \"by_class\": {{",
        json_string(version),
        s.uptime.as_secs(),
        s.connections,
        s.tunnels,
        s.total(),
    );
    for (i, (class, n)) in CLASSES.iter().zip(s.requests).enumerate() {
        let sep = if i == 0 { "" } else { ", " };
        let _ = write!(o, "{sep}\"{class}\": {n}");
    }
    let _ = write!(
        o,
        "}}}},\n\"bytes\": {{\"up\": {}, \"down\": {}, \"last_minute\": {min_bytes}, \
         \"last_hour\": {hour_bytes}}},\n\"duration_seconds\": {{\"sum\": {}, \"count\": {}}},\n\
         \"blocked\": {{\"total\": {}, \"top_rules\": ",
        s.up,
        s.down,
        decimal(s.duration_us),
        s.total(),
        s.blocked,
    );
    table(&mut o, &s.rules, "rule", "requests");
    o.push_str(", \"top_domains\": ");
    table(&mut o, &s.domains, "domain", "requests");
    o.push_str("},\n\"top_clients\": ");
    table(&mut o, &s.clients, "client", "bytes");
    o.push_str(",\n\"per_minute\": {\"requests\": [");
    let list = |o: &mut String, f: &dyn Fn(&(u64, u64)) -> u64| {
        for (i, m) in s.minutes.iter().enumerate() {
            let sep = if i == 0 { "" } else { "," };
            let _ = write!(o, "{sep}{}", f(m));
        }
    };
    list(&mut o, &|m| m.0);
    o.push_str("], \"bytes\": [");
    list(&mut o, &|m| m.1);
    o.push_str("]}");
    if let Some(c) = &s.cache {
        super::cache::json(&mut o, c);
    }
    o.push_str("}\n");
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_are_escaped() {
        let cases = [
            ("ads.example", "\"ads.example\""),
            ("a\"b\\c", "\"a\\\"b\\\\c\""),
            ("l1\nl2\r\t", "\"l1\\nl2\\r\\t\""),
            ("\u{0}\u{1f}\u{7f}", "\"\\u0000\\u001f\\u007f\""),
            ("\u{2028}é", "\"\\u2028é\""),
        ];
        for (raw, want) in cases {
            assert_eq!(json_string(raw), want, "{raw:?}");
        }
    }

    #[test]
    fn document() {
        let mut s = Snapshot {
            requests: [0, 0, 5, 0, 1, 0],
            up: 3,
            down: 4,
            blocked: 1,
            rules: vec![("evil\"rule".into(), 1)],
            domains: vec![("x.evil".into(), 1)],
            clients: vec![("10.0.0.9".parse().unwrap(), 7)],
            duration_us: 250_000,
            ..Snapshot::default()
        };
        s.minutes[59] = (2, 7);
        s.minutes[0] = (4, 0);
        let text = render(&s, "1.2.3");
        let want = [
            "\"version\": \"1.2.3\"",
            "\"total\": 6, \"last_minute\": 2, \"last_hour\": 6",
            "\"by_class\": {\"none\": 0, \"1xx\": 0, \"2xx\": 5, \"3xx\": 0, \"4xx\": 1, \"5xx\": 0}",
            "\"bytes\": {\"up\": 3, \"down\": 4, \"last_minute\": 7, \"last_hour\": 7}",
            "\"duration_seconds\": {\"sum\": 0.25, \"count\": 6}",
            "\"top_rules\": [{\"rule\": \"evil\\\"rule\", \"requests\": 1}]",
            "\"top_domains\": [{\"domain\": \"x.evil\", \"requests\": 1}]",
            "\"top_clients\": [{\"client\": \"10.0.0.9\", \"bytes\": 7}]",
            "\"requests\": [4,0,",
            ",0,2], \"bytes\": [0,",
        ];
        for w in want {
            assert!(text.contains(w), "missing {w:?} in\n{text}");
        }
        let opens = text.matches(['{', '[']).count();
        let closes = text.matches(['}', ']']).count();
        assert_eq!(opens, closes, "balanced: {text}");
    }
}
