//! The tables of `fresh.rs`'s rules, one row per case, each citing the
//! section of RFC 9111 (unless another RFC is named) it checks.

use super::testkit::{T, rq, rs};
use super::*;

const DEB: &str = "/debian/pool/main/h/hello/hello_2.10-3_arm64.deb";
const INRELEASE: &str = "/debian/dists/trixie/InRelease";

/// Request, response status and fields, path, the answer.
type StoreRow = (
    &'static str,
    u16,
    &'static str,
    &'static str,
    Result<(), NotStored>,
);

#[test]
fn what_is_stored() {
    use NotStored::*;
    let auth = "GET|Authorization: Basic eDp5";
    #[rustfmt::skip]
    let cases: &[StoreRow] = &[
        ("GET", 200, "Cache-Control: max-age=60", "/", Ok(())), // §3 max-age
        ("GET", 200, "Date: {0}|Last-Modified: {-9000}", "/", Ok(())), // §4.2.2 heuristic
        ("GET", 200, "ETag: \"a\"", "/", Ok(())), // §3 cacheable by default, §4.3 validated
        ("GET", 200, "", "/", Err(NoValidator)),  // §4.3.1 no freshness, nothing to validate with
        ("POST", 200, "Cache-Control: max-age=60", "/", Err(Method)), // §3 method understood
        ("HEAD", 200, "Cache-Control: max-age=60", "/", Err(Method)), // §3 HEAD answered from GET
        ("GET", 206, "Cache-Control: max-age=60", "/", Err(Status)), // §3 206 not understood here
        ("GET", 304, "Cache-Control: max-age=60", "/", Err(Status)), // §3 304 not understood here
        ("GET", 103, "Cache-Control: max-age=60", "/", Err(Status)), // §3 final status only
        ("GET", 600, "Cache-Control: max-age=60", "/", Err(Status)), // RFC 9110 §15 no such class
        ("GET", 302, "ETag: \"a\"", "/", Err(NotCacheable)), // §3 not cacheable by default
        ("GET", 302, "Cache-Control: max-age=60", "/", Ok(())), // §3 explicit max-age
        ("GET", 302, "Cache-Control: public|ETag: \"a\"", "/", Ok(())), // §3 public
        ("GET", 500, "Expires: {60}|Date: {0}", "/", Ok(())), // §3 Expires
        ("GET", 200, "Cache-Control: no-store, max-age=60", "/", Err(NoStore)), // §5.2.2.5
        ("GET|Cache-Control: no-store", 200, "Cache-Control: max-age=60", "/", Err(NoStore)), // §5.2.1.5
        ("GET", 200, "Cache-Control: no-store, must-understand, max-age=9", "/", Ok(())), // §5.2.2.3
        ("GET", 299, "Cache-Control: must-understand, max-age=9", "/", Err(Status)), // §5.2.2.3
        ("GET", 200, "Cache-Control: private, max-age=60", "/", Err(Private)), // §5.2.2.7
        ("GET", 200, "Cache-Control: private=\"X\", max-age=9", "/", Err(Private)), // §5.2.2.7
        (auth, 200, "Cache-Control: max-age=60", "/", Err(Authorization)), // §3.5
        (auth, 200, "Cache-Control: public, max-age=60", "/", Ok(())), // §3.5 public
        (auth, 200, "Cache-Control: s-maxage=60", "/", Ok(())), // §3.5 s-maxage
        (auth, 200, "Cache-Control: must-revalidate, max-age=9", "/", Ok(())), // §3.5
        ("GET", 200, "Cache-Control: max-age=60|Set-Cookie: s=1", "/", Err(SetCookie)), // §7.3
        ("GET", 200, "Cache-Control: public, max-age=9|Set-Cookie: s=1", "/", Ok(())), // §7.3
        ("GET", 200, "Cache-Control: max-age=60|Vary: Accept, *", "/", Err(VaryStar)), // §4.1
        ("GET", 200, "Cache-Control: max-age=60|Vary: Accept", "/", Ok(())), // §4.1
        ("GET", 200, "Cache-Control: no-cache, max-age=60", "/", Err(NoValidator)), // §5.2.2.4
        ("GET", 200, "Cache-Control: no-cache|ETag: \"a\"", "/", Ok(())), // §5.2.2.4
        ("GET", 200, "Cache-Control: max-age=0", "/", Err(NoValidator)), // §4.2.1 stale at once
        ("GET", 200, "Cache-Control: max-age=600", INRELEASE, Err(NoValidator)), // package table
        ("GET", 200, "Last-Modified: {-60}", INRELEASE, Ok(())), // package table, §4.3.1
        ("GET", 200, "", DEB, Ok(())),            // package table: kept
        ("GET", 404, "", DEB, Err(NoValidator)),  // package table: 200 only
    ];
    for (req, status, resp, path, want) in cases {
        let got = storable(&rq(req), &rs(*status, resp), path);
        assert_eq!(got, *want, "{req} / {status} {resp} / {path}");
    }
    assert_eq!(NotStored::SetCookie.reason(), "set-cookie");
}

#[test]
fn lifetimes() {
    let month = Some(PACKAGE_KEEP_SECS);
    #[rustfmt::skip]
    let cases: &[(u16, &str, &str, Option<Secs>)] = &[
        (200, "Cache-Control: s-maxage=10, max-age=20", "/", Some(10)), // §4.2.1 s-maxage first
        (200, "Cache-Control: max-age=20|Expires: {99}|Date: {0}", "/", Some(20)), // §4.2.1
        (200, "Expires: {100}|Date: {0}", "/", Some(100)),              // §4.2.1 Expires − Date
        (200, "Expires: {-100}|Date: {0}", "/", Some(0)),               // §4.2.1 in the past
        (200, "Expires: 0|Date: {0}", "/", Some(0)),                    // §5.3 invalid = expired
        (200, "Expires: {100}", "/", Some(0)), // §4.2.1 no Date to subtract
        (200, "Expires: {100}|Expires: {200}|Date: {0}", "/", Some(0)), // §4.2.1 duplicates
        (200, "Cache-Control: max-age=abc", "/", Some(0)), // §4.2.1 invalid = stale
        (200, "Cache-Control: max-age=10, max-age=20", "/", Some(0)), // §4.2.1 conflict
        (200, "Cache-Control: max-age=10|Cache-Control: max-age=10", "/", Some(10)), // §4.2.1
        (200, "Cache-Control: max-age=\"30\"", "/", Some(30)), // §5.2 quoted form accepted
        (200, "Cache-Control: MAX-AGE=30", "/", Some(30)), // §5.2 case-insensitive
        (200, "Cache-Control: max-age=99999999999", "/", Some(1 << 31)), // §1.2.2 cap
        (200, "Date: {0}|Last-Modified: {-100000}", "/", Some(10_000)), // §4.2.2 10%
        (200, "Date: {0}|Last-Modified: {-99000000}", "/", Some(HEURISTIC_MAX_SECS)), // cap
        (200, "Date: {0}|Last-Modified: {100}", "/", Some(0)), // §4.2.2 modified "later"
        (200, "Date: {0}", "/", None),         // §4.2.2 nothing to go on
        (404, "Date: {0}|Last-Modified: {-1000}", "/", Some(100)), // RFC 9110 §15.1
        (302, "Date: {0}|Last-Modified: {-1000}", "/", None), // §4.2.2 not by default
        (302, "Cache-Control: public|Date: {0}|Last-Modified: {-1000}", "/", Some(100)), // §4.2.2
        (200, "", DEB, month),                 // package table: keep
        (200, "Cache-Control: max-age=60", DEB, Some(60)), // the origin's word first
        (404, "Date: {0}|Last-Modified: {-1000}", DEB, Some(100)), // keep is for 200
        (200, "", "/debian/dists/trixie/main/by-hash/SHA256/ab12", month), // by-hash
        (200, "Cache-Control: max-age=600", INRELEASE, Some(0)), // package table: revalidate
    ];
    for (status, resp, path, want) in cases {
        assert_eq!(
            lifetime(&rs(*status, resp), path),
            *want,
            "{status} {resp} {path}"
        );
    }
}

#[test]
fn ages() {
    // §4.2.3, fetched with the request sent at T + `sent` and the
    // response received at T, looked at T + 100.
    #[rustfmt::skip]
    let cases: &[(&str, Secs, Secs)] = &[
        ("Date: {0}", 0, 100),             // resident time only
        ("Date: {0}|Age: 50", 0, 150),     // §5.1 Age counts
        ("Date: {0}|Age: 50, 70", 0, 150), // §5.1 first member of a list
        ("Date: {0}|Age: abc", 0, 100),    // §5.1 an invalid Age ignored
        ("Date: {-30}", 0, 130),           // apparent age
        ("Date: {30}", 0, 100),            // clock skew: origin ahead, never negative
        ("Date: {0}|Age: 5", 10, 115),     // response delay corrects Age
        ("", 0, 100),                      // no Date: the time received
    ];
    for (resp, sent, want) in cases {
        let t = Times {
            request: T - sent,
            response: T,
        };
        assert_eq!(age(&rs(200, resp), &t, T + 100), *want, "{resp}");
    }
    // The clock went back after storing: no resident time.
    let t = Times {
        request: T,
        response: T,
    };
    assert_eq!(age(&rs(200, "Date: {-7}"), &t, T - 50), 7);
}

#[test]
fn using_a_stored_response() {
    use Use::*;
    let r100 = "Date: {0}|Cache-Control: max-age=100|ETag: \"a\"";
    #[rustfmt::skip]
    let cases: &[(&str, &str, &str, Secs, Use)] = &[
        ("GET", r100, "/", 50, Fresh),       // §4.2 fresh
        ("GET", r100, "/", 150, Revalidate), // §4.2 stale
        ("GET", "Date: {0}|Cache-Control: max-age=100", "/", 150, Miss), // §4.3.1 no validator
        ("GET|Cache-Control: no-cache", r100, "/", 50, Revalidate), // §5.2.1.4
        ("GET|Pragma: no-cache", r100, "/", 50, Revalidate), // §5.4
        ("GET|Pragma: no-cache|Cache-Control: min-fresh=1", r100, "/", 50, Fresh), // §5.4
        ("GET|Cache-Control: max-age=10", r100, "/", 50, Revalidate), // §5.2.1.1
        ("GET|Cache-Control: max-age=60", r100, "/", 50, Fresh), // §5.2.1.1
        ("GET|Cache-Control: max-age=x", r100, "/", 50, Revalidate), // §4.2.1 invalid
        ("GET|Cache-Control: min-fresh=60", r100, "/", 50, Revalidate), // §5.2.1.3
        ("GET|Cache-Control: min-fresh=40", r100, "/", 50, Fresh), // §5.2.1.3
        ("GET|Cache-Control: max-stale", r100, "/", 999, Fresh), // §5.2.1.2
        ("GET|Cache-Control: max-stale=10", r100, "/", 150, Revalidate), // §5.2.1.2
        ("GET|Cache-Control: max-stale=60", r100, "/", 150, Fresh), // §5.2.1.2
        ("GET|Cache-Control: max-stale", "Cache-Control: max-age=9, must-revalidate|ETag: \"a\"", "/", 50, Revalidate), // §4.2.4
        ("GET|Cache-Control: max-stale", "Cache-Control: max-age=9, proxy-revalidate|ETag: \"a\"", "/", 50, Revalidate), // §5.2.2.8
        ("GET|Cache-Control: max-stale", "Cache-Control: s-maxage=9|ETag: \"a\"", "/", 50, Revalidate), // §5.2.2.10
        ("GET", "Cache-Control: max-age=100, no-cache|ETag: \"a\"", "/", 5, Revalidate), // §5.2.2.4
        ("GET", r100, INRELEASE, 5, Revalidate), // package table: every time
        ("GET", r100, DEB, 50, Fresh),
        ("GET|Authorization: Basic eDp5", r100, "/", 5, Miss), // §3.5
        ("GET|Authorization: Basic eDp5", "Cache-Control: public, max-age=100", "/", 5, Fresh), // §3.5
    ];
    for (req, resp, path, at, want) in cases {
        let t = Times {
            request: T,
            response: T,
        };
        let got = use_stored(&rq(req), &rs(200, resp), &t, path, T + at);
        assert_eq!(got, *want, "{req} / {resp} / {path} at +{at}");
    }
}

#[test]
fn lookups_and_invalidation() {
    // §4: GET, and HEAD from a stored GET; others go to the origin.
    for (method, want) in [
        ("GET", true),
        ("HEAD", true),
        ("POST", false),
        ("get", false),
    ] {
        assert_eq!(lookup_allowed(&rq(method)), want, "{method}");
    }
    // §5.2.1.7 only-if-cached.
    assert!(only_if_cached(&rq("GET|Cache-Control: only-if-cached")));
    assert!(!only_if_cached(&rq("GET")));
    // §4.4: non-error responses to unsafe methods (RFC 9110 §9.2.1) invalidate.
    let cases = [
        ("POST", 200, true),
        ("PUT", 201, true),
        ("DELETE", 204, true),
        ("PATCH", 200, true),
        ("POST", 303, true),
        ("PURGE", 200, true), // unknown: not known to be safe
        ("get", 200, true),   // RFC 9110 §9.1 methods are case-sensitive
        ("POST", 404, false), // an error changes nothing
        ("POST", 500, false),
        ("GET", 200, false),
        ("HEAD", 200, false),
        ("OPTIONS", 200, false),
        ("TRACE", 200, false),
    ];
    for (method, status, want) in cases {
        assert_eq!(invalidates(method, status), want, "{method} {status}");
    }
}

#[test]
fn package_table() {
    use PackageRule::*;
    #[rustfmt::skip]
    let cases: &[(&str, Option<PackageRule>)] = &[
        (DEB, Some(Keep)),
        ("/debian/pool/main/d/debian-installer/x_1.0_arm64.udeb", Some(Keep)),
        ("/fedora/41/Packages/h/hello-2.12-1.fc41.aarch64.rpm", Some(Keep)),
        ("/alpine/v3.20/main/aarch64/musl-1.2.5-r0.apk", Some(Keep)),
        ("/openwrt/packages/aarch64/base/libc_1.2.5-r4_aarch64.ipk", Some(Keep)),
        ("/archlinux/core/os/aarch64/bash-5.2-1-aarch64.pkg.tar.zst", Some(Keep)),
        ("/debian/dists/trixie/main/binary-arm64/by-hash/SHA256/0a1b", Some(Keep)),
        ("/pool/hello.deb?token=1", Some(Keep)), // the query is not the name
        (INRELEASE, Some(Revalidate)),
        ("/debian/dists/trixie/Release", Some(Revalidate)),
        ("/debian/dists/trixie/Release.gpg", Some(Revalidate)),
        ("/debian/dists/trixie/main/binary-arm64/Packages", Some(Revalidate)),
        ("/debian/dists/trixie/main/binary-arm64/Packages.xz", Some(Revalidate)),
        ("/debian/dists/trixie/main/source/Sources.gz", Some(Revalidate)),
        ("/fedora/41/repodata/repomd.xml", Some(Revalidate)),
        ("/alpine/v3.20/main/aarch64/APKINDEX.tar.gz", Some(Revalidate)),
        ("/fedora/41/Packages/", None), // a directory listing, not an index
        ("/index.html", None),
        ("/x.deb.html", None),
        ("/my-Release-notes", None),
        ("", None),
    ];
    for (path, want) in cases {
        assert_eq!(package_rule(path), *want, "{path}");
    }
}
