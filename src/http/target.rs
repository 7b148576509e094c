//! Request targets (RFC 9112 §3.2): which of the four forms a request
//! uses, and the host and port it names. Strict on purpose: userinfo is
//! refused (RFC 9110 §4.2.4), host names are limited to the characters DNS
//! names use, ports are 1–65535. Pure functions, tested as a table.

/// A host and port to connect to. `host` has no brackets for IPv6.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authority {
    /// Host name (lower-cased) or IP literal text.
    pub host: String,
    /// TCP port, never 0.
    pub port: u16,
}

impl Authority {
    /// `host:port`, with brackets around an IPv6 literal.
    pub fn to_host_port(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

/// What a request-target names (RFC 9112 §3.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// `http://host[:port]/path?query`: forward to `authority`.
    Http {
        /// Where to connect.
        authority: Authority,
        /// The Host field value to send (authority as written, no userinfo).
        host_field: String,
        /// The origin-form to send: path and query, exact.
        path: String,
    },
    /// `https://...` in absolute form: the client should use CONNECT.
    Https,
    /// Any other scheme.
    OtherScheme,
    /// `host:port` (CONNECT only).
    Connect(Authority),
    /// `/path`: a request for the proxy itself.
    Origin(String),
    /// `*` (OPTIONS to the proxy itself).
    Asterisk,
}

/// Why a target is refused: always 400.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TargetError(pub &'static str);

fn valid_reg_name(h: &str) -> bool {
    !h.is_empty()
        && h.len() <= 253
        && h.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_')
}

/// Parse `host[:port]` or `[v6]:port`. `default_port` applies when the
/// port is absent (or empty, RFC 3986 §3.2.3); CONNECT passes None.
pub fn parse_authority(s: &str, default_port: Option<u16>) -> Result<Authority, TargetError> {
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        let (lit, after) = rest
            .split_once(']')
            .ok_or(TargetError("unclosed IPv6 literal"))?;
        if lit.parse::<std::net::Ipv6Addr>().is_err() {
            return Err(TargetError("invalid IPv6 literal"));
        }
        let port = match after {
            "" => None,
            p => Some(
                p.strip_prefix(':')
                    .ok_or(TargetError("invalid authority"))?,
            ),
        };
        (lit.to_ascii_lowercase(), port)
    } else {
        if s.contains('@') {
            // RFC 9110 §4.2.4: userinfo in a target is an error.
            return Err(TargetError("userinfo is not allowed in the target"));
        }
        match s.rsplit_once(':') {
            Some((h, p)) => (h.to_ascii_lowercase(), Some(p)),
            None => (s.to_ascii_lowercase(), None),
        }
    };
    // A bracketed host was checked as IPv6 above; any other is a reg-name.
    if !s.starts_with('[') && !valid_reg_name(&host) {
        return Err(TargetError("invalid host"));
    }
    let port = match port {
        None | Some("") => default_port.ok_or(TargetError("a port is required"))?,
        Some(p) => {
            if p.is_empty() || p.len() > 5 || !p.bytes().all(|b| b.is_ascii_digit()) {
                return Err(TargetError("invalid port"));
            }
            match p.parse::<u16>() {
                Ok(0) | Err(_) => return Err(TargetError("invalid port")),
                Ok(n) => n,
            }
        }
    };
    Ok(Authority { host, port })
}

/// Classify and parse a request-target for `method`.
pub fn parse_target(method: &str, target: &str) -> Result<Target, TargetError> {
    if method == "CONNECT" {
        return parse_authority(target, None).map(Target::Connect);
    }
    if target == "*" {
        return Ok(Target::Asterisk);
    }
    if target.starts_with('/') {
        return Ok(Target::Origin(target.to_string()));
    }
    let (scheme, rest) = target
        .split_once("://")
        .ok_or(TargetError("invalid request-target"))?;
    if scheme.eq_ignore_ascii_case("https") {
        return Ok(Target::Https);
    }
    if !scheme.eq_ignore_ascii_case("http") {
        return Ok(Target::OtherScheme);
    }
    // A fragment is never part of a request (RFC 9110 §4.2.5): drop it.
    let rest = rest.split('#').next().unwrap_or("");
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (auth, path) = rest.split_at(end);
    if auth.is_empty() {
        return Err(TargetError("missing host"));
    }
    let authority = parse_authority(auth, Some(80))?;
    let path = match path {
        "" => "/".to_string(),
        p if p.starts_with('?') => format!("/{p}"),
        p => p.to_string(),
    };
    Ok(Target::Http {
        authority,
        host_field: auth.to_string(),
        path,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets() {
        let http = |h: &str, p: u16, hf: &str, path: &str| {
            Ok(Target::Http {
                authority: Authority {
                    host: h.into(),
                    port: p,
                },
                host_field: hf.into(),
                path: path.into(),
            })
        };
        let cases: Vec<(&str, &str, Result<Target, TargetError>)> = vec![
            (
                "GET",
                "http://a.example/x?y=1",
                http("a.example", 80, "a.example", "/x?y=1"),
            ),
            (
                "GET",
                "HTTP://A.example:8080",
                http("a.example", 8080, "A.example:8080", "/"),
            ),
            ("GET", "http://h?q", http("h", 80, "h", "/?q")),
            ("GET", "http://h:/p", http("h", 80, "h:", "/p")),
            (
                "GET",
                "http://[::1]:81/p",
                http("::1", 81, "[::1]:81", "/p"),
            ),
            ("GET", "http://h/p#frag", http("h", 80, "h", "/p")),
            ("GET", "https://h/", Ok(Target::Https)),
            ("GET", "ftp://h/", Ok(Target::OtherScheme)),
            ("GET", "/status", Ok(Target::Origin("/status".into()))),
            ("OPTIONS", "*", Ok(Target::Asterisk)),
            (
                "GET",
                "http://u:p@h/",
                Err(TargetError("userinfo is not allowed in the target")),
            ),
            ("GET", "http:///x", Err(TargetError("missing host"))),
            ("GET", "http://h:99999/", Err(TargetError("invalid port"))),
            ("GET", "http://h:0/", Err(TargetError("invalid port"))),
            ("GET", "http://h:+80/", Err(TargetError("invalid port"))),
            ("GET", "http://a b/", Err(TargetError("invalid host"))),
            (
                "GET",
                "http://[zz]/",
                Err(TargetError("invalid IPv6 literal")),
            ),
            ("GET", "h/x", Err(TargetError("invalid request-target"))),
            (
                "CONNECT",
                "Example.com:443",
                Ok(Target::Connect(Authority {
                    host: "example.com".into(),
                    port: 443,
                })),
            ),
            (
                "CONNECT",
                "[2001:db8::1]:8443",
                Ok(Target::Connect(Authority {
                    host: "2001:db8::1".into(),
                    port: 8443,
                })),
            ),
            (
                "CONNECT",
                "example.com",
                Err(TargetError("a port is required")),
            ),
            (
                "CONNECT",
                "example.com:",
                Err(TargetError("a port is required")),
            ),
            ("CONNECT", "[::1]", Err(TargetError("a port is required"))),
            // Fuzz finding: a colon in an unbracketed host skipped validation.
            ("CONNECT", "a:b:80", Err(TargetError("invalid host"))),
            ("CONNECT", "::1:443", Err(TargetError("invalid host"))),
            ("GET", "http://a b:c:80/", Err(TargetError("invalid host"))),
            (
                "CONNECT",
                "a@b:443",
                Err(TargetError("userinfo is not allowed in the target")),
            ),
        ];
        for (m, t, want) in cases {
            assert_eq!(parse_target(m, t), want, "{m} {t}");
        }
    }
}
