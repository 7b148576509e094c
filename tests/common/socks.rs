//! A tiny SOCKS5 server (RFC 1928 CONNECT, optional RFC 1929
//! username/password) on 127.0.0.1:0, a parent proxy for the upstream
//! tests. It records each request's address as text (`1 127.0.0.1:80`,
//! `3 localhost:443`: the address type, then the address) and connects
//! only to loopback: `localhost` or a 127.0.0.0/8 address; anything else
//! is answered 0x04 (host unreachable) without any traffic leaving.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

use super::IO_WAIT;

pub struct Socks5 {
    pub addr: SocketAddr,
    /// Each CONNECT request's address, in arrival order.
    pub asked: Arc<Mutex<Vec<String>>>,
}

impl Socks5 {
    /// A server; with `auth`, it demands that user:pass (method 0x02).
    pub fn start(auth: Option<(&str, &str)>) -> Socks5 {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let asked: Arc<Mutex<Vec<String>>> = Arc::default();
        let log = asked.clone();
        let auth = auth.map(|(u, p)| (u.to_string(), p.to_string()));
        std::thread::spawn(move || {
            for s in l.incoming().flatten() {
                let (log, auth) = (log.clone(), auth.clone());
                std::thread::spawn(move || {
                    let _ = serve(s, &log, auth.as_ref());
                });
            }
        });
        Socks5 { addr, asked }
    }

    pub fn url(&self, scheme: &str) -> String {
        format!("{scheme}://{}", self.addr)
    }

    pub fn asked(&self) -> Vec<String> {
        self.asked.lock().unwrap().clone()
    }
}

fn serve(
    mut s: TcpStream,
    log: &Mutex<Vec<String>>,
    auth: Option<&(String, String)>,
) -> std::io::Result<()> {
    s.set_read_timeout(Some(IO_WAIT))?;
    let mut two = [0u8; 2];
    s.read_exact(&mut two)?;
    let mut methods = vec![0u8; usize::from(two[1])];
    s.read_exact(&mut methods)?;
    let want = if auth.is_some() { 2 } else { 0 };
    if two[0] != 5 || !methods.contains(&want) {
        return s.write_all(&[5, 0xff]);
    }
    s.write_all(&[5, want])?;
    if let Some((user, pass)) = auth {
        let mut b = [0u8; 2];
        s.read_exact(&mut b)?;
        let mut u = vec![0u8; usize::from(b[1])];
        s.read_exact(&mut u)?;
        s.read_exact(&mut b[..1])?;
        let mut p = vec![0u8; usize::from(b[0])];
        s.read_exact(&mut p)?;
        if u != user.as_bytes() || p != pass.as_bytes() {
            return s.write_all(&[1, 1]);
        }
        s.write_all(&[1, 0])?;
    }
    let mut head = [0u8; 4];
    s.read_exact(&mut head)?;
    let host = match head[3] {
        1 => {
            let mut a = [0u8; 4];
            s.read_exact(&mut a)?;
            Ipv4Addr::from(a).to_string()
        }
        4 => {
            let mut a = [0u8; 16];
            s.read_exact(&mut a)?;
            format!("[{}]", Ipv6Addr::from(a))
        }
        3 => {
            let mut n = [0u8; 1];
            s.read_exact(&mut n)?;
            let mut name = vec![0u8; usize::from(n[0])];
            s.read_exact(&mut name)?;
            String::from_utf8_lossy(&name).into_owned()
        }
        _ => return s.write_all(&[5, 8, 0, 1, 0, 0, 0, 0, 0, 0]),
    };
    let mut port = [0u8; 2];
    s.read_exact(&mut port)?;
    let port = u16::from_be_bytes(port);
    log.lock()
        .unwrap()
        .push(format!("{} {host}:{port}", head[3]));
    let loopback = host == "localhost" || host.starts_with("127.");
    let up = if loopback {
        TcpStream::connect((Ipv4Addr::LOCALHOST, port)).ok()
    } else {
        None
    };
    let Some(up) = up else {
        return s.write_all(&[5, 4, 0, 1, 0, 0, 0, 0, 0, 0]);
    };
    s.write_all(&[5, 0, 0, 1, 127, 0, 0, 1, 0, 0])?;
    s.set_read_timeout(None)?;
    let (mut a, mut b) = (s.try_clone()?, up.try_clone()?);
    let (mut s2, mut up2) = (s, up);
    let t = std::thread::spawn(move || {
        let _ = std::io::copy(&mut a, &mut b);
        let _ = b.shutdown(Shutdown::Write);
    });
    let _ = std::io::copy(&mut up2, &mut s2);
    let _ = s2.shutdown(Shutdown::Write);
    let _ = t.join();
    Ok(())
}
