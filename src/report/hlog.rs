//! HdrHistogram V2 interval logs (`.hlog`), one compressed histogram per second.
//! Values are microseconds; the max column is divided by 1000 so it reads in ms.
use std::io::Write;
use std::time::{Duration, SystemTime};

use hdrhistogram::serialization::interval_log::{IntervalLogWriter, IntervalLogWriterBuilder};
use hdrhistogram::serialization::V2DeflateSerializer;
use hdrhistogram::Histogram;

use crate::loadtest::aggregator::FinishedSecond;
use crate::loadtest::run::Observer;

/// The log written as the run goes, one interval a second: the command owns the
/// file (and commits it); the writer borrows it for the run.
pub struct HlogObserver<'a, 'b, W: Write> {
    parts: Option<(&'a mut W, &'b mut V2DeflateSerializer)>,
    log: Option<IntervalLogWriter<'a, 'b, W, V2DeflateSerializer>>,
}

impl<'a, 'b, W: Write> HlogObserver<'a, 'b, W> {
    pub fn new(out: &'a mut W, serializer: &'b mut V2DeflateSerializer) -> Self {
        HlogObserver {
            parts: Some((out, serializer)),
            log: None,
        }
    }
}

impl<W: Write> Observer for HlogObserver<'_, '_, W> {
    /// The header needs the run's start time.
    fn started(&mut self, wall: SystemTime) -> anyhow::Result<()> {
        if let Some((out, serializer)) = self.parts.take() {
            self.log = Some(begin(out, serializer, wall)?);
        }
        Ok(())
    }

    fn second(&mut self, second: &FinishedSecond) -> anyhow::Result<()> {
        let Some(log) = self.log.as_mut() else {
            return Ok(());
        };
        // Second N (1-based) covers [N-1, N) since the start.
        let offset = Duration::from_secs(second.row.elapsed_s.saturating_sub(1));
        write_interval(log, &second.latency, offset, Duration::from_secs(1))
    }
}

/// Start a log on `out`: comment, StartTime and the legend.
pub fn begin<'a, 'b, W: Write>(
    out: &'a mut W,
    serializer: &'b mut V2DeflateSerializer,
    start: SystemTime,
) -> std::io::Result<IntervalLogWriter<'a, 'b, W, V2DeflateSerializer>> {
    IntervalLogWriterBuilder::new()
        .add_comment("capplan loadtest latency log; values in microseconds")
        .with_start_time(start)
        .with_max_value_divisor(1000.0)
        .begin_log_with(out, serializer)
}

/// Write one interval: `offset` since the start of the run.
pub fn write_interval<W: Write>(
    log: &mut IntervalLogWriter<'_, '_, W, V2DeflateSerializer>,
    histogram: &Histogram<u64>,
    offset: Duration,
    length: Duration,
) -> anyhow::Result<()> {
    log.write_histogram(histogram, offset, length, None)
        .map_err(|e| anyhow::anyhow!("cannot write the HdrHistogram log: {e:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use hdrhistogram::serialization::interval_log::{IntervalLogIterator, LogEntry};
    use hdrhistogram::serialization::Deserializer;

    #[test]
    fn intervals_round_trip_through_the_crate_reader() {
        let mut bytes = Vec::new();
        let mut serializer = V2DeflateSerializer::new();
        {
            let mut log = begin(&mut bytes, &mut serializer, SystemTime::UNIX_EPOCH).unwrap();
            for second in 0..3u64 {
                let mut h = crate::loadtest::recorder::new_histogram();
                h.record(1000 * (second + 1)).unwrap();
                write_interval(
                    &mut log,
                    &h,
                    Duration::from_secs(second),
                    Duration::from_secs(1),
                )
                .unwrap();
            }
        }
        let mut merged = crate::loadtest::recorder::new_histogram();
        let mut count = 0;
        for entry in IntervalLogIterator::new(&bytes) {
            if let Ok(LogEntry::Interval(interval)) = entry {
                let raw = base64_decode(interval.encoded_histogram());
                let h: Histogram<u64> = Deserializer::new()
                    .deserialize(&mut raw.as_slice())
                    .unwrap();
                merged.add(&h).unwrap();
                count += 1;
            }
        }
        assert_eq!(count, 3);
        assert_eq!(merged.len(), 3);
        assert_eq!(
            merged.highest_equivalent(merged.max()),
            merged.highest_equivalent(3000)
        );
    }

    fn base64_decode(text: &str) -> Vec<u8> {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD
            .decode(text)
            .unwrap()
    }
}
