//! The process figures `/metrics` exports under their standard Prometheus
//! names, read from Linux's `/proc` (no crate): resident memory, open
//! descriptors, CPU seconds and start time. Elsewhere, or when `/proc`
//! cannot be read, each figure is simply absent. The parsers are pure.

/// `AT_CLKTCK` in the auxiliary vector: the kernel's clock ticks per second.
const AT_CLKTCK: u64 = 17;
/// Clock ticks per second when the auxiliary vector does not say (the
/// value on every Linux architecture smolproxy ships for).
const DEFAULT_CLK_TCK: u64 = 100;

/// The process's own figures.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct Process {
    /// Resident set size in bytes.
    pub(crate) resident_bytes: Option<u64>,
    /// Open file descriptors.
    pub(crate) open_fds: Option<u64>,
    /// User plus system CPU time, in microseconds.
    pub(crate) cpu_micros: Option<u64>,
    /// Start time, in microseconds since the Unix epoch.
    pub(crate) start_micros: Option<u64>,
}

/// Read this process's figures from `/proc`.
pub(crate) fn read() -> Process {
    let text = |p: &str| std::fs::read_to_string(p).ok();
    let tck = std::fs::read("/proc/self/auxv")
        .ok()
        .and_then(|a| clock_ticks(&a))
        .unwrap_or(DEFAULT_CLK_TCK);
    let stat = text("/proc/self/stat").and_then(|s| parse_stat(&s));
    let btime = text("/proc/stat").and_then(|s| boot_time(&s));
    Process {
        resident_bytes: text("/proc/self/status").and_then(|s| vm_rss(&s)),
        open_fds: std::fs::read_dir("/proc/self/fd")
            .ok()
            .map(|d| d.count() as u64),
        cpu_micros: stat.map(|(cpu, _)| micros(cpu, tck)),
        start_micros: stat
            .zip(btime)
            .map(|((_, start), boot)| boot.saturating_mul(1_000_000) + micros(start, tck)),
    }
}

/// Clock ticks in microseconds (integers only: no float formatting code in
/// the binary).
fn micros(ticks: u64, tck: u64) -> u64 {
    (u128::from(ticks) * 1_000_000 / u128::from(tck.max(1))) as u64
}

/// `VmRSS:   1234 kB` in `/proc/self/status`, in bytes.
fn vm_rss(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    kb.checked_mul(1024)
}

/// (utime + stime, starttime) in clock ticks from `/proc/self/stat`. The
/// command name (field 2) may hold spaces and parentheses, so the fields
/// are counted after its last `)` (proc(5)).
fn parse_stat(stat: &str) -> Option<(u64, u64)> {
    let rest = stat.get(stat.rfind(')')? + 1..)?;
    // `rest` starts at field 3 (state); utime is 14, stime 15, starttime 22.
    let f: Vec<&str> = rest.split_whitespace().collect();
    let num = |field: usize| f.get(field - 3)?.parse::<u64>().ok();
    Some((num(14)?.checked_add(num(15)?)?, num(22)?))
}

/// `btime N` in `/proc/stat`: boot time in seconds since the epoch.
fn boot_time(stat: &str) -> Option<u64> {
    stat.lines()
        .find_map(|l| l.strip_prefix("btime "))?
        .trim()
        .parse()
        .ok()
}

/// `AT_CLKTCK` from `/proc/self/auxv`: pairs of native-endian words.
fn clock_ticks(auxv: &[u8]) -> Option<u64> {
    const W: usize = std::mem::size_of::<usize>();
    let word = |b: &[u8]| -> Option<u64> {
        let a: [u8; W] = b.try_into().ok()?;
        Some(usize::from_ne_bytes(a) as u64)
    };
    auxv.chunks_exact(2 * W).find_map(|pair| {
        let (k, v) = pair.split_at(W);
        (word(k)? == AT_CLKTCK).then(|| word(v)).flatten()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parsers() {
        assert_eq!(vm_rss("Name:\tx\nVmRSS:\t    1234 kB\n"), Some(1234 * 1024));
        assert_eq!(vm_rss("Name:\tx\n"), None);
        assert_eq!(vm_rss("VmRSS: lots kB\n"), None);
        let stat = "42 (a) b) c) S 1 2 3 4 5 6 7 8 9 10 150 50 0 0 20 0 1 0 9000 0 0";
        assert_eq!(parse_stat(stat), Some((200, 9000)));
        assert_eq!(parse_stat("42 (short) S 1"), None);
        assert_eq!(parse_stat("no parenthesis"), None);
        assert_eq!(
            boot_time("cpu 1 2\nbtime 1700000000\nprocesses 5\n"),
            Some(1_700_000_000)
        );
        assert_eq!(boot_time("cpu 1 2\n"), None);
        let mut auxv = Vec::new();
        for (k, v) in [(6usize, 4096usize), (17, 250), (0, 0)] {
            auxv.extend_from_slice(&k.to_ne_bytes());
            auxv.extend_from_slice(&v.to_ne_bytes());
        }
        assert_eq!(clock_ticks(&auxv), Some(250));
        assert_eq!(clock_ticks(&auxv[..8]), None);
        assert_eq!(micros(150, 100), 1_500_000);
        assert_eq!(micros(1, 0), 1_000_000, "no division by zero");
    }

    #[test]
    fn reads_this_process() {
        let p = read();
        assert!(p.resident_bytes.unwrap() > 0);
        assert!(p.open_fds.unwrap() >= 3);
        assert!(p.cpu_micros.is_some());
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let start = p.start_micros.unwrap() / 1_000_000;
        assert!(start <= now + 1 && start > now - 86_400 * 365, "{start}");
    }
}
