//! SOCKS5 on the HTTP port (RFC 1928, with RFC 1929 username/password):
//! `conn.rs` hands over a connection whose first byte is 0x05, after the
//! client access list check (a refused client is told so in SOCKS5's
//! terms, no further). Here the handshake runs — method choice
//! (no-auth when `--auth-file`/`SMOLPROXY_AUTH` is off, username/password
//! when on, checked against the same users), then one request — within
//! the head timeout; CONNECT is checked by the same domain rules, by
//! `--socks-ports`, and dialed through the same `Dialer` (egress guard
//! included); the tunnel is then the same relay as CONNECT's, as a task of
//! its own. BIND and UDP ASSOCIATE are answered 0x07. Every refusal is a
//! `SocksError`, and `SocksError::answer` is the one place that says
//! which reply code the client gets. One access line per connection:
//! method `SOCKS5`, target `host:port`, status 200 on success, else the
//! HTTP status the same failure gets on the HTTP side (see
//! `SocksError::status`). Counted in the dashboard's statistics like
//! CONNECT tunnels and refusals.

pub mod wire;

use std::io;
use std::net::{IpAddr, Shutdown, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_lite::{AsyncReadExt, FutureExt};
use smol::{Async, Timer};

use crate::buffer::{Client, timed, write_all};
use crate::config::Config;
use crate::error::{Error, io_reason};
use crate::handoff::{Tunnel, hand_off};
use crate::http::head::MAX_HEAD_BYTES;
use crate::http::target::{Authority, parse_authority};
use crate::logger::Access;
use crate::policy::filter::Blocked;
use crate::policy::{Denied, Policy};
use crate::state::{Shared, Slot};
use wire::{Addr, Parsed, WireError};

/// Most time spent draining a refused client after the reply, so that
/// closing with its unread bytes does not reset the connection before it
/// has read the reply (the same reason as conn.rs's lingering close).
const CLOSE_LINGER: Duration = Duration::from_millis(500);
/// Most bytes read and dropped while draining: a refused client has at
/// most a message or two in flight.
const CLOSE_DRAIN_BYTES: usize = 4 * 1024;

/// Whether the client speaks SOCKS5: its first byte is the version 0x05,
/// which no HTTP method starts with. The first bytes are read into the
/// client's buffer, where the HTTP path finds them when it is not.
pub(crate) async fn sniff(client: &mut Client, limit: Duration) -> bool {
    if client.buf.is_empty() {
        // A failed read shows again, and is handled, on the HTTP path.
        let _ = client.buf.fill(&client.io, MAX_HEAD_BYTES, limit).await;
    }
    client.buf.filled().first() == Some(&wire::VERSION)
}

/// Why a SOCKS5 connection ends before its tunnel opens.
#[derive(Debug)]
pub(crate) enum SocksError {
    /// The client went away or failed mid-handshake: nothing to answer.
    Client(io::Error),
    /// The handshake did not complete within the head timeout.
    Timeout,
    /// The greeting is not SOCKS5.
    Greeting(WireError),
    /// None of the offered methods is acceptable (`auth` is on).
    NoMethod(bool),
    /// A malformed username/password message.
    AuthMessage(WireError),
    /// Wrong user name or password.
    AuthFailed,
    /// Too many wrong passwords from this client wait for their answers:
    /// its credentials are not checked now (`policy/guessing.rs`).
    Guessing,
    /// A malformed request.
    Request(WireError),
    /// BIND, UDP ASSOCIATE or an unknown command.
    Command(u8),
    /// The domain name is not a valid host name.
    BadName,
    /// The port is not in `--socks-ports`.
    Port(u16),
    /// The policy or the dial refused or failed (domain rule, egress
    /// guard, DNS, connect).
    Dial(Error),
    /// The client access list refuses this client: answered at the
    /// greeting (0xFF) when it offered no method without authentication,
    /// else at its request (0x02), without checking any credentials.
    Refused(Denied, bool),
}

/// What the client is sent for an error, if anything.
#[derive(Debug, PartialEq, Eq)]
enum Answer {
    /// Nothing: the connection is dropped.
    Nothing,
    /// A method selection (0xFF, none acceptable).
    Method(u8),
    /// A failed sub-negotiation status.
    AuthFailure,
    /// A request reply with this code.
    Reply(u8),
}

impl SocksError {
    /// The answer the client gets: the one mapping from errors to SOCKS
    /// reply codes.
    fn answer(&self) -> Answer {
        use wire::*;
        match self {
            SocksError::Client(_) | SocksError::Timeout | SocksError::Greeting(_) => {
                Answer::Nothing
            }
            SocksError::NoMethod(_) | SocksError::Refused(_, true) => Answer::Method(NO_ACCEPTABLE),
            SocksError::Refused(_, false) => Answer::Reply(REP_NOT_ALLOWED),
            SocksError::AuthMessage(_) | SocksError::AuthFailed | SocksError::Guessing => {
                Answer::AuthFailure
            }
            SocksError::Request(WireError::AddressType(_)) => Answer::Reply(REP_ADDRESS_TYPE),
            SocksError::Request(_) => Answer::Reply(REP_GENERAL),
            SocksError::Command(_) => Answer::Reply(REP_COMMAND),
            SocksError::BadName => Answer::Reply(REP_HOST_UNREACHABLE),
            SocksError::Port(_) => Answer::Reply(REP_NOT_ALLOWED),
            SocksError::Dial(e) => Answer::Reply(match e {
                Error::Denied(_) => REP_NOT_ALLOWED,
                Error::Resolve(..) => REP_HOST_UNREACHABLE,
                Error::Connect(_, e) => match e.kind() {
                    io::ErrorKind::ConnectionRefused => REP_REFUSED,
                    io::ErrorKind::NetworkUnreachable => REP_NET_UNREACHABLE,
                    io::ErrorKind::HostUnreachable => REP_HOST_UNREACHABLE,
                    io::ErrorKind::TimedOut => REP_TTL_EXPIRED,
                    _ => REP_GENERAL,
                },
                _ => REP_GENERAL,
            }),
        }
    }

    /// The access line's status: what the same failure is on the HTTP
    /// side. 400 malformed, 403 refused by the rules (508 a loop), 407
    /// authentication, 408 handshake timeout, 501 command or address type
    /// not supported, 502/504 DNS and connect failures, 0 client gone.
    pub(crate) fn status(&self) -> u16 {
        match self {
            SocksError::Client(_) => 0,
            SocksError::Timeout => 408,
            SocksError::Greeting(_) | SocksError::Request(WireError::Version(_)) => 400,
            SocksError::Request(WireError::AddressType(_)) | SocksError::Command(_) => 501,
            SocksError::Request(_) | SocksError::BadName => 400,
            SocksError::NoMethod(true) | SocksError::AuthMessage(_) | SocksError::AuthFailed => 407,
            SocksError::Guessing => 429,
            SocksError::NoMethod(false) => 501,
            SocksError::Port(_) | SocksError::Refused(..) => 403,
            SocksError::Dial(e) => e.status().unwrap_or(502),
        }
    }

    /// A one-line, lower-case explanation for the log.
    pub(crate) fn message(&self) -> String {
        match self {
            SocksError::Client(e) => format!("client: {}", io_reason(e)),
            SocksError::Timeout => "SOCKS5 handshake not completed in time".into(),
            SocksError::Greeting(e) => format!("bad SOCKS5 greeting: {}", e.message()),
            SocksError::NoMethod(true) => "client offered no username/password method".into(),
            SocksError::NoMethod(false) => "client offered no method without authentication".into(),
            SocksError::AuthMessage(e) => format!("bad SOCKS5 authentication: {}", e.message()),
            SocksError::AuthFailed => "wrong user name or password".into(),
            SocksError::Guessing => {
                "too many wrong passwords from this address; not checked".into()
            }
            SocksError::Request(e) => format!("bad SOCKS5 request: {}", e.message()),
            SocksError::Command(c) => format!("SOCKS5 command 0x{c:02x} not supported"),
            SocksError::BadName => "invalid host name".into(),
            SocksError::Port(p) => format!("SOCKS5 to port {p} is not allowed (see --socks-ports)"),
            SocksError::Dial(e) => e.message(),
            SocksError::Refused(d, _) => d.message(),
        }
    }
}

/// Serve one SOCKS5 connection: handshake, then the tunnel as a task of
/// its own; or the refusal, its access line, and close. `refused` is the
/// client access list's refusal, if it refused: the handshake then only
/// goes as far as needed to say so in SOCKS5's terms.
pub(crate) async fn serve(
    shared: Arc<Shared>,
    mut client: Client,
    slot: Slot,
    refused: Option<Denied>,
) {
    let start = Instant::now();
    let policy = shared.policy();
    let mut user = None;
    let mut target = None;
    // Boxed: the set-up's state is only needed briefly.
    let opened = Box::pin(open(
        &shared,
        &policy,
        &mut client,
        refused,
        &mut user,
        &mut target,
    ))
    .await;
    drop(policy);
    let target = target.unwrap_or_else(|| "-".into());
    match opened {
        Ok((up, early)) => {
            let t = Tunnel {
                client: client.io,
                up,
                early,
                peer: client.peer,
                method: "SOCKS5",
                target,
                user,
                start,
                slot,
            };
            hand_off(&shared, t).await;
        }
        Err(e) => {
            let note = e.message();
            let access = Access {
                method: "SOCKS5",
                target: &target,
                status: e.status(),
                user: user.as_deref(),
                note: Some(&note),
                ..Access::default()
            };
            if let SocksError::Dial(Error::Denied(Denied::Domain(host, how))) = &e {
                let rule = match how {
                    Blocked::Rule(r) => Some(r.as_str()),
                    Blocked::NotAllowed => None,
                };
                shared.stats.blocked(host, rule);
            }
            answer(&shared, &client, &e).await;
            let took = start.elapsed();
            shared
                .stats
                .request(access.status, 0, 0, took, start + took);
            shared.access_log.write(client.peer, &access, took);
        }
    }
}

/// Send the answer `e` calls for (after the wrong-password pause), then
/// close gently.
async fn answer(shared: &Shared, client: &Client, e: &SocksError) {
    let cfg = &shared.config;
    let bytes = match e.answer() {
        Answer::Nothing => return,
        Answer::Method(m) => wire::method_reply(m).to_vec(),
        Answer::AuthFailure => {
            if matches!(e, SocksError::AuthFailed) {
                // As for HTTP's 407: the same per-address pause, growing
                // after a few failures, so guessing passwords is slow.
                let ip = client.peer.ip();
                let (wait, n, _waiting) = shared.guesses.fail(ip, Instant::now());
                let ip = crate::policy::acl::canonical(ip);
                log::warn!(
                    "auth failed: client {ip} (SOCKS5 {}; failure {n})",
                    e.message()
                );
                Timer::after(wait).await;
            }
            wire::auth_reply(false).to_vec()
        }
        Answer::Reply(code) => wire::reply(code, None),
    };
    if write_all(&client.io, &bytes, cfg.read_timeout)
        .await
        .is_err()
    {
        return;
    }
    let _ = client.io.get_ref().shutdown(Shutdown::Write);
    let drain = async {
        let mut scratch = [0u8; 512];
        let mut total = 0;
        while total < CLOSE_DRAIN_BYTES {
            let mut r = &client.io;
            match r.read(&mut scratch).await {
                Ok(0) | Err(_) => break,
                Ok(n) => total += n,
            }
        }
        Ok(())
    };
    let _ = timed(CLOSE_LINGER, drain).await;
}

/// Handshake, checks, dial, success reply, early data: the upstream and
/// the count of early bytes passed on. Fills in `user` and `target` (for
/// the access line) as soon as they are known.
async fn open(
    shared: &Shared,
    policy: &Policy,
    client: &mut Client,
    refused: Option<Denied>,
    user: &mut Option<String>,
    target: &mut Option<String>,
) -> Result<(Async<TcpStream>, u64), SocksError> {
    let cfg = &shared.config;
    let flooding = |ip| shared.guesses.flooding(ip);
    let req = negotiate(cfg, policy, flooding, client, refused.as_ref(), user)
        .or(async {
            Timer::after(cfg.head_timeout).await;
            Err(SocksError::Timeout)
        })
        .await?;
    let authority = match &req.addr {
        Addr::Ip(ip) => Ok(Authority {
            host: ip.to_string(),
            port: req.port,
        }),
        Addr::Domain(name) => host_name(name, req.port),
    };
    *target = Some(match &authority {
        Ok(a) => a.to_host_port(),
        Err(name) => format!("{name}:{}", req.port),
    });
    if let Some(denied) = refused {
        return Err(SocksError::Refused(denied, false));
    }
    let authority = authority.map_err(|_| SocksError::BadName)?;
    if req.cmd != wire::CMD_CONNECT {
        return Err(SocksError::Command(req.cmd));
    }
    policy
        .check_host(&authority.host)
        .map_err(|d| SocksError::Dial(Error::Denied(d)))?;
    if req.port == 0 || !cfg.socks_ports.allows(req.port) {
        return Err(SocksError::Port(req.port));
    }
    let (up, addr) = shared
        .dialer
        .dial(&authority, policy)
        .await
        .map_err(SocksError::Dial)?;
    log::debug!("{} SOCKS5 tunnel to {addr}", client.peer);
    let bound = up.get_ref().local_addr().ok();
    let ok = wire::reply(wire::REP_SUCCEEDED, bound);
    write_all(&client.io, &ok, cfg.read_timeout)
        .await
        .map_err(SocksError::Client)?;
    let early = client.buf.filled().len();
    if early > 0 {
        // Bytes the client sent after its request (a TLS hello, early).
        write_all(&up, client.buf.filled(), cfg.read_timeout)
            .await
            .map_err(SocksError::Client)?;
        client.buf.consume(early);
    }
    client.buf.release();
    Ok((up, early as u64))
}

/// A domain name from a request as a host to dial: an IP literal in text
/// form is taken as the address; anything else must be a valid host name
/// (lower-cased, as the HTTP side does). On error, the name as text for
/// the log.
fn host_name(name: &[u8], port: u16) -> Result<Authority, String> {
    let text = String::from_utf8_lossy(name);
    if let Ok(ip) = text.parse::<IpAddr>() {
        return Ok(Authority {
            host: ip.to_string(),
            port,
        });
    }
    if text.contains([':', '[', ']']) {
        return Err(text.into_owned());
    }
    // Port 1 stands in for a 0 that parse_authority refuses; the real
    // port is checked against --socks-ports by the caller.
    match parse_authority(&format!("{text}:{}", port.max(1)), None) {
        Ok(a) => Ok(Authority { host: a.host, port }),
        Err(_) => Err(text.into_owned()),
    }
}

/// Greeting, method choice, sub-negotiation when auth is on, and the
/// request. A `refused` client gets no sub-negotiation: it goes on only
/// if it offered no-auth. The caller bounds the whole by the head timeout.
async fn negotiate(
    cfg: &Config,
    policy: &Policy,
    flooding: impl Fn(std::net::IpAddr) -> bool,
    client: &mut Client,
    refused: Option<&Denied>,
    user: &mut Option<String>,
) -> Result<wire::Request, SocksError> {
    let greeting = read_message(cfg, client, wire::parse_greeting)
        .await?
        .map_err(SocksError::Greeting)?;
    let auth = policy.auth_required() && refused.is_none();
    let method = match (auth, greeting.no_auth, greeting.user_pass) {
        (false, true, _) => wire::NO_AUTH,
        (true, _, true) => wire::USER_PASS,
        _ => {
            return Err(match refused {
                Some(d) => SocksError::Refused(d.clone(), true),
                None => SocksError::NoMethod(auth),
            });
        }
    };
    write_all(&client.io, &wire::method_reply(method), cfg.read_timeout)
        .await
        .map_err(SocksError::Client)?;
    if auth {
        let up = read_message(cfg, client, wire::parse_user_pass)
            .await?
            .map_err(SocksError::AuthMessage)?;
        if flooding(client.peer.ip()) {
            return Err(SocksError::Guessing);
        }
        *user = Some(
            policy
                .authenticate_pair(&up.user, &up.pass)
                .ok()
                .flatten()
                .ok_or(SocksError::AuthFailed)?,
        );
        write_all(&client.io, &wire::auth_reply(true), cfg.read_timeout)
            .await
            .map_err(SocksError::Client)?;
    }
    read_message(cfg, client, wire::parse_request)
        .await?
        .map_err(SocksError::Request)
}

/// Read until `parse` has a message (consumed from the buffer) or an error.
async fn read_message<T>(
    cfg: &Config,
    client: &mut Client,
    parse: fn(&[u8]) -> Parsed<T>,
) -> Result<Result<T, WireError>, SocksError> {
    loop {
        match parse(client.buf.filled()) {
            Ok(Some((m, n))) => {
                client.buf.consume(n);
                return Ok(Ok(m));
            }
            Ok(None) => {}
            Err(e) => return Ok(Err(e)),
        }
        // No message is longer than MAX_MESSAGE, so an incomplete one
        // always fits (the buffer may already be larger, from sniff).
        match client
            .buf
            .fill(&client.io, wire::MAX_MESSAGE, cfg.head_timeout)
            .await
        {
            Ok(0) => return Err(SocksError::Client(io::ErrorKind::UnexpectedEof.into())),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::TimedOut => return Err(SocksError::Timeout),
            Err(e) => return Err(SocksError::Client(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reply_codes_and_statuses() {
        let client = || Denied::Client("192.0.2.1".parse().unwrap());
        let io_err = |k: io::ErrorKind| Error::Connect("127.0.0.1:1".parse().unwrap(), k.into());
        let cases: Vec<(SocksError, Answer, u16)> = vec![
            (SocksError::Timeout, Answer::Nothing, 408),
            (SocksError::NoMethod(true), Answer::Method(0xff), 407),
            (SocksError::NoMethod(false), Answer::Method(0xff), 501),
            (SocksError::AuthFailed, Answer::AuthFailure, 407),
            (
                SocksError::Request(WireError::AddressType(9)),
                Answer::Reply(8),
                501,
            ),
            (
                SocksError::Request(WireError::Reserved(1)),
                Answer::Reply(1),
                400,
            ),
            (SocksError::Command(wire::CMD_BIND), Answer::Reply(7), 501),
            (SocksError::Command(wire::CMD_UDP), Answer::Reply(7), 501),
            (SocksError::BadName, Answer::Reply(4), 400),
            (SocksError::Port(25), Answer::Reply(2), 403),
            (
                SocksError::Refused(client(), true),
                Answer::Method(0xff),
                403,
            ),
            (SocksError::Refused(client(), false), Answer::Reply(2), 403),
            (
                SocksError::Dial(Error::Resolve("x".into(), io::ErrorKind::NotFound.into())),
                Answer::Reply(4),
                502,
            ),
            (
                SocksError::Dial(io_err(io::ErrorKind::ConnectionRefused)),
                Answer::Reply(5),
                502,
            ),
            (
                SocksError::Dial(io_err(io::ErrorKind::NetworkUnreachable)),
                Answer::Reply(3),
                502,
            ),
            (
                SocksError::Dial(io_err(io::ErrorKind::HostUnreachable)),
                Answer::Reply(4),
                502,
            ),
            (
                SocksError::Dial(io_err(io::ErrorKind::TimedOut)),
                Answer::Reply(6),
                504,
            ),
            (
                SocksError::Dial(io_err(io::ErrorKind::Other)),
                Answer::Reply(1),
                502,
            ),
        ];
        for (e, answer, status) in cases {
            assert_eq!((e.answer(), e.status()), (answer, status), "{e:?}");
            assert!(!e.message().is_empty());
        }
    }

    #[test]
    fn host_names() {
        let ok = |n: &[u8], p| host_name(n, p).map(|a| a.to_host_port());
        assert_eq!(ok(b"Example.COM", 443), Ok("example.com:443".into()));
        assert_eq!(ok(b"127.0.0.1", 80), Ok("127.0.0.1:80".into()));
        assert_eq!(ok(b"::1", 80), Ok("[::1]:80".into()));
        assert_eq!(ok(b"a.b", 0), Ok("a.b:0".into()));
        for bad in [&b"a b"[..], b"a:1", b"[::1]", b"", b"\xff", b"a@b", b"a/b"] {
            assert!(host_name(bad, 80).is_err(), "{bad:?}");
        }
    }
}
