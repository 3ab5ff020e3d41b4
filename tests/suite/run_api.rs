//! The library's run loop, driven as load shapes and shard merging will drive it:
//! `Run::new(plan)?.drive(&mut [observers])` against the real `capplan target`.
use crate::common;

use std::time::{Duration, Instant, SystemTime};

use capplan::cli::{Cli, Command};
use capplan::commands::loadtest::plan::plan_from_args;
use capplan::loadtest::aggregator::FinishedSecond;
use capplan::loadtest::{Observer, Run};
use clap::Parser;
use common::Target;

/// The plan `capplan loadtest ARGS` would run.
fn plan(args: &[&str]) -> capplan::loadtest::plan::Plan {
    let argv = ["capplan", "loadtest"].iter().chain(args);
    let Command::Loadtest(args) = Cli::parse_from(argv).command else {
        unreachable!("a loadtest command line")
    };
    plan_from_args(&args).unwrap()
}

/// Everything an observer is told, in order.
#[derive(Default)]
struct Journal {
    started: Vec<SystemTime>,
    seconds: Vec<(u64, f64, u64)>,
    finished: usize,
    /// Fail at this second, to see the run end with the observer's error.
    fail_at: Option<u64>,
}

impl Observer for Journal {
    fn started(&mut self, wall: SystemTime) -> anyhow::Result<()> {
        assert_eq!(self.finished, 0);
        self.started.push(wall);
        Ok(())
    }

    fn second(&mut self, second: &FinishedSecond) -> anyhow::Result<()> {
        assert_eq!(self.started.len(), 1, "started comes first");
        let row = &second.row;
        self.seconds
            .push((row.elapsed_s, row.rps, second.latency.len()));
        if self.fail_at == Some(row.elapsed_s) {
            anyhow::bail!("the observer gave up at second {}", row.elapsed_s);
        }
        Ok(())
    }

    fn finished(&mut self) -> anyhow::Result<()> {
        self.finished += 1;
        Ok(())
    }
}

#[test]
fn every_observer_sees_every_second_once_in_order() {
    let _machine = crate::common::machine::shared();
    let target = Target::start(&["--workers", "4", "--service-time", "2ms"]);
    let url = target.url_for("/");
    let plan = plan(&[
        "--url",
        &url,
        "--rate",
        "200",
        "--duration",
        "3s",
        "--threads",
        "1",
    ]);
    let (mut first, mut second) = (Journal::default(), Journal::default());
    let result = Run::new(plan)
        .unwrap()
        .drive(&mut [&mut first, &mut second])
        .unwrap();

    for journal in [&first, &second] {
        assert_eq!(journal.started.len(), 1);
        assert_eq!(journal.finished, 1);
        let elapsed: Vec<u64> = journal.seconds.iter().map(|s| s.0).collect();
        assert_eq!(elapsed, vec![1, 2, 3], "one row a second, in order");
        // The seconds add up to the run's totals: nothing is seen twice or lost.
        let requests: f64 = journal.seconds.iter().map(|s| s.1).sum();
        assert_eq!(requests as u64, result.requests);
        let recorded: u64 = journal.seconds.iter().map(|s| s.2).sum();
        assert_eq!(recorded, result.requests);
    }
    assert_eq!(first.seconds, second.seconds);
    assert!(
        (500..=700).contains(&result.requests),
        "200 rps for 3 s sent {}",
        result.requests
    );
    // The per-second history is an observer's business, not the core's.
    assert!(result.history.is_empty());
    let stopped = target.stop();
    assert!(
        stopped
            .stderr
            .contains(&format!("served {} requests", result.requests)),
        "the target's own count: {}",
        stopped.stderr
    );
}

#[test]
fn an_observer_that_fails_ends_the_run_with_its_error_at_once() {
    let _machine = crate::common::machine::shared();
    let target = Target::start(&["--workers", "4", "--service-time", "2ms"]);
    let url = target.url_for("/");
    let plan = plan(&["--url", &url, "--users", "2", "--duration", "30s"]);
    let mut journal = Journal {
        fail_at: Some(2),
        ..Journal::default()
    };
    let began = Instant::now();
    let error = Run::new(plan)
        .unwrap()
        .drive(&mut [&mut journal])
        .unwrap_err();
    assert_eq!(error.to_string(), "the observer gave up at second 2");
    // The generator threads were stopped, not left to run out the 30 s.
    assert!(
        began.elapsed() < Duration::from_secs(10),
        "drive returned after {:?}",
        began.elapsed()
    );
    assert_eq!(journal.seconds.last().map(|s| s.0), Some(2));
}
