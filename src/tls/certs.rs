//! The inspection CA and the leaf certificates it signs. `--ca-dir DIR`
//! holds `ca.pem` and `ca.key`, made on first run (ECDSA P-256, ten years,
//! a subject naming smolproxy and the host; key 0600, a new directory
//! 0700) and loaded afterwards, whoever made them. Leaves are minted on
//! demand for one name each (SAN DNS, or SAN IP for an IP literal; EKU
//! serverAuth; [`LEAF_VALIDITY`], backdated [`LEAF_BACKDATE`]; a random
//! serial), all on one key pair made at start and never written down
//! (minting is then one signature, no key generation), and kept as ready
//! rustls server configurations in an LRU of [`LEAF_CACHE_ENTRIES`].
//! [`Inspection`] holds them with the origin side's roots.
//!
//! No name constraints: the CA must sign for any host a household visits,
//! and a permitted-subtree list cannot say "any"; an excluded-only one
//! would protect nothing. The CA is limited where clients do honour it:
//! path length 0 (it cannot make sub-CAs) and EKU serverAuth (browsers
//! refuse it for code or mail signing).

use std::collections::HashMap;
use std::fmt;
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType, SerialNumber,
};
use rustls::ServerConfig;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::server::{ServerSessionMemoryCache, StoresServerSessions};
use rustls::sign::{CertifiedKey, SigningKey, SingleCertAndKey};

/// The CA certificate's file in `--ca-dir`.
pub const CA_CERT_FILE: &str = "ca.pem";
/// The CA key's file in `--ca-dir` (mode 0600).
pub const CA_KEY_FILE: &str = "ca.key";
/// How long a new CA is valid: long enough that nobody reinstalls it on
/// every phone of the house; the key never leaves the proxy's directory.
pub const CA_VALIDITY: Duration = Duration::from_secs(10 * 365 * 24 * 3600);
/// How long a leaf is valid: short, so a leaf copied off a client is soon
/// useless; the proxy mints a new one long before.
pub const LEAF_VALIDITY: Duration = Duration::from_secs(7 * 24 * 3600);
/// A leaf's validity starts this long before it is minted, for clients
/// whose clock is a little behind.
pub const LEAF_BACKDATE: Duration = Duration::from_secs(3600);
/// A cached leaf with less than this left is minted again.
pub const LEAF_RENEW_BEFORE: Duration = Duration::from_secs(24 * 3600);
/// Leaf certificates kept, each with its ready server configuration
/// (1.7 KB each, measured: 1.7 MB full): the names a household visits in a
/// day fit; beyond it the least recently used goes.
pub const LEAF_CACHE_ENTRIES: usize = 1000;
/// TLS sessions the client side remembers for resumption, across all
/// names (rustls bounds the cache; a resumed handshake skips a signature).
pub const SESSION_CACHE_ENTRIES: usize = 1024;

/// Why the CA cannot be used: one line, naming the file.
#[derive(Debug)]
pub enum CaError {
    /// A file or the directory could not be read or written.
    Io(PathBuf, io::Error),
    /// A file is there but is not what it should be.
    Bad(PathBuf, String),
    /// Making a certificate failed (should not happen for valid input).
    Mint(String),
}

impl fmt::Display for CaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CaError::Io(p, e) => write!(f, "CA: {}: {e}", p.display()),
            CaError::Bad(p, why) => write!(f, "CA: {}: {why}", p.display()),
            CaError::Mint(why) => write!(f, "cannot make a certificate: {why}"),
        }
    }
}

impl std::error::Error for CaError {}

/// The CA: its certificate as installed on clients, and what signs.
pub struct Ca {
    pem: String,
    issuer: Issuer<'static, KeyPair>,
}

impl Ca {
    /// Load the CA in `dir`, or make one there when neither file exists.
    pub fn load_or_create(dir: &Path) -> Result<Ca, CaError> {
        let (cert_path, key_path) = (dir.join(CA_CERT_FILE), dir.join(CA_KEY_FILE));
        match (cert_path.exists(), key_path.exists()) {
            (true, true) => Ca::load(&cert_path, &key_path),
            (false, false) => Ca::create(dir, &cert_path, &key_path),
            (true, false) => Err(CaError::Bad(key_path, "missing beside ca.pem".into())),
            (false, true) => Err(CaError::Bad(cert_path, "missing beside ca.key".into())),
        }
    }

    fn load(cert_path: &Path, key_path: &Path) -> Result<Ca, CaError> {
        let read = |p: &Path| std::fs::read_to_string(p).map_err(|e| CaError::Io(p.into(), e));
        let (pem, key_pem) = (read(cert_path)?, read(key_path)?);
        let key = KeyPair::from_pem(&key_pem)
            .map_err(|e| CaError::Bad(key_path.into(), format!("not a usable key: {e}")))?;
        let der = rustls::pki_types::pem::PemObject::from_pem_slice(pem.as_bytes())
            .map_err(|_| CaError::Bad(cert_path.into(), "no PEM certificate".into()))?;
        let der: CertificateDer<'_> = der;
        // The certificate holds its public key as raw bytes: a key that is
        // not its own would sign leaves no client accepts.
        let public = key.public_key_raw();
        if !der.windows(public.len()).any(|w| w == public) {
            return Err(CaError::Bad(
                key_path.into(),
                "is not the key of ca.pem".into(),
            ));
        }
        let issuer = Issuer::from_ca_cert_der(&der, key)
            .map_err(|e| CaError::Bad(cert_path.into(), format!("not a CA certificate: {e}")))?;
        Ok(Ca { pem, issuer })
    }

    fn create(dir: &Path, cert_path: &Path, key_path: &Path) -> Result<Ca, CaError> {
        use std::os::unix::fs::DirBuilderExt;
        if !dir.exists() {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .map_err(|e| CaError::Io(dir.into(), e))?;
        }
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
            .map_err(|e| CaError::Mint(e.to_string()))?;
        let host = hostname();
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(
            DnType::CommonName,
            format!("smolproxy inspection CA on {host}"),
        );
        dn.push(DnType::OrganizationName, "smolproxy");
        params.distinguished_name = dn;
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let now = SystemTime::now();
        params.not_before = (now - LEAF_BACKDATE).into();
        params.not_after = (now + CA_VALIDITY).into();
        params.serial_number = Some(random_serial());
        let cert = params
            .self_signed(&key)
            .map_err(|e| CaError::Mint(e.to_string()))?;
        write_new(key_path, key.serialize_pem().as_bytes(), 0o600)?;
        write_new(cert_path, cert.pem().as_bytes(), 0o644)?;
        log::info!(
            "made a new inspection CA in {} for {host}: install {} on the devices to inspect",
            dir.display(),
            cert_path.display()
        );
        Ok(Ca {
            pem: cert.pem(),
            issuer: Issuer::new(params, key),
        })
    }

    /// The CA certificate, PEM, as clients install it.
    pub fn pem(&self) -> &str {
        &self.pem
    }

    /// A leaf for `name` (a DNS name or an IP literal) on `key`, valid from
    /// [`LEAF_BACKDATE`] ago for [`LEAF_VALIDITY`].
    pub fn mint(&self, name: &str, key: &KeyPair) -> Result<CertificateDer<'static>, CaError> {
        let san = match name.parse::<std::net::IpAddr>() {
            Ok(ip) => SanType::IpAddress(ip),
            Err(_) => SanType::DnsName(
                name.try_into()
                    .map_err(|e| CaError::Mint(format!("{name}: {e}")))?,
            ),
        };
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, name);
        params.distinguished_name = dn;
        params.subject_alt_names = vec![san];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.use_authority_key_identifier_extension = true;
        let now = SystemTime::now();
        params.not_before = (now - LEAF_BACKDATE).into();
        params.not_after = (now + LEAF_VALIDITY).into();
        params.serial_number = Some(random_serial());
        let cert = params
            .signed_by(key, &self.issuer)
            .map_err(|e| CaError::Mint(e.to_string()))?;
        Ok(cert.into())
    }
}

/// Write a file that must not exist yet, with `mode`, through a temporary
/// name, so a crash never leaves half a key behind.
fn write_new(path: &Path, bytes: &[u8], mode: u32) -> Result<(), CaError> {
    use std::os::unix::fs::OpenOptionsExt;
    let io = |e| CaError::Io(path.into(), e);
    let tmp = path.with_extension("tmp");
    let _ = std::fs::remove_file(&tmp);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(&tmp)
        .map_err(io)?;
    f.write_all(bytes).and_then(|()| f.sync_all()).map_err(io)?;
    std::fs::rename(&tmp, path).map_err(io)
}

/// The host's name for the CA's subject, as the kernel has it.
fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "an unnamed host".into())
}

/// 16 random bytes, positive (RFC 5280 §4.1.2.2: at most 20 octets,
/// non-negative; random so no two leaves share one).
fn random_serial() -> SerialNumber {
    let mut b = [0u8; 16];
    let rng = rustls::crypto::ring::default_provider().secure_random;
    if rng.fill(&mut b).is_err() {
        // ring's generator reads the kernel's; it does not fail on Linux.
        let t = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default();
        b[..16].copy_from_slice(&t.as_nanos().to_be_bytes());
    }
    b[0] = (b[0] & 0x7f) | 0x01;
    SerialNumber::from_slice(&b)
}

/// The rustls provider every TLS config here uses: ring.
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// One cached leaf.
struct Entry {
    config: Arc<ServerConfig>,
    minted: SystemTime,
    used: u64,
}

/// Name → entry, with a use counter for least-recently-used eviction.
#[derive(Default)]
struct Lru {
    map: HashMap<String, Entry>,
    tick: u64,
}

/// Leaves for the names clients ask for: minted once, kept in an LRU.
pub struct Leaves {
    ca: Ca,
    key: KeyPair,
    signer: Arc<dyn SigningKey>,
    provider: Arc<CryptoProvider>,
    sessions: Arc<dyn StoresServerSessions>,
    cache: Mutex<Lru>,
}

impl Leaves {
    /// Leaves signed by `ca`, on a key pair made now.
    pub fn new(ca: Ca) -> Result<Leaves, CaError> {
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
            .map_err(|e| CaError::Mint(e.to_string()))?;
        let provider = provider();
        let der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        let signer = provider
            .key_provider
            .load_private_key(der)
            .map_err(|e| CaError::Mint(e.to_string()))?;
        Ok(Leaves {
            ca,
            key,
            signer,
            provider,
            sessions: ServerSessionMemoryCache::new(SESSION_CACHE_ENTRIES),
            cache: Mutex::new(Lru::default()),
        })
    }

    /// The CA they are signed by.
    pub fn ca(&self) -> &Ca {
        &self.ca
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Lru> {
        self.cache.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The server configuration for `name` if a fresh leaf is cached.
    pub fn cached(&self, name: &str) -> Option<Arc<ServerConfig>> {
        let mut lru = self.lock();
        lru.tick += 1;
        let tick = lru.tick;
        let e = lru.map.get_mut(name)?;
        let age = e.minted.elapsed().unwrap_or(Duration::MAX);
        if age >= LEAF_VALIDITY.saturating_sub(LEAF_RENEW_BEFORE) {
            return None;
        }
        e.used = tick;
        Some(Arc::clone(&e.config))
    }

    /// Mint a leaf for `name` and cache it (evicting the least recently
    /// used beyond [`LEAF_CACHE_ENTRIES`]). CPU work: call it off the
    /// executor (`smol::unblock`).
    pub fn mint(&self, name: &str) -> Result<Arc<ServerConfig>, CaError> {
        let der = self.ca.mint(name, &self.key)?;
        let certified = CertifiedKey::new(vec![der], Arc::clone(&self.signer));
        let mut config = ServerConfig::builder_with_provider(Arc::clone(&self.provider))
            .with_safe_default_protocol_versions()
            .map_err(|e| CaError::Mint(e.to_string()))?
            .with_no_client_auth()
            .with_cert_resolver(Arc::new(SingleCertAndKey::from(certified)));
        // Inside, HTTP/1.1 only: a client offering h2 and http/1.1 gets
        // http/1.1 (RFC 7301 §3.2).
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        config.session_storage = Arc::clone(&self.sessions);
        let config = Arc::new(config);
        let mut lru = self.lock();
        lru.tick += 1;
        let used = lru.tick;
        if lru.map.len() >= LEAF_CACHE_ENTRIES
            && !lru.map.contains_key(name)
            && let Some(oldest) = lru
                .map
                .iter()
                .min_by_key(|(_, e)| e.used)
                .map(|(k, _)| k.clone())
        {
            lru.map.remove(&oldest);
        }
        let entry = Entry {
            config: Arc::clone(&config),
            minted: SystemTime::now(),
            used,
        };
        lru.map.insert(name.to_string(), entry);
        Ok(config)
    }

    /// Leaves cached now.
    pub fn len(&self) -> usize {
        self.lock().map.len()
    }

    /// Whether no leaf is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// An inspecting proxy's state, built at start: leaves signed by the CA,
/// and the origin side's TLS configuration (`roots.rs`).
pub struct Inspection {
    pub(crate) leaves: Arc<Leaves>,
    pub(crate) origins: super::roots::Origins,
}

impl Inspection {
    /// Load (or make) the CA and read the roots: a one-line error naming
    /// the file otherwise.
    pub fn new(c: &crate::config::InspectConfig) -> Result<Inspection, String> {
        let ca = Ca::load_or_create(&c.ca_dir).map_err(|e| e.to_string())?;
        let leaves = Leaves::new(ca).map_err(|e| e.to_string())?;
        let origins = super::roots::Origins::new(c.roots.clone())?;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("smolproxy-certs-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn ca_is_made_once_then_loaded() {
        use std::os::unix::fs::PermissionsExt;
        let dir = temp_dir("made");
        let ca = Ca::load_or_create(&dir).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&dir.join(CA_KEY_FILE)), 0o600);
        let again = Ca::load_or_create(&dir).unwrap();
        assert_eq!(ca.pem(), again.pem());
        // A leaf from the loaded CA names the same issuer: same DN bytes.
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let a = ca.mint("a.example", &key).unwrap();
        let b = again.mint("a.example", &key).unwrap();
        assert_ne!(a, b, "serials are random");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn broken_ca_dirs_are_refused_with_the_file() {
        let dir = temp_dir("broken");
        Ca::load_or_create(&dir).unwrap();
        let key = dir.join(CA_KEY_FILE);
        let good_key = std::fs::read(&key).unwrap();
        std::fs::remove_file(&key).unwrap();
        let e = Ca::load_or_create(&dir).err().unwrap().to_string();
        assert!(e.contains("ca.key: missing beside ca.pem"), "{e}");
        std::fs::write(&key, "junk").unwrap();
        let e = Ca::load_or_create(&dir).err().unwrap().to_string();
        assert!(e.contains("ca.key: not a usable key"), "{e}");
        // Another CA's key.
        let other = temp_dir("other");
        Ca::load_or_create(&other).unwrap();
        std::fs::copy(other.join(CA_KEY_FILE), &key).unwrap();
        let e = Ca::load_or_create(&dir).err().unwrap().to_string();
        assert!(e.contains("is not the key of ca.pem"), "{e}");
        std::fs::write(&key, good_key).unwrap();
        std::fs::write(dir.join(CA_CERT_FILE), "not pem").unwrap();
        let e = Ca::load_or_create(&dir).err().unwrap().to_string();
        assert!(e.contains("ca.pem"), "{e}");
        for d in [dir, other] {
            std::fs::remove_dir_all(d).unwrap();
        }
    }

    #[test]
    fn the_leaf_cache_never_exceeds_its_bound() {
        let dir = temp_dir("bound");
        let leaves = Leaves::new(Ca::load_or_create(&dir).unwrap()).unwrap();
        let first = leaves.mint("n0.example").unwrap();
        for i in 1..10_000 {
            let name = format!("n{i}.example");
            leaves.mint(&name).unwrap();
            assert!(leaves.len() <= LEAF_CACHE_ENTRIES, "at {i}");
            assert!(leaves.cached(&name).is_some());
            if i < LEAF_CACHE_ENTRIES {
                // n0 stays while used: least recently used goes first.
                assert!(leaves.cached("n0.example").is_some(), "at {i}");
            }
        }
        assert_eq!(leaves.len(), LEAF_CACHE_ENTRIES);
        assert!(leaves.cached("n1.example").is_none());
        assert!(leaves.cached("n9999.example").is_some());
        drop(first);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn names_that_cannot_be_in_a_certificate_fail_cleanly() {
        let dir = temp_dir("names");
        let leaves = Leaves::new(Ca::load_or_create(&dir).unwrap()).unwrap();
        assert!(leaves.mint("ünïcode.example").is_err());
        assert!(leaves.mint("127.0.0.1").is_ok());
        assert!(leaves.mint("::1").is_ok());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
