//! HTTPS where users ask for it (the `tls` build only): the plaintext
//! pipe every TLS connection goes through (`pipe`), so the HTTP machinery
//! keeps working on plain sockets; and opt-in inspection (`--inspect`):
//! the CA and its leaf certificates (`certs`), the roots origins are
//! checked against (`roots`), and the inspected connection (`inspect`).
//! [`Inspection`] is what an inspecting proxy holds, built at start.

pub(crate) mod pipe;
pub mod certs;
pub(crate) mod inspect;
pub mod roots;

use std::sync::Arc;

use crate::config::InspectConfig;

/// An inspecting proxy's state: leaves signed by the CA, and the origin
/// side's TLS configuration.
pub struct Inspection {
    pub(crate) leaves: Arc<certs::Leaves>,
    pub(crate) origins: roots::Origins,
}

impl Inspection {
    /// Load (or make) the CA and read the roots: a one-line error naming
    /// the file otherwise.
    pub fn new(c: &InspectConfig) -> Result<Inspection, String> {
        let ca = certs::Ca::load_or_create(&c.ca_dir).map_err(|e| e.to_string())?;
        let leaves = certs::Leaves::new(ca).map_err(|e| e.to_string())?;
        let origins = roots::Origins::new(c.roots.clone())?;
        Ok(Inspection {
            leaves: Arc::new(leaves),
            origins,
        })
    }

    /// The CA certificate, PEM, for `/ca.pem`.
    pub fn ca_pem(&self) -> &str {
        self.leaves.ca().pem()
    }

    /// SIGHUP: read the roots again.
    pub fn reload(&self) {
        self.origins.reload();
    }
}
