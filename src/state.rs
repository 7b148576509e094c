//! What every connection task shares: the configuration, the policy in
//! force (replaced on reload), the dialer that reaches upstreams, the count
//! of open connections, the shutdown signal, the executors (one per
//! thread: a connection's tasks stay on the thread that accepted it) and
//! the counters (`stats.rs`); and the [`Slot`] a connection holds under
//! `--max-clients`.

use std::cell::Cell;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock, Weak};

use smol::Executor;

use crate::cache::Cache;
use crate::config::Config;
use crate::forward::Context;
use crate::logfile::AccessLog;
use crate::policy::Policy;
use crate::policy::guessing::Guesses;
use crate::stats::Stats;
use crate::upstream::Dialer;
use crate::upstream::chain::Parent;

/// State every connection task shares.
pub(crate) struct Shared {
    /// The configuration it was started with.
    pub(crate) config: Config,
    policy: RwLock<Arc<Policy>>,
    /// Resolve, check, connect: the one way to an upstream.
    pub(crate) dialer: Dialer,
    /// Client connections open now.
    active: AtomicUsize,
    /// Closed when shutdown begins.
    shutdown: async_channel::Receiver<()>,
    /// One executor per thread (`server.rs`), to start a tunnel as a task
    /// of its own on the thread that runs its connection.
    executors: Weak<[Executor<'static>]>,
    /// Where the next accepted connection goes (round robin).
    next: AtomicUsize,
    /// The counters the own pages show.
    pub(crate) stats: Stats,
    /// Where access lines go.
    pub(crate) access_log: AccessLog,
    /// Wrong-password failures per client address.
    pub(crate) guesses: Guesses,
    /// The shared cache, with `--cache-dir` (`cache/mod.rs`).
    pub(crate) cache: Option<Cache>,
    /// `--inspect`: the CA's leaves and the origins' roots.
    #[cfg(feature = "tls")]
    pub(crate) inspection: Option<crate::tls::certs::Inspection>,
}

impl Shared {
    /// Shared state for connections run on `executors`.
    pub(crate) fn new(
        config: Config,
        policy: Policy,
        dialer: Dialer,
        shutdown: async_channel::Receiver<()>,
        executors: Weak<[Executor<'static>]>,
        access_log: AccessLog,
    ) -> Shared {
        Shared {
            guesses: Guesses::new(config.auth_fail_delay),
            access_log,
            config,
            policy: RwLock::new(Arc::new(policy)),
            dialer,
            active: AtomicUsize::new(0),
            shutdown,
            executors,
            next: AtomicUsize::new(0),
            stats: Stats::new(),
            cache: None,
            #[cfg(feature = "tls")]
            inspection: None,
        }
    }

    /// With `--inspect`'s state.
    #[cfg(feature = "tls")]
    pub(crate) fn with_inspection(
        self,
        inspection: Option<crate::tls::certs::Inspection>,
    ) -> Shared {
        Shared { inspection, ..self }
    }

    /// The policy in force now (replaced on reload).
    pub(crate) fn policy(&self) -> Arc<Policy> {
        match self.policy.read() {
            Ok(p) => Arc::clone(&p),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    /// Replace the policy; connections pick it up at their next request.
    pub(crate) fn set_policy(&self, p: Policy) {
        match self.policy.write() {
            Ok(mut slot) => *slot = Arc::new(p),
            Err(poisoned) => *poisoned.into_inner() = Arc::new(p),
        }
    }

    /// What a plain-HTTP exchange needs of this state: the timeouts, `Via`,
    /// the dialer, under `policy`, through `hop` (none: directly).
    pub(crate) fn exchange_context<'a>(
        &'a self,
        policy: &'a Policy,
        hop: Option<&'a Parent>,
    ) -> Context<'a> {
        Context {
            read_timeout: self.config.read_timeout,
            tunnel_idle_timeout: self.config.tunnel_idle_timeout,
            via: self.config.via,
            dialer: &self.dialer,
            policy,
            hop,
            connect: None,
        }
    }

    /// Client connections open now.
    pub(crate) fn active(&self) -> usize {
        self.active.load(Ordering::Relaxed)
    }

    /// Completes when shutdown begins.
    pub(crate) async fn shutdown_started(&self) {
        let _ = self.shutdown.recv().await;
    }

    /// Whether shutdown has begun.
    pub(crate) fn shutting_down(&self) -> bool {
        self.shutdown.is_closed()
    }

    /// Run `task` as a task of its own on this thread's executor (on the
    /// first one from elsewhere); gives it back if the executors are gone
    /// (the server is stopping). Staying on the thread keeps a
    /// connection's wake-ups and its pooled origin connections there.
    pub(crate) fn spawn<F>(&self, task: F) -> Result<(), F>
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let here = EXECUTOR.with(Cell::get);
        self.spawn_on(here.unwrap_or(0), task)
    }

    /// Run a newly accepted connection's `task` on the next executor in
    /// turn, so connections spread evenly over the threads.
    pub(crate) fn spawn_next<F>(&self, task: F) -> Result<(), F>
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.spawn_on(self.next.fetch_add(1, Ordering::Relaxed), task)
    }

    fn spawn_on<F>(&self, i: usize, task: F) -> Result<(), F>
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let Some(all) = self.executors.upgrade() else {
            return Err(task);
        };
        match all.get(i % all.len().max(1)) {
            Some(ex) => {
                ex.spawn(task).detach();
                Ok(())
            }
            None => Err(task),
        }
    }
}

thread_local! {
    /// Which executor this thread runs (`None` off the executor threads).
    static EXECUTOR: Cell<Option<usize>> = const { Cell::new(None) };
}

/// Mark the calling thread as the one running executor `i`.
pub(crate) fn runs_executor(i: usize) {
    EXECUTOR.with(|e| e.set(Some(i)));
}

/// One client connection's place under `--max-clients`: the count goes
/// down when it is dropped, however the connection ends (also on panic).
/// It moves with the connection when a tunnel becomes a task of its own.
pub(crate) struct Slot(Arc<Shared>);

impl Slot {
    /// Take a place, or `None` when `--max-clients` are already open.
    pub(crate) fn take(shared: &Arc<Shared>) -> Option<Slot> {
        let max = shared.config.max_clients;
        shared
            .active
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                (n < max).then_some(n + 1)
            })
            .ok()
            .map(|_| Slot(Arc::clone(shared)))
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.active.fetch_sub(1, Ordering::Relaxed);
    }
}
