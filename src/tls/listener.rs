//! One connection accepted on a `--tls-listen` address (server.rs's accept
//! loop takes its place under `--max-clients` first): the TLS handshake
//! (`Certs::accept`: time limit, bound in progress), then the plaintext
//! through a pipe to the ordinary `conn::serve`, with the client's real
//! address, so the ACL, authentication, its throttle and the access log
//! treat it exactly as a client of a plain listener.

use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;

use smol::Async;

use super::{Certs, HandshakeError};
use crate::logger::{HeldBack, Throttle};
use crate::state::{Shared, Slot};

static REFUSED_LOG: Throttle = Throttle::new();

/// Serve one TLS client: handshake, then the same story as plain HTTP.
pub(crate) async fn serve(
    tcp: Async<TcpStream>,
    peer: SocketAddr,
    shared: Arc<Shared>,
    slot: Slot,
    certs: Arc<Certs>,
) {
    let client = crate::logger::client(peer);
    let tls = match certs.accept(tcp).await {
        Ok(tls) => tls,
        Err(HandshakeError::Busy) => {
            if let Some(held) = REFUSED_LOG.allow() {
                let n = certs.busy.load(std::sync::atomic::Ordering::Relaxed);
                log::warn!(
                    "{client} closed: too many TLS handshakes in progress ({n} so far){}",
                    HeldBack(held)
                );
            }
            return;
        }
        Err(e) => {
            log::debug!("{client}: {e}");
            return;
        }
    };
    // The plaintext side lives as long as conn.rs's longest wait allows.
    let idle = shared.config.tunnel_idle_timeout;
    match super::pipe::pipe(tls, &shared, idle) {
        Ok(io) => crate::conn::serve(io, peer, shared, slot).await,
        Err(e) => log::warn!("{client}: no pipe for the TLS connection: {e}"),
    }
}
