//! Request counters of the target, printed as one summary line at shutdown.
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

/// Counters shared by every connection (relaxed atomics: only totals matter).
#[derive(Debug, Default)]
pub struct Stats {
    /// Requests that went through a worker (any status, 500s included).
    pub served: AtomicU64,
    /// Of those, answered 500 by `--error-rate`.
    pub errors: AtomicU64,
    /// Refused with 503 because the backlog was full.
    pub rejected: AtomicU64,
    /// Answered without a worker: /health, 404, 405, 400, 413.
    pub immediate: AtomicU64,
    /// Connections closed because no whole request head came within `--header-timeout`.
    pub header_timeouts: AtomicU64,
    /// Keep-alive connections closed after `--idle-timeout` without a request.
    pub idle_closed: AtomicU64,
}

impl Stats {
    pub fn add(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

impl fmt::Display for Stats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        write!(
            f,
            "served {} requests ({} answered 500), rejected {} with 503 (backlog full), {} answered without a worker; closed {} connections for an incomplete request head (--header-timeout) and {} idle ones (--idle-timeout)",
            get(&self.served),
            get(&self.errors),
            get(&self.rejected),
            get(&self.immediate),
            get(&self.header_timeouts),
            get(&self.idle_closed)
        )
    }
}
