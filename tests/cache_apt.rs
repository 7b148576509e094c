//! The real apt client through the shared cache (issue 11, "Tests and
//! proof"): the test builds a Debian-style repository (a tiny .deb made
//! with `dpkg-deb --build`, `Packages` from `dpkg-scanpackages`, `Release`
//! from `apt-ftparchive release`), serves it from a local origin that
//! counts requests per path and answers conditionals, and runs `apt-get
//! update` + `apt-get download` from two separate apt state folders through
//! the proxy: the second .deb comes from the cache (one origin fetch), the
//! index files are revalidated upstream, and both .debs are byte-exact.

mod common;

use std::collections::HashMap;
use std::io::{BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};

use common::client::read_head;
use common::files::TempDir;
use common::{start_with, test_config};
use smolproxy::config::CacheConfig;

/// Every file's Last-Modified: the repository never changes in the test.
const LAST_MODIFIED: &str = "Mon, 01 Jan 2024 00:00:00 GMT";

/// What the origin saw: per path, (requests, conditional requests).
type Seen = Arc<Mutex<HashMap<String, (usize, usize)>>>;

/// A keep-alive origin serving the files under `root`, with an ETag and a
/// Last-Modified, answering a matching If-None-Match / If-Modified-Since
/// with 304 and counting requests per path.
fn file_origin(root: PathBuf) -> (u16, Seen) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let seen: Seen = Arc::default();
    let s = seen.clone();
    std::thread::spawn(move || {
        for conn in l.incoming() {
            let Ok(conn) = conn else { continue };
            let (root, seen) = (root.clone(), s.clone());
            std::thread::spawn(move || {
                conn.set_read_timeout(Some(common::IO_WAIT)).ok();
                let mut r = BufReader::new(conn.try_clone().unwrap());
                let mut w = conn;
                while let Ok(head) = read_head(&mut r) {
                    let mut words = head.split_whitespace();
                    let method = words.next().unwrap_or("").to_string();
                    let path = words.next().unwrap_or("").to_string();
                    let field = |name: &str| {
                        head.lines().find_map(|l| {
                            let (n, v) = l.split_once(':')?;
                            n.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
                        })
                    };
                    let (inm, ims) = (field("if-none-match"), field("if-modified-since"));
                    {
                        let mut seen = seen.lock().unwrap();
                        let e = seen.entry(path.clone()).or_default();
                        e.0 += 1;
                        e.1 += usize::from(inm.is_some() || ims.is_some());
                    }
                    let rel = path.trim_start_matches('/').replace("./", "");
                    let file = root.join(&rel);
                    let body = match std::fs::read(&file) {
                        Ok(b) if !rel.contains("..") && file.is_file() => b,
                        _ => {
                            let nf = "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n";
                            if w.write_all(nf.as_bytes()).is_err() {
                                return;
                            }
                            continue;
                        }
                    };
                    let etag = format!("\"{}\"", body.len());
                    let same = match (&inm, &ims) {
                        (Some(t), _) => t.split(',').any(|t| t.trim() == etag),
                        (None, Some(d)) => d == LAST_MODIFIED,
                        (None, None) => false,
                    };
                    let fields = format!("ETag: {etag}\r\nLast-Modified: {LAST_MODIFIED}\r\n");
                    let out = if same {
                        format!("HTTP/1.1 304 Not Modified\r\n{fields}\r\n").into_bytes()
                    } else {
                        let mut o = format!(
                            "HTTP/1.1 200 OK\r\n{fields}Content-Length: {}\r\n\r\n",
                            body.len()
                        )
                        .into_bytes();
                        if method != "HEAD" {
                            o.extend_from_slice(&body);
                        }
                        o
                    };
                    if w.write_all(&out).is_err() {
                        return;
                    }
                }
            });
        }
    });
    (port, seen)
}

/// Run `cmd`, failing the test with its output if it fails.
fn ok(cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{cmd:?}: {e} (make test-deps installs it)"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{cmd:?} failed:\n{text}");
    text
}

/// The repository: one package `smolproxy-cache-test` with a 200 KiB file.
fn build_repo(top: &Path) -> PathBuf {
    let pkg = top.join("pkg");
    std::fs::create_dir_all(pkg.join("DEBIAN")).unwrap();
    std::fs::create_dir_all(pkg.join("usr/share/smolproxy-cache-test")).unwrap();
    std::fs::write(
        pkg.join("DEBIAN/control"),
        "Package: smolproxy-cache-test\nVersion: 1.0\nArchitecture: all\n\
         Maintainer: smolproxy tests <tests@localhost>\nDescription: a package for the cache test\n",
    )
    .unwrap();
    let data: Vec<u8> = (0..200u32 << 10)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 11) as u8)
        .collect();
    std::fs::write(pkg.join("usr/share/smolproxy-cache-test/data"), data).unwrap();
    let repo = top.join("repo");
    std::fs::create_dir_all(&repo).unwrap();
    ok(Command::new("dpkg-deb")
        .args(["--root-owner-group", "-Zgzip", "--build"])
        .arg(&pkg)
        .arg(repo.join("smolproxy-cache-test_1.0_all.deb")));
    let packages = ok(Command::new("dpkg-scanpackages")
        .args([".", "/dev/null"])
        .current_dir(&repo));
    let packages: String = packages
        .lines()
        .filter(|l| !l.starts_with("dpkg-scanpackages:"))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(repo.join("Packages"), &packages).unwrap();
    ok(Command::new("gzip")
        .args(["-k", "-9", "Packages"])
        .current_dir(&repo));
    let release = ok(Command::new("apt-ftparchive")
        .args(["release", "."])
        .current_dir(&repo));
    std::fs::write(repo.join("Release"), release).unwrap();
    repo
}

fn sha256(p: &Path) -> String {
    let out = ok(Command::new("sha256sum").arg(p));
    out.split_whitespace().next().unwrap().to_string()
}

/// `apt-get ARGS` with its own state under `home`, through `proxy`.
fn apt(home: &Path, proxy: u16, args: &[&str]) -> String {
    let d = |s: &str| home.join(s).to_str().unwrap().to_string();
    let opts = [
        format!("Dir::State={}", d("state")),
        format!("Dir::State::status={}", d("status")),
        format!("Dir::Cache={}", d("cache")),
        format!("Dir::Etc::SourceList={}", d("sources.list")),
        "Dir::Etc::SourceParts=/dev/null".into(),
        "Dir::Etc::Parts=/dev/null".into(),
        format!("Acquire::http::Proxy=http://127.0.0.1:{proxy}"),
        "Acquire::Languages=none".into(),
        "Debug::NoLocking=1".into(),
        "APT::Sandbox::User=root".into(),
    ];
    let mut cmd = Command::new("apt-get");
    cmd.env("APT_CONFIG", "/dev/null")
        .current_dir(home.join("download"));
    for o in &opts {
        cmd.arg("-o").arg(o);
    }
    ok(cmd.args(["-q", "-y"]).args(args))
}

fn apt_home(top: &Path, name: &str, origin: u16) -> PathBuf {
    let home = top.join(name);
    for d in ["state/lists/partial", "cache/archives/partial", "download"] {
        std::fs::create_dir_all(home.join(d)).unwrap();
    }
    std::fs::write(home.join("status"), "").unwrap();
    let line = format!("deb [trusted=yes] http://localhost:{origin}/ ./\n");
    std::fs::write(home.join("sources.list"), line).unwrap();
    home
}

#[test]
fn two_apt_clients_fetch_the_package_once() {
    let top = TempDir::new("cache-apt");
    let repo = build_repo(top.path());
    let (origin, seen) = file_origin(repo.clone());
    let mut c = test_config();
    c.cache = Some(CacheConfig {
        dir: top.path().join("cache"),
        max_bytes: 64 << 20,
        mem_bytes: 1 << 20,
    });
    let p = start_with(c);
    let port = p.addr.port();
    let want = sha256(&repo.join("smolproxy-cache-test_1.0_all.deb"));
    let mut got = Vec::new();
    for name in ["pi-one", "pi-two"] {
        let home = apt_home(top.path(), name, origin);
        apt(&home, port, &["update"]);
        apt(&home, port, &["download", "smolproxy-cache-test"]);
        got.push(sha256(
            &home.join("download/smolproxy-cache-test_1.0_all.deb"),
        ));
    }
    assert_eq!(got, [want.clone(), want], "both .debs are exact");
    let seen = seen.lock().unwrap().clone();
    let deb: usize = seen
        .iter()
        .filter(|(p, _)| p.ends_with(".deb"))
        .map(|(_, n)| n.0)
        .sum();
    assert_eq!(deb, 1, "the second .deb came from the cache: {seen:?}");
    let index = |name: &str| {
        seen.iter()
            .filter(|(p, _)| p.ends_with(name))
            .fold((0, 0), |a, (_, n)| (a.0 + n.0, a.1 + n.1))
    };
    let (release, release_conditional) = index("/Release");
    assert!(release >= 2, "Release asked upstream each update: {seen:?}");
    assert!(release_conditional >= 1, "and revalidated: {seen:?}");
    let (packages, packages_conditional) = index("/Packages.gz");
    assert!(packages >= 2 && packages_conditional >= 1, "{seen:?}");
}
