//! The shared cache's figures on the own pages: a dashboard section, a
//! `cache` object in `/status.json`, and `smolproxy_cache_*` families in
//! `/metrics`: hits, misses, revalidations, bytes served from the cache,
//! entries and bytes on disk against the bound, and the hit ratio. Pure.

use std::fmt::Write as _;

use crate::stats::CacheStats;

/// The dashboard's "Shared cache" section; `bytes` writes a byte count
/// for people (the dashboard's own `human_bytes`).
pub(crate) fn dashboard(o: &mut String, c: &CacheStats, bytes: fn(u64) -> String) {
    let _ = write!(
        o,
        "<h2>Shared cache</h2><table>\
         <tr><td>hit ratio</td><td class=n id=cache-ratio>{}%</td></tr>\
         <tr><td>hits</td><td class=n id=cache-hits>{}</td></tr>\
         <tr><td>revalidated (304 upstream)</td><td class=n id=cache-revalidated>{}</td></tr>\
         <tr><td>misses</td><td class=n id=cache-misses>{}</td></tr>\
         <tr><td>served from the cache</td><td class=n>{}</td></tr>\
         <tr><td>on disk</td><td class=n id=cache-entries>{} entries, {} of {}</td></tr></table>",
        c.hit_percent(),
        c.hits,
        c.revalidated,
        c.misses,
        bytes(c.hit_bytes),
        c.entries,
        bytes(c.bytes),
        bytes(c.max_bytes),
    );
}

/// `,\n"cache": {...}` for `/status.json`.
pub(crate) fn json(o: &mut String, c: &CacheStats) {
    let _ = write!(
        o,
        ",\n\"cache\": {{\"hits\": {}, \"misses\": {}, \"revalidated\": {}, \
         \"hit_ratio_percent\": {}, \"hit_bytes\": {}, \"entries\": {}, \"bytes\": {}, \
         \"max_bytes\": {}}}",
        c.hits,
        c.misses,
        c.revalidated,
        c.hit_percent(),
        c.hit_bytes,
        c.entries,
        c.bytes,
        c.max_bytes,
    );
}

/// The `smolproxy_cache_*` families for `/metrics`.
pub(crate) fn metrics(o: &mut String, c: &CacheStats) {
    let families: [(&str, &str, &str, u64); 7] = [
        (
            "smolproxy_cache_hits_total",
            "counter",
            "Answers from the shared cache without asking upstream.",
            c.hits,
        ),
        (
            "smolproxy_cache_misses_total",
            "counter",
            "Answers the shared cache fetched upstream.",
            c.misses,
        ),
        (
            "smolproxy_cache_revalidated_total",
            "counter",
            "Stale entries answered from the cache after a 304 from upstream.",
            c.revalidated,
        ),
        (
            "smolproxy_cache_hit_bytes_total",
            "counter",
            "Body bytes sent from the shared cache.",
            c.hit_bytes,
        ),
        (
            "smolproxy_cache_entries",
            "gauge",
            "Entries in the shared cache.",
            c.entries,
        ),
        (
            "smolproxy_cache_bytes",
            "gauge",
            "Bytes the shared cache uses on disk.",
            c.bytes,
        ),
        (
            "smolproxy_cache_max_bytes",
            "gauge",
            "The shared cache's bound on disk (--cache-size).",
            c.max_bytes,
        ),
    ];
    for (name, kind, help, v) in families {
        let _ = writeln!(o, "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {v}");
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
        assert!(d.contains("id=cache-ratio>70%<"), "{d}");
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
