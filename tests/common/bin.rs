//! The `smolproxy` binary as a child process, for tests of the command
//! line, signals and logs: start it on a free loopback port, read its log
//! lines, send it requests and signals, stop it.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::Receiver;
use std::time::Duration;

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_smolproxy");

/// Keeps the environment a test did not choose out of the child.
pub trait EnvRemove {
    fn env_remove_if_absent(&mut self, env: &[(&str, &str)]) -> &mut Self;
}

impl EnvRemove for Command {
    /// Never inherit a `SMOLPROXY_AUTH` the test did not set.
    fn env_remove_if_absent(&mut self, env: &[(&str, &str)]) -> &mut Self {
        if !env.iter().any(|(k, _)| *k == "SMOLPROXY_AUTH") {
            self.env_remove("SMOLPROXY_AUTH");
        }
        self
    }
}

/// The binary running as a child, its log lines collected.
pub struct Running {
    pub child: Child,
    pub lines: Receiver<String>,
    /// Every line read so far.
    pub seen: Vec<String>,
    /// Where it listens.
    pub addr: String,
}

/// Start the binary on a free loopback port with `args` and `env`; wait
/// until it is ready.
pub fn spawn(args: &[&str], env: &[(&str, &str)]) -> Running {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let addr = format!("127.0.0.1:{port}");
    let mut child = Command::new(BIN)
        .args(["--listen", &addr])
        .args(args)
        .envs(env.iter().copied())
        .env_remove_if_absent(env)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, lines) = std::sync::mpsc::channel();
    let err = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(err).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut r = Running {
        child,
        lines,
        seen: Vec::new(),
        addr,
    };
    r.wait_for("ready");
    r
}

impl Running {
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

    pub fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args([sig, &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(ok.success());
    }

    pub fn send(&self, req: &[u8]) -> super::Response {
        let mut s = TcpStream::connect(&self.addr).unwrap();
        s.set_read_timeout(Some(super::IO_WAIT)).unwrap();
        s.write_all(req).unwrap();
        super::read_response(&mut BufReader::new(s), false).unwrap()
    }

    /// Stop it and return every line it logged.
    pub fn stop(mut self) -> String {
        self.signal("-TERM");
        self.wait_for("stopped");
        assert_eq!(self.child.wait().unwrap().code(), Some(0));
        let rest: Vec<String> = self.lines.try_iter().collect();
        self.seen.extend(rest);
        self.seen.join("\n")
    }
}

impl Drop for Running {
    /// A failed test must not leave the proxy running.
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
