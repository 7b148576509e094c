//! A strict HTTP/1.1 message parser: the yardstick for what an origin
//! received through the proxy (and for what a client got back). CRLF only,
//! token field names, no control bytes, at most one of Content-Length and
//! Transfer-Encoding, Transfer-Encoding exactly `chunked`, a strict chunked
//! body. It shares no code with the proxy's parser, nor with the lenient
//! readers in `client.rs`.

/// One message as a strict recipient parsed it.
#[derive(Debug)]
pub struct Message {
    pub head: String,
    pub body: Vec<u8>,
    /// Bytes of the input it took.
    pub len: usize,
}

impl Message {
    pub fn fields(&self, name: &str) -> Vec<String> {
        self.head
            .split("\r\n")
            .skip(1)
            .filter_map(|l| l.split_once(':'))
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.trim().to_string())
            .collect()
    }
}

fn tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Parse one request (or response, if it starts with `HTTP/`) strictly:
/// CRLF only, token names, no control bytes, at most one of CL/TE, TE
/// exactly `chunked`, a strict chunked body. `Ok(None)`: incomplete.
pub fn parse_message(b: &[u8]) -> Result<Option<Message>, String> {
    let Some(end) = b.windows(4).position(|w| w == b"\r\n\r\n") else {
        return Ok(None);
    };
    let head = &b[..end + 4];
    for (i, &c) in head.iter().enumerate() {
        if c == b'\n' && (i == 0 || head[i - 1] != b'\r') {
            return Err("bare LF in head".into());
        }
        if c == b'\r' && head.get(i + 1) != Some(&b'\n') {
            return Err("bare CR in head".into());
        }
        if (c < 0x20 && c != b'\r' && c != b'\n' && c != b'\t') || c == 0x7f {
            return Err(format!("control byte {c:#x} in head"));
        }
    }
    let head = String::from_utf8_lossy(head).into_owned();
    let mut cl = Vec::new();
    let mut te = Vec::new();
    for line in head.split("\r\n").skip(1).filter(|l| !l.is_empty()) {
        let (n, v) = line.split_once(':').ok_or("field without colon")?;
        if n.is_empty() || !n.bytes().all(tchar) {
            return Err(format!("bad field name {n:?}"));
        }
        if n.eq_ignore_ascii_case("content-length") {
            cl.push(v.trim().to_string());
        }
        if n.eq_ignore_ascii_case("transfer-encoding") {
            te.push(v.trim().to_string());
        }
    }
    let rest = &b[end + 4..];
    let response = head.starts_with("HTTP/");
    let (body, used) = match (cl.len(), te.len()) {
        (0, 0) if response => (rest.to_vec(), rest.len()),
        (0, 0) => (Vec::new(), 0),
        (1, 0) => {
            let v = &cl[0];
            if v.is_empty() || !v.bytes().all(|c| c.is_ascii_digit()) {
                return Err(format!("bad Content-Length {v:?}"));
            }
            let n: usize = v.parse().map_err(|_| "Content-Length overflow")?;
            if rest.len() < n {
                return Ok(None);
            }
            (rest[..n].to_vec(), n)
        }
        (0, 1) if te[0] == "chunked" => match dechunk(rest)? {
            Some(x) => x,
            None => return Ok(None),
        },
        // A response whose last coding is not chunked ends at close.
        (0, 1)
            if response
                && !te[0]
                    .rsplit(',')
                    .next()
                    .is_some_and(|c| c.trim().eq_ignore_ascii_case("chunked")) =>
        {
            (rest.to_vec(), rest.len())
        }
        _ => return Err(format!("ambiguous framing CL={cl:?} TE={te:?}")),
    };
    Ok(Some(Message {
        len: end + 4 + used,
        head,
        body,
    }))
}

fn line(b: &[u8]) -> Result<Option<(&[u8], usize)>, String> {
    match b.windows(2).position(|w| w == b"\r\n") {
        Some(i) => {
            if b[..i].iter().any(|&c| c == b'\n' || c == b'\r') {
                return Err("bare CR/LF in chunked framing".into());
            }
            Ok(Some((&b[..i], i + 2)))
        }
        None => Ok(None),
    }
}

fn dechunk(b: &[u8]) -> Result<Option<(Vec<u8>, usize)>, String> {
    let mut pos = 0;
    let mut body = Vec::new();
    loop {
        let Some((l, n)) = line(&b[pos..])? else {
            return Ok(None);
        };
        pos += n;
        let size = l.split(|&c| c == b';').next().unwrap_or(&[]);
        let size = std::str::from_utf8(size).map_err(|_| "chunk size not ASCII")?;
        if size.is_empty() || !size.bytes().all(|c| c.is_ascii_hexdigit()) {
            return Err(format!("bad chunk size {size:?}"));
        }
        let size = usize::from_str_radix(size, 16).map_err(|_| "chunk size overflow")?;
        if size == 0 {
            loop {
                let Some((t, n)) = line(&b[pos..])? else {
                    return Ok(None);
                };
                pos += n;
                if t.is_empty() {
                    return Ok(Some((body, pos)));
                }
            }
        }
        if b.len() < pos + size + 2 {
            return Ok(None);
        }
        body.extend_from_slice(&b[pos..pos + size]);
        if &b[pos + size..pos + size + 2] != b"\r\n" {
            return Err("chunk data not followed by CRLF".into());
        }
        pos += size + 2;
    }
}

/// Every message in `b`, which must split into complete, strict messages.
pub fn parse_all(mut b: &[u8]) -> Result<Vec<Message>, String> {
    let mut out = Vec::new();
    while !b.is_empty() {
        match parse_message(b)? {
            Some(m) => {
                b = &b[m.len..];
                out.push(m);
            }
            None => {
                return Err(format!(
                    "incomplete message: {:?}",
                    String::from_utf8_lossy(b)
                ));
            }
        }
    }
    Ok(out)
}
