//! Temporary files and folders for tests: `TempFile` (a file with given
//! contents, rewritable) and `TempDir` (an empty folder), both named
//! uniquely per process and per call under the temp directory, and both
//! removed when dropped.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

/// `smolproxy-PID-N-name` in the temp directory, unique per call.
fn unique(name: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    std::env::temp_dir().join(format!("smolproxy-{}-{n}-{name}", std::process::id()))
}

/// A file in the temp directory, removed when dropped.
pub struct TempFile(PathBuf);

impl TempFile {
    pub fn new(name: &str, contents: &str) -> TempFile {
        let p = unique(name);
        std::fs::write(&p, contents).unwrap();
        TempFile(p)
    }

    /// Replace its contents.
    pub fn write(&self, contents: &str) {
        std::fs::write(&self.0, contents).unwrap();
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    /// Its path as text, for command lines and log lines.
    pub fn as_str(&self) -> &str {
        self.0.to_str().unwrap()
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// An empty folder in the temp directory, removed with its contents when
/// dropped.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(name: &str) -> TempDir {
        let p = unique(name);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
