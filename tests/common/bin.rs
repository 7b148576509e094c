//! The `smolproxy` binary as a child process, for tests of the command
//! line, signals, logs and limits. `run` runs it to completion. `Spawn`
//! starts it on a free loopback port, optionally under `prlimit`, and
//! gives a `Running`: its log lines come through a pipe as they are
//! written; it is sent requests and signals, measured through /proc, and
//! stopped or killed. Its log reaches the terminal only when the test
//! fails (printed, through libtest's capture, when a `Running` is dropped
//! during a panic).

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

use super::client::{self, Response};

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_smolproxy");

/// `cmd` with `env` set, and never a `SMOLPROXY_AUTH` or
/// `SMOLPROXY_UPSTREAM_AUTH` the test did not set.
fn with_env<'c>(cmd: &'c mut Command, env: &[(&str, &str)]) -> &'c mut Command {
    for var in ["SMOLPROXY_AUTH", "SMOLPROXY_UPSTREAM_AUTH"] {
        if !env.iter().any(|(k, _)| *k == var) {
            cmd.env_remove(var);
        }
    }
    cmd.envs(env.iter().copied())
}

/// How a run to completion ended.
pub struct Exit {
    /// The exit code, -1 when killed by a signal.
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Run the binary with `args` and `env` to completion.
pub fn run(args: &[&str], env: &[(&str, &str)]) -> Exit {
    let out = with_env(Command::new(BIN).args(args), env)
        .output()
        .unwrap();
    Exit {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// How to start the binary as a long-running child.
pub struct Spawn<'a> {
    args: &'a [&'a str],
    env: &'a [(&'a str, &'a str)],
    nofile: Option<u32>,
    netns: Option<&'a str>,
}

/// Start the binary with `args` and `env`; see `Spawn::start`.
pub fn spawn(args: &[&str], env: &[(&str, &str)]) -> Running {
    Spawn::new(args).env(env).start()
}

impl<'a> Spawn<'a> {
    /// `--listen 127.0.0.1:PORT` (a free port) and then `args`.
    pub fn new(args: &'a [&'a str]) -> Spawn<'a> {
        Spawn {
            args,
            env: &[],
            nofile: None,
            netns: None,
        }
    }

    /// Environment variables for the child (the rest is inherited, except
    /// `SMOLPROXY_AUTH`).
    pub fn env(mut self, env: &'a [(&'a str, &'a str)]) -> Spawn<'a> {
        self.env = env;
        self
    }

    /// Run it in the network namespace `ns` (`ip netns exec`, which execs
    /// the proxy: the pid is its own). Its `--listen` is that namespace's
    /// loopback, so only `wait_for` and the log are of use from outside.
    pub fn netns(mut self, ns: &'a str) -> Spawn<'a> {
        self.netns = Some(ns);
        self
    }

    /// Run it under `prlimit --nofile=N:N` (a low descriptor limit).
    pub fn nofile(mut self, n: u32) -> Spawn<'a> {
        self.nofile = Some(n);
        self
    }

    /// Start it and wait until it is ready: until its `ready` log line,
    /// or, with `-q` (which logs no such line), until it accepts
    /// connections.
    pub fn start(self) -> Running {
        let addr: SocketAddr = format!("127.0.0.1:{}", super::free_port()).parse().unwrap();
        let mut cmd = match (self.nofile, self.netns) {
            (_, Some(ns)) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns, BIN]);
                c
            }
            (Some(n), None) => {
                let mut c = Command::new("prlimit");
                c.arg(format!("--nofile={n}:{n}")).arg("--").arg(BIN);
                c
            }
            (None, None) => Command::new(BIN),
        };
        cmd.args(["--listen", &addr.to_string()]).args(self.args);
        let mut child = with_env(&mut cmd, self.env)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the proxy binary (and prlimit, when asked for)");
        let (tx, lines) = std::sync::mpsc::channel();
        let mut err = BufReader::new(child.stderr.take().unwrap());
        std::thread::spawn(move || {
            let mut line = Vec::new();
            while matches!(err.read_until(b'\n', &mut line), Ok(n) if n > 0) {
                let text = String::from_utf8_lossy(&line);
                let text = text.strip_suffix('\n').unwrap_or(&text);
                let text = text.strip_suffix('\r').unwrap_or(text);
                if tx.send(text.to_string()).is_err() {
                    break;
                }
                line.clear();
            }
        });
        let mut r = Running {
            child,
            lines,
            seen: Vec::new(),
            addr,
        };
        if self.args.contains(&"-q") && self.netns.is_none() {
            assert!(
                super::eventually(Duration::from_secs(10), || TcpStream::connect(addr).is_ok()),
                "the spawned proxy never listened"
            );
        } else {
            r.wait_for("ready");
        }
        if self.nofile.is_some() {
            let comm = std::fs::read_to_string(format!("/proc/{}/comm", r.pid())).unwrap();
            assert_eq!(comm.trim(), "smolproxy", "prlimit execs the proxy");
        }
        r
    }
}

/// The binary running as a child, its log lines collected.
pub struct Running {
    pub child: Child,
    lines: Receiver<String>,
    /// Every line read so far.
    pub seen: Vec<String>,
    /// Where it listens.
    pub addr: SocketAddr,
}

impl Running {
    /// Read log lines until one contains `word`; return it.
    pub fn wait_for(&mut self, word: &str) -> String {
        loop {
            let line = self
                .lines
                .recv_timeout(Duration::from_secs(10))
                .unwrap_or_else(|_| panic!("no log line with {word:?} in {:#?}", self.seen));
            self.seen.push(line.clone());
            if line.contains(word) {
                return line;
            }
        }
    }

    /// Every line it logged, once it has exited: reads until its stderr
    /// closes (waiting at most 5 s for that).
    pub fn all_lines(&mut self) -> &[String] {
        let end = Instant::now() + Duration::from_secs(5);
        while let Ok(line) = self
            .lines
            .recv_timeout(end.saturating_duration_since(Instant::now()))
        {
            self.seen.push(line);
        }
        &self.seen
    }

    pub fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args([sig, &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(ok.success());
    }

    /// Send `req` on a new connection, read one response.
    pub fn send(&self, req: &[u8]) -> Response {
        client::send(self.addr, req)
    }

    /// One GET through it, each step bounded by 2 s; `None` on any failure.
    pub fn try_get(&self, url: &str) -> Option<u16> {
        use std::io::Write;
        let mut s = TcpStream::connect_timeout(&self.addr, Duration::from_secs(2)).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
        s.write_all(&client::get(url)).ok()?;
        client::read_response(&mut BufReader::new(s), false)
            .ok()
            .map(|r| r.status)
    }

    /// Stop it with SIGTERM, expect a clean exit 0, and return every line
    /// it logged.
    pub fn stop(mut self) -> String {
        self.signal("-TERM");
        self.wait_for("stopped");
        assert_eq!(self.child.wait().unwrap().code(), Some(0));
        self.all_lines().join("\n")
    }

    /// Kill it (SIGKILL) and return every line it logged.
    pub fn kill(mut self) -> String {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.all_lines().join("\n")
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether it is still running.
    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// utime + stime in clock ticks.
    pub fn cpu_ticks(&self) -> u64 {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid())).unwrap();
        let rest = &stat[stat.rfind(')').unwrap() + 2..];
        let f: Vec<&str> = rest.split_whitespace().collect();
        // Fields 14 and 15 of stat; `rest` starts at field 3.
        f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap()
    }

    /// Its resident set size, VmRSS, in KiB.
    pub fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap()
    }
}

impl Drop for Running {
    /// A failed test must not leave the proxy running, and shows its log
    /// (a passing test shows nothing).
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            let log = self.all_lines().join("\n");
            eprintln!(
                "---- log of the smolproxy child on {} ----\n{log}",
                self.addr
            );
        }
    }
}
