//! How the suite's tests share the machine (tests/suite/ is one binary whose tests run
//! in parallel). Each test takes one of three guards in its first line and holds it to
//! its end (tests/suite/suite_rules.rs checks that every test does):
//!
//! - [`shared()`]: a test whose result does not depend on timing. Up to
//!   [`SHARED_AT_ONCE`] run at once, at the lowest CPU priority (`SCHED_IDLE`, which
//!   every process the test starts inherits): the kernel hands a core to any other
//!   task the moment it wakes, so they use only what the timing tests leave.
//! - [`timing(cpu, seconds)`](timing): a test whose figures depend on timing (counts
//!   from an open model, latency, a slowloris deadline) but which mostly waits on a
//!   server's sleeps; `cpu` is the CPU it uses (the test and what it starts) in percent
//!   of one core and `seconds` how long it takes, both measured (docs/BENCHMARKS.md,
//!   "Test suite time"). It runs beside the shared tests and beside other such tests
//!   while their CPU together stays within one core: half of a 2-core machine is then
//!   free of normal-priority work, so a timing test that wakes finds a core at once.
//!   The longest go first (a test waits while a longer one waiting would fit), so that
//!   the suite is not left waiting on one long test at its end.
//! - [`alone()`]: a timing test that needs the cores themselves (it sends as fast as a
//!   process can, or checks sub-millisecond send times): nothing else runs.
//!
//! A guard is taken before anything is spawned (a shared test's tokio runtime is
//! `current_thread`, so nothing runs outside its thread), and a test takes one only
//! (suite_rules.rs), so waiting for one cannot deadlock. The tests waiting hold
//! libtest's threads, hence the many threads (main.rs). Nothing gives way to a waiting
//! `alone()` test: those run when the others are done.
//!
//! With `CAPPLAN_SUITE_TIMES=FILE` each test appends how long it held its guard
//! (scripts/suite_times.sh).
use std::io::Write;
use std::sync::{Condvar, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::{Duration, Instant};

/// Shared tests at once: they wait on servers and processes more than they compute.
pub const SHARED_AT_ONCE: usize = 4;
/// The CPU the `timing` tests may use together, percent of one core.
const TIMING_CPU_BUDGET: u32 = 100;

/// libtest starts the tests at once (main.rs), the longest timing test not always
/// first: for this long after the first guard is asked for, no timing test takes one,
/// so that every timing test is waiting when the first does.
const GATHERING: Duration = Duration::from_millis(500);

struct Holders {
    shared: usize,
    /// What the running timing tests declared together (0: none runs; each declares 1 or more).
    timing_cpu: u32,
    alone: bool,
    /// The timing tests waiting: (CPU, seconds) each.
    waiting: Vec<(u32, u32)>,
}

static HOLDERS: Mutex<Holders> = Mutex::new(Holders {
    shared: 0,
    timing_cpu: 0,
    alone: false,
    waiting: Vec::new(),
});
/// When the first guard was asked for.
static FIRST_ASKED: OnceLock<Instant> = OnceLock::new();
static CHANGED: Condvar = Condvar::new();

fn holders() -> MutexGuard<'static, Holders> {
    HOLDERS.lock().unwrap_or_else(PoisonError::into_inner)
}

thread_local! {
    /// Whether this test's thread holds a guard: a second one could wait forever for
    /// a place its own first guard takes.
    static HOLDS_ONE: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Wait until `free` holds, then `take`; `from` is when waiting may end at the earliest.
fn acquire(from: Instant, free: impl Fn(&Holders) -> bool, take: impl FnOnce(&mut Holders)) {
    let mut now = holders();
    loop {
        let early = from.saturating_duration_since(Instant::now());
        if early.is_zero() && free(&now) {
            break;
        }
        now = if early.is_zero() {
            CHANGED.wait(now).unwrap_or_else(PoisonError::into_inner)
        } else {
            CHANGED
                .wait_timeout(now, early)
                .unwrap_or_else(PoisonError::into_inner)
                .0
        };
    }
    take(&mut now);
}

/// When the first guard was asked for (now, if this is the first); panics if this
/// test already holds one.
fn first_asked() -> Instant {
    assert!(
        !HOLDS_ONE.replace(true),
        "this test already holds a machine guard"
    );
    *FIRST_ASKED.get_or_init(Instant::now)
}

fn release(give_back: impl FnOnce(&mut Holders)) {
    HOLDS_ONE.set(false);
    give_back(&mut holders());
    CHANGED.notify_all();
}

/// Held by a timing test; records its time on drop (see the module's doc).
pub struct Timing {
    /// The CPU it declared; `None` for `alone()`.
    cpu: Option<u32>,
    since: Instant,
}

impl Drop for Timing {
    fn drop(&mut self) {
        let kind = match self.cpu {
            Some(cpu) => {
                release(|h| h.timing_cpu -= cpu);
                format!("timing({cpu})")
            }
            None => {
                release(|h| h.alone = false);
                "alone".to_string()
            }
        };
        record(&kind, self.since);
    }
}

/// With `CAPPLAN_SUITE_TIMES=FILE`, append how long this test held its guard and which
/// (libtest's own times count the wait for it too).
fn record(kind: &str, since: Instant) {
    let Some(path) = std::env::var_os("CAPPLAN_SUITE_TIMES") else {
        return;
    };
    let name = std::thread::current().name().unwrap_or("?").to_string();
    if let Ok(mut file) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
    {
        // One write, so that tests ending together never interleave their lines.
        let line = format!("{:.1} {kind} {name}\n", since.elapsed().as_secs_f64());
        let _ = file.write_all(line.as_bytes());
    }
}

/// For a timing test that needs the cores: nothing else in the suite runs.
pub fn alone() -> Timing {
    acquire(
        first_asked(),
        |h| !h.alone && h.shared == 0 && h.timing_cpu == 0 && h.waiting.is_empty(),
        |h| h.alone = true,
    );
    Timing {
        cpu: None,
        since: Instant::now(),
    }
}

/// For a timing test that uses `cpu` percent of one core for about `seconds` (see the
/// module's doc).
pub fn timing(cpu: u32, seconds: u32) -> Timing {
    assert!(
        (1..=TIMING_CPU_BUDGET).contains(&cpu),
        "a test using {cpu}% of a core takes alone()"
    );
    let from = first_asked() + GATHERING;
    holders().waiting.push((cpu, seconds));
    let fits = move |h: &Holders, cpu: u32| !h.alone && h.timing_cpu + cpu <= TIMING_CPU_BUDGET;
    acquire(
        from,
        |h| {
            fits(h, cpu)
                && !h
                    .waiting
                    .iter()
                    .any(|&(other, longer)| longer > seconds && fits(h, other))
        },
        |h| {
            let mine = h.waiting.iter().position(|&w| w == (cpu, seconds));
            h.waiting.swap_remove(mine.expect("registered above"));
            h.timing_cpu += cpu;
        },
    );
    Timing {
        cpu: Some(cpu),
        since: Instant::now(),
    }
}

/// Held by a shared test.
pub struct Shared {
    since: Instant,
}

impl Drop for Shared {
    fn drop(&mut self) {
        release(|h| h.shared -= 1);
        record("shared", self.since);
    }
}

/// For a test whose result does not depend on timing (see the module's doc).
pub fn shared() -> Shared {
    acquire(
        first_asked(),
        |h| !h.alone && h.shared < SHARED_AT_ONCE,
        |h| h.shared += 1,
    );
    // Held from here, so that a failure below gives the place back.
    let guard = Shared {
        since: Instant::now(),
    };
    // This thread (libtest runs each test on its own) and every process it starts.
    // Unprivileged processes may lower their policy to SCHED_IDLE (sched(7)).
    let lowest = libc::sched_param { sched_priority: 0 };
    // SAFETY: sched_setscheduler reads the parameter struct we pass; pid 0 is this thread.
    let status = unsafe { libc::sched_setscheduler(0, libc::SCHED_IDLE, &lowest) };
    assert_eq!(status, 0, "SCHED_IDLE: {}", std::io::Error::last_os_error());
    guard
}
