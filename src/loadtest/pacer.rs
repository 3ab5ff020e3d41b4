//! The open model's send times, kept within half a millisecond by one kernel timer per
//! generator thread.
//!
//! tokio's timer counts whole milliseconds and rounds a deadline up, so a send due at
//! `t` left 1-2 ms later; latency counts from the intended time (no coordinated
//! omission), so that lag was in every figure the open model reported: p50 1.07 ms
//! against nginx's 0.07 ms at 2,000 requests/s, and sends bunched on millisecond
//! edges. A `timerfd` armed to the end of the earliest waiting send's half-millisecond
//! grain fires within the kernel's timer slack (50 µs by default); one per thread,
//! shared by its connections, so a run needs no descriptor per connection and sends due
//! in one grain share one wake-up.
use std::cell::{Cell, RefCell};
use std::future::poll_fn;
use std::task::{Poll, Waker};

use tokio::time::Instant;

use crate::deadline_queue::DeadlineQueue;

/// A generator thread's precise sleeps: `sleep_until` parks a connection until its send
/// time; `drive` (spawned once on the same thread) wakes each one when it is due.
pub struct Pacer {
    waiting: RefCell<DeadlineQueue<Waker>>,
    /// Where the timer is armed now, if it is.
    armed: Cell<Option<Instant>>,
    /// A send earlier than the armed time (or the first) arrived: re-arm.
    rearm: tokio::sync::Notify,
    timer: Option<timer::TimerFd>,
    epoch: Instant,
}

/// Sends due within one grain share a wake-up. Each wake-up of an idle thread costs
/// 30-40 µs of CPU on a virtual machine (measured: a wake-up per send took the open
/// model from 16.5 to 46 µs of CPU per request at 20,000 requests/s); at 500 µs it is
/// 22-23 µs with sends at most 0.5 ms late (median lag 0.35 ms against 1.12 ms with
/// tokio's timer). docs/BENCHMARKS.md, "Open-model send times".
const GRAIN: std::time::Duration = std::time::Duration::from_micros(500);

impl Pacer {
    /// A pacer on a kernel timer watched by this thread's runtime (call it on the
    /// runtime); on a system without `timerfd` (or when it cannot be made) the sleeps
    /// fall back to tokio's millisecond timer.
    pub fn for_this_thread() -> Pacer {
        Pacer {
            waiting: RefCell::new(DeadlineQueue::default()),
            armed: Cell::new(None),
            rearm: tokio::sync::Notify::new(),
            timer: timer::TimerFd::new().ok(),
            epoch: Instant::now(),
        }
    }

    /// Return at the end of `at`'s grain (as the kernel's timer allows), never before `at`.
    pub async fn sleep_until(&self, at: Instant) {
        if self.timer.is_none() {
            return tokio::time::sleep_until(at).await;
        }
        let mut registered = false;
        poll_fn(|cx| {
            if Instant::now() >= at {
                return Poll::Ready(());
            }
            // Once registered, `drive` wakes this send when it is due; a poll before
            // then (a spurious wake) needs no second entry.
            if !registered {
                registered = true;
                self.waiting
                    .borrow_mut()
                    .push(at.into_std(), cx.waker().clone());
                // A send in the armed grain is woken with it: no re-arm.
                if self
                    .armed
                    .get()
                    .is_none_or(|armed| self.grain_end(at) < armed)
                {
                    self.rearm.notify_one();
                }
            }
            Poll::Pending
        })
        .await
    }

    /// The end of the grain holding `at` (counted from the pacer's start).
    fn grain_end(&self, at: Instant) -> Instant {
        let grain = GRAIN.as_nanos();
        let since = at.saturating_duration_since(self.epoch).as_nanos();
        let end = since.div_ceil(grain) * grain;
        self.epoch + std::time::Duration::from_nanos(u64::try_from(end).unwrap_or(u64::MAX))
    }

    /// Wake every send that is due, arm the timer to the next one, wait; for the whole
    /// run. Needs the thread's tokio runtime (its reactor watches the timer).
    pub async fn drive(&self) {
        let Some(timer) = &self.timer else {
            return;
        };
        loop {
            let now = Instant::now();
            let next = {
                let mut waiting = self.waiting.borrow_mut();
                while let Some(due) = waiting.pop_due(now.into_std()) {
                    due.wake();
                }
                waiting.next_at().map(Instant::from_std)
            };
            match next {
                None => {
                    self.armed.set(None);
                    self.rearm.notified().await;
                }
                Some(at) => {
                    let at = self.grain_end(at);
                    self.armed.set(Some(at));
                    if timer.arm(at - now).is_err() {
                        // The kernel refused the timer: fall back to tokio's for this one.
                        tokio::time::sleep_until(at).await;
                        continue;
                    }
                    tokio::select! {
                        _ = timer.fired() => {}
                        _ = self.rearm.notified() => {}
                    }
                }
            }
        }
    }
}

#[cfg(target_os = "linux")]
mod timer {
    use std::io;
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    use std::time::Duration;

    use tokio::io::unix::AsyncFd;
    use tokio::io::Interest;

    /// A one-shot monotonic timerfd, watched by the runtime's reactor.
    pub struct TimerFd(AsyncFd<OwnedFd>);

    impl TimerFd {
        pub fn new() -> io::Result<TimerFd> {
            // SAFETY: timerfd_create takes no pointers; a negative return is an error.
            let raw = unsafe {
                libc::timerfd_create(
                    libc::CLOCK_MONOTONIC,
                    libc::TFD_NONBLOCK | libc::TFD_CLOEXEC,
                )
            };
            if raw < 0 {
                return Err(io::Error::last_os_error());
            }
            // SAFETY: `raw` is a descriptor this process just opened and owns alone.
            let fd = unsafe { OwnedFd::from_raw_fd(raw) };
            crate::loadtest::idle_spin::watch(raw);
            // SAFETY: the AsyncFd owns `fd`, which stays open and the same until it drops.
            let watched = unsafe { AsyncFd::register_with_interest(fd, Interest::READABLE) };
            Ok(TimerFd(watched?))
        }

        /// Fire once, `after` from now (at least a nanosecond: zero would disarm it).
        pub fn arm(&self, after: Duration) -> io::Result<()> {
            let after = after.max(Duration::from_nanos(1));
            let spec = libc::itimerspec {
                it_interval: libc::timespec {
                    tv_sec: 0,
                    tv_nsec: 0,
                },
                it_value: libc::timespec {
                    tv_sec: after.as_secs().min(i32::MAX as u64) as libc::time_t,
                    tv_nsec: libc::c_long::from(after.subsec_nanos() as i32),
                },
            };
            // SAFETY: `spec` lives across the call; the old value is not asked for.
            let status = unsafe {
                libc::timerfd_settime(self.0.as_raw_fd(), 0, &spec, std::ptr::null_mut())
            };
            if status != 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        }

        /// Until the timer has fired (its expiry count read, so the next arm starts clean).
        pub async fn fired(&self) {
            loop {
                let Ok(mut guard) = self.0.readable().await else {
                    return;
                };
                let read = guard.try_io(|fd| {
                    let mut expirations = [0u8; 8];
                    // SAFETY: reads at most 8 bytes into the 8-byte buffer.
                    let n =
                        unsafe { libc::read(fd.as_raw_fd(), expirations.as_mut_ptr().cast(), 8) };
                    if n < 0 {
                        Err(io::Error::last_os_error())
                    } else {
                        Ok(())
                    }
                });
                match read {
                    Ok(_) => return,
                    // Readiness left from an earlier expiry: wait for this one.
                    Err(_would_block) => continue,
                }
            }
        }
    }
}

#[cfg(not(target_os = "linux"))]
mod timer {
    use std::io;
    use std::time::Duration;

    /// No timerfd here: the pacer falls back to tokio's timer.
    pub struct TimerFd;

    impl TimerFd {
        pub fn new() -> io::Result<TimerFd> {
            Err(io::Error::new(io::ErrorKind::Unsupported, "no timerfd"))
        }
        pub fn arm(&self, _after: Duration) -> io::Result<()> {
            Ok(())
        }
        pub async fn fired(&self) {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::rc::Rc;
    use std::time::Duration;

    fn on_local_runtime<F: std::future::Future>(future: F) -> F::Output {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        tokio::task::LocalSet::new().block_on(&runtime, future)
    }

    /// Sleeps at the given offsets (µs) on one pacer: which woke in what order, and how
    /// late each was.
    fn wake(offsets_us: &[u64]) -> Vec<(usize, Duration)> {
        on_local_runtime(async {
            let pacer = Rc::new(Pacer::for_this_thread());
            let driver = tokio::task::spawn_local({
                let pacer = Rc::clone(&pacer);
                async move { pacer.drive().await }
            });
            let start = Instant::now();
            let woke = Rc::new(RefCell::new(Vec::new()));
            let sleepers: Vec<_> = offsets_us
                .iter()
                .enumerate()
                .map(|(i, &us)| {
                    let (pacer, woke) = (Rc::clone(&pacer), Rc::clone(&woke));
                    let at = start + Duration::from_micros(us);
                    tokio::task::spawn_local(async move {
                        pacer.sleep_until(at).await;
                        let now = Instant::now();
                        assert!(now >= at, "woke early");
                        woke.borrow_mut().push((i, now - at));
                    })
                })
                .collect();
            for sleeper in sleepers {
                tokio::time::timeout(Duration::from_secs(5), sleeper)
                    .await
                    .expect("every sleeper wakes")
                    .unwrap();
            }
            driver.abort();
            Rc::try_unwrap(woke).unwrap().into_inner()
        })
    }

    #[test]
    fn sends_wake_at_their_time_in_order_and_never_early() {
        // Registered out of order; one due at once; two due at the same time.
        let offsets_us = [3_000u64, 500, 0, 1_700, 1_700, 250];
        let mut medians_ms = Vec::new();
        // tokio's timer wakes 0-2 ms late (median about 1 ms); the pacer by at most its
        // 0.5 ms grain and the kernel's 50 µs slack (here a median of 0.25 ms plus the
        // wake-up). A busy machine can delay one trial's thread: up to five trials.
        for _ in 0..5 {
            let woke = wake(&offsets_us);
            let times: Vec<u64> = woke.iter().map(|w| offsets_us[w.0]).collect();
            let mut in_order = times.clone();
            in_order.sort();
            assert_eq!(times, in_order, "{woke:?}");
            let mut late_ms: Vec<f64> = woke.iter().map(|w| w.1.as_secs_f64() * 1e3).collect();
            late_ms.sort_by(f64::total_cmp);
            medians_ms.push(late_ms[late_ms.len() / 2]);
            if medians_ms.last() < Some(&0.6) {
                return;
            }
        }
        panic!("median lateness of each trial (ms): {medians_ms:?}");
    }

    #[test]
    fn an_earlier_send_rearms_the_timer() {
        on_local_runtime(async {
            let pacer = Rc::new(Pacer::for_this_thread());
            let driver = tokio::task::spawn_local({
                let pacer = Rc::clone(&pacer);
                async move { pacer.drive().await }
            });
            let start = Instant::now();
            let late = {
                let pacer = Rc::clone(&pacer);
                tokio::task::spawn_local(async move {
                    pacer.sleep_until(start + Duration::from_secs(30)).await;
                })
            };
            // Let the driver arm for 30 s, then ask for 2 ms.
            tokio::task::yield_now().await;
            tokio::task::yield_now().await;
            let soon = start + Duration::from_millis(2);
            tokio::time::timeout(Duration::from_secs(5), pacer.sleep_until(soon))
                .await
                .expect("the earlier send is not held behind the 30 s one");
            assert!(Instant::now() >= soon);
            late.abort();
            driver.abort();
        });
    }
}
