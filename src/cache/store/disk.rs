//! One cache entry as a file: the fixed header, the hashes, the names and
//! the sizes, pure (no I/O). An entry file is
//!
//! ```text
//! offset  size  field
//!      0     8  magic "smolpxc1"
//!      8     4  format version (u32 little-endian, FORMAT = 1)
//!     12     4  key length (u32 LE, ≤ MAX_KEY)
//!     16     4  meta length (u32 LE, ≤ MAX_META)
//!     20     4  reserved, 0
//!     24     8  body length (u64 LE)
//!     32     8  checksum: FNV-1a 64 of bytes 0..32, then the key, then the meta
//!     40     …  key, then meta, then body
//! ```
//!
//! A file is whole only when its size is exactly `HEADER + key + meta +
//! body` and the checksum matches; while being written it lives in
//! `tmp/` with a zero checksum and is renamed into place only after the
//! real header is written. The name is the key's 64-bit hash in hex
//! ([`name_hash`]: FNV-1a with a final mix, stable across Rust versions and
//! machines, unlike std's `DefaultHasher`), under the subfolder named by
//! its first two hex digits: `ab/abcdef0123456789`. Two keys with the same
//! hash share a name: the later write replaces the earlier one, and a read
//! compares the stored key, so a collision costs a miss, never a wrong body.

use std::path::{Path, PathBuf};

/// First bytes of every entry file.
pub(crate) const MAGIC: &[u8; 8] = b"smolpxc1";
/// The layout version; a file with another one is dropped on open.
pub(crate) const FORMAT: u32 = 1;
/// Bytes of the fixed header.
pub(crate) const HEADER: u64 = 40;
/// Longest key accepted: a request key is a method, a URL and a Vary key;
/// the proxy's own request-head limit is smaller, so this only guards the
/// format against a nonsense length read from disk.
pub(crate) const MAX_KEY: u32 = 64 * 1024;
/// Longest meta accepted (a response head plus times): the same reasoning.
pub(crate) const MAX_META: u32 = 256 * 1024;
/// The unit files are counted in: a file takes whole filesystem blocks, so
/// `du` sees each size rounded up to a block (4 KiB on ext4, f2fs, tmpfs
/// and most SD-card filesystems).
pub(crate) const BLOCK: u64 = 4096;
/// What one name costs its folder (the directory entry), so that folders
/// growing with many entries stay inside the bound too.
pub(crate) const DIRENT: u64 = 64;
/// Counted once for the store: the 256 name folders, `tmp/` and the top
/// folder (a block each at least) and the marker file (a block).
pub(crate) const FIXED: u64 = 259 * BLOCK;

/// What the header says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Header {
    /// Key bytes after the header.
    pub(crate) key_len: u32,
    /// Meta bytes after the key.
    pub(crate) meta_len: u32,
    /// Body bytes after the meta.
    pub(crate) body_len: u64,
    /// The checksum stored in the file.
    pub(crate) checksum: u64,
}

impl Header {
    /// Where the body starts.
    pub(crate) fn body_offset(&self) -> u64 {
        HEADER + u64::from(self.key_len) + u64::from(self.meta_len)
    }

    /// The exact size of the whole file.
    pub(crate) fn file_size(&self) -> u64 {
        self.body_offset().saturating_add(self.body_len)
    }
}

/// Why a file is not a whole entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Bad {
    /// Shorter than a header, or not our magic: not ours.
    Foreign,
    /// Our magic, another format version.
    Version,
    /// A length over its limit, a non-zero reserved field, or a checksum
    /// that does not match: damaged.
    Corrupt,
    /// Its size is not what the header says (cut short, or grown).
    Size,
}

/// The header of an entry with these lengths. `whole`: with its checksum;
/// without (zero), it is the placeholder written first, which never
/// verifies.
pub(crate) fn encode(key: &[u8], meta: &[u8], body_len: u64, whole: bool) -> [u8; HEADER as usize] {
    let mut h = [0u8; HEADER as usize];
    h[0..8].copy_from_slice(MAGIC);
    h[8..12].copy_from_slice(&FORMAT.to_le_bytes());
    h[12..16].copy_from_slice(&len32(key.len()).to_le_bytes());
    h[16..20].copy_from_slice(&len32(meta.len()).to_le_bytes());
    h[24..32].copy_from_slice(&body_len.to_le_bytes());
    if whole {
        let sum = checksum(&h[..32], key, meta);
        h[32..40].copy_from_slice(&sum.to_le_bytes());
    }
    h
}

/// A length as u32, saturated (callers check the limits first).
fn len32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// Read the fixed header: magic, version and limits (not yet the checksum,
/// which needs the key and meta, nor the size).
pub(crate) fn decode(b: &[u8]) -> Result<Header, Bad> {
    let field = |from: usize, to: usize| b.get(from..to).ok_or(Bad::Foreign);
    if field(0, 8)? != MAGIC {
        return Err(Bad::Foreign);
    }
    let u32_at = |at: usize| -> Result<u32, Bad> {
        let mut a = [0u8; 4];
        a.copy_from_slice(field(at, at + 4)?);
        Ok(u32::from_le_bytes(a))
    };
    let u64_at = |at: usize| -> Result<u64, Bad> {
        let mut a = [0u8; 8];
        a.copy_from_slice(field(at, at + 8)?);
        Ok(u64::from_le_bytes(a))
    };
    if u32_at(8)? != FORMAT {
        return Err(Bad::Version);
    }
    let h = Header {
        key_len: u32_at(12)?,
        meta_len: u32_at(16)?,
        body_len: u64_at(24)?,
        checksum: u64_at(32)?,
    };
    if h.key_len > MAX_KEY || h.meta_len > MAX_META || u32_at(20)? != 0 {
        return Err(Bad::Corrupt);
    }
    Ok(h)
}

/// Check a decoded header against the bytes after it (`rest` = key then
/// meta) and the file's size.
pub(crate) fn verify(raw: &[u8], h: &Header, rest: &[u8], size: u64) -> Result<(), Bad> {
    if size != h.file_size() {
        return Err(Bad::Size);
    }
    let (key, meta) = rest.split_at(rest.len().min(h.key_len as usize));
    let fixed = raw.get(..32).ok_or(Bad::Foreign)?;
    if meta.len() != h.meta_len as usize || checksum(fixed, key, meta) != h.checksum {
        return Err(Bad::Corrupt);
    }
    Ok(())
}

/// FNV-1a 64 (offset basis and prime from the FNV reference), continued
/// from `h`.
fn fnv1a(mut h: u64, bytes: &[u8]) -> u64 {
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// The FNV-1a 64 offset basis.
const FNV_BASIS: u64 = 0xcbf2_9ce4_8422_2325;

/// The header checksum: FNV-1a 64 over the fixed fields, the key, the meta.
pub(crate) fn checksum(fixed: &[u8], key: &[u8], meta: &[u8]) -> u64 {
    fnv1a(fnv1a(fnv1a(FNV_BASIS, fixed), key), meta)
}

/// The hash that names a key's file: FNV-1a 64, then the 64-bit finaliser
/// of MurmurHash3 so that every bit (the folder is the top byte) depends on
/// every input byte.
pub(crate) fn name_hash(key: &[u8]) -> u64 {
    let mut h = fnv1a(FNV_BASIS, key);
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

/// `dir/ab/abcdef0123456789` for hash 0xabcdef0123456789.
pub(crate) fn entry_path(dir: &Path, hash: u64) -> PathBuf {
    dir.join(format!("{:02x}", hash >> 56))
        .join(format!("{hash:016x}"))
}

/// The hash a file name stands for, if it is one of ours (16 lower-case
/// hex digits, in the folder named by its first two).
pub(crate) fn parse_name(folder: &str, name: &str) -> Option<u64> {
    let lower_hex = |s: &str| s.bytes().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f'));
    if name.len() != 16 || !lower_hex(name) || name.get(..2) != Some(folder) {
        return None;
    }
    u64::from_str_radix(name, 16).ok()
}

/// What a file of `size` bytes costs on disk: whole blocks plus its name.
pub(crate) fn cost(size: u64) -> u64 {
    size.div_ceil(BLOCK)
        .saturating_mul(BLOCK)
        .saturating_add(DIRENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trip_and_checks() {
        let (key, meta) = (
            b"GET http://a/".as_slice(),
            b"HTTP/1.1 200 OK\r\n\r\n".as_slice(),
        );
        let raw = encode(key, meta, 5, true);
        let h = decode(&raw).unwrap();
        assert_eq!((h.key_len, h.meta_len, h.body_len), (13, 19, 5));
        let rest = [key, meta].concat();
        assert_eq!(verify(&raw, &h, &rest, 40 + 13 + 19 + 5), Ok(()));
        assert_eq!(verify(&raw, &h, &rest, 40 + 13 + 19 + 4), Err(Bad::Size));
        let mut other = rest.clone();
        other[0] ^= 1;
        assert_eq!(verify(&raw, &h, &other, 77), Err(Bad::Corrupt));
        // The placeholder written while the body streams never verifies.
        let tmp = encode(key, meta, 5, false);
        assert_eq!(
            verify(&tmp, &decode(&tmp).unwrap(), &rest, 77),
            Err(Bad::Corrupt)
        );
        let mut v2 = raw;
        v2[8] = 2;
        assert_eq!(decode(&v2), Err(Bad::Version));
        assert_eq!(decode(b"smolpxc"), Err(Bad::Foreign));
        assert_eq!(decode(&[0u8; 40]), Err(Bad::Foreign));
        let mut long = raw;
        long[12..16].copy_from_slice(&(MAX_KEY + 1).to_le_bytes());
        assert_eq!(decode(&long), Err(Bad::Corrupt));
    }

    #[test]
    fn names() {
        let h = name_hash(b"GET http://example/");
        let p = entry_path(Path::new("/c"), h);
        let folder = p.parent().unwrap().file_name().unwrap().to_str().unwrap();
        let name = p.file_name().unwrap().to_str().unwrap();
        assert_eq!(parse_name(folder, name), Some(h));
        assert_eq!(parse_name("00", "00abc"), None);
        assert_eq!(parse_name("ab", "cdcdcdcdcdcdcdcd"), None);
        assert_eq!(parse_name("ab", "ABCDCDCDCDCDCDCD"), None);
        // Stable: the same value on every machine and Rust version.
        assert_eq!(fnv1a(FNV_BASIS, b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(cost(1), BLOCK + DIRENT);
        assert_eq!(cost(4096), BLOCK + DIRENT);
        assert_eq!(cost(4097), 2 * BLOCK + DIRENT);
    }
}
