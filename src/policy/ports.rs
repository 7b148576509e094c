//! Which ports CONNECT may reach: `443` by default, a list, or any.

/// Ports CONNECT may reach by default: HTTPS only, as tinyproxy advises,
/// so the proxy cannot be used to reach mail or other services.
pub(crate) const DEFAULT_CONNECT_PORTS: &[u16] = &[443];

/// Which ports CONNECT may reach.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnectPorts {
    /// Any port.
    Any,
    /// Only these.
    Only(Vec<u16>),
}

impl ConnectPorts {
    /// Parse `443,8443` or `any`.
    pub fn parse(s: &str) -> Result<ConnectPorts, String> {
        if s.eq_ignore_ascii_case("any") {
            return Ok(ConnectPorts::Any);
        }
        let ports: Result<Vec<u16>, _> = s
            .split(',')
            .map(|p| match p.trim().parse::<u16>() {
                Ok(0) | Err(_) => Err(format!(
                    "--connect-ports: invalid port '{p}' (try 443,8443 or any)"
                )),
                Ok(n) => Ok(n),
            })
            .collect();
        ports.map(ConnectPorts::Only)
    }

    pub(crate) fn allows(&self, port: u16) -> bool {
        match self {
            ConnectPorts::Any => true,
            ConnectPorts::Only(list) => list.contains(&port),
        }
    }
}
