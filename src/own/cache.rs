//! The shared cache's figures on the own pages: a dashboard section, a
//! `cache` object in `/status.json`, and `smolproxy_cache_*` families in
//! `/metrics`: hits, misses, revalidations, bytes served from the cache,
//! entries and bytes on disk against the bound, and the hit ratio. Pure.

use std::fmt::Write as _;

use crate::stats::CacheStats;

/// Each figure: the dashboard's label, `/status.json`'s key, `/metrics`'
/// family, its kind and help, and how to read it. One table, so the three
/// pages show the same figures from one loop each.
type Figure = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    fn(&CacheStats) -> u64,
);

const FIGURES: [Figure; 8] = [
    (
        "hits",
        "hits",
        "smolproxy_cache_hits_total",
        "counter Answers from the shared cache without asking upstream.",
        |c| c.hits,
    ),
    (
        "misses",
        "misses",
        "smolproxy_cache_misses_total",
        "counter Answers the shared cache fetched upstream.",
        |c| c.misses,
    ),
    (
        "revalidated (304 upstream)",
        "revalidated",
        "smolproxy_cache_revalidated_total",
        "counter Stale entries answered from the cache after a 304 from upstream.",
        |c| c.revalidated,
    ),
    (
        "hit ratio %",
        "hit_ratio_percent",
        "",
        "",
        CacheStats::hit_percent,
    ),
    (
        "bytes served from the cache",
        "hit_bytes",
        "smolproxy_cache_hit_bytes_total",
        "counter Body bytes sent from the shared cache.",
        |c| c.hit_bytes,
    ),
    (
        "entries",
        "entries",
        "smolproxy_cache_entries",
        "gauge Entries in the shared cache.",
        |c| c.entries,
    ),
    (
        "bytes on disk",
        "bytes",
        "smolproxy_cache_bytes",
        "gauge Bytes the shared cache uses on disk.",
        |c| c.bytes,
    ),
    (
        "bound on disk",
        "max_bytes",
        "smolproxy_cache_max_bytes",
        "gauge The shared cache's bound on disk (--cache-size).",
        |c| c.max_bytes,
    ),
];

/// The dashboard's "Shared cache" section; `bytes` writes a byte count
/// for people (the dashboard's own `human_bytes`).
pub(crate) fn dashboard(o: &mut String, c: &CacheStats, bytes: fn(u64) -> String) {
    o.push_str("<h2>Shared cache</h2><table>");
    for (label, key, _, _, get) in FIGURES {
        let v = get(c);
        let v = if key.contains("bytes") {
            bytes(v)
        } else {
            v.to_string()
        };
        let _ = write!(
            o,
            "<tr><td>{label}</td><td class=n id=cache-{key}>{v}</td></tr>"
        );
    }
    o.push_str("</table>");
}

/// `,\n"cache": {...}` for `/status.json`.
pub(crate) fn json(o: &mut String, c: &CacheStats) {
    o.push_str(",\n\"cache\": {");
    for (i, (_, key, _, _, get)) in FIGURES.iter().enumerate() {
        let sep = if i == 0 { "" } else { ", " };
        let _ = write!(o, "{sep}\"{key}\": {}", get(c));
    }
    o.push('}');
}

/// The `smolproxy_cache_*` families for `/metrics` (the hit ratio is for
/// Prometheus to compute from the counters).
pub(crate) fn metrics(o: &mut String, c: &CacheStats) {
    for (_, _, name, kind_help, get) in FIGURES {
        if let Some((kind, help)) = kind_help.split_once(' ') {
            let _ = writeln!(
                o,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {}",
                get(c)
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> CacheStats {
        CacheStats {
            entries: 3,
            bytes: 3 << 20,
            max_bytes: 1 << 30,
            hits: 6,
            misses: 3,
            revalidated: 1,
            hit_bytes: 2048,
        }
    }

    #[test]
    fn ratio_and_sections() {
        let c = sample();
        assert_eq!(c.hit_percent(), 70);
        assert_eq!(CacheStats::default().hit_percent(), 0);
        let mut d = String::new();
        dashboard(&mut d, &c, |n| format!("{n} B"));
        assert!(d.contains("id=cache-hit_ratio_percent>70<"), "{d}");
        assert!(d.contains("id=cache-hits>6<"), "{d}");
        let mut j = String::from("{\"x\": 1");
        json(&mut j, &c);
        j.push('}');
        assert!(j.contains("\"cache\": {\"hits\": 6, \"misses\": 3,"), "{j}");
        let mut m = String::new();
        metrics(&mut m, &c);
        assert!(
            m.contains("# TYPE smolproxy_cache_hits_total counter\nsmolproxy_cache_hits_total 6\n")
        );
        assert!(m.contains("smolproxy_cache_bytes 3145728\n"));
    }
}
