//! Pure HTTP/1.x: no I/O lives here. Every function takes bytes or a parsed
//! head and returns values, so the rules are tested as tables. In the order
//! a message meets them: its head, its target, its framing and chunked
//! body, the head the proxy forwards, and the proxy's own replies.

pub mod head;
pub mod target;
pub mod framing;
pub mod chunked;
pub mod rewrite;
pub(crate) mod reply;
