//! The default build (without the `tls` feature) refuses the HTTPS
//! listener's flags with one line naming the build that has them, exit 2,
//! rather than ignoring them.
#![cfg(not(feature = "tls"))]

mod common;

#[test]
fn tls_flags_are_refused_with_one_line() {
    for flag in ["--tls-listen", "--tls-cert", "--tls-key"] {
        let out = common::bin::run(&[flag, "8443"], &[]);
        assert_eq!(out.code, 2, "{flag}: {}", out.stderr);
        assert_eq!(
            out.stderr,
            format!("smolproxy: {flag}: this build has no TLS; use smolproxy-tls\n")
        );
    }
}
