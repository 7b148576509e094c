//! The roots an inspecting proxy trusts when it connects to origins: the
//! `--ca-roots FILE`s if given (only those, so the trust is exactly what
//! the user named), else the first system bundle found at the usual
//! paths ([`SYSTEM_BUNDLES`]). No compiled-in list (webpki-roots): it
//! would add ~250 KB and grow stale on a router that is never rebuilt; a
//! device without a bundle is told to name one. Read at start and again
//! on SIGHUP (a bundle updated by the system is picked up); the rustls
//! client configuration built from them is what [`Origins`] hands out.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use rustls::{ClientConfig, RootCertStore};

/// Where systems keep their bundle of trusted roots, tried in order:
/// Debian, Ubuntu, Arch, Raspberry Pi OS; Alpine, OpenWrt, the BSDs;
/// Fedora, RHEL; openSUSE.
pub const SYSTEM_BUNDLES: &[&str] = &[
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/ssl/cert.pem",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/ca-bundle.pem",
];

/// Largest roots file read: system bundles are ~250 KB; the bound keeps
/// `--ca-roots /dev/zero` from eating a router's memory.
pub const MAX_ROOTS_BYTES: u64 = 8 * 1024 * 1024;

/// Read the roots: `files` if any, else the first system bundle.
/// Errors are one line naming the file.
pub fn load(files: &[PathBuf]) -> Result<RootCertStore, String> {
    let mut store = RootCertStore::empty();
    if files.is_empty() {
        let found = SYSTEM_BUNDLES.iter().map(Path::new).find(|p| p.is_file());
        let Some(path) = found else {
            return Err(format!(
                "no trusted roots: none of {} exists; give a PEM bundle with --ca-roots FILE",
                SYSTEM_BUNDLES.join(", ")
            ));
        };
        add_file(&mut store, path)?;
    }
    for f in files {
        add_file(&mut store, f)?;
    }
    Ok(store)
}

fn add_file(store: &mut RootCertStore, path: &Path) -> Result<(), String> {
    use std::io::Read as _;
    let name = path.display();
    let file = std::fs::File::open(path).map_err(|e| format!("roots {name}: {e}"))?;
    let mut pem = Vec::new();
    file.take(MAX_ROOTS_BYTES + 1)
        .read_to_end(&mut pem)
        .map_err(|e| format!("roots {name}: {e}"))?;
    if pem.len() as u64 > MAX_ROOTS_BYTES {
        return Err(format!("roots {name}: larger than {MAX_ROOTS_BYTES} bytes"));
    }
    let certs = CertificateDer::pem_slice_iter(&pem).filter_map(Result::ok);
    let (added, ignored) = store.add_parsable_certificates(certs);
    if added == 0 {
        return Err(format!("roots {name}: no usable PEM certificate in it"));
    }
    log::info!("trusted roots from {name}: {added} ({ignored} not usable)");
    Ok(())
}

/// The origin side's TLS configuration: verify against the roots (chain,
/// expiry, the name asked for; rustls' WebPKI verifier), offer only
/// `http/1.1`. Replaced on reload.
pub struct Origins {
    files: Vec<PathBuf>,
    config: RwLock<Arc<ClientConfig>>,
}

impl Origins {
    /// Load the roots and build the configuration.
    pub fn new(files: Vec<PathBuf>) -> Result<Origins, String> {
        let config = build(&files)?;
        Ok(Origins {
            files,
            config: RwLock::new(config),
        })
    }

    /// The configuration in force.
    pub fn config(&self) -> Arc<ClientConfig> {
        match self.config.read() {
            Ok(c) => Arc::clone(&c),
            Err(p) => Arc::clone(&p.into_inner()),
        }
    }

    /// Read the roots again (SIGHUP); on failure the old ones stay.
    pub fn reload(&self) {
        match build(&self.files) {
            Ok(c) => match self.config.write() {
                Ok(mut slot) => *slot = c,
                Err(p) => *p.into_inner() = c,
            },
            Err(e) => log::error!("reload failed, keeping the previous roots: {e}"),
        }
    }
}

fn build(files: &[PathBuf]) -> Result<Arc<ClientConfig>, String> {
    let roots = load(files)?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut c = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    c.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roots_files_are_read_or_refused_by_name() {
        let dir = std::env::temp_dir().join(format!("smolproxy-roots-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let ca = super::super::certs::Ca::load_or_create(&dir.join("ca")).unwrap();
        let good = dir.join("good.pem");
        std::fs::write(&good, ca.pem()).unwrap();
        assert_eq!(load(std::slice::from_ref(&good)).unwrap().len(), 1);
        let junk = dir.join("junk.pem");
        std::fs::write(&junk, "hello").unwrap();
        let e = load(&[good.clone(), junk]).unwrap_err();
        assert!(e.contains("junk.pem: no usable PEM certificate"), "{e}");
        let e = load(&[dir.join("missing.pem")]).unwrap_err();
        assert!(e.starts_with("roots ") && e.contains("missing.pem"), "{e}");
        let o = Origins::new(vec![good]).unwrap();
        assert_eq!(o.config().alpn_protocols, [b"http/1.1".to_vec()]);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
