//! The generator's own CPU use, to warn when the numbers measure capplan rather than the target.
use std::time::Duration;

/// CPU time (user + system) this process has used so far.
pub fn process_cpu_time() -> Duration {
    // SAFETY: getrusage only writes into the struct we pass; RUSAGE_SELF is always valid.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        if libc::getrusage(libc::RUSAGE_SELF, &mut usage) != 0 {
            return Duration::ZERO;
        }
        usage
    };
    let to_duration = |tv: libc::timeval| {
        Duration::from_secs(tv.tv_sec as u64) + Duration::from_micros(tv.tv_usec as u64)
    };
    to_duration(usage.ru_utime) + to_duration(usage.ru_stime)
}

/// CPU time of the calling thread (zero if the clock cannot be read): an idle spin's cost.
pub fn thread_cpu_time() -> Duration {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `now` lives across the call, which only writes it.
    if unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut now) } != 0 {
        return Duration::ZERO;
    }
    Duration::new(now.tv_sec as u64, now.tv_nsec as u32)
}

/// The process's CPU time less its idle spins (idle_spin.rs): what the load cost, so
/// that a thread spinning while it waits for answers is not reported as saturated.
pub fn working_cpu_time() -> Duration {
    process_cpu_time().saturating_sub(crate::loadtest::idle_spin::spun())
}

/// Percent of the generator threads' capacity used between two samples.
pub fn percent_of_threads(cpu_delta: Duration, wall_delta: Duration, threads: usize) -> f64 {
    let capacity = wall_delta.as_secs_f64() * threads.max(1) as f64;
    if capacity <= 0.0 {
        return 0.0;
    }
    100.0 * cpu_delta.as_secs_f64() / capacity
}

/// At or above this share of its threads' capacity, the generator is considered saturated.
pub const SATURATED_PERCENT: f64 = 90.0;

/// The report's warning when the generator was saturated in some seconds. `cores`:
/// the cores this process may use. When the threads already use them all, this
/// machine is the limit, and the way on is more machines: `--shard`.
pub fn saturation_warning(
    saturated_seconds: u64,
    total_seconds: usize,
    max_percent: f64,
    threads: usize,
    cores: usize,
) -> Option<String> {
    (saturated_seconds > 0).then(|| {
        let way_on = if threads >= cores {
            format!(
                "this machine is the limit (its {cores} core(s) all generate): split the load \
                 over several machines with --shard I/N and capplan merge (docs/loadtest.md, \
                 \"Distributed runs\")"
            )
        } else {
            format!("add --threads (up to this machine's {cores} cores) or shard the run (--shard I/N)")
        };
        format!(
            "the generator's CPU was saturated in {saturated_seconds} of {total_seconds} seconds \
             (max {max_percent:.0}% of {threads} thread(s)): these numbers may measure capplan rather \
             than the target; {way_on}"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warns_only_when_some_second_was_saturated() {
        assert_eq!(saturation_warning(0, 10, 85.0, 2, 2), None);
        let w = saturation_warning(3, 10, 97.0, 2, 8).unwrap();
        assert!(
            w.contains("saturated in 3 of 10 seconds (max 97% of 2 thread(s))"),
            "{w}"
        );
        assert!(
            w.contains("add --threads (up to this machine's 8 cores)"),
            "{w}"
        );
        // Every core already generates: one machine is the limit, shard the run.
        let w = saturation_warning(3, 10, 97.0, 4, 4).unwrap();
        assert!(
            w.contains("this machine is the limit") && w.contains("--shard I/N"),
            "{w}"
        );
    }

    #[test]
    fn percent_is_relative_to_threads() {
        let p = percent_of_threads(Duration::from_millis(900), Duration::from_secs(1), 1);
        assert!((p - 90.0).abs() < 1e-9);
        let p = percent_of_threads(Duration::from_millis(900), Duration::from_secs(1), 2);
        assert!((p - 45.0).abs() < 1e-9);
    }

    #[test]
    fn cpu_time_grows_with_work() {
        let before = process_cpu_time();
        // black_box on every step keeps the optimiser from folding the loop into a
        // closed form under --release, so this is real work (tens of ms).
        let mut x = 0u64;
        for i in 0..20_000_000u64 {
            x = x.wrapping_add(std::hint::black_box(i) * i);
        }
        std::hint::black_box(x);
        let used = process_cpu_time().saturating_sub(before);
        assert!(used >= Duration::from_millis(2), "used {used:?}");
    }
}
