//! The in-memory index of the disk store: which entries exist, what each
//! costs on disk, and their least-recently-used order; plus the byte
//! accounting (entries + reservations of files being written) that keeps
//! the folder within its bound. Pure bookkeeping, no I/O: the store does
//! the file operations that go with each change, under the same lock.
//!
//! An entry is its name hash (the key itself stays on disk), its cost and
//! a generation number; the LRU order is a `BTreeMap` from generation to
//! hash, so touching an entry is a remove and an insert (O(log n)) and the
//! least recently used is the first key. Bytes per entry: the `HashMap`
//! slot (8 + 16 bytes, load ≤ 7/8, one control byte) and the B-tree slot
//! (16 bytes in nodes of 11, about half to 2/3 full) come to 70–80 bytes;
//! [`ENTRY_BYTES`] is the measured figure the memory bound divides by.

use std::collections::{BTreeMap, HashMap};

/// Index bytes one entry costs, an upper bound: 100,000 entries inserted
/// in order (as on start-up) and every other one touched (leaving B-tree
/// nodes part full) measured 71 resident bytes per entry in a release
/// build and 80 in a debug one (the ignored test `startup_100k` in
/// store/tests.rs reads the process's resident size); 96 leaves room for
/// the allocator and a table caught mid-resize.
pub(crate) const ENTRY_BYTES: u64 = 96;

/// One entry.
#[derive(Debug, Clone, Copy)]
struct Entry {
    /// Disk bytes counted for it (see `disk::cost`).
    cost: u64,
    /// Its place in the LRU order.
    generation: u64,
}

/// The index and the accounting.
#[derive(Debug)]
pub(crate) struct Index {
    /// Entries by name hash.
    map: HashMap<u64, Entry>,
    /// Generation → hash, oldest first.
    lru: BTreeMap<u64, u64>,
    /// The next generation handed out.
    next: u64,
    /// Bytes counted for indexed entries.
    used: u64,
    /// Bytes reserved by files being written (not yet indexed).
    reserved: u64,
    /// Bytes the entries and reservations may take together.
    budget: u64,
    /// Most entries kept (the memory bound).
    max_entries: usize,
}

impl Index {
    /// An empty index for `budget` disk bytes and `max_entries` entries.
    pub(crate) fn new(budget: u64, max_entries: usize) -> Index {
        Index {
            map: HashMap::new(),
            lru: BTreeMap::new(),
            next: 0,
            used: 0,
            reserved: 0,
            budget,
            max_entries: max_entries.max(1),
        }
    }

    /// Number of entries.
    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }

    /// Bytes of indexed entries plus reservations.
    pub(crate) fn bytes(&self) -> u64 {
        self.used + self.reserved
    }

    /// Is `hash` indexed?
    pub(crate) fn contains(&self, hash: u64) -> bool {
        self.map.contains_key(&hash)
    }

    /// Mark `hash` most recently used; false if it is not indexed.
    pub(crate) fn touch(&mut self, hash: u64) -> bool {
        let next = self.next;
        let Some(e) = self.map.get_mut(&hash) else {
            return false;
        };
        self.lru.remove(&e.generation);
        e.generation = next;
        self.lru.insert(next, hash);
        self.next += 1;
        true
    }

    /// Index `hash` as the most recently used, costing `cost` (replacing an
    /// entry of the same hash, whose file the rename replaced). Returns
    /// whether it replaced one.
    pub(crate) fn insert(&mut self, hash: u64, cost: u64) -> bool {
        let replaced = self.remove(hash).is_some();
        let generation = self.next;
        self.next += 1;
        self.map.insert(hash, Entry { cost, generation });
        self.lru.insert(generation, hash);
        self.used += cost;
        replaced
    }

    /// Forget `hash`; its cost, if it was indexed.
    pub(crate) fn remove(&mut self, hash: u64) -> Option<u64> {
        let e = self.map.remove(&hash)?;
        self.lru.remove(&e.generation);
        self.used -= e.cost;
        Some(e.cost)
    }

    /// Forget and return the least recently used entry's hash.
    pub(crate) fn pop_oldest(&mut self) -> Option<u64> {
        let (_, hash) = self.lru.pop_first()?;
        if let Some(e) = self.map.remove(&hash) {
            self.used -= e.cost;
        }
        Some(hash)
    }

    /// Is there room for `more` bytes now?
    pub(crate) fn fits(&self, more: u64) -> bool {
        self.bytes().saturating_add(more) <= self.budget
    }

    /// Would `more` fit if every entry were evicted?
    pub(crate) fn fits_reserved(&self, more: u64) -> bool {
        self.reserved.saturating_add(more) <= self.budget
    }

    /// Is the entry count over the memory bound (after one more)?
    pub(crate) fn over_count(&self, more: usize) -> bool {
        self.map.len() + more > self.max_entries
    }

    /// Hold `n` bytes for a file being written (the caller made room).
    pub(crate) fn reserve(&mut self, n: u64) {
        self.reserved += n;
    }

    /// Give back `n` reserved bytes.
    pub(crate) fn release(&mut self, n: u64) {
        self.reserved = self.reserved.saturating_sub(n);
    }

    /// The byte budget.
    pub(crate) fn budget(&self) -> u64 {
        self.budget
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lru_order_and_accounting() {
        let mut ix = Index::new(100, 10);
        assert!(!ix.insert(1, 10));
        ix.insert(2, 20);
        ix.insert(3, 30);
        assert_eq!(ix.bytes(), 60);
        assert!(ix.touch(1));
        assert!(!ix.touch(9));
        assert_eq!(ix.pop_oldest(), Some(2));
        assert_eq!(ix.pop_oldest(), Some(3));
        assert!(ix.insert(1, 15), "replacing keeps one entry");
        assert_eq!((ix.len(), ix.bytes()), (1, 15));
        ix.reserve(80);
        assert!(ix.fits(5) && !ix.fits(6));
        ix.release(80);
        assert_eq!(ix.remove(1), Some(15));
        assert_eq!((ix.len(), ix.bytes(), ix.pop_oldest()), (0, 0, None));
        let mut small = Index::new(100, 2);
        small.insert(1, 1);
        assert!(!small.over_count(1));
        small.insert(2, 1);
        assert!(small.over_count(1));
    }
}
