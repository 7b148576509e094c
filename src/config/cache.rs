//! The shared-cache flags (issue 11): `--cache-dir DIR` turns the cache on,
//! `--cache-size SIZE` bounds its bytes on disk, `--cache-mem SIZE` its
//! memory; SIZE = an integer with an optional K, M or G (1024-based).

use std::path::PathBuf;

use super::args::{ConfigError, arg_error};

/// Bytes the cache may keep on disk unless `--cache-size` says otherwise.
pub const DEFAULT_CACHE_SIZE: u64 = 1 << 30;
/// Memory for the cache's index and hot small objects unless `--cache-mem`
/// says otherwise: 16 MiB indexes well over 100,000 entries, and is a
/// small share of a 512 MiB Raspberry Pi or router.
pub const DEFAULT_CACHE_MEM: u64 = 16 << 20;

/// `--cache-dir` and its bounds: present only when the cache is on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheConfig {
    /// Where entries live.
    pub dir: PathBuf,
    /// See [`DEFAULT_CACHE_SIZE`].
    pub max_bytes: u64,
    /// See [`DEFAULT_CACHE_MEM`].
    pub mem_bytes: u64,
}

/// Parse a SIZE: `512`, `64K`, `16M`, `1G` (1024-based; `k`, `m`, `g` too).
pub(crate) fn parse_size(flag: &str, s: &str) -> Result<u64, String> {
    let bad = || format!("{flag} must be a number of bytes with an optional K, M or G, got '{s}'");
    let (digits, shift) = match s.as_bytes().last() {
        Some(b'k' | b'K') => (&s[..s.len() - 1], 10),
        Some(b'm' | b'M') => (&s[..s.len() - 1], 20),
        Some(b'g' | b'G') => (&s[..s.len() - 1], 30),
        _ => (s, 0),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let n: u64 = digits.parse().map_err(|_| bad())?;
    if n == 0 {
        return Err(format!("{flag} must be more than 0"));
    }
    n.checked_mul(1 << shift).ok_or_else(bad)
}

/// Take the cache flags out of `p`.
pub(crate) fn cache_flags(
    p: &mut pico_args::Arguments,
) -> Result<Option<CacheConfig>, ConfigError> {
    let dir: Option<PathBuf> = p.opt_value_from_str("--cache-dir").map_err(arg_error)?;
    let size = |p: &mut pico_args::Arguments, flag: &'static str| {
        let v: Option<String> = p.opt_value_from_str(flag).map_err(arg_error)?;
        v.map(|v| parse_size(flag, &v).map_err(ConfigError::BadValue))
            .transpose()
    };
    let max = size(p, "--cache-size")?;
    let mem = size(p, "--cache-mem")?;
    let Some(dir) = dir else {
        if max.is_some() || mem.is_some() {
            let why = "--cache-size and --cache-mem need --cache-dir DIR";
            return Err(ConfigError::BadValue(why.into()));
        }
        return Ok(None);
    };
    if dir.as_os_str().is_empty() {
        return Err(ConfigError::BadValue(
            "--cache-dir needs a directory".into(),
        ));
    }
    Ok(Some(CacheConfig {
        dir,
        max_bytes: max.unwrap_or(DEFAULT_CACHE_SIZE),
        mem_bytes: mem.unwrap_or(DEFAULT_CACHE_MEM),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        let ok = [
            ("1", 1),
            ("512", 512),
            ("64K", 64 << 10),
            ("64k", 64 << 10),
            ("16M", 16 << 20),
            ("1G", 1 << 30),
            ("3g", 3 << 30),
        ];
        for (s, want) in ok {
            assert_eq!(parse_size("--cache-size", s), Ok(want), "{s}");
        }
        for s in [
            "",
            "G",
            "0",
            "0K",
            "-1",
            "1.5G",
            "1T",
            "1 G",
            "+5",
            "99999999999999999G",
        ] {
            let e = parse_size("--cache-size", s).unwrap_err();
            assert!(e.starts_with("--cache-size must"), "{s}: {e}");
        }
    }

    fn flags(args: &[&str]) -> Result<Option<CacheConfig>, ConfigError> {
        let mut p = pico_args::Arguments::from_vec(args.iter().map(Into::into).collect());
        cache_flags(&mut p)
    }

    #[test]
    fn flags_need_the_dir() {
        assert_eq!(flags(&[]), Ok(None));
        let c = flags(&["--cache-dir", "/var/cache/smolproxy"])
            .unwrap()
            .unwrap();
        assert_eq!(c.max_bytes, DEFAULT_CACHE_SIZE);
        assert_eq!(c.mem_bytes, DEFAULT_CACHE_MEM);
        let c = flags(&[
            "--cache-dir",
            "d",
            "--cache-size",
            "2M",
            "--cache-mem",
            "1M",
        ]);
        assert_eq!(c.unwrap().unwrap().max_bytes, 2 << 20);
        for args in [&["--cache-size", "1G"][..], &["--cache-mem", "1M"]] {
            let e = flags(args).unwrap_err().to_string();
            assert_eq!(e, "--cache-size and --cache-mem need --cache-dir DIR");
        }
        let e = flags(&["--cache-dir", "d", "--cache-size", "lots"]).unwrap_err();
        assert!(e.to_string().contains("--cache-size must be"), "{e}");
    }
}
