//! Dropping root after binding (`--user NAME`): find the user in
//! `/etc/passwd` and its groups in `/etc/group` (read here, because the
//! static musl build has no NSS), then become that user's uid, gid and
//! supplementary groups. On Linux these are per-thread system calls (the
//! C library's process-wide `setuid` broadcasts them; the raw calls do
//! not), so the drop refuses to run once a second thread exists.

use std::io;
use std::path::Path;

/// Where users are read from.
pub const PASSWD: &str = "/etc/passwd";
/// Where groups are read from.
pub const GROUP: &str = "/etc/group";
/// Most bytes read from either file: a device's account files are a few
/// KiB; a larger one is read only this far.
pub const MAX_ACCOUNT_FILE: u64 = 1024 * 1024;
/// Most supplementary groups taken (Linux's NGROUPS_MAX is 65536; a
/// service user has a handful).
pub const MAX_GROUPS: usize = 64;

/// A user to become.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// Its name.
    pub name: String,
    /// User id.
    pub uid: u32,
    /// Primary group id.
    pub gid: u32,
    /// Supplementary groups: the primary one and every group naming it.
    pub groups: Vec<u32>,
}

/// Why `--user` cannot be used.
#[derive(Debug)]
pub enum UserError {
    /// No such user in `/etc/passwd`: a usage error (exit 2).
    Unknown(String),
    /// An account file could not be read (exit 1).
    Read(&'static str, io::Error),
    /// Other threads already run: a drop now would leave them root (exit 1).
    Threads(usize),
    /// The kernel refused (not root, or no CAP_SETUID/CAP_SETGID) (exit 1).
    Refused(String, io::Error),
}

impl UserError {
    /// Whether this is a mistake on the command line (exit 2).
    pub fn is_usage(&self) -> bool {
        matches!(self, UserError::Unknown(_))
    }
}

impl std::fmt::Display for UserError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            UserError::Unknown(n) => write!(f, "--user: no user '{n}' in {PASSWD}"),
            UserError::Read(p, e) => write!(f, "--user: cannot read {p}: {e}"),
            UserError::Threads(n) => {
                write!(f, "cannot drop privileges: {n} threads already run")
            }
            UserError::Refused(n, e) => write!(f, "cannot drop privileges to '{n}': {e}"),
        }
    }
}

/// Find `name` in the texts of `/etc/passwd` and `/etc/group`.
pub fn find(name: &str, passwd: &str, group: &str) -> Option<Account> {
    let (uid, gid) = passwd.lines().find_map(|l| {
        let mut f = l.split(':');
        if f.next()? != name {
            return None;
        }
        let _password = f.next()?;
        Some((f.next()?.parse().ok()?, f.next()?.parse().ok()?))
    })?;
    let mut groups = vec![gid];
    for l in group.lines() {
        let mut f = l.split(':');
        let (Some(_), Some(_), Some(id), Some(members)) = (f.next(), f.next(), f.next(), f.next())
        else {
            continue;
        };
        let Ok(id) = id.parse::<u32>() else { continue };
        if members.split(',').any(|m| m.trim() == name)
            && !groups.contains(&id)
            && groups.len() < MAX_GROUPS
        {
            groups.push(id);
        }
    }
    Some(Account {
        name: name.to_string(),
        uid,
        gid,
        groups,
    })
}

fn read_bounded(path: &'static str) -> Result<String, UserError> {
    use std::io::Read;
    let mut text = String::new();
    std::fs::File::open(Path::new(path))
        .and_then(|f| f.take(MAX_ACCOUNT_FILE).read_to_string(&mut text))
        .map_err(|e| UserError::Read(path, e))?;
    Ok(text)
}

/// Look `name` up in the system's account files.
pub fn lookup(name: &str) -> Result<Account, UserError> {
    let passwd = read_bounded(PASSWD)?;
    let group = read_bounded(GROUP)?;
    find(name, &passwd, &group).ok_or_else(|| UserError::Unknown(name.to_string()))
}

/// Whether the process runs as root now.
#[cfg(target_os = "linux")]
pub fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// Threads of this process now (`/proc/self/task`).
#[cfg(target_os = "linux")]
pub fn threads() -> io::Result<usize> {
    Ok(std::fs::read_dir("/proc/self/task")?.count())
}

/// Become `a`: groups first, then gid, then uid (after which nothing may
/// be changed back), all three ids of each (real, effective, saved) so
/// root cannot be regained. Call while this is the only thread.
#[cfg(target_os = "linux")]
pub fn become_user(a: &Account) -> Result<(), UserError> {
    use rustix::process::{Gid, Uid, getegid, geteuid};
    use rustix::thread::{set_thread_groups, set_thread_res_gid, set_thread_res_uid};
    let n = threads().map_err(|e| UserError::Refused(a.name.clone(), e))?;
    if n != 1 {
        return Err(UserError::Threads(n));
    }
    let refused = |e: rustix::io::Errno| UserError::Refused(a.name.clone(), e.into());
    let groups: Vec<Gid> = a.groups.iter().map(|&g| Gid::from_raw(g)).collect();
    let (uid, gid) = (Uid::from_raw(a.uid), Gid::from_raw(a.gid));
    set_thread_groups(&groups).map_err(refused)?;
    set_thread_res_gid(gid, gid, gid).map_err(refused)?;
    set_thread_res_uid(uid, uid, uid).map_err(refused)?;
    if geteuid() != uid || getegid() != gid {
        let e = io::Error::other("the ids did not change");
        return Err(UserError::Refused(a.name.clone(), e));
    }
    Ok(())
}

/// Elsewhere root is not checked.
#[cfg(not(target_os = "linux"))]
pub fn is_root() -> bool {
    false
}

/// Elsewhere dropping is not supported.
#[cfg(not(target_os = "linux"))]
pub fn become_user(a: &Account) -> Result<(), UserError> {
    let e = io::Error::new(io::ErrorKind::Unsupported, "only on Linux");
    Err(UserError::Refused(a.name.clone(), e))
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD_TEXT: &str = "root:x:0:0:root:/root:/bin/sh\n\
        nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n\
        proxy:x:13:13:proxy:/bin:/usr/sbin/nologin\n\
        broken:x:notanumber:1::/:/bin/false\n\
        short:x:5\n";
    const GROUP_TEXT: &str = "root:x:0:\n\
        proxy:x:13:\n\
        adm:x:4:syslog,proxy\n\
        log:x:20: proxy ,other\n\
        bad:x:zz:proxy\n\
        trunc:x\n\
        nogroup:x:65534:\n";

    #[test]
    fn finds_users_and_their_groups() {
        let a = find("proxy", PASSWD_TEXT, GROUP_TEXT).unwrap();
        assert_eq!((a.uid, a.gid), (13, 13));
        assert_eq!(a.groups, [13, 4, 20]);
        let n = find("nobody", PASSWD_TEXT, GROUP_TEXT).unwrap();
        assert_eq!((n.uid, n.gid, n.groups), (65534, 65534, vec![65534]));
    }

    #[test]
    fn unknown_or_broken_entries_are_not_found() {
        for name in ["ghost", "broken", "short", "", "prox", "proxy:x"] {
            assert_eq!(find(name, PASSWD_TEXT, GROUP_TEXT), None, "{name}");
        }
        assert_eq!(find("root", "", ""), None);
    }

    #[test]
    fn groups_are_bounded() {
        let many: String = (0..200)
            .map(|i| format!("g{i}:x:{}:u\n", 1000 + i))
            .collect();
        let a = find("u", "u:x:1:1::/:/bin/sh\n", &many).unwrap();
        assert_eq!(a.groups.len(), MAX_GROUPS);
    }
}
