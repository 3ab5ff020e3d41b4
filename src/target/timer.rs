//! A sub-millisecond timer for service times.
//!
//! Tokio's timer wheel has 1 ms ticks and rounds deadlines up, so a 20 ms
//! sleep answers after 21-22 ms: the unloaded latency of a 20 ms target would
//! be 10 % high. One thread waiting on a condition variable (a futex with a
//! nanosecond timeout, ~50-100 µs late on Linux) wakes sleepers close to their
//! deadline instead. It costs a lock and a wake-up per request, which is
//! nothing at the few thousand requests per second the target is for.
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::Instant;

use tokio::sync::oneshot;

use crate::deadline_queue::DeadlineQueue;

#[derive(Default)]
struct Queue {
    wakes: DeadlineQueue<oneshot::Sender<()>>,
    closed: bool,
}

#[derive(Default)]
struct Shared {
    queue: Mutex<Queue>,
    changed: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Handle to the timer thread; the thread ends when this is dropped.
pub struct PreciseTimer {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for PreciseTimer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PreciseTimer")
    }
}

impl PreciseTimer {
    pub fn start() -> std::io::Result<Self> {
        let shared = Arc::new(Shared::default());
        let worker = Arc::clone(&shared);
        thread::Builder::new()
            .name("target-timer".into())
            .spawn(move || run(&worker))?;
        Ok(PreciseTimer { shared })
    }

    /// Resolve at `deadline` (at once if it has passed).
    pub async fn sleep_until(&self, deadline: Instant) {
        if deadline <= Instant::now() {
            return;
        }
        let (wake, woken) = oneshot::channel();
        {
            let mut queue = self.shared.lock();
            let earliest = queue.wakes.next_at().is_none_or(|first| deadline < first);
            queue.wakes.push(deadline, wake);
            if earliest {
                self.shared.changed.notify_one();
            }
        }
        // An error means the timer is shutting down: stop waiting.
        let _ = woken.await;
    }
}

impl Drop for PreciseTimer {
    fn drop(&mut self) {
        self.shared.lock().closed = true;
        self.shared.changed.notify_one();
    }
}

/// The timer thread: wake every due sleeper, then wait for the next deadline.
fn run(shared: &Shared) {
    let mut queue = shared.lock();
    loop {
        if queue.closed {
            return;
        }
        let now = Instant::now();
        while let Some(wake) = queue.wakes.pop_due(now) {
            // The sleeper may be gone (client hung up): nothing to do.
            let _ = wake.send(());
        }
        queue = match queue.wakes.next_at() {
            Some(first) => {
                let wait = first.saturating_duration_since(now);
                shared
                    .changed
                    .wait_timeout(queue, wait)
                    .unwrap_or_else(PoisonError::into_inner)
                    .0
            }
            None => shared
                .changed
                .wait(queue)
                .unwrap_or_else(PoisonError::into_inner),
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn wakes_close_to_the_deadline_in_order() {
        let timer = Arc::new(PreciseTimer::start().unwrap());
        let start = Instant::now();
        let sleepers: Vec<_> = [30u64, 10, 20]
            .into_iter()
            .map(|ms| {
                let timer = Arc::clone(&timer);
                let deadline = start + Duration::from_millis(ms);
                tokio::spawn(async move {
                    timer.sleep_until(deadline).await;
                    let now = Instant::now();
                    (now >= deadline, now.saturating_duration_since(deadline))
                })
            })
            .collect();
        for sleeper in sleepers {
            let (not_early, late) = sleeper.await.unwrap();
            assert!(not_early, "woke before the deadline");
            // Late only by scheduling noise (generous for a busy CI machine).
            assert!(late < Duration::from_millis(15), "late by {late:?}");
        }
    }

    #[tokio::test]
    async fn past_deadline_returns_at_once() {
        let timer = PreciseTimer::start().unwrap();
        let asked = Instant::now();
        let deadline = asked - Duration::from_millis(5);
        // A bound, so a timer that never wakes fails the test instead of hanging it.
        tokio::time::timeout(Duration::from_secs(2), timer.sleep_until(deadline))
            .await
            .expect("sleep_until on a past deadline did not return within 2 s");
        let took = asked.elapsed();
        assert!(took < Duration::from_millis(50), "took {took:?}");
    }
}
