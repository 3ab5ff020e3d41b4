//! HTTP/1.1 wire protocol for the load engine's fast path: requests serialized
//! once into bytes, response heads parsed with `httparse`, bodies framed by
//! RFC 9112 §6 (no body / Content-Length / chunked / until close).
//!
//! Everything here is pure (bytes in, decisions out); the socket I/O that uses it
//! lives in `client.rs`. A general client (hyper) costs a channel, a callback and
//! a header-map clone per request; at 100k+ requests a second on one core that is
//! a fifth of the generator's time (docs/BENCHMARKS.md, "Load engine").
use std::mem::MaybeUninit;

use bytes::{BufMut, Bytes, BytesMut};
use hyper::header::{HeaderMap, CONNECTION, CONTENT_LENGTH, COOKIE, TRANSFER_ENCODING};
use hyper::Method;

/// Response heads larger than this are refused rather than buffered without bound.
pub const MAX_HEAD_BYTES: usize = 64 * 1024;
/// Header lines parsed per response head.
const MAX_HEADERS: usize = 100;

/// A request serialized once: the head without its final blank line, and the body.
#[derive(Debug, Clone)]
pub struct RequestTemplate {
    /// Request line and header lines, each ending in CRLF, without the blank line.
    head: Bytes,
    /// The scenario's own `Cookie` header, merged with the session's jar when it has cookies.
    cookie: Option<String>,
    /// Head, blank line (and the scenario cookie) and body: what is sent when the jar is empty.
    whole: Bytes,
    body: Bytes,
    /// HEAD responses carry no body whatever their headers say.
    pub is_head: bool,
    /// The request itself says `Connection: close`: do not reuse the connection.
    pub closes: bool,
    /// Safe to send twice (RFC 9110 §9.2.2): may be retried on a connection that
    /// closed before answering.
    pub idempotent: bool,
}

impl RequestTemplate {
    /// Serialize a request. `target` is the origin-form path; `headers` must hold Host.
    /// The Content-Length is computed from the body, never taken from the headers.
    pub fn new(method: &Method, target: &str, headers: &HeaderMap, body: Bytes) -> RequestTemplate {
        let mut head = BytesMut::with_capacity(256);
        head.put_slice(method.as_str().as_bytes());
        head.put_u8(b' ');
        head.put_slice(target.as_bytes());
        head.put_slice(b" HTTP/1.1\r\n");
        let mut cookie = None;
        let mut closes = false;
        for (name, value) in headers {
            if name == CONNECTION {
                closes |= has_token(value.as_bytes(), b"close");
            }
            if name == CONTENT_LENGTH || name == TRANSFER_ENCODING {
                continue;
            }
            if name == COOKIE {
                cookie = Some(String::from_utf8_lossy(value.as_bytes()).into_owned());
                continue;
            }
            head.put_slice(name.as_str().as_bytes());
            head.put_slice(b": ");
            head.put_slice(value.as_bytes());
            head.put_slice(b"\r\n");
        }
        // A body, or a method that normally has one, states its length (RFC 9110 §8.6).
        if !body.is_empty() || matches!(*method, Method::POST | Method::PUT | Method::PATCH) {
            head.put_slice(format!("content-length: {}\r\n", body.len()).as_bytes());
        }
        let head = head.freeze();
        let whole = assemble(&head, cookie.as_deref().as_slice(), &body);
        RequestTemplate {
            head,
            cookie,
            whole,
            body,
            is_head: *method == Method::HEAD,
            closes,
            idempotent: method.is_idempotent(),
        }
    }

    /// The bytes to send when the session's jar has nothing for this URL.
    pub fn bytes(&self) -> &Bytes {
        &self.whole
    }

    /// The bytes to send with the session's cookies (`name=value; ...`) added.
    pub fn bytes_with_cookies(&self, jar_cookies: &str) -> Bytes {
        match &self.cookie {
            Some(own) => assemble(&self.head, &[own, jar_cookies], &self.body),
            None => assemble(&self.head, &[jar_cookies], &self.body),
        }
    }
}

/// Head, one `Cookie` line joining `cookies` (none when empty), blank line, body.
fn assemble(head: &[u8], cookies: &[&str], body: &[u8]) -> Bytes {
    let cookie_bytes: usize = cookies.iter().map(|c| c.len() + 2).sum();
    let mut out = BytesMut::with_capacity(head.len() + cookie_bytes + body.len() + 64);
    out.put_slice(head);
    if !cookies.is_empty() {
        out.put_slice(b"cookie: ");
        for (i, cookie) in cookies.iter().enumerate() {
            if i > 0 {
                out.put_slice(b"; ");
            }
            out.put_slice(cookie.as_bytes());
        }
        out.put_slice(b"\r\n");
    }
    out.put_slice(b"\r\n");
    out.put_slice(body);
    out.freeze()
}

/// Whether a comma-separated header value (`Connection: keep-alive, Upgrade`) lists `token`.
fn has_token(value: &[u8], token: &[u8]) -> bool {
    value
        .split(|&b| b == b',')
        .any(|item| item.trim_ascii().eq_ignore_ascii_case(token))
}

/// How the body after a response head is delimited (RFC 9112 §6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// HEAD, 1xx, 204 and 304 responses.
    Empty,
    Length(u64),
    Chunked,
    /// No length: the body ends when the server closes the connection.
    UntilClose,
}

/// What the engine needs from a response head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseHead {
    pub status: u16,
    /// Bytes of the buffer the head took, blank line included.
    pub head_len: usize,
    pub framing: Framing,
    /// The connection may carry another request after this response.
    pub keep_alive: bool,
    /// `Set-Cookie` values, in order (empty, without allocating, when there are none).
    pub set_cookies: Vec<String>,
    /// `Location` of a redirect (301, 302, 303, 307, 308); read for nothing else.
    pub location: Option<String>,
    /// The headers asked for by name (lower case), in order; empty when none was.
    pub kept: Vec<(String, String)>,
}

/// A response the client cannot make sense of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtocolError(pub String);

impl std::fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Parse a response head from the start of `buf`: `Ok(None)` when more bytes are needed.
pub fn parse_head(
    buf: &[u8],
    request_is_head: bool,
) -> Result<Option<ResponseHead>, ProtocolError> {
    parse_head_keeping(buf, request_is_head, &[])
}

/// [`parse_head`], keeping the values of the headers named in `keep` (lower case).
pub fn parse_head_keeping(
    buf: &[u8],
    request_is_head: bool,
    keep: &[String],
) -> Result<Option<ResponseHead>, ProtocolError> {
    // Left uninitialized: httparse writes the entries it fills, so nothing zeroes
    // 100 of them per response.
    let mut headers = [MaybeUninit::<httparse::Header>::uninit(); MAX_HEADERS];
    let mut response = httparse::Response::new(&mut []);
    let parsed = httparse::ParserConfig::default().parse_response_with_uninit_headers(
        &mut response,
        buf,
        &mut headers,
    );
    let head_len = match parsed {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) if buf.len() > MAX_HEAD_BYTES => {
            return Err(ProtocolError(format!(
                "response head larger than {} KiB",
                MAX_HEAD_BYTES / 1024
            )))
        }
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => return Err(ProtocolError(format!("malformed response head: {e}"))),
    };
    let status = response.code.unwrap_or_default();
    let http10 = response.version == Some(0);
    let (mut said_close, mut said_keep_alive) = (false, false);
    let mut content_lengths: Option<&[u8]> = None;
    let mut transfer_encoding: Option<&[u8]> = None;
    let mut set_cookies = Vec::new();
    let mut location = None;
    let mut kept = Vec::new();
    let redirect = is_redirect(status);
    for header in response.headers.iter() {
        let name = header.name;
        if !keep.is_empty() {
            if let Some(wanted) = keep.iter().find(|k| name.eq_ignore_ascii_case(k)) {
                let value = String::from_utf8_lossy(header.value).into_owned();
                kept.push((wanted.clone(), value));
            }
        }
        if name.eq_ignore_ascii_case("content-length") {
            if content_lengths.is_some_and(|seen| seen != header.value) {
                return Err(ProtocolError(
                    "conflicting Content-Length headers".to_string(),
                ));
            }
            content_lengths = Some(header.value);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            transfer_encoding = Some(header.value);
        } else if name.eq_ignore_ascii_case("connection") {
            said_close |= has_token(header.value, b"close");
            said_keep_alive |= has_token(header.value, b"keep-alive");
        } else if name.eq_ignore_ascii_case("set-cookie") {
            if let Ok(value) = std::str::from_utf8(header.value) {
                set_cookies.push(value.to_string());
            }
        } else if redirect && name.eq_ignore_ascii_case("location") {
            location = std::str::from_utf8(header.value).ok().map(str::to_string);
        }
    }
    // RFC 9112 §9.3: HTTP/1.1 persists unless "close"; HTTP/1.0 only with "keep-alive".
    let mut keep_alive = !said_close && (!http10 || said_keep_alive);
    let framing =
        if request_is_head || (100..200).contains(&status) || status == 204 || status == 304 {
            Framing::Empty
        } else if let Some(codings) = transfer_encoding {
            // Transfer-Encoding overrides Content-Length; unless chunked comes last the
            // body runs to the close (RFC 9112 §6.3, rules 3 and 4). Both headers, or
            // Transfer-Encoding in HTTP/1.0, mean a confused sender: close after this one.
            if content_lengths.is_some() || http10 {
                keep_alive = false;
            }
            let last = codings.rsplit(|&b| b == b',').next().unwrap_or_default();
            if last.trim_ascii().eq_ignore_ascii_case(b"chunked") {
                Framing::Chunked
            } else {
                Framing::UntilClose
            }
        } else if let Some(values) = content_lengths {
            Framing::Length(parse_content_length(values)?)
        } else {
            Framing::UntilClose
        };
    if framing == Framing::UntilClose {
        keep_alive = false;
    }
    Ok(Some(ResponseHead {
        status,
        head_len,
        framing,
        keep_alive,
        set_cookies,
        location,
        kept,
    }))
}

/// Statuses whose `Location` a client follows (RFC 9110 §15.4; 300 and 305 are not).
pub fn is_redirect(status: u16) -> bool {
    matches!(status, 301 | 302 | 303 | 307 | 308)
}

/// A Content-Length value; a list of equal values (`5, 5`) counts as one (RFC 9110 §8.6).
fn parse_content_length(value: &[u8]) -> Result<u64, ProtocolError> {
    let bad = || {
        ProtocolError(format!(
            "invalid Content-Length '{}'",
            String::from_utf8_lossy(value)
        ))
    };
    let mut length = None;
    for item in value.split(|&b| b == b',') {
        let digits = item.trim_ascii();
        if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
            return Err(bad());
        }
        let parsed = digits.iter().try_fold(0u64, |n, &d| {
            n.checked_mul(10)?.checked_add(u64::from(d - b'0'))
        });
        match (parsed, length) {
            (None, _) => return Err(bad()),
            (Some(n), Some(seen)) if n != seen => return Err(bad()),
            (Some(n), _) => length = Some(n),
        }
    }
    length.ok_or_else(bad)
}

/// Where a chunked body's decoder stands between reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ChunkState {
    /// Reading the hex size; `any_digit` once it has at least one.
    Size {
        size: u64,
        any_digit: bool,
    },
    /// Blanks after the size, before `;`, CR or LF.
    SizeBlank {
        size: u64,
    },
    /// Skipping a chunk extension up to CR.
    Extension {
        size: u64,
    },
    /// Expecting the LF that ends the size line.
    SizeLf {
        size: u64,
    },
    /// Inside chunk data.
    Data {
        remaining: u64,
    },
    DataCr,
    DataLf,
    /// At the start of a trailer line (or of the final blank line).
    TrailerStart,
    /// Inside a trailer field line, skipped up to LF.
    TrailerLine,
    /// Expecting the LF of the final blank line.
    EndLf,
    Done,
}

impl ChunkState {
    /// The start of a chunk's size line.
    const SIZE_START: ChunkState = ChunkState::Size {
        size: 0,
        any_digit: false,
    };
}

/// Incremental decoder of a chunked body (RFC 9112 §7.1): counts the data, skips
/// extensions and trailers, and reports exactly where the message ended.
#[derive(Debug, Clone)]
pub struct ChunkedDecoder {
    state: ChunkState,
}

/// What one call to [`ChunkedDecoder::decode`] did with its input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decoded {
    /// Input bytes used (all of them unless the message ended inside the input).
    pub consumed: usize,
    /// Body data bytes among them.
    pub data: u64,
}

impl Default for ChunkedDecoder {
    fn default() -> Self {
        ChunkedDecoder {
            state: ChunkState::SIZE_START,
        }
    }
}

impl ChunkedDecoder {
    pub fn is_done(&self) -> bool {
        self.state == ChunkState::Done
    }

    fn after_size_line(size: u64) -> ChunkState {
        match size {
            0 => ChunkState::TrailerStart,
            size => ChunkState::Data { remaining: size },
        }
    }

    pub fn decode(&mut self, input: &[u8]) -> Result<Decoded, ProtocolError> {
        self.decode_into(input, None)
    }

    /// [`ChunkedDecoder::decode`], appending the body's data to `out` when given.
    pub fn decode_into(
        &mut self,
        input: &[u8],
        mut out: Option<&mut Vec<u8>>,
    ) -> Result<Decoded, ProtocolError> {
        let bad = |what: &str| Err(ProtocolError(format!("malformed chunked body: {what}")));
        let mut at = 0;
        let mut data = 0u64;
        while at < input.len() {
            let byte = input[at];
            self.state = match self.state {
                ChunkState::Done => break,
                ChunkState::Data { remaining } => {
                    let take = remaining.min((input.len() - at) as u64);
                    if let Some(out) = out.as_deref_mut() {
                        out.extend_from_slice(&input[at..at + take as usize]);
                    }
                    at += take as usize;
                    data += take;
                    self.state = if remaining == take {
                        ChunkState::DataCr
                    } else {
                        ChunkState::Data {
                            remaining: remaining - take,
                        }
                    };
                    continue;
                }
                ChunkState::Size { size, any_digit } => match (byte as char).to_digit(16) {
                    Some(digit) => match size.checked_mul(16) {
                        Some(shifted) => ChunkState::Size {
                            size: shifted | u64::from(digit),
                            any_digit: true,
                        },
                        None => return bad("chunk size too large"),
                    },
                    None if !any_digit => return bad("expected a hex chunk size"),
                    None => match byte {
                        b'\r' => ChunkState::SizeLf { size },
                        // A bare LF ends a line too (RFC 9112 §2.2).
                        b'\n' => Self::after_size_line(size),
                        b';' => ChunkState::Extension { size },
                        b' ' | b'\t' => ChunkState::SizeBlank { size },
                        _ => return bad("invalid byte in chunk size"),
                    },
                },
                ChunkState::SizeBlank { size } => match byte {
                    b' ' | b'\t' => ChunkState::SizeBlank { size },
                    b';' => ChunkState::Extension { size },
                    b'\r' => ChunkState::SizeLf { size },
                    b'\n' => Self::after_size_line(size),
                    _ => return bad("invalid byte in chunk size"),
                },
                ChunkState::Extension { size } if byte == b'\r' => ChunkState::SizeLf { size },
                ChunkState::Extension { size } if byte == b'\n' => Self::after_size_line(size),
                ChunkState::Extension { size } => ChunkState::Extension { size },
                ChunkState::SizeLf { size } if byte == b'\n' => Self::after_size_line(size),
                ChunkState::SizeLf { .. } => return bad("expected LF after chunk size"),
                ChunkState::DataCr if byte == b'\r' => ChunkState::DataLf,
                ChunkState::DataCr if byte == b'\n' => ChunkState::SIZE_START,
                ChunkState::DataCr => return bad("chunk data longer than its size"),
                ChunkState::DataLf if byte == b'\n' => ChunkState::SIZE_START,
                ChunkState::DataLf => return bad("expected LF after chunk data"),
                ChunkState::TrailerStart if byte == b'\r' => ChunkState::EndLf,
                ChunkState::TrailerStart if byte == b'\n' => ChunkState::Done,
                ChunkState::TrailerLine if byte == b'\n' => ChunkState::TrailerStart,
                ChunkState::TrailerStart | ChunkState::TrailerLine => ChunkState::TrailerLine,
                ChunkState::EndLf if byte == b'\n' => ChunkState::Done,
                ChunkState::EndLf => return bad("expected LF after the last chunk"),
            };
            at += 1;
        }
        Ok(Decoded { consumed: at, data })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::header::{HeaderValue, HOST};

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        map.insert(HOST, HeaderValue::from_static("127.0.0.1:8080"));
        for (name, value) in pairs {
            map.insert(
                hyper::header::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        map
    }

    #[test]
    fn get_is_serialized_without_a_length() {
        let t = RequestTemplate::new(&Method::GET, "/a?b=1", &headers(&[]), Bytes::new());
        assert_eq!(
            &t.bytes()[..],
            b"GET /a?b=1 HTTP/1.1\r\nhost: 127.0.0.1:8080\r\n\r\n"
        );
        assert!(!t.is_head);
    }

    #[test]
    fn body_gets_its_real_length_and_cookies_merge() {
        let t = RequestTemplate::new(
            &Method::POST,
            "/login",
            &headers(&[("content-length", "999"), ("cookie", "a=1")]),
            Bytes::from_static(b"{\"x\":1}"),
        );
        let text = String::from_utf8(t.bytes().to_vec()).unwrap();
        assert!(text.starts_with("POST /login HTTP/1.1\r\n"), "{text}");
        assert!(text.contains("content-length: 7\r\n"), "{text}");
        assert!(!text.contains("999"), "{text}");
        assert!(text.ends_with("cookie: a=1\r\n\r\n{\"x\":1}"), "{text}");
        let with = String::from_utf8(t.bytes_with_cookies("sid=xyz").to_vec()).unwrap();
        assert!(
            with.ends_with("cookie: a=1; sid=xyz\r\n\r\n{\"x\":1}"),
            "{with}"
        );
        let empty_post = RequestTemplate::new(&Method::POST, "/", &headers(&[]), Bytes::new());
        assert!(empty_post.bytes().ends_with(b"content-length: 0\r\n\r\n"));
    }

    fn head(text: &str, is_head: bool) -> ResponseHead {
        parse_head(text.as_bytes(), is_head).unwrap().unwrap()
    }

    #[test]
    fn framing_and_persistence_follow_rfc_9112() {
        use Framing::*;
        // (response head, request was HEAD, framing, connection kept alive)
        let cases = [
            (
                "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n",
                false,
                Length(3),
                true,
            ),
            (
                "HTTP/1.1 200 OK\r\nContent-Length: 5, 5\r\n",
                false,
                Length(5),
                true,
            ),
            // Transfer-Encoding overrides Content-Length; chunked must come last.
            (
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n",
                false,
                Chunked,
                true,
            ),
            (
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n",
                false,
                UntilClose,
                false,
            ),
            ("HTTP/1.1 200 OK\r\n", false, UntilClose, false),
            // Both headers, or Transfer-Encoding in HTTP/1.0: read this one, then close.
            (
                "HTTP/1.1 200 OK\r\nContent-Length: x\r\nTransfer-Encoding: chunked\r\n",
                false,
                Chunked,
                false,
            ),
            (
                "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n",
                false,
                Chunked,
                false,
            ),
            // No body whatever the headers say.
            (
                "HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n",
                false,
                Empty,
                true,
            ),
            (
                "HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\n",
                false,
                Empty,
                true,
            ),
            ("HTTP/1.1 103 Early Hints\r\n", false, Empty, true),
            (
                "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n",
                true,
                Empty,
                true,
            ),
            // HTTP/1.1 persists unless "close"; HTTP/1.0 only with "keep-alive"; close wins.
            (
                "HTTP/1.1 200 OK\r\nConnection: Close\r\nContent-Length: 0\r\n",
                false,
                Length(0),
                false,
            ),
            (
                "HTTP/1.0 200 OK\r\nContent-Length: 0\r\n",
                false,
                Length(0),
                false,
            ),
            (
                "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n",
                false,
                Length(0),
                true,
            ),
            (
                "HTTP/1.0 200 OK\r\nConnection: close, keep-alive\r\nContent-Length: 0\r\n",
                false,
                Length(0),
                false,
            ),
        ];
        for (text, is_head, framing, keep_alive) in cases {
            let text = format!("{text}\r\n");
            let parsed = head(&text, is_head);
            assert_eq!(
                (parsed.framing, parsed.keep_alive),
                (framing, keep_alive),
                "{text}"
            );
            assert_eq!(parsed.head_len, text.len(), "{text}");
        }
    }

    #[test]
    fn a_request_that_says_close_is_not_reused() {
        let t = RequestTemplate::new(
            &Method::GET,
            "/",
            &headers(&[("connection", "Close")]),
            Bytes::new(),
        );
        assert!(t.closes);
        assert!(!RequestTemplate::new(&Method::GET, "/", &headers(&[]), Bytes::new()).closes);
    }

    #[test]
    fn status_and_cookies_are_read() {
        let h = head(
            "HTTP/1.1 503 Service Unavailable\r\nSet-Cookie: a=1; Path=/\r\nset-cookie: b=2\r\nContent-Length: 0\r\n\r\n",
            false,
        );
        assert_eq!(h.status, 503);
        assert_eq!(h.set_cookies, vec!["a=1; Path=/", "b=2"]);
    }

    #[test]
    fn partial_and_bad_heads() {
        assert_eq!(
            parse_head(b"HTTP/1.1 200 OK\r\nContent-Le", false),
            Ok(None)
        );
        for (text, why) in [
            ("HTTX/1.1 200 OK\r\n", "malformed response head"),
            (
                "HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n",
                "invalid Content-Length '1x'",
            ),
            (
                "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n",
                "conflicting",
            ),
            (
                "HTTP/1.1 200 OK\r\nContent-Length: 5, 6\r\n",
                "invalid Content-Length '5, 6'",
            ),
            (
                "HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n",
                "invalid Content-Length",
            ),
        ] {
            let err = parse_head(format!("{text}\r\n").as_bytes(), false).unwrap_err();
            assert!(err.0.contains(why), "{text}: {err}");
        }
        let many = format!(
            "HTTP/1.1 200 OK\r\n{}\r\n",
            "x: 1\r\n".repeat(MAX_HEADERS + 1)
        );
        let err = parse_head(many.as_bytes(), false).unwrap_err();
        assert!(err.0.contains("too many headers"), "{err}");
        let enough = format!("HTTP/1.1 200 OK\r\n{}\r\n", "x: 1\r\n".repeat(MAX_HEADERS));
        assert_eq!(head(&enough, false).head_len, enough.len());
        // One header line longer than the limit, never complete.
        let mut huge = b"HTTP/1.1 200 OK\r\nx-filler: ".to_vec();
        huge.resize(MAX_HEAD_BYTES + 1, b'a');
        let err = parse_head(&huge, false).unwrap_err();
        assert!(err.0.contains("larger than 64 KiB"), "{err}");
        huge.truncate(MAX_HEAD_BYTES);
        assert_eq!(parse_head(&huge, false), Ok(None));
    }

    const CHUNKED: &[u8] = b"4;ext=1\r\nWiki\r\n5\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\nx-trailer: 1\r\n\r\nNEXT";

    #[test]
    fn chunked_body_decodes_whole_and_stops_at_its_end() {
        let mut decoder = ChunkedDecoder::default();
        let decoded = decoder.decode(CHUNKED).unwrap();
        assert!(decoder.is_done());
        assert_eq!(decoded.data, 4 + 5 + 14);
        assert_eq!(&CHUNKED[decoded.consumed..], b"NEXT");
    }

    #[test]
    fn chunked_body_decodes_byte_by_byte() {
        let mut decoder = ChunkedDecoder::default();
        let mut data = 0;
        let mut consumed = 0;
        for byte in CHUNKED.chunks(1) {
            if decoder.is_done() {
                break;
            }
            let d = decoder.decode(byte).unwrap();
            data += d.data;
            consumed += d.consumed;
        }
        assert!(decoder.is_done());
        assert_eq!((data, consumed), (23, CHUNKED.len() - 4));
    }

    #[test]
    fn chunked_accepts_leading_zeros_blanks_and_bare_lf() {
        let input = b"00000000000000000003 ;a=b\nabc\n0\nx-t: 1\n\nNEXT";
        let mut decoder = ChunkedDecoder::default();
        let decoded = decoder.decode(input).unwrap();
        assert!(decoder.is_done());
        assert_eq!(decoded.data, 3);
        assert_eq!(&input[decoded.consumed..], b"NEXT");
    }

    #[test]
    fn chunked_errors_are_reported() {
        for (input, why) in [
            (&b"zz\r\n"[..], "expected a hex chunk size"),
            (b"3\r\nabcd\r\n", "longer than its size"),
            (b"11111111111111111\r\n", "too large"),
            (b"3x\r\n", "invalid byte in chunk size"),
            (b"5 6\r\n", "invalid byte in chunk size"),
        ] {
            let err = ChunkedDecoder::default().decode(input).unwrap_err();
            assert!(err.0.contains(why), "{input:?}: {err}");
        }
    }
}
