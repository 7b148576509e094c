//! The rules of a shared HTTP cache (RFC 9111) as pure functions: may a
//! request look in the cache, may a response be stored, how long it is
//! fresh, how old it is, whether a stored response may answer a request,
//! how to revalidate and merge a 304, the Vary key, what an unsafe method
//! invalidates, the Cache-Status value (RFC 9211), and the package-file
//! table. No I/O and no clock: the caller passes `now`. Field values are
//! parsed in `fields`, dates in `dates`; `heads` holds the validators,
//! the 304 merge and the Vary key, `range` the Range answer, `status` the
//! Cache-Status value.

mod dates;
mod fields;
mod heads;
mod range;
mod status;
#[cfg(test)]
mod testkit;
#[cfg(test)]
mod tests;

use crate::http::head::{Head, trim_ows};
pub(crate) use dates::parse_http_date;
use fields::{Control, Delta, MaxStale};
use heads::has_validator;
pub(crate) use heads::{merge_304, not_modified, stored_head, validators, vary_key};
pub(crate) use range::{Range, range_if};
pub(crate) use status::{Fwd, Status};

/// Seconds since the Unix epoch (the caller reads the clock).
pub(crate) type Secs = u64;

/// When the request that fetched a stored response was sent, and when its
/// response arrived (RFC 9111 §4.2.3 `request_time`, `response_time`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Times {
    pub(crate) request: Secs,
    pub(crate) response: Secs,
}

/// The most a heuristic freshness lifetime may be (RFC 9111 §4.2.2 sets
/// no number): one day, so a page whose origin says nothing is looked at
/// again at least daily however old its Last-Modified.
pub(crate) const HEURISTIC_MAX_SECS: Secs = 86_400;
/// The share of (Date − Last-Modified) a heuristic lifetime is: the 10%
/// RFC 9111 §4.2.2 names as typical.
const HEURISTIC_PERCENT: Secs = 10;
/// How long a package file (the `Keep` rows of [`PACKAGES`]) stays fresh
/// when its origin gives no freshness: its name changes whenever its
/// content does, so 30 days only bounds how long an unused one is kept.
pub(crate) const PACKAGE_KEEP_SECS: Secs = 30 * 86_400;

/// Statuses cacheable by default, so heuristically (RFC 9110 §15.1).
const HEURISTIC_STATUSES: &[u16] = &[200, 203, 204, 206, 300, 301, 308, 404, 405, 410, 414, 501];
/// Statuses this cache understands (RFC 9111 §3, §5.2.2.3 must-understand):
/// 206 is not among them (no partial entries are stored), nor 304.
const UNDERSTOOD: &[u16] = &[
    200, 203, 204, 300, 301, 302, 303, 307, 308, 404, 405, 410, 414, 501,
];

/// May this request be answered from (or looked up in) the cache at all?
/// GET, and HEAD answered from a stored GET (RFC 9110 §9.3.2). The
/// request's own directives change [`use_stored`]'s answer, not this.
pub(crate) fn lookup_allowed(req: &Head) -> bool {
    req.method == "GET" || req.method == "HEAD"
}

/// Whether a request says `only-if-cached` (RFC 9111 §5.2.1.7): answer it
/// with a stored response or a 504, never from the origin.
pub(crate) fn only_if_cached(req: &Head) -> bool {
    Control::of(req).only_if_cached
}

/// Why a response is not stored (for logs and tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NotStored {
    /// Not a GET (RFC 9111 §3: only methods the cache understands).
    Method,
    /// 1xx, 206, 304, a status above 599, or must-understand with a
    /// status not understood (§3, §5.2.2.3).
    Status,
    /// `no-store` in the request or the response (§5.2.1.5, §5.2.2.5).
    NoStore,
    /// `private` (§5.2.2.7): a shared cache must not store it.
    Private,
    /// The request carried Authorization and the response did not say
    /// public, s-maxage or must-revalidate (§3.5).
    Authorization,
    /// Set-Cookie without `public` or `s-maxage`: RFC 9111 §7.3 allows
    /// storing it, but handing one household member's session cookie to
    /// another is the leak nginx and Varnish refuse by default too.
    SetCookie,
    /// `Vary: *` never matches a later request (§4.1).
    VaryStar,
    /// No explicit freshness, not public, and a status not cacheable by
    /// default (§3: none of the conditions that permit storing).
    NotCacheable,
    /// It could only ever be reused after validation, and has no
    /// validator to validate with (§4.3.1): storing it gains nothing.
    NoValidator,
}

impl NotStored {
    /// A short reason for logs.
    pub(crate) fn reason(self) -> &'static str {
        match self {
            NotStored::Method => "method",
            NotStored::Status => "status",
            NotStored::NoStore => "no-store",
            NotStored::Private => "private",
            NotStored::Authorization => "authorization",
            NotStored::SetCookie => "set-cookie",
            NotStored::VaryStar => "vary-star",
            NotStored::NotCacheable => "not-cacheable",
            NotStored::NoValidator => "no-validator",
        }
    }
}

/// May a shared cache store this response to this request (RFC 9111 §3)?
/// `path` is the request's path and query.
pub(crate) fn storable(req: &Head, resp: &Head, path: &str) -> Result<(), NotStored> {
    let (rq, cc) = (Control::of(req), Control::of(resp));
    if req.method != "GET" {
        return Err(NotStored::Method);
    }
    let understood = UNDERSTOOD.contains(&resp.status);
    if resp.status > 599
        || !understood && (cc.must_understand || matches!(resp.status, 100..=199 | 206 | 304))
    {
        return Err(NotStored::Status);
    }
    // §5.2.2.3: must-understand with an understood status overrides no-store.
    if rq.no_store || cc.no_store && !(cc.must_understand && understood) {
        return Err(NotStored::NoStore);
    }
    if cc.private {
        return Err(NotStored::Private);
    }
    let shared_ok = cc.public || cc.s_maxage != Delta::Absent;
    if req.value("authorization").is_some() && !shared_ok && !cc.must_revalidate {
        return Err(NotStored::Authorization);
    }
    if resp.value("set-cookie").is_some() && !shared_ok {
        return Err(NotStored::SetCookie);
    }
    if resp.has_token("vary", "*") {
        return Err(NotStored::VaryStar);
    }
    let explicit = cc.max_age != Delta::Absent
        || cc.s_maxage != Delta::Absent
        || resp.value("expires").is_some();
    if !explicit && !cc.public && !HEURISTIC_STATUSES.contains(&resp.status) {
        return Err(NotStored::NotCacheable);
    }
    let reusable = !cc.no_cache
        && package_rule(path) != Some(PackageRule::Revalidate)
        && lifetime(resp, path).unwrap_or(0) > 0;
    if !reusable && !has_validator(resp) {
        return Err(NotStored::NoValidator);
    }
    Ok(())
}

/// The freshness lifetime of a response in seconds (RFC 9111 §4.2.1):
/// s-maxage, else max-age, else Expires − Date (an invalid one: 0, §5.3),
/// else the package table, else the heuristic of §4.2.2. `None` when there
/// is none, so the response must be revalidated before every use.
pub(crate) fn lifetime(resp: &Head, path: &str) -> Option<Secs> {
    let rule = package_rule(path);
    if rule == Some(PackageRule::Revalidate) {
        return Some(0); // the table's rule: index files are checked every time
    }
    let cc = Control::of(resp);
    for d in [cc.s_maxage, cc.max_age] {
        match d {
            Delta::Secs(n) => return Some(n),
            Delta::Invalid => return Some(0), // §4.2.1: treat as stale
            Delta::Absent => {}
        }
    }
    let mut expires = resp.values("expires");
    if let Some(first) = expires.next() {
        // §4.2.1: a second, different Expires makes it stale, like a bad one.
        if expires.any(|e| e != first) {
            return Some(0);
        }
        let date = resp.value("date").and_then(parse_http_date);
        return Some(match (parse_http_date(first), date) {
            (Some(e), Some(d)) => e.saturating_sub(d),
            _ => 0,
        });
    }
    if rule == Some(PackageRule::Keep) && resp.status == 200 {
        return Some(PACKAGE_KEEP_SECS); // never a 404 for 30 days: mirrors lag
    }
    if !cc.public && !HEURISTIC_STATUSES.contains(&resp.status) {
        return None;
    }
    let date = resp.value("date").and_then(parse_http_date)?;
    let modified = resp.value("last-modified").and_then(parse_http_date)?;
    let heuristic = date
        .saturating_sub(modified)
        .saturating_mul(HEURISTIC_PERCENT)
        / 100;
    Some(heuristic.min(HEURISTIC_MAX_SECS))
}

/// The current age of a stored response (RFC 9111 §4.2.3), the Age field
/// included, never negative under clock skew.
pub(crate) fn age(resp: &Head, t: &Times, now: Secs) -> Secs {
    // §5.1: the first member of a list-valued Age; an invalid one ignored.
    let age_value = resp
        .value("age")
        .and_then(|v| v.split(|&b| b == b',').next())
        .map(|v| fields::delta_seconds(trim_ows(v)))
        .and_then(|d| match d {
            Delta::Secs(n) => Some(n),
            _ => None,
        })
        .unwrap_or(0);
    let date_value = resp
        .value("date")
        .and_then(parse_http_date)
        .unwrap_or(t.response);
    let apparent_age = t.response.saturating_sub(date_value);
    let response_delay = t.response.saturating_sub(t.request);
    let corrected_age_value = age_value.saturating_add(response_delay);
    let corrected_initial_age = apparent_age.max(corrected_age_value);
    let resident_time = now.saturating_sub(t.response);
    corrected_initial_age.saturating_add(resident_time)
}

/// What to do with a stored response for a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Use {
    /// Serve it as it is.
    Fresh,
    /// Ask the origin with [`validators`]; a 304 lets it be served.
    Revalidate,
    /// Forward the request as if nothing were stored.
    Miss,
}

/// May the stored response `resp` answer `req` (RFC 9111 §4, after the
/// caller matched method, URI and [`vary_key`])?
pub(crate) fn use_stored(req: &Head, resp: &Head, t: &Times, path: &str, now: Secs) -> Use {
    let (rq, cc) = (Control::of(req), Control::of(resp));
    // §3.5: a request with Authorization only gets what the response allowed.
    if req.value("authorization").is_some()
        && !cc.public
        && cc.s_maxage == Delta::Absent
        && !cc.must_revalidate
    {
        return Use::Miss;
    }
    let check = if !has_validator(resp) {
        Use::Miss
    } else {
        Use::Revalidate
    };
    // §5.4: Pragma: no-cache counts as no-cache when Cache-Control is absent.
    let pragma = req.value("cache-control").is_none() && req.has_token("pragma", "no-cache");
    // §5.2.1.4 request no-cache, §5.2.2.4 response no-cache, the package table.
    if rq.no_cache || pragma || cc.no_cache || package_rule(path) == Some(PackageRule::Revalidate) {
        return check;
    }
    let lifetime = lifetime(resp, path).unwrap_or(0);
    let age = age(resp, t, now);
    let delta = |d: Delta| match d {
        Delta::Absent => None,
        Delta::Secs(n) => Some(n),
        Delta::Invalid => Some(0), // the most restrictive reading (§4.2.1)
    };
    // §5.2.1.1 max-age: the client will not take anything older.
    if delta(rq.max_age).is_some_and(|max| age > max) {
        return check;
    }
    // §5.2.1.3 min-fresh: it must stay fresh for at least that long.
    let min_fresh = delta(rq.min_fresh).unwrap_or(0);
    if lifetime > age {
        // Fresh; but is it fresh for min-fresh seconds more?
        return if lifetime - age >= min_fresh {
            Use::Fresh
        } else {
            check
        };
    }
    // §4.2.4, §5.2.2.2, §5.2.2.8, §5.2.2.10: stale and told never to serve stale.
    if cc.must_revalidate || cc.proxy_revalidate || cc.s_maxage != Delta::Absent {
        return check;
    }
    // §5.2.1.2: the client accepts this much staleness.
    let staleness = age - lifetime;
    match rq.max_stale {
        MaxStale::Any => Use::Fresh,
        MaxStale::Secs(n) if staleness <= n => Use::Fresh,
        _ => check,
    }
}

/// Must a response to `method` invalidate the stored responses of its
/// target URI (RFC 9111 §4.4)? Yes for a non-error (2xx, 3xx) response to
/// any method not known to be safe (RFC 9110 §9.2.1; methods are
/// case-sensitive, so `get` is unknown, hence unsafe). The caller may do
/// the same for Location and Content-Location on the same host.
pub(crate) fn invalidates(method: &str, status: u16) -> bool {
    let safe = matches!(method, "GET" | "HEAD" | "OPTIONS" | "TRACE");
    !safe && (200..400).contains(&status)
}

/// What the package table says about a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PackageRule {
    /// Keep a 200 fresh for [`PACKAGE_KEEP_SECS`] when the origin gives no
    /// freshness (not an error: a mirror being synced may 404 a file it
    /// will have in a minute).
    Keep,
    /// Revalidate it on every request, whatever the origin says.
    Revalidate,
}

/// How a row of [`PACKAGES`] matches a path (query removed).
#[derive(Debug, Clone, Copy)]
enum Pattern {
    /// The path ends with this.
    Suffix(&'static str),
    /// The path contains this.
    Contains(&'static str),
    /// The last path segment is exactly this.
    Name(&'static str),
    /// The last path segment starts with this.
    Prefix(&'static str),
}

/// The package-file table (issue 11), the first matching row wins. Package
/// files are named by version or digest, so a name never gets new content;
/// index files are the ones that change under the same name.
const PACKAGES: &[(Pattern, PackageRule)] = &[
    // apt's Acquire-By-Hash: indexes named by their digest.
    (Pattern::Contains("/by-hash/"), PackageRule::Keep),
    // Debian and Ubuntu packages, installer packages.
    (Pattern::Suffix(".deb"), PackageRule::Keep),
    (Pattern::Suffix(".udeb"), PackageRule::Keep),
    // Fedora, RHEL, openSUSE packages.
    (Pattern::Suffix(".rpm"), PackageRule::Keep),
    // Alpine packages.
    (Pattern::Suffix(".apk"), PackageRule::Keep),
    // OpenWrt (opkg) packages.
    (Pattern::Suffix(".ipk"), PackageRule::Keep),
    // Arch Linux packages.
    (Pattern::Suffix(".pkg.tar.zst"), PackageRule::Keep),
    // apt's signed release file, and the unsigned pair it replaced.
    (Pattern::Name("InRelease"), PackageRule::Revalidate),
    (Pattern::Name("Release"), PackageRule::Revalidate),
    (Pattern::Name("Release.gpg"), PackageRule::Revalidate),
    // apt's package and source indexes, any compression.
    (Pattern::Prefix("Packages"), PackageRule::Revalidate),
    (Pattern::Prefix("Sources"), PackageRule::Revalidate),
    // dnf/yum repository metadata root.
    (Pattern::Name("repomd.xml"), PackageRule::Revalidate),
    // Alpine's index.
    (Pattern::Prefix("APKINDEX"), PackageRule::Revalidate),
];

/// The package table's rule for a path and query, if a row matches.
pub(crate) fn package_rule(path: &str) -> Option<PackageRule> {
    let path = path.split(['?', '#']).next().unwrap_or("");
    let name = path.rsplit('/').next().unwrap_or("");
    PACKAGES.iter().find_map(|&(pattern, rule)| {
        let hit = match pattern {
            Pattern::Suffix(s) => path.ends_with(s),
            Pattern::Contains(s) => path.contains(s),
            Pattern::Name(s) => name == s,
            Pattern::Prefix(s) => name.starts_with(s),
        };
        hit.then_some(rule)
    })
}
