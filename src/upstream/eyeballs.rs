//! Happy Eyeballs v2 (RFC 8305): connect to one of a name's addresses,
//! IPv6 first, families interleaved, each further attempt started
//! [`ATTEMPT_DELAY`] after the previous one (or at once when it fails);
//! the first connection wins and the others are dropped (closed). Every
//! address passes the egress guard before it is tried; the whole race is
//! bounded by the connect timeout.

use std::future::{Future, poll_fn};
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::Poll;
use std::time::Duration;

use smol::Timer;

use crate::error::Error;

/// RFC 8305 §5 "Connection Attempt Delay": its recommended 250 ms.
pub const ATTEMPT_DELAY: Duration = Duration::from_millis(250);

/// RFC 8305 §4: IPv6 first, then the families alternate, each family's
/// own order kept.
pub(crate) fn interleave(addrs: &[SocketAddr]) -> Vec<SocketAddr> {
    let (mut v6, mut v4): (Vec<SocketAddr>, Vec<SocketAddr>) =
        addrs.iter().partition(|a| a.is_ipv6());
    let mut out = Vec::with_capacity(addrs.len());
    v6.reverse();
    v4.reverse();
    loop {
        match (v6.pop(), v4.pop()) {
            (None, None) => return out,
            (a, b) => out.extend(a.into_iter().chain(b)),
        }
    }
}

/// One connection attempt.
pub(crate) type Attempt<'a, T> = Pin<Box<dyn Future<Output = io::Result<T>> + Send + 'a>>;

/// Race connections to `addrs` (see the module text). `allowed` is the
/// egress guard; `connect` makes one attempt. The error is the last
/// refusal or failure, or a timeout after `limit`.
pub(crate) async fn race<'a, T, C, A>(
    addrs: &[SocketAddr],
    limit: Duration,
    allowed: A,
    connect: C,
) -> Result<(T, SocketAddr), Error>
where
    C: Fn(SocketAddr) -> Attempt<'a, T>,
    A: Fn(SocketAddr) -> Result<(), Error>,
{
    let mut queue = interleave(addrs).into_iter();
    let mut inflight: Vec<(SocketAddr, Attempt<'a, T>)> = Vec::new();
    let mut last: Option<Error> = None;
    let mut latest: Option<SocketAddr> = None;
    let mut delay = Timer::never();
    let mut deadline = Timer::after(limit);
    poll_fn(|cx| {
        loop {
            let mut failed = false;
            let mut i = 0;
            while let Some((addr, attempt)) = inflight.get_mut(i) {
                match attempt.as_mut().poll(cx) {
                    Poll::Ready(Ok(s)) => return Poll::Ready(Ok((s, *addr))),
                    Poll::Ready(Err(e)) => {
                        log::debug!("connect {addr}: {e}");
                        last = Some(Error::Connect(*addr, e));
                        drop(inflight.swap_remove(i));
                        failed = true;
                    }
                    Poll::Pending => i += 1,
                }
            }
            let due = failed || inflight.is_empty() || Pin::new(&mut delay).poll(cx).is_ready();
            if due {
                let next = queue.by_ref().find(|&a| match allowed(a) {
                    Ok(()) => true,
                    Err(e) => {
                        log::debug!("not connecting to {a}: {}", e.message());
                        last = Some(e);
                        false
                    }
                });
                match next {
                    Some(a) => {
                        inflight.push((a, connect(a)));
                        latest = Some(a);
                        delay.set_after(ATTEMPT_DELAY);
                        continue;
                    }
                    None if inflight.is_empty() => {
                        return Poll::Ready(Err(last.take().unwrap_or(Error::Connect(
                            SocketAddr::from(([0, 0, 0, 0], 0)),
                            io::Error::other("no address"),
                        ))));
                    }
                    None => delay = Timer::never(),
                }
            }
            if Pin::new(&mut deadline).poll(cx).is_ready() {
                let at = latest.unwrap_or(SocketAddr::from(([0, 0, 0, 0], 0)));
                return Poll::Ready(Err(Error::Connect(at, io::ErrorKind::TimedOut.into())));
            }
            return Poll::Pending;
        }
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    fn a(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn order() {
        let got = interleave(&[
            a("1.1.1.1:1"),
            a("2.2.2.2:1"),
            a("[::1]:1"),
            a("[::2]:1"),
            a("[::3]:1"),
        ]);
        let want = [
            a("[::1]:1"),
            a("1.1.1.1:1"),
            a("[::2]:1"),
            a("2.2.2.2:1"),
            a("[::3]:1"),
        ];
        assert_eq!(got, want);
    }

    /// A fake attempt: `hang` never completes; `refuse` fails at once;
    /// others succeed after 10 ms.
    fn fake(addr: SocketAddr) -> Attempt<'static, SocketAddr> {
        Box::pin(async move {
            match addr.port() {
                1 => std::future::pending().await,
                2 => Err(io::ErrorKind::ConnectionRefused.into()),
                _ => {
                    Timer::after(Duration::from_millis(10)).await;
                    Ok(addr)
                }
            }
        })
    }

    fn run(
        addrs: &[SocketAddr],
        deny: Option<SocketAddr>,
    ) -> (Result<SocketAddr, String>, Duration) {
        let start = Instant::now();
        let allowed = |x: SocketAddr| {
            if Some(x) == deny {
                Err(Error::Connect(x, io::Error::other("denied")))
            } else {
                Ok(())
            }
        };
        let r = smol::block_on(race(addrs, Duration::from_secs(2), allowed, fake));
        (r.map(|(s, _)| s).map_err(|e| e.message()), start.elapsed())
    }

    #[test]
    fn a_silent_ipv6_costs_one_attempt_delay() {
        let (r, took) = run(&[a("127.0.0.1:3"), a("[::1]:1")], None);
        assert_eq!(r, Ok(a("127.0.0.1:3")));
        assert!(
            took >= ATTEMPT_DELAY && took < Duration::from_millis(700),
            "{took:?}"
        );
    }

    #[test]
    fn a_failure_starts_the_next_at_once() {
        let (r, took) = run(&[a("[::1]:2"), a("127.0.0.1:3")], None);
        assert_eq!(r, Ok(a("127.0.0.1:3")));
        assert!(took < Duration::from_millis(200), "{took:?}");
    }

    #[test]
    fn refused_addresses_are_never_tried() {
        let (r, _) = run(&[a("[::1]:3"), a("127.0.0.1:3")], Some(a("[::1]:3")));
        assert_eq!(r, Ok(a("127.0.0.1:3")));
        let (r, _) = run(&[a("[::1]:3")], Some(a("[::1]:3")));
        assert_eq!(r.unwrap_err(), "could not connect to [::1]:3: denied");
    }

    #[test]
    fn all_silent_times_out_once() {
        let (r, took) = run(&[a("[::1]:1"), a("127.0.0.1:1")], None);
        assert_eq!(r.unwrap_err(), "connecting to 127.0.0.1:1 timed out");
        assert!(
            took >= Duration::from_secs(2) && took < Duration::from_secs(3),
            "{took:?}"
        );
        let (r, _) = run(&[a("[::1]:2"), a("127.0.0.1:2")], None);
        assert_eq!(
            r.unwrap_err(),
            "could not connect to 127.0.0.1:2: connection refused"
        );
    }
}
