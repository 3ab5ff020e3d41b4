//! Recording on the hot path: one histogram set per generator thread, handed to the
//! aggregator once a second. Memory is fixed by the number of endpoints, not the run length.
use std::collections::HashMap;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

use crate::loadtest::client::Failure;
use crate::loadtest::connector::{Negotiated, OpenInfo};

/// Latencies are recorded in microseconds, 1 µs .. 60 s, 3 significant digits.
pub const LOWEST_US: u64 = 1;
pub const HIGHEST_US: u64 = 60_000_000;
pub const SIGFIG: u8 = 3;

/// A histogram with capplan's bounds.
pub fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(LOWEST_US, HIGHEST_US, SIGFIG).expect("constant bounds are valid")
}

/// Microseconds, clamped into the histogram's range.
pub fn micros(d: Duration) -> u64 {
    (d.as_micros() as u64).clamp(LOWEST_US, HIGHEST_US)
}

/// What one endpoint saw during one interval.
#[derive(Debug, Clone)]
pub struct EndpointInterval {
    /// Latency of every request (successes and failures, as Locust counts them), µs.
    /// In the open model this is measured from the intended send time.
    pub latency: Histogram<u64>,
    /// Open model only: time from the actual send to the response, µs.
    pub service: Histogram<u64>,
    pub requests: u64,
    pub failures: u64,
    /// Bytes of response bodies, for Locust's "Average Content Size".
    pub content_bytes: u64,
}

impl EndpointInterval {
    pub fn new() -> Self {
        EndpointInterval {
            latency: new_histogram(),
            service: new_histogram(),
            requests: 0,
            failures: 0,
            content_bytes: 0,
        }
    }

    /// Add another interval into this one.
    pub fn merge(&mut self, other: &EndpointInterval) {
        self.latency
            .add(&other.latency)
            .expect("histograms share bounds");
        self.service
            .add(&other.service)
            .expect("histograms share bounds");
        self.requests += other.requests;
        self.failures += other.failures;
        self.content_bytes += other.content_bytes;
    }

    pub fn reset(&mut self) {
        self.latency.reset();
        self.service.reset();
        self.requests = 0;
        self.failures = 0;
        self.content_bytes = 0;
    }
}

impl Default for EndpointInterval {
    fn default() -> Self {
        Self::new()
    }
}

/// Open-model schedule keeping: did sends leave when they were meant to?
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Pacing {
    /// Sends made (each had an intended time).
    pub sent: u64,
    /// Sends that left more than the tolerance after their intended time.
    pub late: u64,
    /// Late sends whose connection was still busy when they fell due; the others
    /// had an idle connection waiting and left late because the thread woke late.
    pub late_connection_busy: u64,
    /// Largest lateness seen, µs.
    pub max_late_us: u64,
    /// Intended sends that were due before the stop but never left (all connections busy).
    pub backlog: u64,
}

impl Pacing {
    pub fn merge(&mut self, other: &Pacing) {
        self.sent += other.sent;
        self.late += other.late;
        self.late_connection_busy += other.late_connection_busy;
        self.max_late_us = self.max_late_us.max(other.max_late_us);
        self.backlog += other.backlog;
    }

    /// Sends due before the stop.
    pub fn due(&self) -> u64 {
        self.sent + self.backlog
    }

    /// Fraction of due sends that left on time (1.0 = the rate was kept).
    pub fn on_time_fraction(&self) -> f64 {
        if self.due() == 0 {
            return 1.0;
        }
        (self.sent - self.late) as f64 / self.due() as f64
    }
}

/// The connections opened in an interval: what opening them cost and what they spoke.
#[derive(Debug, Clone)]
pub struct ConnectionStats {
    pub opened: u64,
    /// TLS sessions resumed (abbreviated handshakes).
    pub resumed: u64,
    /// TCP connect time, µs.
    pub connect: Histogram<u64>,
    /// TLS handshake time after the connect, µs.
    pub tls_handshake: Histogram<u64>,
    /// Connections by what they negotiated; almost always one entry, so a list.
    pub negotiated: Vec<(Negotiated, u64)>,
}

impl ConnectionStats {
    pub fn new() -> Self {
        ConnectionStats {
            opened: 0,
            resumed: 0,
            connect: new_histogram(),
            tls_handshake: new_histogram(),
            negotiated: Vec::new(),
        }
    }

    pub fn record(&mut self, open: &OpenInfo) {
        self.opened += 1;
        self.resumed += u64::from(open.resumed);
        self.connect.saturating_record(micros(open.connect));
        if let Some(handshake) = open.tls_handshake {
            self.tls_handshake.saturating_record(micros(handshake));
        }
        self.count(open.negotiated, 1);
    }

    fn count(&mut self, negotiated: Negotiated, n: u64) {
        match self
            .negotiated
            .iter_mut()
            .find(|(seen, _)| *seen == negotiated)
        {
            Some((_, count)) => *count += n,
            None => self.negotiated.push((negotiated, n)),
        }
    }

    pub fn merge(&mut self, other: &ConnectionStats) {
        self.opened += other.opened;
        self.resumed += other.resumed;
        self.connect
            .add(&other.connect)
            .expect("histograms share bounds");
        self.tls_handshake
            .add(&other.tls_handshake)
            .expect("histograms share bounds");
        for (negotiated, n) in &other.negotiated {
            self.count(*negotiated, *n);
        }
    }

    pub fn reset(&mut self) {
        self.opened = 0;
        self.resumed = 0;
        self.connect.reset();
        self.tls_handshake.reset();
        self.negotiated.clear();
    }
}

impl Default for ConnectionStats {
    fn default() -> Self {
        Self::new()
    }
}

/// How often one failure (endpoint and kind) happened, and when it first and last did:
/// the moments the failed requests ended (monotonic; the aggregator's caller turns
/// them into wall-clock time).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FailureSeen {
    pub count: u64,
    pub first: Instant,
    pub last: Instant,
}

impl FailureSeen {
    fn once(at: Instant) -> FailureSeen {
        FailureSeen {
            count: 1,
            first: at,
            last: at,
        }
    }

    fn merge(&mut self, other: &FailureSeen) {
        self.count += other.count;
        self.first = self.first.min(other.first);
        self.last = self.last.max(other.last);
    }
}

/// Everything one thread recorded in one interval.
#[derive(Debug, Clone)]
pub struct Interval {
    pub endpoints: Vec<EndpointInterval>,
    /// Failures by (stats slot, kind).
    pub failures: HashMap<(usize, Failure), FailureSeen>,
    pub pacing: Pacing,
    pub connections: ConnectionStats,
}

impl Interval {
    pub fn new(endpoints: usize) -> Self {
        Interval {
            endpoints: (0..endpoints).map(|_| EndpointInterval::new()).collect(),
            failures: HashMap::new(),
            pacing: Pacing::default(),
            connections: ConnectionStats::new(),
        }
    }

    pub fn merge(&mut self, other: &Interval) {
        for (mine, theirs) in self.endpoints.iter_mut().zip(&other.endpoints) {
            mine.merge(theirs);
        }
        for (key, seen) in &other.failures {
            match self.failures.get_mut(key) {
                Some(mine) => mine.merge(seen),
                None => {
                    self.failures.insert(key.clone(), *seen);
                }
            }
        }
        self.pacing.merge(&other.pacing);
        self.connections.merge(&other.connections);
    }

    pub fn reset(&mut self) {
        self.endpoints.iter_mut().for_each(EndpointInterval::reset);
        self.failures.clear();
        self.pacing = Pacing::default();
        self.connections.reset();
    }

    pub fn requests(&self) -> u64 {
        self.endpoints.iter().map(|e| e.requests).sum()
    }

    pub fn failures(&self) -> u64 {
        self.endpoints.iter().map(|e| e.failures).sum()
    }

    /// Record one finished request; `ended` is when it ended (only read for a failure).
    pub fn record(
        &mut self,
        stats_id: usize,
        ended: Instant,
        latency: Duration,
        outcome: Result<u64, Failure>,
    ) {
        let slot = &mut self.endpoints[stats_id];
        slot.requests += 1;
        slot.latency.saturating_record(micros(latency));
        match outcome {
            Ok(bytes) => slot.content_bytes += bytes,
            Err(failure) => {
                slot.failures += 1;
                self.failures
                    .entry((stats_id, failure))
                    .and_modify(|seen| {
                        seen.count += 1;
                        seen.first = seen.first.min(ended);
                        seen.last = seen.last.max(ended);
                    })
                    .or_insert_with(|| FailureSeen::once(ended));
            }
        }
    }

    /// Open model: a send left `lateness` after its intended time;
    /// `connection_was_busy`: it was already due when its connection came free.
    pub fn record_send(
        &mut self,
        lateness: Duration,
        tolerance: Duration,
        connection_was_busy: bool,
    ) {
        self.pacing.sent += 1;
        if lateness > tolerance {
            self.pacing.late += 1;
            self.pacing.late_connection_busy += u64::from(connection_was_busy);
        }
        self.pacing.max_late_us = self.pacing.max_late_us.max(lateness.as_micros() as u64);
    }

    /// Open model: a send due before the end that never left, charged as a failure
    /// at the end (`deadline`) with its latency from the intended time to the end.
    pub fn record_unsent(&mut self, stats_id: usize, deadline: Instant, latency: Duration) {
        self.pacing.backlog += 1;
        self.record(stats_id, deadline, latency, Err(Failure::Unsent));
    }

    /// Open model: service time of a finished request, from its actual send.
    pub fn record_service(&mut self, stats_id: usize, service: Duration) {
        self.endpoints[stats_id]
            .service
            .saturating_record(micros(service));
    }
}
