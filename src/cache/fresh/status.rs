//! The Cache-Status response field (RFC 9211) this cache writes: one
//! value per response, saying whether it was a hit, or why it went to the
//! origin and what became of it. Pure.

use std::fmt::Write as _;

/// The cache's name in Cache-Status (RFC 9211 §2).
const CACHE_NAME: &str = "smolproxy";

/// Why a request went to the origin (RFC 9211 §2.2 `fwd`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fwd {
    /// The cache was not consulted (e.g. a request it never looks up).
    Bypass,
    /// The method is not cacheable.
    Method,
    /// Nothing stored for the URI.
    UriMiss,
    /// Something stored for the URI, but no variant matched (Vary).
    VaryMiss,
    /// Stored but not usable, for another reason.
    Miss,
    /// The request's directives (no-cache, max-age ...) sent it on.
    Request,
    /// Stored and stale: revalidated.
    Stale,
}

/// A Cache-Status value (RFC 9211) for this cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Status {
    /// Answered from the cache without contacting the origin (§2.1).
    Hit,
    /// Forwarded (§2.2): why; the origin's status when it differs from the
    /// one sent (§2.3, e.g. 304 behind a 200 from a revalidation); whether
    /// the response was stored (§2.5) and whether this request was
    /// collapsed into another one's fetch (§2.6).
    Fwd {
        why: Fwd,
        status: Option<u16>,
        stored: bool,
        collapsed: bool,
    },
}

impl Status {
    /// The field value, e.g. `smolproxy; fwd=stale; fwd-status=304`.
    pub(crate) fn value(&self) -> String {
        let mut out = String::from(CACHE_NAME);
        match *self {
            Status::Hit => out.push_str("; hit"),
            Status::Fwd {
                why,
                status,
                stored,
                collapsed,
            } => {
                let why = match why {
                    Fwd::Bypass => "bypass",
                    Fwd::Method => "method",
                    Fwd::UriMiss => "uri-miss",
                    Fwd::VaryMiss => "vary-miss",
                    Fwd::Miss => "miss",
                    Fwd::Request => "request",
                    Fwd::Stale => "stale",
                };
                let _ = write!(out, "; fwd={why}");
                if let Some(s) = status {
                    let _ = write!(out, "; fwd-status={s}");
                }
                if stored {
                    out.push_str("; stored");
                }
                if collapsed {
                    out.push_str("; collapsed");
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_status_values() {
        // RFC 9211 §2: the cache's name, then hit or fwd with its parameters.
        let fwd = |why, status, stored, collapsed| Status::Fwd {
            why,
            status,
            stored,
            collapsed,
        };
        let cases = [
            (Status::Hit, "smolproxy; hit"), // §2.1
            (
                fwd(Fwd::Miss, None, true, false),
                "smolproxy; fwd=miss; stored",
            ), // §2.2, §2.5
            (
                fwd(Fwd::UriMiss, None, false, false),
                "smolproxy; fwd=uri-miss",
            ), // §2.2
            (
                fwd(Fwd::VaryMiss, None, true, false),
                "smolproxy; fwd=vary-miss; stored",
            ),
            (
                fwd(Fwd::Stale, Some(304), false, false),
                "smolproxy; fwd=stale; fwd-status=304",
            ), // §2.3
            (
                fwd(Fwd::Stale, Some(200), true, false),
                "smolproxy; fwd=stale; fwd-status=200; stored",
            ),
            (
                fwd(Fwd::Request, None, true, false),
                "smolproxy; fwd=request; stored",
            ), // §2.2
            (
                fwd(Fwd::Method, None, false, false),
                "smolproxy; fwd=method",
            ),
            (
                fwd(Fwd::Bypass, None, false, false),
                "smolproxy; fwd=bypass",
            ),
            (
                fwd(Fwd::UriMiss, None, false, true),
                "smolproxy; fwd=uri-miss; collapsed",
            ), // §2.6
        ];
        for (status, want) in cases {
            assert_eq!(status.value(), want);
        }
    }
}
