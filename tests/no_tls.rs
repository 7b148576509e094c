//! The default build (without the `tls` feature) refuses the HTTPS
//! listener's and the inspection's flags with one line naming the build
//! that has them, exit 2, rather than ignoring them.
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

#[test]
fn inspection_flags_are_refused_with_one_line() {
    let cases: &[&[&str]] = &[
        &["--inspect"],
        &["--ca-dir", "/tmp/x"],
        &["--ca-dir=/tmp/x"],
        &["--print-ca"],
        &["--inspect-only", "a.example"],
        &["--no-inspect", "a.example"],
        &["--ca-roots", "/etc/ssl/cert.pem"],
    ];
    for args in cases {
        let out = common::bin::run(args, &[]);
        assert_eq!(out.code, 2, "{args:?}: {}", out.stderr);
        let flag = args[0].split('=').next().unwrap();
        assert_eq!(
            out.stderr,
            format!("smolproxy: {flag}: this build has no TLS; use smolproxy-tls\n")
        );
    }
}
