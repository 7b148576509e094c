//! `--dns-server`: the proxy's own DNS client against a scripted server on
//! loopback (tests/common/dns.rs): answers used and cached by TTL (cache
//! hits are questions the server never saw), negative answers cached,
//! truncation → TCP, CNAME chains, a slow answer, a silent server skipped,
//! wrong-ID and forged-port replies ignored, the hosts file first and
//! re-read on reload, and the flag's usage error.
mod common;

use std::net::IpAddr;
use std::time::{Duration, Instant};

use common::client::get;
use common::dns::{A, AAAA, DnsServer, Script};
use common::files::TempFile;
use common::origin::Origin;
use common::{Proxy, bin, test_config};

fn lo() -> IpAddr {
    "127.0.0.1".parse().unwrap()
}

/// A proxy using `servers` and the hosts file `hosts` (never /etc/hosts).
fn proxy(servers: &[&DnsServer], hosts: &TempFile) -> Proxy {
    let mut c = test_config();
    c.dns_servers = servers.iter().map(|s| s.addr).collect();
    c.hosts_file = hosts.path().to_path_buf();
    smolproxy::logger::init(log::LevelFilter::Warn);
    // No injected resolver: the DNS client is the one in use.
    Proxy::new(smolproxy::server::bind(c).unwrap().start().unwrap())
}

fn fetch(p: &Proxy, origin: &Origin, host: &str) -> (u16, String) {
    let r = p.roundtrip(&get(&format!("http://{host}:{}/x", origin.addr.port())));
    (r.status, r.text())
}

#[test]
fn answers_are_used_and_cached_by_ttl() {
    let dns = DnsServer::start(&[("a.test", Script::Addrs(vec![lo()], 2))]);
    let hosts = TempFile::new("hosts", "");
    let p = proxy(&[&dns], &hosts);
    let origin = Origin::echo();
    let asked = || {
        (
            dns.count("a.test", A, "udp"),
            dns.count("a.test", AAAA, "udp"),
        )
    };
    assert_eq!(fetch(&p, &origin, "a.test"), (200, "GET /x\n".into()));
    let first = asked();
    assert!(first.0 >= 1 && first.1 >= 1, "{first:?}");
    assert_eq!(fetch(&p, &origin, "A.Test").0, 200);
    assert_eq!(asked(), first, "answered from the cache");
    // After the 2 s TTL the name is asked again (the NODATA for AAAA
    // carried the same 2 s).
    std::thread::sleep(Duration::from_millis(2100));
    // Another origin port: the idle connection to the first one may be
    // reused from the pool without a lookup, a new dial needs one.
    let other = Origin::echo();
    assert_eq!(fetch(&p, &other, "a.test").0, 200);
    let again = asked();
    assert!(
        again.0 > first.0 && again.1 > first.1,
        "{first:?} then {again:?}"
    );
}

/// Run `fetch_once` three times: the first asks the server for A and AAAA
/// (at least once each: a datagram retried on a busy machine counts
/// twice), the later ones ask nothing, the answer being kept.
fn asked_only_by_the_first(dns: &DnsServer, name: &str, mut fetch_once: impl FnMut()) {
    let asked = || (dns.count(name, A, "udp"), dns.count(name, AAAA, "udp"));
    fetch_once();
    let first = asked();
    assert!(first.0 >= 1 && first.1 >= 1, "{first:?}");
    fetch_once();
    fetch_once();
    assert_eq!(asked(), first, "{name} was kept: nothing asked again");
}

#[test]
fn nxdomain_is_cached_negatively() {
    let dns = DnsServer::start(&[("nx.test", Script::NxDomain(60))]);
    let hosts = TempFile::new("hosts", "");
    let p = proxy(&[&dns], &hosts);
    let origin = Origin::echo();
    asked_only_by_the_first(&dns, "nx.test", || {
        let (status, text) = fetch(&p, &origin, "nx.test");
        assert_eq!(status, 502);
        assert!(
            text.contains("could not resolve host nx.test: no such host"),
            "{text}"
        );
    });
}

#[test]
fn nodata_without_soa_is_kept_briefly() {
    // A household router that knows only an IPv4 address answers AAAA
    // with an empty NOERROR and no SOA: without a short cache every new
    // connection would ask again.
    let v4only = Script::NoSoa(Box::new(Script::Addrs(vec![lo()], 3600)));
    let dns = DnsServer::start(&[("v4.test", v4only)]);
    let hosts = TempFile::new("hosts", "");
    let p = proxy(&[&dns], &hosts);
    let origin = Origin::echo();
    asked_only_by_the_first(&dns, "v4.test", || {
        assert_eq!(fetch(&p, &origin, "v4.test").0, 200);
    });
}

#[test]
fn truncated_answers_are_asked_again_over_tcp() {
    let dns = DnsServer::start(&[(
        "big.test",
        Script::Truncate(Box::new(Script::Addrs(vec![lo()], 60))),
    )]);
    let hosts = TempFile::new("hosts", "");
    let p = proxy(&[&dns], &hosts);
    let origin = Origin::echo();
    assert_eq!(fetch(&p, &origin, "big.test").0, 200);
    // A datagram retried on a busy machine may be asked twice; what
    // matters is that the truncated answer sent the question over TCP.
    let (udp, tcp) = (
        dns.count("big.test", A, "udp"),
        dns.count("big.test", A, "tcp"),
    );
    assert!(udp >= 1 && (1..=udp).contains(&tcp), "udp {udp}, tcp {tcp}");
}

#[test]
fn cname_chains_inside_the_answer_are_followed() {
    let dns = DnsServer::start(&[(
        "alias.test",
        Script::Cname("real.test".into(), Box::new(Script::Addrs(vec![lo()], 60))),
    )]);
    let hosts = TempFile::new("hosts", "");
    let p = proxy(&[&dns], &hosts);
    assert_eq!(fetch(&p, &Origin::echo(), "alias.test").0, 200);
    assert_eq!(dns.count("real.test", A, "udp"), 0, "no second question");
}

#[test]
fn slow_answers_are_waited_for_and_a_silent_server_is_skipped() {
    let slow = Script::Slow(
        Duration::from_millis(500),
        Box::new(Script::Addrs(vec![lo()], 60)),
    );
    let dns = DnsServer::start(&[("slow.test", slow)]);
    let hosts = TempFile::new("hosts", "");
    let origin = Origin::echo();
    let p = proxy(&[&dns], &hosts);
    let start = Instant::now();
    assert_eq!(fetch(&p, &origin, "slow.test").0, 200);
    assert!(start.elapsed() >= Duration::from_millis(500));
    // A first server that never answers: each family asks it twice
    // (2 s each), then the second server.
    let silent = DnsServer::start(&[("b.test", Script::Silent)]);
    let good = DnsServer::start(&[("b.test", Script::Addrs(vec![lo()], 60))]);
    let p = proxy(&[&silent, &good], &hosts);
    let start = Instant::now();
    assert_eq!(fetch(&p, &origin, "b.test").0, 200);
    let took = start.elapsed();
    assert!(
        took >= Duration::from_secs(4) && took < Duration::from_secs(7),
        "{took:?}"
    );
    assert_eq!(
        (
            silent.count("b.test", A, "udp"),
            good.count("b.test", A, "udp")
        ),
        (2, 1)
    );
}

#[test]
fn wrong_id_and_forged_port_replies_are_ignored() {
    // The bad replies point at 127.0.0.9, where nothing listens.
    let bad: IpAddr = "127.0.0.9".parse().unwrap();
    let script = Script::Spoofed(
        bad,
        Box::new(Script::Slow(
            Duration::from_millis(100),
            Box::new(Script::Addrs(vec![lo()], 60)),
        )),
    );
    let dns = DnsServer::start(&[("s.test", script)]);
    let hosts = TempFile::new("hosts", "");
    let p = proxy(&[&dns], &hosts);
    assert_eq!(
        fetch(&p, &Origin::echo(), "s.test"),
        (200, "GET /x\n".into())
    );
}

#[test]
fn the_hosts_file_comes_first_and_is_read_again_on_reload() {
    let dns = DnsServer::start(&[]);
    let hosts = TempFile::new("hosts", "127.0.0.1 h.test # here\n");
    let p = proxy(&[&dns], &hosts);
    let origin = Origin::echo();
    assert_eq!(fetch(&p, &origin, "h.test").0, 200);
    assert_eq!(
        dns.count("h.test", A, "udp") + dns.count("h.test", AAAA, "udp"),
        0
    );
    hosts.write("127.0.0.1 other.test\n");
    p.reload();
    assert_eq!(fetch(&p, &origin, "h.test").0, 502);
    assert_eq!(fetch(&p, &origin, "other.test").0, 200);
    assert!(dns.count("h.test", A, "udp") >= 1, "asked the server now");
}

#[test]
fn flag_usage_error() {
    let out = bin::run(&["--dns-server", "nowhere"], &[]);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr
            .contains("--dns-server: invalid address 'nowhere'"),
        "{}",
        out.stderr
    );
}
