//! TLS, in the `tls` build only: the inspection CA and its leaves
//! (`certs`).

pub mod certs;
