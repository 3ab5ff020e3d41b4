//! HTTP/2 with the `h2` crate: one connection shared by up to `--streams` sessions,
//! each exchange one stream (like `h2load -m`). The connection is driven by its own
//! task on the generator thread; when it closes (GOAWAY, an error, the server's idle
//! timeout) the next exchange opens a new one.
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::Arc;

use bytes::Bytes;
use h2::client::SendRequest;
use h2::Reason;
use http::header::{COOKIE, LOCATION, SET_COOKIE};
use http::HeaderValue;

use crate::loadtest::client::{Failure, OpenLog, PreparedRequest, Response};
use crate::loadtest::connector::Connector;

/// Receive windows: large, as h2load's defaults are, so a big body streams at the
/// speed of the link rather than of window updates. The data is read as it arrives,
/// so this bounds nothing that is held.
const STREAM_WINDOW: u32 = (1 << 30) - 1;
const CONNECTION_WINDOW: u32 = (1 << 30) - 1;

/// The live connection of a slot, as the sessions use it.
#[derive(Clone)]
struct Live {
    generation: u64,
    sender: SendRequest<Bytes>,
    ended: Rc<Ended>,
}

/// How a connection ended, as its task saw it.
#[derive(Default)]
struct Ended {
    closed: Cell<bool>,
    /// The server's GOAWAY error, when it sent one with an error code: the streams it
    /// cut by closing see only a broken pipe.
    go_away: RefCell<Option<String>>,
}

/// One HTTP/2 connection shared by the sessions of a group.
pub struct SharedConnection {
    connector: Arc<Connector>,
    live: RefCell<Option<Live>>,
    /// Only one session opens a connection at a time; the others wait for it.
    opening: tokio::sync::Mutex<()>,
    generations: Cell<u64>,
    /// More than one session shares the connection: wait for the server's SETTINGS
    /// (its stream limit) before the first streams go out.
    shared: bool,
}

/// Why an HTTP/2 exchange failed, and whether it may go again on a new connection.
pub enum Http2Error {
    /// The server did not process the request (it was never sent, refused with
    /// REFUSED_STREAM, or above a GOAWAY's last stream id): safe to send again, even a
    /// POST (RFC 9113 §8.7).
    Unprocessed(Failure),
    Failed(Failure),
}

impl SharedConnection {
    pub fn new(connector: Arc<Connector>, sessions: u32) -> SharedConnection {
        SharedConnection {
            connector,
            live: RefCell::new(None),
            opening: tokio::sync::Mutex::new(()),
            generations: Cell::new(0),
            shared: sessions > 1,
        }
    }

    /// The current connection's sender, opening a connection if there is none.
    async fn sender(&self, opened: &OpenLog) -> Result<Live, Failure> {
        if let Some(current) = self.current() {
            return Ok(current);
        }
        let _opening = self.opening.lock().await;
        // Another session may have opened one while this one waited.
        if let Some(current) = self.current() {
            return Ok(current);
        }
        let open = self.connector.open().await?;
        if open.info.negotiated.alpn.is_some_and(|alpn| alpn != "h2") {
            return Err(Failure::Protocol(format!(
                "the server chose {} by ALPN on a connection of an HTTP/2 run",
                open.info.negotiated.alpn.unwrap_or_default()
            )));
        }
        opened.borrow_mut().push(open.info);
        let (sender, mut connection) = h2::client::Builder::new()
            .initial_window_size(STREAM_WINDOW)
            .initial_connection_window_size(CONNECTION_WINDOW)
            .handshake::<_, Bytes>(open.stream)
            .await
            .map_err(classify)?;
        let ping = if self.shared {
            connection.ping_pong()
        } else {
            None
        };
        let ended = Rc::new(Ended::default());
        let ended_by_task = Rc::clone(&ended);
        // Dropped with the generator thread's task set when the run ends.
        tokio::task::spawn_local(async move {
            if let Err(e) = connection.await {
                if e.is_go_away() && e.is_remote() && e.reason() != Some(Reason::NO_ERROR) {
                    *ended_by_task.go_away.borrow_mut() = e.reason().map(|r| format!("{r:?}"));
                }
            }
            ended_by_task.closed.set(true);
        });
        if let Some(mut ping) = ping {
            // Until the server's SETTINGS arrive its stream limit is unknown, and h2
            // would open every session's stream at once; a server sends its SETTINGS
            // first, so they are in by the time it answers a PING.
            ping.ping(h2::Ping::opaque()).await.map_err(classify)?;
        }
        let generation = self.generations.get() + 1;
        self.generations.set(generation);
        let live = Live {
            generation,
            sender,
            ended,
        };
        *self.live.borrow_mut() = Some(live.clone());
        Ok(live)
    }

    fn current(&self) -> Option<Live> {
        let live = self.live.borrow();
        live.as_ref().filter(|l| !l.ended.closed.get()).cloned()
    }

    /// Stop using connection `generation` (a newer one is kept).
    fn forget(&self, generation: u64) {
        let mut live = self.live.borrow_mut();
        if live.as_ref().is_some_and(|l| l.generation == generation) {
            *live = None;
        }
    }

    /// Close the current connection once its streams are done: `--new-connection-per-request`.
    pub fn close(&self) {
        *self.live.borrow_mut() = None;
    }

    /// One request on the shared connection; an unprocessed one goes once more on a new
    /// connection.
    pub async fn send(
        &self,
        request: &PreparedRequest,
        cookie: Option<&str>,
        opened: &OpenLog,
    ) -> Result<Response, Failure> {
        let mut retried = false;
        loop {
            let current = self.sender(opened).await?;
            match exchange(current.sender, request, cookie).await {
                Ok(response) => return Ok(response),
                Err(Http2Error::Unprocessed(failure)) => {
                    // A refused stream leaves the connection usable; anything else
                    // unprocessed (a GOAWAY, a connection gone) does not.
                    if failure != Failure::Reset("REFUSED_STREAM".to_string()) {
                        self.forget(current.generation);
                    }
                    if retried {
                        return Err(failure);
                    }
                    retried = true;
                }
                Err(Http2Error::Failed(failure)) => {
                    // A connection-level failure ends the connection for every session.
                    if matches!(
                        failure,
                        Failure::Connect(_) | Failure::Protocol(_) | Failure::GoAway(_)
                    ) {
                        self.forget(current.generation);
                    }
                    // Streams cut when the server closed after a GOAWAY with an error
                    // see a broken pipe: the GOAWAY is the cause.
                    let go_away = current.ended.go_away.borrow().clone();
                    return Err(match (failure, go_away) {
                        (Failure::Connect(_) | Failure::Body(_), Some(reason)) => {
                            Failure::GoAway(reason)
                        }
                        (failure, _) => failure,
                    });
                }
            }
        }
    }
}

/// Send one request as a stream and read its whole response.
async fn exchange(
    sender: SendRequest<Bytes>,
    prepared: &PreparedRequest,
    cookie: Option<&str>,
) -> Result<Response, Http2Error> {
    let unprocessed = |e: h2::Error| Http2Error::Unprocessed(classify(e));
    // Waits while the server's stream limit is reached; fails if the connection is gone.
    let mut sender = sender.ready().await.map_err(unprocessed)?;
    let mut request = http::Request::new(());
    *request.method_mut() = prepared.method.clone();
    *request.uri_mut() = prepared.http2.uri.clone();
    *request.headers_mut() = prepared.http2.headers.clone();
    if let Some(jar) = cookie {
        let value = match prepared.http2.headers.get(COOKIE) {
            Some(own) => format!("{}; {jar}", String::from_utf8_lossy(own.as_bytes())),
            None => jar.to_string(),
        };
        if let Ok(value) = HeaderValue::from_str(&value) {
            request.headers_mut().insert(COOKIE, value);
        }
    }
    let body = &prepared.body;
    let (response, mut send) = sender
        .send_request(request, body.is_empty())
        .map_err(unprocessed)?;
    if !body.is_empty() {
        // Sent as the server's flow-control windows allow.
        send.send_data(body.clone(), true)
            .map_err(|e| stream_error(e, false))?;
    }
    let response = response.await.map_err(|e| stream_error(e, false))?;
    let status = response.status().as_u16();
    let headers = response.headers();
    let set_cookies = headers
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok().map(str::to_string))
        .collect();
    let location = if crate::loadtest::http1::is_redirect(status) {
        headers
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    } else {
        None
    };
    let mut body = response.into_body();
    let mut body_bytes = 0u64;
    while let Some(chunk) = body.data().await {
        let chunk = chunk.map_err(|e| stream_error(e, true))?;
        body_bytes += chunk.len() as u64;
        // Reopen the window as the data is consumed.
        let _ = body.flow_control().release_capacity(chunk.len());
    }
    Ok(Response {
        status,
        body_bytes,
        set_cookies,
        location,
    })
}

/// An error on a stream that was sent.
fn stream_error(e: h2::Error, in_body: bool) -> Http2Error {
    let refused = e.reason() == Some(Reason::REFUSED_STREAM);
    // h2 gives a stream the GOAWAY's error only when its id is above the last one
    // the server says it processed.
    let above_goaway = e.is_go_away() && e.is_remote();
    if !in_body && (refused || above_goaway) {
        return Http2Error::Unprocessed(classify(e));
    }
    match classify(e) {
        Failure::Connect(why) if in_body => Http2Error::Failed(Failure::Body(why)),
        failure => Http2Error::Failed(failure),
    }
}

/// An `h2` error as a failure kind.
fn classify(e: h2::Error) -> Failure {
    let reason = e.reason().map(|r| format!("{r:?}")).unwrap_or_default();
    // A GOAWAY or reset h2 itself sent is its verdict on what the server sent.
    if e.is_go_away() && e.is_remote() {
        Failure::GoAway(reason)
    } else if e.is_reset() && e.is_remote() {
        Failure::Reset(reason)
    } else if let Some(io) = e.get_io() {
        Failure::Connect(io.kind().to_string())
    } else if !reason.is_empty() {
        Failure::Protocol(reason)
    } else {
        Failure::Protocol(e.to_string())
    }
}
