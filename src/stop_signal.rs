//! The signals that stop a command early and still let it write its reports:
//! Ctrl-C (SIGINT), and on unix SIGTERM (CI cancellation, `timeout`, `docker
//! stop`, Kubernetes) and SIGHUP (a closed terminal or ssh session).
//!
//! The first signal asks the command to stop; the command then writes what it
//! measured. A second one ends the process at once, as the default action would:
//! someone who presses Ctrl-C twice does not want to wait for the reports.
use std::sync::OnceLock;

/// The first stop signal this process received, once one has.
static RECEIVED: OnceLock<&'static str> = OnceLock::new();

/// Resolves when one of the stop signals arrives, naming it. From then on,
/// [`requested`] names it too and a second signal ends the process at once.
pub async fn stop_requested() -> &'static str {
    let name = tokio::select! {
        name = interrupt() => name,
        name = unix_signal(Unix::Terminate) => name,
        name = unix_signal(Unix::Hangup) => name,
    };
    received(name)
}

/// The stop signal received so far, if any (for work between measurements, which
/// nothing awaits: see [`watch_in_background`]).
pub fn requested() -> Option<&'static str> {
    RECEIVED.get().copied()
}

/// Listen for the stop signals on a thread of its own for the rest of the process,
/// so that a signal arriving while no measurement awaits one (between the steps
/// of a capacity search or of the demo) is remembered for [`requested`] instead
/// of being lost. Returns once the handlers are in place. Only the first call
/// starts a watcher (the demo's capacity step would start a second one).
pub fn watch_in_background(what_happens: &'static str) {
    static WATCHING: OnceLock<()> = OnceLock::new();
    if WATCHING.set(()).is_err() {
        return;
    }
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let spawned = std::thread::Builder::new()
        .name("stop-signals".into())
        .spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                let _ = ready_tx.send(());
                return;
            };
            runtime.block_on(async move {
                let mut signals = Box::pin(stop_requested());
                // One poll registers every handler before the caller goes on.
                let first = poll_once(&mut signals).await;
                let _ = ready_tx.send(());
                let name = match first {
                    Some(name) => name,
                    None => signals.await,
                };
                eprintln!("{name}: {what_happens} (press Ctrl-C again to stop at once)");
            });
        });
    if spawned.is_ok() {
        let _ = ready_rx.recv();
    }
}

/// Poll a future once: `Some` when it is already done.
async fn poll_once<F: std::future::Future + Unpin>(future: &mut F) -> Option<F::Output> {
    std::future::poll_fn(|cx| {
        std::task::Poll::Ready(match std::pin::Pin::new(&mut *future).poll(cx) {
            std::task::Poll::Ready(value) => Some(value),
            std::task::Poll::Pending => None,
        })
    })
    .await
}

/// Remember the first signal and give the next one its default action back.
fn received(name: &'static str) -> &'static str {
    let first = *RECEIVED.get_or_init(|| name);
    restore_default_actions();
    first
}

#[cfg(unix)]
fn restore_default_actions() {
    for signal in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
        // SAFETY: setting a standard signal's disposition to SIG_DFL has no
        // preconditions; the handlers tokio installed are simply no longer called.
        unsafe {
            libc::signal(signal, libc::SIG_DFL);
        }
    }
}

#[cfg(not(unix))]
fn restore_default_actions() {}

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
