//! The running server: binds the listeners, runs a small fixed pool of
//! threads, each with its own smol executor, accepts clients (each
//! connection is one task, so thousands of idle tunnels need no threads;
//! accepted connections are dealt to the threads in turn and stay there,
//! so a connection never wakes another thread), enforces the client
//! cap, backs off on accept errors instead of spinning, and shuts down
//! gracefully: stop accepting, let in-flight work finish up to the drain
//! timeout, then stop.

use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use futures_lite::FutureExt;
use smol::{Async, Executor, Timer};

use crate::config::Config;
use crate::logfile::AccessLog;
use crate::logger::{HeldBack, Throttle};
use crate::policy::{Policy, PolicyError};
use crate::state::{Shared, Slot};
use crate::upstream::chain::Hops;
use crate::upstream::{Dialer, Resolver};

/// Pause after a failed accept (EMFILE, ENFILE, ENOMEM…): accepting again
/// at once would spin on the same error; a short pause lets descriptors free.
pub(crate) const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Connections the kernel may queue before we accept them. std's default
/// of 128 overflows when a thousand clients connect at once (they then
/// wait a second to retry); the kernel caps it at net.core.somaxconn.
pub(crate) const LISTEN_BACKLOG: i32 = 4096;

/// Body of the answer to a client beyond `--max-clients`.
const FULL_BODY: &str = "smolproxy: too many connections, try again shortly\n";

/// Bound listeners, not yet serving.
pub struct Server {
    config: Config,
    listeners: Vec<TcpListener>,
    /// `--transparent` listeners (`transparent.rs`).
    transparent: Vec<TcpListener>,
    /// `--tls-listen` listeners (`tls/listener.rs`).
    #[cfg(feature = "tls")]
    tls: Vec<TcpListener>,
    resolver: Option<Resolver>,
    policy: Option<Policy>,
}

/// Why the server could not start: exit code 1 (a policy file that cannot
/// be read is caught earlier by `main.rs`, as a usage error).
#[derive(Debug)]
pub enum StartError {
    /// The policy's files could not be read.
    Policy(PolicyError),
    /// A socket or thread could not be set up.
    Io(io::Error),
    /// `--cache-dir` could not be used (the message says why).
    Cache(String),
    /// `--access-log` could not be opened.
    AccessLog(std::path::PathBuf, io::Error),
    /// `--inspect`: the CA or the trusted roots cannot be used.
    #[cfg(feature = "tls")]
    Inspect(String),
    /// `--tls-cert`/`--tls-key` could not be used (the reason, one line).
    #[cfg(feature = "tls")]
    Tls(String),
}

impl std::fmt::Display for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StartError::Policy(e) => e.fmt(f),
            StartError::Io(e) => write!(f, "cannot start: {e}"),
            StartError::Cache(why) => f.write_str(why),
            StartError::AccessLog(p, e) => {
                write!(f, "cannot open the access log {}: {e}", p.display())
            }
            #[cfg(feature = "tls")]
            StartError::Inspect(why) => write!(f, "cannot inspect HTTPS: {why}"),
            #[cfg(feature = "tls")]
            StartError::Tls(why) => f.write_str(why),
        }
    }
}

impl std::error::Error for StartError {}

/// A listen address that could not be bound: exit code 1.
#[derive(Debug)]
pub struct BindError {
    /// The address.
    pub addr: SocketAddr,
    /// Why.
    pub error: io::Error,
}

impl std::fmt::Display for BindError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "cannot listen on {}: {}", self.addr, self.error)
    }
}

/// Bind every listen address of `config`, then its `--transparent` ones,
/// then its `--tls-listen` ones.
pub fn bind(config: Config) -> Result<Server, BindError> {
    let listeners = bind_all(&config.listen)?;
    let transparent = bind_all(&config.transparent)?;
    #[cfg(feature = "tls")]
    let tls = bind_all(&config.tls.listen)?;
    Ok(Server {
        config,
        listeners,
        transparent,
        #[cfg(feature = "tls")]
        tls,
        resolver: None,
        policy: None,
    })
}

fn bind_all(addrs: &[SocketAddr]) -> Result<Vec<TcpListener>, BindError> {
    addrs
        .iter()
        .map(|&addr| {
            let l = TcpListener::bind(addr).map_err(|error| BindError { addr, error })?;
            #[cfg(target_os = "linux")]
            {
                // Listening again only updates the backlog.
                let _ = rustix::net::listen(&l, LISTEN_BACKLOG);
            }
            Ok(l)
        })
        .collect()
}

impl Server {
    /// Use `r` instead of the system resolver (tests).
    pub fn with_resolver(mut self, r: Resolver) -> Self {
        self.resolver = Some(r);
        self
    }

    /// Use `p`, already built from the configuration (`main.rs` builds it
    /// before binding so a bad file is a usage error).
    pub fn with_policy(mut self, p: Policy) -> Self {
        self.policy = Some(p);
        self
    }

    /// Start serving on the executor threads. Without
    /// [`with_policy`](Self::with_policy) the policy is built here, and a
    /// file that cannot be read is an error.
    pub fn start(mut self) -> Result<Handle, StartError> {
        let listening = self.listeners.iter().chain(&self.transparent);
        #[cfg(feature = "tls")]
        let listening = listening.chain(&self.tls);
        let own: Vec<SocketAddr> = listening
            .map(TcpListener::local_addr)
            .collect::<io::Result<_>>()
            .map_err(StartError::Io)?;
        // The certificate is read here, as on reload (with --user, after
        // the drop: the files must be readable by that user either way).
        #[cfg(feature = "tls")]
        let certs = crate::tls::Certs::new(&self.config.tls)
            .map_err(|e| StartError::Tls(e.to_string()))?
            .map(Arc::new);
        #[cfg(feature = "tls")]
        if certs.is_none() && !self.tls.is_empty() {
            let why = "--tls-listen needs --tls-cert FILE and --tls-key FILE";
            return Err(StartError::Tls(why.into()));
        }
        // Real ports where 0 was asked, for the PAC's HTTPS line.
        let plain = self.listeners.len() + self.transparent.len();
        self.config.tls.listen = own.get(plain..).unwrap_or(&[]).to_vec();
        let injected = self.resolver.is_some();
        let resolver = match self.resolver {
            Some(r) => r,
            None => crate::upstream::system_resolver(self.config.dns_threads),
        };
        let policy = match self.policy {
            Some(p) => p,
            None => Policy::new(&self.config.policy).map_err(StartError::Policy)?,
        };
        let ops = &self.config.ops;
        let access_log = match &ops.access_log {
            Some(path) => AccessLog::file(ops.log_format, path.clone())
                .map_err(|e| StartError::AccessLog(path.clone(), e))?,
            None => AccessLog::stderr(ops.log_format),
        };
        let (begin_shutdown, shutdown) = async_channel::bounded::<()>(1);
        let exs: Arc<[Executor<'static>]> = (0..self.config.threads.max(1))
            .map(|_| Executor::new())
            .collect();
        let c = &self.config;
        let hops = Hops::new(
            c.upstream.as_ref(),
            &c.upstream_for,
            c.upstream_auth.as_ref(),
        );
        let mut dialer = Dialer::new(resolver, own.clone(), c.connect_timeout, hops);
        if !c.dns_servers.is_empty() && !injected {
            let client =
                crate::upstream::dns::Client::new(c.dns_servers.clone(), c.hosts_file.clone());
            dialer = dialer.with_dns(client);
        }
        let cache = match &c.cache {
            Some(cc) => Some(crate::cache::Cache::open(cc).map_err(StartError::Cache)?),
            None => None,
        };
        #[cfg(feature = "tls")]
        let inspection = match &self.config.inspect {
            Some(c) => Some(crate::tls::certs::Inspection::new(c).map_err(StartError::Inspect)?),
            None => None,
        };
        let mut shared = Shared::new(
            self.config,
            policy,
            dialer,
            shutdown,
            Arc::downgrade(&exs),
            access_log,
        );
        shared.cache = cache;
        #[cfg(feature = "tls")]
        let shared = shared.with_inspection(inspection);
        let shared = Arc::new(shared);
        let kinds = self.listeners.into_iter().map(|l| (l, Kind::Plain));
        let kinds = kinds.chain(self.transparent.into_iter().map(|l| (l, Kind::Transparent)));
        #[cfg(feature = "tls")]
        let kinds = kinds.chain(
            self.tls
                .into_iter()
                .filter_map(|l| Some((l, Kind::Tls(Arc::clone(certs.as_ref()?))))),
        );
        for (i, (l, kind)) in kinds.enumerate() {
            let l = Async::new(l).map_err(StartError::Io)?;
            let ex = &exs[i % exs.len()];
            ex.spawn(accept_loop(l, Arc::clone(&shared), kind)).detach();
        }
        let (stop, stopped) = async_channel::bounded::<()>(1);
        let threads = (0..shared.config.threads)
            .map(|i| {
                let exs = Arc::clone(&exs);
                let stopped = stopped.clone();
                std::thread::Builder::new()
                    .name(format!("smolproxy-{i}"))
                    .spawn(move || {
                        crate::state::runs_executor(i);
                        // The thread's origin-connection pool is swept on
                        // the thread itself, beside its executor.
                        let Some(ex) = exs.get(i) else { return };
                        let run = ex.run(stopped.recv());
                        let sweep = async {
                            crate::upstream::pool::sweeper().await;
                            Ok(())
                        };
                        smol::block_on(run.or(sweep)).unwrap_or(());
                        drop(exs);
                    })
            })
            .collect::<io::Result<Vec<_>>>()
            .map_err(StartError::Io)?;
        let (http, transparent) = (shared.config.listen.len(), shared.config.transparent.len());
        for (i, a) in own.iter().enumerate() {
            let what = match i {
                i if i < http => "",
                i if i < http + transparent => " (transparent)",
                _ => " (https)",
            };
            log::info!("listening on {a}{what}");
        }
        log::info!(
            "smolproxy {} ready: {} threads, up to {} clients, tunnels by {}",
            env!("CARGO_PKG_VERSION"),
            shared.config.threads,
            shared.config.max_clients,
            crate::tunnel::RELAY_METHOD
        );
        Ok(Handle {
            shared,
            begin_shutdown,
            stop,
            threads,
            own,
            #[cfg(feature = "tls")]
            certs,
        })
    }
}

/// A running server.
pub struct Handle {
    shared: Arc<Shared>,
    begin_shutdown: async_channel::Sender<()>,
    stop: async_channel::Sender<()>,
    threads: Vec<JoinHandle<()>>,
    own: Vec<SocketAddr>,
    /// The HTTPS listener's certificate, reloaded on SIGHUP.
    #[cfg(feature = "tls")]
    certs: Option<Arc<crate::tls::Certs>>,
}

impl Handle {
    /// The addresses it listens on (with real ports when 0 was asked):
    /// `--listen`'s, then `--transparent`'s, then `--tls-listen`'s.
    pub fn addrs(&self) -> &[SocketAddr] {
        &self.own
    }

    /// Client connections open now.
    pub fn active(&self) -> usize {
        self.shared.active()
    }

    /// SIGHUP: reopen `--access-log` (after logrotate renamed it), re-read
    /// the hosts file of `--dns-server`, and rebuild the policy from its
    /// configuration (the auth file and lists are read again); on failure
    /// the old policy stays and the reason is logged. Open connections are
    /// kept; they use the new policy from their next request. The HTTPS
    /// listener's certificate and key are read again too (a bad new pair
    /// keeps the old one).
    pub fn reload(&self) {
        // Pooled origin connections were allowed by the old rules.
        crate::upstream::pool::forget_all();
        self.shared.access_log.reopen();
        #[cfg(feature = "tls")]
        if let Some(certs) = &self.certs {
            certs.reload();
        }
        self.shared.dialer.reload();
        #[cfg(feature = "tls")]
        if let Some(i) = &self.shared.inspection {
            i.reload();
        }
        match Policy::new(&self.shared.config.policy) {
            Ok(p) => {
                self.shared.set_policy(p);
                log::info!("policy reloaded");
            }
            Err(e) => log::error!("reload failed, keeping the previous policy: {e}"),
        }
    }

    /// Stop accepting, give open connections up to the drain timeout to
    /// finish, then stop every thread. Returns how many were cut.
    pub fn shutdown(mut self) -> usize {
        self.begin_shutdown.close();
        let deadline = Instant::now() + self.shared.config.drain_timeout;
        while self.active() > 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        let cut = self.active();
        self.stop_threads();
        self.shared.access_log.close();
        cut
    }

    fn stop_threads(&mut self) {
        self.begin_shutdown.close();
        self.stop.close();
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        self.stop_threads();
    }
}

static ACCEPT_ERRORS: Throttle = Throttle::new();
static FULL_LOG: Throttle = Throttle::new();

/// What a listener's connections are.
enum Kind {
    /// `--listen`: HTTP and SOCKS5.
    Plain,
    /// `--transparent`: redirected by a firewall.
    Transparent,
    /// `--tls-listen`: HTTPS, then as `Plain`.
    #[cfg(feature = "tls")]
    Tls(Arc<crate::tls::Certs>),
}

async fn accept_loop(l: Async<TcpListener>, shared: Arc<Shared>, kind: Kind) {
    loop {
        let accepted = accept(&l)
            .or(async {
                shared.shutdown_started().await;
                Err(io::Error::other("shutting down"))
            })
            .await;
        if shared.shutting_down() {
            return;
        }
        match accepted {
            Ok((stream, peer)) => {
                let Some(slot) = Slot::take(&shared) else {
                    // A redirected client did not ask us: it is only
                    // closed; so is a TLS client (no plaintext 503 there).
                    if matches!(kind, Kind::Plain) {
                        refuse_full(stream.get_ref(), peer);
                    }
                    continue;
                };
                let _ = stream.get_ref().set_nodelay(true);
                let shared2 = Arc::clone(&shared);
                let spawned = match &kind {
                    Kind::Transparent => {
                        let task = crate::transparent::serve(stream, peer, shared2, slot);
                        shared.spawn_next(task).is_ok()
                    }
                    Kind::Plain => {
                        let task = crate::conn::serve(stream, peer, shared2, slot);
                        shared.spawn_next(task).is_ok()
                    }
                    #[cfg(feature = "tls")]
                    Kind::Tls(certs) => {
                        let certs = Arc::clone(certs);
                        let task = crate::tls::listener::serve(stream, peer, shared2, slot, certs);
                        shared.spawn_next(task).is_ok()
                    }
                };
                if !spawned {
                    return;
                }
            }
            Err(e) => {
                // Never `?` out of here (EMFILE would end the proxy): log,
                // pause, go on.
                if let Some(held) = ACCEPT_ERRORS.allow() {
                    log::warn!("accept failed: {e}{}; pausing", HeldBack(held));
                }
                Timer::after(ACCEPT_BACKOFF).await;
            }
        }
    }
}

/// Accept one client, its socket already non-blocking (accept4 with
/// SOCK_NONBLOCK: no separate ioctl per connection, as `Async::accept` does).
#[cfg(target_os = "linux")]
async fn accept(l: &Async<TcpListener>) -> io::Result<(Async<TcpStream>, SocketAddr)> {
    use rustix::net::{SocketFlags, acceptfrom_with};
    let flags = SocketFlags::NONBLOCK | SocketFlags::CLOEXEC;
    let (fd, peer) = l.read_with(|l| Ok(acceptfrom_with(l, flags)?)).await?;
    let peer = peer
        .and_then(|p| SocketAddr::try_from(p).ok())
        .ok_or_else(|| io::Error::other("accepted a client without an IP address"))?;
    Ok((Async::new_nonblocking(TcpStream::from(fd))?, peer))
}

/// Elsewhere: async-io's own accept.
#[cfg(not(target_os = "linux"))]
async fn accept(l: &Async<TcpListener>) -> io::Result<(Async<TcpStream>, SocketAddr)> {
    l.accept().await
}

/// Beyond `--max-clients`: answer 503 at once without a task, then close.
/// A new socket's send buffer is empty, so this write does not block.
fn refuse_full(stream: &TcpStream, peer: SocketAddr) {
    use std::io::Write;
    let resp = crate::http::reply::simple_response(503, "Retry-After: 2\r\n", FULL_BODY, true);
    let _ = (&*stream).write(&resp);
    let _ = stream.shutdown(std::net::Shutdown::Write);
    if let Some(held) = FULL_LOG.allow() {
        log::warn!("{peer} refused: client limit reached{}", HeldBack(held));
    }
}

/// Raise the soft limit on open descriptors to the hard limit: each tunnel
/// needs two sockets (and two pipes while splicing a bulk flow), and the
/// common soft default of 1024 would cap the proxy near 250 tunnels.
/// Returns the limit now in force.
#[cfg(target_os = "linux")]
pub fn raise_fd_limit() -> Option<u64> {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let lim = getrlimit(Resource::Nofile);
    if lim.current < lim.maximum {
        let want = Rlimit {
            current: lim.maximum,
            maximum: lim.maximum,
        };
        if let Err(e) = setrlimit(Resource::Nofile, want) {
            log::debug!("cannot raise the descriptor limit: {e}");
        }
    }
    getrlimit(Resource::Nofile).current
}

/// Elsewhere the limit is left as it is.
#[cfg(not(target_os = "linux"))]
pub fn raise_fd_limit() -> Option<u64> {
    None
}
