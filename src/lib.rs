//! smolproxy: a small, fast HTTP/HTTPS forward proxy on the smol runtime.
//!
//! The modules follow a request's life, and are listed here in that order
//! (`rustfmt.toml` keeps it): the server accepts a connection; `conn` (or
//! `transparent`, for one a firewall redirected) tells its story — read a
//! head (`buffer`, `http`), let `route` decide under the `policy`, then
//! answer with an `own` page, forward it (`forward`, `body`,
//! reaching the origin through `upstream`) or relay a tunnel (`tunnel`) —
//! and `logger` writes one access line. A file imports only files below it
//! in this list's flow (`make layout` checks there is no import circle).
#![forbid(unsafe_code)]
#![warn(missing_docs)]

/// Flags, defaults, limits and the help text.
pub mod config;
/// Listeners, executor threads, accept loop, client cap, shutdown, reload.
pub mod server;
/// HTTPS: the TLS listener, TLS as a pipe to a plain socket, and
/// opt-in inspection (its CA, leaves and root store).
#[cfg(feature = "tls")]
pub mod tls;
/// `--user`: reading the account files and dropping root after binding.
pub mod privileges;
/// What every connection shares; a connection's place under the cap.
pub(crate) mod state;
/// One client connection's story: head → route → answer → log.
pub(crate) mod conn;
/// `--transparent`: redirected connections, by Host or TLS server name.
pub mod transparent;
/// SOCKS5 on the same port: handshake, checks, then the same relay.
pub mod socks;
/// A CONNECT or SOCKS5 tunnel handed off as a task: relay, count, log.
pub(crate) mod handoff;
/// The one decision per request: own page, refuse, tunnel or forward.
pub(crate) mod route;
/// The proxy's own pages: dashboard, status.json, metrics, PAC.
pub(crate) mod own;
/// The shared HTTP cache (RFC 9111): rules, disk store, the exchange.
pub(crate) mod cache;
/// One plain-HTTP exchange, upstream reuse, upgrades.
pub(crate) mod forward;
/// Streaming a message body from one socket to another.
pub(crate) mod body;
/// Reaching an upstream: resolve, egress check, connect.
pub mod upstream;
/// Read buffers, reading a head, timed I/O.
pub(crate) mod buffer;
/// The error of an exchange and its HTTP status.
pub(crate) mod error;
/// Where access lines go: stderr, or a file reopened on SIGHUP.
pub(crate) mod logfile;
/// The stderr logger, access lines and log throttling.
pub mod logger;
/// Pure HTTP/1.x: heads, targets, framing, chunked, rewriting, replies.
pub mod http;
/// Byte relay for CONNECT and upgrades, with half-close.
pub(crate) mod tunnel;
/// Who may use the proxy and where it may go.
pub mod policy;
/// Counters for the dashboard, `/status.json` and `/metrics`.
pub(crate) mod stats;
