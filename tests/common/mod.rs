//! The test harness's root: the real proxy started in-process on
//! 127.0.0.1:0 (`start`, `start_with`, `launch`, `Proxy`) with a resolver
//! that knows only `localhost` (no test ever reaches a DNS server), the
//! test configuration, the polling and descriptor helpers every test file
//! uses, and the library paths the tests name (re-exported once, here).
//! Everything else lives in the submodules, each owning one kind of helper.
//!
//! Each test binary declares `mod common;` and uses only part of it, so an
//! item that one binary uses is dead code in another. The one allowance
//! for that is below; it covers only this tree, not the test files.
#![allow(dead_code)]

pub mod bin;
pub mod capture;
pub mod client;
pub mod dns;
pub mod files;
pub mod netns;
pub mod origin;
pub mod pki;
pub mod socks;
pub mod strict;

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use client::Response;
use smolproxy::server::Handle;
use smolproxy::upstream::{Lookup, Resolver};

// The library paths the test files name, in one place: a rename in src/
// is fixed up here rather than across the test files. Each test binary
// uses only some of them, hence the allowance.
#[allow(unused_imports)]
pub use smolproxy::{
    config::Config,
    policy::{Cidr, ConnectPorts, PolicyConfig, Secret},
    upstream::chain::{Credentials, Parent},
};

/// How long any test socket waits for a byte before failing the test.
pub const IO_WAIT: Duration = Duration::from_secs(10);

/// A running in-process proxy.
pub struct Proxy {
    pub handle: Handle,
    pub addr: SocketAddr,
}

/// The test resolver: `localhost` → 127.0.0.1; `slow.test` never answers;
/// everything else fails as NXDOMAIN would.
pub fn test_resolver() -> Resolver {
    Arc::new(|host: &str, port: u16| {
        let host = host.to_string();
        Box::pin(async move {
            match host.as_str() {
                "localhost" => Ok(vec![SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port)]),
                "slow.test" => {
                    smol::Timer::after(Duration::from_secs(3600)).await;
                    Ok(vec![])
                }
                _ => Err(io::Error::new(io::ErrorKind::NotFound, "name not found")),
            }
        }) as Lookup
    })
}

/// The pause before a 407 for wrong credentials in tests: long enough to
/// measure on loopback, short enough not to slow the suite (the default,
/// 1 s, is checked by the config unit tests).
pub const AUTH_FAIL_DELAY: Duration = Duration::from_millis(200);

/// A config for tests: loopback port 0, any CONNECT port, quiet logs.
pub fn test_config() -> Config {
    let mut c = Config {
        listen: vec!["127.0.0.1:0".parse().unwrap()],
        threads: 2,
        drain_timeout: Duration::from_secs(2),
        auth_fail_delay: AUTH_FAIL_DELAY,
        ..Config::default()
    };
    c.policy.connect_ports = ConnectPorts::Any;
    c
}

/// Bind `c` (which must succeed) and start serving with the test
/// resolver. Sets up no logging: that is the caller's (see `start_with`).
pub fn launch(c: Config) -> Result<Handle, smolproxy::server::StartError> {
    smolproxy::server::bind(c)
        .expect("bind")
        .with_resolver(test_resolver())
        .start()
}

/// Start the proxy with `c`, logging warnings and errors.
pub fn start_with(c: Config) -> Proxy {
    smolproxy::logger::init(log::LevelFilter::Warn);
    Proxy::new(launch(c).expect("start"))
}

/// Start the proxy with `test_config()`.
pub fn start() -> Proxy {
    start_with(test_config())
}

impl Proxy {
    /// The proxy behind `handle`, reached on its first address.
    pub fn new(handle: Handle) -> Proxy {
        let addr = handle.addrs()[0];
        Proxy { handle, addr }
    }

    /// A raw connection to the proxy.
    pub fn connect(&self) -> TcpStream {
        client::dial(self.addr)
    }

    /// Send `req` on a new connection, read one response.
    pub fn roundtrip(&self, req: &[u8]) -> Response {
        client::send(self.addr, req)
    }

    /// Re-read the policy's files, as SIGHUP does in the binary.
    pub fn reload(&self) {
        self.handle.reload();
    }
}

/// A loopback port that was free a moment ago.
pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// Count this process's open file descriptors.
pub fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .map(|d| d.count())
        .unwrap_or(0)
}

/// Poll `cond` every 20 ms for up to `limit`.
pub fn eventually(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + limit;
    while Instant::now() < end {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    cond()
}

/// A listener whose accept queue is full: further SYNs are dropped, so a
/// connect hangs until its timeout. Returns the listener and the sockets
/// that fill it (kept open).
pub fn full_backlog() -> Option<(std::net::TcpListener, Vec<TcpStream>)> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let mut fill = Vec::new();
    for _ in 0..5000 {
        match TcpStream::connect_timeout(&addr, Duration::from_millis(300)) {
            Ok(s) => fill.push(s),
            Err(_) => return Some((l, fill)),
        }
    }
    None
}
