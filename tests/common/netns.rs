//! Network namespaces a test makes for itself (root and `ip netns` only):
//! `Lan` is a "router" namespace joined to a "LAN client" namespace by a
//! veth pair, with addresses from the benchmark ranges (198.18.0.0/15 and
//! 2001:2::/48) on the veth only, so nothing reaches a real network.
//! `Lan::with_wan` adds an "internet" namespace behind the router (which
//! then routes between the two), in 198.19.0.0/16, for origins that are
//! not on the router itself.
//! `in_ns` runs a closure on a thread moved into a namespace: sockets it
//! creates (listeners, connections) live there and may then be used from
//! any thread. Everything is deleted when the `Lan` is dropped.

use std::fs::File;
use std::os::fd::AsFd;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

/// Run `cmd` with `sh -c`; its stderr is the error.
pub fn sh(cmd: &str) -> Result<(), String> {
    let out = Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .output()
        .map_err(|e| e.to_string())?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{cmd}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// Run `f` on a thread inside the network namespace `ns`.
pub fn in_ns<T: Send>(ns: &str, f: impl FnOnce() -> T + Send) -> T {
    let path = format!("/var/run/netns/{ns}");
    std::thread::scope(|s| {
        s.spawn(|| {
            let file = File::open(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
            rustix::thread::move_into_link_name_space(
                file.as_fd(),
                Some(rustix::thread::LinkNameSpaceType::Network),
            )
            .unwrap_or_else(|e| panic!("setns {path}: {e}"));
            f()
        })
        .join()
        .unwrap()
    })
}

/// A router namespace and a LAN client namespace joined by a veth pair.
pub struct Lan {
    /// The router (where the proxy, its firewall and the origins run).
    pub router: String,
    /// The LAN client.
    pub client: String,
    /// The router's address on the veth: `198.18.N.1`.
    pub router_v4: String,
    /// The client's: `198.18.N.2`.
    pub client_v4: String,
    /// The router's IPv6 address on the veth: `2001:2:0:N::1`.
    pub router_v6: String,
    /// The "internet" namespace behind the router, when made.
    pub wan: Option<String>,
    /// Its address: `198.19.N.2`.
    pub wan_v4: String,
    /// The router's address on that side: `198.19.N.1`.
    pub router_wan_v4: String,
}

static NEXT: AtomicU32 = AtomicU32::new(0);

impl Lan {
    /// Make both namespaces and the veth pair between them; fails loudly
    /// (panics) where namespaces cannot be made.
    pub fn new() -> Lan {
        let n = NEXT.fetch_add(1, Ordering::SeqCst);
        let tag = format!("{}x{n}", std::process::id() % 100_000);
        let net = n % 250 + 1;
        let lan = Lan {
            router: format!("sptr{tag}"),
            client: format!("sptc{tag}"),
            router_v4: format!("198.18.{net}.1"),
            client_v4: format!("198.18.{net}.2"),
            router_v6: format!("2001:2:0:{net:x}::1"),
            wan: None,
            wan_v4: format!("198.19.{net}.2"),
            router_wan_v4: format!("198.19.{net}.1"),
        };
        lan.setup(net).unwrap_or_else(|e| {
            panic!(
                "this test needs network namespaces (root and `ip netns`, CAP_NET_ADMIN), \
                 and making one failed: {e}"
            )
        });
        lan
    }

    fn setup(&self, net: u32) -> Result<(), String> {
        let (r, c) = (&self.router, &self.client);
        sh(&format!("ip netns add {r}"))?;
        sh(&format!("ip netns add {c}"))?;
        sh(&format!(
            "ip -n {r} link add lan0 type veth peer name eth0 netns {c}"
        ))?;
        let v6c = format!("2001:2:0:{net:x}::2");
        sh(&format!(
            "ip -n {r} link set lo up && ip -n {r} link set lan0 up && \
             ip -n {r} addr add {}/24 dev lan0 && ip -n {r} addr add {}/64 dev lan0 nodad",
            self.router_v4, self.router_v6
        ))?;
        sh(&format!(
            "ip -n {c} link set lo up && ip -n {c} link set eth0 up && \
             ip -n {c} addr add {}/24 dev eth0 && ip -n {c} addr add {v6c}/64 dev eth0 nodad",
            self.client_v4
        ))
    }

    /// The same with an "internet" namespace behind the router: the client
    /// routes through the router, which forwards between its two sides.
    pub fn with_wan() -> Lan {
        let mut lan = Lan::new();
        let w = lan.router.replace("sptr", "sptw");
        lan.wan = Some(w.clone());
        let r = &lan.router;
        let net = lan.wan_v4.split('.').nth(2).unwrap().to_string();
        let steps = [
            format!("ip netns add {w}"),
            format!("ip -n {r} link add wan0 type veth peer name eth0 netns {w}"),
            format!(
                "ip -n {r} link set wan0 up && ip -n {r} addr add {}/24 dev wan0",
                lan.router_wan_v4
            ),
            format!(
                "ip -n {w} link set lo up && ip -n {w} link set eth0 up && \
                 ip -n {w} addr add {}/24 dev eth0 && ip -n {w} route add 198.18.{net}.0/24 via {}",
                lan.wan_v4, lan.router_wan_v4
            ),
            format!("ip netns exec {r} sysctl -qw net.ipv4.ip_forward=1"),
            format!(
                "ip -n {} route add default via {}",
                lan.client, lan.router_v4
            ),
        ];
        for step in steps {
            sh(&step).unwrap_or_else(|e| panic!("making the WAN side failed: {e}"));
        }
        lan
    }

    /// Load an nftables ruleset (text) into the router namespace.
    pub fn nft(&self, rules: &str) {
        let file = super::files::TempFile::new("nft", rules);
        sh(&format!(
            "ip netns exec {} nft -f {}",
            self.router,
            file.path().display()
        ))
        .unwrap_or_else(|e| panic!("nft (make test-deps installs nftables): {e}"));
    }

    /// Run a command in the client namespace; its output, or why not.
    pub fn client_run(&self, args: &[&str]) -> std::process::Output {
        Command::new("ip")
            .args(["netns", "exec", &self.client])
            .args(args)
            .output()
            .expect("ip")
    }
}

impl Drop for Lan {
    fn drop(&mut self) {
        if let Some(w) = &self.wan {
            let _ = sh(&format!("ip netns del {w}"));
        }
        let _ = sh(&format!("ip netns del {}", self.client));
        let _ = sh(&format!("ip netns del {}", self.router));
    }
}
