//! The shared HTTP cache (issue 11), wired into plain-HTTP forwarding: a
//! request whose route is `Direct` comes here (`conn.rs`) instead of going
//! straight to `forward::exchange`. A GET or HEAD is looked up by its
//! absolute URI (and Vary variant): a fresh entry is answered from disk
//! (`serve.rs`: Age, Cache-Status, HEAD from GET, 304 to a matching
//! conditional, Range); a stale one is revalidated upstream with its
//! validators (a 304 updates the stored head, RFC 9111 §4.3.4); a miss is
//! forwarded and, when storable, its body is written to the store while it
//! streams to the client (`tap.rs`), concurrent misses for one URI
//! collapsed onto one fetch (`collapse.rs`). A non-error answer to an
//! unsafe method invalidates the URI (§4.4). The RFC 9111 rules are
//! `fresh.rs`'s, the disk is `store.rs`'s.

pub(crate) mod collapse;
mod entry;
pub(crate) mod fresh;
mod serve;
pub(crate) mod store;
mod tap;

use std::sync::Arc;

use crate::buffer::{Client, timed, write_all};
use crate::config::CacheConfig;
use crate::error::Error;
use crate::forward::{self, Context};
use crate::http::head::{Head, parse_request, parse_response};
use crate::http::reply::simple_response;
use crate::http::target::Authority;
use crate::logger::Outcome;
use crate::stats::{CacheStats, Counter};
use crate::upstream::pool::Kept;
use collapse::{Flight, Flights, Progress, Role};
use entry::{Kind, Scheme, decode_meta, encode_meta, key_of, now, variant_key};
use fresh::{Fwd, Secs, Status, Times, Use};
use serve::Stored;
use store::{Hit, Store};
use tap::{PassTap, StoreTap};

/// The cache: the store on disk, the fetches under way, its counters.
pub(crate) struct Cache {
    store: Store,
    flights: Flights,
    hits: Counter,
    misses: Counter,
    revalidated: Counter,
    hit_bytes: Counter,
}

impl Cache {
    /// Open (or create) the cache in `--cache-dir`; the message says why not.
    pub(crate) fn open(c: &CacheConfig) -> Result<Cache, String> {
        let store = Store::open(&c.dir, c.max_bytes, c.mem_bytes)
            .map_err(|e| format!("cannot open the cache in {}: {e}", c.dir.display()))?;
        Ok(Cache {
            store,
            flights: Flights::default(),
            hits: Counter::default(),
            misses: Counter::default(),
            revalidated: Counter::default(),
            hit_bytes: Counter::default(),
        })
    }

    /// The counters and the store's usage now.
    pub(crate) fn stats(&self) -> CacheStats {
        let u = self.store.usage();
        CacheStats {
            entries: u.entries,
            bytes: u.bytes,
            max_bytes: u.max_bytes,
            hits: self.hits.get(),
            misses: self.misses.get(),
            revalidated: self.revalidated.get(),
            hit_bytes: self.hit_bytes.get(),
        }
    }
}

/// What the access line says of the cache's part.
pub(crate) mod result {
    /// Answered from the cache.
    pub(crate) const HIT: &str = "HIT";
    /// Fetched upstream.
    pub(crate) const MISS: &str = "MISS";
    /// Stale, upstream said 304: answered from the cache.
    pub(crate) const REVALIDATED: &str = "REVALIDATED";
    /// Stale, upstream sent a new response.
    pub(crate) const REFRESHED: &str = "REFRESHED";
    /// Streamed from another request's fetch of the same URI.
    pub(crate) const COLLAPSED: &str = "COLLAPSED";
    /// An unsafe method: passed on, the URI invalidated if it succeeded.
    pub(crate) const INVALIDATED: &str = "INVALIDATED";
}

/// A stored response found for a request.
struct Found {
    /// The key it is stored under (a variant's own key under Vary).
    key: Vec<u8>,
    hit: Hit,
    head: Head,
    times: Times,
}

impl Cache {
    /// The stored response for `req` under `key`, through its Vary record,
    /// or why there is none. Meta this version cannot read is dropped,
    /// never served.
    fn lookup(&self, key: &[u8], req: &Head) -> Result<Found, Fwd> {
        let hit = self.store.get(key).ok_or(Fwd::UriMiss)?;
        let Some((kind, times, head)) = decode_meta(&hit.meta) else {
            self.store.remove(key);
            return Err(Fwd::UriMiss);
        };
        if kind == Kind::Response {
            let key = key.to_vec();
            return Ok(Found {
                key,
                hit,
                head,
                times,
            });
        }
        let secondary = fresh::vary_key(&head, req).ok_or(Fwd::VaryMiss)?;
        let key = variant_key(key, &secondary);
        let hit = self.store.get(&key).ok_or(Fwd::VaryMiss)?;
        match decode_meta(&hit.meta) {
            Some((Kind::Response, times, head)) => Ok(Found {
                key,
                hit,
                head,
                times,
            }),
            _ => {
                self.store.remove(&key);
                Err(Fwd::VaryMiss)
            }
        }
    }
}

/// Whether a GET or HEAD is one the cache takes: not an upgrade and not
/// waiting for `100 Continue` (those go to `forward::exchange` as they are).
fn cacheable_request(req: &Head) -> bool {
    (req.method == "GET" || req.method == "HEAD")
        && req.value("upgrade").is_none()
        && req.value("expect").is_none()
        && fresh::lookup_allowed(req)
}

/// Carry out one `Direct` request with the cache in the way. `Err` means
/// nothing was sent to the client yet, as for `forward::exchange`.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn exchange(
    cache: &Cache,
    cx: &Context<'_>,
    client: &mut Client,
    slot: &mut Kept,
    req: &Head,
    origin: &Authority,
    host_field: &str,
    path: &str,
) -> Result<Outcome, Error> {
    // An inspected connection dials its origins through TLS (`cx.connect`).
    let scheme = match cx.connect {
        Some(_) => Scheme::Https,
        None => Scheme::Http,
    };
    let key = key_of(scheme, origin, path);
    let fwd = Forward {
        cx,
        origin,
        host_field,
        path,
    };
    if req.method != "GET" && req.method != "HEAD" {
        let mut tap = PassTap::new(
            Fwd::Method,
            &req.method,
            Some((&cache.store, &key, origin, scheme)),
        );
        let mut o = fwd.tapped(client, slot, req, &mut tap).await?;
        if tap.invalidated {
            o.cache = Some(result::INVALIDATED);
        }
        return Ok(o);
    }
    if !cacheable_request(req) {
        let mut tap = PassTap::new(Fwd::Bypass, &req.method, None);
        return fwd.tapped(client, slot, req, &mut tap).await;
    }
    let now = now();
    let found = match cache.lookup(&key, req) {
        Ok(found) => found,
        Err(_) if fresh::only_if_cached(req) => return only_if_cached(cx, client, req).await,
        Err(why) => return miss(cache, &fwd, client, slot, req, key, why).await,
    };
    let usable = fresh::use_stored(req, &found.head, &found.times, path, now);
    if usable != Use::Fresh && fresh::only_if_cached(req) {
        return only_if_cached(cx, client, req).await;
    }
    match usable {
        Use::Fresh => {
            let age = fresh::age(&found.head, &found.times, now);
            let stored = Stored::of(&found.hit, &found.head, age);
            cache.hits.add(1);
            let o = serve::answer(cx, client, req, &stored, &fresh::Status::Hit.value()).await;
            count_hit(cache, o, result::HIT)
        }
        Use::Revalidate => {
            // RFC 9211 fwd=request: fresh, but the request's directives
            // asked for it to be checked; otherwise stale (or to be
            // checked every time, like package indexes).
            let by_client = req.value("cache-control").is_some() || req.value("pragma").is_some();
            let fresh_now = fresh::lifetime(&found.head, path)
                .is_some_and(|l| l > fresh::age(&found.head, &found.times, now));
            let why = if by_client && fresh_now {
                Fwd::Request
            } else {
                Fwd::Stale
            };
            revalidate(cache, &fwd, client, slot, req, key, found, now, why).await
        }
        Use::Miss => miss(cache, &fwd, client, slot, req, key, Fwd::Miss).await,
    }
}

/// `only-if-cached` (RFC 9111 §5.2.1.7) with nothing usable stored: 504,
/// the origin not asked.
async fn only_if_cached(cx: &Context<'_>, client: &Client, req: &Head) -> Result<Outcome, Error> {
    let body = "smolproxy: not in the cache (only-if-cached)\n";
    let resp = simple_response(504, "", body, req.method != "HEAD");
    write_all(&client.io, &resp, cx.read_timeout)
        .await
        .map_err(Error::Client)?;
    Ok(Outcome {
        status: 504,
        keep_client: false,
        ..Outcome::default()
    })
}

/// Count the body bytes a cache answer sent, and name the answer.
fn count_hit(
    cache: &Cache,
    o: Result<Outcome, Error>,
    what: &'static str,
) -> Result<Outcome, Error> {
    o.map(|o| {
        cache.hit_bytes.add(o.down);
        Outcome {
            cache: Some(what),
            ..o
        }
    })
}

/// How to reach the origin: what `forward::exchange` needs besides the
/// connections and the request.
struct Forward<'a> {
    cx: &'a Context<'a>,
    origin: &'a Authority,
    host_field: &'a str,
    path: &'a str,
}

impl Forward<'_> {
    /// Forward `req` with `tap` on the response.
    async fn tapped(
        &self,
        client: &mut Client,
        slot: &mut Kept,
        req: &Head,
        tap: &mut dyn crate::body::Tap,
    ) -> Result<Outcome, Error> {
        let (o, h, p) = (self.origin, self.host_field, self.path);
        forward::exchange_tapped(self.cx, client, slot, req, o, h, p, Some(tap)).await
    }
}

/// Fetch a miss: lead a collapsed fetch (or follow one under way), store
/// the response if it may be stored, stream it to the client meanwhile.
#[allow(clippy::too_many_arguments)]
async fn miss(
    cache: &Cache,
    fwd: &Forward<'_>,
    client: &mut Client,
    slot: &mut Kept,
    req: &Head,
    key: Vec<u8>,
    why: Fwd,
) -> Result<Outcome, Error> {
    // Only a plain GET is collapsed: the leader's answer must be one every
    // follower may get (no conditional, no range of its own).
    let conditional = ["range", "if-none-match", "if-modified-since", "if-range"]
        .iter()
        .any(|f| req.value(f).is_some());
    let role = if req.method == "GET" && !conditional {
        cache.flights.join(&key)
    } else {
        Role::Alone
    };
    let leader = match role {
        Role::Leader(l) => Some(l),
        Role::Alone => None,
        Role::Follower(flight) => {
            if let Some(done) = follow(cache, fwd.cx, client, req, &flight).await {
                return done;
            }
            // The leader's response is not stored, or its fetch failed:
            // fetch alone.
            None
        }
    };
    let mut tap = StoreTap::new(&cache.store, req, fwd.path, key, why, leader, now());
    cache.misses.add(1);
    let o = fwd.tapped(client, slot, req, &mut tap).await;
    o.map(|o| Outcome {
        cache: Some(result::MISS),
        ..o
    })
}

/// Follow another request's fetch of the same URI: wait (each wait bounded
/// by the read timeout) for its head, then stream the body as it is
/// written. `None`: that fetch gave nothing to follow; fetch alone.
async fn follow(
    cache: &Cache,
    cx: &Context<'_>,
    client: &mut Client,
    req: &Head,
    flight: &Arc<Flight>,
) -> Option<Result<Outcome, Error>> {
    let t = cx.read_timeout;
    let started = loop {
        let (p, wake) = flight.watch();
        match p {
            Progress::Waiting => {}
            Progress::Failed => return None,
            Progress::Body(s, _) if s.len.is_some() => break s,
            Progress::Done(s, _) => break s,
            // Its length comes only at the end: wait for it.
            Progress::Body(..) => {}
        }
        timed(t, async {
            wake.await;
            Ok(())
        })
        .await
        .ok()?;
    };
    let (_, _, head) = decode_meta(&started.head)?;
    if let Some(theirs) = &started.variant
        && fresh::vary_key(&head, req).as_ref() != Some(theirs)
    {
        // Another variant than this request selects (§4.1): fetch alone.
        return None;
    }
    let status = Status::Fwd {
        why: Fwd::UriMiss,
        status: None,
        stored: false,
        collapsed: true,
    }
    .value();
    cache.hits.add(1);
    let o = serve::follow(cx, client, req, &head, flight, started, &status).await;
    Some(count_hit(cache, o, result::COLLAPSED))
}

/// The conditional request that revalidates `stored` for `req` (§4.3.1):
/// the client's fields without its own conditionals and range, plus the
/// stored response's validators.
fn conditional_request(req: &Head, stored: &Head) -> Option<Head> {
    const CLIENTS_OWN: &[&str] = &[
        "if-none-match",
        "if-modified-since",
        "if-match",
        "if-unmodified-since",
        "if-range",
        "range",
    ];
    let mut raw = Vec::with_capacity(1024);
    let line = format!("{} {} HTTP/1.{}\r\n", req.method, req.target, req.minor);
    raw.extend_from_slice(line.as_bytes());
    let put = |raw: &mut Vec<u8>, name: &str, value: &[u8]| {
        raw.extend_from_slice(name.as_bytes());
        raw.extend_from_slice(b": ");
        raw.extend_from_slice(value);
        raw.extend_from_slice(b"\r\n");
    };
    for (name, value) in req.fields() {
        if !CLIENTS_OWN.iter().any(|c| name.eq_ignore_ascii_case(c)) {
            put(&mut raw, name, value);
        }
    }
    for (name, value) in fresh::validators(stored) {
        put(&mut raw, name, &value);
    }
    raw.extend_from_slice(b"\r\n");
    parse_request(&raw).ok()?.map(|(h, _)| h)
}

/// A stale entry (or one the client or the package table wants checked):
/// ask upstream with its validators. 304: update the stored head and
/// answer from the cache; anything else is passed on (and stored if it
/// may be, replacing the entry); an error is answered as errors are.
#[allow(clippy::too_many_arguments)]
async fn revalidate(
    cache: &Cache,
    fwd: &Forward<'_>,
    client: &mut Client,
    slot: &mut Kept,
    req: &Head,
    key: Vec<u8>,
    found: Found,
    now: Secs,
    why: Fwd,
) -> Result<Outcome, Error> {
    let Some(cond) = conditional_request(req, &found.head) else {
        return miss(cache, fwd, client, slot, req, key, why).await;
    };
    let mut tap = StoreTap::new(&cache.store, req, fwd.path, key, why, None, now);
    tap.revalidating(&found.head);
    let o = fwd.tapped(client, slot, &cond, &mut tap).await?;
    let Some(merged) = tap.take_merged() else {
        cache.misses.add(1);
        return Ok(Outcome {
            cache: Some(result::REFRESHED),
            ..o
        });
    };
    let times = tap.times();
    if let Err(e) = cache
        .store
        .update_meta(&found.key, &encode_meta(Kind::Response, &times, &merged))
    {
        log::debug!("cache: cannot update {}: {e}", req.target);
    }
    let Some((head, _)) = parse_response(&merged).ok().flatten() else {
        return Err(Error::BadResponse("invalid 304"));
    };
    let age = fresh::age(&head, &times, self::now());
    let stored = Stored::of(&found.hit, &head, age);
    let status = Status::Fwd {
        why,
        status: Some(304),
        stored: false,
        collapsed: false,
    }
    .value();
    cache.revalidated.add(1);
    let o = serve::answer(fwd.cx, client, req, &stored, &status).await;
    count_hit(cache, o, result::REVALIDATED)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn revalidation_sends_our_validators_not_the_clients() {
        let req = crate::http::head::test_request(
            "GET http://a/p HTTP/1.1\r\nHost: a\r\nIf-None-Match: \"c\"\r\nRange: bytes=0-1\r\n\
             Accept: */*\r\n\r\n",
        );
        let (stored, _) = parse_response(b"HTTP/1.1 200 OK\r\nETag: \"s\"\r\n\r\n")
            .unwrap()
            .unwrap();
        let c = conditional_request(&req, &stored).unwrap();
        assert_eq!(c.value("if-none-match"), Some(&b"\"s\""[..]));
        assert_eq!(c.values("if-none-match").count(), 1);
        assert!(c.value("range").is_none());
        assert_eq!(c.value("accept"), Some(&b"*/*"[..]));
    }
}
