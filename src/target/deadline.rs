//! Per-connection deadlines, as nginx's `client_header_timeout` and
//! `keepalive_timeout`: a client gets `--header-timeout` to send a whole request
//! head (from the connection's start, or from the first byte after an idle
//! spell) and `--idle-timeout` between requests; then the connection is closed.
//! Without them a slowloris client (one byte every few seconds, or none at all)
//! holds a descriptor for ever.
//!
//! hyper's own `header_read_timeout` also runs while a keep-alive connection is
//! idle, so it cannot give the two limits separately; this module tracks the
//! phase from the bytes read and the requests in service instead.
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Instant;

/// The two limits of `capplan target`.
#[derive(Debug, Clone, Copy)]
pub struct Deadlines {
    /// Longest wait for a request head to be complete.
    pub header: Duration,
    /// Longest wait, with nothing in service, for the next request's first byte.
    pub idle: Duration,
}

/// Why a connection was closed by its deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expired {
    /// The request head was not complete in time (slowloris).
    Header,
    /// Nothing arrived on an idle keep-alive connection.
    Idle,
}

const WAITING_FOR_HEAD: u8 = 0;
const IDLE: u8 = 1;
const BUSY: u8 = 2;

/// What one connection is doing, shared by its I/O, its service and its watchdog.
#[derive(Debug)]
pub struct Activity {
    origin: Instant,
    phase: AtomicU8,
    /// When the phase began, in nanoseconds since `origin`.
    since_ns: AtomicU64,
    in_service: AtomicU32,
}

impl Activity {
    /// A new connection waits for its first request head.
    pub fn new() -> Arc<Activity> {
        Arc::new(Activity {
            origin: Instant::now(),
            phase: AtomicU8::new(WAITING_FOR_HEAD),
            since_ns: AtomicU64::new(0),
            in_service: AtomicU32::new(0),
        })
    }

    fn now_ns(&self) -> u64 {
        self.origin.elapsed().as_nanos() as u64
    }

    fn enter(&self, phase: u8) {
        self.since_ns.store(self.now_ns(), Ordering::Relaxed);
        self.phase.store(phase, Ordering::Release);
    }

    /// Bytes arrived: on an idle connection, a new request head has begun.
    fn bytes_read(&self) {
        if self.phase.load(Ordering::Acquire) == IDLE {
            self.enter(WAITING_FOR_HEAD);
        }
    }

    /// A request head was complete and its handler started; the guard marks
    /// the end of its service, however the handler ends.
    pub fn serving(self: &Arc<Self>) -> InService {
        self.in_service.fetch_add(1, Ordering::AcqRel);
        self.phase.store(BUSY, Ordering::Release);
        InService(Arc::clone(self))
    }

    /// The phase's deadline, or `None` while a request is in service (its
    /// answer is the worker's business, not the client's).
    fn deadline(&self, limits: Deadlines) -> Option<(Expired, Duration, u8, u64)> {
        let phase = self.phase.load(Ordering::Acquire);
        let since = self.since_ns.load(Ordering::Relaxed);
        let (kind, limit) = match phase {
            WAITING_FOR_HEAD => (Expired::Header, limits.header),
            IDLE => (Expired::Idle, limits.idle),
            _ => return None,
        };
        Some((kind, Duration::from_nanos(since) + limit, phase, since))
    }
}

/// Held while a request is in service.
pub struct InService(Arc<Activity>);

impl Drop for InService {
    fn drop(&mut self) {
        if self.0.in_service.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.enter(IDLE);
        }
    }
}

/// Resolves when the connection has outlived its current phase's limit.
pub async fn expired(activity: Arc<Activity>, limits: Deadlines) -> Expired {
    // While busy, look again after the shorter limit: cheap, and a connection
    // is never closed during service.
    let recheck = limits.header.min(limits.idle);
    loop {
        let Some((kind, due, phase, since)) = activity.deadline(limits) else {
            tokio::time::sleep(recheck).await;
            continue;
        };
        let now = activity.origin.elapsed();
        if now < due {
            tokio::time::sleep(due - now).await;
            continue;
        }
        // Still the same phase that began at `since`: it overran.
        if activity.phase.load(Ordering::Acquire) == phase
            && activity.since_ns.load(Ordering::Relaxed) == since
        {
            return kind;
        }
    }
}

/// A stream that tells its connection's [`Activity`] when bytes arrive.
pub struct Watched<S> {
    inner: S,
    activity: Arc<Activity>,
}

impl<S> Watched<S> {
    pub fn new(inner: S, activity: Arc<Activity>) -> Self {
        Watched { inner, activity }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Watched<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.activity.bytes_read();
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Watched<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Deadlines = Deadlines {
        header: Duration::from_millis(100),
        idle: Duration::from_millis(300),
    };

    #[test]
    fn phases_follow_reads_and_service() {
        let activity = Activity::new();
        let phase = |a: &Activity| a.deadline(LIMITS).map(|(kind, ..)| kind);
        assert_eq!(phase(&activity), Some(Expired::Header), "a new connection");
        let first = activity.serving();
        let pipelined = activity.serving();
        assert_eq!(phase(&activity), None, "in service");
        drop(first);
        assert_eq!(phase(&activity), None, "one request still in service");
        activity.bytes_read();
        assert_eq!(
            phase(&activity),
            None,
            "bytes during service change nothing"
        );
        drop(pipelined);
        assert_eq!(phase(&activity), Some(Expired::Idle), "all answered");
        activity.bytes_read();
        assert_eq!(phase(&activity), Some(Expired::Header), "a new head began");
    }

    #[tokio::test(flavor = "current_thread")]
    async fn an_idle_connection_expires_after_the_idle_limit() {
        let activity = Activity::new();
        drop(activity.serving());
        let started = tokio::time::Instant::now();
        let kind = expired(Arc::clone(&activity), LIMITS).await;
        assert_eq!(kind, Expired::Idle);
        assert!(started.elapsed() >= LIMITS.idle);
    }
}
