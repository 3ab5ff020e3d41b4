//! HTTP sessions of virtual users and open-model connections.
//!
//! Plain HTTP/1.1 goes over one connection per session, its own `TcpStream`, with
//! each request serialized once (`http1.rs`): no URL handling, pool lookup or header
//! map per request (DESIGN.md, "Load engine hot path"). TLS and HTTP/2 go through a
//! `reqwest` client per session. Both keep the session's cookies, as Locust's
//! HttpUser does.
use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use hyper::header::{HeaderMap, HeaderName, HeaderValue, CONTENT_TYPE, HOST, USER_AGENT};
use hyper::Method;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::error::InputError;
use crate::loadtest::http1::{parse_head, ChunkedDecoder, Framing, RequestTemplate};
use crate::loadtest::plan::Plan;

/// A request built once, sent many times.
#[derive(Debug, Clone)]
pub struct PreparedRequest {
    pub method: Method,
    /// Absolute URL for reqwest and for cookie matching.
    pub url: reqwest::Url,
    pub headers: HeaderMap,
    pub body: Bytes,
    /// The same request serialized for the HTTP/1.1 fast path.
    pub http1: RequestTemplate,
    pub stats_id: usize,
}

/// Why a request failed, grouped the way the failures report groups them.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Failure {
    /// The TCP (or TLS) connection could not be made or broke.
    Connect(String),
    /// No complete response within `--timeout`.
    Timeout,
    /// The server answered with a 4xx or 5xx status.
    Status(u16),
    /// The response body could not be read.
    Body(String),
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Connect(why) => write!(f, "ConnectionError: {why}"),
            Failure::Timeout => write!(f, "Timeout: no complete response in time"),
            Failure::Status(code) => write!(f, "HTTPError: {code} {}", reason(*code)),
            Failure::Body(why) => write!(f, "BodyError: {why}"),
        }
    }
}

fn reason(code: u16) -> &'static str {
    hyper::StatusCode::from_u16(code)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("")
}

/// A successful exchange: status below 400 and the body fully read.
#[derive(Debug, Clone, Copy)]
pub struct Reply {
    pub body_bytes: u64,
}

/// Build every endpoint of the plan into a ready-to-send request.
pub fn prepare(plan: &Plan) -> Result<Vec<PreparedRequest>, InputError> {
    let base = reqwest::Url::parse(&plan.host).map_err(|e| {
        InputError::flag("host", format!("'{}' is not a valid URL: {e}", plan.host))
    })?;
    let authority = match base.port() {
        Some(port) => format!("{}:{port}", base.host_str().unwrap_or_default()),
        None => base.host_str().unwrap_or_default().to_string(),
    };
    let prefix = base.path().trim_end_matches('/').to_string();
    plan.endpoints
        .iter()
        .map(|endpoint| {
            let def = &endpoint.def;
            let bad = |what: String| InputError::flag(format!("request '{}'", def.name), what);
            // Sent verbatim on HTTP/1.1 (no dot-segment or `//` rewriting), once
            // checked to be a valid origin-form target.
            let path = format!("{prefix}{}", def.path);
            path.parse::<hyper::Uri>()
                .map_err(|e| bad(format!("path '{path}' is not valid: {e}")))?;
            let mut url = base.clone();
            let (url_path, query) = match path.split_once('?') {
                Some((url_path, query)) => (url_path, Some(query)),
                None => (path.as_str(), None),
            };
            url.set_path(url_path);
            url.set_query(query);
            let method = Method::from_bytes(def.method.as_bytes())
                .map_err(|_| bad(format!("'{}' is not an HTTP method", def.method)))?;
            let mut headers = HeaderMap::new();
            headers.insert(
                HOST,
                HeaderValue::from_str(&authority).map_err(|e| bad(format!("host: {e}")))?,
            );
            for (name, value) in plan.default_headers.iter().chain(&def.headers) {
                let (name, value) = header(name, value).map_err(bad)?;
                headers.insert(name, value);
            }
            if let Some(content_type) = def.body.content_type {
                headers
                    .entry(CONTENT_TYPE)
                    .or_insert(HeaderValue::from_static(content_type));
            }
            // Lets the target's logs tell load-test traffic apart, unless the scenario names itself.
            headers
                .entry(USER_AGENT)
                .or_insert(HeaderValue::from_static(concat!(
                    "capplan/",
                    env!("CARGO_PKG_VERSION")
                )));
            let body = Bytes::from(def.body.bytes.clone());
            Ok(PreparedRequest {
                http1: RequestTemplate::new(&method, &path, &headers, body.clone()),
                method,
                url,
                headers,
                body,
                stats_id: endpoint.stats_id,
            })
        })
        .collect()
}

/// A header as it goes on the wire, or why it cannot.
pub fn header(name: &str, value: &str) -> Result<(HeaderName, HeaderValue), String> {
    let name = HeaderName::from_bytes(name.as_bytes())
        .map_err(|_| format!("'{name}' is not a valid header name"))?;
    let value = HeaderValue::from_str(value)
        .map_err(|_| format!("header {name}: '{value}' is not a valid value"))?;
    Ok((name, value))
}

/// How sessions talk to the target.
#[derive(Clone)]
pub enum Transport {
    /// Plain HTTP/1.1 over our own connection to this address.
    Http1 { addr: SocketAddr },
    /// reqwest (TLS and/or HTTP/2).
    Reqwest { http2: bool, insecure: bool },
}

/// One user's (or one open-model connection's) session: a connection and a cookie jar.
pub enum Session {
    Http1(Http1Session),
    Reqwest(reqwest::Client),
}

impl Session {
    pub fn new(transport: &Transport, timeout: Duration) -> Result<Session, String> {
        match transport {
            Transport::Http1 { addr } => Ok(Session::Http1(Http1Session {
                addr: *addr,
                connection: None,
                cookies: None,
            })),
            Transport::Reqwest { http2, insecure } => {
                let mut builder = reqwest::Client::builder()
                    .cookie_store(true)
                    .danger_accept_invalid_certs(*insecure)
                    .timeout(timeout)
                    .pool_max_idle_per_host(1)
                    .redirect(reqwest::redirect::Policy::limited(10));
                if *http2 {
                    builder = builder.http2_prior_knowledge();
                }
                builder
                    .build()
                    .map(Session::Reqwest)
                    .map_err(|e| format!("cannot build the HTTP client: {e}"))
            }
        }
    }

    /// Send one request and read the whole response, within `timeout`.
    pub async fn send(
        &mut self,
        request: &PreparedRequest,
        timeout: Duration,
    ) -> Result<Reply, Failure> {
        let exchange = async {
            match self {
                Session::Http1(session) => session.send(request).await,
                Session::Reqwest(client) => send_reqwest(client, request).await,
            }
        };
        // An HTTP/1.1 connection mid-exchange goes with the dropped future: the next
        // request opens a new one.
        tokio::time::timeout(timeout, exchange)
            .await
            .unwrap_or(Err(Failure::Timeout))
    }
}

/// A plain HTTP/1.1 session: at most one kept-alive connection, and the cookies
/// the target has set.
pub struct Http1Session {
    addr: SocketAddr,
    connection: Option<Http1Connection>,
    cookies: Option<Box<cookie_store::CookieStore>>,
}

impl Http1Session {
    async fn send(&mut self, request: &PreparedRequest) -> Result<Reply, Failure> {
        let template = &request.http1;
        let with_cookies = self
            .cookies
            .as_deref()
            .and_then(|jar| cookie_header(jar, &request.url))
            .map(|value| template.bytes_with_cookies(&value));
        let bytes = with_cookies.as_ref().unwrap_or(template.bytes());
        let response = loop {
            // A kept-alive connection the server has closed (or written to) while
            // idle is replaced before sending, as urllib3 does for Locust.
            let idle = self
                .connection
                .take()
                .filter(Http1Connection::idle_and_open);
            let reused = idle.is_some();
            let mut live = match idle {
                Some(live) => live,
                None => Http1Connection::connect(self.addr).await?,
            };
            match live.exchange(bytes, template.is_head).await {
                Ok(response) => {
                    if response.keep_alive && !template.closes {
                        self.connection = Some(live);
                    }
                    break response;
                }
                // The server closed a kept-alive connection as the request went out
                // (its idle timeout raced ours) and answered nothing: an idempotent
                // request may be sent once more on a new connection (RFC 9112 §9.3.1).
                // Once: the second attempt is on a new connection, never `reused`.
                Err(ExchangeError::ClosedEarly(_)) if reused && template.idempotent => {}
                Err(ExchangeError::ClosedEarly(why)) => return Err(Failure::Connect(why)),
                Err(ExchangeError::Failed(failure)) => return Err(failure),
            }
        };
        if !response.set_cookies.is_empty() {
            let jar = self.cookies.get_or_insert_with(Default::default);
            store_cookies(jar, &request.url, response.set_cookies);
        }
        if response.status >= 400 {
            return Err(Failure::Status(response.status));
        }
        Ok(Reply {
            body_bytes: response.body_bytes,
        })
    }
}

async fn send_reqwest(
    client: &reqwest::Client,
    request: &PreparedRequest,
) -> Result<Reply, Failure> {
    let mut response = client
        .request(request.method.clone(), request.url.clone())
        .headers(request.headers.clone())
        .body(request.body.clone())
        .send()
        .await
        .map_err(classify_reqwest)?;
    let status = response.status().as_u16();
    let mut body_bytes = 0u64;
    while let Some(chunk) = response.chunk().await.map_err(classify_reqwest)? {
        body_bytes += chunk.len() as u64;
    }
    if status >= 400 {
        return Err(Failure::Status(status));
    }
    Ok(Reply { body_bytes })
}

/// Why an HTTP/1.1 exchange did not produce a response.
enum ExchangeError {
    /// The connection was closed or reset before any of the response arrived.
    ClosedEarly(String),
    Failed(Failure),
}

/// A response read off the wire.
struct Http1Response {
    status: u16,
    body_bytes: u64,
    keep_alive: bool,
    set_cookies: Vec<String>,
}

/// One HTTP/1.1 connection and its read buffer; requests go one at a time (no pipelining).
pub struct Http1Connection {
    stream: TcpStream,
    buffer: BytesMut,
}

/// Read buffer: room for a typical response head and a small body in one read.
const READ_CHUNK: usize = 8 * 1024;

impl Http1Connection {
    async fn connect(addr: SocketAddr) -> Result<Http1Connection, Failure> {
        let stream = TcpStream::connect(addr)
            .await
            .map_err(|e| Failure::Connect(e.kind().to_string()))?;
        // Small requests must leave at once, not wait for Nagle.
        stream
            .set_nodelay(true)
            .map_err(|e| Failure::Connect(e.kind().to_string()))?;
        Ok(Http1Connection {
            stream,
            buffer: BytesMut::with_capacity(READ_CHUNK),
        })
    }

    /// Whether an idle kept-alive connection can carry a request: the server has
    /// neither closed it (its keep-alive timeout) nor sent anything unasked (a 408
    /// before closing, say). Free in the common case: tokio answers from its
    /// readiness state, without a system call, unless the socket became readable
    /// since the last response. (A peek per request would also catch a close racing
    /// the request by microseconds, at a system call per request: 1.00x wrk against
    /// 1.02-1.08x without, in separate runs (docs/BENCHMARKS.md). Such a race is
    /// left to the retry of idempotent requests.)
    fn idle_and_open(&self) -> bool {
        let mut probe = [0u8; 1];
        matches!(self.stream.try_read(&mut probe), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock)
    }

    /// Read more of the response; 0 means the server closed the connection.
    async fn fill(&mut self) -> std::io::Result<usize> {
        if self.buffer.capacity() - self.buffer.len() < READ_CHUNK / 2 {
            self.buffer.reserve(READ_CHUNK);
        }
        self.stream.read_buf(&mut self.buffer).await
    }

    /// Send one serialized request and read its whole response.
    async fn exchange(
        &mut self,
        request: &[u8],
        is_head: bool,
    ) -> Result<Http1Response, ExchangeError> {
        let failed = |failure| ExchangeError::Failed(failure);
        if let Err(e) = self.stream.write_all(request).await {
            return Err(ExchangeError::ClosedEarly(e.kind().to_string()));
        }
        // Any byte of a response (even a 1xx) means the server took the request.
        let mut received_any = false;
        let head = loop {
            match parse_head(&self.buffer, is_head) {
                Err(e) => return Err(failed(Failure::Body(e.0))),
                // 1xx interim responses (100 Continue, 103 Early Hints) precede the real one.
                Ok(Some(head)) if (100..200).contains(&head.status) && head.status != 101 => {
                    self.buffer.advance(head.head_len);
                }
                Ok(Some(head)) => break head,
                Ok(None) => match self.fill().await {
                    Ok(0) if !received_any => {
                        return Err(ExchangeError::ClosedEarly(
                            "connection closed before the response".to_string(),
                        ))
                    }
                    Err(e) if !received_any => {
                        return Err(ExchangeError::ClosedEarly(e.kind().to_string()))
                    }
                    Ok(0) => {
                        return Err(failed(Failure::Body(
                            "connection closed inside the response head".to_string(),
                        )))
                    }
                    Err(e) => return Err(failed(Failure::Body(e.kind().to_string()))),
                    Ok(_) => received_any = true,
                },
            }
        };
        if head.status == 101 {
            return Err(failed(Failure::Body(
                "unexpected 101 Switching Protocols".to_string(),
            )));
        }
        self.buffer.advance(head.head_len);
        let cut_short = || {
            failed(Failure::Body(
                "connection closed before the body was complete".to_string(),
            ))
        };
        let io_error = |e: std::io::Error| failed(Failure::Body(e.kind().to_string()));
        let mut body_bytes = 0u64;
        match head.framing {
            Framing::Empty => {}
            Framing::Length(length) => loop {
                let take = (length - body_bytes).min(self.buffer.len() as u64);
                self.buffer.advance(take as usize);
                body_bytes += take;
                if body_bytes == length {
                    break;
                }
                if self.fill().await.map_err(io_error)? == 0 {
                    return Err(cut_short());
                }
            },
            Framing::Chunked => {
                let mut decoder = ChunkedDecoder::default();
                loop {
                    let decoded = decoder
                        .decode(&self.buffer)
                        .map_err(|e| failed(Failure::Body(e.0)))?;
                    self.buffer.advance(decoded.consumed);
                    body_bytes += decoded.data;
                    if decoder.is_done() {
                        break;
                    }
                    if self.fill().await.map_err(io_error)? == 0 {
                        return Err(cut_short());
                    }
                }
            }
            Framing::UntilClose => loop {
                body_bytes += self.buffer.len() as u64;
                self.buffer.clear();
                if self.fill().await.map_err(io_error)? == 0 {
                    break;
                }
            },
        }
        Ok(Http1Response {
            status: head.status,
            body_bytes,
            // Bytes beyond the response mean the framing is not what it said: start afresh.
            keep_alive: head.keep_alive && self.buffer.is_empty(),
            set_cookies: head.set_cookies,
        })
    }
}

/// The `Cookie` value the jar holds for this URL, if any.
fn cookie_header(jar: &cookie_store::CookieStore, url: &reqwest::Url) -> Option<String> {
    // One string, not one per cookie joined afterwards: this runs per request.
    let mut value = String::new();
    for (name, cookie) in jar.get_request_values(url) {
        if !value.is_empty() {
            value.push_str("; ");
        }
        value.push_str(name);
        value.push('=');
        value.push_str(cookie);
    }
    (!value.is_empty()).then_some(value)
}

fn store_cookies(
    jar: &mut cookie_store::CookieStore,
    url: &reqwest::Url,
    set_cookies: Vec<String>,
) {
    // The response's own strings, moved into the jar rather than copied.
    let parsed = set_cookies
        .into_iter()
        .filter_map(|s| cookie::Cookie::parse(s).ok());
    jar.store_response_cookies(parsed, url);
}

fn classify_reqwest(e: reqwest::Error) -> Failure {
    if e.is_timeout() {
        Failure::Timeout
    } else if e.is_body() || e.is_decode() {
        Failure::Body(short_error(&e))
    } else {
        Failure::Connect(short_error(&e))
    }
}

/// The innermost cause: stable across requests, so failures group well.
fn short_error(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cause: &dyn std::error::Error = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}
