//! A generator thread about to sleep in epoll first spins a little, while its last
//! sleeps were short, watching its sockets for an answer.
//!
//! When the server answers within microseconds (a saturated closed loop, many streams a
//! connection), a thread that sleeps between answers costs both sides a wake-up: the
//! server's write has to wake the sleeping client (an inter-processor interrupt, dear on
//! a virtual machine: in one measurement nginx spent 3-7 % more CPU per request against
//! capplan than against h2load, though not in every one), and the client's measured
//! latency carries its own wake-up.
//! Spinning until a socket is readable lets the answer find the thread awake: tokio's
//! epoll then returns at once and nobody is woken. The spin polls a second epoll set of
//! the thread's own (level-triggered, each connection and the pacer's timer in it) and
//! ends as soon as any is ready, so it never holds up work. It is only worth it while
//! sleeps are short: after one longer than half again the spin (an idle target, an open
//! model's gap between sends) the next sleep does not spin, so an idle generator burns
//! nothing. Measured: docs/BENCHMARKS.md, "Idle spin".
use std::cell::RefCell;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Time every thread of the process spent spinning, ns.
static SPUN_NS: AtomicU64 = AtomicU64::new(0);

/// How long the process's threads have spun so far: CPU time that measured no work.
pub fn spun() -> Duration {
    Duration::from_nanos(SPUN_NS.load(Ordering::Relaxed))
}

thread_local! {
    static SPINNER: RefCell<Option<Spinner>> = const { RefCell::new(None) };
}

struct Spinner {
    /// The thread's own epoll set: readiness of its connections, checked while spinning.
    epoll: OwnedFd,
    spin: Duration,
    /// When the thread last began to park (its spin included).
    parked_at: Option<Instant>,
    /// Whether the next park spins: the last one was short.
    spins: bool,
}

/// Spin for up to `spin` before each short sleep of this thread (a generator thread,
/// before its runtime starts). Zero, or a system without epoll, never spins.
pub fn enable(spin: Duration) {
    if spin.is_zero() {
        return;
    }
    // SAFETY: epoll_create1 takes no pointers; a negative return is an error.
    let raw = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
    if raw < 0 {
        return;
    }
    // SAFETY: `raw` is a descriptor this thread just opened and owns alone.
    let epoll = unsafe { OwnedFd::from_raw_fd(raw) };
    SPINNER.set(Some(Spinner {
        epoll,
        spin,
        parked_at: None,
        spins: true,
    }));
}

/// Watch `fd` (a connection, a timer) while spinning; nothing on a thread that does not
/// spin. A closed descriptor leaves the set by itself.
pub fn watch(fd: RawFd) {
    SPINNER.with_borrow(|spinner| {
        if let Some(spinner) = spinner {
            let mut event = libc::epoll_event {
                events: libc::EPOLLIN as u32,
                u64: 0,
            };
            // SAFETY: `event` lives across the call; a failure only means no early end.
            unsafe {
                libc::epoll_ctl(
                    spinner.epoll.as_raw_fd(),
                    libc::EPOLL_CTL_ADD,
                    fd,
                    &mut event,
                )
            };
        }
    });
}

/// The runtime's `on_thread_park`: when the last park was short, spin until one of the
/// thread's descriptors is ready or `spin` has passed.
pub fn on_park() {
    SPINNER.with_borrow_mut(|spinner| {
        let Some(spinner) = spinner else { return };
        let began = Instant::now();
        spinner.parked_at = Some(began);
        if !spinner.spins {
            return;
        }
        // The spin's own CPU time, not its wall time: a thread descheduled mid-spin
        // spent less CPU than it waited, and the CPU figures subtract this.
        let cpu_before = crate::loadtest::cpu::thread_cpu_time();
        let mut event = libc::epoll_event { events: 0, u64: 0 };
        while began.elapsed() < spinner.spin {
            // SAFETY: room for one event in `event`; timeout 0 never blocks.
            let ready = unsafe { libc::epoll_wait(spinner.epoll.as_raw_fd(), &mut event, 1, 0) };
            if ready != 0 {
                break;
            }
            std::hint::spin_loop();
        }
        let spun = crate::loadtest::cpu::thread_cpu_time().saturating_sub(cpu_before);
        SPUN_NS.fetch_add(spun.as_nanos() as u64, Ordering::Relaxed);
    });
}

/// The runtime's `on_thread_unpark`: whether the next park spins.
pub fn on_unpark() {
    SPINNER.with_borrow_mut(|spinner| {
        let Some(spinner) = spinner else { return };
        if let Some(parked_at) = spinner.parked_at.take() {
            // A park that spun and then slept took longer than the spin; one that did not
            // spin tells whether a spin would have caught it.
            spinner.spins = parked_at.elapsed() <= spinner.spin + spinner.spin / 2;
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spins() -> bool {
        SPINNER.with_borrow(|s| s.as_ref().expect("enabled").spins)
    }

    #[test]
    fn a_spin_lasts_until_a_watched_descriptor_is_ready() {
        let spin = Duration::from_millis(100);
        enable(spin);
        let (a, mut b) = std::os::unix::net::UnixStream::pair().unwrap();
        watch(a.as_raw_fd());
        // Nothing ready: the whole spin.
        let began = Instant::now();
        on_park();
        assert!(began.elapsed() >= spin);
        on_unpark();
        // Ready: the spin ends at once.
        std::io::Write::write_all(&mut b, b"x").unwrap();
        let began = Instant::now();
        on_park();
        on_unpark();
        assert!(began.elapsed() < spin / 2, "spun {:?}", began.elapsed());
    }

    #[test]
    fn only_a_park_after_a_short_one_spins() {
        enable(Duration::from_micros(200));
        assert!(spins());
        on_park();
        std::thread::sleep(Duration::from_millis(5));
        on_unpark();
        assert!(!spins(), "a 5 ms park is not short");
        on_park();
        on_unpark();
        assert!(spins(), "an instant park is short");
    }

    #[test]
    fn a_thread_that_does_not_spin_ignores_every_call() {
        enable(Duration::ZERO);
        watch(0);
        on_park();
        on_unpark();
        assert!(SPINNER.with_borrow(|s| s.is_none()));
    }
}
