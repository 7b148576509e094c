//! The proxy's own answers, for requests addressed to the proxy itself
//! rather than through it.

pub mod pages;
