//! Adblock path rules from block lists: `||example.com/ads/` refuses every
//! path under `/ads/` on example.com and its subdomains; a trailing `^`
//! (`||example.com/ads^`) means the path goes on with a separator or ends
//! there (`/ads`, `/ads/x`, `/ads?x`, not `/adsx`). Matched, like Adblock,
//! without regard to ASCII case. Only where the proxy sees the path: plain
//! `http://` requests and inspected HTTPS ones; a CONNECT tunnel shows
//! only its host, so there the domain rules alone apply. Rules with
//! wildcards or options (`*`, `$`, `|`) are not understood and reported as
//! bad lines, as before. Pure.

use std::collections::HashMap;

/// Path prefixes per domain.
#[derive(Debug, Default)]
pub struct PathRules {
    /// Domain (normalised) → its rules' paths, as written after the domain.
    map: HashMap<Box<str>, Vec<Box<str>>>,
    count: usize,
}

/// Why an Adblock line with options or wildcards is not taken.
pub(crate) const UNSUPPORTED: &str =
    "unsupported Adblock rule (only ||domain^ and ||domain/path are understood)";

/// Split `||domain/path[^]` (already without the `||`) into the domain and
/// the path rule, or say why it is not understood. `None`: no path (a
/// domain rule).
pub(crate) fn split_rule(rest: &str) -> Option<Result<(&str, &str), &'static str>> {
    let slash = rest.find('/')?;
    let (domain, path) = rest.split_at(slash);
    let body = path.strip_suffix('^').unwrap_or(path);
    if domain.contains(['^', '$', '*', '|']) || body.contains(['^', '$', '*', '|']) {
        return Some(Err(UNSUPPORTED));
    }
    Some(Ok((domain, path)))
}

impl PathRules {
    /// Add the rule `path` (as [`split_rule`] gave it) for `domain`
    /// (normalised).
    pub fn insert(&mut self, domain: &str, path: &str) {
        let rules = self.map.entry(domain.into()).or_default();
        if !rules.iter().any(|r| **r == *path) {
            rules.push(path.into());
            self.count += 1;
        }
    }

    /// Rules held.
    pub fn len(&self) -> usize {
        self.count
    }

    /// Whether there are none (the common case: one check per request).
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The rule refusing `path` on `host` (lower-case), as `domain/path`.
    pub fn find(&self, host: &str, path: &str) -> Option<String> {
        if self.map.is_empty() {
            return None;
        }
        let mut rest = host.trim_end_matches('.');
        loop {
            if let Some(rules) = self.map.get(rest)
                && let Some(r) = rules.iter().find(|r| matches(r, path))
            {
                return Some(format!("{rest}{r}"));
            }
            rest = rest.split_once('.')?.1;
        }
    }

    /// Release spare capacity after loading.
    pub fn shrink_to_fit(&mut self) {
        self.map.shrink_to_fit();
    }
}

/// Whether `rule` (a path prefix, perhaps ending in `^`) covers `path`.
fn matches(rule: &str, path: &str) -> bool {
    let (prefix, sep) = match rule.strip_suffix('^') {
        Some(p) => (p, true),
        None => (rule, false),
    };
    let Some(head) = path.get(..prefix.len()) else {
        return false;
    };
    if !head.eq_ignore_ascii_case(prefix) {
        return false;
    }
    // Adblock's separator: anything but a letter, a digit or `_-.%`, or
    // the end of the address.
    !sep || path[prefix.len()..]
        .bytes()
        .next()
        .is_none_or(|b| !(b.is_ascii_alphanumeric() || b"_-.%".contains(&b)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::filter::{Blocked, DomainSet, Filter, add_list};

    #[test]
    fn rules_split_or_refused() {
        let cases = [
            ("ads.example", None),
            ("example.com/ads/", Some(Ok(("example.com", "/ads/")))),
            ("example.com/ads^", Some(Ok(("example.com", "/ads^")))),
            ("example.com/a*b", Some(Err(()))),
            ("example.com/x$script", Some(Err(()))),
            ("example.com/x^y", Some(Err(()))),
            ("example.com/x|", Some(Err(()))),
        ];
        for (rule, want) in cases {
            let got = split_rule(rule).map(|r| r.map_err(|_| ()));
            assert_eq!(got, want, "{rule}");
        }
    }

    #[test]
    fn path_rules_go_to_block_lists_only() {
        let text = b"||ads.example.com^\n||shared.example/ads/\n||bad..x/p\n";
        let (mut s, mut paths) = (DomainSet::new(), PathRules::default());
        let r = add_list(&mut s, Some(&mut paths), text, "b.txt");
        assert_eq!((r.rules, r.bad, paths.len()), (2, 1, 1));
        assert_eq!(r.examples, ["b.txt:3: invalid domain 'bad..x'"]);
        let mut f = Filter {
            paths,
            ..Filter::default()
        };
        assert_eq!(f.check("shared.example"), Ok(()));
        let rule = Blocked::Rule("shared.example/ads/".into());
        assert_eq!(f.check_path("www.shared.example", "/ads/1"), Err(rule));
        assert_eq!(f.check_path("shared.example", "/news/"), Ok(()));
        f.allow = {
            let mut a = DomainSet::new();
            a.insert("www.shared.example");
            a
        };
        assert_eq!(f.check_path("www.shared.example", "/ads/1"), Ok(()));
        let r = add_list(&mut DomainSet::new(), None, text, "a.txt");
        assert_eq!((r.rules, r.bad), (1, 2));
    }

    #[test]
    fn matching() {
        let mut r = PathRules::default();
        r.insert("example.com", "/ads/");
        r.insert("example.com", "/ads/");
        r.insert("t.net", "/pixel^");
        assert_eq!(r.len(), 2);
        let cases = [
            ("example.com", "/ads/x.js", Some("example.com/ads/")),
            ("www.example.com", "/ADS/x", Some("example.com/ads/")),
            ("example.com", "/ads", None),
            ("example.com", "/adsx/", None),
            ("example.com", "/", None),
            ("other.com", "/ads/x", None),
            ("t.net", "/pixel", Some("t.net/pixel^")),
            ("t.net", "/pixel?id=1", Some("t.net/pixel^")),
            ("a.t.net", "/pixel/1", Some("t.net/pixel^")),
            ("t.net", "/pixels", None),
            ("t.net", "/pixel.gif", None),
            ("", "/", None),
        ];
        for (host, path, want) in cases {
            assert_eq!(r.find(host, path).as_deref(), want, "{host}{path}");
        }
    }
}
