//! The shared HTTP cache (issue 11): `store` keeps entries on disk.

// Used by the cache layer (cache/mod.rs, helper C-C) once merged.
#[allow(dead_code, unused_imports)]
pub(crate) mod store;
