//! HTTP sessions of virtual users and open-model connections.
//!
//! Plain HTTP/1.1 goes through one `hyper::client::conn::http1` connection per
//! session over its own `TcpStream` (no URL handling or pool lookup per request:
//! DESIGN.md, "Load engine hot path"). TLS and HTTP/2 go through a `reqwest`
//! client per session. Both keep the session's cookies, as Locust's HttpUser does.
use std::fmt;
use std::net::SocketAddr;
use std::pin::Pin;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{Connection, SendRequest};
use hyper::header::{HeaderMap, HeaderName, HeaderValue, CONTENT_TYPE, COOKIE, HOST, SET_COOKIE};
use hyper::{Method, Request, Uri};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use crate::error::InputError;
use crate::loadtest::plan::Plan;

/// A request built once, sent many times.
#[derive(Debug, Clone)]
pub struct PreparedRequest {
    pub method: Method,
    /// Origin-form target (`/path?query`) for the HTTP/1.1 fast path.
    pub target: Uri,
    /// Absolute URL for reqwest and for cookie matching.
    pub url: reqwest::Url,
    pub headers: HeaderMap,
    pub body: Bytes,
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
            let path = format!("{prefix}{}", def.path);
            let target: Uri = path
                .parse()
                .map_err(|e| bad(format!("path '{path}' is not valid: {e}")))?;
            let url = base
                .join(&path)
                .map_err(|e| bad(format!("path '{path}' is not valid: {e}")))?;
            let method = Method::from_bytes(def.method.as_bytes())
                .map_err(|_| bad(format!("'{}' is not an HTTP method", def.method)))?;
            let mut headers = HeaderMap::new();
            headers.insert(
                HOST,
                HeaderValue::from_str(&authority).map_err(|e| bad(format!("host: {e}")))?,
            );
            for (name, value) in plan.default_headers.iter().chain(&def.headers) {
                let name = HeaderName::from_bytes(name.as_bytes())
                    .map_err(|_| bad(format!("'{name}' is not a valid header name")))?;
                let value = HeaderValue::from_str(value)
                    .map_err(|_| bad(format!("header {name}: '{value}' is not a valid value")))?;
                headers.insert(name, value);
            }
            if let Some(content_type) = def.body.content_type {
                headers
                    .entry(CONTENT_TYPE)
                    .or_insert(HeaderValue::from_static(content_type));
            }
            Ok(PreparedRequest {
                method,
                target,
                url,
                headers,
                body: Bytes::from(def.body.bytes.clone()),
                stats_id: endpoint.stats_id,
            })
        })
        .collect()
}

/// How sessions talk to the target.
#[derive(Clone)]
pub enum Transport {
    /// Plain HTTP/1.1 over our own connection to this address.
    Http1 { addr: SocketAddr },
    /// reqwest (TLS and/or HTTP/2).
    Reqwest { http2: bool, insecure: bool },
}

/// An HTTP/1.1 connection driven by the task that uses it (no separate connection task:
/// one wake-up per response instead of two).
pub struct Http1Connection {
    sender: SendRequest<Full<Bytes>>,
    connection: Pin<Box<Connection<TokioIo<TcpStream>, Full<Bytes>>>>,
}

/// One user's (or one open-model connection's) session: a connection and a cookie jar.
pub enum Session {
    Http1 {
        addr: SocketAddr,
        connection: Option<Http1Connection>,
        cookies: Option<Box<cookie_store::CookieStore>>,
    },
    Reqwest(reqwest::Client),
}

impl Session {
    pub fn new(transport: &Transport, timeout: Duration) -> Result<Session, String> {
        match transport {
            Transport::Http1 { addr } => Ok(Session::Http1 {
                addr: *addr,
                connection: None,
                cookies: None,
            }),
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
        match tokio::time::timeout(timeout, self.exchange(request, false)).await {
            Ok(result) => result,
            Err(_) => {
                // The connection is mid-exchange: it cannot be reused.
                if let Session::Http1 { connection, .. } = self {
                    *connection = None;
                }
                Err(Failure::Timeout)
            }
        }
    }

    async fn exchange(
        &mut self,
        request: &PreparedRequest,
        retried: bool,
    ) -> Result<Reply, Failure> {
        match self {
            Session::Http1 {
                addr,
                connection,
                cookies,
            } => {
                let mut live = match connection.take() {
                    Some(live) => live,
                    None => connect_http1(*addr).await?,
                };
                let Http1Connection {
                    sender,
                    connection: driver,
                } = &mut live;
                let exchange = async {
                    if sender.ready().await.is_err() {
                        return Err(None);
                    }
                    let mut req = Request::new(Full::new(request.body.clone()));
                    *req.method_mut() = request.method.clone();
                    *req.uri_mut() = request.target.clone();
                    *req.headers_mut() = request.headers.clone();
                    if let Some(jar) = cookies.as_deref() {
                        add_cookie_header(jar, &request.url, req.headers_mut());
                    }
                    let response = sender
                        .send_request(req)
                        .await
                        .map_err(|e| Some(Failure::Connect(short_error(&e))))?;
                    let status = response.status().as_u16();
                    if response.headers().contains_key(SET_COOKIE) {
                        let jar = cookies.get_or_insert_with(Default::default);
                        store_cookies(jar, &request.url, response.headers());
                    }
                    let mut body = response.into_body();
                    let mut body_bytes = 0u64;
                    while let Some(frame) = body.frame().await {
                        let frame = frame.map_err(|e| Some(Failure::Body(short_error(&e))))?;
                        if let Some(data) = frame.data_ref() {
                            body_bytes += data.len() as u64;
                        }
                    }
                    Ok((status, body_bytes))
                };
                // Drive the connection in this task while the exchange runs.
                let outcome = tokio::select! {
                    biased;
                    outcome = exchange => outcome,
                    ended = driver.as_mut() => Err(Some(Failure::Connect(match ended {
                        Ok(()) => "connection closed by the server".to_string(),
                        Err(e) => short_error(&e),
                    }))),
                };
                match outcome {
                    Ok((status, body_bytes)) => {
                        *connection = Some(live);
                        if status >= 400 {
                            return Err(Failure::Status(status));
                        }
                        Ok(Reply { body_bytes })
                    }
                    Err(Some(failure)) => Err(failure),
                    // The idle connection was closed (keep-alive ended): reconnect and retry once.
                    Err(None) if !retried => {
                        *connection = Some(connect_http1(*addr).await?);
                        Box::pin(self.exchange(request, true)).await
                    }
                    Err(None) => Err(Failure::Connect(
                        "connection closed before the request was sent".to_string(),
                    )),
                }
            }
            Session::Reqwest(client) => {
                let response = client
                    .request(request.method.clone(), request.url.clone())
                    .headers(request.headers.clone())
                    .body(request.body.clone())
                    .send()
                    .await
                    .map_err(classify_reqwest)?;
                let status = response.status().as_u16();
                let mut response = response;
                let mut body_bytes = 0u64;
                while let Some(chunk) = response.chunk().await.map_err(classify_reqwest)? {
                    body_bytes += chunk.len() as u64;
                }
                if status >= 400 {
                    return Err(Failure::Status(status));
                }
                Ok(Reply { body_bytes })
            }
        }
    }
}

async fn connect_http1(addr: SocketAddr) -> Result<Http1Connection, Failure> {
    let stream = TcpStream::connect(addr)
        .await
        .map_err(|e| Failure::Connect(e.kind().to_string()))?;
    // Small requests must leave at once, not wait for Nagle.
    stream
        .set_nodelay(true)
        .map_err(|e| Failure::Connect(e.kind().to_string()))?;
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| Failure::Connect(short_error(&e)))?;
    Ok(Http1Connection {
        sender,
        connection: Box::pin(connection),
    })
}

fn add_cookie_header(jar: &cookie_store::CookieStore, url: &reqwest::Url, headers: &mut HeaderMap) {
    let value = jar
        .get_request_values(url)
        .map(|(name, value)| format!("{name}={value}"))
        .collect::<Vec<_>>()
        .join("; ");
    if let Ok(value) = HeaderValue::from_str(&value) {
        if !value.is_empty() {
            headers.insert(COOKIE, value);
        }
    }
}

fn store_cookies(jar: &mut cookie_store::CookieStore, url: &reqwest::Url, headers: &HeaderMap) {
    let parsed = headers
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|s| cookie::Cookie::parse(s.to_string()).ok());
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
