//! Request collapsing (issue 11): while one request (the leader) fetches a
//! miss, later requests for the same key (followers) wait for its response
//! head and then stream the body from the entry's temporary file as it
//! grows, woken by an event at each write, never by polling. If the
//! leader's response is not stored, or its fetch fails before the head,
//! each follower fetches on its own. The table of flights is bounded
//! ([`MAX_FLIGHTS`]); its lock is held only to look up, insert or remove.

use std::collections::HashMap;
use std::fs::File;
use std::sync::{Arc, Mutex, MutexGuard};

use event_listener::{Event, EventListener};

/// Keys being fetched at once that others may join. Beyond it a miss is
/// fetched alone (no collapsing): the table's memory stays bounded by
/// this many keys (each at most a request-target long, 8 KiB) however many
/// distinct URLs clients ask for at once.
pub(crate) const MAX_FLIGHTS: usize = 1024;

/// What a follower learns about the leader's response.
#[derive(Clone)]
pub(crate) struct Started {
    /// The stored response head (as the entry's meta holds it).
    pub(crate) head: Arc<Vec<u8>>,
    /// Under `Vary`, the leader's secondary key: only a follower whose
    /// request has the same one may take this response (RFC 9111 §4.1).
    pub(crate) variant: Option<Vec<u8>>,
    /// The body's length, when the response declared it.
    pub(crate) len: Option<u64>,
    /// A read handle on the entry being written, and where its body starts.
    pub(crate) file: Arc<File>,
    /// Where the body starts in `file`.
    pub(crate) offset: u64,
}

/// Where a flight stands.
#[derive(Clone)]
pub(crate) enum Progress {
    /// No response head yet.
    Waiting,
    /// Streaming: the head, and the body bytes written so far.
    Body(Started, u64),
    /// The body is complete and committed (its final length).
    Done(Started, u64),
    /// Not stored, or the fetch failed: followers go on their own.
    Failed,
}

/// One key being fetched.
pub(crate) struct Flight {
    state: Mutex<Progress>,
    event: Event,
}

impl Flight {
    fn lock(&self) -> MutexGuard<'_, Progress> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The state now, and a listener that fires on the next change (made
    /// before the state is read, so no change is missed).
    pub(crate) fn watch(&self) -> (Progress, EventListener) {
        let listener = self.event.listen();
        (self.lock().clone(), listener)
    }

    fn set(&self, p: Progress) {
        *self.lock() = p;
        self.event.notify(usize::MAX);
    }
}

/// The in-flight table.
#[derive(Default)]
pub(crate) struct Flights {
    table: Mutex<HashMap<Vec<u8>, Arc<Flight>>>,
}

/// How a miss takes part.
pub(crate) enum Role<'a> {
    /// Fetch it, and tell the followers.
    Leader(Leader<'a>),
    /// Another request fetches it: follow that one.
    Follower(Arc<Flight>),
    /// Fetch it alone (the table is full).
    Alone,
}

impl Flights {
    /// Lead the fetch of `key`, follow the one under way, or go alone.
    pub(crate) fn join(&self, key: &[u8]) -> Role<'_> {
        let mut table = self.table.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(f) = table.get(key) {
            return Role::Follower(Arc::clone(f));
        }
        if table.len() >= MAX_FLIGHTS {
            return Role::Alone;
        }
        let flight = Arc::new(Flight {
            state: Mutex::new(Progress::Waiting),
            event: Event::new(),
        });
        table.insert(key.to_vec(), Arc::clone(&flight));
        Role::Leader(Leader {
            flights: self,
            key: key.to_vec(),
            flight,
            ended: false,
        })
    }

    /// Keys being fetched now.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.table.lock().map_or(0, |t| t.len())
    }
}

/// The leader's side of a flight. Dropped without [`Leader::done`], the
/// flight fails: followers that have not begun fetch on their own, those
/// streaming stop.
pub(crate) struct Leader<'a> {
    flights: &'a Flights,
    key: Vec<u8>,
    flight: Arc<Flight>,
    ended: bool,
}

impl Leader<'_> {
    /// The response head is known and its body is being stored.
    pub(crate) fn started(&self, s: Started) {
        self.flight.set(Progress::Body(s, 0));
    }

    /// `n` body bytes are in the file now.
    pub(crate) fn wrote(&self, n: u64) {
        let mut state = self.flight.lock();
        if let Progress::Body(_, w) = &mut *state {
            *w = n;
            drop(state);
            self.flight.event.notify(usize::MAX);
        }
    }

    /// The body is complete and committed: later requests find the entry
    /// in the store, so the key leaves the table now.
    pub(crate) fn done(mut self) {
        let mut state = self.flight.lock();
        if let Progress::Body(s, w) = &*state {
            *state = Progress::Done(s.clone(), *w);
            self.ended = true;
        }
        drop(state);
        // Drop removes it from the table and wakes the followers.
    }
}

impl Drop for Leader<'_> {
    fn drop(&mut self) {
        {
            let mut table = self.flights.table.lock().unwrap_or_else(|p| p.into_inner());
            table.remove(&self.key);
        }
        if !self.ended {
            self.flight.set(Progress::Failed);
        } else {
            self.flight.event.notify(usize::MAX);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn started() -> Started {
        Started {
            head: Arc::new(b"HTTP/1.1 200 OK\r\n\r\n".to_vec()),
            variant: None,
            len: Some(3),
            file: Arc::new(File::open("/dev/null").unwrap()),
            offset: 0,
        }
    }

    #[test]
    fn one_leader_per_key_and_failure_releases_followers() {
        let f = Flights::default();
        let Role::Leader(lead) = f.join(b"k") else {
            panic!("first is the leader")
        };
        let Role::Follower(follow) = f.join(b"k") else {
            panic!("second follows")
        };
        assert!(matches!(f.join(b"other"), Role::Leader(_)));
        assert!(matches!(follow.watch().0, Progress::Waiting));
        lead.started(started());
        lead.wrote(2);
        assert!(matches!(follow.watch().0, Progress::Body(_, 2)));
        drop(lead);
        assert!(matches!(follow.watch().0, Progress::Failed));
        assert_eq!(f.len(), 0, "the key is free again");
        let Role::Leader(lead) = f.join(b"k") else {
            panic!("a new leader")
        };
        let Role::Follower(follow) = f.join(b"k") else {
            panic!()
        };
        lead.started(started());
        lead.wrote(3);
        lead.done();
        assert!(matches!(follow.watch().0, Progress::Done(_, 3)));
    }

    #[test]
    fn the_table_is_bounded() {
        let f = Flights::default();
        let leaders: Vec<_> = (0..MAX_FLIGHTS)
            .map(|i| f.join(format!("k{i}").as_bytes()))
            .collect();
        assert!(matches!(f.join(b"one more"), Role::Alone));
        drop(leaders);
        assert_eq!(f.len(), 0);
    }
}
