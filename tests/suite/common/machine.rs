//! One lock over the machine for the whole suite (tests/suite/ is one binary whose
//! tests run in parallel): tests whose figures depend on timing (counts from an open
//! model, latency, a slowloris deadline) take it `alone`; every other test takes it
//! `shared`, so they run in parallel with each other but never with a timing test
//! (tests/suite/suite_rules.rs checks that every test takes one or the other). Each
//! test holds its guard from its first line to its end; taken before anything is
//! spawned, it cannot deadlock.
//!
//! With `CAPPLAN_SUITE_TIMES=FILE` each `alone` test appends how long it held the
//! machine (scripts/suite_times.sh: their sum is the floor of the suite's time).
use std::io::Write;
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Instant;

static MACHINE: RwLock<()> = RwLock::new(());

/// The machine to one test; dropped at the test's end.
pub struct Alone {
    _guard: RwLockWriteGuard<'static, ()>,
    since: Instant,
}

impl Drop for Alone {
    fn drop(&mut self) {
        let Some(path) = std::env::var_os("CAPPLAN_SUITE_TIMES") else {
            return;
        };
        let name = std::thread::current().name().unwrap_or("?").to_string();
        if let Ok(mut file) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
        {
            let _ = writeln!(file, "{:.1} {name}", self.since.elapsed().as_secs_f64());
        }
    }
}

/// For a test whose result depends on timing: nothing else in the suite runs.
pub fn alone() -> Alone {
    Alone {
        _guard: MACHINE.write().unwrap_or_else(|e| e.into_inner()),
        since: Instant::now(),
    }
}

/// For a test that may share the machine with other shared tests.
pub fn shared() -> RwLockReadGuard<'static, ()> {
    MACHINE.read().unwrap_or_else(|e| e.into_inner())
}
