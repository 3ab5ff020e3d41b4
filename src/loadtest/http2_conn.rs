//! HTTP/2 (RFC 9113) spoken by capplan's own client: one connection shared by up to
//! `--streams` sessions, each exchange one stream (like `h2load -m`).
//!
//! Built like the HTTP/1.1 path: a request's header block is encoded once at start
//! (`client.rs`, `hpack.rs`), written as one HEADERS frame; the response's header block
//! is decoded only as far as the run needs it (`:status`, `content-length`,
//! `location`, `set-cookie`) while the server's HPACK table is kept exact. There is no task of the connection's
//! own: the sessions waiting on it drive it. Whoever polls writes what is queued and
//! reads what came, hands each frame to its stream and wakes that stream's session;
//! the last one to find the socket empty is registered to be woken when more comes,
//! and hands that role on when its own stream ends first. With one stream a
//! connection, a request costs one write and one read in its own session's task.
//!
//! Handled: SETTINGS (the server's stream limit, windows, frame size; acknowledged),
//! flow control both ways (the body of a request goes out as the server's windows
//! allow; ours are large and reopened by WINDOW_UPDATE as data is read), PING,
//! GOAWAY (streams above its last id are unprocessed and go again on a new connection;
//! those below it finish; an error code is the failure of the ones the close cuts),
//! RST_STREAM (REFUSED_STREAM goes again on the same connection; a stream given up
//! is reset with CANCEL), CONTINUATION, padding, interim responses, trailers, a body
//! that does not add up to its content-length (a stream error), and the server's
//! protocol errors (a GOAWAY of ours, `ProtocolError`).
use std::cell::RefCell;
use std::future::poll_fn;
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::loadtest::client::{Failure, Keep, OpenLog, PreparedRequest, Response};
use crate::loadtest::connector::{Connector, Stream};
use crate::loadtest::h2_frame::{self as frame, Head, Reason};
use crate::loadtest::hpack;

/// Receive windows: large, as h2load's defaults are, so a big body streams at the
/// speed of the link rather than of window updates. The data is read as it arrives,
/// so this bounds nothing that is held.
const STREAM_WINDOW: u32 = (1 << 30) - 1;
const CONNECTION_WINDOW: u32 = (1 << 30) - 1;
/// SETTINGS_HEADER_TABLE_SIZE: the default, which the client does not announce.
const HEADER_TABLE: usize = 4096;
/// Read buffer: 8 KiB, as the HTTP/1.1 path's, enough for many small responses at
/// once; it grows (up to twice the largest frame the client accepts) only when a
/// frame needs the room, so many connections cost little memory.
const READ_START: usize = 8 * 1024;
const READ_MAX: usize = 2 * (frame::HEADER_LEN + frame::DEFAULT_MAX_FRAME);
/// The largest header block the client takes (as the h2 crate's default header list
/// limit): more CONTINUATION would only fill memory.
const MAX_HEADER_BLOCK: usize = 16 << 20;
/// The largest stream id a client may use (§5.1.1).
const LAST_STREAM_ID: u32 = (1 << 31) - 1;
/// The token of a session waiting for the server's SETTINGS (streams use their id).
const OPENER: u32 = 0;

/// What a poller of the connection waits for.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Until {
    /// Stream `id` has its outcome.
    Stream(u32),
    /// The server's SETTINGS are in.
    Settings,
    /// Nothing: read what is there (an idle connection's check).
    Idle,
}

impl Until {
    /// The token `driver` records for this poller.
    fn token(self) -> u32 {
        match self {
            Until::Stream(id) => id,
            Until::Settings | Until::Idle => OPENER,
        }
    }
}

/// Why an HTTP/2 exchange failed, and whether it may go again on a new connection.
pub enum Http2Error {
    /// The server did not process the request (it was never sent, refused with
    /// REFUSED_STREAM, or above a GOAWAY's last stream id): safe to send again, even a
    /// POST (RFC 9113 §8.7).
    Unprocessed(Failure),
    Failed(Failure),
}

type Conn = Rc<RefCell<State>>;

/// One HTTP/2 connection shared by the sessions of a group.
pub struct SharedConnection {
    connector: Arc<Connector>,
    live: RefCell<Option<Conn>>,
    /// Only one session opens a connection at a time; the others wait for it.
    opening: tokio::sync::Mutex<()>,
    /// More than one session shares the connection: wait for the server's SETTINGS
    /// (its stream limit) before the first streams go out.
    shared: bool,
}

impl SharedConnection {
    pub fn new(connector: Arc<Connector>, sessions: u32) -> SharedConnection {
        SharedConnection {
            connector,
            live: RefCell::new(None),
            opening: tokio::sync::Mutex::new(()),
            shared: sessions > 1,
        }
    }

    /// The current connection, opening one if there is none.
    async fn connection(&self, opened: &OpenLog) -> Result<Conn, Failure> {
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
        let conn = Rc::new(RefCell::new(State::new(open.stream)));
        *self.live.borrow_mut() = Some(Rc::clone(&conn));
        Ok(conn)
    }

    /// The live connection if it can take a new stream. An idle one first reads what
    /// the server sent meanwhile (a GOAWAY before its idle timeout, the close), free
    /// when nothing came.
    fn current(&self) -> Option<Conn> {
        let live = self.live.borrow();
        let conn = live.as_ref()?;
        let mut state = conn.borrow_mut();
        if state.streams.is_empty() && state.waiting.is_empty() {
            state.poll_idle();
        }
        state.usable().then(|| Rc::clone(conn))
    }

    /// Stop using `conn` (a newer one is kept).
    fn forget(&self, conn: &Conn) {
        let mut live = self.live.borrow_mut();
        if live.as_ref().is_some_and(|l| Rc::ptr_eq(l, conn)) {
            *live = None;
        }
    }

    /// Close the current connection once its streams are done: `--new-connection-per-request`.
    pub fn close(&self) {
        *self.live.borrow_mut() = None;
    }

    /// One request on the shared connection; an unprocessed one goes once more on a new
    /// connection (a refused one on the same).
    pub async fn send(
        &self,
        request: &PreparedRequest,
        cookie: Option<&str>,
        opened: &OpenLog,
    ) -> Result<Response, Failure> {
        let mut retried = false;
        loop {
            let conn = self.connection(opened).await?;
            match exchange(&conn, self.shared, request, cookie).await {
                Ok(response) => return Ok(response),
                Err(Http2Error::Unprocessed(failure)) => {
                    // A refused stream leaves the connection usable; anything else
                    // unprocessed (a GOAWAY, a connection gone) does not.
                    if failure != Failure::Reset(Reason::REFUSED_STREAM.to_string()) {
                        self.forget(&conn);
                    }
                    if retried {
                        return Err(failure);
                    }
                    retried = true;
                }
                Err(Http2Error::Failed(failure)) => {
                    if !conn.borrow().usable() {
                        self.forget(&conn);
                    }
                    return Err(failure);
                }
            }
        }
    }
}

/// Send one request as a stream and read its whole response.
async fn exchange(
    conn: &Conn,
    shared: bool,
    prepared: &PreparedRequest,
    cookie: Option<&str>,
) -> Result<Response, Http2Error> {
    // Waits while the server's stream limit is reached (or, on a shared connection,
    // until its SETTINGS say what the limit is); fails if the connection is gone.
    poll_fn(|cx| conn.borrow_mut().poll_slot(cx, shared)).await?;
    let id = conn.borrow_mut().open(prepared, cookie);
    let mut guard = StreamGuard {
        conn,
        id,
        done: false,
    };
    if conn.borrow().woken > 0 {
        // Sessions this connection's last read woke are about to queue their next
        // requests too: let them, so that one write carries all (as h2load writes
        // once per turn of its loop). The last of them writes at once.
        tokio::task::yield_now().await;
    }
    let outcome = poll_fn(|cx| conn.borrow_mut().poll_stream(id, cx)).await;
    guard.done = true;
    outcome
}

/// Resets a stream whose exchange was dropped (`--timeout`, the end of the run).
struct StreamGuard<'a> {
    conn: &'a Conn,
    id: u32,
    done: bool,
}

impl Drop for StreamGuard<'_> {
    fn drop(&mut self) {
        if !self.done {
            self.conn.borrow_mut().cancel(self.id);
        }
    }
}

/// One stream in flight.
struct StreamState {
    id: u32,
    waker: Option<Waker>,
    /// The final status; 0 until its HEADERS came.
    status: u16,
    set_cookies: Vec<String>,
    location: Option<String>,
    body_bytes: u64,
    /// What the request asks to keep of the response (none: nothing, as a rule),
    /// and what was kept.
    keep: Option<Keep>,
    kept_body: Vec<u8>,
    kept_headers: Vec<(String, String)>,
    /// The response's content-length, when it has one and a body may follow (not
    /// for HEAD, 204 or 304): the DATA must add up to it (RFC 9113 §8.1.1).
    expected: Option<u64>,
    /// The request is a HEAD.
    head: bool,
    /// Data read since this stream's window was last reopened.
    unacked: u32,
    send_window: i64,
    /// The request body, and how much of it is sent.
    body: Bytes,
    body_sent: usize,
    outcome: Option<Result<(), Http2Error>>,
    /// Its session was woken for its outcome and has not taken it yet.
    woken: bool,
}

/// A header block that continues in CONTINUATION frames.
struct Continuation {
    stream: u32,
    block: Vec<u8>,
    end_stream: bool,
}

/// Everything about one connection.
struct State {
    io: Stream,
    /// Read buffer (initialised once): `read[read_at..read_end]` is not processed yet.
    read: Vec<u8>,
    read_at: usize,
    read_end: usize,
    write: Vec<u8>,
    written: usize,
    /// Written but not flushed (TLS keeps records until flushed).
    unflushed: bool,
    decoder: hpack::Decoder,
    settings_received: bool,
    max_concurrent: u32,
    /// The server's SETTINGS_INITIAL_WINDOW_SIZE and SETTINGS_MAX_FRAME_SIZE.
    peer_window: i64,
    peer_max_frame: usize,
    /// What the connection's send window lets the client send.
    send_window: i64,
    /// Data read since the connection's window was last reopened.
    unacked: u32,
    next_id: u32,
    streams: Vec<StreamState>,
    /// Sessions waiting for a stream slot (or the server's SETTINGS).
    waiting: Vec<Waker>,
    /// Streams whose sessions were woken for their outcome and have not run yet.
    woken: u32,
    /// Who is registered with the socket to be woken when it is ready: the last
    /// poller to find it not ready; `None` when nobody is.
    driver: Option<u32>,
    continuation: Option<Continuation>,
    /// The server's GOAWAY: last stream id and error code.
    go_away: Option<(u32, Reason)>,
    /// The connection ended: the failure of a stream it cut.
    closed: Option<Failure>,
    /// A request's Cookie field, HPACK-encoded: reused from request to request.
    cookie_field: Vec<u8>,
}

/// A connection error: the server broke the protocol.
struct ConnError(Reason);

impl State {
    fn new(io: Stream) -> State {
        let mut write = Vec::with_capacity(1024);
        write.extend_from_slice(frame::PREFACE);
        frame::write_settings(
            &mut write,
            &[
                (frame::SETTINGS_ENABLE_PUSH, 0),
                (frame::SETTINGS_INITIAL_WINDOW_SIZE, STREAM_WINDOW),
            ],
        );
        frame::write_window_update(
            &mut write,
            0,
            CONNECTION_WINDOW - frame::DEFAULT_WINDOW as u32,
        );
        State {
            io,
            read: vec![0; READ_START],
            read_at: 0,
            read_end: 0,
            write,
            written: 0,
            unflushed: false,
            decoder: hpack::Decoder::new(HEADER_TABLE),
            settings_received: false,
            max_concurrent: u32::MAX,
            peer_window: frame::DEFAULT_WINDOW,
            peer_max_frame: frame::DEFAULT_MAX_FRAME,
            send_window: frame::DEFAULT_WINDOW,
            unacked: 0,
            next_id: 1,
            streams: Vec::new(),
            waiting: Vec::new(),
            woken: 0,
            driver: None,
            continuation: None,
            go_away: None,
            closed: None,
            cookie_field: Vec::new(),
        }
    }

    /// Whether a new stream may go out on this connection.
    fn usable(&self) -> bool {
        self.closed.is_none() && self.go_away.is_none() && self.next_id <= LAST_STREAM_ID
    }

    /// Why no new stream can go out (when `!usable()`).
    fn unusable_failure(&self) -> Failure {
        match (&self.closed, self.go_away) {
            (Some(failure), _) => failure.clone(),
            (None, Some((_, reason))) => Failure::GoAway(reason.to_string()),
            (None, None) => Failure::Connect("stream ids used up".to_string()),
        }
    }

    /// Wait for room for one more stream.
    fn poll_slot(&mut self, cx: &mut Context<'_>, shared: bool) -> Poll<Result<(), Http2Error>> {
        if shared && !self.settings_received && self.usable() {
            // A server sends its SETTINGS first: read until they are in.
            self.poll_io(cx, Until::Settings);
            if !self.settings_received && self.usable() {
                self.wait(cx);
                return Poll::Pending;
            }
            self.hand_off(OPENER);
        }
        if !self.usable() {
            return Poll::Ready(Err(Http2Error::Unprocessed(self.unusable_failure())));
        }
        if self.streams.len() >= self.max_concurrent as usize {
            self.wait(cx);
            return Poll::Pending;
        }
        Poll::Ready(Ok(()))
    }

    fn wait(&mut self, cx: &mut Context<'_>) {
        if !self.waiting.iter().any(|w| w.will_wake(cx.waker())) {
            self.waiting.push(cx.waker().clone());
        }
    }

    /// Open a stream for `prepared`: its HEADERS (and as much of its body as the
    /// windows allow) are queued, to go out with the next write.
    fn open(&mut self, prepared: &PreparedRequest, cookie: Option<&str>) -> u32 {
        let id = self.next_id;
        self.next_id += 2;
        let template = &prepared.http2;
        let end_stream = prepared.body.is_empty();
        match cookie {
            None => frame::write_headers(
                &mut self.write,
                id,
                &[&template.block, &template.own_cookie],
                end_stream,
                self.peer_max_frame,
            ),
            Some(jar) => {
                // The request's own Cookie header, then the jar's: one field (RFC 9113
                // §8.2.3 allows either), encoded into a buffer kept for the next request.
                let field = &mut self.cookie_field;
                field.clear();
                match &template.cookie {
                    Some(own) => hpack::encode_field_joined(
                        field,
                        b"cookie",
                        &[own.as_bytes(), b"; ", jar.as_bytes()],
                    ),
                    None => hpack::encode_field(field, b"cookie", jar.as_bytes()),
                }
                frame::write_headers(
                    &mut self.write,
                    id,
                    &[&template.block, &self.cookie_field],
                    end_stream,
                    self.peer_max_frame,
                );
            }
        }
        self.streams.push(StreamState {
            id,
            waker: None,
            status: 0,
            set_cookies: Vec::new(),
            location: None,
            body_bytes: 0,
            keep: (!prepared.keep.nothing()).then(|| prepared.keep.clone()),
            kept_body: Vec::new(),
            kept_headers: Vec::new(),
            expected: None,
            head: prepared.http1.is_head,
            unacked: 0,
            send_window: self.peer_window,
            body: prepared.body.clone(),
            body_sent: 0,
            outcome: None,
            woken: false,
        });
        let index = self.streams.len() - 1;
        self.send_body(index);
        id
    }

    /// Queue as much of a stream's body as the windows allow.
    fn send_body(&mut self, index: usize) {
        let stream = &mut self.streams[index];
        while stream.body_sent < stream.body.len() {
            let room = stream
                .send_window
                .min(self.send_window)
                .min(self.peer_max_frame as i64);
            if room <= 0 {
                return;
            }
            let n = (stream.body.len() - stream.body_sent).min(room as usize);
            let end = stream.body_sent + n;
            let last = end == stream.body.len();
            frame::write_data(
                &mut self.write,
                stream.id,
                &stream.body[stream.body_sent..end],
                last,
            );
            stream.body_sent = end;
            stream.send_window -= n as i64;
            self.send_window -= n as i64;
        }
    }

    fn index_of(&self, id: u32) -> Option<usize> {
        self.streams.iter().position(|s| s.id == id)
    }

    /// Drive the connection until stream `id` has its outcome.
    fn poll_stream(&mut self, id: u32, cx: &mut Context<'_>) -> Poll<Result<Response, Http2Error>> {
        let Some(index) = self.index_of(id) else {
            // Not reachable: a stream leaves the list only here or when cancelled.
            return Poll::Ready(Err(Http2Error::Failed(Failure::Protocol(
                "stream lost".to_string(),
            ))));
        };
        if self.streams[index].outcome.is_none() {
            self.poll_io(cx, Until::Stream(id));
        }
        let index = self
            .index_of(id)
            .expect("a stream leaves only when its session takes it");
        if self.streams[index].outcome.is_none() {
            let stream = &mut self.streams[index];
            if !stream
                .waker
                .as_ref()
                .is_some_and(|w| w.will_wake(cx.waker()))
            {
                stream.waker = Some(cx.waker().clone());
            }
            return Poll::Pending;
        }
        let stream = self.streams.swap_remove(index);
        if stream.woken {
            self.woken -= 1;
        }
        if stream.body_sent < stream.body.len() && self.closed.is_none() {
            // The response came before the whole body went: stop sending it.
            frame::write_rst_stream(&mut self.write, id, Reason::CANCEL);
        }
        self.stream_left(id);
        Poll::Ready(match stream.outcome {
            Some(Ok(())) => Ok(Response {
                status: stream.status,
                body_bytes: stream.body_bytes,
                set_cookies: stream.set_cookies,
                location: stream.location,
                body: stream.kept_body,
                headers: stream.kept_headers,
            }),
            Some(Err(e)) => Err(e),
            None => unreachable!("checked above"),
        })
    }

    /// A stream's session dropped it unfinished: reset it.
    fn cancel(&mut self, id: u32) {
        if let Some(index) = self.index_of(id) {
            let stream = self.streams.swap_remove(index);
            if stream.woken {
                self.woken -= 1;
            }
            if stream.outcome.is_none() && self.closed.is_none() {
                // Written at once, so that the server stops working on it, when nothing
                // else waits to be written (then no session waits to write, and none
                // loses its turn to a waker of nobody's); else it goes with the rest.
                let idle = self.written == self.write.len();
                frame::write_rst_stream(&mut self.write, id, Reason::CANCEL);
                if idle {
                    let mut cx = Context::from_waker(Waker::noop());
                    if let Poll::Ready(Err(e)) = self.poll_flush(&mut cx) {
                        self.end(Failure::Connect(e.kind().to_string()));
                    }
                }
            }
            self.stream_left(id);
        }
    }

    /// After stream `id` left: its slot is free, and if it was the one the socket
    /// would wake, another waiting stream takes that over.
    fn stream_left(&mut self, id: u32) {
        if let Some(waker) = self.waiting.pop() {
            waker.wake();
        }
        self.hand_off(id);
    }

    /// `me` stops polling: if nobody else is registered with the socket while streams
    /// wait (or frames wait to be written), wake one of them to drive the connection.
    fn hand_off(&mut self, me: u32) {
        if self.driver.is_some_and(|d| d != me) {
            return;
        }
        self.driver = None;
        let next = self
            .streams
            .iter()
            .find(|s| s.outcome.is_none() && s.id != me && s.waker.is_some());
        if let Some(waker) = next.and_then(|s| s.waker.as_ref()) {
            waker.wake_by_ref();
        } else if let Some(waker) = self.waiting.pop() {
            waker.wake();
        }
    }

    /// Read what the server sent while the connection was idle, without waiting.
    fn poll_idle(&mut self) {
        if self.closed.is_some() {
            return;
        }
        let mut cx = Context::from_waker(Waker::noop());
        self.poll_io(&mut cx, Until::Idle);
        self.driver = None;
    }

    /// Write what is queued and read what came, until the socket would block both ways
    /// or the wait is over.
    fn poll_io(&mut self, cx: &mut Context<'_>, until: Until) {
        let me = until.token();
        loop {
            if self.closed.is_some() {
                return;
            }
            match self.poll_flush(cx) {
                Poll::Ready(Ok(())) => {}
                Poll::Ready(Err(e)) => return self.end(Failure::Connect(e.kind().to_string())),
                Poll::Pending => self.driver = Some(me),
            }
            let satisfied = match until {
                Until::Settings => self.settings_received,
                Until::Stream(id) => self
                    .index_of(id)
                    .is_none_or(|i| self.streams[i].outcome.is_some()),
                Until::Idle => false,
            };
            if satisfied {
                return;
            }
            match self.poll_read(cx) {
                Poll::Pending => {
                    self.driver = Some(me);
                    return;
                }
                Poll::Ready(Ok(0)) => {
                    return self.end(Failure::Connect(
                        "connection closed by the server".to_string(),
                    ))
                }
                Poll::Ready(Ok(_)) => {
                    // What the socket would have woken its driver for is read.
                    self.driver = None;
                    if let Err(ConnError(reason)) = self.process(me) {
                        frame::write_goaway(&mut self.write, 0, reason);
                        let _ = self.poll_flush(cx);
                        return self.end(Failure::Protocol(reason.to_string()));
                    }
                }
                Poll::Ready(Err(e)) => return self.end(Failure::Connect(e.kind().to_string())),
            }
        }
    }

    fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.written < self.write.len() {
            match Pin::new(&mut self.io).poll_write(cx, &self.write[self.written..]) {
                Poll::Ready(Ok(0)) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Poll::Ready(Ok(n)) => {
                    self.written += n;
                    self.unflushed = true;
                }
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
        }
        self.write.clear();
        self.written = 0;
        if self.unflushed {
            if let Stream::Tls(_) = self.io {
                std::task::ready!(Pin::new(&mut self.io).poll_flush(cx))?;
            }
            self.unflushed = false;
        }
        Poll::Ready(Ok(()))
    }

    fn poll_read(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        if self.read_at == self.read_end {
            self.read_at = 0;
            self.read_end = 0;
        } else if self.read_at > 0 {
            // The start of a frame: moved to the front, for the room after it.
            self.read.copy_within(self.read_at..self.read_end, 0);
            self.read_end -= self.read_at;
            self.read_at = 0;
        }
        // Room for a whole frame of the largest size the client accepts, once one
        // comes: a quarter of the buffer free at least, which holds it at READ_MAX.
        if self.read.len() - self.read_end < self.read.len() / 4 && self.read.len() < READ_MAX {
            self.read.resize((self.read.len() * 2).min(READ_MAX), 0);
        }
        let mut buf = ReadBuf::new(&mut self.read[self.read_end..]);
        std::task::ready!(Pin::new(&mut self.io).poll_read(cx, &mut buf))?;
        let n = buf.filled().len();
        self.read_end += n;
        Poll::Ready(Ok(n))
    }

    /// The connection ended: every stream still waiting fails, and so does every
    /// session waiting to open one.
    fn end(&mut self, failure: Failure) {
        // After a GOAWAY with an error the close is the GOAWAY's doing.
        let failure = match self.go_away {
            Some((_, reason))
                if reason != Reason::NO_ERROR && !matches!(failure, Failure::Protocol(_)) =>
            {
                Failure::GoAway(reason.to_string())
            }
            _ => failure,
        };
        for stream in &mut self.streams {
            if stream.outcome.is_none() {
                let failure = match &failure {
                    Failure::Connect(why) if stream.status != 0 => Failure::Body(why.clone()),
                    other => other.clone(),
                };
                stream.outcome = Some(Err(Http2Error::Failed(failure)));
                if let Some(waker) = &stream.waker {
                    waker.wake_by_ref();
                    stream.woken = true;
                    self.woken += 1;
                }
            }
        }
        for waker in self.waiting.drain(..) {
            waker.wake();
        }
        self.closed = Some(failure);
        self.driver = None;
    }

    /// Settle stream `index`, waking its session unless it is the one polling.
    fn settle(&mut self, index: usize, outcome: Result<(), Http2Error>, me: u32) {
        let stream = &mut self.streams[index];
        stream.outcome = Some(outcome);
        if stream.id != me {
            if let Some(waker) = &stream.waker {
                waker.wake_by_ref();
                stream.woken = true;
                self.woken += 1;
            }
        }
    }

    /// A stream error of the client's finding: reset the stream, fail its exchange.
    fn stream_error(&mut self, index: usize, reason: Reason, me: u32) {
        frame::write_rst_stream(&mut self.write, self.streams[index].id, reason);
        self.settle(
            index,
            Err(Http2Error::Failed(Failure::Protocol(reason.to_string()))),
            me,
        );
    }

    /// Handle every whole frame in the read buffer.
    fn process(&mut self, me: u32) -> Result<(), ConnError> {
        let read = std::mem::take(&mut self.read);
        let result = self.process_frames(&read[..self.read_end], me);
        self.read = read;
        result
    }

    fn process_frames(&mut self, read: &[u8], me: u32) -> Result<(), ConnError> {
        while let Some(head) = frame::parse_head(&read[self.read_at..]) {
            if head.len > frame::DEFAULT_MAX_FRAME {
                return Err(ConnError(Reason::FRAME_SIZE_ERROR));
            }
            let start = self.read_at + frame::HEADER_LEN;
            if read.len() < start + head.len {
                break;
            }
            self.read_at = start + head.len;
            let payload = &read[start..start + head.len];
            if !self.settings_received && head.kind != frame::SETTINGS {
                // The server's preface is a SETTINGS frame (§3.4).
                return Err(ConnError(Reason::PROTOCOL_ERROR));
            }
            if self.continuation.is_some() && head.kind != frame::CONTINUATION {
                return Err(ConnError(Reason::PROTOCOL_ERROR));
            }
            self.frame(head, payload, me)?;
            if self.closed.is_some() {
                break;
            }
        }
        Ok(())
    }

    /// A stream id the client never opened, or one the server may not use.
    fn check_known(&self, id: u32) -> Result<(), ConnError> {
        if id == 0 || id.is_multiple_of(2) || id >= self.next_id {
            return Err(ConnError(Reason::PROTOCOL_ERROR));
        }
        Ok(())
    }

    fn frame(&mut self, head: Head, payload: &[u8], me: u32) -> Result<(), ConnError> {
        match head.kind {
            frame::DATA => {
                self.check_known(head.stream)?;
                let data =
                    frame::unpadded(&head, payload).ok_or(ConnError(Reason::PROTOCOL_ERROR))?;
                // Padding counts against the windows too (§6.9.1).
                self.unacked += head.len as u32;
                if self.unacked >= CONNECTION_WINDOW / 2 {
                    frame::write_window_update(&mut self.write, 0, self.unacked);
                    self.unacked = 0;
                }
                let Some(index) = self.index_of(head.stream) else {
                    return Ok(()); // a stream reset or dropped: its data is discarded
                };
                let stream = &mut self.streams[index];
                if stream.outcome.is_some() {
                    return Ok(());
                }
                if stream.status == 0 {
                    // DATA before the response's HEADERS.
                    self.stream_error(index, Reason::PROTOCOL_ERROR, me);
                    return Ok(());
                }
                stream.body_bytes += data.len() as u64;
                if stream.keep.as_ref().is_some_and(|k| k.body) {
                    stream.kept_body.extend_from_slice(data);
                }
                let end = head.flags & frame::END_STREAM != 0;
                if stream
                    .expected
                    .is_some_and(|n| stream.body_bytes > n || (end && stream.body_bytes < n))
                {
                    self.stream_error(index, Reason::PROTOCOL_ERROR, me);
                } else if end {
                    self.settle(index, Ok(()), me);
                } else {
                    stream.unacked += head.len as u32;
                    if stream.unacked >= STREAM_WINDOW / 2 {
                        frame::write_window_update(&mut self.write, stream.id, stream.unacked);
                        stream.unacked = 0;
                    }
                }
            }
            frame::HEADERS => {
                self.check_known(head.stream)?;
                let block =
                    frame::unpadded(&head, payload).ok_or(ConnError(Reason::PROTOCOL_ERROR))?;
                let end_stream = head.flags & frame::END_STREAM != 0;
                if head.flags & frame::END_HEADERS == 0 {
                    self.continuation = Some(Continuation {
                        stream: head.stream,
                        block: block.to_vec(),
                        end_stream,
                    });
                } else {
                    self.headers(head.stream, block, end_stream, me)?;
                }
            }
            frame::CONTINUATION => {
                let Some(mut pending) = self.continuation.take() else {
                    return Err(ConnError(Reason::PROTOCOL_ERROR));
                };
                if pending.stream != head.stream {
                    return Err(ConnError(Reason::PROTOCOL_ERROR));
                }
                pending.block.extend_from_slice(payload);
                if pending.block.len() > MAX_HEADER_BLOCK {
                    return Err(ConnError(Reason::PROTOCOL_ERROR));
                }
                if head.flags & frame::END_HEADERS == 0 {
                    self.continuation = Some(pending);
                } else {
                    self.headers(pending.stream, &pending.block, pending.end_stream, me)?;
                }
            }
            frame::PRIORITY if head.stream == 0 => {
                return Err(ConnError(Reason::PROTOCOL_ERROR));
            }
            frame::RST_STREAM => {
                if payload.len() != 4 {
                    return Err(ConnError(Reason::FRAME_SIZE_ERROR));
                }
                self.check_known(head.stream)?;
                let reason = Reason(frame::u32_at(payload, 0));
                if let Some(index) = self.index_of(head.stream) {
                    let stream = &self.streams[index];
                    if stream.outcome.is_none() {
                        let failure = Failure::Reset(reason.to_string());
                        let outcome = if reason == Reason::REFUSED_STREAM && stream.status == 0 {
                            Http2Error::Unprocessed(failure)
                        } else {
                            Http2Error::Failed(failure)
                        };
                        // The stream is closed: none of its body goes any more.
                        self.streams[index].body_sent = self.streams[index].body.len();
                        self.settle(index, Err(outcome), me);
                    }
                }
            }
            frame::SETTINGS => self.settings(head, payload)?,
            frame::PUSH_PROMISE => {
                // The client's SETTINGS disabled push (§8.4).
                return Err(ConnError(Reason::PROTOCOL_ERROR));
            }
            frame::PING => {
                if head.stream != 0 {
                    return Err(ConnError(Reason::PROTOCOL_ERROR));
                }
                if payload.len() != 8 {
                    return Err(ConnError(Reason::FRAME_SIZE_ERROR));
                }
                if head.flags & frame::ACK == 0 {
                    frame::write_ping_ack(&mut self.write, payload);
                }
            }
            frame::GOAWAY => {
                if head.stream != 0 {
                    return Err(ConnError(Reason::PROTOCOL_ERROR));
                }
                if payload.len() < 8 {
                    return Err(ConnError(Reason::FRAME_SIZE_ERROR));
                }
                let last = frame::u32_at(payload, 0) & LAST_STREAM_ID;
                let reason = Reason(frame::u32_at(payload, 4));
                self.go_away = Some((last, reason));
                // Streams above the last id were not processed: they may go again.
                for index in (0..self.streams.len()).rev() {
                    let stream = &self.streams[index];
                    if stream.id > last && stream.outcome.is_none() {
                        let failure = Failure::GoAway(reason.to_string());
                        self.settle(index, Err(Http2Error::Unprocessed(failure)), me);
                    }
                }
                for waker in self.waiting.drain(..) {
                    waker.wake();
                }
            }
            frame::WINDOW_UPDATE => {
                if payload.len() != 4 {
                    return Err(ConnError(Reason::FRAME_SIZE_ERROR));
                }
                let increment = i64::from(frame::u32_at(payload, 0) & 0x7fff_ffff);
                if head.stream == 0 {
                    if increment == 0 {
                        return Err(ConnError(Reason::PROTOCOL_ERROR));
                    }
                    self.send_window += increment;
                    if self.send_window > frame::MAX_WINDOW {
                        return Err(ConnError(Reason::FLOW_CONTROL_ERROR));
                    }
                    for index in 0..self.streams.len() {
                        self.send_body(index);
                    }
                } else {
                    self.check_known(head.stream)?;
                    if let Some(index) = self.index_of(head.stream) {
                        if self.streams[index].outcome.is_some() {
                            return Ok(());
                        }
                        if increment == 0 {
                            self.stream_error(index, Reason::PROTOCOL_ERROR, me);
                            return Ok(());
                        }
                        self.streams[index].send_window += increment;
                        if self.streams[index].send_window > frame::MAX_WINDOW {
                            self.stream_error(index, Reason::FLOW_CONTROL_ERROR, me);
                            return Ok(());
                        }
                        self.send_body(index);
                    }
                }
            }
            // Unknown frame types are ignored (§4.1).
            _ => {}
        }
        Ok(())
    }

    fn settings(&mut self, head: Head, payload: &[u8]) -> Result<(), ConnError> {
        if head.stream != 0 {
            return Err(ConnError(Reason::PROTOCOL_ERROR));
        }
        if head.flags & frame::ACK != 0 {
            return if payload.is_empty() {
                Ok(())
            } else {
                Err(ConnError(Reason::FRAME_SIZE_ERROR))
            };
        }
        if !payload.len().is_multiple_of(6) {
            return Err(ConnError(Reason::FRAME_SIZE_ERROR));
        }
        for setting in payload.chunks(6) {
            let id = u16::from_be_bytes([setting[0], setting[1]]);
            let value = frame::u32_at(setting, 2);
            match id {
                frame::SETTINGS_ENABLE_PUSH if value > 1 => {
                    return Err(ConnError(Reason::PROTOCOL_ERROR))
                }
                frame::SETTINGS_MAX_CONCURRENT_STREAMS => self.max_concurrent = value,
                frame::SETTINGS_INITIAL_WINDOW_SIZE => {
                    if i64::from(value) > frame::MAX_WINDOW {
                        return Err(ConnError(Reason::FLOW_CONTROL_ERROR));
                    }
                    // Open streams' windows move by the difference (§6.9.2).
                    let delta = i64::from(value) - self.peer_window;
                    self.peer_window = i64::from(value);
                    for stream in &mut self.streams {
                        stream.send_window += delta;
                        if stream.send_window > frame::MAX_WINDOW {
                            return Err(ConnError(Reason::FLOW_CONTROL_ERROR));
                        }
                    }
                }
                frame::SETTINGS_MAX_FRAME_SIZE => {
                    if !(frame::DEFAULT_MAX_FRAME..=(1 << 24) - 1).contains(&(value as usize)) {
                        return Err(ConnError(Reason::PROTOCOL_ERROR));
                    }
                    self.peer_max_frame = value as usize;
                }
                // The table size only bounds an encoder that indexes, which the
                // client's does not; other settings do not concern it.
                _ => {}
            }
        }
        frame::write_settings_ack(&mut self.write);
        self.settings_received = true;
        for index in 0..self.streams.len() {
            self.send_body(index);
        }
        // A higher stream limit (or the first SETTINGS) lets waiting sessions in.
        for waker in self.waiting.drain(..) {
            waker.wake();
        }
        Ok(())
    }

    /// A complete header block for `id`: decoded whatever the stream's state, as the
    /// HPACK table must follow every block.
    fn headers(
        &mut self,
        id: u32,
        block: &[u8],
        end_stream: bool,
        me: u32,
    ) -> Result<(), ConnError> {
        let mut status: Option<u16> = None;
        let mut set_cookies = Vec::new();
        let mut location = None;
        let mut length: Option<Option<u64>> = None;
        let mut kept = Vec::new();
        // The headers the stream's request asks for (none, as a rule).
        let keep = self
            .index_of(id)
            .and_then(|i| self.streams[i].keep.as_ref())
            .filter(|k| !k.headers.is_empty())
            .map(|k| std::sync::Arc::clone(&k.headers));
        let wanted = |name: &[u8]| {
            keep.as_ref()
                .and_then(|k| k.iter().find(|k| k.as_bytes() == name))
        };
        let want = |name: &[u8]| {
            matches!(
                name,
                b":status" | b"set-cookie" | b"location" | b"content-length"
            ) || wanted(name).is_some()
        };
        self.decoder
            .decode(block, want, |name, value| {
                if let Some(k) = wanted(name) {
                    kept.push((k.clone(), String::from_utf8_lossy(value).into_owned()));
                }
                match name {
                    b":status" => {
                        status = std::str::from_utf8(value)
                            .ok()
                            .and_then(|v| v.parse().ok())
                            .filter(|s| (100..1000).contains(s))
                    }
                    b"set-cookie" => {
                        if let Ok(v) = std::str::from_utf8(value) {
                            set_cookies.push(v.to_string());
                        }
                    }
                    b"content-length" => {
                        // Two that differ, or one that is not a number, are malformed.
                        let n = std::str::from_utf8(value).ok().and_then(|v| v.parse().ok());
                        length = match length {
                            None => Some(n),
                            Some(before) if before == n => Some(n),
                            Some(_) => Some(None),
                        };
                    }
                    b"location" => {
                        if let Ok(v) = std::str::from_utf8(value) {
                            location = Some(v.to_string());
                        }
                    }
                    _ => {}
                }
            })
            .map_err(|_| ConnError(Reason::COMPRESSION_ERROR))?;
        let Some(index) = self.index_of(id) else {
            return Ok(()); // a stream reset or dropped
        };
        if self.streams[index].outcome.is_some() {
            return Ok(());
        }
        if self.streams[index].status != 0 {
            // Trailers: they end the stream.
            let stream = &self.streams[index];
            let short = stream.expected.is_some_and(|n| stream.body_bytes != n);
            if !end_stream || short {
                self.stream_error(index, Reason::PROTOCOL_ERROR, me);
            } else {
                self.settle(index, Ok(()), me);
            }
            return Ok(());
        }
        let Some(status) = status else {
            self.stream_error(index, Reason::PROTOCOL_ERROR, me);
            return Ok(());
        };
        if (100..200).contains(&status) {
            // An interim response (103 Early Hints, 100 Continue): the real one follows.
            if end_stream || status == 101 {
                self.stream_error(index, Reason::PROTOCOL_ERROR, me);
            }
            return Ok(());
        }
        let stream = &mut self.streams[index];
        stream.status = status;
        stream.set_cookies = set_cookies;
        stream.kept_headers = kept;
        if crate::loadtest::http1::is_redirect(status) {
            stream.location = location;
        }
        let bodiless = stream.head || status == 204 || status == 304;
        match length {
            Some(None) => {
                self.stream_error(index, Reason::PROTOCOL_ERROR, me);
                return Ok(());
            }
            Some(Some(n)) if !bodiless => stream.expected = Some(n),
            _ => {}
        }
        if end_stream {
            if stream.expected.is_some_and(|n| n != 0) {
                self.stream_error(index, Reason::PROTOCOL_ERROR, me);
            } else {
                self.settle(index, Ok(()), me);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::net::TcpListener;
    use std::time::Duration;

    use http::header::{HeaderMap, HeaderValue, HOST};
    use http::Method;

    /// A server that speaks raw frames as `script` says, on a thread.
    fn scripted(script: impl FnOnce(&mut std::net::TcpStream) + Send + 'static) -> Connector {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            let (mut socket, _) = listener.accept().unwrap();
            socket
                .set_read_timeout(Some(Duration::from_secs(5)))
                .unwrap();
            let mut preface = [0u8; 24];
            socket.read_exact(&mut preface).unwrap();
            assert_eq!(&preface[..], frame::PREFACE);
            let mut out = Vec::new();
            frame::write_settings(&mut out, &[(frame::SETTINGS_MAX_CONCURRENT_STREAMS, 10)]);
            socket.write_all(&out).unwrap();
            script(&mut socket);
        });
        Connector {
            addr,
            tls: None,
            connect_timeout: Duration::from_secs(2),
        }
    }

    /// The next frame the client sent: header and payload.
    fn next_frame(socket: &mut std::net::TcpStream) -> (Head, Vec<u8>) {
        let mut head = [0u8; frame::HEADER_LEN];
        socket.read_exact(&mut head).unwrap();
        let head = frame::parse_head(&head).unwrap();
        let mut payload = vec![0; head.len];
        socket.read_exact(&mut payload).unwrap();
        (head, payload)
    }

    fn get(url: &str) -> PreparedRequest {
        let url = url::Url::parse(url).unwrap();
        let mut headers = HeaderMap::new();
        headers.insert(HOST, HeaderValue::from_static("localhost"));
        let target = url.path().to_string();
        PreparedRequest::build(Method::GET, url, &target, headers, Bytes::new(), 0).unwrap()
    }

    /// `sessions` sessions sharing one connection, each sending one GET, each in its
    /// own task as the engine runs them; their outcomes in order, within 5 s.
    fn run_sessions(connector: Connector, sessions: u32) -> Vec<Result<Response, Failure>> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let local = tokio::task::LocalSet::new();
        local.block_on(&runtime, async move {
            let shared = Rc::new(SharedConnection::new(Arc::new(connector), sessions));
            let request = Rc::new(get("http://localhost/"));
            let opened: OpenLog = Rc::default();
            let tasks: Vec<_> = (0..sessions)
                .map(|_| {
                    let (shared, request, opened) =
                        (Rc::clone(&shared), Rc::clone(&request), Rc::clone(&opened));
                    tokio::task::spawn_local(
                        async move { shared.send(&request, None, &opened).await },
                    )
                })
                .collect();
            let mut outcomes = Vec::new();
            for task in tasks {
                let outcome = tokio::time::timeout(Duration::from_secs(5), task)
                    .await
                    .expect("a session never got its response")
                    .unwrap();
                outcomes.push(outcome);
            }
            assert_eq!(opened.borrow().len(), 1, "one connection");
            outcomes
        })
    }

    /// One stream answered first, the two others 50 ms later: whichever session the
    /// socket would wake, the others must go on reading when its own stream is done
    /// first. Each of the three is answered first once, so one of the runs answers
    /// the registered session first (without the hand-off its partners never wake).
    #[test]
    fn sessions_hand_the_socket_on_when_their_stream_is_done_first() {
        for first in 0..3 {
            let connector = scripted(move |socket| {
                let mut streams = Vec::new();
                while streams.len() < 3 {
                    let (head, _) = next_frame(socket);
                    if head.kind == frame::HEADERS {
                        assert_ne!(head.flags & frame::END_STREAM, 0);
                        streams.push(head.stream);
                    }
                }
                let first_id = streams.remove(first);
                for (i, id) in std::iter::once(first_id).chain(streams).enumerate() {
                    let mut out = Vec::new();
                    frame::write_headers(&mut out, id, &[&[0x88]], false, 16_384);
                    frame::write_data(&mut out, id, &b"okay"[..=i], true);
                    socket.write_all(&out).unwrap();
                    if i == 0 {
                        std::thread::sleep(Duration::from_millis(50));
                    }
                }
                std::thread::sleep(Duration::from_millis(200));
            });
            let outcomes = run_sessions(connector, 3);
            let mut sizes: Vec<u64> = outcomes
                .into_iter()
                .map(|o| {
                    let response = o.unwrap_or_else(|e| panic!("{e}"));
                    assert_eq!(response.status, 200);
                    response.body_bytes
                })
                .collect();
            sizes.sort();
            assert_eq!(sizes, [1, 2, 3], "stream {first} answered first");
        }
    }

    /// A body shorter than its content-length is malformed (RFC 9113 §8.1.1): the
    /// stream is reset with PROTOCOL_ERROR and fails; one that matches is read whole.
    #[test]
    fn data_must_add_up_to_the_content_length() {
        let (seen, saw) = std::sync::mpsc::channel();
        let connector = scripted(move |socket| {
            for (length, body) in [("5", &b"hello"[..]), ("5", &b"ok"[..])] {
                let id = loop {
                    let (head, _) = next_frame(socket);
                    if head.kind == frame::HEADERS {
                        break head.stream;
                    }
                };
                let mut block = vec![0x88];
                hpack::encode_field(&mut block, b"content-length", length.as_bytes());
                let mut out = Vec::new();
                frame::write_headers(&mut out, id, &[&block], false, 16_384);
                frame::write_data(&mut out, id, body, true);
                socket.write_all(&out).unwrap();
            }
            let reset = loop {
                let (head, payload) = next_frame(socket);
                if head.kind == frame::RST_STREAM {
                    break payload;
                }
            };
            seen.send(Reason(frame::u32_at(&reset, 0))).unwrap();
        });
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let outcomes = runtime.block_on(async {
            let shared = SharedConnection::new(Arc::new(connector), 1);
            let request = get("http://localhost/");
            let opened: OpenLog = Rc::default();
            let mut outcomes = Vec::new();
            for _ in 0..2 {
                let send = shared.send(&request, None, &opened);
                outcomes.push(
                    tokio::time::timeout(Duration::from_secs(5), send)
                        .await
                        .unwrap(),
                );
            }
            outcomes
        });
        assert_eq!(outcomes[0].as_ref().map(|r| r.body_bytes).ok(), Some(5));
        match &outcomes[1] {
            Err(failure) => assert_eq!(failure, &Failure::Protocol("PROTOCOL_ERROR".into())),
            Ok(r) => panic!("a short body passed: {} bytes", r.body_bytes),
        }
        assert_eq!(
            saw.recv_timeout(Duration::from_secs(5)).unwrap(),
            Reason::PROTOCOL_ERROR
        );
    }

    /// A request's own Cookie header goes alone when the session has no cookies, and
    /// joined with the session's (one field) when it has: what the server decodes.
    #[test]
    fn own_cookie_header_joins_the_sessions_cookies() {
        let (seen, saw) = std::sync::mpsc::channel();
        let connector = scripted(move |socket| {
            let mut decoder = hpack::Decoder::new(4096);
            for _ in 0..2 {
                let (id, block) = loop {
                    let (head, payload) = next_frame(socket);
                    if head.kind == frame::HEADERS {
                        break (head.stream, payload);
                    }
                };
                let mut fields = Vec::new();
                decoder
                    .decode(
                        &block,
                        |_| true,
                        |n, v| {
                            fields.push(format!(
                                "{}: {}",
                                String::from_utf8_lossy(n),
                                String::from_utf8_lossy(v)
                            ))
                        },
                    )
                    .unwrap();
                seen.send(fields).unwrap();
                let mut out = Vec::new();
                frame::write_headers(&mut out, id, &[&[0x88]], true, 16_384);
                socket.write_all(&out).unwrap();
            }
        });
        let url = url::Url::parse("http://localhost:8080/a?b=1").unwrap();
        let mut headers = HeaderMap::new();
        headers.insert(HOST, HeaderValue::from_static("localhost:8080"));
        headers.insert(http::header::COOKIE, HeaderValue::from_static("own=1"));
        let request =
            PreparedRequest::build(Method::GET, url, "/a?b=1", headers, Bytes::new(), 0).unwrap();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let shared = SharedConnection::new(Arc::new(connector), 1);
            let opened: OpenLog = Rc::default();
            for jar in [None, Some("jar=2; x=3")] {
                let send = shared.send(&request, jar, &opened);
                let response = tokio::time::timeout(Duration::from_secs(5), send).await;
                assert_eq!(response.unwrap().unwrap().status, 200);
            }
        });
        let first = saw.recv_timeout(Duration::from_secs(5)).unwrap();
        assert_eq!(
            first,
            [
                ":method: GET",
                ":scheme: http",
                ":authority: localhost:8080",
                ":path: /a?b=1",
                "cookie: own=1"
            ]
        );
        let second = saw.recv_timeout(Duration::from_secs(5)).unwrap();
        assert_eq!(second[4..], ["cookie: own=1; jar=2; x=3"]);
    }

    /// Server push was disabled by the client's SETTINGS: a PUSH_PROMISE ends the
    /// connection with a GOAWAY(PROTOCOL_ERROR) of the client's, and the stream fails.
    #[test]
    fn a_push_promise_is_a_protocol_error() {
        let (seen, saw) = std::sync::mpsc::channel();
        let connector = scripted(move |socket| {
            let id = loop {
                let (head, _) = next_frame(socket);
                if head.kind == frame::HEADERS {
                    break head.stream;
                }
            };
            let mut out = Vec::new();
            let mut block = 2u32.to_be_bytes().to_vec();
            block.extend_from_slice(&[0x82, 0x86, 0x84, 0x41, 1, b'x']);
            frame::write_head(
                &mut out,
                block.len(),
                frame::PUSH_PROMISE,
                frame::END_HEADERS,
                id,
            );
            out.extend_from_slice(&block);
            socket.write_all(&out).unwrap();
            let goaway = loop {
                let (head, payload) = next_frame(socket);
                if head.kind == frame::GOAWAY {
                    break payload;
                }
            };
            seen.send(Reason(frame::u32_at(&goaway, 4))).unwrap();
        });
        let outcomes = run_sessions(connector, 1);
        match &outcomes[0] {
            Err(failure) => assert_eq!(failure, &Failure::Protocol("PROTOCOL_ERROR".into())),
            Ok(_) => panic!("a response after a PUSH_PROMISE"),
        }
        assert_eq!(
            saw.recv_timeout(Duration::from_secs(5)).unwrap(),
            Reason::PROTOCOL_ERROR
        );
    }
}
