//! The proxy's log captured in memory, for tests that check what it
//! logged (access lines, warnings): install it once per test binary, then
//! read the lines. Nothing reaches the terminal.

use std::sync::{Mutex, Once};

static LINES: Mutex<Vec<String>> = Mutex::new(Vec::new());

struct Capture;

impl log::Log for Capture {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }
    fn log(&self, r: &log::Record<'_>) {
        LINES
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(format!("{} {}", r.level(), r.args()));
    }
    fn flush(&self) {}
}

/// Capture the log from now on, at `level`.
pub fn install(level: log::LevelFilter) {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        let _ = log::set_logger(&Capture);
    });
    log::set_max_level(level);
}

/// Every line captured so far.
pub fn lines() -> Vec<String> {
    LINES.lock().unwrap_or_else(|p| p.into_inner()).clone()
}
