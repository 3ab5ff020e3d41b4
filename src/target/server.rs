//! Socket and hyper wiring: bind, announce the port, accept until stopped.
use std::io::Write;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use rand::rngs::StdRng;
use rand::SeedableRng;
use tokio::net::{TcpListener, TcpSocket};

use super::deadline::{self, Activity, Deadlines, Expired, Watched};
use super::routes::{handle, App};
use super::stats::Stats;
use super::timer::PreciseTimer;
use super::workers::WorkerPool;
use super::Settings;
use crate::error::RunError;

/// Kernel listen queue: large, so connections are never refused before the
/// app-level backlog (`--backlog`) decides.
const LISTEN_QUEUE: u32 = 4096;

/// Serve until Ctrl-C, SIGTERM or `--duration`; print the summary to stderr.
pub async fn serve(settings: Settings) -> anyhow::Result<()> {
    let listener = bind(settings.addr)?;
    let local = listener.local_addr().context("reading the bound address")?;
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "listening on http://{local}").context("writing to stdout")?;
        out.flush().context("writing to stdout")?;
    }

    let app = Arc::new(App {
        pool: Arc::new(WorkerPool::new(
            settings.workers,
            settings.backlog,
            std::time::Instant::now(),
        )),
        timer: PreciseTimer::start().context("starting the timer thread")?,
        service_time: settings.service_time,
        error_rate: settings.error_rate,
        stats: Stats::default(),
    });
    let started = std::time::Instant::now();
    let stop = stop_signal(settings.duration);
    tokio::pin!(stop);
    let limits = Deadlines {
        header: settings.header_timeout,
        idle: settings.idle_timeout,
    };
    let mut builder = auto::Builder::new(TokioExecutor::new());
    // A client may send its request and shut its side (`shutdown(SHUT_WR)`, or
    // `curl` reading a file from stdin): it still gets its answer.
    builder.http1().half_close(true);
    let mut connections: u64 = 0;
    loop {
        let stream = tokio::select! {
            _ = &mut stop => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(err) => {
                    // Out of file descriptors and the like: wait, keep serving.
                    eprintln!("target: accept failed: {err}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        // Responses are small and latency is what we measure: no Nagle.
        let _ = stream.set_nodelay(true);
        let rng = Arc::new(Mutex::new(StdRng::seed_from_u64(
            settings.seed.wrapping_add(connections),
        )));
        connections += 1;
        let app = Arc::clone(&app);
        let builder = builder.clone();
        tokio::spawn(async move {
            let activity = Activity::new();
            let counters = Arc::clone(&app);
            let in_service = Arc::clone(&activity);
            let service = service_fn(move |req| {
                let guard = in_service.serving();
                let answer = handle(Arc::clone(&app), Arc::clone(&rng), req);
                async move {
                    let answer = answer.await;
                    drop(guard);
                    answer
                }
            });
            let io = TokioIo::new(Watched::new(stream, Arc::clone(&activity)));
            // Owned out here so that it is dropped (the socket closed) only after the
            // close is counted: a client that sees the close sees it in the summary.
            let connection = builder.serve_connection(io, service);
            tokio::pin!(connection);
            tokio::select! {
                // Client resets and the like end one connection, nothing more.
                _ = &mut connection => {}
                // Dropping the connection closes it, as nginx does on its timeouts.
                kind = deadline::expired(activity, limits) => match kind {
                    Expired::Header => Stats::add(&counters.stats.header_timeouts),
                    Expired::Idle => Stats::add(&counters.stats.idle_closed),
                },
            }
        });
    }
    drop(listener);
    eprintln!(
        "target: stopped after {:.1}s: {}",
        started.elapsed().as_secs_f64(),
        app.stats
    );
    Ok(())
}

/// Bind and listen (port in use and the like: exit 3).
fn bind(addr: SocketAddr) -> anyhow::Result<TcpListener> {
    let listen = || -> std::io::Result<TcpListener> {
        let socket = if addr.is_ipv4() {
            TcpSocket::new_v4()?
        } else {
            TcpSocket::new_v6()?
        };
        socket.set_reuseaddr(true)?;
        socket.bind(addr)?;
        socket.listen(LISTEN_QUEUE)
    };
    listen().map_err(|err| {
        let message = if err.kind() == std::io::ErrorKind::AddrInUse {
            format!(
                "cannot listen on {addr}: port {} is already in use; choose another --port, or --port 0 for a free one",
                addr.port()
            )
        } else {
            format!("cannot listen on {addr}: {err}")
        };
        RunError(message).into()
    })
}

/// Resolves on Ctrl-C, SIGTERM or SIGHUP (unix), or after `duration`.
async fn stop_signal(duration: Option<Duration>) {
    let timeout = async {
        match duration {
            Some(d) => tokio::time::sleep(d).await,
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = crate::stop_signal::stop_requested() => {}
        _ = timeout => {}
    }
}
