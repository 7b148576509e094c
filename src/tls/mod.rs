//! HTTPS where users ask for it (the `tls` build only). This file owns the
//! HTTPS listener's certificate and handshakes: reading the PEM chain and
//! key (one clear line for each way that fails), the rustls
//! `ServerConfig` (ALPN `http/1.1`: everything behind it speaks HTTP/1.1),
//! the holder SIGHUP swaps it in (a bad new pair keeps the old one), and
//! [`Certs::accept`]: one handshake under a time limit and a bound on
//! handshakes in progress. `listener` serves an accepted connection;
//! `pipe` turns the TLS stream into the plain socket conn.rs reads.
//! Opt-in inspection (`--inspect`) lives beside: the CA, its leaves and
//! [`certs::Inspection`] (`certs`), the roots origins are checked against
//! (`roots`), and the inspected connection (`inspect`).

pub(crate) mod listener;
pub(crate) mod pipe;
pub mod certs;
pub(crate) mod inspect;
pub mod roots;

use std::io;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use futures_lite::FutureExt;
use futures_rustls::TlsAcceptor;
use futures_rustls::server::TlsStream;
use rustls::ServerConfig;
use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use smol::{Async, Timer};

use crate::config::TlsListenConfig;

/// The one protocol offered by ALPN (RFC 7301): the proxy speaks HTTP/1.1
/// on the inside; a client that insists on h2 only is refused by rustls
/// with the `no_application_protocol` alert.
const ALPN_HTTP11: &[u8] = b"http/1.1";

/// Why a certificate and key could not be used: one line each.
#[derive(Debug)]
pub(crate) enum CertError {
    /// The file could not be read.
    Read(PathBuf, io::Error),
    /// The certificate file holds no `CERTIFICATE` block.
    NoCert(PathBuf),
    /// The key file holds no private key block.
    NoKey(PathBuf),
    /// A PEM block that does not decode.
    Pem(PathBuf, pem::Error),
    /// The key is not the certificate's.
    Mismatch(PathBuf, PathBuf),
    /// rustls refused the pair for another reason.
    Refused(rustls::Error),
}

impl std::fmt::Display for CertError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CertError::Read(p, e) => write!(f, "cannot read {}: {e}", p.display()),
            CertError::NoCert(p) => write!(
                f,
                "no certificate in {} (expected PEM -----BEGIN CERTIFICATE-----)",
                p.display()
            ),
            CertError::NoKey(p) => write!(
                f,
                "no private key in {} (expected PEM PKCS#8, RSA or EC PRIVATE KEY)",
                p.display()
            ),
            CertError::Pem(p, e) => write!(f, "bad PEM in {}: {e}", p.display()),
            CertError::Mismatch(c, k) => write!(
                f,
                "the key in {} does not match the certificate in {}",
                k.display(),
                c.display()
            ),
            CertError::Refused(e) => write!(f, "TLS certificate refused: {e}"),
        }
    }
}

/// Read the PEM chain (leaf first) and key, and build the server config.
pub(crate) fn load(cert: &Path, key: &Path) -> Result<Arc<ServerConfig>, CertError> {
    let read = |p: &Path| std::fs::read(p).map_err(|e| CertError::Read(p.to_path_buf(), e));
    let cert_pem = read(cert)?;
    let chain = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| CertError::Pem(cert.to_path_buf(), e))?;
    if chain.is_empty() {
        return Err(CertError::NoCert(cert.to_path_buf()));
    }
    let key_pem = read(key)?;
    let key_der = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| match e {
        pem::Error::NoItemsFound => CertError::NoKey(key.to_path_buf()),
        e => CertError::Pem(key.to_path_buf(), e),
    })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(CertError::Refused)?
        .with_no_client_auth()
        .with_single_cert(chain, key_der)
        .map_err(|e| match e {
            rustls::Error::InconsistentKeys(_) => {
                CertError::Mismatch(cert.to_path_buf(), key.to_path_buf())
            }
            e => CertError::Refused(e),
        })?;
    config.alpn_protocols = vec![ALPN_HTTP11.to_vec()];
    Ok(Arc::new(config))
}

/// Why a TLS client was not served.
#[derive(Debug)]
pub(crate) enum HandshakeError {
    /// The bound on handshakes in progress was reached.
    Busy,
    /// The handshake did not complete in time.
    TimedOut,
    /// The handshake failed (not TLS, no shared cipher, an alert...).
    Failed(io::Error),
}

impl std::fmt::Display for HandshakeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HandshakeError::Busy => f.write_str("too many TLS handshakes in progress"),
            HandshakeError::TimedOut => f.write_str("TLS handshake timed out"),
            HandshakeError::Failed(e) => write!(f, "TLS handshake failed: {e}"),
        }
    }
}

/// The HTTPS listener's certificate (swapped on reload) and handshake
/// limits, shared by every TLS listener.
pub(crate) struct Certs {
    cert: PathBuf,
    key: PathBuf,
    current: RwLock<Arc<ServerConfig>>,
    timeout: Duration,
    max: usize,
    in_flight: AtomicUsize,
    /// Connections closed because `max` handshakes were in progress.
    pub(crate) busy: AtomicU32,
}

impl Certs {
    /// Load the pair `config` names; `None` when it names no listener.
    pub(crate) fn new(config: &TlsListenConfig) -> Result<Option<Certs>, CertError> {
        let (Some(cert), Some(key)) = (&config.cert, &config.key) else {
            return Ok(None);
        };
        Ok(Some(Certs {
            current: RwLock::new(load(cert, key)?),
            cert: cert.clone(),
            key: key.clone(),
            timeout: config.handshake_timeout,
            max: config.max_handshakes,
            in_flight: AtomicUsize::new(0),
            busy: AtomicU32::new(0),
        }))
    }

    /// SIGHUP: read the pair again; on failure keep the one in use and log
    /// one error line. Handshakes begun later use the new one.
    pub(crate) fn reload(&self) {
        match load(&self.cert, &self.key) {
            Ok(new) => {
                match self.current.write() {
                    Ok(mut c) => *c = new,
                    Err(poisoned) => *poisoned.into_inner() = new,
                }
                log::info!("TLS certificate reloaded from {}", self.cert.display());
            }
            Err(e) => log::error!("TLS reload failed, keeping the previous certificate: {e}"),
        }
    }

    fn config(&self) -> Arc<ServerConfig> {
        match self.current.read() {
            Ok(c) => Arc::clone(&c),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    /// One handshake on `tcp`, within the time limit and the bound on
    /// handshakes in progress (over it: refused at once, the socket
    /// dropped, the refusal counted).
    pub(crate) async fn accept(
        &self,
        tcp: Async<TcpStream>,
    ) -> Result<TlsStream<Async<TcpStream>>, HandshakeError> {
        let taken = self
            .in_flight
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.max).then_some(n + 1)
            });
        if taken.is_err() {
            self.busy.fetch_add(1, Ordering::Relaxed);
            return Err(HandshakeError::Busy);
        }
        let _done = InFlight(&self.in_flight);
        let acceptor = TlsAcceptor::from(self.config());
        let timeout = async {
            Timer::after(self.timeout).await;
            Err(HandshakeError::TimedOut)
        };
        let shake = async { acceptor.accept(tcp).await.map_err(HandshakeError::Failed) };
        shake.or(timeout).await
    }
}

/// A place among the handshakes in progress, given back on drop.
struct InFlight<'a>(&'a AtomicUsize);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}
