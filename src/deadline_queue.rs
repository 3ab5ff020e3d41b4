//! Wake-ups ordered by deadline, then by arrival: the precise timers of the target's
//! service times (target/timer.rs) and of the load generator's sends
//! (loadtest/pacer.rs) each keep one.
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Instant;

struct Entry<T> {
    at: Instant,
    seq: u64,
    item: T,
}

impl<T> PartialEq for Entry<T> {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl<T> Eq for Entry<T> {}
impl<T> PartialOrd for Entry<T> {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl<T> Ord for Entry<T> {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.at, self.seq).cmp(&(other.at, other.seq))
    }
}

/// Items to hand out at their deadlines; equal deadlines in the order they came.
pub struct DeadlineQueue<T> {
    heap: BinaryHeap<Reverse<Entry<T>>>,
    next_seq: u64,
}

impl<T> Default for DeadlineQueue<T> {
    fn default() -> Self {
        DeadlineQueue {
            heap: BinaryHeap::new(),
            next_seq: 0,
        }
    }
}

impl<T> DeadlineQueue<T> {
    pub fn push(&mut self, at: Instant, item: T) {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.heap.push(Reverse(Entry { at, seq, item }));
    }

    /// The earliest deadline waiting, if any.
    pub fn next_at(&self) -> Option<Instant> {
        self.heap.peek().map(|Reverse(first)| first.at)
    }

    /// The earliest item if its deadline is at or before `now`.
    pub fn pop_due(&mut self, now: Instant) -> Option<T> {
        if self.next_at()? > now {
            return None;
        }
        self.heap.pop().map(|Reverse(due)| due.item)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn items_come_out_by_deadline_then_arrival_and_only_when_due() {
        let t0 = Instant::now();
        let at = |ms| t0 + Duration::from_millis(ms);
        let mut queue = DeadlineQueue::default();
        for (ms, name) in [(30, "c"), (10, "a"), (20, "b1"), (20, "b2")] {
            queue.push(at(ms), name);
        }
        assert_eq!(queue.next_at(), Some(at(10)));
        assert_eq!(queue.pop_due(at(9)), None);
        assert_eq!(queue.pop_due(at(10)), Some("a"));
        assert_eq!(queue.pop_due(at(25)), Some("b1"));
        assert_eq!(queue.pop_due(at(25)), Some("b2"));
        assert_eq!(queue.pop_due(at(25)), None);
        assert_eq!(queue.pop_due(at(30)), Some("c"));
        assert_eq!(queue.next_at(), None);
    }
}
