//! DNS messages (RFC 1035 §4), pure: encode an A or AAAA query, and check
//! and read its answer — the ID, the question echoed back (name compared
//! case-insensitively, type, class), the addresses at the end of a CNAME
//! chain inside the answer, and the negative-caching time from an SOA in
//! the authority section (RFC 2308 §5). Every length is checked; names
//! are bounded (255 bytes, RFC 1035 §2.3.4) and so are compression
//! pointers (§4.1.4), so a looping pointer cannot hang the reader.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// RFC 1035 §3.2.2 TYPE values.
pub const TYPE_A: u16 = 1;
/// RFC 3596 §2.1.
pub const TYPE_AAAA: u16 = 28;
const TYPE_CNAME: u16 = 5;
const TYPE_SOA: u16 = 6;
const CLASS_IN: u16 = 1;
const HEADER_LEN: usize = 12;
/// RFC 1035 §2.3.4: a name is at most 255 bytes on the wire.
const MAX_NAME: usize = 255;
/// Compression pointers followed in one name: far more than any real
/// message needs, few enough that a pointer loop ends at once.
const MAX_POINTERS: usize = 16;
/// CNAMEs followed within one answer (RFC 1034 §3.6.2 chains are short).
const MAX_CNAMES: usize = 8;
/// RFC 1035 §4.1.1 RCODE 3: the name does not exist.
pub const NXDOMAIN: u8 = 3;

/// Why a datagram is not the answer we wait for.
#[derive(Debug, PartialEq, Eq)]
pub enum WireError {
    /// Not our ID, not a response, or another question: someone else's
    /// (or a spoofed) message; keep waiting for ours.
    NotOurs,
    /// Malformed: cut short, a bad name, a pointer loop.
    Malformed(&'static str),
}

/// A checked answer to our question.
#[derive(Debug, PartialEq, Eq)]
pub enum Reply {
    /// TC=1: ask again over TCP (RFC 1035 §4.2.1).
    Truncated,
    /// A complete answer.
    Answer {
        /// RFC 1035 §4.1.1 RCODE.
        rcode: u8,
        /// The addresses of the queried type at the end of the CNAME chain,
        /// with their TTLs.
        addrs: Vec<(IpAddr, u32)>,
        /// How long "no such name / no such type" may be cached: the SOA's
        /// TTL or MINIMUM, the smaller (RFC 2308 §5); none without an SOA.
        negative_ttl: Option<u32>,
    },
}

/// An RD=1 query for `name` (no trailing dot needed) of `qtype`; `None`
/// for a name that cannot be put on the wire.
pub fn encode_query(id: u16, name: &str, qtype: u16) -> Option<Vec<u8>> {
    let name = name.strip_suffix('.').unwrap_or(name);
    if name.is_empty() || name.len() + 2 > MAX_NAME {
        return None;
    }
    let mut m = Vec::with_capacity(HEADER_LEN + name.len() + 6);
    m.extend_from_slice(&id.to_be_bytes());
    m.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
    for label in name.split('.') {
        let len = u8::try_from(label.len())
            .ok()
            .filter(|l| (1..=63).contains(l))?;
        m.push(len);
        m.extend_from_slice(label.as_bytes());
    }
    m.push(0);
    m.extend_from_slice(&qtype.to_be_bytes());
    m.extend_from_slice(&CLASS_IN.to_be_bytes());
    Some(m)
}

/// Read the answer `msg` to our query `id` for `name` of `qtype`.
pub fn parse_reply(msg: &[u8], id: u16, name: &str, qtype: u16) -> Result<Reply, WireError> {
    let short = WireError::Malformed("cut short");
    let name = name.strip_suffix('.').unwrap_or(name);
    let mut r = Reader { msg, at: 0 };
    let (got_id, flags) = (
        r.u16().ok_or(WireError::NotOurs)?,
        r.u16().ok_or(WireError::NotOurs)?,
    );
    // QR must be set and the opcode QUERY.
    if got_id != id || flags & 0x8000 == 0 || flags & 0x7800 != 0 {
        return Err(WireError::NotOurs);
    }
    let counts = [r.u16(), r.u16(), r.u16(), r.u16()];
    let [Some(qd), Some(an), Some(ns), Some(_)] = counts else {
        return Err(short);
    };
    if qd != 1 {
        return Err(WireError::NotOurs);
    }
    let qname = r.name()?;
    let (qt, qc) = (
        r.u16().ok_or(short)?,
        r.u16().ok_or(WireError::Malformed("cut short"))?,
    );
    if !qname.eq_ignore_ascii_case(name) || qt != qtype || qc != CLASS_IN {
        return Err(WireError::NotOurs);
    }
    if flags & 0x0200 != 0 {
        return Ok(Reply::Truncated);
    }
    let rcode = (flags & 0x000f) as u8;
    let mut records = Vec::new();
    for _ in 0..an {
        records.push(r.record()?);
    }
    let mut negative_ttl = None;
    for _ in 0..ns {
        let rec = r.record()?;
        if rec.rtype == TYPE_SOA && rec.class == CLASS_IN {
            let min = rec
                .data
                .len()
                .checked_sub(4)
                .and_then(|i| rec.data.get(i..))
                .and_then(|b| <[u8; 4]>::try_from(b).ok())
                .map(u32::from_be_bytes)
                .ok_or(WireError::Malformed("short SOA"))?;
            negative_ttl = Some(min.min(rec.ttl));
        }
    }
    // Follow the chain from the question's name.
    let mut current = name.to_string();
    let mut addrs = Vec::new();
    for _ in 0..=MAX_CNAMES {
        let mine =
            |rec: &&Record| rec.class == CLASS_IN && rec.owner.eq_ignore_ascii_case(&current);
        addrs = records
            .iter()
            .filter(mine)
            .filter_map(|rec| match (rec.rtype, rec.data.len()) {
                (TYPE_A, 4) if qtype == TYPE_A => <[u8; 4]>::try_from(rec.data)
                    .ok()
                    .map(|b| (IpAddr::V4(Ipv4Addr::from(b)), rec.ttl)),
                (TYPE_AAAA, 16) if qtype == TYPE_AAAA => <[u8; 16]>::try_from(rec.data)
                    .ok()
                    .map(|b| (IpAddr::V6(Ipv6Addr::from(b)), rec.ttl)),
                _ => None,
            })
            .collect();
        if !addrs.is_empty() {
            break;
        }
        match records
            .iter()
            .filter(mine)
            .find(|rec| rec.rtype == TYPE_CNAME)
        {
            Some(rec) => {
                current = Reader {
                    msg,
                    at: rec.data_at,
                }
                .name()?
            }
            None => break,
        }
    }
    Ok(Reply::Answer {
        rcode,
        addrs,
        negative_ttl,
    })
}

/// One resource record; `data` borrows the message.
struct Record<'m> {
    owner: String,
    rtype: u16,
    class: u16,
    ttl: u32,
    data: &'m [u8],
    /// Where `data` starts in the message (a CNAME's name may point back).
    data_at: usize,
}

/// A cursor over a message; every read is checked.
struct Reader<'m> {
    msg: &'m [u8],
    at: usize,
}

impl<'m> Reader<'m> {
    fn take(&mut self, n: usize) -> Option<&'m [u8]> {
        let b = self.msg.get(self.at..self.at.checked_add(n)?)?;
        self.at += n;
        Some(b)
    }

    fn u16(&mut self) -> Option<u16> {
        self.take(2)?.try_into().ok().map(u16::from_be_bytes)
    }

    fn u32(&mut self) -> Option<u32> {
        self.take(4)?.try_into().ok().map(u32::from_be_bytes)
    }

    fn record(&mut self) -> Result<Record<'m>, WireError> {
        let short = || WireError::Malformed("cut short");
        let owner = self.name()?;
        let rtype = self.u16().ok_or_else(short)?;
        let class = self.u16().ok_or_else(short)?;
        // RFC 2181 §8: a TTL with the top bit set counts as zero.
        let ttl = self.u32().ok_or_else(short)?;
        let ttl = if ttl > i32::MAX as u32 { 0 } else { ttl };
        let len = self.u16().ok_or_else(short)?;
        let data_at = self.at;
        let data = self.take(usize::from(len)).ok_or_else(short)?;
        Ok(Record {
            owner,
            rtype,
            class,
            ttl,
            data,
            data_at,
        })
    }

    /// A possibly compressed name, as dotted text (no trailing dot),
    /// leaving the cursor after it.
    fn name(&mut self) -> Result<String, WireError> {
        let bad = WireError::Malformed;
        let mut out = String::new();
        let mut at = self.at;
        let mut resume = None;
        let (mut wire_len, mut pointers) = (1usize, 0usize);
        loop {
            let len = *self.msg.get(at).ok_or(bad("cut short"))?;
            match len & 0xc0 {
                0x00 if len == 0 => {
                    self.at = resume.unwrap_or(at + 1);
                    return Ok(out);
                }
                0x00 => {
                    let len = usize::from(len);
                    wire_len += len + 1;
                    let label = self.msg.get(at + 1..at + 1 + len).ok_or(bad("cut short"))?;
                    if wire_len > MAX_NAME {
                        return Err(bad("name too long"));
                    }
                    // Host names only (RFC 1123 §2.1 letters, digits, hyphen;
                    // underscore is common in practice): no dot inside a label.
                    if !label
                        .iter()
                        .all(|&c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
                    {
                        return Err(bad("not a host name"));
                    }
                    if !out.is_empty() {
                        out.push('.');
                    }
                    out.extend(label.iter().map(|&c| char::from(c)));
                    at += 1 + len;
                }
                0xc0 => {
                    let low = *self.msg.get(at + 1).ok_or(bad("cut short"))?;
                    pointers += 1;
                    if pointers > MAX_POINTERS {
                        return Err(bad("compression pointer loop"));
                    }
                    resume.get_or_insert(at + 2);
                    let to = usize::from(len & 0x3f) << 8 | usize::from(low);
                    // A pointer refers to an earlier occurrence (RFC 1035 §4.1.4).
                    if to >= at {
                        return Err(bad("forward compression pointer"));
                    }
                    at = to;
                }
                _ => return Err(bad("reserved label type")),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An answer to query 0x1234 for `a.test` A, with `answers` and
    /// `authority` records already encoded, and `flags`.
    fn reply(flags: u16, an: u16, ns: u16, records: &[u8]) -> Vec<u8> {
        let mut m = vec![0x12, 0x34];
        m.extend_from_slice(&flags.to_be_bytes());
        m.extend_from_slice(&[0, 1, 0, an as u8, 0, ns as u8, 0, 0]);
        m.extend_from_slice(b"\x01a\x04test\x00\x00\x01\x00\x01");
        m.extend_from_slice(records);
        m
    }

    /// A record at the question's name (pointer 0xc00c).
    fn rr(rtype: u16, ttl: u32, data: &[u8]) -> Vec<u8> {
        let mut r = vec![0xc0, 0x0c];
        r.extend_from_slice(&rtype.to_be_bytes());
        r.extend_from_slice(&[0, 1]);
        r.extend_from_slice(&ttl.to_be_bytes());
        r.extend_from_slice(&(data.len() as u16).to_be_bytes());
        r.extend_from_slice(data);
        r
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn query_bytes() {
        let q = encode_query(0xabcd, "A.test.", TYPE_AAAA).unwrap();
        assert_eq!(
            q,
            b"\xab\xcd\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x01A\x04test\x00\x00\x1c\x00\x01"
        );
        assert!(encode_query(1, "a..b", TYPE_A).is_none());
        assert!(encode_query(1, "", TYPE_A).is_none());
        assert!(encode_query(1, &"x".repeat(64), TYPE_A).is_none());
        assert!(encode_query(1, &vec!["x".repeat(63); 4].join("."), TYPE_A).is_none());
    }

    #[test]
    fn answers_table() {
        let a = rr(TYPE_A, 300, &[10, 0, 0, 1]);
        // CNAME a.test → b.test, then b.test A (owner written out).
        let mut cname = rr(TYPE_CNAME, 60, b"\x01b\xc0\x0e");
        let mut b = b"\x01b\xc0\x0e".to_vec();
        b.extend_from_slice(&rr(TYPE_A, 30, &[10, 0, 0, 2])[2..]);
        cname.extend_from_slice(&b);
        let soa_data = [b"\x00\x00".as_slice(), &[0; 16], &120u32.to_be_bytes()].concat();
        let soa = rr(TYPE_SOA, 900, &soa_data);
        let ok = |addrs: Vec<(IpAddr, u32)>, neg| {
            Ok(Reply::Answer {
                rcode: 0,
                addrs,
                negative_ttl: neg,
            })
        };
        let cases: Vec<(&str, Vec<u8>, Result<Reply, WireError>)> = vec![
            (
                "plain",
                reply(0x8180, 1, 0, &a),
                ok(vec![(ip("10.0.0.1"), 300)], None),
            ),
            (
                "cname chain",
                reply(0x8180, 2, 0, &cname),
                ok(vec![(ip("10.0.0.2"), 30)], None),
            ),
            (
                "nodata+soa",
                reply(0x8180, 0, 1, &soa),
                ok(vec![], Some(120)),
            ),
            (
                "nxdomain",
                reply(0x8183, 0, 1, &soa),
                Ok(Reply::Answer {
                    rcode: NXDOMAIN,
                    addrs: vec![],
                    negative_ttl: Some(120),
                }),
            ),
            ("truncated", reply(0x8380, 0, 0, &[]), Ok(Reply::Truncated)),
            (
                "not a response",
                reply(0x0180, 1, 0, &a),
                Err(WireError::NotOurs),
            ),
            (
                "cut record",
                reply(0x8180, 1, 0, &a[..a.len() - 1]),
                Err(WireError::Malformed("cut short")),
            ),
            (
                "missing record",
                reply(0x8180, 2, 0, &a),
                Err(WireError::Malformed("cut short")),
            ),
            (
                "wrong type ignored",
                reply(0x8180, 1, 0, &rr(TYPE_AAAA, 5, &[0; 16])),
                ok(vec![], None),
            ),
            (
                "a with bad length",
                reply(0x8180, 1, 0, &rr(TYPE_A, 5, &[1, 2, 3])),
                ok(vec![], None),
            ),
            (
                "huge ttl is zero",
                reply(0x8180, 1, 0, &rr(TYPE_A, 0x8000_0000, &[1, 2, 3, 4])),
                ok(vec![(ip("1.2.3.4"), 0)], None),
            ),
        ];
        for (what, msg, want) in cases {
            assert_eq!(parse_reply(&msg, 0x1234, "A.TEST", TYPE_A), want, "{what}");
        }
    }

    #[test]
    fn not_ours_and_hostile() {
        let a = rr(TYPE_A, 300, &[10, 0, 0, 1]);
        let msg = reply(0x8180, 1, 0, &a);
        assert_eq!(
            parse_reply(&msg, 0x1235, "a.test", TYPE_A),
            Err(WireError::NotOurs)
        );
        assert_eq!(
            parse_reply(&msg, 0x1234, "b.test", TYPE_A),
            Err(WireError::NotOurs)
        );
        assert_eq!(
            parse_reply(&msg, 0x1234, "a.test", TYPE_AAAA),
            Err(WireError::NotOurs)
        );
        for cut in 0..msg.len() {
            assert!(
                parse_reply(&msg[..cut], 0x1234, "a.test", TYPE_A).is_err(),
                "{cut}"
            );
        }
        // A record whose owner is a pointer to itself, and one forward.
        let mut looped = reply(0x8180, 1, 0, &[]);
        let at = looped.len();
        looped.extend_from_slice(&[0xc0 | (at >> 8) as u8, at as u8]);
        let e = parse_reply(&looped, 0x1234, "a.test", TYPE_A);
        assert_eq!(e, Err(WireError::Malformed("forward compression pointer")));
        // Two labels pointing back at each other's start: bounded.
        let mut ring = reply(0x8180, 1, 0, &[]);
        let at = ring.len();
        ring.extend_from_slice(&[1, b'x', 0xc0, at as u8]);
        let e = parse_reply(&ring, 0x1234, "a.test", TYPE_A);
        assert!(matches!(e, Err(WireError::Malformed(_))), "{e:?}");
        // A CNAME loop a → a ends with no address.
        let cname = rr(TYPE_CNAME, 60, b"\xc0\x0c");
        let got = parse_reply(&reply(0x8180, 1, 0, &cname), 0x1234, "a.test", TYPE_A);
        assert_eq!(
            got,
            Ok(Reply::Answer {
                rcode: 0,
                addrs: vec![],
                negative_ttl: None
            })
        );
        // A label with a dot inside is not a host name.
        let mut dotted = reply(0x8180, 0, 0, &[]);
        dotted.truncate(HEADER_LEN);
        dotted.extend_from_slice(b"\x03a.b\x00\x00\x01\x00\x01");
        assert!(parse_reply(&dotted, 0x1234, "a.b", TYPE_A).is_err());
    }
}
