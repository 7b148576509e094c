//! Where access lines go (`--access-log`, `--log-format`): to stderr
//! through the logger, or appended to a file by a writer thread of its
//! own, which reopens the file on SIGHUP so logrotate can rename it.
//!
//! Why a thread and not a write per line from the executor: a write to an
//! SD card or a full or slow disk can block for long, and an executor
//! thread blocked in `write(2)` stalls every connection it carries. The
//! executor only hands the line to a bounded queue ([`ACCESS_QUEUE`]);
//! when the queue is full (the disk cannot keep up) the line is dropped
//! and counted, and the count is logged, rate limited. One writer also
//! keeps lines whole, whatever their length, and orders the reopen among
//! them: each line goes to the old file or the new one, never nowhere.
//! Other log lines (start-up, warnings) stay on stderr, as text.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use crate::config::LogFormat;
use crate::logger::{self, Access, HeldBack, Throttle};

/// Access lines waiting for the writer thread: a few seconds of a busy
/// household's traffic, and at most ~1 MiB of memory (lines are short).
pub const ACCESS_QUEUE: usize = 4096;

/// Permissions of a log file this creates: owner writes, group reads
/// (e.g. `adm`), others nothing (targets and user names are private).
pub const LOG_FILE_MODE: u32 = 0o640;

/// How long shutdown waits for queued lines to be written.
pub const CLOSE_WAIT: Duration = Duration::from_secs(2);

enum Msg {
    Line(String),
    Reopen,
}

/// The access-line output of one server.
pub(crate) struct AccessLog {
    format: LogFormat,
    file: Option<FileSink>,
}

struct FileSink {
    tx: SyncSender<Msg>,
    dropped: AtomicU32,
    dropped_log: Throttle,
    writer: Mutex<Option<JoinHandle<()>>>,
}

/// Open (or create) `path` for appending.
fn open(path: &Path) -> io::Result<File> {
    let mut o = OpenOptions::new();
    o.append(true).create(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut o, LOG_FILE_MODE);
    o.open(path)
}

impl AccessLog {
    /// Access lines to stderr through the logger (at `info`).
    pub(crate) fn stderr(format: LogFormat) -> AccessLog {
        AccessLog { format, file: None }
    }

    /// Access lines appended to `path`, which is opened now (an error
    /// here stops the start) and reopened by [`reopen`](Self::reopen).
    pub(crate) fn file(format: LogFormat, path: PathBuf) -> io::Result<AccessLog> {
        let file = open(&path)?;
        let (tx, rx) = std::sync::mpsc::sync_channel(ACCESS_QUEUE);
        let writer = std::thread::Builder::new()
            .name("smolproxy-log".into())
            .spawn(move || write_lines(rx, file, &path))?;
        Ok(AccessLog {
            format,
            file: Some(FileSink {
                tx,
                dropped: AtomicU32::new(0),
                dropped_log: Throttle::new(),
                writer: Mutex::new(Some(writer)),
            }),
        })
    }

    /// Write one access line.
    pub(crate) fn write(&self, peer: SocketAddr, a: &Access<'_>, took: Duration) {
        let Some(sink) = &self.file else {
            if !log::log_enabled!(log::Level::Info) {
                return;
            }
            match self.format {
                LogFormat::Text => log::info!("{}", logger::text_line(peer, a, took)),
                // The object alone on its line, so `grep '^{'` finds them;
                // one write, so lines from several threads never mix.
                LogFormat::Json => {
                    let mut line = logger::json_line(SystemTime::now(), peer, a, took);
                    line.push('\n');
                    eprint!("{line}");
                }
            }
            return;
        };
        let now = SystemTime::now();
        let mut line = match self.format {
            LogFormat::Text => {
                let text = logger::text_line(peer, a, took);
                format!("{} {text}", logger::timestamp(now))
            }
            LogFormat::Json => logger::json_line(now, peer, a, took),
        };
        line.push('\n');
        if let Err(TrySendError::Full(_)) = sink.tx.try_send(Msg::Line(line)) {
            let n = sink
                .dropped
                .fetch_add(1, Ordering::Relaxed)
                .saturating_add(1);
            if let Some(held) = sink.dropped_log.allow() {
                log::warn!(
                    "access log cannot keep up: {n} lines dropped so far{}",
                    HeldBack(held)
                );
            }
        }
    }

    /// SIGHUP: close the file and open its path again (after logrotate
    /// renamed it). Lines already queued go to the old file.
    pub(crate) fn reopen(&self) {
        if let Some(sink) = &self.file {
            // Blocking send: a reopen is never dropped.
            let _ = sink.tx.send(Msg::Reopen);
        }
    }

    /// Shutdown: write what is queued and stop the writer, waiting at
    /// most [`CLOSE_WAIT`] (a hung disk must not hang the shutdown).
    pub(crate) fn close(&self) {
        let Some(sink) = &self.file else { return };
        let writer = match sink.writer.lock() {
            Ok(mut w) => w.take(),
            Err(poisoned) => poisoned.into_inner().take(),
        };
        let Some(w) = writer else { return };
        let deadline = Instant::now() + CLOSE_WAIT;
        // The writer ends when it reads this empty line, after the rest.
        let mut marker = Msg::Line(String::new());
        loop {
            match sink.tx.try_send(marker) {
                Err(TrySendError::Full(m)) if Instant::now() < deadline => marker = m,
                _ => break,
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        while !w.is_finished() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        if w.is_finished() {
            let _ = w.join();
        } else {
            log::warn!("access log: lines still queued at exit were lost (the disk is stuck)");
        }
    }
}

static WRITE_ERRORS: Throttle = Throttle::new();

/// The writer thread: append each line; reopen on request; log write
/// errors (a full disk) rate limited and go on. Ends on an empty line
/// (shutdown) or when every sender is gone.
fn write_lines(rx: Receiver<Msg>, mut file: File, path: &Path) {
    while let Ok(msg) = rx.recv() {
        match msg {
            Msg::Line(l) if l.is_empty() => break,
            Msg::Line(l) => {
                if let Err(e) = file.write_all(l.as_bytes())
                    && let Some(held) = WRITE_ERRORS.allow()
                {
                    log::error!(
                        "access log {}: cannot write: {e}{}",
                        path.display(),
                        HeldBack(held)
                    );
                }
            }
            Msg::Reopen => match open(path) {
                Ok(f) => {
                    file = f;
                    log::info!("access log {} reopened", path.display());
                }
                Err(e) => log::error!(
                    "access log {}: cannot reopen, writing on to the old file: {e}",
                    path.display()
                ),
            },
        }
    }
}
