//! One lock per test binary over the machine: tests whose figures depend on timing
//! (counts from an open model, latency, a slowloris deadline) take it `alone`; the
//! others take it `shared`, so they run in parallel with each other but never with
//! a timing test. Each test holds its guard from its first line to its end; taken
//! before anything is spawned, it cannot deadlock.
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

static MACHINE: RwLock<()> = RwLock::new(());

/// For a test whose result depends on timing: nothing else in this binary runs.
pub fn alone() -> RwLockWriteGuard<'static, ()> {
    MACHINE.write().unwrap_or_else(|e| e.into_inner())
}

/// For a test that may share the machine with other shared tests.
pub fn shared() -> RwLockReadGuard<'static, ()> {
    MACHINE.read().unwrap_or_else(|e| e.into_inner())
}
