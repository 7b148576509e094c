//! HTTP-date parsing (RFC 9110 §5.6.7): the IMF-fixdate every sender must
//! use and the two obsolete forms every recipient must still read, to
//! seconds since the Unix epoch. Anything else is `None` (for `Expires`,
//! RFC 9111 §5.3 then reads it as already expired). Pure, no panics.

use super::Secs;

const SHORT_DAYS: [&[u8]; 7] = [b"Mon", b"Tue", b"Wed", b"Thu", b"Fri", b"Sat", b"Sun"];
const LONG_DAYS: [&[u8]; 7] = [
    b"Monday",
    b"Tuesday",
    b"Wednesday",
    b"Thursday",
    b"Friday",
    b"Saturday",
    b"Sunday",
];
const MONTHS: [&[u8; 3]; 12] = [
    b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec",
];

/// An HTTP-date in any of its three forms, surrounding OWS allowed.
/// Dates before 1970 are `None` (nothing the cache compares them with is
/// that old).
pub(crate) fn parse_http_date(v: &[u8]) -> Option<Secs> {
    let v = trim(v);
    let comma = v.iter().position(|&b| b == b',');
    match comma.and_then(|i| Some((v.get(..i)?, v.get(i + 1..)?))) {
        Some((day, rest)) if SHORT_DAYS.contains(&day) => imf_fixdate(rest),
        Some((day, rest)) if LONG_DAYS.contains(&day) => rfc850(rest),
        Some(_) => None,
        None => asctime(v),
    }
}

fn trim(mut v: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = v {
        v = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = v {
        v = rest;
    }
    v
}

/// `, 06 Nov 1994 08:49:37 GMT` (after the day name).
fn imf_fixdate(v: &[u8]) -> Option<Secs> {
    match *v {
        [
            b' ',
            d1,
            d2,
            b' ',
            m1,
            m2,
            m3,
            b' ',
            y1,
            y2,
            y3,
            y4,
            b' ',
            ref time @ ..,
        ] => {
            let (h, mi, s) = time_gmt(time)?;
            let year = digits(&[y1, y2, y3, y4])?;
            build(year, month(&[m1, m2, m3])?, digits(&[d1, d2])?, h, mi, s)
        }
        _ => None,
    }
}

/// `, 06-Nov-94 08:49:37 GMT` (after the day name). The two-digit year
/// is read with the pivot 70 (00–69 → 20xx): RFC 9110 §5.6.7's rule, "more
/// than 50 years in the future is the past", needs a clock this pure
/// parser does not have, and the two differ only for 70–76 until 2027.
fn rfc850(v: &[u8]) -> Option<Secs> {
    match *v {
        [
            b' ',
            d1,
            d2,
            b'-',
            m1,
            m2,
            m3,
            b'-',
            y1,
            y2,
            b' ',
            ref time @ ..,
        ] => {
            let (h, mi, s) = time_gmt(time)?;
            let yy = digits(&[y1, y2])?;
            let year = if yy < 70 { 2000 + yy } else { 1900 + yy };
            build(year, month(&[m1, m2, m3])?, digits(&[d1, d2])?, h, mi, s)
        }
        _ => None,
    }
}

/// `Sun Nov  6 08:49:37 1994` (ANSI C asctime, the day space-padded).
fn asctime(v: &[u8]) -> Option<Secs> {
    match *v {
        [
            a,
            b,
            c,
            b' ',
            m1,
            m2,
            m3,
            b' ',
            d1,
            d2,
            b' ',
            h1,
            h2,
            b':',
            i1,
            i2,
            b':',
            s1,
            s2,
            b' ',
            y1,
            y2,
            y3,
            y4,
        ] => {
            if !SHORT_DAYS.contains(&&[a, b, c][..]) {
                return None;
            }
            let day = if d1 == b' ' {
                digits(&[d2])?
            } else {
                digits(&[d1, d2])?
            };
            let (h, mi, s) = (digits(&[h1, h2])?, digits(&[i1, i2])?, digits(&[s1, s2])?);
            let year = digits(&[y1, y2, y3, y4])?;
            build(year, month(&[m1, m2, m3])?, day, h, mi, s)
        }
        _ => None,
    }
}

/// `08:49:37 GMT`.
fn time_gmt(v: &[u8]) -> Option<(u64, u64, u64)> {
    match *v {
        [h1, h2, b':', i1, i2, b':', s1, s2, b' ', b'G', b'M', b'T'] => {
            Some((digits(&[h1, h2])?, digits(&[i1, i2])?, digits(&[s1, s2])?))
        }
        _ => None,
    }
}

fn digits(v: &[u8]) -> Option<u64> {
    v.iter().try_fold(0u64, |n, &d| {
        d.is_ascii_digit().then(|| n * 10 + u64::from(d - b'0'))
    })
}

fn month(m: &[u8; 3]) -> Option<u64> {
    let i = MONTHS.iter().position(|name| *name == m)?;
    Some(i as u64 + 1)
}

fn leap(y: u64) -> bool {
    y.is_multiple_of(4) && (!y.is_multiple_of(100) || y.is_multiple_of(400))
}

/// Seconds since the epoch of a checked calendar date and time; the
/// second may be 60 (a leap second, RFC 9110 §5.6.7's `second`).
fn build(y: u64, m: u64, d: u64, h: u64, mi: u64, s: u64) -> Option<Secs> {
    const DAYS_IN: [u64; 12] = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    let max_day =
        DAYS_IN.get(usize::try_from(m).ok()?.checked_sub(1)?)? + u64::from(m == 2 && leap(y));
    if y < 1970 || d == 0 || d > max_day || h > 23 || mi > 59 || s > 60 {
        return None;
    }
    Some(days_from_civil(y, m, d) * 86_400 + h * 3600 + mi * 60 + s)
}

/// Days from 1970-01-01 to a date from 1970 on, proleptic Gregorian
/// (Howard Hinnant's `days_from_civil`, the inverse of `http::reply`'s).
fn days_from_civil(y: u64, m: u64, d: u64) -> u64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y / 400;
    let yoe = y - era * 400;
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::reply::http_date;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn http_dates() {
        // RFC 9110 §5.6.7: the three forms of one instant, then the edges.
        let cases: &[(&str, Option<Secs>)] = &[
            ("Sun, 06 Nov 1994 08:49:37 GMT", Some(784_111_777)), // §5.6.7 IMF-fixdate
            ("Sunday, 06-Nov-94 08:49:37 GMT", Some(784_111_777)), // §5.6.7 rfc850-date
            ("Sun Nov  6 08:49:37 1994", Some(784_111_777)),      // §5.6.7 asctime-date
            ("Sun Nov 16 08:49:37 1994", Some(784_975_777)),      // §5.6.7 asctime two-digit day
            ("  Thu, 01 Jan 1970 00:00:00 GMT\t", Some(0)),       // §5.6.3 OWS around a field value
            ("Tuesday, 01-Jan-30 00:00:00 GMT", Some(1_893_456_000)), // §5.6.7 two-digit year → 2030
            ("Thu, 29 Feb 2024 12:00:00 GMT", Some(1_709_208_000)),   // leap day
            ("Wed, 31 Dec 2025 23:59:60 GMT", Some(1_767_225_600)),   // §5.6.7 leap second
            ("Thu, 29 Feb 2023 12:00:00 GMT", None),                  // no such day
            ("Sun, 06 Nov 1994 08:49:37 UTC", None),                  // §5.6.7 only "GMT"
            ("Sun, 6 Nov 1994 08:49:37 GMT", None),                   // §5.6.7 day is 2DIGIT
            ("sun, 06 Nov 1994 08:49:37 GMT", None), // §5.6.7 names are case-sensitive
            ("Sun, 06 Nov 1994 24:00:00 GMT", None), // hour out of range
            ("Sun, 06 Foo 1994 08:49:37 GMT", None), // no such month
            ("Wed, 31 Dec 1969 23:59:59 GMT", None), // before the epoch
            ("0", None),                             // §5.3 a common invalid Expires
            ("-1", None),
            ("", None),
            ("Sun,", None),
            ("Sun, 06 Nov 1994 08:49:37 GMT x", None),
            ("Sun Nov  6 08:49:37 1994 ", Some(784_111_777)),
            ("Sun Nov 6 08:49:37 1994", None),
            ("Sun, ٠6 Nov 1994 08:49:37 GMT", None), // non-ASCII digit
        ];
        for (raw, want) in cases {
            assert_eq!(parse_http_date(raw.as_bytes()), *want, "{raw:?}");
        }
    }

    #[test]
    fn dates_round_trip_through_the_formatter() {
        for secs in [
            0u64,
            951_782_400,
            4_107_542_399,
            1_795_642_496,
            253_402_300_799,
        ] {
            let text = http_date(UNIX_EPOCH + Duration::from_secs(secs));
            assert_eq!(parse_http_date(text.as_bytes()), Some(secs), "{text}");
        }
    }
}
