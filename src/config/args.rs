//! The value parsers of the command line: each takes one flag's value and
//! returns a typed value or a one-line reason; and [`ConfigError`], the
//! usage error the user sees (exit 2). Pure.

use std::net::SocketAddr;
use std::time::Duration;

use crate::upstream::chain::Parent;

/// A mistake on the command line: printed as one line, exit code 2.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigError {
    /// A flag was given without its value.
    MissingValue(String),
    /// A flag's value was refused: the message names the flag and a fix.
    BadValue(String),
    /// An argument that no flag takes.
    Unknown(String),
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConfigError::MissingValue(flag) => write!(f, "{flag} needs a value"),
            ConfigError::BadValue(why) => f.write_str(why),
            ConfigError::Unknown(arg) => write!(f, "unknown argument '{arg}' (see --help)"),
        }
    }
}

impl std::error::Error for ConfigError {}

/// One readable line for a pico-args error.
pub(crate) fn arg_error(err: pico_args::Error) -> ConfigError {
    match err {
        pico_args::Error::OptionWithoutAValue(k) => ConfigError::MissingValue(k.to_string()),
        // pico-args reports a failed value parser this way.
        pico_args::Error::Utf8ArgumentParsingFailed { cause, .. } => ConfigError::BadValue(cause),
        pico_args::Error::ArgumentParsingFailed { cause } => ConfigError::BadValue(cause),
        other => ConfigError::BadValue(other.to_string()),
    }
}

/// Parse a duration: `30` (seconds), `30s`, `500ms`, `2m`, `1h`.
pub(crate) fn parse_duration(s: &str) -> Result<Duration, String> {
    let (num, unit) = match s.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => s.split_at(i),
        None => (s, "s"),
    };
    let n: u64 = num
        .parse()
        .map_err(|_| format!("invalid duration '{s}' (try 30, 30s, 500ms, 2m)"))?;
    let d = match unit {
        "ms" => Duration::from_millis(n),
        "s" => Duration::from_secs(n),
        "m" => Duration::from_secs(n.saturating_mul(60)),
        "h" => Duration::from_secs(n.saturating_mul(3600)),
        _ => return Err(format!("invalid duration '{s}' (try 30, 30s, 500ms, 2m)")),
    };
    if d.is_zero() {
        return Err(format!("duration '{s}' must be more than zero"));
    }
    Ok(d)
}

/// Parse a listen address: `IP:PORT`, `[IPv6]:PORT`, or a bare `PORT`
/// (which means 127.0.0.1:PORT, loopback only).
pub(crate) fn parse_listen(s: &str) -> Result<SocketAddr, String> {
    if let Ok(port) = s.parse::<u16>() {
        return Ok(SocketAddr::from(([127, 0, 0, 1], port)));
    }
    s.parse().map_err(|_| {
        format!("invalid listen address '{s}' (try 127.0.0.1:8888, [::]:8888 or 0.0.0.0:8888)")
    })
}

pub(crate) fn count(s: &str, what: &str, min: usize, max: usize) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(format!(
            "{what} must be a number from {min} to {max}, got '{s}'"
        )),
    }
}

/// A domain given on the command line, normalised, or a usage error.
pub(crate) fn domain_arg(flag: &str, s: &str) -> Result<String, String> {
    crate::policy::filter::normalize_rule(s)
        .ok_or_else(|| format!("{flag}: invalid domain '{s}' (try ads.example.com)"))
}

pub(crate) fn block_arg(s: &str) -> Result<String, String> {
    domain_arg("--block", s)
}

pub(crate) fn allow_domain_arg(s: &str) -> Result<String, String> {
    domain_arg("--allow-domain", s)
}

/// `ADDR` (port 53) or `ADDR:PORT`, `[V6]:PORT`.
pub(crate) fn dns_server(s: &str) -> Result<SocketAddr, String> {
    s.parse::<SocketAddr>()
        .or_else(|_| {
            s.parse::<std::net::IpAddr>()
                .map(|ip| SocketAddr::new(ip, 53))
        })
        .map_err(|_| format!("--dns-server: invalid address '{s}' (try 192.168.1.1 or [::1]:5353)"))
}

/// `DOMAIN=URL` or `DOMAIN=direct`.
pub(crate) fn upstream_rule(s: &str) -> Result<(String, Option<Parent>), String> {
    let (domain, to) = s.split_once('=').ok_or_else(|| {
        format!("--upstream-for: expected DOMAIN=URL or DOMAIN=direct, got '{s}'")
    })?;
    let domain = domain_arg("--upstream-for", domain)?;
    if to == "direct" {
        return Ok((domain, None));
    }
    let parent = Parent::parse(to).map_err(|m| format!("--upstream-for: {m}"))?;
    Ok((domain, Some(parent)))
}
