//! The worker pool: N sync workers (like Gunicorn's), a FIFO wait queue bounded
//! by the backlog, and a virtual clock per worker.
//!
//! Why the virtual clock: tokio timers have 1 ms granularity and round up, so a
//! worker that simply slept 20 ms per request would really take 21-22 ms and
//! lose 5-10 % of its throughput. Instead each worker remembers when its
//! previous request *should* have ended; the next request starts at
//! `max(arrival, that end)` and the caller sleeps until `start + service`.
//! Wake-up slop then delays one response a little but never accumulates.
//! The pool itself never sleeps and reads no clock: instants come from the caller.
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;

/// N workers and the queue in front of them.
#[derive(Debug)]
pub struct WorkerPool {
    /// One permit per idle worker; tokio's semaphore serves waiters FIFO.
    permits: Semaphore,
    /// Virtual end of the last request of each idle worker.
    idle_since: Mutex<Vec<Instant>>,
    /// Requests in the system: in service plus waiting.
    in_system: AtomicUsize,
    /// Workers plus backlog: more requests than this are refused.
    capacity: usize,
}

impl WorkerPool {
    /// `now` is the virtual clock every worker starts idle from.
    pub fn new(workers: usize, backlog: usize, now: Instant) -> Self {
        WorkerPool {
            permits: Semaphore::new(workers),
            idle_since: Mutex::new(vec![now; workers]),
            in_system: AtomicUsize::new(0),
            capacity: workers + backlog,
        }
    }

    /// Wait (FIFO) for a worker for a request that arrived at `arrival`.
    /// `None` when the backlog is full: the caller answers 503 at once.
    pub async fn acquire(self: &Arc<Self>, arrival: Instant) -> Option<Worker> {
        // The ticket counts this request until it leaves, even if the client
        // goes away while it waits (its future is then dropped).
        let ticket = Ticket(Arc::clone(self));
        if self.in_system.fetch_add(1, Ordering::AcqRel) >= self.capacity {
            return None;
        }
        let permit = self
            .permits
            .acquire()
            .await
            .expect("the worker semaphore is never closed");
        // Given back by hand in `Worker::drop`, after the clock is returned.
        permit.forget();
        let free_at = self
            .idle_since
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop()
            .expect("one idle clock per permit");
        let start = arrival.max(free_at);
        Some(Worker {
            ticket,
            start,
            busy_until: start,
        })
    }
}

/// Keeps a request counted in `in_system` while it lives.
#[derive(Debug)]
struct Ticket(Arc<WorkerPool>);

impl Drop for Ticket {
    fn drop(&mut self) {
        self.0.in_system.fetch_sub(1, Ordering::AcqRel);
    }
}

/// One worker, held by one request.
#[derive(Debug)]
pub struct Worker {
    ticket: Ticket,
    /// When this request's service starts on the worker's virtual clock.
    start: Instant,
    /// Virtual end of the service; handed to the next request on this worker.
    busy_until: Instant,
}

impl Worker {
    /// Occupy the worker for `service` from its virtual start; returns the
    /// instant to sleep until before answering (and releasing the worker).
    pub fn occupy(&mut self, service: Duration) -> Instant {
        self.busy_until = self.start + service;
        self.busy_until
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        // If the client left mid-service, the virtual end still stands: a sync
        // worker finishes its request anyway, so the next one starts after it.
        let pool = &self.ticket.0;
        pool.idle_since
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(self.busy_until);
        pool.permits.add_permits(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[tokio::test]
    async fn refuses_beyond_workers_plus_backlog() {
        let now = Instant::now();
        let pool = Arc::new(WorkerPool::new(1, 2, now));
        let held = pool.acquire(now).await.expect("a worker is free");
        // Two may wait, the third is refused.
        let waiting: Vec<_> = (0..2)
            .map(|_| {
                let pool = Arc::clone(&pool);
                tokio::spawn(async move { pool.acquire(now).await.is_some() })
            })
            .collect();
        while pool.in_system.load(Ordering::Acquire) < 3 {
            tokio::task::yield_now().await;
        }
        assert!(pool.acquire(now).await.is_none());
        drop(held);
        for task in waiting {
            // Each waiter gets the worker once the previous one is dropped.
            assert!(task.await.unwrap());
        }
        assert_eq!(pool.in_system.load(Ordering::Acquire), 0);
    }

    #[tokio::test]
    async fn queued_work_follows_the_virtual_clock() {
        // One worker, 20 ms each, all requests queued at t0: the k-th ends at
        // exactly t0 + 20 ms * k, however late each release really happens.
        let t0 = Instant::now();
        let pool = Arc::new(WorkerPool::new(1, 100, t0));
        let mut end = t0;
        for _ in 0..50 {
            let mut worker = pool.acquire(t0).await.unwrap();
            end = worker.occupy(20 * MS);
        }
        assert_eq!(end - t0, 1000 * MS);
    }

    #[tokio::test]
    async fn idle_worker_starts_at_arrival() {
        let t0 = Instant::now();
        let pool = Arc::new(WorkerPool::new(2, 0, t0));
        let arrival = t0 + 1000 * MS;
        let mut worker = pool.acquire(arrival).await.unwrap();
        assert_eq!(worker.occupy(20 * MS), arrival + 20 * MS);
    }

    #[tokio::test]
    async fn abandoned_service_still_occupies_the_worker() {
        // A client that hangs up mid-service does not free the worker early.
        let t0 = Instant::now();
        let pool = Arc::new(WorkerPool::new(1, 0, t0));
        let mut first = pool.acquire(t0).await.unwrap();
        first.occupy(50 * MS);
        drop(first);
        let mut next = pool.acquire(t0 + MS).await.unwrap();
        assert_eq!(next.occupy(10 * MS), t0 + 60 * MS);
    }
}
