//! A CONNECT or SOCKS5 tunnel handed off as a small task of its own, so
//! the connection's larger state is freed: relay until both sides end (the
//! same relay for both: splice, half-close, idle timeout), then count it
//! and write its one access line. The client's slot under `--max-clients`
//! goes with it and is given back at the end.

use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::Instant;

use smol::Async;

use crate::error::io_reason;
use crate::logger::Access;
use crate::state::{Shared, Slot};

/// An open tunnel and what its access line needs.
pub(crate) struct Tunnel {
    /// The client's socket.
    pub(crate) client: Async<TcpStream>,
    /// The upstream's socket.
    pub(crate) up: Async<TcpStream>,
    /// Bytes the client sent before the relay began, already passed on.
    pub(crate) early: u64,
    /// Where the client connects from.
    pub(crate) peer: SocketAddr,
    /// `CONNECT` or `SOCKS5`, for the access line.
    pub(crate) method: &'static str,
    /// `host:port` as asked.
    pub(crate) target: String,
    /// The authenticated user, if any.
    pub(crate) user: Option<String>,
    /// When the request began.
    pub(crate) start: Instant,
    /// The connection's place under `--max-clients`.
    pub(crate) slot: Slot,
}

/// Run `t` as a task of its own (or here, when the executor is stopping).
pub(crate) async fn hand_off(shared: &Arc<Shared>, t: Tunnel) {
    if let Err(task) = shared.spawn(relay(Arc::clone(shared), t)) {
        task.await;
    }
}

/// Relay a tunnel until it ends, then count it and write its access line.
async fn relay(shared: Arc<Shared>, t: Tunnel) {
    let _open = shared.stats.tunnel_open();
    let r = crate::tunnel::relay(&t.client, &t.up, shared.config.tunnel_idle_timeout).await;
    let note = r.error.map(|e| io_reason(&e));
    let access = Access {
        method: t.method,
        target: &t.target,
        status: 200,
        up: r.up + t.early,
        down: r.down,
        user: t.user.as_deref(),
        note: note.as_deref(),
        cache: None,
    };
    let took = t.start.elapsed();
    let stats = &shared.stats;
    stats.request(200, access.up, access.down, took, t.start + took);
    let bytes = access.up.saturating_add(access.down);
    stats.client_bytes(t.peer.ip().to_canonical(), bytes);
    shared.access_log.write(t.peer, &access, took);
    drop(t.slot);
}
