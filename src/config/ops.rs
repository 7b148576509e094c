//! The operations flags: where access lines go (`--access-log`), their
//! format (`--log-format`), and the user to become after binding
//! (`--user`).

use std::path::PathBuf;

use super::args::{ConfigError, arg_error};

/// How access lines are written (`--log-format`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum LogFormat {
    /// `CLIENT METHOD TARGET STATUS up=N down=N Nms user=U [note=…]`.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// The operations flags: where access lines go, their format, and the
/// user to become after binding.
#[derive(Debug, Clone, Default)]
pub struct OpsConfig {
    /// Append access lines to this file (reopened on SIGHUP) instead of
    /// writing them to stderr.
    pub access_log: Option<PathBuf>,
    /// Format of access lines.
    pub log_format: LogFormat,
    /// Drop to this user (and its groups) right after binding.
    pub user: Option<String>,
}

/// Take the operations flags out of `p`.
pub(crate) fn ops_flags(p: &mut pico_args::Arguments) -> Result<OpsConfig, ConfigError> {
    let mut c = OpsConfig {
        access_log: p.opt_value_from_str("--access-log").map_err(arg_error)?,
        user: p.opt_value_from_str("--user").map_err(arg_error)?,
        ..OpsConfig::default()
    };
    if let Some(v) = p
        .opt_value_from_str::<_, String>("--log-format")
        .map_err(arg_error)?
    {
        c.log_format = match v.as_str() {
            "text" => LogFormat::Text,
            "json" => LogFormat::Json,
            _ => {
                let why = format!("--log-format must be text or json, got '{v}'");
                return Err(ConfigError::BadValue(why));
            }
        };
    }
    if c.user.as_deref() == Some("") {
        return Err(ConfigError::BadValue("--user needs a user name".into()));
    }
    Ok(c)
}
