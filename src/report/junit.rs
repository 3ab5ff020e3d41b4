//! JUnit XML verdicts for CI systems (`--junit FILE`), written with quick-junit, the
//! serializer cargo-nextest uses: loadtest's thresholds (and `--fail-on-errors`),
//! simulate's SLO checks and each breach window. Pure: results in, bytes out.
use std::time::Duration;

use chrono::{DateTime, FixedOffset, SecondsFormat};
use quick_junit::{NonSuccessKind, Property, Report, TestCase, TestCaseStatus, TestSuite};

use crate::loadtest::result::RunResult;
use crate::report::table::format_value;
use crate::simulate::{breach_windows, slo_checks, SimulateOutput};

/// Breach windows listed one test case each; the rest are summed up in one more.
pub const MAX_BREACH_CASES: usize = 100;

fn failed(kind: NonSuccessKind, message: String, ty: &str) -> TestCaseStatus {
    let mut status = TestCaseStatus::non_success(kind);
    status.set_message(message).set_type(ty);
    status
}

fn case(name: &str, classname: &str, status: TestCaseStatus) -> TestCase {
    let mut case = TestCase::new(name, status);
    case.set_classname(classname);
    case
}

fn serialize(report: Report) -> anyhow::Result<Vec<u8>> {
    let mut text = report.to_string()?;
    if !text.ends_with('\n') {
        text.push('\n');
    }
    Ok(text.into_bytes())
}

/// A load test: whether it ran to its end, one case per threshold, and with
/// `fail_on_errors` one case that fails when any request failed.
pub fn loadtest(result: &RunResult, fail_on_errors: bool) -> anyhow::Result<Vec<u8>> {
    let mut suite = TestSuite::new(format!("capplan loadtest {}", result.target));
    if let Ok(started) = DateTime::parse_from_rfc3339(&result.started_at) {
        suite.set_timestamp(started);
    }
    suite.set_time(Duration::from_secs_f64(result.duration_s.max(0.0)));
    suite.add_properties([
        Property::new("target", result.target.as_str()),
        Property::new("model", result.model.as_str()),
        Property::new("requests", result.requests.to_string()),
        Property::new("failures", result.failures.to_string()),
        Property::new("rps", format!("{:.1}", result.rps)),
        Property::new("p95_ms", format!("{:.3}", result.latency_ms.p95)),
    ]);

    let completed = if result.interrupted {
        failed(
            NonSuccessKind::Error,
            format!(
                "interrupted after {:.1} s: the run was cut short",
                result.duration_s
            ),
            "interrupted",
        )
    } else if result.requests == 0 {
        failed(
            NonSuccessKind::Failure,
            "no request completed".to_string(),
            "no_requests",
        )
    } else {
        TestCaseStatus::success()
    };
    suite.add_test_case(case("run completed", "loadtest", completed));

    for t in &result.thresholds {
        let measured = format_value(&t.expr, t.value);
        let status = if t.passed {
            TestCaseStatus::success()
        } else {
            failed(
                NonSuccessKind::Failure,
                format!("measured {measured}: threshold {} not met", t.expr),
                "threshold",
            )
        };
        let mut threshold = case(&t.expr, "loadtest.threshold", status);
        threshold.set_system_out(format!("measured {measured}"));
        suite.add_test_case(threshold);
    }

    if fail_on_errors {
        let status = if result.failures == 0 {
            TestCaseStatus::success()
        } else {
            let mut status = failed(
                NonSuccessKind::Failure,
                format!(
                    "{} of {} requests failed ({:.3}%)",
                    result.failures,
                    result.requests,
                    100.0 * result.error_rate
                ),
                "failed_requests",
            );
            let kinds: Vec<String> = result
                .errors
                .iter()
                .take(20)
                .map(|e| format!("{} {}: {} x {}", e.method, e.name, e.occurrences, e.error))
                .collect();
            status.set_description(kinds.join("\n"));
            status
        };
        suite.add_test_case(case("no failed requests", "loadtest.errors", status));
    }
    if !result.warnings.is_empty() {
        suite.set_system_err(result.warnings.join("\n"));
    }
    let mut report = Report::new("capplan");
    report.add_test_suite(suite);
    serialize(report)
}

/// A simulation: the SLO's checks (p95 within its error budget, the drop rate) and
/// one case per breach window (failed when the latency check failed; otherwise
/// passed, within the budget). Needs the timeline for the windows.
pub fn simulate(out: &SimulateOutput) -> anyhow::Result<Vec<u8>> {
    let mut suite = TestSuite::new("capplan simulate");
    let start: DateTime<FixedOffset> = out.start.into();
    suite.set_timestamp(start);
    suite.set_time(Duration::from_secs_f64(out.timing.simulate / 1000.0));
    let t = &out.result.totals;
    suite.add_properties([
        Property::new("steps", t.steps.to_string()),
        Property::new("step_seconds", out.step_seconds.to_string()),
        Property::new("breach_minutes", format!("{:.1}", t.breach_minutes)),
        Property::new("instance_hours", format!("{:.1}", t.instance_hours)),
        Property::new("peak_instances", t.peak_instances.to_string()),
    ]);
    let [latency, drops] = slo_checks(out);
    let latency_failed = latency.failure.is_some();
    for check in [latency, drops] {
        let status = match check.failure {
            Some(why) => failed(NonSuccessKind::Failure, why, "slo"),
            None => TestCaseStatus::success(),
        };
        suite.add_test_case(case(
            &format!("slo: {}", check.name),
            "simulate.slo",
            status,
        ));
    }

    let at = |step: u32| {
        let seconds = f64::from(step) * out.step_seconds;
        (out.start + chrono::Duration::milliseconds((seconds * 1000.0) as i64))
            .to_rfc3339_opts(SecondsFormat::Secs, true)
    };
    let windows = breach_windows(out);
    for w in windows.iter().take(MAX_BREACH_CASES) {
        let minutes = f64::from(w.steps) * out.step_seconds / 60.0;
        let what = format!(
            "p95 above {} ms for {minutes:.1} minutes, worst {:.0} ms",
            out.policy.slo.p95_ms, w.worst_p95_ms
        );
        let status = if latency_failed {
            failed(NonSuccessKind::Failure, what.clone(), "breach")
        } else {
            TestCaseStatus::success()
        };
        let mut window = case(
            &format!(
                "breach from {} to {}",
                at(w.first_step),
                at(w.first_step + w.steps)
            ),
            "simulate.breach",
            status,
        );
        if !latency_failed {
            window.set_system_out(format!("{what}: within the error budget"));
        }
        window.set_time(Duration::from_secs_f64(minutes * 60.0));
        suite.add_test_case(window);
    }
    if windows.len() > MAX_BREACH_CASES {
        let rest = &windows[MAX_BREACH_CASES..];
        let minutes: f64 =
            rest.iter().map(|w| f64::from(w.steps)).sum::<f64>() * out.step_seconds / 60.0;
        let what = format!(
            "{} more breach windows, {minutes:.1} minutes in all (the timeline CSV has every step)",
            rest.len()
        );
        let status = if latency_failed {
            failed(NonSuccessKind::Failure, what.clone(), "breach")
        } else {
            TestCaseStatus::success()
        };
        let mut more = case("further breach windows", "simulate.breach", status);
        more.set_system_out(what);
        suite.add_test_case(more);
    }
    if !out.warnings.is_empty() {
        suite.set_system_err(out.warnings.join("\n"));
    }
    let mut report = Report::new("capplan");
    report.add_test_suite(suite);
    serialize(report)
}
