//! Requests built once, and the sessions of virtual users and open-model connections.
//!
//! Every protocol is spoken by capplan's own code on one design (DESIGN.md, "Load engine
//! hot path"): each request is serialized once at start; a session owns its cookie jar
//! and either one HTTP/1.1 connection (plain or TLS, `http1_conn.rs`) or a share of one
//! HTTP/2 connection (`http2_conn.rs`, `--streams` sessions per connection). Sessions
//! follow same-origin redirects and keep cookies, as Locust's HttpUser does.
use std::cell::RefCell;
use std::fmt;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{
    HeaderMap, HeaderName, HeaderValue, CONNECTION, CONTENT_LENGTH, CONTENT_TYPE, COOKIE, HOST, TE,
    TRANSFER_ENCODING, UPGRADE, USER_AGENT,
};
use http::Method;
use url::Url;

use crate::error::InputError;
use crate::loadtest::connector::{Connector, OpenInfo};
use crate::loadtest::hpack;
use crate::loadtest::http1::RequestTemplate;
use crate::loadtest::http1_conn::{ExchangeError, Http1Connection};
use crate::loadtest::http2_conn::SharedConnection;
use crate::loadtest::plan::Plan;

/// Redirects followed for one request before it fails (as Locust's requests and k6 do).
pub const MAX_REDIRECTS: usize = 10;

/// A request built once, sent many times.
#[derive(Debug, Clone)]
pub struct PreparedRequest {
    pub method: Method,
    /// Absolute URL, for cookie matching and redirects.
    pub url: Url,
    /// Every header as given, Host included.
    pub headers: HeaderMap,
    pub body: Bytes,
    /// The request serialized for HTTP/1.1.
    pub http1: RequestTemplate,
    /// The request as an HTTP/2 stream opens it.
    pub http2: Http2Template,
    pub stats_id: usize,
    /// What to keep of the response: nothing, unless a check or capture reads it.
    pub keep: Keep,
}

/// What a request keeps of its response for the scenario's checks and captures.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Keep {
    /// The whole body.
    pub body: bool,
    /// These headers' values (names in lower case).
    pub headers: Arc<[String]>,
    /// Any final status is an answer to judge (an `expect` with statuses): a 4xx or
    /// 5xx is not a failure by itself.
    pub any_status: bool,
}

impl Keep {
    pub fn nothing(&self) -> bool {
        !self.body && self.headers.is_empty() && !self.any_status
    }
}

/// An HTTP/2 request's header block, HPACK-encoded once (`hpack.rs`): the
/// pseudo-header fields, then every header but Host (it is `:authority`) and the
/// connection-specific ones HTTP/2 forbids (RFC 9113 §8.2.2), names in lower case.
/// A Cookie header is kept apart, to be joined with the session's cookies.
#[derive(Debug, Clone)]
pub struct Http2Template {
    pub block: Vec<u8>,
    /// The request's own Cookie value, and that field encoded (empty when none).
    pub cookie: Option<String>,
    pub own_cookie: Vec<u8>,
}

impl PreparedRequest {
    /// Build a request for `url` (its path and query are the target, sent verbatim).
    pub(crate) fn build(
        method: Method,
        url: Url,
        target: &str,
        headers: HeaderMap,
        body: Bytes,
        stats_id: usize,
    ) -> Result<PreparedRequest, String> {
        PreparedRequest::build_for(method, url, target, headers, body, stats_id, true, true)
    }

    /// [`PreparedRequest::build`]; without `http2` the HTTP/2 header block is left
    /// empty (a request built per send for an HTTP/1.1 run); without `check` the
    /// target is taken as valid (its literal text was checked, its values escaped).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn build_for(
        method: Method,
        url: Url,
        target: &str,
        headers: HeaderMap,
        body: Bytes,
        stats_id: usize,
        http2: bool,
        check: bool,
    ) -> Result<PreparedRequest, String> {
        let authority = authority(&url);
        if check {
            check_target(&url, &authority, target)?;
        }
        if !http2 {
            return Ok(PreparedRequest {
                http1: RequestTemplate::new(&method, target, &headers, body.clone()),
                http2: Http2Template {
                    block: Vec::new(),
                    cookie: None,
                    own_cookie: Vec::new(),
                },
                method,
                url,
                headers,
                body,
                stats_id,
                keep: Keep::default(),
            });
        }
        let mut block = Vec::with_capacity(128);
        hpack::encode_pseudo(
            &mut block,
            method.as_str(),
            url.scheme(),
            &authority,
            target,
        );
        let mut cookie = None;
        for (name, value) in &headers {
            let connection_specific =
                [HOST, CONNECTION, TRANSFER_ENCODING, UPGRADE, CONTENT_LENGTH].contains(name)
                    || name == "keep-alive"
                    || name == "proxy-connection"
                    || (name == TE && value != "trailers");
            if name == COOKIE {
                let value = String::from_utf8_lossy(value.as_bytes());
                cookie = Some(match cookie {
                    Some(before) => format!("{before}; {value}"),
                    None => value.into_owned(),
                });
            } else if !connection_specific {
                // HeaderName is lower case already, as HTTP/2 requires.
                hpack::encode_field(&mut block, name.as_str().as_bytes(), value.as_bytes());
            }
        }
        if !body.is_empty() || matches!(method, Method::POST | Method::PUT | Method::PATCH) {
            hpack::encode_field(
                &mut block,
                b"content-length",
                body.len().to_string().as_bytes(),
            );
        }
        let mut own_cookie = Vec::new();
        if let Some(own) = &cookie {
            hpack::encode_field(&mut own_cookie, b"cookie", own.as_bytes());
        }
        Ok(PreparedRequest {
            http1: RequestTemplate::new(&method, target, &headers, body.clone()),
            http2: Http2Template {
                block,
                cookie,
                own_cookie,
            },
            method,
            url,
            headers,
            body,
            stats_id,
            keep: Keep::default(),
        })
    }

    /// The request a redirect to `location` asks for, or `None` when it leaves the
    /// target's origin (the session's connection cannot follow it there).
    fn redirected(&self, status: u16, location: &str) -> Option<PreparedRequest> {
        let next = self.url.join(location).ok()?;
        if next.origin() != self.url.origin() {
            return None;
        }
        // 303, and 301/302 after a POST, are fetched with GET and no body, as browsers
        // and Python's requests do (RFC 9110 §15.4); 307 and 308 repeat the request.
        let to_get = status == 303 || (matches!(status, 301 | 302) && self.method == Method::POST);
        let (method, body, mut headers) = if to_get {
            let mut headers = self.headers.clone();
            headers.remove(CONTENT_TYPE);
            (Method::GET, Bytes::new(), headers)
        } else {
            (self.method.clone(), self.body.clone(), self.headers.clone())
        };
        headers.insert(HOST, HeaderValue::from_str(&authority(&next)).ok()?);
        let target = match next.query() {
            Some(query) => format!("{}?{query}", next.path()),
            None => next.path().to_string(),
        };
        let mut next =
            PreparedRequest::build(method, next, &target, headers, body, self.stats_id).ok()?;
        next.keep = self.keep.clone();
        Some(next)
    }
}

/// Whether `target` is a valid request target on `url`'s origin.
fn check_target(url: &Url, authority: &str, target: &str) -> Result<(), String> {
    format!("{}://{authority}{target}", url.scheme())
        .parse::<http::Uri>()
        .map(drop)
        .map_err(|e| format!("'{target}' is not a valid request target: {e}"))
}

/// `host[:port]` as the URL gives it (the port only when it is not the scheme's default).
fn authority(url: &Url) -> String {
    let host = url.host_str().unwrap_or_default();
    match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_string(),
    }
}

/// Why a request failed, grouped the way the failures report groups them.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Failure {
    /// The TCP connection could not be made or broke.
    Connect(String),
    /// The TLS handshake failed for another reason than the certificate.
    Tls(String),
    /// The server's certificate was not accepted.
    Certificate(String),
    /// The server broke the HTTP/2 protocol, or chose another one.
    Protocol(String),
    /// The HTTP/2 connection was shut down by a GOAWAY.
    GoAway(String),
    /// The HTTP/2 stream was reset (RST_STREAM).
    Reset(String),
    /// No complete response within `--timeout`.
    Timeout,
    /// Still in flight when the run ended and its grace period ran out.
    CutOff,
    /// Open model: due before the end, never sent (every connection was busy).
    Unsent,
    /// The server answered with a 4xx or 5xx status.
    Status(u16),
    /// The response body could not be read.
    Body(String),
    /// Too many redirects.
    Redirect(String),
    /// A scenario's `expect` did not hold.
    Check(String),
    /// A scenario's `capture` found nothing.
    Capture(String),
    /// A dynamic value could not be rendered (a capture not made yet, an invalid
    /// header value): the request was not sent.
    Template(String),
    /// A `unique` feeder had no row left: the user stopped.
    FeederEmpty(String),
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Connect(why) => write!(f, "ConnectionError: {why}"),
            Failure::Tls(why) => write!(f, "TLSError: {why}"),
            Failure::Certificate(why) => write!(f, "CertificateError: {why}"),
            Failure::Protocol(why) => write!(f, "ProtocolError: {why}"),
            Failure::GoAway(why) => write!(f, "GoAway: {why}"),
            Failure::Reset(why) => write!(f, "StreamReset: {why}"),
            Failure::Timeout => write!(f, "Timeout: no complete response in time"),
            Failure::CutOff => write!(
                f,
                "Timeout: still no response when the run ended (counted with its latency so far)"
            ),
            Failure::Unsent => write!(
                f,
                "Unsent: due before the end but never sent, every connection busy \
                 (counted with its latency from the intended time)"
            ),
            Failure::Status(code) => write!(f, "HTTPError: {code} {}", reason(*code)),
            Failure::Body(why) => write!(f, "BodyError: {why}"),
            Failure::Redirect(why) => write!(f, "RedirectError: {why}"),
            Failure::Check(why) => write!(f, "CheckFailed: {why}"),
            Failure::Capture(why) => write!(f, "CaptureFailed: {why}"),
            Failure::Template(why) => write!(f, "TemplateError: {why} (not sent)"),
            Failure::FeederEmpty(why) => write!(f, "FeederExhausted: {why}"),
        }
    }
}

impl Failure {
    /// Every kind [`Failure::kind`] returns (schema/loadtest.schema.json's `errors[].kind`).
    pub const KINDS: [&'static str; 15] = [
        "ConnectionError",
        "TLSError",
        "CertificateError",
        "ProtocolError",
        "GoAway",
        "StreamReset",
        "Timeout",
        "Unsent",
        "HTTPError",
        "BodyError",
        "RedirectError",
        "CheckFailed",
        "CaptureFailed",
        "TemplateError",
        "FeederExhausted",
    ];

    /// The kind as one of [`Failure::KINDS`], for a kind read back from a file.
    pub fn known_kind(kind: &str) -> Option<&'static str> {
        Failure::KINDS.iter().copied().find(|k| *k == kind)
    }

    /// The kind, as the reports group failures and the JSON's `errors[].kind` names it.
    pub fn kind(&self) -> &'static str {
        match self {
            Failure::Connect(_) => "ConnectionError",
            Failure::Tls(_) => "TLSError",
            Failure::Certificate(_) => "CertificateError",
            Failure::Protocol(_) => "ProtocolError",
            Failure::GoAway(_) => "GoAway",
            Failure::Reset(_) => "StreamReset",
            Failure::Timeout | Failure::CutOff => "Timeout",
            Failure::Unsent => "Unsent",
            Failure::Status(_) => "HTTPError",
            Failure::Body(_) => "BodyError",
            Failure::Redirect(_) => "RedirectError",
            Failure::Check(_) => "CheckFailed",
            Failure::Capture(_) => "CaptureFailed",
            Failure::Template(_) => "TemplateError",
            Failure::FeederEmpty(_) => "FeederExhausted",
        }
    }
}

fn reason(code: u16) -> &'static str {
    http::StatusCode::from_u16(code)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("")
}

/// A successful exchange: status below 400 (or any, when the request keeps it to
/// judge) and the body fully read.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub body_bytes: u64,
    /// The body and headers the request asked to keep (empty otherwise).
    pub body: Vec<u8>,
    pub headers: Vec<(String, String)>,
}

/// A response as either protocol delivers it.
pub struct Response {
    pub status: u16,
    pub body_bytes: u64,
    /// `Set-Cookie` values, in order.
    pub set_cookies: Vec<String>,
    /// `Location` of a redirect.
    pub location: Option<String>,
    /// The body, when the request keeps it (else empty).
    pub body: Vec<u8>,
    /// The headers the request keeps (names in lower case).
    pub headers: Vec<(String, String)>,
}

/// Builds a plan's requests: the target's base URL and what every request carries.
#[derive(Debug, Clone)]
pub struct RequestBuilder {
    base: Url,
    /// `host[:port]`, the Host header.
    host: HeaderValue,
    /// The base URL's path, without a trailing slash, put before every path.
    prefix: String,
    /// `--new-connection-per-request`: every request says `Connection: close`.
    close: bool,
    /// Requests go over HTTP/2 (else their HTTP/2 form is not built).
    pub http2: bool,
}

impl RequestBuilder {
    pub fn new(plan: &Plan) -> Result<RequestBuilder, InputError> {
        let base = Url::parse(&plan.host).map_err(|e| {
            InputError::flag("host", format!("'{}' is not a valid URL: {e}", plan.host))
        })?;
        let host = HeaderValue::from_str(&authority(&base))
            .map_err(|e| InputError::flag("host", format!("'{}': {e}", plan.host)))?;
        let prefix = base.path().trim_end_matches('/').to_string();
        Ok(RequestBuilder {
            base,
            host,
            prefix,
            close: plan.connection.new_connection_per_request,
            http2: true,
        })
    }

    /// One request: `path` (with its query) below the base URL, the headers in order
    /// (a later one replaces an earlier one of the same name), the body. `checked`:
    /// the path is known to be a valid target (a template's rendering), else it is checked.
    #[allow(clippy::too_many_arguments)]
    pub fn build<'h>(
        &self,
        method: &str,
        path: &str,
        headers: impl IntoIterator<Item = (&'h str, &'h str)>,
        body: Bytes,
        content_type: Option<&'static str>,
        stats_id: usize,
        checked: bool,
    ) -> Result<PreparedRequest, String> {
        // Sent verbatim on HTTP/1.1 (no dot-segment or `//` rewriting), once
        // checked to be a valid origin-form target (by `PreparedRequest::build_for`).
        let path: std::borrow::Cow<str> = match self.prefix.is_empty() {
            true => path.into(),
            false => format!("{}{path}", self.prefix).into(),
        };
        if !path.starts_with('/') {
            return Err(format!("path '{path}' must start with /"));
        }
        let mut url = self.base.clone();
        let (url_path, query) = match path.split_once('?') {
            Some((url_path, query)) => (url_path, Some(query)),
            None => (path.as_ref(), None),
        };
        url.set_path(url_path);
        url.set_query(query);
        let method = Method::from_bytes(method.as_bytes())
            .map_err(|_| format!("'{method}' is not an HTTP method"))?;
        let path = path.as_ref();
        let mut map = HeaderMap::new();
        map.insert(HOST, self.host.clone());
        for (name, value) in headers {
            let (name, value) = header(name, value)?;
            map.insert(name, value);
        }
        if let Some(content_type) = content_type {
            map.entry(CONTENT_TYPE)
                .or_insert(HeaderValue::from_static(content_type));
        }
        // Lets the target's logs tell load-test traffic apart, unless the scenario names itself.
        map.entry(USER_AGENT)
            .or_insert(HeaderValue::from_static(concat!(
                "capplan/",
                env!("CARGO_PKG_VERSION")
            )));
        if self.close {
            // The server closes after answering, as it does for ab without -k.
            map.insert(CONNECTION, HeaderValue::from_static("close"));
        }
        PreparedRequest::build_for(method, url, path, map, body, stats_id, self.http2, !checked)
            .map_err(|e| format!("path '{path}' is not valid: {e}"))
    }
}

/// Build every endpoint of the plan into a ready-to-send request (a request with
/// dynamic values is built here with them left out, which checks the rest of it; the
/// flow builds it anew for each send).
pub fn prepare(plan: &Plan) -> Result<Vec<PreparedRequest>, InputError> {
    let builder = RequestBuilder::new(plan)?;
    plan.endpoints
        .iter()
        .map(|endpoint| {
            let def = &endpoint.def;
            let bad = |what: String| InputError::flag(format!("request '{}'", def.name), what);
            let skeleton = |text: &str| -> String {
                match text.contains("{{") {
                    true => crate::loadtest::template::Template::parse(
                        text,
                        crate::loadtest::template::Escape::None,
                        &plan.names,
                    )
                    .map(|t| t.skeleton())
                    .unwrap_or_else(|_| text.to_string()),
                    false => text.to_string(),
                }
            };
            let headers: Vec<(String, String)> = plan
                .default_headers
                .iter()
                .chain(&def.headers)
                .map(|(name, value)| (name.clone(), skeleton(value)))
                .collect();
            let mut request = builder
                .build(
                    &def.method,
                    &skeleton(&def.path),
                    headers.iter().map(|(n, v)| (n.as_str(), v.as_str())),
                    Bytes::from(def.body.bytes.clone()),
                    def.body.content_type,
                    endpoint.stats_id,
                    false,
                )
                .map_err(bad)?;
            request.keep = keep_for(def);
            Ok(request)
        })
        .collect()
}

/// What a request keeps of its responses for its checks and captures.
pub fn keep_for(def: &crate::loadtest::scenario::RequestDef) -> Keep {
    use crate::loadtest::checks::CaptureFrom;
    let mut headers: Vec<String> = Vec::new();
    let mut body = def.expect.as_ref().is_some_and(|e| e.reads_body());
    for capture in &def.captures {
        match &capture.from {
            CaptureFrom::Header(name) => {
                if !headers.contains(name) {
                    headers.push(name.clone());
                }
            }
            CaptureFrom::Json(_) | CaptureFrom::Regex(_) => body = true,
        }
    }
    Keep {
        body,
        headers: headers.into(),
        any_status: def.expect.as_ref().is_some_and(|e| e.status.is_some()),
    }
}

/// A header as it goes on the wire, or why it cannot.
pub fn header(name: &str, value: &str) -> Result<(HeaderName, HeaderValue), String> {
    let name = HeaderName::from_bytes(name.as_bytes())
        .map_err(|_| format!("'{name}' is not a valid header name"))?;
    let value = HeaderValue::from_str(value)
        .map_err(|_| format!("header {name}: '{value}' is not a valid value"))?;
    Ok((name, value))
}

/// The HTTP version a run speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpVersion {
    Http1,
    Http2,
}

impl HttpVersion {
    pub fn name(self) -> &'static str {
        match self {
            HttpVersion::Http1 => "HTTP/1.1",
            HttpVersion::Http2 => "HTTP/2",
        }
    }
}

/// Connections opened on a generator thread, as they open; the engine moves them
/// into the thread's interval at each tick, so one opened by a request the end of the
/// run cuts off still counts.
pub type OpenLog = Rc<RefCell<Vec<OpenInfo>>>;

/// Hands out the sessions of one generator thread: HTTP/2 sessions are grouped
/// `streams` to a connection, in the order they are made.
pub struct SessionFactory {
    connector: Arc<Connector>,
    version: HttpVersion,
    streams: u32,
    per_request: bool,
    opened: OpenLog,
    group: Option<(Rc<SharedConnection>, u32)>,
}

impl SessionFactory {
    pub fn new(
        connector: Arc<Connector>,
        version: HttpVersion,
        streams: u32,
        per_request: bool,
        opened: OpenLog,
    ) -> SessionFactory {
        SessionFactory {
            connector,
            version,
            streams: streams.max(1),
            per_request,
            opened,
            group: None,
        }
    }

    pub fn session(&mut self) -> Session {
        let connection = match self.version {
            HttpVersion::Http1 => SessionConnection::Http1 {
                connector: Arc::clone(&self.connector),
                live: None,
            },
            HttpVersion::Http2 => {
                let shared = match &mut self.group {
                    Some((shared, members)) if *members < self.streams => {
                        *members += 1;
                        Rc::clone(shared)
                    }
                    _ => {
                        let shared = Rc::new(SharedConnection::new(
                            Arc::clone(&self.connector),
                            self.streams,
                        ));
                        self.group = Some((Rc::clone(&shared), 1));
                        shared
                    }
                };
                SessionConnection::Http2 { shared }
            }
        };
        Session {
            connection,
            per_request: self.per_request,
            cookies: None,
            opened: Rc::clone(&self.opened),
        }
    }
}

/// One user's (or one open-model connection's) session: its connection and its cookies.
pub struct Session {
    connection: SessionConnection,
    /// `--new-connection-per-request`.
    per_request: bool,
    cookies: Option<Box<cookie_store::CookieStore>>,
    opened: OpenLog,
}

enum SessionConnection {
    /// At most one kept-alive connection.
    Http1 {
        connector: Arc<Connector>,
        live: Option<Http1Connection>,
    },
    /// A share of a connection.
    Http2 { shared: Rc<SharedConnection> },
}

impl Session {
    /// Send one request (following redirects) and read the whole response, within `timeout`.
    pub async fn send(
        &mut self,
        request: &PreparedRequest,
        timeout: Duration,
    ) -> Result<Reply, Failure> {
        // An HTTP/1.1 connection mid-exchange goes with the dropped future, an HTTP/2
        // stream is reset: the next request starts afresh.
        let outcome = tokio::time::timeout(timeout, self.follow(request))
            .await
            .unwrap_or(Err(Failure::Timeout));
        if self.per_request {
            if let SessionConnection::Http2 { shared } = &self.connection {
                shared.close();
            }
        }
        outcome
    }

    async fn follow(&mut self, first: &PreparedRequest) -> Result<Reply, Failure> {
        let mut redirected: Option<PreparedRequest> = None;
        for _ in 0..=MAX_REDIRECTS {
            let request = redirected.as_ref().unwrap_or(first);
            let cookie = self
                .cookies
                .as_deref()
                .and_then(|jar| cookie_header(jar, &request.url));
            let response = match &mut self.connection {
                SessionConnection::Http1 { connector, live } => {
                    send_http1(connector, live, request, cookie.as_deref(), &self.opened).await?
                }
                SessionConnection::Http2 { shared } => {
                    shared
                        .send(request, cookie.as_deref(), &self.opened)
                        .await?
                }
            };
            if !response.set_cookies.is_empty() {
                let jar = self.cookies.get_or_insert_with(Default::default);
                store_cookies(jar, &request.url, response.set_cookies);
            }
            let next = response
                .location
                .as_deref()
                .and_then(|location| request.redirected(response.status, location));
            match next {
                Some(next) => redirected = Some(next),
                None if response.status >= 400 && !request.keep.any_status => {
                    return Err(Failure::Status(response.status))
                }
                None => {
                    return Ok(Reply {
                        status: response.status,
                        body_bytes: response.body_bytes,
                        body: response.body,
                        headers: response.headers,
                    })
                }
            }
        }
        Err(Failure::Redirect(format!(
            "more than {MAX_REDIRECTS} redirects"
        )))
    }
}

/// One request over the session's HTTP/1.1 connection, opening one when needed.
async fn send_http1(
    connector: &Connector,
    live: &mut Option<Http1Connection>,
    request: &PreparedRequest,
    cookie: Option<&str>,
    opened: &OpenLog,
) -> Result<Response, Failure> {
    let template = &request.http1;
    let with_cookies = cookie.map(|value| template.bytes_with_cookies(value));
    let bytes = with_cookies.as_ref().unwrap_or(template.bytes());
    loop {
        // A kept-alive connection the server has closed (or written to) while idle is
        // replaced before sending, as urllib3 does for Locust.
        let idle = live
            .take()
            .and_then(|mut connection| connection.idle_and_open().then_some(connection));
        let reused = idle.is_some();
        let mut connection = match idle {
            Some(connection) => connection,
            None => {
                let open = connector.open().await?;
                opened.borrow_mut().push(open.info);
                Http1Connection::new(open.stream)
            }
        };
        match connection
            .exchange(bytes, template.is_head, &request.keep)
            .await
        {
            Ok(done) => {
                if done.keep_alive && !template.closes {
                    *live = Some(connection);
                }
                return Ok(done.response);
            }
            // The server closed a kept-alive connection as the request went out (its
            // idle timeout raced ours) and answered nothing: an idempotent request may
            // be sent once more on a new connection (RFC 9112 §9.3.1). Once: the second
            // attempt is on a new connection, never `reused`.
            Err(ExchangeError::ClosedEarly(_)) if reused && template.idempotent => {}
            Err(ExchangeError::ClosedEarly(why)) => return Err(Failure::Connect(why)),
            Err(ExchangeError::Failed(failure)) => return Err(failure),
        }
    }
}

/// The `Cookie` value the jar holds for this URL, if any.
fn cookie_header(jar: &cookie_store::CookieStore, url: &Url) -> Option<String> {
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

fn store_cookies(jar: &mut cookie_store::CookieStore, url: &Url, set_cookies: Vec<String>) {
    // The response's own strings, moved into the jar rather than copied.
    let parsed = set_cookies
        .into_iter()
        .filter_map(|s| cookie::Cookie::parse(s).ok());
    jar.store_response_cookies(parsed, url);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(method: Method, url: &str, body: &str) -> PreparedRequest {
        let url = Url::parse(url).unwrap();
        let mut headers = HeaderMap::new();
        headers.insert(HOST, HeaderValue::from_str(&authority(&url)).unwrap());
        headers.insert(CONNECTION, HeaderValue::from_static("close"));
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        headers.insert("x-trace", HeaderValue::from_static("1"));
        let target = url.path().to_string();
        PreparedRequest::build(
            method,
            url,
            &target,
            headers,
            Bytes::from(body.to_string()),
            3,
        )
        .unwrap()
    }

    #[test]
    fn http2_requests_carry_authority_and_no_connection_headers() {
        let r = request(Method::POST, "https://example.com:8443/api", "{}");
        // The header block as it goes on the wire, decoded.
        let mut fields = Vec::new();
        hpack::Decoder::new(4096)
            .decode(
                &r.http2.block,
                |_| true,
                |n, v| {
                    fields.push((
                        String::from_utf8_lossy(n).into_owned(),
                        String::from_utf8_lossy(v).into_owned(),
                    ))
                },
            )
            .unwrap();
        let field = |name: &str| {
            fields
                .iter()
                .filter(|(n, _)| n == name)
                .map(|(_, v)| v.as_str())
                .collect::<Vec<_>>()
        };
        assert_eq!(field(":method"), ["POST"]);
        assert_eq!(field(":scheme"), ["https"]);
        assert_eq!(field(":authority"), ["example.com:8443"]);
        assert_eq!(field(":path"), ["/api"]);
        // Pseudo-header fields first (RFC 9113 §8.3).
        assert!(
            fields[..4].iter().all(|(n, _)| n.starts_with(':')),
            "{fields:?}"
        );
        assert!(field("host").is_empty() && field("connection").is_empty());
        assert_eq!(field("x-trace"), ["1"]);
        assert_eq!(field("content-type"), ["application/json"]);
        assert_eq!(field("content-length"), ["2"]);
        assert!(r.http2.cookie.is_none() && r.http2.own_cookie.is_empty());
        // HTTP/1.1 keeps Host, once, and the request's own Connection: close.
        let head = String::from_utf8_lossy(r.http1.bytes()).to_lowercase();
        assert_eq!(
            head.matches("host: example.com:8443\r\n").count(),
            1,
            "{head}"
        );
        assert!(r.http1.closes);
    }

    #[test]
    fn redirects_are_followed_within_the_origin_only() {
        let post = request(Method::POST, "http://127.0.0.1:8080/login", "{\"a\":1}");
        // 302 after a POST: GET, no body, no Content-Type; relative locations resolve.
        let next = post.redirected(302, "home?tab=1").unwrap();
        assert_eq!(next.method, Method::GET);
        assert_eq!(next.url.as_str(), "http://127.0.0.1:8080/home?tab=1");
        assert!(next.body.is_empty() && !next.headers.contains_key(CONTENT_TYPE));
        assert_eq!(next.stats_id, 3);
        let head = String::from_utf8_lossy(next.http1.bytes()).into_owned();
        assert!(head.starts_with("GET /home?tab=1 HTTP/1.1\r\n"), "{head}");
        // 307 and 308 repeat the method and body.
        let again = post.redirected(307, "/login2").unwrap();
        assert_eq!((again.method.clone(), again.body.len()), (Method::POST, 7));
        // Another port, host or scheme is another origin.
        assert!(post.redirected(302, "http://127.0.0.1:9090/").is_none());
        assert!(post.redirected(302, "https://127.0.0.1:8080/").is_none());
        assert!(post.redirected(301, "http://example.com/").is_none());
        // Same origin spelled absolutely, with the default port left out.
        let get = request(Method::GET, "https://example.com/a", "");
        let next = get.redirected(301, "https://example.com:443/b").unwrap();
        assert_eq!(next.headers[HOST], "example.com");
    }

    #[test]
    fn every_failure_reads_as_its_kind() {
        for failure in [
            Failure::Connect("refused".into()),
            Failure::Tls("alert".into()),
            Failure::Certificate("expired".into()),
            Failure::Protocol("x".into()),
            Failure::GoAway("x".into()),
            Failure::Reset("x".into()),
            Failure::Timeout,
            Failure::CutOff,
            Failure::Unsent,
            Failure::Status(500),
            Failure::Body("x".into()),
            Failure::Redirect("x".into()),
            Failure::Check("x".into()),
            Failure::Capture("x".into()),
            Failure::Template("x".into()),
            Failure::FeederEmpty("x".into()),
        ] {
            let shown = failure.to_string();
            assert!(
                shown.starts_with(&format!("{}: ", failure.kind())),
                "{shown}"
            );
        }
    }

    #[test]
    fn every_kind_is_listed_and_prefixes_its_message() {
        let every = [
            Failure::Connect("refused".into()),
            Failure::Tls("alert".into()),
            Failure::Certificate("expired".into()),
            Failure::Protocol("PROTOCOL_ERROR".into()),
            Failure::GoAway("NO_ERROR".into()),
            Failure::Reset("CANCEL".into()),
            Failure::Timeout,
            Failure::CutOff,
            Failure::Unsent,
            Failure::Status(500),
            Failure::Body("short".into()),
            Failure::Redirect("loop".into()),
            Failure::Check("status 200".into()),
            Failure::Capture("token".into()),
            Failure::Template("order".into()),
            Failure::FeederEmpty("accounts".into()),
        ];
        let mut seen: Vec<&str> = every.iter().map(Failure::kind).collect();
        for failure in &every {
            assert_eq!(Failure::known_kind(failure.kind()), Some(failure.kind()));
            assert!(failure.to_string().starts_with(failure.kind()), "{failure}");
        }
        seen.sort_unstable();
        seen.dedup();
        let mut listed = Failure::KINDS.to_vec();
        listed.sort_unstable();
        assert_eq!(seen, listed);
        assert_eq!(Failure::known_kind("Nonsense"), None);
    }

    #[test]
    fn failure_kinds_read_like_the_report_says() {
        let shown: Vec<String> = [
            Failure::Tls("alert".into()),
            Failure::Certificate("expired".into()),
            Failure::Protocol("PROTOCOL_ERROR".into()),
            Failure::GoAway("NO_ERROR".into()),
            Failure::Reset("CANCEL".into()),
            Failure::Redirect("more than 10 redirects".into()),
            Failure::Status(404),
        ]
        .iter()
        .map(Failure::to_string)
        .collect();
        assert_eq!(
            shown,
            [
                "TLSError: alert",
                "CertificateError: expired",
                "ProtocolError: PROTOCOL_ERROR",
                "GoAway: NO_ERROR",
                "StreamReset: CANCEL",
                "RedirectError: more than 10 redirects",
                "HTTPError: 404 Not Found"
            ]
        );
    }
}
