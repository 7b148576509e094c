//! The shared HTTP cache (issue 11): `fresh` holds the RFC 9111 rules.
#[allow(dead_code, unused_imports)] // until cache/mod.rs's integration (branch feat-cache) uses every rule
pub(crate) mod fresh;
