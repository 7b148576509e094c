//! Basic proxy authentication (RFC 9110 §11.7.1, RFC 7617): the users
//! allowed, read from `--auth-file` (`user:password` lines, `#` comments)
//! and `SMOLPROXY_AUTH=user:password`; the strict base64 decoder; and the
//! check of a request's `Proxy-Authorization` field, comparing in constant
//! time. Passwords never leave this module: no `Debug`, no log line holds
//! one.

use std::path::Path;

use super::load::{PolicyError, read_bounded};

/// The challenge field of every 407 response (RFC 9110 §11.7.1).
pub(crate) const CHALLENGE_FIELD: &str = "Proxy-Authenticate: Basic realm=\"smolproxy\"\r\n";

/// The environment variable holding one `user:password`.
pub const ENV_VAR: &str = "SMOLPROXY_AUTH";

/// Largest auth file read, in bytes (a household has a few users).
pub(crate) const MAX_AUTH_FILE_BYTES: u64 = 1024 * 1024;

/// Longest base64 credentials token accepted; longer ones are refused
/// without decoding.
pub(crate) const MAX_TOKEN_LEN: usize = 1024;

/// A secret string whose `Debug` does not show it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(..)")
    }
}

/// Why a request is not authenticated; each maps to 407.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AuthError {
    /// No `Proxy-Authorization` field.
    Missing,
    /// Not `Basic` with valid base64 `user:password`, or several fields.
    Malformed,
    /// No such user with that password.
    Wrong,
}

impl AuthError {
    /// A short explanation; never names the user or the password.
    pub(crate) fn message(&self) -> &'static str {
        match self {
            AuthError::Missing => "proxy authentication required",
            AuthError::Malformed => {
                "malformed Proxy-Authorization (Basic with base64 user:password expected)"
            }
            AuthError::Wrong => "wrong proxy user name or password",
        }
    }
}

/// The users allowed to use the proxy.
#[derive(Default)]
pub(crate) struct Credentials {
    users: Vec<(String, Vec<u8>)>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Credentials({} users)", self.users.len())
    }
}

/// Split `user:password` at the first colon (RFC 7617 §2: a user-id
/// cannot contain one, a password can). The user name must be printable
/// ASCII without spaces, so it is safe in a log line.
fn split_pair(s: &str) -> Result<(&str, &str), &'static str> {
    let (user, pass) = s
        .split_once(':')
        .ok_or("expected user:password (no colon found)")?;
    if user.is_empty() || !user.bytes().all(|b| b.is_ascii_graphic()) {
        return Err("the user name must be non-empty printable ASCII without spaces");
    }
    if pass.is_empty() {
        return Err("the password is empty");
    }
    Ok((user, pass))
}

impl Credentials {
    /// Add the `user:password` in `SMOLPROXY_AUTH`.
    pub(crate) fn add_env(&mut self, s: &Secret) -> Result<(), PolicyError> {
        let (u, p) = split_pair(&s.0).map_err(|why| PolicyError::BadUser(ENV_VAR.into(), why))?;
        self.users.push((u.to_string(), p.as_bytes().to_vec()));
        Ok(())
    }

    /// Add the users of an auth file's `text`. Blank lines and `#`
    /// comments are skipped; a bad line is an error naming file:line (a
    /// half-read user list would lock people out without saying why).
    pub(crate) fn add_file_text(&mut self, text: &str, origin: &str) -> Result<usize, PolicyError> {
        let mut added = 0;
        for (i, line) in text.lines().enumerate() {
            if line.trim().is_empty() || line.trim_start().starts_with('#') {
                continue;
            }
            let (u, p) = split_pair(line)
                .map_err(|why| PolicyError::BadUser(format!("{origin}:{}", i + 1), why))?;
            self.users.push((u.to_string(), p.as_bytes().to_vec()));
            added += 1;
        }
        if added == 0 {
            return Err(PolicyError::NoUsers(origin.to_string()));
        }
        Ok(added)
    }

    /// Read the auth file at `path`.
    pub(crate) fn add_file(&mut self, path: &Path) -> Result<usize, PolicyError> {
        let bytes = read_bounded(path, MAX_AUTH_FILE_BYTES)?;
        let text =
            String::from_utf8(bytes).map_err(|_| PolicyError::NotText(path.to_path_buf()))?;
        self.add_file_text(&text, &path.display().to_string())
    }

    /// Check the request's `Proxy-Authorization` values; the user name on
    /// success. Every user is compared, each in constant time, so the
    /// time taken says nothing about which part was wrong.
    pub(crate) fn check<'a>(
        &self,
        mut fields: impl Iterator<Item = &'a [u8]>,
    ) -> Result<&str, AuthError> {
        let field = fields.next().ok_or(AuthError::Missing)?;
        if fields.next().is_some() {
            return Err(AuthError::Malformed);
        }
        let decoded = parse_basic(field).ok_or(AuthError::Malformed)?;
        let colon = decoded
            .iter()
            .position(|&b| b == b':')
            .ok_or(AuthError::Malformed)?;
        let (user, pass) = decoded.split_at(colon);
        self.check_pair(user, pass.get(1..).unwrap_or_default())
    }

    /// Check a user name and password (Basic, or SOCKS5's RFC 1929
    /// sub-negotiation); the user name on success. Every user is compared,
    /// each in constant time.
    pub(crate) fn check_pair(&self, user: &[u8], pass: &[u8]) -> Result<&str, AuthError> {
        let mut found = None;
        for (name, secret) in &self.users {
            let ok = ct_eq(name.as_bytes(), user) & ct_eq(secret, pass);
            if ok {
                found = Some(name.as_str());
            }
        }
        found.ok_or(AuthError::Wrong)
    }
}

/// `Basic <token68>` → the decoded bytes. The scheme is case-insensitive
/// (RFC 9110 §11.1); one or more spaces follow it (§11.4); surrounding
/// whitespace was trimmed by the head parser, trimmed again here.
pub(crate) fn parse_basic(field: &[u8]) -> Option<Vec<u8>> {
    let field = field.trim_ascii();
    let sp = field.iter().position(|&b| b == b' ')?;
    let (scheme, token) = field.split_at(sp);
    if !scheme.eq_ignore_ascii_case(b"basic") {
        return None;
    }
    let token = token.trim_ascii_start();
    if token.len() > MAX_TOKEN_LEN {
        return None;
    }
    base64_decode(token)
}

/// Equal contents, in time that depends only on the lengths.
pub(crate) fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = u8::from(a.len() != b.len());
    for (i, &x) in a.iter().enumerate() {
        diff |= x ^ b.get(i).copied().unwrap_or(!x);
    }
    std::hint::black_box(diff) == 0
}

fn sextet(b: u8) -> Option<u32> {
    Some(u32::from(match b {
        b'A'..=b'Z' => b - b'A',
        b'a'..=b'z' => b - b'a' + 26,
        b'0'..=b'9' => b - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => return None,
    }))
}

/// Strict base64 (RFC 4648 §4, the alphabet RFC 7617 uses): length a
/// multiple of 4, `=` padding only at the end, unused bits zero (§3.5),
/// no whitespace. `None` for anything else.
pub(crate) fn base64_decode(s: &[u8]) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(4) {
        return None;
    }
    let groups = s.len() / 4;
    let mut out = Vec::with_capacity(groups * 3);
    for (i, group) in s.chunks_exact(4).enumerate() {
        let pad = group.iter().rev().take_while(|&&b| b == b'=').count();
        if pad > 2 || (pad > 0 && i + 1 != groups) {
            return None;
        }
        let mut n = 0u32;
        for &b in group.iter().take(4 - pad) {
            n = n << 6 | sextet(b)?;
        }
        n <<= 6 * pad;
        if n & ((1 << (8 * pad)) - 1) != 0 {
            return None;
        }
        out.extend(n.to_be_bytes().iter().skip(1).take(3 - pad));
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_table() {
        let good: &[(&str, &str)] = &[
            ("", ""),
            ("Zg==", "f"),
            ("Zm8=", "fo"),
            ("Zm9v", "foo"),
            ("Zm9vYg==", "foob"),
            ("Zm9vYmFy", "foobar"),
            ("YWxpY2U6czNjcjN0", "alice:s3cr3t"),
            ("Pz8/Pj4+", "???>>>"),
        ];
        for (enc, dec) in good {
            assert_eq!(
                base64_decode(enc.as_bytes()).as_deref(),
                Some(dec.as_bytes()),
                "{enc}"
            );
        }
        for bad in [
            "Zg", "Zg=", "Zg===", "Z===", "Zh==", "Zm9=", "Zg==Zg==", "Zm 9v", "Zm9v\n", "Zm-_",
            "====", "Zm=v",
        ] {
            assert_eq!(base64_decode(bad.as_bytes()), None, "{bad}");
        }
    }

    #[test]
    fn constant_time_equality() {
        assert!(ct_eq(b"secret", b"secret"));
        assert!(ct_eq(b"", b""));
        assert!(!ct_eq(b"secret", b"secreT"));
        assert!(!ct_eq(b"secret", b"secret!"));
        assert!(!ct_eq(b"secret!", b"secret"));
        assert!(!ct_eq(b"", b"x"));
        assert!(!ct_eq(b"\xff", b"\x00"));
    }

    fn creds() -> Credentials {
        let mut c = Credentials::default();
        c.add_file_text("# users\n\nalice:s3cr3t\r\nbob:pa:ss:word\n", "users")
            .unwrap();
        c.add_env(&Secret("carol:x".into())).unwrap();
        c
    }

    fn field(user_pass: &str) -> Vec<u8> {
        // Written by hand so the test does not trust the decoder it tests.
        const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut out = b"Basic ".to_vec();
        for c in user_pass.as_bytes().chunks(3) {
            let n = c
                .iter()
                .enumerate()
                .fold(0u32, |n, (i, &b)| n | u32::from(b) << (16 - 8 * i));
            for i in 0..4 {
                out.push(if i <= c.len() {
                    A[(n >> (18 - 6 * i) & 63) as usize]
                } else {
                    b'='
                });
            }
        }
        out
    }

    #[test]
    fn checks() {
        let c = creds();
        let one = |f: &[u8]| c.check(std::iter::once(f)).map(str::to_string);
        assert_eq!(one(&field("alice:s3cr3t")), Ok("alice".into()));
        assert_eq!(
            one(&field("bob:pa:ss:word")),
            Ok("bob".into()),
            "colon in password"
        );
        assert_eq!(one(&field("carol:x")), Ok("carol".into()));
        assert_eq!(one(b"basic   YWxpY2U6czNjcjN0"), Ok("alice".into()));
        assert_eq!(one(&field("alice:wrong")), Err(AuthError::Wrong));
        assert_eq!(one(&field("alice:s3cr3t ")), Err(AuthError::Wrong));
        assert_eq!(one(&field("bob:pa")), Err(AuthError::Wrong));
        assert_eq!(one(&field("mallory:s3cr3t")), Err(AuthError::Wrong));
        assert_eq!(one(&field(":s3cr3t")), Err(AuthError::Wrong));
        assert_eq!(one(&field("alice")), Err(AuthError::Malformed));
        assert_eq!(one(b"Bearer YWxpY2U6czNjcjN0"), Err(AuthError::Malformed));
        assert_eq!(one(b"Basic"), Err(AuthError::Malformed));
        assert_eq!(one(b"Basic YWxpY2U6czNjcjN0="), Err(AuthError::Malformed));
        let long = [b"Basic ".as_slice(), &[b'A'; MAX_TOKEN_LEN + 4]].concat();
        assert_eq!(one(&long), Err(AuthError::Malformed));
        assert_eq!(c.check(std::iter::empty()), Err(AuthError::Missing));
        let f = field("alice:s3cr3t");
        assert_eq!(
            c.check([f.as_slice(), f.as_slice()].into_iter()),
            Err(AuthError::Malformed),
            "two fields"
        );
    }

    #[test]
    fn bad_files_and_env() {
        let mut c = Credentials::default();
        let e = c
            .add_file_text("alice:ok\nnocolon\n", "users")
            .unwrap_err()
            .to_string();
        assert_eq!(e, "users:2: expected user:password (no colon found)");
        let e = c
            .add_file_text("# only comments\n", "users")
            .unwrap_err()
            .to_string();
        assert_eq!(e, "users: no user:password lines");
        let e = c
            .add_file_text("al ice:pw\n", "users")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("users:1: the user name"), "{e}");
        let e = c
            .add_file_text("alice:\n", "users")
            .unwrap_err()
            .to_string();
        assert_eq!(e, "users:1: the password is empty");
        let e = c.add_env(&Secret("nopass".into())).unwrap_err().to_string();
        assert!(e.starts_with("SMOLPROXY_AUTH: "), "{e}");
        assert!(!format!("{:?} {:?}", Secret("a:b".into()), creds()).contains("s3cr3t"));
    }
}
