//! Incremental, strict decoder for the chunked transfer coding (RFC 9112
//! §7.1). It never buffers data: each call says how many input bytes were
//! framing and how many were payload, so a caller can pass a chunked body
//! through verbatim (it is then known to be unambiguous) or strip the
//! framing for an HTTP/1.0 client. Every line has a size limit.

/// Longest chunk-size line (size digits plus extensions). Longer lines are
/// refused: unbounded extensions are a known resource attack.
pub const MAX_CHUNK_LINE: usize = 4096;
/// Most bytes of trailer fields after the last chunk.
pub const MAX_TRAILER_BYTES: usize = 16 * 1024;

/// Why a chunked body is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChunkError {
    /// Not a hex chunk size (sign, `0x`, empty, stray white space).
    BadSize,
    /// A chunk size that overflows 64 bits.
    SizeOverflow,
    /// A chunk-size line or trailer section over its limit.
    TooLong,
    /// A line not ended by CRLF (bare LF, bare CR, data overrun).
    BadLineEnd,
    /// A control byte in a chunk extension.
    BadExtension,
    /// A malformed trailer field line.
    BadTrailer,
    /// A trailer field that must not be sent as a trailer (RFC 9110 §6.5.1).
    ForbiddenTrailer,
}

impl ChunkError {
    /// Lower-case description for error pages and logs.
    pub fn message(self) -> &'static str {
        match self {
            ChunkError::BadSize => "invalid chunk size",
            ChunkError::SizeOverflow => "chunk size overflows",
            ChunkError::TooLong => "chunk line or trailer too long",
            ChunkError::BadLineEnd => "chunk line not ended by CRLF",
            ChunkError::BadExtension => "invalid chunk extension",
            ChunkError::BadTrailer => "invalid trailer field",
            ChunkError::ForbiddenTrailer => "forbidden trailer field",
        }
    }
}

/// What the front of the input was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Piece {
    /// This many bytes of framing (size lines, CRLFs, trailers).
    Framing(usize),
    /// This many bytes of payload.
    Data(usize),
    /// This many bytes of framing, and the body is complete.
    End(usize),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Size,
    SizeSpace,
    Ext,
    SizeLf,
    Data(u64),
    DataCr,
    DataLf,
    TrailerStart,
    TrailerLine,
    TrailerLf,
    EndLf,
    Done,
}

/// Fields that would change framing, routing or hop-by-hop handling if a
/// recipient merged them from trailers (RFC 9110 §6.5.1, RFC 9112 §7.1.2).
pub const FORBIDDEN_TRAILERS: &[&str] = &[
    "content-length",
    "transfer-encoding",
    "host",
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "upgrade",
    "proxy-authorization",
    "proxy-authenticate",
    "authorization",
    "content-encoding",
    "content-type",
    "content-range",
    "set-cookie",
];

/// The decoder's state between reads.
#[derive(Debug, Clone)]
pub struct Decoder {
    state: State,
    size: u64,
    digits: u32,
    line_len: usize,
    trailer_len: usize,
    trailer_line: Vec<u8>,
}

impl Default for Decoder {
    fn default() -> Self {
        Self::new()
    }
}

fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn check_trailer(line: &[u8]) -> Result<(), ChunkError> {
    let colon = line
        .iter()
        .position(|&b| b == b':')
        .ok_or(ChunkError::BadTrailer)?;
    let (name, value) = line.split_at(colon);
    if name.is_empty() || !name.iter().all(|&b| is_tchar(b)) {
        return Err(ChunkError::BadTrailer);
    }
    if value.iter().any(|&b| (b < 0x20 && b != b'\t') || b == 0x7f) {
        return Err(ChunkError::BadTrailer);
    }
    if FORBIDDEN_TRAILERS
        .iter()
        .any(|f| f.as_bytes().eq_ignore_ascii_case(name))
    {
        return Err(ChunkError::ForbiddenTrailer);
    }
    Ok(())
}

impl Decoder {
    /// A decoder at the start of a chunked body.
    pub fn new() -> Self {
        Decoder {
            state: State::Size,
            size: 0,
            digits: 0,
            line_len: 0,
            trailer_len: 0,
            trailer_line: Vec::new(),
        }
    }

    /// Whether the decoder is inside a size line or a trailer line, so the
    /// bytes taken since the line began are not yet known to be valid.
    pub(crate) fn mid_line(&self) -> bool {
        use State::*;
        match self.state {
            Size => self.line_len > 0,
            SizeSpace | Ext | SizeLf | TrailerLine | TrailerLf => true,
            Data(_) | DataCr | DataLf | TrailerStart | EndLf | Done => false,
        }
    }

    /// Whether the whole body, trailers included, has been seen.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Classify the front of `input` (which must not be empty unless the
    /// body is done). Call again with the rest until it returns `End`.
    pub fn step(&mut self, input: &[u8]) -> Result<Piece, ChunkError> {
        if let State::Data(rem) = self.state {
            let n = (input.len() as u64).min(rem);
            self.state = if n == rem {
                State::DataCr
            } else {
                State::Data(rem - n)
            };
            return Ok(Piece::Data(n as usize));
        }
        for (i, &b) in input.iter().enumerate() {
            self.byte(b)?;
            match self.state {
                State::Done => return Ok(Piece::End(i + 1)),
                State::Data(_) => return Ok(Piece::Framing(i + 1)),
                _ => {}
            }
        }
        Ok(Piece::Framing(input.len()))
    }

    fn byte(&mut self, b: u8) -> Result<(), ChunkError> {
        use State::*;
        if matches!(self.state, Size | SizeSpace | Ext) {
            self.line_len += 1;
            if self.line_len > MAX_CHUNK_LINE {
                return Err(ChunkError::TooLong);
            }
        }
        self.state = match (self.state, b) {
            (Size, _) if b.is_ascii_hexdigit() => {
                // Leading zeros are allowed; checked arithmetic finds overflow.
                self.digits += 1;
                let d = (b as char).to_digit(16).unwrap_or(0) as u64;
                self.size = self
                    .size
                    .checked_mul(16)
                    .and_then(|s| s.checked_add(d))
                    .ok_or(ChunkError::SizeOverflow)?;
                Size
            }
            (Size, _) if self.digits == 0 => return Err(ChunkError::BadSize),
            (Size, b';') | (SizeSpace, b';') => Ext,
            // BWS before an extension (RFC 9112 §7.1.1) is allowed only
            // when an extension follows.
            (Size, b' ' | b'\t') | (SizeSpace, b' ' | b'\t') => SizeSpace,
            (Size, b'\r') => SizeLf,
            (Size, _) | (SizeSpace, _) => return Err(ChunkError::BadSize),
            (Ext, b'\r') => SizeLf,
            (Ext, _) if b == b'\t' || (b >= 0x20 && b != 0x7f) => Ext,
            (Ext, _) => return Err(ChunkError::BadExtension),
            (SizeLf, b'\n') => {
                let size = self.size;
                self.size = 0;
                self.digits = 0;
                self.line_len = 0;
                if size == 0 { TrailerStart } else { Data(size) }
            }
            (DataCr, b'\r') => DataLf,
            (DataLf, b'\n') => Size,
            (TrailerStart, b'\r') => EndLf,
            (TrailerStart, _) | (TrailerLine, _) if b != b'\r' => {
                self.trailer_len += 1;
                if self.trailer_len > MAX_TRAILER_BYTES {
                    return Err(ChunkError::TooLong);
                }
                self.trailer_line.push(b);
                TrailerLine
            }
            (TrailerLine, _) => {
                check_trailer(&self.trailer_line)?;
                self.trailer_line.clear();
                TrailerLf
            }
            (TrailerLf, b'\n') => TrailerStart,
            (EndLf, b'\n') => Done,
            (Done, _) => Done,
            _ => return Err(ChunkError::BadLineEnd),
        };
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Decode `input` fed in pieces of `step` bytes; return the payload.
    fn decode(input: &[u8], step: usize) -> Result<(Vec<u8>, usize), ChunkError> {
        let mut d = Decoder::new();
        let mut out = Vec::new();
        let mut pos = 0;
        while pos < input.len() {
            let end = (pos + step).min(input.len());
            let mut part = &input[pos..end];
            while !part.is_empty() {
                match d.step(part)? {
                    Piece::Data(n) => {
                        out.extend_from_slice(&part[..n]);
                        part = &part[n..];
                    }
                    Piece::Framing(n) => part = &part[n..],
                    Piece::End(n) => return Ok((out, pos + (end - pos - part.len()) + n)),
                }
            }
            pos = end;
        }
        Err(ChunkError::BadLineEnd) // incomplete, reported as such by the test
    }

    #[test]
    fn table() {
        let ok: &[(&str, &str, &str)] = &[
            ("one chunk", "5\r\nhello\r\n0\r\n\r\n", "hello"),
            ("two chunks", "2\r\nhe\r\n3\r\nllo\r\n0\r\n\r\n", "hello"),
            ("upper hex", "A\r\n0123456789\r\n0\r\n\r\n", "0123456789"),
            ("leading zeros", "0005\r\nhello\r\n0000\r\n\r\n", "hello"),
            ("extension", "5;name=val\r\nhello\r\n0\r\n\r\n", "hello"),
            ("quoted ext", "5;a=\"x;y\"\r\nhello\r\n0\r\n\r\n", "hello"),
            ("bws ext", "5 ;a\r\nhello\r\n0\r\n\r\n", "hello"),
            ("trailer", "5\r\nhello\r\n0\r\nX-Sum: 1\r\n\r\n", "hello"),
            ("empty", "0\r\n\r\n", ""),
            // Fuzz finding: 17+ digits with leading zeros were an overflow.
            (
                "17 digits, small",
                "00000000000000010\r\n0123456789abcdef\r\n0\r\n\r\n",
                "0123456789abcdef",
            ),
        ];
        for (name, input, want) in ok {
            for step in [1, 3, 1000] {
                let (got, used) = decode(input.as_bytes(), step).expect(name);
                assert_eq!(got, want.as_bytes(), "{name} step {step}");
                assert_eq!(used, input.len(), "{name} consumed");
            }
        }
        let long_ext = format!("5;{}\r\nhello\r\n0\r\n\r\n", "a".repeat(MAX_CHUNK_LINE));
        let bad: Vec<(&str, String, ChunkError)> = vec![
            (
                "0x prefix",
                "0x5\r\nhello\r\n0\r\n\r\n".into(),
                ChunkError::BadSize,
            ),
            (
                "negative",
                "-5\r\nhello\r\n0\r\n\r\n".into(),
                ChunkError::BadSize,
            ),
            ("plus", "+5\r\nhello\r\n".into(), ChunkError::BadSize),
            ("empty size", "\r\nhello\r\n".into(), ChunkError::BadSize),
            ("space only", "5 \r\nhello\r\n".into(), ChunkError::BadSize),
            (
                "overflow",
                "10000000000000000\r\n".into(),
                ChunkError::SizeOverflow,
            ),
            (
                "bare LF size",
                "5\nhello\r\n0\r\n\r\n".into(),
                ChunkError::BadSize,
            ),
            (
                "bare CR size",
                "5\rhello\r\n".into(),
                ChunkError::BadLineEnd,
            ),
            (
                "data overrun",
                "5\r\nhelloX\r\n0\r\n\r\n".into(),
                ChunkError::BadLineEnd,
            ),
            (
                "missing CRLF",
                "5\r\nhello0\r\n\r\n".into(),
                ChunkError::BadLineEnd,
            ),
            (
                "bare LF data",
                "5\r\nhello\n0\r\n\r\n".into(),
                ChunkError::BadLineEnd,
            ),
            (
                "LF in ext",
                "5;a\nb\r\nhello\r\n".into(),
                ChunkError::BadExtension,
            ),
            (
                "NUL in ext",
                "5;a\0\r\nhello\r\n".into(),
                ChunkError::BadExtension,
            ),
            ("long ext", long_ext, ChunkError::TooLong),
            (
                "bad trailer",
                "0\r\nno colon\r\n\r\n".into(),
                ChunkError::BadTrailer,
            ),
            (
                "space name",
                "0\r\nX Y: 1\r\n\r\n".into(),
                ChunkError::BadTrailer,
            ),
            (
                "CL trailer",
                "0\r\nContent-Length: 5\r\n\r\n".into(),
                ChunkError::ForbiddenTrailer,
            ),
            (
                "TE trailer",
                "0\r\ntransfer-encoding: chunked\r\n\r\n".into(),
                ChunkError::ForbiddenTrailer,
            ),
            ("bare LF end", "0\r\n\n".into(), ChunkError::BadLineEnd),
        ];
        for (name, input, want) in bad {
            assert_eq!(decode(input.as_bytes(), 1).err(), Some(want), "{name}");
            assert_eq!(decode(input.as_bytes(), 4096).err(), Some(want), "{name}");
        }
    }

    #[test]
    fn large_sizes_and_limits() {
        let mut d = Decoder::new();
        assert_eq!(d.step(b"ffffffffffffffff\r\n"), Ok(Piece::Framing(18)));
        assert_eq!(d.step(b"abc"), Ok(Piece::Data(3)));
        let mut d = Decoder::new();
        assert_eq!(d.step(b"0000ffffffffffffffff\r\n"), Ok(Piece::Framing(22)));
        let mut d = Decoder::new();
        assert_eq!(
            d.step(b"00010000000000000000\r\n"),
            Err(ChunkError::SizeOverflow)
        );
        let mut d = Decoder::new();
        let trailer = format!("0\r\nX: {}\r\n\r\n", "a".repeat(MAX_TRAILER_BYTES));
        let mut err = None;
        for b in trailer.as_bytes() {
            if let Err(e) = d.step(std::slice::from_ref(b)) {
                err = Some(e);
                break;
            }
        }
        assert_eq!(err, Some(ChunkError::TooLong));
    }

    #[test]
    fn stops_at_end_leaving_next_message() {
        let mut d = Decoder::new();
        let input = b"3\r\nabc\r\n0\r\n\r\nGET / HTTP/1.1\r\n";
        let mut pos = 0;
        loop {
            match d.step(&input[pos..]).unwrap() {
                Piece::Framing(n) | Piece::Data(n) => pos += n,
                Piece::End(n) => {
                    pos += n;
                    break;
                }
            }
        }
        assert_eq!(&input[pos..], b"GET / HTTP/1.1\r\n");
        assert!(d.is_done());
    }
}
