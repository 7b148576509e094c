//! The proxy's own answers, for requests addressed to the proxy itself
//! rather than through it: the dashboard and the last hop (`pages`),
//! `/status.json` (`status`), `/metrics` (`metrics`, with the `process`
//! figures from `/proc`) and the PAC script (`pac`). [`respond`] takes the
//! counters' snapshot only for the pages that show it; `cache` adds the
//! shared cache's figures to the first three.

pub mod cache;
pub mod metrics;
pub mod pac;
pub mod pages;
pub mod process;
pub mod status;

use std::net::SocketAddr;

use crate::http::head::Head;
use crate::http::reply::{simple_response, typed_response};
use crate::stats::{CacheStats, Stats};
use pages::Page;

/// What the own pages show, beside the request.
pub(crate) struct View<'a> {
    /// The counters.
    pub(crate) stats: &'a Stats,
    /// Client connections open now.
    pub(crate) connections: usize,
    /// The proxy's address as this client reached it (the accepted
    /// socket's local address), for the PAC script.
    pub(crate) reached: SocketAddr,
    /// `--pac-direct` domains.
    pub(crate) pac_direct: &'a [String],
    /// The shared cache's figures, with `--cache-dir`.
    pub(crate) cache: Option<CacheStats>,
    /// The HTTPS inspection CA (PEM) when `--inspect` is on.
    pub(crate) ca_pem: Option<&'a str>,
    /// The first `--tls-listen` port, for the PAC's `HTTPS` entry.
    pub(crate) https_port: Option<u16>,
}

/// The status and the complete response for `page`, answering `head`.
pub(crate) fn respond(page: Page, head: &Head, view: &View<'_>) -> (u16, Vec<u8>) {
    if let Some(answer) = pages::plain(page, head) {
        return answer;
    }
    let version = env!("CARGO_PKG_VERSION");
    let snapshot = || {
        let minute = view.stats.minute_now();
        let mut s = view
            .stats
            .snapshot(view.connections, minute, pages::TOP_ROWS);
        s.cache = view.cache;
        s
    };
    // Always None without TLS: the CA's code is left out of that build.
    let ca_pem = view.ca_pem.filter(|_| cfg!(feature = "tls"));
    let (ctype, body) = match page {
        Page::Dashboard => (
            "text/html; charset=utf-8",
            pages::dashboard(&snapshot(), version, ca_pem.is_some()),
        ),
        Page::CaPem => match ca_pem {
            // The type Android and iOS offer to install as a CA.
            Some(pem) => ("application/x-x509-ca-cert", pem.to_string()),
            None => {
                let body = "smolproxy: no CA here (HTTPS inspection is off)\n";
                return (404, simple_response(404, "", body, head.method != "HEAD"));
            }
        },
        Page::StatusJson => ("application/json", status::render(&snapshot(), version)),
        Page::Metrics => (
            metrics::CONTENT_TYPE,
            metrics::render(&snapshot(), &process::read(), version),
        ),
        _ => (
            pac::CONTENT_TYPE,
            pac::render(
                view.reached,
                view.pac_direct,
                // Always None without TLS: the entry's code is left out.
                view.https_port
                    .filter(|_| cfg!(feature = "tls"))
                    .map(|port| pac::https_entry(head.value("host"), view.reached, port))
                    .as_deref(),
            ),
        ),
    };
    let with_body = head.method != "HEAD";
    (
        200,
        typed_response(200, ctype, "", body.as_bytes(), with_body),
    )
}
