//! The field values the cache's rules read, parsed without a panic on any
//! input and without indexing: Cache-Control directives (RFC 9111 §5.2:
//! case-insensitive tokens with an optional `=token` or `=quoted-string`
//! argument, RFC 9110 §5.6.2 and §5.6.4), delta-seconds (RFC 9111 §1.2.2)
//! and entity-tag lists (RFC 9110 §8.8.3, §13.1.2). Pure.

use crate::http::head::Head;

/// The largest delta-seconds kept: RFC 9111 §1.2.2 says a value too large
/// to represent, or a calculation that overflows, is taken as 2^31.
pub(crate) const DELTA_MAX: u64 = 1 << 31;

/// A directive's delta-seconds argument.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum Delta {
    /// The directive is not there.
    #[default]
    Absent,
    /// The directive with a valid number of seconds.
    Secs(u64),
    /// Present but not a number, or given twice with different values:
    /// RFC 9111 §4.2.1 encourages treating such a response as stale.
    Invalid,
}

/// The request's `max-stale` (RFC 9111 §5.2.1.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum MaxStale {
    /// Not there.
    #[default]
    Absent,
    /// Not a number, or given twice differently: read as absent, the most
    /// restrictive reading (RFC 9111 §4.2.1).
    Invalid,
    /// `max-stale` with no argument: any staleness is acceptable.
    Any,
    /// `max-stale=N`.
    Secs(u64),
}

/// The Cache-Control directives of one head that the rules use. Unknown
/// directives are ignored (RFC 9111 §5.2.3). A directive defined without
/// an argument counts whatever argument it carries when that is the more
/// restrictive reading (§4.2.1), and only bare when it would allow more
/// (`public`, `must-understand`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Control {
    pub(crate) no_store: bool,
    /// `no-cache`, with or without field names: a qualified `no-cache` is
    /// honoured as the whole directive, which §5.2.2.4 allows.
    pub(crate) no_cache: bool,
    /// `private`, qualified or not (§5.2.2.7: a shared cache MAY store the
    /// rest of a qualified one; this one stores none of it).
    pub(crate) private: bool,
    pub(crate) public: bool,
    pub(crate) must_revalidate: bool,
    pub(crate) proxy_revalidate: bool,
    pub(crate) must_understand: bool,
    pub(crate) only_if_cached: bool,
    pub(crate) max_age: Delta,
    pub(crate) s_maxage: Delta,
    pub(crate) min_fresh: Delta,
    pub(crate) max_stale: MaxStale,
}

impl Control {
    /// Every Cache-Control field line of `head`, combined (RFC 9110 §5.3).
    pub(crate) fn of(head: &Head) -> Control {
        let mut c = Control::default();
        for value in head.values("cache-control") {
            for (name, arg) in Directives(value) {
                c.apply(name, arg);
            }
        }
        c
    }

    fn apply(&mut self, name: &[u8], arg: Arg<'_>) {
        let is = |n: &str| name.eq_ignore_ascii_case(n.as_bytes());
        if is("no-store") {
            self.no_store = true;
        } else if is("no-cache") {
            self.no_cache = true;
        } else if is("private") {
            self.private = true;
        } else if is("public") {
            self.public |= arg == Arg::None;
        } else if is("must-revalidate") {
            self.must_revalidate = true;
        } else if is("proxy-revalidate") {
            self.proxy_revalidate = true;
        } else if is("must-understand") {
            self.must_understand |= arg == Arg::None;
        } else if is("only-if-cached") {
            self.only_if_cached = true;
        } else if is("max-age") {
            self.max_age = merge(self.max_age, delta_arg(arg));
        } else if is("s-maxage") {
            self.s_maxage = merge(self.s_maxage, delta_arg(arg));
        } else if is("min-fresh") {
            self.min_fresh = merge(self.min_fresh, delta_arg(arg));
        } else if is("max-stale") {
            let new = match arg {
                Arg::None => MaxStale::Any,
                Arg::Value(v) => match delta_seconds(v) {
                    Delta::Secs(n) => MaxStale::Secs(n),
                    _ => MaxStale::Invalid,
                },
                Arg::Bad => MaxStale::Invalid,
            };
            self.max_stale = match (self.max_stale, new) {
                (MaxStale::Absent, n) => n,
                (o, n) if o == n => o,
                _ => MaxStale::Invalid,
            };
        }
    }
}

/// Two occurrences of one delta directive: the same value is fine, a
/// different one makes it invalid (RFC 9111 §4.2.1).
fn merge(old: Delta, new: Delta) -> Delta {
    match (old, new) {
        (Delta::Absent, n) => n,
        (o, n) if o == n => o,
        _ => Delta::Invalid,
    }
}

fn delta_arg(arg: Arg<'_>) -> Delta {
    match arg {
        Arg::Value(v) => delta_seconds(v),
        Arg::None | Arg::Bad => Delta::Invalid,
    }
}

/// delta-seconds = 1*DIGIT (RFC 9111 §1.2.2), saturating at [`DELTA_MAX`].
pub(crate) fn delta_seconds(v: &[u8]) -> Delta {
    if v.is_empty() || !v.iter().all(u8::is_ascii_digit) {
        return Delta::Invalid;
    }
    let n = v.iter().fold(0u64, |n, &d| {
        n.saturating_mul(10)
            .saturating_add(u64::from(d - b'0'))
            .min(DELTA_MAX)
    });
    Delta::Secs(n)
}

/// A directive's argument.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Arg<'a> {
    /// No `=`.
    None,
    /// The token, or the inside of the quoted string (escapes left as sent).
    Value(&'a [u8]),
    /// Something after the name that is neither.
    Bad,
}

/// tchar (RFC 9110 §5.6.2).
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn skip_ows(v: &[u8]) -> &[u8] {
    let n = v.iter().take_while(|&&b| b == b' ' || b == b'\t').count();
    v.get(n..).unwrap_or(&[])
}

/// The rest of `v` after the next comma outside a quoted string (RFC 9110
/// §5.6.4: a quoted string may hold commas and `\"`), or nothing.
fn after_element(v: &[u8]) -> &[u8] {
    let (mut quoted, mut escaped) = (false, false);
    for (i, &b) in v.iter().enumerate() {
        if escaped {
            escaped = false;
        } else if quoted {
            match b {
                b'\\' => escaped = true,
                b'"' => quoted = false,
                _ => {}
            }
        } else if b == b'"' {
            quoted = true;
        } else if b == b',' {
            return v.get(i + 1..).unwrap_or(&[]);
        }
    }
    &[]
}

/// A quoted string at the start of `v` (which begins after the opening
/// quote): its inside and what follows the closing quote.
fn quoted(v: &[u8]) -> Option<(&[u8], &[u8])> {
    let mut escaped = false;
    for (i, &b) in v.iter().enumerate() {
        if escaped {
            escaped = false;
        } else if b == b'\\' {
            escaped = true;
        } else if b == b'"' {
            return Some((v.get(..i)?, v.get(i + 1..)?));
        }
    }
    None
}

/// Whether only OWS remains before the element's end (a comma or the end).
fn ends_element(v: &[u8]) -> bool {
    matches!(skip_ows(v).first(), None | Some(b','))
}

/// The directives of one Cache-Control field value, in order.
struct Directives<'a>(&'a [u8]);

/// `s` after the whitespace and empty elements that may lead a list
/// element (RFC 9110 §5.6.1: `#rule` allows empty elements).
fn skip_separators(s: &[u8]) -> &[u8] {
    let n = s
        .iter()
        .take_while(|&&b| matches!(b, b' ' | b'\t' | b','))
        .count();
    s.get(n..).unwrap_or(&[])
}

impl<'a> Iterator for Directives<'a> {
    type Item = (&'a [u8], Arg<'a>);

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let s = skip_separators(self.0);
            if s.is_empty() {
                self.0 = s;
                return None;
            }
            let len = s.iter().take_while(|&&b| is_tchar(b)).count();
            let (name, after) = s.split_at(len.min(s.len()));
            self.0 = after_element(after);
            if name.is_empty() {
                continue; // not a directive at all: skip the element
            }
            let arg = match after.split_first() {
                Some((b'=', v)) => match v.split_first() {
                    Some((b'"', q)) => match quoted(q) {
                        Some((inside, rest)) if ends_element(rest) => Arg::Value(inside),
                        _ => Arg::Bad,
                    },
                    _ => {
                        let t = v.iter().take_while(|&&b| is_tchar(b)).count();
                        match v.get(..t) {
                            Some(tok) if t > 0 && ends_element(v.get(t..).unwrap_or(&[])) => {
                                Arg::Value(tok)
                            }
                            _ => Arg::Bad,
                        }
                    }
                },
                _ if ends_element(after) => Arg::None,
                _ => Arg::Bad,
            };
            return Some((name, arg));
        }
    }
}

/// One entity-tag (RFC 9110 §8.8.3): weak or strong, and the opaque part
/// between its quotes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Tag<'a> {
    pub(crate) weak: bool,
    pub(crate) opaque: &'a [u8],
}

impl Tag<'_> {
    /// Weak comparison (RFC 9110 §8.8.3.2): the opaque parts are equal.
    pub(crate) fn weak_eq(&self, other: &Tag<'_>) -> bool {
        self.opaque == other.opaque
    }

    /// Strong comparison: both strong and equal (RFC 9110 §8.8.3.2).
    pub(crate) fn strong_eq(&self, other: &Tag<'_>) -> bool {
        !self.weak && !other.weak && self.opaque == other.opaque
    }
}

/// An entity-tag at the start of `v`, and what follows it. etagc excludes
/// only DQUOTE among the printable bytes, so a tag may hold commas.
fn tag_at(v: &[u8]) -> Option<(Tag<'_>, &[u8])> {
    let (weak, v) = match v.strip_prefix(b"W/") {
        Some(rest) => (true, rest),
        None => (false, v),
    };
    let v = v.strip_prefix(b"\"")?;
    let end = v.iter().position(|&b| b == b'"')?;
    let opaque = v.get(..end)?;
    if opaque.iter().any(|&b| b <= b' ' || b == 0x7f) {
        return None; // not etagc (RFC 9110 §8.8.3)
    }
    Some((Tag { weak, opaque }, v.get(end + 1..)?))
}

/// A field value that is one entity-tag (ETag, If-Range), OWS trimmed.
pub(crate) fn entity_tag(v: &[u8]) -> Option<Tag<'_>> {
    let (tag, rest) = tag_at(skip_ows(v))?;
    skip_ows(rest).is_empty().then_some(tag)
}

/// A member of an If-None-Match list (RFC 9110 §13.1.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Member<'a> {
    /// `*`: any current representation.
    Any,
    Tag(Tag<'a>),
}

/// The members of one If-None-Match field value; malformed ones skipped.
pub(crate) struct Members<'a>(pub(crate) &'a [u8]);

impl<'a> Iterator for Members<'a> {
    type Item = Member<'a>;

    fn next(&mut self) -> Option<Member<'a>> {
        loop {
            let s = skip_separators(self.0);
            if s.is_empty() {
                self.0 = s;
                return None;
            }
            if let Some(rest) = s.strip_prefix(b"*")
                && ends_element(rest)
            {
                self.0 = after_element(rest);
                return Some(Member::Any);
            }
            match tag_at(s) {
                Some((tag, rest)) if ends_element(rest) => {
                    self.0 = after_element(rest);
                    return Some(Member::Tag(tag));
                }
                _ => self.0 = after_element(s),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testkit::rq;
    use super::*;

    #[test]
    fn cache_control_directives() {
        let c = |v: &str| Control::of(&rq(&format!("GET|{v}")));
        let none = Control::default();
        let max_age = |d| Control { max_age: d, ..none };
        #[rustfmt::skip]
        let cases: &[(&str, Control)] = &[
            ("Cache-Control: no-store", Control { no_store: true, ..none }),   // §5.2.2.5
            ("Cache-Control: No-Store", Control { no_store: true, ..none }),   // §5.2 case-insensitive
            ("Cache-Control: max-age=5", max_age(Delta::Secs(5))),              // §5.2.2.1
            ("Cache-Control: max-age=\"5\"", max_age(Delta::Secs(5))),          // §5.2 quoted form
            ("Cache-Control: max-age=007", max_age(Delta::Secs(7))),            // §1.2.2 1*DIGIT
            ("Cache-Control: max-age = 5", max_age(Delta::Invalid)),            // RFC 9110 §5.6.2 no OWS
            ("Cache-Control: max-age=5x", max_age(Delta::Invalid)),             // §4.2.1 invalid
            ("Cache-Control: max-age=-1", max_age(Delta::Invalid)),
            ("Cache-Control: max-age=", max_age(Delta::Invalid)),
            ("Cache-Control: max-age", max_age(Delta::Invalid)),
            ("Cache-Control: max-age=\"5", max_age(Delta::Invalid)),            // unterminated quote
            ("Cache-Control: max-age=5, max-age=5", max_age(Delta::Secs(5))),   // §4.2.1 same twice
            ("Cache-Control: max-age=5, max-age=6", max_age(Delta::Invalid)),   // §4.2.1 conflict
            ("Cache-Control: max-age=5|Cache-Control: max-age=6", max_age(Delta::Invalid)),
            ("Cache-Control: max-age=5;x, public", Control { public: true, max_age: Delta::Invalid, ..none }),
            ("Cache-Control: private=\"max-age=1, no-store\", max-age=5",      // RFC 9110 §5.6.4
             Control { private: true, max_age: Delta::Secs(5), ..none }),
            ("Cache-Control: no-cache=\"a\\\"b, c\", public", Control { no_cache: true, public: true, ..none }),
            ("Cache-Control: ,,, ,public,,", Control { public: true, ..none }), // RFC 9110 §5.6.1
            ("Cache-Control: \"junk\", =5, public", Control { public: true, ..none }),
            ("Cache-Control: foo=\"bar, baz\", x-ext=1, public", Control { public: true, ..none }), // §5.2.3
            ("Cache-Control: max-stale", Control { max_stale: MaxStale::Any, ..none }),  // §5.2.1.2
            ("Cache-Control: max-stale=9", Control { max_stale: MaxStale::Secs(9), ..none }),
            ("Cache-Control: max-stale=x", Control { max_stale: MaxStale::Invalid, ..none }),
            ("Cache-Control: max-stale=1, max-stale", Control { max_stale: MaxStale::Invalid, ..none }),
            ("Cache-Control: min-fresh=3, s-maxage=4",
             Control { min_fresh: Delta::Secs(3), s_maxage: Delta::Secs(4), ..none }),
            ("Cache-Control: must-revalidate, proxy-revalidate, must-understand, only-if-cached",
             Control { must_revalidate: true, proxy_revalidate: true, must_understand: true,
                       only_if_cached: true, ..none }),
            ("Cache-Control: public=1, must-understand=\"x\"", none),           // only bare ones allow more
            ("Cache-Control: no-store=1, private=\"a\"", Control { no_store: true, private: true, ..none }),
            ("Cache-Control: ", none),
            ("Pragma: no-cache", none),                                         // not Cache-Control
        ];
        for (field, want) in cases {
            assert_eq!(c(field), *want, "{field}");
        }
    }

    #[test]
    fn delta_seconds_values() {
        // RFC 9111 §1.2.2: 1*DIGIT, too large is 2^31.
        let cases = [
            ("0", Delta::Secs(0)),
            ("60", Delta::Secs(60)),
            ("2147483648", Delta::Secs(DELTA_MAX)),
            ("99999999999999999999999999", Delta::Secs(DELTA_MAX)),
            ("", Delta::Invalid),
            ("+5", Delta::Invalid),
            ("5 ", Delta::Invalid),
            ("0x10", Delta::Invalid),
        ];
        for (v, want) in cases {
            assert_eq!(delta_seconds(v.as_bytes()), want, "{v:?}");
        }
    }

    #[test]
    fn entity_tags() {
        // RFC 9110 §8.8.3: entity-tag = [ "W/" ] DQUOTE *etagc DQUOTE.
        let tag = |weak, opaque: &'static str| Tag {
            weak,
            opaque: opaque.as_bytes(),
        };
        let cases = [
            ("\"x\"", Some(tag(false, "x"))),
            (" W/\"x\" ", Some(tag(true, "x"))),
            ("\"\"", Some(tag(false, ""))),
            ("\"a,b\"", Some(tag(false, "a,b"))),
            ("x", None),
            ("\"x", None),
            ("\"x\" y", None),
            ("w/\"x\"", None), // §8.8.3 "W/" is case-sensitive
            ("\"a b\"", None), // a space is not etagc
        ];
        for (v, want) in cases {
            assert_eq!(entity_tag(v.as_bytes()), want, "{v:?}");
        }
        // RFC 9110 §13.1.2: an If-None-Match list; malformed members skipped.
        let members: Vec<Member<'_>> = Members(b"\"a\", W/\"b\" ,*, junk, \"c\" x, \"d").collect();
        assert_eq!(
            members,
            [
                Member::Tag(tag(false, "a")),
                Member::Tag(tag(true, "b")),
                Member::Any
            ]
        );
        // RFC 9110 §8.8.3.2: weak and strong comparison.
        assert!(tag(true, "a").weak_eq(&tag(false, "a")));
        assert!(!tag(true, "a").strong_eq(&tag(false, "a")));
        assert!(tag(false, "a").strong_eq(&tag(false, "a")));
        assert!(!tag(false, "a").weak_eq(&tag(false, "b")));
    }
}
