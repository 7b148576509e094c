//! HTTPS where users ask for it (the `tls` build only): the plaintext
//! pipe every TLS connection goes through (`pipe`), so the HTTP machinery
//! keeps working on plain sockets; and opt-in inspection: the CA and its
//! leaf certificates (`certs`).

pub(crate) mod pipe;
pub mod certs;
pub mod roots;
