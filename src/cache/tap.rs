//! What the cache does while a response passes from upstream to the
//! client (`body::Tap`): decide whether it may be stored (`fresh.rs`), write
//! its body into the store as it streams, commit only a whole body, tell
//! collapsed followers how far it got, and add `Cache-Status`; when
//! revalidating, take a 304 for the cache to answer. And, for unsafe
//! methods, note the status and locations to invalidate (§4.4).

use std::sync::Arc;

use super::collapse::{Leader, Started};
use super::entry::{Kind, Scheme, encode_meta, now, same_origin_key, variant_key};
use super::fresh::{self, Secs, Times};
use super::store::{Store, Writer};
use crate::body::Tap;
use crate::http::framing::Body;
use crate::http::head::Head;
use crate::http::target::Authority;

/// The tap on a GET or HEAD sent upstream by the cache.
pub(super) struct StoreTap<'a> {
    store: &'a Store,
    req: &'a Head,
    path: &'a str,
    key: Vec<u8>,
    why: fresh::Fwd,
    leader: Option<Leader<'a>>,
    times: Times,
    writer: Option<Writer>,
    /// Revalidating this stored head: a 304 is merged into it, not sent.
    stale: Option<&'a Head>,
    merged: Option<Vec<u8>>,
}

impl<'a> StoreTap<'a> {
    /// A tap for a request sent at `sent` (seconds since the epoch).
    pub(super) fn new(
        store: &'a Store,
        req: &'a Head,
        path: &'a str,
        key: Vec<u8>,
        why: fresh::Fwd,
        leader: Option<Leader<'a>>,
        sent: Secs,
    ) -> Self {
        StoreTap {
            store,
            req,
            path,
            key,
            why,
            leader,
            times: Times {
                request: sent,
                response: sent,
            },
            writer: None,
            stale: None,
            merged: None,
        }
    }

    /// The request revalidates `stored`.
    pub(super) fn revalidating(&mut self, stored: &'a Head) {
        self.stale = Some(stored);
    }

    /// The stored head updated by a 304, if one came.
    pub(super) fn take_merged(&mut self) -> Option<Vec<u8>> {
        self.merged.take()
    }

    /// When the request went and the response came.
    pub(super) fn times(&self) -> Times {
        Times {
            request: self.times.request,
            response: self.times.response,
        }
    }

    /// Start writing the response into the store, if it may be stored.
    fn begin(&mut self, resp: &Head, body: Body) -> bool {
        let len = match body {
            Body::Length(n) => Some(n),
            Body::Chunked => None,
            // A close-delimited body cannot be told from a cut one.
            Body::None | Body::UntilClose => return false,
        };
        if self.req.method != "GET" || resp.status == 206 {
            return false;
        }
        if let Err(why) = fresh::storable(self.req, resp, self.path) {
            log::debug!("cache: not storing {}: {}", self.req.target, why.reason());
            return false;
        }
        let head = fresh::stored_head(resp, self.times.response);
        let store = self.store;
        let mut variant = None;
        let key = if resp.value("vary").is_some() {
            // Vary (§4.1): a record at the primary key, the response under
            // its variant's key.
            let Some(secondary) = fresh::vary_key(resp, self.req) else {
                return false;
            };
            let record = encode_meta(Kind::Vary, &self.times, &head);
            match store.begin(&self.key, &record).and_then(Writer::commit) {
                Ok(()) => {
                    let k = variant_key(&self.key, &secondary);
                    variant = Some(secondary);
                    k
                }
                Err(_) => return false,
            }
        } else {
            self.key.clone()
        };
        let meta = encode_meta(Kind::Response, &self.times, &head);
        let writer = match store.begin(&key, &meta) {
            Ok(w) => w,
            Err(e) => {
                log::debug!("cache: cannot store {}: {e}", self.req.target);
                return false;
            }
        };
        if let Some(l) = &self.leader {
            match writer.follow() {
                Ok((file, offset)) => l.started(Started {
                    head: Arc::new(meta),
                    variant,
                    len,
                    file: Arc::new(file),
                    offset,
                }),
                Err(_) => self.leader = None,
            }
        }
        self.writer = Some(writer);
        true
    }

    /// Give up storing: no partial entry, followers fetch alone.
    fn abandon(&mut self) {
        self.writer = None;
        self.leader = None;
    }
}

impl Tap for StoreTap<'_> {
    fn head(&mut self, resp: &Head, body: Body) -> Option<Vec<u8>> {
        self.times.response = now().max(self.times.request);
        if let (Some(stale), 304) = (self.stale, resp.status) {
            self.merged = Some(fresh::merge_304(stale, resp));
            self.leader = None;
            return None;
        }
        let stored = self.begin(resp, body);
        if !stored {
            self.leader = None;
        }
        let status = fresh::Status::Fwd {
            why: self.why,
            status: None,
            stored,
            collapsed: false,
        };
        Some(status_field(status))
    }

    fn body(&mut self, bytes: &[u8]) {
        let Some(w) = &mut self.writer else { return };
        if bytes.is_empty() {
            return;
        }
        match w.write(bytes) {
            Ok(()) => {
                if let Some(l) = &self.leader {
                    l.wrote(w.written());
                }
            }
            Err(e) => {
                log::debug!("cache: stopped storing {}: {e}", self.req.target);
                self.abandon();
            }
        }
    }

    fn end(&mut self) {
        let Some(w) = self.writer.take() else { return };
        match w.commit() {
            Ok(()) => {
                if let Some(l) = self.leader.take() {
                    l.done();
                }
            }
            Err(e) => {
                log::debug!("cache: cannot commit {}: {e}", self.req.target);
                self.abandon();
            }
        }
    }
}

/// The `Cache-Status` field line for `s`.
fn status_field(s: fresh::Status) -> Vec<u8> {
    let mut f = b"Cache-Status: ".to_vec();
    f.extend_from_slice(s.value().as_bytes());
    f.extend_from_slice(b"\r\n");
    f
}

/// The tap on a request the cache passes on without looking it up: an
/// unsafe method (`fwd=method`), or a GET the cache does not take
/// (`fwd=bypass`: an upgrade, `Expect`). For an unsafe method it drops the
/// stored target URI (and a `Location` / `Content-Location` on the same
/// origin) as soon as a non-error response arrives (§4.4), before the
/// client has it, so the client's next request cannot find the old one.
pub(super) struct PassTap<'a> {
    why: fresh::Fwd,
    /// The store, the target's key and its origin and scheme, for an unsafe method.
    target: Option<(&'a Store, &'a [u8], &'a Authority, Scheme)>,
    method: &'a str,
    /// Whether stored responses were dropped.
    pub(super) invalidated: bool,
}

impl<'a> PassTap<'a> {
    /// A tap saying `why` in Cache-Status, invalidating `target` after a
    /// non-error response to `method`.
    pub(super) fn new(
        why: fresh::Fwd,
        method: &'a str,
        target: Option<(&'a Store, &'a [u8], &'a Authority, Scheme)>,
    ) -> Self {
        PassTap {
            why,
            target,
            method,
            invalidated: false,
        }
    }
}

impl Tap for PassTap<'_> {
    fn head(&mut self, resp: &Head, _: Body) -> Option<Vec<u8>> {
        if let Some((store, key, origin, scheme)) = self.target
            && fresh::invalidates(self.method, resp.status)
        {
            store.remove(key);
            for f in ["location", "content-location"] {
                if let Some(k) = resp
                    .value(f)
                    .and_then(|v| same_origin_key(scheme, origin, v))
                {
                    store.remove(&k);
                }
            }
            self.invalidated = true;
        }
        let status = fresh::Status::Fwd {
            why: self.why,
            status: None,
            stored: false,
            collapsed: false,
        };
        Some(status_field(status))
    }

    fn body(&mut self, _: &[u8]) {}

    fn end(&mut self) {}
}
