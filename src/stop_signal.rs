//! The signals that stop a command early and still let it write its reports:
//! Ctrl-C (SIGINT), and on unix SIGTERM (CI cancellation, `timeout`, `docker
//! stop`, Kubernetes) and SIGHUP (a closed terminal or ssh session).

/// Resolves when one of the stop signals arrives, naming it.
pub async fn stop_requested() -> &'static str {
    tokio::select! {
        name = interrupt() => name,
        name = unix_signal(Unix::Terminate) => name,
        name = unix_signal(Unix::Hangup) => name,
    }
}

async fn interrupt() -> &'static str {
    if tokio::signal::ctrl_c().await.is_err() {
        // No handler could be installed: only the other signals stop us.
        std::future::pending::<()>().await;
    }
    "Ctrl-C"
}

enum Unix {
    Terminate,
    Hangup,
}

#[cfg(unix)]
async fn unix_signal(which: Unix) -> &'static str {
    use tokio::signal::unix::{signal, SignalKind};
    let (kind, name) = match which {
        Unix::Terminate => (SignalKind::terminate(), "SIGTERM"),
        Unix::Hangup => (SignalKind::hangup(), "SIGHUP"),
    };
    match signal(kind) {
        Ok(mut stream) => {
            stream.recv().await;
            name
        }
        Err(_) => std::future::pending().await,
    }
}

#[cfg(not(unix))]
async fn unix_signal(_: Unix) -> &'static str {
    std::future::pending().await
}
