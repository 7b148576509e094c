//! Tests of the disk store: round trips, collisions, damaged and foreign
//! files, the byte bound at every step, the memory bound, `kill -9` in the
//! middle of a write (a child process: this test binary run again), and
//! the start-up scan. `send_file` is tested in `send.rs`.

use std::fs;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use super::*;

/// A folder under the temp directory, removed when dropped.
pub(super) struct Dir(PathBuf);

impl Dir {
    pub(super) fn new(name: &str) -> Dir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let p =
            std::env::temp_dir().join(format!("smolproxy-store-{}-{n}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&p);
        Dir(p)
    }
    pub(super) fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

const MIB: u64 = 1024 * 1024;

/// Store `body` under `key` with `meta`.
fn put(s: &Store, key: &[u8], meta: &[u8], body: &[u8]) {
    let mut w = s.begin(key, meta).unwrap();
    for part in body.chunks(7000) {
        w.write(part).unwrap();
    }
    w.commit().unwrap();
}

/// The body of a hit, read from its file.
fn body(h: &Hit) -> Vec<u8> {
    let mut f = &h.file;
    f.seek(SeekFrom::Start(h.body_offset)).unwrap();
    let mut v = Vec::new();
    f.take(h.body_len).read_to_end(&mut v).unwrap();
    v
}

/// Bytes that differ from position to position.
pub(super) fn pattern(n: usize, seed: u8) -> Vec<u8> {
    (0..n)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed) ^ (i >> 9) as u8)
        .collect()
}

/// Every file under `dir`: (path, size).
fn files(dir: &Path) -> Vec<(PathBuf, u64)> {
    let mut out = Vec::new();
    for e in fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        let m = e.metadata().unwrap();
        if m.is_dir() {
            out.extend(files(&e.path()));
        } else {
            out.push((e.path(), m.len()));
        }
    }
    out
}

/// `du -sk` of `dir`, in bytes.
fn du(dir: &Path) -> u64 {
    let out = Command::new("du")
        .arg("-sk")
        .arg(dir)
        .output()
        .expect("du runs");
    let text = String::from_utf8(out.stdout).unwrap();
    let kib: u64 = text.split_whitespace().next().unwrap().parse().unwrap();
    kib * 1024
}

fn tmp_files(dir: &Path) -> usize {
    fs::read_dir(dir.join("tmp")).unwrap().count()
}

#[test]
fn round_trip_follow_update_remove() {
    let d = Dir::new("roundtrip");
    let s = Store::open(d.path(), 64 * MIB, MIB).unwrap();
    assert!(s.get(b"GET http://a/x").is_none());
    let data = pattern(100_000, 1);
    let mut w = s.begin(b"GET http://a/x", b"meta one").unwrap();
    w.write(&data[..40_000]).unwrap();
    // A follower sees the bytes written so far, from its own offset.
    let (mut f, off) = w.follow().unwrap();
    f.seek(SeekFrom::Start(off)).unwrap();
    let mut seen = vec![0u8; 40_000];
    f.read_exact(&mut seen).unwrap();
    assert_eq!(seen, data[..40_000]);
    assert_eq!(w.written(), 40_000);
    w.write(&data[40_000..]).unwrap();
    assert!(
        s.get(b"GET http://a/x").is_none(),
        "not visible before commit"
    );
    w.commit().unwrap();
    let mut rest = Vec::new();
    f.read_to_end(&mut rest).unwrap();
    assert_eq!(
        rest,
        data[40_000..],
        "the follower reads on after the rename"
    );
    let h = s.get(b"GET http://a/x").unwrap();
    assert_eq!(
        (h.meta.as_slice(), h.body_len),
        (b"meta one".as_slice(), 100_000)
    );
    assert_eq!(body(&h), data);
    assert_eq!(s.usage().entries, 1);

    s.update_meta(b"GET http://a/x", b"a longer meta, after a 304")
        .unwrap();
    let h = s.get(b"GET http://a/x").unwrap();
    assert_eq!(h.meta, b"a longer meta, after a 304");
    assert_eq!(body(&h), data, "the body survives a meta update");
    assert_eq!(s.usage().entries, 1);
    assert!(matches!(
        s.update_meta(b"GET http://a/none", b"m"),
        Err(StoreError::Missing)
    ));

    put(&s, b"GET http://a/empty", b"", b"");
    let h = s.get(b"GET http://a/empty").unwrap();
    assert_eq!((h.meta.len(), h.body_len), (0, 0));

    s.remove(b"GET http://a/x");
    assert!(s.get(b"GET http://a/x").is_none());
    assert_eq!(s.usage().entries, 1);
    assert_eq!(tmp_files(d.path()), 0);
    // Reopened: the same entries, from disk.
    drop(s);
    let s = Store::open(d.path(), 64 * MIB, MIB).unwrap();
    assert_eq!(s.usage().entries, 1);
    assert!(s.get(b"GET http://a/empty").is_some());
}

#[test]
fn same_hash_is_a_miss_never_a_wrong_body() {
    let d = Dir::new("collide");
    let s = Store::open_with(d.path(), 64 * MIB, MIB, |_| 0xab00_0000_0000_0001).unwrap();
    put(&s, b"key A", b"ma", b"body A");
    assert_eq!(body(&s.get(b"key A").unwrap()), b"body A");
    assert!(
        s.get(b"key B").is_none(),
        "B shares A's name but not its key"
    );
    assert!(
        s.get(b"key A").is_some(),
        "a collision miss does not drop A"
    );
    put(&s, b"key B", b"mb", b"body B");
    assert!(s.get(b"key A").is_none(), "B replaced A");
    assert_eq!(body(&s.get(b"key B").unwrap()), b"body B");
    assert_eq!(s.usage().entries, 1);
    assert_eq!(files(&d.path().join("ab")).len(), 1);
}

#[test]
fn damaged_and_foreign_files_are_dropped_on_open() {
    let d = Dir::new("damaged");
    let s = Store::open(d.path(), 64 * MIB, MIB).unwrap();
    let keys: Vec<Vec<u8>> = (0..7)
        .map(|i| format!("GET http://h/{i}").into_bytes())
        .collect();
    for k in &keys {
        put(&s, k, b"HTTP/1.1 200 OK\r\n\r\n", &pattern(10_000, 3));
    }
    drop(s);
    let path = |i: usize| disk::entry_path(d.path(), disk::name_hash(&keys[i]));
    let edit = |i: usize, at: u64, b: &[u8]| {
        let mut f = fs::OpenOptions::new().write(true).open(path(i)).unwrap();
        f.seek(SeekFrom::Start(at)).unwrap();
        f.write_all(b).unwrap();
    };
    edit(0, disk::HEADER + 20, b"X"); // meta changed: checksum fails
    edit(6, 32, b"\xaa\x55\xaa"); // the header's checksum changed
    fs::OpenOptions::new()
        .write(true)
        .open(path(1))
        .unwrap()
        .set_len(5000)
        .unwrap(); // body cut
    edit(2, 8, &2u32.to_le_bytes()); // another format version
    fs::write(path(3), b"#!/bin/sh\necho not a cache entry\n").unwrap(); // foreign
    let renamed = disk::entry_path(d.path(), disk::name_hash(b"other key"));
    fs::rename(path(4), &renamed).unwrap(); // an entry under another key's name
    fs::write(d.path().join("tmp").join("99-1"), b"half written").unwrap();
    let stray = d.path().join("00").join("not-ours.txt");
    fs::write(&stray, b"x").unwrap();

    let s = Store::open(d.path(), 64 * MIB, MIB).unwrap();
    assert_eq!(s.usage().entries, 1, "only the intact entry is indexed");
    for (i, k) in keys.iter().enumerate().filter(|(i, _)| *i != 5) {
        assert!(s.get(k).is_none(), "entry {i} must not be served");
        assert!(!path(i).exists(), "entry {i} deleted");
    }
    assert!(!renamed.exists() && !stray.exists());
    assert_eq!(body(&s.get(&keys[5]).unwrap()), pattern(10_000, 3));
    assert_eq!(tmp_files(d.path()), 0, "tmp/ emptied");
}

#[test]
fn a_file_cut_after_indexing_is_dropped_by_get() {
    let d = Dir::new("cut");
    let s = Store::open(d.path(), 64 * MIB, MIB).unwrap();
    put(&s, b"k", b"m", &pattern(50_000, 5));
    put(&s, b"k2", b"m", &pattern(50_000, 6));
    let p = disk::entry_path(d.path(), disk::name_hash(b"k"));
    fs::OpenOptions::new()
        .write(true)
        .open(&p)
        .unwrap()
        .set_len(20_000)
        .unwrap();
    assert!(s.get(b"k").is_none());
    assert!(!p.exists(), "deleted when found cut");
    assert_eq!(s.usage().entries, 1);
    // A header damaged under us: the same.
    let p2 = disk::entry_path(d.path(), disk::name_hash(b"k2"));
    let mut f = fs::OpenOptions::new().write(true).open(&p2).unwrap();
    f.seek(SeekFrom::Start(33)).unwrap();
    f.write_all(b"\xff").unwrap();
    assert!(s.get(b"k2").is_none());
    assert!(!p2.exists());
    // Deleted by someone else: forgotten.
    put(&s, b"k3", b"m", b"x");
    fs::remove_file(disk::entry_path(d.path(), disk::name_hash(b"k3"))).unwrap();
    assert!(s.get(b"k3").is_none());
    assert_eq!(s.usage().entries, 0);
}

#[test]
fn never_over_the_bound_and_least_recently_used_goes_first() {
    let d = Dir::new("bound");
    let max = disk::FIXED + 400 * 1024;
    let s = Store::open(d.path(), max, MIB).unwrap();
    put(&s, b"hot", b"m", &pattern(30_000, 0));
    for i in 0..150u32 {
        let size = 1 + (i as usize * 7919) % 60_000;
        let key = format!("k{i}");
        let mut w = s.begin(key.as_bytes(), b"meta").unwrap();
        for part in pattern(size, i as u8).chunks(9000) {
            w.write(part).unwrap();
            let on_disk: u64 = files(d.path()).iter().map(|f| f.1).sum();
            assert!(on_disk <= max, "sum of sizes {on_disk} > {max} mid-write");
        }
        w.commit().unwrap();
        assert!(s.get(b"hot").is_some(), "the entry read every round stays");
        assert!(s.usage().bytes <= max);
        let du = du(d.path());
        assert!(du <= max, "du {du} > {max} after object {i}");
    }
    assert!(s.get(b"k0").is_none(), "the oldest went");
    assert!(s.get(b"k149").is_some(), "the newest stays");
}

#[test]
fn too_big_and_dropped_writers_leave_nothing() {
    let d = Dir::new("toobig");
    let max = disk::FIXED + 4 * MIB;
    let s = Store::open(d.path(), max, MIB).unwrap();
    let before = s.usage();
    let mut w = s.begin(b"big", b"m").unwrap();
    let chunk = vec![7u8; 64 * 1024];
    let mut err = None;
    for _ in 0..20 {
        if let Err(e) = w.write(&chunk) {
            err = Some(e);
            break;
        }
    }
    assert!(matches!(err, Some(StoreError::TooBig)), "{err:?}");
    assert_eq!(tmp_files(d.path()), 0, "temp file removed at once");
    assert!(matches!(w.write(b"x"), Err(StoreError::Abandoned)));
    assert!(matches!(w.commit(), Err(StoreError::Abandoned)));
    assert!(s.get(b"big").is_none());
    assert_eq!(s.usage(), before, "reservation given back");

    let mut w = s.begin(b"dropped", b"m").unwrap();
    w.write(&chunk).unwrap();
    assert_eq!(tmp_files(d.path()), 1);
    drop(w);
    assert_eq!(tmp_files(d.path()), 0);
    assert_eq!(s.usage(), before);
    assert!(matches!(
        s.begin(&vec![0; 70_000], b""),
        Err(StoreError::TooBig)
    ));
}

#[test]
fn concurrent_writers_each_hold_room() {
    let d = Dir::new("writers");
    // 200 KiB: one object may take 50 KiB.
    let max = disk::FIXED + 200 * 1024;
    let s = Store::open(d.path(), max, MIB).unwrap();
    put(&s, b"old", b"", &[5u8; 30 * 1024]);
    let mut ws: Vec<Writer> = [b"a", b"b", b"c", b"d"]
        .iter()
        .map(|k| s.begin(*k, b"").unwrap())
        .collect();
    let chunk = vec![1u8; 40 * 1024];
    // Each writer reserves up to the per-object limit (13 blocks): three
    // fit beside each other once the old entry is evicted; the fourth
    // does not, and gets Full rather than taking their room (or evicting
    // an entry whose room would not be enough).
    for w in &mut ws[..3] {
        w.write(&chunk).unwrap();
    }
    assert!(matches!(ws[3].write(&chunk), Err(StoreError::Full)));
    assert!(
        s.get(b"old").is_some(),
        "not evicted for room it could not make"
    );
    assert!(s.usage().bytes <= max);
    drop(ws.pop());
    for w in ws {
        w.commit().unwrap();
    }
    assert_eq!(s.usage().entries, 4);
    assert_eq!(tmp_files(d.path()), 0);
}

#[test]
fn one_store_per_folder() {
    let d = Dir::new("inuse");
    let s = Store::open(d.path(), 64 * MIB, MIB).unwrap();
    assert!(matches!(
        Store::open(d.path(), 64 * MIB, MIB),
        Err(StoreError::InUse(_))
    ));
    let clone = s.clone();
    drop(s);
    assert!(
        Store::open(d.path(), 64 * MIB, MIB).is_err(),
        "a clone keeps it open"
    );
    drop(clone);
    assert!(Store::open(d.path(), 64 * MIB, MIB).is_ok());
    fn shared<T: Send + Sync>() {}
    shared::<Store>();
    fn sent<T: Send>() {}
    sent::<Writer>();
    sent::<Hit>();
}

#[test]
fn a_folder_that_is_not_a_cache_is_refused() {
    let d = Dir::new("notacache");
    fs::create_dir_all(d.path().join("00")).unwrap();
    fs::write(d.path().join("00").join("precious"), b"keep me").unwrap();
    assert!(matches!(
        Store::open(d.path(), 64 * MIB, MIB),
        Err(StoreError::NotACache(_))
    ));
    assert_eq!(
        fs::read(d.path().join("00").join("precious")).unwrap(),
        b"keep me"
    );
}

#[test]
fn the_index_keeps_within_its_memory() {
    let d = Dir::new("mem");
    let s = Store::open(d.path(), 64 * MIB, 10 * index::ENTRY_BYTES).unwrap();
    for i in 0..25 {
        put(&s, format!("k{i}").as_bytes(), b"", b"x");
    }
    assert_eq!(s.usage().entries, 10);
    assert!(s.get(b"k14").is_none() && s.get(b"k15").is_some());
    drop(s);
    let s = Store::open(d.path(), 64 * MIB, 5 * index::ENTRY_BYTES).unwrap();
    assert_eq!(s.usage().entries, 5, "a smaller --cache-mem on restart");
    assert_eq!(files(d.path()).len(), 5 + 1, "5 entries and the marker");
}

#[test]
fn reopen_2000_entries() {
    let d = Dir::new("reopen");
    let s = Store::open(d.path(), 256 * MIB, 8 * MIB).unwrap();
    for i in 0..2000 {
        put(
            &s,
            format!("GET http://h/{i}").as_bytes(),
            b"HTTP/1.1 200 OK\r\n\r\n",
            b"body",
        );
    }
    drop(s);
    let s = Store::open(d.path(), 256 * MIB, 8 * MIB).unwrap();
    assert_eq!(s.usage().entries, 2000);
    for i in 0..2000 {
        let h = s.get(format!("GET http://h/{i}").as_bytes()).unwrap();
        assert_eq!(body(&h), b"body");
    }
}

/// The figures in store.rs's `//!` and index.rs's `ENTRY_BYTES`. Run alone
/// (a fresh process, one thread) so the resident size is this test's own.
#[test]
#[ignore = "a measurement (100,000 files, ~1 minute): cargo test --release --lib startup_100k -- --ignored --nocapture --test-threads=1"]
fn startup_100k() {
    // The index by itself first, before anything else has been allocated
    // and freed in this process.
    let before = rss();
    let mut ix = Index::new(u64::MAX, usize::MAX);
    for h in 0..100_000u64 {
        ix.insert(disk::name_hash(&h.to_le_bytes()), 4096);
    }
    // Touch every other entry, as hits do: removals from the middle.
    for h in (0..100_000u64).step_by(2) {
        ix.touch(disk::name_hash(&h.to_le_bytes()));
    }
    let per_entry = (rss() - before) / 100_000;
    println!("index: {per_entry} resident bytes per entry");
    assert!(
        per_entry <= index::ENTRY_BYTES,
        "ENTRY_BYTES is an upper bound"
    );
    drop(ix);

    let d = Dir::new("startup");
    let s = Store::open(d.path(), 4096 * MIB, 64 * MIB).unwrap();
    let meta = vec![b'h'; 300];
    for i in 0..100_000 {
        put(
            &s,
            format!("GET http://deb.example/pool/{i}.deb").as_bytes(),
            &meta,
            b"body",
        );
    }
    drop(s);
    let t = Instant::now();
    let s = Store::open(d.path(), 4096 * MIB, 64 * MIB).unwrap();
    println!(
        "open with 100,000 entries (page cache warm): {:?}",
        t.elapsed()
    );
    assert_eq!(s.usage().entries, 100_000);
}

/// This process's resident set, from /proc/self/status.
fn rss() -> u64 {
    let s = fs::read_to_string("/proc/self/status").unwrap();
    let line = s.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace()
        .nth(1)
        .unwrap()
        .parse::<u64>()
        .unwrap()
        * 1024
}

/// The environment variable naming the crash child's folder.
const CRASH_DIR: &str = "SMOLPROXY_STORE_CRASH_DIR";

/// Run by `killed_mid_write_leaves_nothing_half_written`: write a large
/// entry slowly, saying how far it got, until killed.
#[test]
#[ignore = "the child of killed_mid_write_leaves_nothing_half_written, which runs it"]
fn crash_child() {
    let dir =
        std::env::var(CRASH_DIR).expect("run by killed_mid_write_leaves_nothing_half_written");
    let s = Store::open(Path::new(&dir), disk::FIXED + 16 * MIB, MIB).unwrap();
    let mut w = s.begin(b"GET http://h/big", b"big meta").unwrap();
    let chunk = pattern(64 * 1024, 9);
    // 60 chunks (3.75 MiB) stay under the 4 MiB per-object limit.
    for i in 0..60 {
        w.write(&chunk).unwrap();
        println!("wrote {i}");
        std::io::stdout().flush().unwrap();
        std::thread::sleep(Duration::from_millis(5));
    }
    std::thread::sleep(Duration::from_secs(60));
    panic!("not killed within a minute");
}

#[test]
fn killed_mid_write_leaves_nothing_half_written() {
    let d = Dir::new("crash");
    let max = disk::FIXED + 16 * MIB;
    let s = Store::open(d.path(), max, MIB).unwrap();
    put(&s, b"GET http://h/small", b"m", &pattern(100_000, 4));
    // An earlier version of the big entry, which the child's write must
    // neither damage nor half-replace.
    put(&s, b"GET http://h/big", b"old", &pattern(200_000, 8));
    drop(s);
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "cache::store::tests::crash_child",
            "--ignored",
            "--nocapture",
        ])
        .env(CRASH_DIR, d.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut out = child.stdout.take().unwrap();
    let (mut seen, mut buf) = (String::new(), [0u8; 4096]);
    let deadline = Instant::now() + Duration::from_secs(30);
    while seen.matches("wrote").count() < 40 {
        assert!(Instant::now() < deadline, "child too slow: {seen}");
        let n = out.read(&mut buf).unwrap();
        assert!(n > 0, "child ended: {seen}");
        seen.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    assert_eq!(tmp_files(d.path()), 1, "the child is mid-write");
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let s = Store::open(d.path(), max, MIB).unwrap();
    assert_eq!(tmp_files(d.path()), 0, "tmp/ cleaned");
    let big = s.get(b"GET http://h/big").unwrap();
    assert_eq!(
        (big.meta.as_slice(), body(&big)),
        (b"old".as_slice(), pattern(200_000, 8))
    );
    assert_eq!(
        body(&s.get(b"GET http://h/small").unwrap()),
        pattern(100_000, 4)
    );
    assert_eq!(s.usage().entries, 2);
    assert!(du(d.path()) <= max);
}
