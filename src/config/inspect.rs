//! The HTTPS inspection flags: `--inspect --ca-dir DIR`, `--inspect-only
//! DOMAIN`, `--no-inspect DOMAIN`, `--ca-roots FILE` and `--print-ca`.
//! In the default build (no `tls` feature) any of them is a usage error
//! that names the build which has them.

#[cfg(feature = "tls")]
use std::path::PathBuf;

#[cfg(feature = "tls")]
use super::args::domain_arg;
use super::args::{ConfigError, arg_error};

/// `--inspect`'s files: where the CA lives, which roots origins are
/// checked against.
#[cfg(feature = "tls")]
#[derive(Debug, Clone)]
pub struct InspectConfig {
    /// `--ca-dir`: `ca.pem` and `ca.key`, made on first run.
    pub ca_dir: PathBuf,
    /// `--ca-roots` (repeatable): only these roots; none: the system's.
    pub roots: Vec<PathBuf>,
}

/// What the inspection flags ask for.
pub(crate) enum Inspect {
    /// None of them.
    Off,
    /// `--print-ca --ca-dir DIR`.
    #[cfg(feature = "tls")]
    PrintCa(PathBuf),
    /// `--inspect`: the files, and the scope for the policy.
    #[cfg(feature = "tls")]
    On(InspectConfig, crate::policy::inspect::InspectScope),
}

/// Take the inspection flags out of `p`.
#[cfg(feature = "tls")]
pub(crate) fn inspect_flags(p: &mut pico_args::Arguments) -> Result<Inspect, ConfigError> {
    let bad = |m: &str| ConfigError::BadValue(m.into());
    let on = p.contains("--inspect");
    let print = p.contains("--print-ca");
    let ca_dir: Option<PathBuf> = p.opt_value_from_str("--ca-dir").map_err(arg_error)?;
    let only = p
        .values_from_fn("--inspect-only", |s: &str| domain_arg("--inspect-only", s))
        .map_err(arg_error)?;
    let skip = p
        .values_from_fn("--no-inspect", |s: &str| domain_arg("--no-inspect", s))
        .map_err(arg_error)?;
    let roots: Vec<PathBuf> = p.values_from_str("--ca-roots").map_err(arg_error)?;
    if print {
        return ca_dir
            .map(Inspect::PrintCa)
            .ok_or_else(|| bad("--print-ca needs --ca-dir DIR"));
    }
    if !on {
        let given = [
            (ca_dir.is_some(), "--ca-dir"),
            (!only.is_empty(), "--inspect-only"),
            (!skip.is_empty(), "--no-inspect"),
            (!roots.is_empty(), "--ca-roots"),
        ];
        return match given.iter().find(|(g, _)| *g) {
            Some((_, flag)) => Err(bad(&format!("{flag} needs --inspect"))),
            None => Ok(Inspect::Off),
        };
    }
    let ca_dir = ca_dir.ok_or_else(|| bad("--inspect needs --ca-dir DIR (its CA lives there)"))?;
    let scope = crate::policy::inspect::InspectScope {
        only,
        skip,
        ..Default::default()
    };
    Ok(Inspect::On(InspectConfig { ca_dir, roots }, scope))
}

/// Without TLS: any inspection flag is a usage error.
#[cfg(not(feature = "tls"))]
pub(crate) fn inspect_flags(p: &mut pico_args::Arguments) -> Result<Inspect, ConfigError> {
    const FLAGS: &[&str] = &[
        "--inspect",
        "--ca-dir",
        "--inspect-only",
        "--no-inspect",
        "--ca-roots",
        "--print-ca",
    ];
    for flag in FLAGS {
        let given = p.contains(*flag);
        let valued = p
            .opt_value_from_str::<_, String>(*flag)
            .map_err(arg_error)
            .is_ok_and(|v| v.is_some());
        if given || valued {
            return Err(ConfigError::BadValue(format!(
                "{flag}: this build has no TLS; use smolproxy-tls"
            )));
        }
    }
    Ok(Inspect::Off)
}

#[cfg(all(test, feature = "tls"))]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Inspect, String> {
        let mut p = pico_args::Arguments::from_vec(args.iter().map(Into::into).collect());
        inspect_flags(&mut p).map_err(|e| e.to_string())
    }

    #[test]
    fn inspect_flags_table() {
        assert!(matches!(parse(&[]), Ok(Inspect::Off)));
        let Ok(Inspect::On(c, s)) = parse(&[
            "--inspect",
            "--ca-dir",
            "/var/lib/smolproxy",
            "--inspect-only=Debian.org",
            "--no-inspect",
            "bank.example.",
            "--ca-roots",
            "/a.pem",
            "--ca-roots",
            "/b.pem",
        ]) else {
            panic!("not on");
        };
        assert_eq!(c.ca_dir, PathBuf::from("/var/lib/smolproxy"));
        assert_eq!(c.roots, [PathBuf::from("/a.pem"), PathBuf::from("/b.pem")]);
        assert_eq!(
            (s.only, s.skip),
            (vec!["debian.org".into()], vec!["bank.example".into()])
        );
        assert_eq!(s.ports, [443]);
        let Ok(Inspect::PrintCa(d)) = parse(&["--print-ca", "--ca-dir", "/x"]) else {
            panic!("not print");
        };
        assert_eq!(d, PathBuf::from("/x"));
        let cases: &[(&[&str], &str)] = &[
            (&["--inspect"], "--inspect needs --ca-dir DIR"),
            (&["--print-ca"], "--print-ca needs --ca-dir DIR"),
            (&["--ca-dir", "/x"], "--ca-dir needs --inspect"),
            (&["--no-inspect", "a.b"], "--no-inspect needs --inspect"),
            (&["--inspect-only", "a.b"], "--inspect-only needs --inspect"),
            (&["--ca-roots", "/r"], "--ca-roots needs --inspect"),
            (&["--inspect", "--ca-dir"], "--ca-dir needs a value"),
            (
                &["--no-inspect", "a..b"],
                "--no-inspect: invalid domain 'a..b'",
            ),
        ];
        for (args, want) in cases {
            let e = parse(args).err().unwrap_or_default();
            assert!(e.starts_with(want), "{args:?}: {e}");
        }
    }
}
