//! The HTTPS listener's flags (issue 13): `--tls-listen ADDR` (repeatable,
//! beside `--listen`), `--tls-cert FILE`, `--tls-key FILE`, and the
//! handshake limits. They are parsed in every build so that a build
//! without the `tls` feature can refuse them with one clear line instead
//! of ignoring them or calling them unknown.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use super::args::{ConfigError, arg_error, parse_listen};

/// Time a TLS client gets to complete its handshake after connecting: a
/// client that connects and sends nothing (or dribbles a ClientHello) is
/// closed after it, so it cannot hold a socket and a handshake slot.
pub const DEFAULT_TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Handshakes in progress at once, over all TLS listeners. A handshake
/// costs public-key CPU work and rustls state; beyond this bound a new
/// connection is closed at once (and counted), so a flood of stalled or
/// slow handshakes cannot starve the executor or memory. Served
/// connections are bounded by `--max-clients` as usual.
pub const DEFAULT_TLS_HANDSHAKES: usize = 64;

/// What the HTTPS listener needs; empty `listen` means none.
#[derive(Debug, Clone)]
pub struct TlsListenConfig {
    /// `--tls-listen`: addresses of HTTPS proxy listeners.
    pub listen: Vec<SocketAddr>,
    /// `--tls-cert`: the PEM certificate chain, leaf first.
    pub cert: Option<PathBuf>,
    /// `--tls-key`: the PEM private key of the leaf.
    pub key: Option<PathBuf>,
    /// See [`DEFAULT_TLS_HANDSHAKE_TIMEOUT`] (a field so tests shorten it).
    pub handshake_timeout: Duration,
    /// See [`DEFAULT_TLS_HANDSHAKES`] (a field so tests lower it).
    pub max_handshakes: usize,
}

impl Default for TlsListenConfig {
    fn default() -> Self {
        TlsListenConfig {
            listen: Vec::new(),
            cert: None,
            key: None,
            handshake_timeout: DEFAULT_TLS_HANDSHAKE_TIMEOUT,
            max_handshakes: DEFAULT_TLS_HANDSHAKES,
        }
    }
}

/// Take the HTTPS listener's flags out of `p`. `taken` are the addresses
/// `--listen` and `--transparent` already use.
pub(super) fn tls_listen_flags(
    p: &mut pico_args::Arguments,
    taken: &[SocketAddr],
) -> Result<TlsListenConfig, ConfigError> {
    let e = ConfigError::BadValue;
    let listen: Vec<SocketAddr> = p
        .values_from_fn("--tls-listen", parse_listen)
        .map_err(arg_error)?;
    let cert: Option<PathBuf> = p.opt_value_from_str("--tls-cert").map_err(arg_error)?;
    let key: Option<PathBuf> = p.opt_value_from_str("--tls-key").map_err(arg_error)?;
    if !cfg!(feature = "tls") {
        let given = [
            ("--tls-listen", !listen.is_empty()),
            ("--tls-cert", cert.is_some()),
            ("--tls-key", key.is_some()),
        ];
        if let Some((flag, _)) = given.iter().find(|(_, given)| *given) {
            return Err(e(format!(
                "{flag}: this build has no TLS; use smolproxy-tls"
            )));
        }
        // Nothing below is compiled into a build without TLS.
        return Ok(TlsListenConfig::default());
    }
    if let Some(twice) = listen
        .iter()
        .enumerate()
        .find(|(i, a)| listen[..*i].contains(a) || taken.contains(a))
    {
        return Err(e(format!("--tls-listen {} is also listened on", twice.1)));
    }
    match (listen.is_empty(), &cert, &key) {
        (false, Some(_), Some(_)) | (true, None, None) => {}
        (false, _, _) => {
            return Err(e(
                "--tls-listen needs --tls-cert FILE and --tls-key FILE".into()
            ));
        }
        (true, _, _) => {
            return Err(e("--tls-cert and --tls-key need --tls-listen ADDR".into()));
        }
    }
    Ok(TlsListenConfig {
        listen,
        cert,
        key,
        ..TlsListenConfig::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<TlsListenConfig, String> {
        let mut p = pico_args::Arguments::from_vec(args.iter().map(Into::into).collect());
        let taken = ["127.0.0.1:8888".parse().unwrap()];
        tls_listen_flags(&mut p, &taken).map_err(|e| e.to_string())
    }

    #[test]
    fn nothing_given_is_no_listener() {
        let c = parse(&[]).unwrap();
        assert!(c.listen.is_empty() && c.cert.is_none() && c.key.is_none());
        assert_eq!(c.handshake_timeout, Duration::from_secs(10));
        assert_eq!(c.max_handshakes, 64);
    }

    #[cfg(feature = "tls")]
    #[test]
    fn flags_and_mistakes() {
        let c = parse(&[
            "--tls-listen",
            "8443",
            "--tls-listen=[::]:8444",
            "--tls-cert",
            "/c.pem",
            "--tls-key=/k.pem",
        ])
        .unwrap();
        assert_eq!(c.listen[0].to_string(), "127.0.0.1:8443");
        assert_eq!(c.listen[1].to_string(), "[::]:8444");
        assert_eq!(c.cert, Some(PathBuf::from("/c.pem")));
        assert_eq!(c.key, Some(PathBuf::from("/k.pem")));
        let cases: &[(&[&str], &str)] = &[
            (
                &["--tls-listen", "8443"],
                "--tls-listen needs --tls-cert FILE and --tls-key FILE",
            ),
            (
                &["--tls-listen", "8443", "--tls-cert", "c"],
                "--tls-listen needs --tls-cert FILE and --tls-key FILE",
            ),
            (
                &["--tls-key", "k"],
                "--tls-cert and --tls-key need --tls-listen ADDR",
            ),
            (
                &["--tls-listen", "8888", "--tls-cert", "c", "--tls-key", "k"],
                "--tls-listen 127.0.0.1:8888 is also listened on",
            ),
            (
                &["--tls-listen", "1", "--tls-listen", "1"],
                "--tls-listen 127.0.0.1:1 is also listened on",
            ),
            (&["--tls-listen", "x"], "invalid listen address 'x'"),
            (&["--tls-cert"], "--tls-cert needs a value"),
        ];
        for (args, want) in cases {
            let err = parse(args).unwrap_err();
            assert!(err.starts_with(want), "{args:?}: {err}");
        }
    }

    #[cfg(not(feature = "tls"))]
    #[test]
    fn a_build_without_tls_refuses_the_flags() {
        for args in [
            &["--tls-listen", "8443"][..],
            &["--tls-cert=/c.pem"],
            &["--tls-key", "/k.pem"],
        ] {
            let err = parse(args).unwrap_err();
            assert_eq!(
                err,
                format!(
                    "{}: this build has no TLS; use smolproxy-tls",
                    args[0].split('=').next().unwrap()
                )
            );
        }
    }
}
