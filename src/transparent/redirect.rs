//! Where a redirected connection was going: the kernel's record of its
//! original destination (`SO_ORIGINAL_DST` for IPv4, `IP6T_SO_ORIGINAL_DST`
//! for IPv6, through rustix: no unsafe code), and the decision whether it
//! may be served — not when nothing redirected it (it reached the
//! transparent port itself) nor when it points at one of the proxy's own
//! listening addresses (a loop).

use std::io;
use std::net::{SocketAddr, TcpStream};

use crate::policy::acl::canonical;

/// Why a connection has no destination to go to.
#[derive(Debug)]
pub(crate) enum NoRedirect {
    /// The kernel knows no original destination (no NAT entry).
    Unknown(io::Error),
    /// The destination is the listener itself: nothing redirected it
    /// (a client connected to the transparent port directly).
    Direct(SocketAddr),
    /// The destination is another listening address of the proxy: a loop.
    Loop(SocketAddr),
}

impl NoRedirect {
    /// The status its access line shows (nothing is sent: the client
    /// speaks a protocol we cannot answer in), as the HTTP side would give.
    pub(super) fn status(&self) -> u16 {
        match self {
            NoRedirect::Loop(_) => 508,
            NoRedirect::Unknown(_) | NoRedirect::Direct(_) => 400,
        }
    }

    pub(super) fn message(&self) -> String {
        match self {
            NoRedirect::Unknown(e) => format!("not redirected: no original destination ({e})"),
            NoRedirect::Direct(a) => format!("not redirected: connected to {a} directly"),
            NoRedirect::Loop(a) => format!("redirected to the proxy's own {a}: loop"),
        }
    }
}

/// Where a redirected connection was going, from what the kernel said
/// (`got`), the address it reached (`local`) and the proxy's listening
/// addresses (`own`).
pub(crate) fn destination(
    got: io::Result<SocketAddr>,
    local: SocketAddr,
    own: &[SocketAddr],
) -> Result<SocketAddr, NoRedirect> {
    let to = got.map_err(NoRedirect::Unknown)?;
    let to = SocketAddr::new(canonical(to.ip()), to.port());
    let same = |a: SocketAddr| canonical(a.ip()) == to.ip() && a.port() == to.port();
    if same(local) {
        return Err(NoRedirect::Direct(to));
    }
    if own.iter().any(|&a| same(a)) {
        return Err(NoRedirect::Loop(to));
    }
    Ok(to)
}

/// The original destination the kernel recorded for `s` (IPv4, or IPv6;
/// an IPv4 client on a dual-stack socket is asked for both).
#[cfg(target_os = "linux")]
pub(super) fn original_dst(s: &TcpStream, local: SocketAddr) -> io::Result<SocketAddr> {
    use rustix::net::sockopt::{ip_original_dst, ipv6_original_dst};
    let v4 = || {
        ip_original_dst(s)
            .map(SocketAddr::V4)
            .map_err(io::Error::from)
    };
    let v6 = || {
        ipv6_original_dst(s)
            .map(SocketAddr::V6)
            .map_err(io::Error::from)
    };
    match local {
        SocketAddr::V4(_) => v4(),
        SocketAddr::V6(a) if a.ip().to_ipv4_mapped().is_some() => v4().or_else(|_| v6()),
        SocketAddr::V6(_) => v6(),
    }
}

/// Elsewhere there is no redirect to read.
#[cfg(not(target_os = "linux"))]
pub(super) fn original_dst(_: &TcpStream, _: SocketAddr) -> io::Result<SocketAddr> {
    Err(io::ErrorKind::Unsupported.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn original_destination_decisions() {
        let local: SocketAddr = "192.168.1.1:3129".parse().unwrap();
        let own: Vec<SocketAddr> = vec![
            "192.168.1.1:8888".parse().unwrap(),
            "192.168.1.1:3129".parse().unwrap(),
        ];
        let ok = |s: &str| Ok(s.parse::<SocketAddr>().unwrap());
        let cases: Vec<(io::Result<SocketAddr>, &str)> = vec![
            (ok("198.18.0.2:443"), "ok 198.18.0.2:443"),
            (ok("[::ffff:198.18.0.2]:80"), "ok 198.18.0.2:80"),
            (ok("[2001:db8::2]:443"), "ok [2001:db8::2]:443"),
            // Same address, another port: a service on the router itself.
            (ok("192.168.1.1:80"), "ok 192.168.1.1:80"),
            (ok("192.168.1.1:3129"), "direct"),
            (ok("[::ffff:192.168.1.1]:3129"), "direct"),
            (ok("192.168.1.1:8888"), "loop"),
            (Err(io::ErrorKind::NotFound.into()), "unknown"),
        ];
        for (got, want) in cases {
            let shown = match destination(got, local, &own) {
                Ok(a) => format!("ok {a}"),
                Err(NoRedirect::Direct(_)) => "direct".into(),
                Err(NoRedirect::Loop(_)) => "loop".into(),
                Err(NoRedirect::Unknown(_)) => "unknown".into(),
            };
            assert_eq!(shown, want);
        }
    }
}
