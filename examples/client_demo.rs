//! Demo client: send one GET for a URL through the proxy and print the
//! response (status line, fields and body) as received.
//!
//! ```text
//! cargo run --example client_demo -- http://example.com/ [PROXY_ADDR]
//! ```
//! PROXY_ADDR defaults to 127.0.0.1:8888. Plain `http://` URLs are sent in
//! absolute form; `https://` URLs go through a CONNECT tunnel, and the
//! demo then prints the tunnel's status only (it speaks no TLS).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::ExitCode;
use std::time::Duration;

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let Some(url) = args.next() else {
        eprintln!("usage: client_demo URL [PROXY_ADDR]");
        return ExitCode::from(2);
    };
    let proxy = args.next().unwrap_or_else(|| "127.0.0.1:8888".into());
    match fetch(&url, &proxy) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("client_demo: {e}");
            ExitCode::from(1)
        }
    }
}

fn fetch(url: &str, proxy: &str) -> std::io::Result<()> {
    let mut s = TcpStream::connect(proxy)?;
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    let request = if let Some(rest) = url.strip_prefix("https://") {
        let host = rest.split('/').next().unwrap_or(rest);
        let authority = if host.contains(':') {
            host.to_string()
        } else {
            format!("{host}:443")
        };
        format!("CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n\r\n")
    } else {
        let host = url
            .trim_start_matches("http://")
            .split('/')
            .next()
            .unwrap_or("");
        format!(
            "GET {url} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: smolproxy-client-demo\r\n\
             Connection: close\r\n\r\n"
        )
    };
    s.write_all(request.as_bytes())?;
    let mut response = Vec::new();
    if url.starts_with("https://") {
        // Print only the tunnel's answer: what follows would be TLS.
        let mut byte = [0u8; 1];
        while !response.ends_with(b"\r\n\r\n") && s.read(&mut byte)? == 1 {
            response.push(byte[0]);
        }
    } else {
        s.read_to_end(&mut response)?;
    }
    std::io::stdout().write_all(&response)?;
    Ok(())
}
