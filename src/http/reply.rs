//! The responses the proxy writes itself (error pages, its own pages):
//! status line, `Date`, type and length, always closed; and the HTTP date
//! format they carry. Pure: values in, bytes out.

use std::fmt::Write as _;
use std::time::{SystemTime, UNIX_EPOCH};

/// `io::Write`-free formatting into a byte vector.
pub(crate) struct Fmt<'a>(pub(crate) &'a mut Vec<u8>);
impl std::fmt::Write for Fmt<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

/// The reason phrase for a status the proxy itself sends.
pub fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        407 => "Proxy Authentication Required",
        408 => "Request Timeout",
        413 => "Content Too Large",
        414 => "URI Too Long",
        417 => "Expectation Failed",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        505 => "HTTP Version Not Supported",
        508 => "Loop Detected",
        _ => "Error",
    }
}

/// A complete response the proxy writes itself: plain-text body, closed.
/// `extra` holds whole field lines (each ending in CRLF).
pub fn simple_response(status: u16, extra: &str, body: &str, with_body: bool) -> Vec<u8> {
    typed_response(
        status,
        "text/plain; charset=utf-8",
        extra,
        body.as_bytes(),
        with_body,
    )
}

/// [`simple_response`] with another content type.
pub fn typed_response(
    status: u16,
    ctype: &str,
    extra: &str,
    body: &[u8],
    with_body: bool,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(200 + body.len());
    let _ = write!(
        Fmt(&mut out),
        "HTTP/1.1 {status} {}\r\nDate: {}\r\nContent-Type: {ctype}\r\n\
         Content-Length: {}\r\n{extra}Connection: close\r\nCache-Control: no-store\r\n\r\n",
        reason(status),
        http_date(std::time::SystemTime::now()),
        body.len()
    );
    if with_body {
        out.extend_from_slice(body);
    }
    out
}

/// `Sun, 06 Nov 1994 08:49:37 GMT` (IMF-fixdate, RFC 9110 §5.6.7).
pub fn http_date(t: SystemTime) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let secs = t.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
    let days = secs / 86_400;
    let (y, m, d) = civil_from_days(days as i64);
    let s = secs % 86_400;
    format!(
        "{}, {d:02} {} {y:04} {:02}:{:02}:{:02} GMT",
        DAYS.get((days % 7) as usize).unwrap_or(&"Thu"),
        MONTHS.get(m as usize - 1).unwrap_or(&"Jan"),
        s / 3600,
        s / 60 % 60,
        s % 60
    )
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian
/// (Howard Hinnant's `civil_from_days`).
pub(crate) fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn http_dates() {
        let cases = [
            (784_111_777, "Sun, 06 Nov 1994 08:49:37 GMT"),
            (0, "Thu, 01 Jan 1970 00:00:00 GMT"),
            (1_795_642_496, "Wed, 25 Nov 2026 21:34:56 GMT"),
        ];
        for (secs, want) in cases {
            assert_eq!(http_date(UNIX_EPOCH + Duration::from_secs(secs)), want);
        }
    }
}
