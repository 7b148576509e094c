//! Reading the policy's files (the auth file, domain lists) with a size
//! bound, and [`PolicyError`]: why a policy could not be built, as the one
//! line the user sees at start-up (exit 2) or in the log after a reload.

use std::io::Read;
use std::path::{Path, PathBuf};

/// Why the policy could not be built from its flags and files.
#[derive(Debug)]
pub enum PolicyError {
    /// A file could not be opened or read.
    Read(PathBuf, std::io::Error),
    /// A file is larger than its limit (in bytes).
    TooLarge(PathBuf, u64),
    /// The auth file is not UTF-8 text.
    NotText(PathBuf),
    /// An environment variable is not UTF-8.
    EnvNotText(&'static str),
    /// An entry is not `user:password`: where (`file:line` or the
    /// variable's name) and why.
    BadUser(String, &'static str),
    /// The auth file holds no `user:password` line.
    NoUsers(String),
}

impl std::fmt::Display for PolicyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PolicyError::Read(path, e) => write!(f, "cannot read {}: {e}", path.display()),
            PolicyError::TooLarge(path, limit) => write!(
                f,
                "{} is larger than {} MiB",
                path.display(),
                limit / (1024 * 1024)
            ),
            PolicyError::NotText(path) => write!(f, "{}: not UTF-8 text", path.display()),
            PolicyError::EnvNotText(var) => write!(f, "{var} is not valid UTF-8"),
            PolicyError::BadUser(at, why) => write!(f, "{at}: {why}"),
            PolicyError::NoUsers(origin) => write!(f, "{origin}: no user:password lines"),
        }
    }
}

impl std::error::Error for PolicyError {}

/// Read at most `limit` bytes of `path`; more is an error.
pub(crate) fn read_bounded(path: &Path, limit: u64) -> Result<Vec<u8>, PolicyError> {
    let read = |e| PolicyError::Read(path.to_path_buf(), e);
    let file = std::fs::File::open(path).map_err(read)?;
    let mut text = Vec::new();
    file.take(limit + 1).read_to_end(&mut text).map_err(read)?;
    if text.len() as u64 > limit {
        return Err(PolicyError::TooLarge(path.to_path_buf(), limit));
    }
    Ok(text)
}
