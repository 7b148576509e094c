//! A scripted DNS server on 127.0.0.1 (UDP and TCP on the same port) for
//! the `--dns-server` tests, with its own small encoder (independent of
//! the proxy's parser). Each name has a `Script`; every question is
//! counted per (name, type, transport), so tests see cache hits as
//! questions that never arrived.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, UdpSocket};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub const A: u16 = 1;
pub const AAAA: u16 = 28;

/// What the server does with a name.
#[derive(Clone, Debug)]
pub enum Script {
    /// These addresses (of the asked type) with this TTL; none = NODATA
    /// with an SOA whose minimum is the TTL.
    Addrs(Vec<IpAddr>, u32),
    /// NXDOMAIN with an SOA whose minimum is this.
    NxDomain(u32),
    /// NODATA without any SOA (as some home routers answer AAAA for a
    /// name they know only an IPv4 address of); the inner script for the
    /// types it has addresses of.
    NoSoa(Box<Script>),
    /// Over UDP: TC=1 and nothing else; over TCP: the inner script.
    Truncate(Box<Script>),
    /// Answer after this pause.
    Slow(Duration, Box<Script>),
    /// First a reply with the wrong ID (pointing at the first address
    /// given), then a forged reply with the right ID from another port,
    /// then the real one.
    Spoofed(IpAddr, Box<Script>),
    /// A CNAME to the other name in the same answer, then its script.
    Cname(String, Box<Script>),
    /// Never answer.
    Silent,
}

/// Questions seen: (name, type, transport) → how many.
type Asked = Mutex<HashMap<(String, u16, &'static str), usize>>;

pub struct DnsServer {
    pub addr: SocketAddr,
    pub asked: Arc<Asked>,
}

type Scripts = Arc<HashMap<String, Script>>;

impl DnsServer {
    pub fn start(scripts: &[(&str, Script)]) -> DnsServer {
        let scripts: Scripts = Arc::new(
            scripts
                .iter()
                .map(|(n, s)| (n.to_string(), s.clone()))
                .collect(),
        );
        // One port for both: a free TCP port whose UDP twin is free too
        // (bounded retries).
        let (tcp, udp) = (0..100)
            .find_map(|_| {
                let tcp = TcpListener::bind("127.0.0.1:0").ok()?;
                let udp = UdpSocket::bind(tcp.local_addr().ok()?).ok()?;
                Some((tcp, udp))
            })
            .expect("a loopback port free for both TCP and UDP");
        let addr = udp.local_addr().unwrap();
        let asked: Arc<Asked> = Arc::default();
        let (s2, a2) = (scripts.clone(), asked.clone());
        std::thread::spawn(move || {
            let mut buf = [0u8; 512];
            while let Ok((n, from)) = udp.recv_from(&mut buf) {
                let q = buf[..n].to_vec();
                let (udp, s2, a2) = (udp.try_clone().unwrap(), s2.clone(), a2.clone());
                std::thread::spawn(move || {
                    for reply in answer(&q, &s2, &a2, "udp") {
                        if reply.first() == Some(&0xfe) {
                            let forger = UdpSocket::bind("127.0.0.1:0").unwrap();
                            let _ = forger.send_to(&reply[1..], from);
                        } else {
                            let _ = udp.send_to(&reply, from);
                        }
                    }
                });
            }
        });
        let (s3, a3) = (scripts, asked.clone());
        std::thread::spawn(move || {
            for mut c in tcp.incoming().flatten() {
                let (s3, a3) = (s3.clone(), a3.clone());
                std::thread::spawn(move || {
                    let mut len = [0u8; 2];
                    if c.read_exact(&mut len).is_err() {
                        return;
                    }
                    let mut q = vec![0u8; usize::from(u16::from_be_bytes(len))];
                    if c.read_exact(&mut q).is_err() {
                        return;
                    }
                    for reply in answer(&q, &s3, &a3, "tcp") {
                        if reply.first() == Some(&0xfe) {
                            continue;
                        }
                        let mut m = (reply.len() as u16).to_be_bytes().to_vec();
                        m.extend_from_slice(&reply);
                        let _ = c.write_all(&m);
                    }
                });
            }
        });
        DnsServer { addr, asked }
    }

    /// How often (name, type) was asked over `transport` ("udp"/"tcp").
    pub fn count(&self, name: &str, qtype: u16, transport: &'static str) -> usize {
        let m = self.asked.lock().unwrap();
        m.get(&(name.to_string(), qtype, transport))
            .copied()
            .unwrap_or(0)
    }
}

/// The question's name (lower-cased), type, and where the question ends.
fn question(q: &[u8]) -> Option<(String, u16, usize)> {
    let mut at = 12;
    let mut labels = Vec::new();
    loop {
        let len = usize::from(*q.get(at)?);
        if len == 0 {
            break;
        }
        labels.push(String::from_utf8_lossy(q.get(at + 1..at + 1 + len)?).to_ascii_lowercase());
        at += 1 + len;
    }
    let qtype = u16::from_be_bytes([*q.get(at + 1)?, *q.get(at + 2)?]);
    Some((labels.join("."), qtype, at + 5))
}

/// The messages to send for query `q` (a leading 0xfe marks a forged one).
fn answer(
    q: &[u8],
    scripts: &HashMap<String, Script>,
    asked: &Asked,
    transport: &'static str,
) -> Vec<Vec<u8>> {
    let Some((name, qtype, end)) = question(q) else {
        return vec![];
    };
    *asked
        .lock()
        .unwrap()
        .entry((name.clone(), qtype, transport))
        .or_default() += 1;
    let script = scripts.get(&name).cloned().unwrap_or(Script::NxDomain(60));
    let mut out = Vec::new();
    build(
        &q[..end],
        qtype,
        &script,
        transport,
        &mut Vec::new(),
        &mut out,
    );
    out
}

/// Build the reply to `qhead` (header + question) under `script`;
/// `chain` holds a CNAME record already written.
fn build(
    qhead: &[u8],
    qtype: u16,
    script: &Script,
    transport: &str,
    chain: &mut Vec<u8>,
    out: &mut Vec<Vec<u8>>,
) {
    let msg = |flags: u16, an: u16, ns: u16, records: &[u8]| {
        let mut m = qhead.to_vec();
        m[2..4].copy_from_slice(&flags.to_be_bytes());
        m[6..8].copy_from_slice(&an.to_be_bytes());
        m[8..10].copy_from_slice(&ns.to_be_bytes());
        m[10..12].copy_from_slice(&[0, 0]);
        m.extend_from_slice(records);
        m
    };
    let cnames = u16::from(!chain.is_empty());
    let soa = |min: u32| {
        let mut r = vec![0xc0, 0x0c, 0, 6, 0, 1, 0, 0, 0, 60];
        let data = [&[0u8, 0][..], &[0; 16], &min.to_be_bytes()].concat();
        r.extend_from_slice(&(data.len() as u16).to_be_bytes());
        r.extend_from_slice(&data);
        r
    };
    match script {
        Script::Addrs(ips, ttl) => {
            let mut records = chain.clone();
            let mut n = 0;
            for ip in ips {
                let (t, data) = match ip {
                    IpAddr::V4(v) => (A, v.octets().to_vec()),
                    IpAddr::V6(v) => (AAAA, v.octets().to_vec()),
                };
                if t != qtype {
                    continue;
                }
                // With a CNAME before it, the owner is the CNAME's target,
                // written at offset `target_at` (see Script::Cname).
                if chain.is_empty() {
                    records.extend_from_slice(&[0xc0, 0x0c]);
                } else {
                    let at = qhead.len() + 12;
                    records.extend_from_slice(&[0xc0 | (at >> 8) as u8, at as u8]);
                }
                records.extend_from_slice(&t.to_be_bytes());
                records.extend_from_slice(&[0, 1]);
                records.extend_from_slice(&ttl.to_be_bytes());
                records.extend_from_slice(&(data.len() as u16).to_be_bytes());
                records.extend_from_slice(&data);
                n += 1;
            }
            if n == 0 {
                records.extend_from_slice(&soa(*ttl));
                out.push(msg(0x8180, cnames, 1, &records));
            } else {
                out.push(msg(0x8180, cnames + n, 0, &records));
            }
        }
        Script::NxDomain(min) => out.push(msg(0x8183, 0, 1, &soa(*min))),
        Script::NoSoa(inner) => {
            let has = |ip: &IpAddr| {
                if ip.is_ipv4() {
                    A == qtype
                } else {
                    AAAA == qtype
                }
            };
            match &**inner {
                Script::Addrs(ips, _) if !ips.iter().any(has) => {
                    out.push(msg(0x8180, 0, 0, &[]));
                }
                other => build(qhead, qtype, other, transport, chain, out),
            }
        }
        Script::Truncate(_) if transport == "udp" => out.push(msg(0x8380, 0, 0, &[])),
        Script::Truncate(inner) => build(qhead, qtype, inner, transport, chain, out),
        Script::Slow(d, inner) => {
            std::thread::sleep(*d);
            build(qhead, qtype, inner, transport, chain, out);
        }
        Script::Spoofed(bad, inner) => {
            let mut wrong = Vec::new();
            build(
                qhead,
                qtype,
                &Script::Addrs(vec![*bad], 60),
                transport,
                chain,
                &mut wrong,
            );
            for mut w in wrong {
                let forged = [&[0xfe][..], &w].concat();
                w[0] ^= 0xff; // another ID
                out.push(w);
                out.push(forged);
            }
            build(qhead, qtype, inner, transport, chain, out);
        }
        Script::Cname(target, inner) => {
            // The CNAME record: its target name is written out in full,
            // right after the 12-byte fixed part (so at qhead.len() + 12).
            let mut rdata = Vec::new();
            for label in target.split('.') {
                rdata.push(label.len() as u8);
                rdata.extend_from_slice(label.as_bytes());
            }
            rdata.push(0);
            let mut r = vec![0xc0, 0x0c, 0, 5, 0, 1, 0, 0, 0, 60];
            r.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
            r.extend_from_slice(&rdata);
            let mut chain = r;
            build(qhead, qtype, inner, transport, &mut chain, out);
        }
        Script::Silent => {}
    }
}
