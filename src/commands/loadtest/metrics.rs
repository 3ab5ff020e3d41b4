//! `loadtest --metrics-listen ADDR`: the run's live metrics (rendered by
//! `report::openmetrics`) served over HTTP for Prometheus to scrape while the run
//! lasts, and for `--metrics-linger` after it so the last scrape sees the totals.
//! A plain blocking thread: one short connection at a time is what a scraper makes.
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::error::InputError;
use crate::loadtest::aggregator::FinishedSecond;
use crate::loadtest::Observer;
use crate::report::openmetrics::LiveMetrics;

/// Longest request head read from a scraper, bytes.
const MAX_HEAD: usize = 8192;

/// The serving thread and the metrics it serves; an [`Observer`] of the run.
pub struct MetricsServer {
    live: Arc<Mutex<LiveMetrics>>,
    stop: Arc<AtomicBool>,
    addr: SocketAddr,
    thread: Option<JoinHandle<()>>,
}

impl MetricsServer {
    /// Listen on `addr` before any traffic: a port in use is a bad flag (exit 2).
    pub fn start(addr: SocketAddr, live: LiveMetrics) -> Result<MetricsServer, InputError> {
        let listener = TcpListener::bind(addr).map_err(|e| {
            InputError::flag("--metrics-listen", format!("cannot listen on {addr}: {e}"))
        })?;
        let addr = listener.local_addr().unwrap_or(addr);
        let live = Arc::new(Mutex::new(live));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (live, stop) = (Arc::clone(&live), Arc::clone(&stop));
            std::thread::Builder::new()
                .name("capplan-metrics".into())
                .spawn(move || serve(&listener, &live, &stop))
                .map_err(|e| InputError::flag("--metrics-listen", e.to_string()))?
        };
        Ok(MetricsServer {
            live,
            stop,
            addr,
            thread: Some(thread),
        })
    }

    /// Keep serving the final values for `linger`, then stop; a stop signal ends the
    /// wait (the reports are already written).
    pub fn linger(self, linger: Duration) {
        if linger.is_zero() {
            return;
        }
        crate::stop_signal::watch_in_background("no more metrics linger");
        let until = std::time::Instant::now() + linger;
        while std::time::Instant::now() < until && crate::stop_signal::requested().is_none() {
            std::thread::sleep(Duration::from_millis(50).min(until - std::time::Instant::now()));
        }
    }
}

impl Observer for MetricsServer {
    fn second(&mut self, second: &FinishedSecond) -> anyhow::Result<()> {
        self.live
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .add(second);
        Ok(())
    }
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the blocking accept.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn serve(listener: &TcpListener, live: &Mutex<LiveMetrics>, stop: &AtomicBool) {
    for stream in listener.incoming() {
        if stop.load(Ordering::SeqCst) {
            return;
        }
        if let Ok(stream) = stream {
            // A scraper that misbehaves costs its own connection only.
            let _ = answer(stream, live);
        }
    }
}

fn answer(mut stream: TcpStream, live: &Mutex<LiveMetrics>) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(2)))?;
    stream.set_write_timeout(Some(Duration::from_secs(2)))?;
    let mut head = Vec::with_capacity(512);
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < MAX_HEAD {
        let n = stream.read(&mut buf)?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
    }
    let line = head.split(|&b| b == b'\r').next().unwrap_or_default();
    let mut parts = line.split(|&b| b == b' ');
    let (method, path) = (parts.next(), parts.next());
    let path = path.map(|p| p.split(|&b| b == b'?').next().unwrap_or_default());
    let (status, kind, body) = match (method, path) {
        (Some(b"GET" | b"HEAD"), Some(b"/metrics")) => {
            let text = live
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .render();
            ("200 OK", "text/plain; version=0.0.4; charset=utf-8", text)
        }
        _ => (
            "404 Not Found",
            "text/plain; charset=utf-8",
            "capplan serves /metrics only\n".to_string(),
        ),
    };
    let head_only = method == Some(b"HEAD");
    write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )?;
    if !head_only {
        stream.write_all(body.as_bytes())?;
    }
    stream.flush()
}
