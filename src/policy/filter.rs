//! Domain rules: which target hosts the proxy refuses (`--block`,
//! `--block-list`), which it always permits (`--allow-domain`,
//! `--allow-list`, which override blocks) and whether anything else is
//! refused (`--default-deny`). A rule for `example.com` covers every
//! subdomain; matching is case-insensitive, a trailing dot is ignored and
//! IP literals match only as written. List files mix three formats, told
//! apart per line: plain domains, hosts files and the domain-only subset of
//! Adblock syntax (`||ads.example.com^`), plus Adblock path rules
//! (`||example.com/ads/`, kept in `paths.rs`). Bad lines are counted and
//! reported with file:line, never fatal; only an unreadable file is.
//!
//! Storage is compact: each set keeps every domain once in a byte arena
//! and indexes it by a keyed 64-bit hash, so a 300,000-domain list costs
//! tens of bytes per entry, and a lookup is one hash probe per label.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasher, BuildHasherDefault, Hasher, RandomState};
use std::net::IpAddr;
use std::path::Path;

use super::load::{PolicyError, read_bounded};
use super::paths::{PathRules, UNSUPPORTED, split_rule};

/// Largest list file read, in bytes: the biggest public block lists are
/// tens of megabytes; the bound stops `--block-list /dev/zero` from eating
/// the memory of the device.
pub(crate) const MAX_LIST_BYTES: u64 = 256 * 1024 * 1024;

/// How many bad lines of one file are logged with file:line; the rest are
/// only counted (an Adblock list can hold thousands of cosmetic rules).
pub(crate) const MAX_REPORTED_BAD_LINES: usize = 5;

/// Longest domain name (RFC 1035 §2.3.4: 255 octets on the wire, 253 as
/// dotted text).
pub(crate) const MAX_DOMAIN_LEN: usize = 253;

/// Longest label (RFC 1035 §2.3.4).
pub(crate) const MAX_LABEL_LEN: usize = 63;

/// Names hosts files map to themselves (`127.0.0.1 localhost`); they are
/// part of the file's boilerplate, not rules, and blocking them would cut
/// the device off from itself.
const HOSTS_SELF_NAMES: &[&str] = &[
    "localhost",
    "localhost.localdomain",
    "local",
    "broadcasthost",
    "ip6-localhost",
    "ip6-loopback",
    "ip6-localnet",
    "ip6-mcastprefix",
    "ip6-allnodes",
    "ip6-allrouters",
    "ip6-allhosts",
];

/// A hasher for keys that are already uniform 64-bit hashes.
#[derive(Default)]
struct Identity(u64);

impl Hasher for Identity {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// A set of normalised domain names (or IP literals).
#[derive(Debug, Default)]
pub struct DomainSet {
    /// Keyed hash of a name → offset of its length-prefixed bytes in `arena`.
    index: HashMap<u64, u32, BuildHasherDefault<Identity>>,
    /// `len, bytes…` for every name in `index`.
    arena: Vec<u8>,
    /// Names whose hash slot another name holds (or that no longer fit a
    /// 32-bit offset); almost always empty.
    overflow: HashSet<Box<str>>,
    /// The random key of the name hash, so hashes cannot be predicted.
    keys: RandomState,
}

impl DomainSet {
    /// An empty set.
    pub fn new() -> DomainSet {
        DomainSet::default()
    }

    /// Names in the set.
    pub fn len(&self) -> usize {
        self.index.len() + self.overflow.len()
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Add an already normalised name (see [`normalize_rule`]).
    pub fn insert(&mut self, name: &str) {
        let h = self.keys.hash_one(name.as_bytes());
        if self.contains_hashed(h, name) {
            return;
        }
        let Ok(len) = u8::try_from(name.len()) else {
            self.overflow.insert(name.into());
            return;
        };
        match u32::try_from(self.arena.len()) {
            Ok(off) if !self.index.contains_key(&h) => {
                self.index.insert(h, off);
                self.arena.push(len);
                self.arena.extend_from_slice(name.as_bytes());
            }
            _ => {
                self.overflow.insert(name.into());
            }
        }
    }

    /// Whether exactly `name` is in the set.
    pub fn contains(&self, name: &str) -> bool {
        self.contains_hashed(self.keys.hash_one(name.as_bytes()), name)
    }

    fn contains_hashed(&self, h: u64, name: &str) -> bool {
        let hit = self.index.get(&h).is_some_and(|&off| {
            let off = off as usize;
            let len = self.arena.get(off).map_or(0, |&l| usize::from(l));
            self.arena.get(off + 1..off + 1 + len) == Some(name.as_bytes())
        });
        hit || (!self.overflow.is_empty() && self.overflow.contains(name))
    }

    /// The rule covering `host` (already lower-case): `host` itself or
    /// its nearest parent domain in the set. IP literals match only
    /// exactly. One probe per label.
    pub fn find<'h>(&self, host: &'h str) -> Option<&'h str> {
        let host = host.trim_end_matches('.');
        if host.is_empty() {
            return None;
        }
        if is_ip_literal(host) {
            return self.contains(host).then_some(host);
        }
        let mut rest = host;
        loop {
            if self.contains(rest) {
                return Some(rest);
            }
            rest = rest.split_once('.')?.1;
        }
    }

    /// Approximate heap bytes held (index table, arena, overflow).
    pub fn heap_bytes(&self) -> usize {
        let slot = std::mem::size_of::<(u64, u32)>() + 1;
        self.index.capacity() * slot
            + self.arena.capacity()
            + self.overflow.iter().map(|s| s.len() + 24).sum::<usize>()
    }

    /// Release spare capacity after loading.
    pub fn shrink_to_fit(&mut self) {
        self.index.shrink_to_fit();
        self.arena.shrink_to_fit();
    }
}

fn is_ip_literal(s: &str) -> bool {
    s.parse::<IpAddr>().is_ok()
}

/// A rule as written (`Example.COM.`, `[::1]`, `10.0.0.1`) in the form it is
/// stored and matched: lower-case, no trailing dot, no brackets. `None`
/// when it is neither a valid domain name nor an IP literal.
pub(crate) fn normalize_rule(s: &str) -> Option<String> {
    normalize(s).map(Cow::into_owned)
}

/// [`normalize_rule`] without a copy when the rule is already normal
/// (the common case in a big list).
fn normalize(s: &str) -> Option<Cow<'_, str>> {
    let s = s.trim();
    let unbracketed = s
        .strip_prefix('[')
        .and_then(|r| r.strip_suffix(']'))
        .unwrap_or(s);
    let maybe_ip =
        unbracketed.contains(':') || unbracketed.bytes().all(|b| b.is_ascii_digit() || b == b'.');
    if maybe_ip && is_ip_literal(unbracketed) {
        return Some(Cow::Owned(unbracketed.to_ascii_lowercase()));
    }
    let name = s.strip_suffix('.').unwrap_or(s);
    let name = if name.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Owned(name.to_ascii_lowercase())
    } else {
        Cow::Borrowed(name)
    };
    let labels_ok = name.split('.').all(|l| {
        !l.is_empty()
            && l.len() <= MAX_LABEL_LEN
            && l.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    });
    (!name.is_empty() && name.len() <= MAX_DOMAIN_LEN && labels_ok).then_some(name)
}

/// What one list line holds.
#[derive(Debug, PartialEq, Eq)]
enum Line<'a> {
    /// Blank, a comment or a header.
    Skip,
    /// Rule names as written (hosts lines may hold several).
    Names(Vec<&'a str>),
    /// An Adblock path rule: the domain and the path as written.
    Path(&'a str, &'a str),
    /// Not a supported line.
    Bad(&'static str),
}

/// Tell the format of one line and take its names out.
fn parse_line(line: &str) -> Line<'_> {
    let line = line.trim();
    // `#` comments (plain lists, hosts files), `!` comments and the
    // `[Adblock Plus 2.0]` header (Adblock lists).
    if line.is_empty() || line.starts_with(['#', '!', '[']) {
        return Line::Skip;
    }
    // A trailing comment needs whitespace before it: `example.com##.ad`
    // is an Adblock element-hiding rule, not `example.com`.
    let line = line
        .match_indices('#')
        .find_map(|(i, _)| line.get(..i).filter(|h| h.ends_with([' ', '\t'])))
        .map_or(line, str::trim_end);
    if let Some(rest) = line.strip_prefix("||") {
        if let Some(rule) = split_rule(rest) {
            return rule.map_or_else(Line::Bad, |(d, p)| Line::Path(d, p));
        }
        return match rest.strip_suffix('^') {
            Some(d) if !d.contains(['^', '$', '/', '*', '|']) => Line::Names(vec![d]),
            _ => Line::Bad(UNSUPPORTED),
        };
    }
    if line.starts_with("@@") || line.contains(['$', '^', '|', '/', '*']) || line.contains("##") {
        return Line::Bad(UNSUPPORTED);
    }
    let mut words = line.split_ascii_whitespace();
    let Some(first) = words.next() else {
        return Line::Skip;
    };
    let rest: Vec<&str> = words.collect();
    if rest.is_empty() {
        return Line::Names(vec![first]);
    }
    if !is_ip_literal(first) {
        return Line::Bad("expected a domain, a hosts-file line or ||domain^");
    }
    let names: Vec<&str> = rest
        .into_iter()
        .filter(|n| !HOSTS_SELF_NAMES.contains(n) && !is_ip_literal(n))
        .collect();
    Line::Names(names)
}

/// What loading one list found.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ListReport {
    /// Rules added (names on good lines, duplicates included).
    pub rules: usize,
    /// Lines that were not understood.
    pub bad: usize,
    /// The first [`MAX_REPORTED_BAD_LINES`] of them as `file:line: why`.
    pub examples: Vec<String>,
}

/// Add the rules in `text` (a list file's contents) to `set`, and its path
/// rules to `paths` (an allow list has none: `None` reports them as bad
/// lines); `origin` names the file in reports.
pub fn add_list(
    set: &mut DomainSet,
    mut paths: Option<&mut PathRules>,
    text: &[u8],
    origin: &str,
) -> ListReport {
    let mut report = ListReport::default();
    let text = text.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(text);
    for (i, raw) in text.split(|&b| b == b'\n').enumerate() {
        let mut bad = |why: String| {
            report.bad += 1;
            if report.examples.len() < MAX_REPORTED_BAD_LINES {
                report.examples.push(format!("{origin}:{}: {why}", i + 1));
            }
        };
        let Ok(line) = std::str::from_utf8(raw) else {
            bad("not UTF-8 text".into());
            continue;
        };
        match parse_line(line) {
            Line::Skip => {}
            Line::Bad(why) => bad(why.into()),
            Line::Path(d, p) => match (normalize(d), paths.as_deref_mut()) {
                (Some(d), Some(paths)) => {
                    paths.insert(&d, p);
                    report.rules += 1;
                }
                (None, _) => bad(format!("invalid domain '{}'", d.escape_debug())),
                (_, None) => bad("a path rule cannot allow (only block lists take them)".into()),
            },
            Line::Names(names) => {
                let mut invalid = None;
                for n in names {
                    match normalize(n) {
                        Some(rule) => {
                            set.insert(&rule);
                            report.rules += 1;
                        }
                        None => invalid = Some(n),
                    }
                }
                if let Some(n) = invalid {
                    bad(format!("invalid domain '{}'", n.escape_debug()));
                }
            }
        }
    }
    report
}

/// Read the list file at `path` into `set`. Only a file that cannot be
/// read (or is larger than [`MAX_LIST_BYTES`]) is an error.
pub(crate) fn load_list(
    set: &mut DomainSet,
    paths: Option<&mut PathRules>,
    path: &Path,
) -> Result<ListReport, PolicyError> {
    let text = read_bounded(path, MAX_LIST_BYTES)?;
    Ok(add_list(set, paths, &text, &path.display().to_string()))
}

/// Why the filter refuses a host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Blocked {
    /// A block rule covers it (the rule as stored).
    Rule(String),
    /// `--default-deny` and no allow rule covers it.
    NotAllowed,
}

/// The domain rules in force.
#[derive(Debug, Default)]
pub struct Filter {
    /// Refused domains.
    pub block: DomainSet,
    /// Permitted domains; override `block`.
    pub allow: DomainSet,
    /// Refuse every host no allow rule covers.
    pub default_deny: bool,
    /// Adblock path rules from the block lists.
    pub paths: PathRules,
}

impl Filter {
    /// May the proxy reach `host` (lower-case, as in the request target)?
    /// An allow rule wins over any block rule.
    pub fn check(&self, host: &str) -> Result<(), Blocked> {
        if !self.allow.is_empty() && self.allow.find(host).is_some() {
            return Ok(());
        }
        if self.default_deny {
            return Err(Blocked::NotAllowed);
        }
        match self.block.find(host) {
            Some(rule) => Err(Blocked::Rule(rule.to_string())),
            None => Ok(()),
        }
    }

    /// May the proxy fetch `path` on `host`, as far as path rules go? An
    /// allow rule for the host wins here too.
    pub fn check_path(&self, host: &str, path: &str) -> Result<(), Blocked> {
        match self.paths.find(host, path) {
            Some(_) if !self.allow.is_empty() && self.allow.find(host).is_some() => Ok(()),
            Some(rule) => Err(Blocked::Rule(rule)),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(names: &[&str]) -> DomainSet {
        let mut s = DomainSet::new();
        for n in names {
            s.insert(&normalize_rule(n).unwrap());
        }
        s
    }

    #[test]
    fn matching() {
        let s = set(&[
            "Example.com.",
            "ads.tracker.net",
            "10.0.0.1",
            "[::1]",
            "3.4",
        ]);
        let cases = [
            ("example.com", Some("example.com")),
            ("www.example.com", Some("example.com")),
            ("a.b.c.example.com", Some("example.com")),
            ("example.com.", Some("example.com")),
            ("example.com..", Some("example.com")),
            ("notexample.com", None),
            ("example.co", None),
            ("com", None),
            ("tracker.net", None),
            ("x.ads.tracker.net", Some("ads.tracker.net")),
            ("10.0.0.1", Some("10.0.0.1")),
            ("10.0.0.2", None),
            ("::1", Some("::1")),
            ("1.2.3.4", None),
            ("", None),
            (".", None),
        ];
        for (host, want) in cases {
            assert_eq!(s.find(host), want, "{host}");
        }
        assert_eq!(s.len(), 5);
    }

    #[test]
    fn rules_normalised_or_refused() {
        assert_eq!(
            normalize_rule("WWW.Example.COM.").as_deref(),
            Some("www.example.com")
        );
        assert_eq!(
            normalize_rule("[2001:DB8::1]").as_deref(),
            Some("2001:db8::1")
        );
        for bad in [
            "",
            ".",
            "a..b",
            ".a.b",
            "a b",
            "exa#mple.com",
            "ünïcode.de",
            &format!("{}.com", "a".repeat(64)),
            &format!("{}a", "a.".repeat(127)),
        ] {
            assert_eq!(normalize_rule(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn line_formats() {
        let n = |v: &[&'static str]| Line::Names(v.to_vec());
        let cases: &[(&str, Line<'_>)] = &[
            ("", Line::Skip),
            ("   ", Line::Skip),
            ("# comment", Line::Skip),
            ("! adblock comment", Line::Skip),
            ("[Adblock Plus 2.0]", Line::Skip),
            ("ads.example.com", n(&["ads.example.com"])),
            ("  ads.example.com  # why", n(&["ads.example.com"])),
            ("ads.example.com\t#why", n(&["ads.example.com"])),
            ("0.0.0.0 ads.example.com", n(&["ads.example.com"])),
            (
                "127.0.0.1\ta.com b.com  c.com # x",
                n(&["a.com", "b.com", "c.com"]),
            ),
            ("::1 ip6-localhost ip6-loopback", n(&[])),
            ("127.0.0.1 localhost", n(&[])),
            ("0.0.0.0 0.0.0.0", n(&[])),
            ("||ads.example.com^", n(&["ads.example.com"])),
            (
                "||ads.example.com^$third-party",
                Line::Bad(
                    "unsupported Adblock rule (only ||domain^ and ||domain/path are understood)",
                ),
            ),
            (
                "||ads.example.com/path^",
                Line::Path("ads.example.com", "/path^"),
            ),
            (
                "@@||good.example.com^",
                Line::Bad(
                    "unsupported Adblock rule (only ||domain^ and ||domain/path are understood)",
                ),
            ),
            (
                "example.com##.banner",
                Line::Bad(
                    "unsupported Adblock rule (only ||domain^ and ||domain/path are understood)",
                ),
            ),
            (
                "/banner/*/img^",
                Line::Bad(
                    "unsupported Adblock rule (only ||domain^ and ||domain/path are understood)",
                ),
            ),
            (
                "a.com b.com",
                Line::Bad("expected a domain, a hosts-file line or ||domain^"),
            ),
        ];
        for (line, want) in cases {
            assert_eq!(&parse_line(line), want, "{line:?}");
        }
    }

    #[test]
    fn list_reports_bad_lines_with_file_and_line() {
        let text = b"# list\nads.example.com\r\n0.0.0.0 t1.com t2.com\n||t3.com^\nbad domain here\n\xff\xfe\n0.0.0.0 ok.com b@d.com\n";
        let mut s = DomainSet::new();
        let r = add_list(&mut s, None, text, "ads.txt");
        assert_eq!(r.rules, 5);
        assert_eq!(r.bad, 3);
        assert_eq!(
            r.examples,
            [
                "ads.txt:5: expected a domain, a hosts-file line or ||domain^",
                "ads.txt:6: not UTF-8 text",
                "ads.txt:7: invalid domain 'b@d.com'",
            ]
        );
        for host in ["ads.example.com", "t1.com", "x.t2.com", "t3.com", "ok.com"] {
            assert!(s.find(host).is_some(), "{host}");
        }
        let many: String = (0..20).map(|i| format!("bad line {i}\n")).collect();
        let r = add_list(&mut s, None, many.as_bytes(), "x");
        assert_eq!((r.bad, r.examples.len()), (20, MAX_REPORTED_BAD_LINES));
    }

    #[test]
    fn allow_overrides_block_and_default_deny() {
        let mut f = Filter {
            block: set(&["example.com", "ads.net"]),
            allow: set(&["good.example.com"]),
            default_deny: false,
            paths: PathRules::default(),
        };
        assert_eq!(f.check("good.example.com"), Ok(()));
        assert_eq!(f.check("x.good.example.com"), Ok(()));
        assert_eq!(
            f.check("bad.example.com"),
            Err(Blocked::Rule("example.com".into()))
        );
        assert_eq!(f.check("ads.net"), Err(Blocked::Rule("ads.net".into())));
        assert_eq!(f.check("other.org"), Ok(()));
        f.default_deny = true;
        assert_eq!(f.check("other.org"), Err(Blocked::NotAllowed));
        assert_eq!(f.check("good.example.com"), Ok(()));
    }

    #[test]
    fn many_names_and_collisions_stay_exact() {
        let mut s = DomainSet::new();
        for i in 0..20_000 {
            s.insert(&format!("d{i}.example"));
        }
        assert_eq!(s.len(), 20_000);
        assert!(s.contains("d19999.example"));
        assert!(!s.contains("d20000.example"));
        // The overflow path: a name whose slot is taken is still found.
        s.overflow.insert("spill.example".into());
        assert_eq!(s.find("a.spill.example"), Some("spill.example"));
    }

    #[test]
    fn unreadable_and_oversized_files() {
        let mut s = DomainSet::new();
        let e = load_list(&mut s, None, Path::new("/nonexistent/list.txt"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("cannot read /nonexistent/list.txt"), "{e}");
        let dir = std::env::temp_dir().join(format!("smolproxy-filter-{}", std::process::id()));
        std::fs::write(&dir, vec![b'a'; 100]).unwrap();
        let e = read_bounded(&dir, 10).unwrap_err().to_string();
        assert!(e.contains("larger than"), "{e}");
        let _ = std::fs::remove_file(&dir);
    }
}
