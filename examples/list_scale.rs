//! How a big block list scales: generates a 300,000-domain list in the
//! three formats (plain, hosts, Adblock), loads it the way `--block-list`
//! does, and prints the load time, the bytes per entry (the set's own
//! count and the process's resident-memory growth) and the lookup cost.
//!
//! `cargo run --release --example list_scale [DOMAINS]`

use std::time::Instant;

use smolproxy::policy::filter::{DomainSet, Filter, add_list};

/// Domains in the generated list unless another count is given.
const DEFAULT_DOMAINS: usize = 300_000;

/// Lookups timed (a mix of hits on subdomains and misses).
const LOOKUPS: usize = 1_000_000;

/// Resident memory of this process in bytes, from /proc (Linux).
fn rss() -> Option<usize> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kb: usize = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kb * 1024)
}

/// A plausible tracker-ish name: a few labels of varying length.
fn domain(i: usize) -> String {
    let tld = ["com", "net", "org", "io", "de"][i % 5];
    format!("ads{i:x}.cdn{}.tracker-{}.{tld}", i % 97, i % 1013)
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(DEFAULT_DOMAINS);
    let mut text = String::with_capacity(n * 40);
    for i in 0..n {
        match i % 3 {
            0 => text.push_str(&format!("{}\n", domain(i))),
            1 => text.push_str(&format!("0.0.0.0 {}\n", domain(i))),
            _ => text.push_str(&format!("||{}^\n", domain(i))),
        }
    }
    let name_bytes: usize = (0..n).map(|i| domain(i).len()).sum();

    let before = rss();
    let start = Instant::now();
    let mut set = DomainSet::new();
    let report = add_list(&mut set, None, text.as_bytes(), "generated");
    set.shrink_to_fit();
    let load = start.elapsed();
    let after = rss();
    drop(text);

    assert_eq!(report.rules, n);
    assert_eq!(report.bad, 0);
    println!("domains:            {n}");
    println!("list text:          {} bytes", name_bytes + n);
    println!(
        "average name:       {:.1} bytes",
        name_bytes as f64 / n as f64
    );
    println!("load time:          {:.1} ms", load.as_secs_f64() * 1e3);
    println!(
        "set heap:           {} bytes = {:.1} bytes/entry",
        set.heap_bytes(),
        set.heap_bytes() as f64 / n as f64
    );
    if let (Some(b), Some(a)) = (before, after) {
        println!(
            "RSS growth:         {} bytes = {:.1} bytes/entry",
            a.saturating_sub(b),
            a.saturating_sub(b) as f64 / n as f64
        );
    }

    let filter = Filter {
        block: set,
        ..Filter::default()
    };
    let hosts: Vec<String> = (0..1000)
        .map(|i| {
            if i % 2 == 0 {
                format!("www.img.{}", domain(i * 7 % n))
            } else {
                format!("www.example{i}.com")
            }
        })
        .collect();
    let start = Instant::now();
    let mut blocked = 0;
    for i in 0..LOOKUPS {
        let h = hosts.get(i % hosts.len()).map_or("", String::as_str);
        if filter.check(std::hint::black_box(h)).is_err() {
            blocked += 1;
        }
    }
    let took = start.elapsed();
    println!(
        "lookup:             {:.0} ns each ({blocked} of {LOOKUPS} blocked; 5-6 labels)",
        took.as_nanos() as f64 / LOOKUPS as f64
    );
}
