//! smolproxy: a small, fast HTTP/HTTPS forward proxy on the smol runtime.
//!
//! The modules follow a request's life; read them in this order.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

/// Basic proxy authentication: users, base64, constant-time compare.
pub mod auth;
/// The read buffer and timed I/O helpers.
pub mod buffer;
/// The strict, incremental chunked decoder.
pub mod chunked;
/// Flags, defaults, limits and the help text.
pub mod config;
/// One client connection's story: head → policy → forward or tunnel → log.
pub mod conn;
/// The error type and its mapping to HTTP statuses.
pub mod error;
/// Domain block and allow rules, list parsing, compact lookup sets.
pub mod filter;
/// One plain-HTTP exchange, streamed both ways, upstream reuse.
pub mod forward;
/// Pure HTTP/1.x parsing, framing rules and head rewriting.
pub mod http;
/// The stderr logger, access lines and log throttling.
pub mod logger;
/// Client ACL, CONNECT ports, egress guard.
pub mod policy;
/// Executor threads, accept loops, client cap, graceful shutdown.
pub mod server;
/// Request-target forms and authorities.
pub mod target;
/// Byte relay for CONNECT and upgrades, with half-close.
pub mod tunnel;
/// DNS on a bounded thread pool, connect with timeouts.
pub mod upstream;
