//! Which CONNECTs an inspecting proxy opens (`--inspect`, the `tls`
//! build): those to an inspected port (443) whose host is covered by an
//! `--inspect-only` domain, or by any when none is given, and by no
//! `--no-inspect` domain. Domains cover their subdomains, as in the block
//! lists. By default nothing is exempt: a built-in list of "pinned" apps
//! could never be complete or current, and would quietly leave holes the
//! user did not choose; the README suggests what to exempt instead. Pure.

use super::filter::DomainSet;

/// Inspection's scope as configured (domains normalised).
#[derive(Debug, Clone)]
pub struct InspectScope {
    /// CONNECT ports inspected: [`INSPECTED_PORTS`] (a field so tests can
    /// inspect their loopback origins).
    pub ports: Vec<u16>,
    /// `--inspect-only`: only these domains (empty: every domain).
    pub only: Vec<String>,
    /// `--no-inspect`: never these domains; wins over `only`.
    pub skip: Vec<String>,
}

/// The port of HTTPS: CONNECTs elsewhere may carry anything, and
/// terminating TLS on a non-TLS protocol would only break it.
pub const INSPECTED_PORTS: &[u16] = &[443];

impl Default for InspectScope {
    fn default() -> Self {
        InspectScope {
            ports: INSPECTED_PORTS.to_vec(),
            only: Vec::new(),
            skip: Vec::new(),
        }
    }
}

/// The scope, ready for lookups.
#[derive(Debug)]
pub(crate) struct Scope {
    ports: Vec<u16>,
    only: Option<DomainSet>,
    skip: DomainSet,
}

impl Scope {
    pub(crate) fn new(c: &InspectScope) -> Scope {
        let set = |names: &[String]| {
            let mut s = DomainSet::new();
            names.iter().for_each(|n| s.insert(n));
            s
        };
        Scope {
            ports: c.ports.clone(),
            only: (!c.only.is_empty()).then(|| set(&c.only)),
            skip: set(&c.skip),
        }
    }

    /// Whether a CONNECT to `host:port` is inspected.
    pub(crate) fn covers(&self, host: &str, port: u16) -> bool {
        self.ports.contains(&port)
            && self.only.as_ref().is_none_or(|o| o.find(host).is_some())
            && self.skip.find(host).is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scope_table() {
        let all = Scope::new(&InspectScope {
            skip: vec!["bank.example".into()],
            ..InspectScope::default()
        });
        let only = Scope::new(&InspectScope {
            only: vec!["debian.org".into(), "ads.example".into()],
            skip: vec!["secure.debian.org".into()],
            ..InspectScope::default()
        });
        let cases = [
            (&all, "a.test", 443, true),
            (&all, "a.test", 8443, false),
            (&all, "bank.example", 443, false),
            (&all, "www.bank.example", 443, false),
            (&all, "notbank.example", 443, true),
            (&only, "deb.debian.org", 443, true),
            (&only, "debian.org", 443, true),
            (&only, "secure.debian.org", 443, false),
            (&only, "a.test", 443, false),
            (&only, "x.ads.example", 443, true),
        ];
        for (scope, host, port, want) in cases {
            assert_eq!(scope.covers(host, port), want, "{host}:{port}");
        }
    }
}
