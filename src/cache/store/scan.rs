//! Reading entries back: [`load`] checks one file's header, key and meta
//! (every hit does), and [`scan`] rebuilds the list of entries from the
//! folder on start-up, deleting what is not a whole entry named for its
//! key and keeping within the memory bound as it goes.

use std::fs::{self, File};
use std::io::{self, Read};
use std::path::Path;
use std::time::SystemTime;

use super::disk::{self, Bad, Header};

/// Why a file could not be loaded.
pub(crate) enum LoadError {
    /// Not a whole entry: delete it.
    Bad(Bad),
    /// Could not be read (gone, out of descriptors...): leave it.
    Io(io::Error),
}

impl From<io::Error> for LoadError {
    fn from(e: io::Error) -> LoadError {
        match e.kind() {
            io::ErrorKind::UnexpectedEof => LoadError::Bad(Bad::Size),
            _ => LoadError::Io(e),
        }
    }
}

/// One read covers the header, key and meta of most entries (a response
/// head is well under this), so checking an entry costs one read.
const FIRST_READ: u64 = 4096;

/// Read and check a freshly opened entry's header, key and meta (not its
/// body). Returns the header, key + meta, and the file's metadata.
pub(crate) fn load(mut f: &File) -> Result<(Header, Vec<u8>, fs::Metadata), LoadError> {
    let md = f.metadata()?;
    let size = md.len();
    if size < disk::HEADER {
        return Err(LoadError::Bad(Bad::Foreign));
    }
    let mut buf = vec![0u8; size.min(FIRST_READ) as usize];
    f.read_exact(&mut buf)?;
    let h = disk::decode(&buf).map_err(LoadError::Bad)?;
    if size != h.file_size() {
        return Err(LoadError::Bad(Bad::Size));
    }
    let (have, need) = (buf.len(), h.body_offset() as usize);
    if need > have {
        buf.resize(need, 0);
        f.read_exact(&mut buf[have..])?;
    }
    buf.truncate(need);
    let rest = buf.split_off(disk::HEADER as usize);
    disk::verify(&buf, &h, &rest, size).map_err(LoadError::Bad)?;
    Ok((h, rest, md))
}

/// Every whole entry under `dir`'s 256 name folders as (hash, cost),
/// oldest written first, at most `max_entries` (older ones are deleted).
/// Damaged, foreign and misnamed files are deleted and counted in one log
/// line; a file that cannot be read now (out of descriptors, permissions)
/// is left alone and not indexed.
pub(crate) fn scan(
    dir: &Path,
    max_entries: usize,
    hash: fn(&[u8]) -> u64,
) -> io::Result<Vec<(u64, u64)>> {
    let mut found = Vec::new();
    let mut dropped = 0u64;
    for top in 0..=255u8 {
        let folder = format!("{top:02x}");
        let sub = dir.join(&folder);
        fs::create_dir_all(&sub)?;
        for e in fs::read_dir(&sub)? {
            let e = e?;
            let name = e.file_name();
            let Some(h) = name.to_str().and_then(|n| disk::parse_name(&folder, n)) else {
                remove_any(&e.path());
                dropped += 1;
                continue;
            };
            match scan_one(&e.path(), h, hash) {
                Ok((cost, when)) => {
                    found.push((when, h, cost));
                    if found.len() >= 2 * max_entries {
                        keep_newest(dir, &mut found, max_entries);
                    }
                }
                Err(Some(_)) => {
                    remove_any(&e.path());
                    dropped += 1;
                }
                Err(None) => {}
            }
        }
    }
    if dropped > 0 {
        log::warn!(
            "cache: dropped {dropped} damaged or foreign files from {}",
            dir.display()
        );
    }
    // No recency survives a restart: the oldest written goes first.
    keep_newest(dir, &mut found, max_entries);
    Ok(found.into_iter().map(|(_, h, cost)| (h, cost)).collect())
}

/// Remove whatever is at `p` (a stray folder too).
pub(crate) fn remove_any(p: &Path) {
    if fs::remove_file(p).is_err() {
        let _ = fs::remove_dir_all(p);
    }
}

/// Sort the entries found so far oldest first and delete all but the
/// newest `n`, so that the scan's list, like the index, stays within the
/// memory bound (at most twice the index's entries, 32 bytes each).
fn keep_newest(dir: &Path, found: &mut Vec<(SystemTime, u64, u64)>, n: usize) {
    found.sort_unstable();
    let extra = found.len().saturating_sub(n);
    for (_, h, _) in found.drain(..extra) {
        let _ = fs::remove_file(disk::entry_path(dir, h));
    }
}

/// Check one file found on open: its cost and write time if it is a whole
/// entry named for its key; else why it must go (None: could not be read,
/// leave it alone).
fn scan_one(path: &Path, h: u64, hash: fn(&[u8]) -> u64) -> Result<(u64, SystemTime), Option<Bad>> {
    let f = File::open(path).map_err(|_| None)?;
    let (head, rest, md) = load(&f).map_err(|e| match e {
        LoadError::Bad(why) => Some(why),
        LoadError::Io(_) => None,
    })?;
    if rest.get(..head.key_len as usize).map(hash) != Some(h) {
        return Err(Some(Bad::Foreign));
    }
    let when = md.modified().map_err(|_| None)?;
    Ok((disk::cost(head.file_size()), when))
}
