//! What the cache does while a response passes from upstream to the
//! client (`body::Tap`): decide whether it may be stored (`fresh.rs`), write
//! its body into the store as it streams, commit only a whole body, tell
//! collapsed followers how far it got, and add `Cache-Status`; when
//! revalidating, take a 304 for the cache to answer. And, for unsafe
//! methods, note the status and locations to invalidate (§4.4).

use std::sync::Arc;

use super::collapse::{Leader, Started};
use super::entry::{Kind, encode_meta, now, variant_key};
use super::fresh::{self, Secs, Times};
use super::store::{Store, Writer};
use crate::body::Tap;
use crate::http::framing::Body;
use crate::http::head::Head;

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
        Some(format!("Cache-Status: {}\r\n", status.value()).into_bytes())
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

/// Most `Location` / `Content-Location` values remembered for invalidation.
const MAX_LOCATIONS: usize = 2;

/// The tap on a request the cache passes on without looking it up: an
/// unsafe method (`fwd=method`; what to invalidate, §4.4), or a GET the
/// cache does not take (`fwd=bypass`: an upgrade, `Expect`).
pub(super) struct PassTap {
    why: fresh::Fwd,
    /// The final status.
    pub(super) status: u16,
    /// `Location` and `Content-Location` values.
    pub(super) locations: Vec<Vec<u8>>,
}

impl PassTap {
    /// A tap saying `why` in Cache-Status.
    pub(super) fn new(why: fresh::Fwd) -> Self {
        PassTap {
            why,
            status: 0,
            locations: Vec::new(),
        }
    }
}

impl Tap for PassTap {
    fn head(&mut self, resp: &Head, _: Body) -> Option<Vec<u8>> {
        self.status = resp.status;
        let status = fresh::Status::Fwd {
            why: self.why,
            status: None,
            stored: false,
            collapsed: false,
        };
        for f in ["location", "content-location"] {
            if let Some(v) = resp.value(f)
                && self.locations.len() < MAX_LOCATIONS
            {
                self.locations.push(v.to_vec());
            }
        }
        Some(format!("Cache-Status: {}\r\n", status.value()).into_bytes())
    }

    fn body(&mut self, _: &[u8]) {}

    fn end(&mut self) {}
}
