//! smolproxy: a small HTTP/HTTPS forward proxy on the smol runtime.
//!
//! The modules follow a request's life; read them in this order.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod chunked;
pub mod http;
