//! `/metrics`: the counters in the Prometheus text exposition format 0.0.4
//! (`# HELP` and `# TYPE` per family, `smolproxy_` names, escaped label
//! values, a cumulative histogram with `+Inf`, `_sum` and `_count`), plus
//! the standard `process_*` figures. Pure: a snapshot in, text out.

use std::fmt::Write as _;

use super::process::Process;
use crate::stats::{BUCKETS_MS, CLASSES, Snapshot};

/// The content type Prometheus expects for this format.
pub(crate) const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// A label value with `\`, `"` and newlines escaped (the format's rules).
pub(crate) fn label(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// `micros` millionths as a decimal number, `1.5`, `0.005`, `300`:
/// integers only, so the binary carries no float formatting code.
pub(crate) fn decimal(micros: u64) -> String {
    let (whole, frac) = (micros / 1_000_000, micros % 1_000_000);
    if frac == 0 {
        return whole.to_string();
    }
    let frac = format!("{frac:06}");
    format!("{whole}.{}", frac.trim_end_matches('0'))
}

/// The whole exposition.
pub(crate) fn render(s: &Snapshot, p: &Process, version: &str) -> String {
    let mut o = String::with_capacity(4096);
    let family = |o: &mut String, name: &str, kind: &str, help: &str| {
        let _ = writeln!(o, "# HELP {name} {help}\n# TYPE {name} {kind}");
    };
    family(
        &mut o,
        "smolproxy_requests_total",
        "counter",
        "Requests answered and tunnels closed, by status class (none: no response sent).",
    );
    for (class, n) in CLASSES.iter().zip(s.requests) {
        let _ = writeln!(o, "smolproxy_requests_total{{class=\"{class}\"}} {n}");
    }
    family(
        &mut o,
        "smolproxy_bytes_total",
        "counter",
        "Body and tunnel bytes: up = client to upstream, down = upstream to client.",
    );
    let _ = writeln!(o, "smolproxy_bytes_total{{direction=\"up\"}} {}", s.up);
    let _ = writeln!(o, "smolproxy_bytes_total{{direction=\"down\"}} {}", s.down);
    let gauges = [
        (
            "smolproxy_connections_active",
            "Client connections open now.",
            s.connections,
        ),
        (
            "smolproxy_tunnels_active",
            "CONNECT and SOCKS5 tunnels open now.",
            s.tunnels,
        ),
    ];
    for (name, help, v) in gauges {
        family(&mut o, name, "gauge", help);
        let _ = writeln!(o, "{name} {v}");
    }
    family(
        &mut o,
        "smolproxy_blocked_total",
        "counter",
        "Requests refused by a domain rule.",
    );
    let _ = writeln!(o, "smolproxy_blocked_total {}", s.blocked);
    let h = "smolproxy_request_duration_seconds";
    family(
        &mut o,
        h,
        "histogram",
        "Time from a request's first byte to its end (tunnels: until closed).",
    );
    let mut cumulative = 0;
    for (i, n) in s.buckets.iter().enumerate() {
        cumulative += n;
        match BUCKETS_MS.get(i) {
            Some(&ms) => {
                let le = decimal(u64::from(ms) * 1000);
                let _ = writeln!(o, "{h}_bucket{{le=\"{le}\"}} {cumulative}");
            }
            None => {
                let _ = writeln!(o, "{h}_bucket{{le=\"+Inf\"}} {cumulative}");
            }
        }
    }
    let _ = writeln!(o, "{h}_sum {}", decimal(s.duration_us));
    let _ = writeln!(o, "{h}_count {cumulative}");
    family(
        &mut o,
        "smolproxy_build_info",
        "gauge",
        "Always 1; the version is the label.",
    );
    let _ = writeln!(
        o,
        "smolproxy_build_info{{version=\"{}\"}} 1",
        label(version)
    );
    let process: [(&str, &str, &str, Option<String>); 4] = [
        (
            "process_resident_memory_bytes",
            "gauge",
            "Resident memory size in bytes.",
            p.resident_bytes.map(|v| v.to_string()),
        ),
        (
            "process_open_fds",
            "gauge",
            "Number of open file descriptors.",
            p.open_fds.map(|v| v.to_string()),
        ),
        (
            "process_cpu_seconds_total",
            "counter",
            "Total user and system CPU time spent in seconds.",
            p.cpu_micros.map(decimal),
        ),
        (
            "process_start_time_seconds",
            "gauge",
            "Start time of the process since unix epoch in seconds.",
            p.start_micros.map(decimal),
        ),
    ];
    if let Some(c) = &s.cache {
        super::cache::metrics(&mut o, c);
    }
    for (name, kind, help, v) in process {
        if let Some(v) = v {
            family(&mut o, name, kind, help);
            let _ = writeln!(o, "{name} {v}");
        }
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_escaped() {
        let cases = [
            ("0.1.0", "0.1.0"),
            ("a\"b", "a\\\"b"),
            ("a\\b", "a\\\\b"),
            ("a\nb", "a\\nb"),
        ];
        for (raw, want) in cases {
            assert_eq!(label(raw), want, "{raw:?}");
        }
    }

    #[test]
    fn decimals() {
        let cases = [
            (0, "0"),
            (5_000, "0.005"),
            (250_000, "0.25"),
            (1_000_000, "1"),
            (1_500_000, "1.5"),
            (300_000_000, "300"),
            (1_700_000_000_123_456, "1700000000.123456"),
        ];
        for (micros, want) in cases {
            assert_eq!(decimal(micros), want, "{micros}");
        }
    }

    #[test]
    fn exposition() {
        let mut s = Snapshot {
            requests: [1, 0, 7, 2, 3, 4],
            up: 10,
            down: 20,
            connections: 5,
            tunnels: 2,
            blocked: 3,
            duration_us: 1_500_000,
            ..Snapshot::default()
        };
        s.buckets[0] = 2;
        s.buckets[7] = 1;
        s.buckets[14] = 4;
        let p = Process {
            resident_bytes: Some(1 << 20),
            open_fds: Some(9),
            cpu_micros: Some(250_000),
            start_micros: None,
        };
        let text = render(&s, &p, "9.9\"x");
        let want = [
            "# TYPE smolproxy_requests_total counter\n",
            "smolproxy_requests_total{class=\"none\"} 1\n",
            "smolproxy_requests_total{class=\"2xx\"} 7\n",
            "smolproxy_requests_total{class=\"5xx\"} 4\n",
            "smolproxy_bytes_total{direction=\"up\"} 10\n",
            "smolproxy_bytes_total{direction=\"down\"} 20\n",
            "# TYPE smolproxy_connections_active gauge\nsmolproxy_connections_active 5\n",
            "smolproxy_tunnels_active 2\n",
            "smolproxy_blocked_total 3\n",
            "# TYPE smolproxy_request_duration_seconds histogram\n",
            "smolproxy_request_duration_seconds_bucket{le=\"0.005\"} 2\n",
            "smolproxy_request_duration_seconds_bucket{le=\"0.5\"} 2\n",
            "smolproxy_request_duration_seconds_bucket{le=\"1\"} 3\n",
            "smolproxy_request_duration_seconds_bucket{le=\"300\"} 3\n",
            "smolproxy_request_duration_seconds_bucket{le=\"+Inf\"} 7\n",
            "smolproxy_request_duration_seconds_sum 1.5\n",
            "smolproxy_request_duration_seconds_count 7\n",
            "smolproxy_build_info{version=\"9.9\\\"x\"} 1\n",
            "process_resident_memory_bytes 1048576\n",
            "process_open_fds 9\n",
            "# TYPE process_cpu_seconds_total counter\nprocess_cpu_seconds_total 0.25\n",
        ];
        for w in want {
            assert!(text.contains(w), "missing {w:?} in\n{text}");
        }
        assert!(
            !text.contains("process_start_time_seconds"),
            "absent figure left out"
        );
        // Every sample line belongs to a family declared just before it.
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let name = line.split(['{', ' ']).next().unwrap();
            let base = name
                .trim_end_matches("_bucket")
                .trim_end_matches("_sum")
                .trim_end_matches("_count");
            assert!(text.contains(&format!("# TYPE {base} ")), "{line}");
        }
    }
}
