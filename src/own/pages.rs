//! The pages the proxy serves itself: a short status page for a request
//! to the proxy (origin-form or `*`) instead of forwarding it to itself in
//! a loop, and the answer to a TRACE or OPTIONS whose Max-Forwards reached
//! zero (RFC 9110 §7.6.2). Pure: a page and the request in, bytes out.

use crate::http::head::Head;
use crate::http::reply::{simple_response, typed_response};
use crate::http::rewrite::trace_body;

/// Methods the proxy passes on, for `Allow`.
const ALLOW: &str = "Allow: GET, HEAD, POST, PUT, DELETE, PATCH, OPTIONS, TRACE, CONNECT\r\n";

/// Which of its own pages the proxy answers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Page {
    /// A request for the proxy itself (origin-form or `*`).
    Status,
    /// A TRACE or OPTIONS with `Max-Forwards: 0`: the proxy is its final
    /// recipient.
    LastHop,
}

/// The status and the complete response for `page`, answering `head`.
pub(crate) fn render(page: Page, head: &Head) -> (u16, Vec<u8>) {
    match page {
        Page::LastHop if head.method == "TRACE" => {
            let body = trace_body(head);
            (200, typed_response(200, "message/http", "", &body, true))
        }
        Page::LastHop => {
            let r = typed_response(200, "text/plain; charset=utf-8", ALLOW, b"", true);
            (200, r)
        }
        Page::Status => {
            let (status, body) = match (head.method.as_str(), head.target.as_str()) {
                ("GET" | "HEAD", "/") => (
                    200,
                    format!(
                        "smolproxy {} is running.\nSet it as the HTTP and HTTPS proxy of your \
                         browser or system, or use curl -x http://HOST:PORT URL.\n",
                        env!("CARGO_PKG_VERSION")
                    ),
                ),
                _ => (
                    404,
                    "smolproxy: this is a proxy; send absolute-form requests \
                     (http://host/path) or CONNECT\n"
                        .to_string(),
                ),
            };
            let r = simple_response(status, "", &body, head.method != "HEAD");
            (status, r)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::head::test_request as req;

    #[test]
    fn pages() {
        let cases = [
            (Page::Status, "GET / HTTP/1.1\r\n\r\n", 200, "is running"),
            (
                Page::Status,
                "HEAD / HTTP/1.1\r\n\r\n",
                200,
                "Content-Length",
            ),
            (
                Page::Status,
                "GET /x HTTP/1.1\r\n\r\n",
                404,
                "this is a proxy",
            ),
            (
                Page::Status,
                "OPTIONS * HTTP/1.1\r\n\r\n",
                404,
                "this is a proxy",
            ),
            (
                Page::LastHop,
                "OPTIONS http://a/ HTTP/1.1\r\nMax-Forwards: 0\r\n\r\n",
                200,
                "Allow: GET",
            ),
            (
                Page::LastHop,
                "TRACE http://a/ HTTP/1.1\r\nMax-Forwards: 0\r\nCookie: c\r\n\r\n",
                200,
                "message/http",
            ),
        ];
        for (page, raw, status, has) in cases {
            let (s, bytes) = render(page, &req(raw));
            let text = String::from_utf8(bytes).unwrap();
            assert_eq!(s, status, "{raw:?}");
            assert!(text.contains(has), "{raw:?}: {text}");
            assert!(!text.contains("Cookie: c"), "TRACE leaves cookies out");
        }
        let (_, head_only) = render(Page::Status, &req("HEAD / HTTP/1.1\r\n\r\n"));
        assert!(head_only.ends_with(b"\r\n\r\n"), "no body for HEAD");
    }
}
