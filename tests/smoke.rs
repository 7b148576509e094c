//! The harness itself: a GET through the proxy reaches the echo origin.
mod common;

use common::client::get;
use common::origin::Origin;

#[test]
fn get_reaches_origin() {
    let origin = Origin::echo();
    let proxy = common::start();
    let r = proxy.roundtrip(&get(&origin.url("/hello")));
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), "GET /hello\n");
}
