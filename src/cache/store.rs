//! The cache's disk store: entries (a request key, an opaque meta the
//! cache layer fills with the response head and times, and a body) as one
//! file each under `--cache-dir`, an in-memory LRU index of them, and the
//! byte bound.
//!
//! - Format (`store/disk.rs`): a 40-byte header (magic `smolpxc1`, format
//!   version, key/meta/body lengths, FNV-1a 64 checksum of header, key and
//!   meta), then key, meta, body; named by a 64-bit hash of the key in 256
//!   subfolders (`ab/abcdef0123456789`). The key is stored and compared on
//!   read, so a hash collision is a miss, never a wrong body.
//! - Crash safety: an entry is written to `tmp/`, its real header (body
//!   length, checksum) written last, then renamed into place; a file in
//!   place is therefore whole. On open `tmp/` is emptied and every
//!   file's header, key and meta are read, not its body
//!   (`store/scan.rs`): a foreign, corrupt, wrong-version or wrongly
//!   sized file is deleted. `get` checks the size
//!   and the header again, so a file cut after the index was built is
//!   deleted and never served. Nothing is fsynced (the cost is a flash
//!   write per object): a `kill -9` loses nothing written, a power cut may
//!   lose recent entries, and a file left shorter than its header is
//!   dropped by the size check.
//! - The bound: every file is counted as its size rounded up to 4 KiB
//!   blocks plus 64 bytes for its name, and the folders themselves as
//!   [`disk::FIXED`] bytes, so `du` of the folder stays ≤ `max_bytes` on a
//!   filesystem with 4 KiB blocks. A `Writer` reserves bytes before it
//!   writes them, evicting least recently used entries until they fit, so
//!   the bound holds at every moment, not at a sweep; entries being
//!   written are not in the index and so are never evicted. One object
//!   may take at most 1/[`OBJECT_SHARE`] of the budget (a 200 MiB package
//!   fits the default 1 GiB). An evicted file that a hit is still sending
//!   keeps its blocks until that send ends (the kernel frees them on
//!   close); `du` no longer counts it.
//! - Memory: the index holds a hash, a cost and an LRU generation per entry
//!   (`store/index.rs`; [`index::ENTRY_BYTES`] measured); `mem_bytes`
//!   divided by that is the most entries kept, the oldest evicted past it.
//! - Locking: one `Mutex` around the index. Each operation takes it once,
//!   briefly: `get` opens and checks the file under it (an open, an fstat
//!   and one small read), evictions delete their files under it, and a
//!   commit renames under it, so the index and the folder always agree.
//!   Body bytes are written and sent outside it.
//! - Start-up: rebuilding the index from 100,000 entries (300-byte
//!   metas) took 1.7 s in a release build on a 2-core x86-64 machine
//!   shared with other builds, page cache warm; about 17 µs an entry,
//!   nearly all of it the open, fstat, read and close of each file (the
//!   ignored test `startup_100k` in `store/tests.rs` measures it).

mod disk;
mod index;
mod scan;
mod send;
#[cfg(test)]
pub(super) mod tests;

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use index::Index;
use scan::{LoadError, load};

pub(crate) use send::send_file;

/// One object may take at most 1/OBJECT_SHARE of the byte budget, so a
/// single download cannot flush the whole cache (and a 200 MiB object fits
/// the default 1 GiB).
pub(crate) const OBJECT_SHARE: u64 = 4;
/// A writer reserves at least this much more at a time, so a large body
/// takes the lock once per 256 KiB rather than once per write.
const RESERVE_STEP: u64 = 256 * 1024;
/// The file that marks a folder as a smolproxy cache. A folder that holds
/// anything but lacks it is refused, so a mistyped `--cache-dir` never
/// has its files deleted as foreign.
const MARKER: &str = "smolproxy-cache";
/// How long `open` waits for the folder's lock before answering `InUse`.
/// A lock is held by its open file description, which a process forked at
/// that moment shares until it execs (or exits): a restarting proxy's old
/// process, or a helper program spawned just then, lets go within this.
const LOCK_WAIT: Duration = Duration::from_millis(500);
/// How often `open` tries the lock again while it waits.
const LOCK_STEP: Duration = Duration::from_millis(10);

/// Why a store operation failed.
#[derive(Debug)]
pub(crate) enum StoreError {
    /// The filesystem said no.
    Io(io::Error),
    /// The object (or its key or meta) is over the per-object limit.
    TooBig,
    /// No room even after evicting every entry: other writers hold it.
    Full,
    /// The entry to update is not stored.
    Missing,
    /// `--cache-dir` is a non-empty folder that is not a smolproxy cache.
    NotACache(PathBuf),
    /// This writer already failed (its temp file is gone).
    Abandoned,
    /// Another store (another smolproxy, or this one not yet closed) has
    /// the folder open.
    InUse(PathBuf),
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::Io(e) => write!(f, "{e}"),
            StoreError::TooBig => f.write_str("object larger than the cache's per-object limit"),
            StoreError::Full => f.write_str("cache full of objects being written"),
            StoreError::Missing => f.write_str("no such cache entry"),
            StoreError::Abandoned => f.write_str("cache writer already failed"),
            StoreError::InUse(p) => write!(f, "{} is in use by another smolproxy", p.display()),
            StoreError::NotACache(p) => write!(
                f,
                "{} is not empty and not a smolproxy cache (no {MARKER} file); refusing to use it",
                p.display()
            ),
        }
    }
}

impl From<io::Error> for StoreError {
    fn from(e: io::Error) -> StoreError {
        StoreError::Io(e)
    }
}

/// What the store holds, for the dashboard, metrics and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Usage {
    /// Entries indexed.
    pub(crate) entries: u64,
    /// Bytes counted: entries, reservations and the folders.
    pub(crate) bytes: u64,
    /// The bound.
    pub(crate) max_bytes: u64,
}

/// A stored entry, checked whole, with its file open.
#[derive(Debug)]
pub(crate) struct Hit {
    /// The meta stored with it.
    pub(crate) meta: Vec<u8>,
    /// Body length.
    pub(crate) body_len: u64,
    /// The file (send the body with [`send_file`] from `body_offset`).
    pub(crate) file: File,
    /// Where the body starts in `file`.
    pub(crate) body_offset: u64,
}

/// The disk store. Cheap to clone (one shared inside); Send + Sync.
#[derive(Clone)]
pub(crate) struct Store {
    inner: Arc<Inner>,
}

/// What the store and its writers share.
struct Inner {
    dir: PathBuf,
    max_bytes: u64,
    /// Largest file one entry may have.
    object_limit: u64,
    index: Mutex<Index>,
    /// Makes temp names unique within the process.
    seq: AtomicUsize,
    /// The name hash (tests force collisions through it).
    hash: fn(&[u8]) -> u64,
    /// The marker file, locked (flock) while the store is open.
    _lock: File,
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, Index> {
        self.index.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn path(&self, hash: u64) -> PathBuf {
        disk::entry_path(&self.dir, hash)
    }

    /// Reserve `more` bytes, evicting the least recently used entries until
    /// they fit.
    fn make_room(&self, more: u64) -> Result<(), StoreError> {
        let mut ix = self.lock();
        if more > ix.budget() {
            return Err(StoreError::TooBig);
        }
        if !ix.fits_reserved(more) {
            return Err(StoreError::Full); // evicting every entry would not do
        }
        while !ix.fits(more) {
            let victim = ix.pop_oldest().ok_or(StoreError::Full)?;
            let _ = fs::remove_file(self.path(victim));
        }
        ix.reserve(more);
        Ok(())
    }
}

impl Store {
    /// Open (creating if needed) the store in `dir`: at most `max_bytes` on
    /// disk, an index of at most `mem_bytes`.
    pub(crate) fn open(dir: &Path, max_bytes: u64, mem_bytes: u64) -> Result<Store, StoreError> {
        Store::open_with(dir, max_bytes, mem_bytes, disk::name_hash)
    }

    /// `open` with another name hash (tests use a constant one).
    fn open_with(
        dir: &Path,
        max_bytes: u64,
        mem_bytes: u64,
        hash: fn(&[u8]) -> u64,
    ) -> Result<Store, StoreError> {
        fs::create_dir_all(dir)?;
        let marker = dir.join(MARKER);
        if !marker.exists() {
            if fs::read_dir(dir)?.next().is_some() {
                return Err(StoreError::NotACache(dir.to_path_buf()));
            }
            fs::write(
                &marker,
                format!("smolproxy cache, format {}\n", disk::FORMAT),
            )?;
        }
        // One store per folder: two would empty each other's tmp/ and each
        // count only its own bytes against the bound.
        let lock = File::open(&marker)?;
        let mut waited = Duration::ZERO;
        while let Err(fs::TryLockError::WouldBlock) = lock.try_lock() {
            if waited >= LOCK_WAIT {
                return Err(StoreError::InUse(dir.to_path_buf()));
            }
            std::thread::sleep(LOCK_STEP);
            waited += LOCK_STEP;
        }
        let tmp = dir.join("tmp");
        fs::create_dir_all(&tmp)?;
        for e in fs::read_dir(&tmp)? {
            scan::remove_any(&e?.path());
        }
        let budget = max_bytes.saturating_sub(disk::FIXED);
        let max_entries = usize::try_from(mem_bytes / index::ENTRY_BYTES)
            .unwrap_or(usize::MAX)
            .clamp(1, usize::MAX / 2);
        let found = scan::scan(dir, max_entries, hash)?;
        let mut ix = Index::new(budget, max_entries);
        for (h, cost) in found {
            ix.insert(h, cost);
        }
        while ix.over_count(0) || !ix.fits(0) {
            match ix.pop_oldest() {
                Some(h) => {
                    let _ = fs::remove_file(disk::entry_path(dir, h));
                }
                None => break,
            }
        }
        Ok(Store {
            inner: Arc::new(Inner {
                dir: dir.to_path_buf(),
                max_bytes,
                object_limit: budget / OBJECT_SHARE,
                index: Mutex::new(ix),
                seq: AtomicUsize::new(0),
                hash,
                _lock: lock,
            }),
        })
    }

    /// The entry stored under `key`, if whole; marks it most recently used.
    pub(crate) fn get(&self, key: &[u8]) -> Option<Hit> {
        let inner = &*self.inner;
        let hash = (inner.hash)(key);
        if !inner.lock().contains(hash) {
            return None;
        }
        // The file is opened and checked without the index lock, so other
        // threads' lookups do not wait on this one's disk reads. An entry
        // evicted meanwhile is either gone (NotFound) or still readable
        // through this open file; a replaced one is checked like any other.
        let path = inner.path(hash);
        let loaded = File::open(&path)
            .map_err(LoadError::from)
            .and_then(|f| load(&f).map(|(h, rest, _)| (f, (h, rest))));
        let mut ix = inner.lock();
        match loaded {
            Ok((file, (h, mut rest))) => {
                if rest.get(..h.key_len as usize) != Some(key) {
                    return None; // another key with the same hash
                }
                ix.touch(hash);
                drop(ix);
                let meta = rest.split_off(h.key_len as usize);
                Some(Hit {
                    meta,
                    body_len: h.body_len,
                    body_offset: h.body_offset(),
                    file,
                })
            }
            Err(LoadError::Bad(why)) => {
                ix.remove(hash);
                let _ = fs::remove_file(&path);
                drop(ix);
                log::warn!("cache: dropped {} ({why:?})", path.display());
                None
            }
            Err(LoadError::Io(e)) => {
                if e.kind() == io::ErrorKind::NotFound {
                    ix.remove(hash);
                }
                None
            }
        }
    }

    /// Start writing an entry under `key` with `meta`; see [`Writer`].
    pub(crate) fn begin(&self, key: &[u8], meta: &[u8]) -> Result<Writer, StoreError> {
        if key.len() > disk::MAX_KEY as usize || meta.len() > disk::MAX_META as usize {
            return Err(StoreError::TooBig);
        }
        let inner = &self.inner;
        let n = inner.seq.fetch_add(1, Ordering::Relaxed);
        let tmp = inner
            .dir
            .join("tmp")
            .join(format!("{}-{n}", std::process::id()));
        let head_len = disk::HEADER + key.len() as u64 + meta.len() as u64;
        if head_len > inner.object_limit {
            return Err(StoreError::TooBig);
        }
        let want = disk::cost(head_len);
        inner.make_room(want)?;
        let mut w = Writer {
            inner: Arc::clone(inner),
            file: None,
            done: false,
            tmp,
            key: key.to_vec(),
            meta: meta.to_vec(),
            head_len,
            written: 0,
            reserved: want,
        };
        let mut f = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&w.tmp)?;
        f.write_all(&disk::encode(key, meta, 0, false))?;
        f.write_all(key)?;
        f.write_all(meta)?;
        w.file = Some(f);
        Ok(w)
    }

    /// Replace the meta of `key`'s entry, keeping its body (copied in the
    /// kernel where it can be), atomically: temp file, then rename.
    pub(crate) fn update_meta(&self, key: &[u8], meta: &[u8]) -> Result<(), StoreError> {
        let hit = self.get(key).ok_or(StoreError::Missing)?;
        let mut w = self.begin(key, meta)?;
        w.reserve_for(hit.body_len)?;
        let mut src = &hit.file;
        src.seek(SeekFrom::Start(hit.body_offset))?;
        let dst = w.file.as_mut().ok_or(StoreError::Abandoned)?;
        let copied = io::copy(&mut src.take(hit.body_len), dst)?;
        if copied != hit.body_len {
            return Err(StoreError::Io(io::ErrorKind::UnexpectedEof.into()));
        }
        w.written = copied;
        w.commit()
    }

    /// Drop `key`'s entry (and anything sharing its hash: dropping is
    /// always safe).
    pub(crate) fn remove(&self, key: &[u8]) {
        let hash = (self.inner.hash)(key);
        let mut ix = self.inner.lock();
        if ix.remove(hash).is_some() {
            let _ = fs::remove_file(self.inner.path(hash));
        }
    }

    /// Entries, bytes counted, the bound.
    pub(crate) fn usage(&self) -> Usage {
        let ix = self.inner.lock();
        Usage {
            entries: ix.len() as u64,
            bytes: ix.bytes() + disk::FIXED,
            max_bytes: self.inner.max_bytes,
        }
    }
}

/// An entry being written, in `tmp/`. Dropping it without `commit` deletes
/// the temp file and gives its reserved bytes back.
pub(crate) struct Writer {
    inner: Arc<Inner>,
    /// The temp file; `None` once given up (after TooBig or Full).
    file: Option<File>,
    /// Committed: the temp file is now the entry.
    done: bool,
    tmp: PathBuf,
    key: Vec<u8>,
    meta: Vec<u8>,
    /// Header + key + meta.
    head_len: u64,
    /// Body bytes written.
    written: u64,
    /// Bytes held in the index's accounting.
    reserved: u64,
}

impl Writer {
    /// Make sure the reservation covers `body` body bytes in all.
    fn reserve_for(&mut self, body: u64) -> Result<(), StoreError> {
        let total = self.head_len.saturating_add(body);
        if total > self.inner.object_limit {
            self.give_up();
            return Err(StoreError::TooBig);
        }
        let need = disk::cost(total);
        if need <= self.reserved {
            return Ok(());
        }
        let cap = disk::cost(self.inner.object_limit);
        let ask = need.max(self.reserved + RESERVE_STEP).min(cap);
        let got = match self.inner.make_room(ask - self.reserved) {
            Ok(()) => Ok(ask),
            Err(StoreError::Full) => self.inner.make_room(need - self.reserved).map(|()| need),
            Err(e) => Err(e),
        };
        match got {
            Ok(n) => {
                self.reserved = n;
                Ok(())
            }
            Err(e) => {
                self.give_up();
                Err(e)
            }
        }
    }

    /// Append body bytes, reserving room for them first.
    pub(crate) fn write(&mut self, bytes: &[u8]) -> Result<(), StoreError> {
        if self.file.is_none() {
            return Err(StoreError::Abandoned);
        }
        self.reserve_for(self.written.saturating_add(bytes.len() as u64))?;
        let f = self.file.as_mut().ok_or(StoreError::Abandoned)?;
        f.write_all(bytes)?;
        self.written += bytes.len() as u64;
        Ok(())
    }

    /// Finish: write the real header, rename into place, index it.
    pub(crate) fn commit(mut self) -> Result<(), StoreError> {
        let Some(mut f) = self.file.take() else {
            return Err(StoreError::Abandoned);
        };
        f.seek(SeekFrom::Start(0))?;
        f.write_all(&disk::encode(&self.key, &self.meta, self.written, true))?;
        drop(f);
        let inner = Arc::clone(&self.inner);
        let hash = (inner.hash)(&self.key);
        let mut ix = inner.lock();
        while !ix.contains(hash) && ix.over_count(1) {
            match ix.pop_oldest() {
                Some(h) => {
                    let _ = fs::remove_file(inner.path(h));
                }
                None => break,
            }
        }
        fs::rename(&self.tmp, inner.path(hash))?; // on error Drop cleans up
        self.done = true;
        ix.release(self.reserved);
        ix.insert(hash, disk::cost(self.head_len + self.written));
        self.reserved = 0;
        Ok(())
    }

    /// A new read handle on the temp file (its own offset) and where the
    /// body starts in it, for readers that follow the body as it arrives.
    pub(crate) fn follow(&self) -> io::Result<(File, u64)> {
        Ok((File::open(&self.tmp)?, self.head_len))
    }

    /// Body bytes written so far.
    pub(crate) fn written(&self) -> u64 {
        self.written
    }

    /// Delete the temp file and give the reservation back.
    fn give_up(&mut self) {
        self.file = None;
        if !self.done {
            self.done = true;
            let _ = fs::remove_file(&self.tmp);
        }
        let n = std::mem::take(&mut self.reserved);
        if n > 0 {
            self.inner.lock().release(n);
        }
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        self.give_up();
    }
}
