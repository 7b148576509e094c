//! Test certificates made with the openssl CLI (installed by `make
//! test-deps`): a throw-away CA (`TestCa::new`) and leaf certificates it
//! signs for names and addresses, with a chosen serial (`TestCa::issue`),
//! each pair written into the CA's temporary folder. ECDSA P-256, valid
//! for two days.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::files::TempDir;

/// A test certificate authority: `ca.pem` and `ca.key` in its folder.
pub struct TestCa {
    dir: TempDir,
}

/// A leaf certificate and its key, as files.
pub struct Leaf {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// Run `openssl` with `line` split at spaces (no argument here has one).
fn openssl(line: &str, dir: &Path) {
    let args: Vec<&str> = line.split(' ').collect();
    let ok = Command::new("openssl")
        .args(&args)
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("openssl must be installed (make test installs it)");
    assert!(ok.success(), "openssl {args:?} failed");
}

impl TestCa {
    /// A new CA whose subject is `CN=name`.
    pub fn new(name: &str) -> TestCa {
        let dir = TempDir::new("ca");
        openssl(
            &format!(
                "req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
                 -subj /CN={name} -addext basicConstraints=critical,CA:TRUE \
                 -addext keyUsage=critical,keyCertSign,cRLSign -keyout ca.key -out ca.pem"
            ),
            dir.path(),
        );
        TestCa { dir }
    }

    /// The CA certificate (PEM), for `--proxy-cacert` and trust stores.
    pub fn pem(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    /// A leaf for `sans` (`DNS:localhost,IP:127.0.0.1`) with `serial`,
    /// written as `FILE.pem` and `FILE.key`.
    pub fn issue(&self, file: &str, sans: &str, serial: u32) -> Leaf {
        let d = self.dir.path();
        let (cert, key) = (format!("{file}.pem"), format!("{file}.key"));
        let (csr, ext) = (format!("{file}.csr"), format!("{file}.ext"));
        std::fs::write(
            d.join(&ext),
            format!(
                "subjectAltName={sans}\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n"
            ),
        )
        .unwrap();
        openssl(
            &format!(
                "req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
                 -subj /CN={file} -keyout {key} -out {csr}"
            ),
            d,
        );
        openssl(
            &format!(
                "x509 -req -in {csr} -CA ca.pem -CAkey ca.key -set_serial {serial} \
                 -days 2 -extfile {ext} -out {cert}"
            ),
            d,
        );
        Leaf {
            cert: d.join(cert),
            key: d.join(key),
        }
    }
}

/// The serial number (hex, as `openssl x509 -serial` prints it) of the
/// certificate a TLS server at `addr` presents.
pub fn served_serial(addr: std::net::SocketAddr) -> String {
    let shown = Command::new("openssl")
        .args([
            "s_client",
            "-connect",
            &addr.to_string(),
            "-servername",
            "localhost",
        ])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .expect("openssl");
    let mut x509 = Command::new("openssl")
        .args(["x509", "-noout", "-serial"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    use std::io::Write;
    x509.stdin.take().unwrap().write_all(&shown.stdout).unwrap();
    let out = x509.wait_with_output().unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}
