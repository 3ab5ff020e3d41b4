//! The load-test section: throughput, users and latency over time, the HDR percentile
//! plot, and the tables (parameters, thresholds, tasks, failures).
use hdrhistogram::Histogram;

use super::downsample::envelope;
use super::svg::{colors, Chart, XAxis};
use super::{facts, notes, table, verdict, verdict_line, Cell, DISPLAY_BUCKETS};
use crate::loadtest::aggregator::{EndpointSummary, HistoryRow};
use crate::loadtest::result::RunResult;
use crate::report::table::format_value;
use crate::units::format_ms;

/// The whole section (with its own heading), for a page of its own or the demo page.
pub fn section(r: &RunResult) -> String {
    let mut s = String::from(r#"<section id="loadtest"><h2>Load test</h2>"#);
    s.push_str(&notes("warnings", &r.warnings));
    s.push_str(&facts(&parameters(r)));
    if !r.thresholds.is_empty() {
        let passed = r.thresholds.iter().all(|t| t.passed);
        s.push_str(&verdict_line(
            passed,
            if passed {
                "Thresholds: all passed"
            } else {
                "Thresholds: FAILED"
            },
        ));
        let rows = r
            .thresholds
            .iter()
            .map(|t| {
                vec![
                    Cell::from(t.expr.as_str()),
                    format_value(&t.expr, t.value).into(),
                    verdict(t.passed),
                ]
            })
            .collect();
        s.push_str(&table(&["threshold", "measured", "verdict"], rows));
    }
    s.push_str(&throughput_chart(&r.history).render());
    s.push_str(&users_chart(&r.history, &r.model).render());
    s.push_str(&latency_chart(&r.history).render());
    s.push_str(&hdr_chart(&r.aggregate.histogram).render());
    s.push_str("<h3>Requests per task</h3>");
    s.push_str(&tasks_table(&r.tasks, &r.aggregate));
    s.push_str("<h3>Failures</h3>");
    if r.errors.is_empty() {
        s.push_str("<p>None.</p>");
    } else {
        let rows = r
            .errors
            .iter()
            .map(|e| {
                vec![
                    Cell::from(e.method.as_str()),
                    e.name.as_str().into(),
                    e.error.as_str().into(),
                    e.occurrences.to_string().into(),
                ]
            })
            .collect();
        s.push_str(&table(&["method", "name", "error", "occurrences"], rows));
    }
    if !r.checks.is_empty() {
        s.push_str("<h3>Checks and captures</h3>");
        let rows = r
            .checks
            .iter()
            .map(|c| {
                vec![
                    Cell::from(c.method.as_str()),
                    c.name.as_str().into(),
                    c.kind.into(),
                    c.what.as_str().into(),
                    c.passed.to_string().into(),
                    c.failed.to_string().into(),
                ]
            })
            .collect();
        s.push_str(&table(
            &["method", "name", "kind", "what", "passed", "failed"],
            rows,
        ));
    }
    s.push_str("</section>");
    s
}

fn parameters(r: &RunResult) -> Vec<(&'static str, String)> {
    let mut p = vec![
        ("target", r.target.clone()),
        ("started", r.started_at.clone()),
        ("load model", r.model.clone()),
    ];
    if let Some(users) = r.users {
        p.push(("users", users.to_string()));
    }
    if let Some(shape) = &r.shape {
        p.push((
            "load shape",
            match shape.intended_requests {
                Some(total) => format!(
                    "rate up to {:.1} req/s over {:.1} s, {:.0} requests intended",
                    shape.peak, shape.duration_s, total
                ),
                None => format!(
                    "up to {:.0} users over {:.1} s",
                    shape.peak, shape.duration_s
                ),
            },
        ));
    }
    if let Some(rate) = &r.rate {
        p.push((
            "rate",
            format!(
                "{:.1} req/s intended, {:.1} achieved, {} connections, {} late sends, {} unsent",
                rate.intended_rps,
                rate.achieved_rps,
                rate.connections,
                rate.late_sends,
                rate.unsent
            ),
        ));
    }
    if let Some(achieved) = r.rate_achieved {
        p.push(("sends on time", format!("{:.2}%", 100.0 * achieved)));
    }
    p.push(("duration", format!("{:.1} s", r.duration_s)));
    if r.interrupted {
        p.push(("interrupted", "yes (Ctrl-C)".into()));
    }
    p.push((
        "requests",
        format!(
            "{} ({} failed, {:.2}%), {:.1} req/s",
            r.requests,
            r.failures,
            100.0 * r.error_rate,
            r.rps
        ),
    ));
    p.push((
        "latency",
        format!(
            "p50 {} · p95 {} · p99 {} · p99.9 {} · max {}",
            format_ms(r.latency_ms.p50),
            format_ms(r.latency_ms.p95),
            format_ms(r.latency_ms.p99),
            format_ms(r.latency_ms.p99_9),
            format_ms(r.latency_ms.max)
        ),
    ));
    p.push(("protocol", crate::report::table::protocol_line(&r.protocol)));
    p.push((
        "generator",
        format!(
            "{} threads, CPU up to {:.0}%, saturated {} s",
            r.generator.threads, r.generator.max_cpu_percent, r.generator.saturated_seconds
        ),
    ));
    p
}

fn tasks_table(tasks: &[EndpointSummary], aggregate: &EndpointSummary) -> String {
    let rows = tasks
        .iter()
        .chain(std::iter::once(aggregate))
        .map(|t| {
            let l = &t.latency_ms;
            vec![
                Cell::from(t.method.as_str()),
                t.name.as_str().into(),
                t.requests.to_string().into(),
                t.failures.to_string().into(),
                format!("{:.1}", t.rps).into(),
                format_ms(l.p50).into(),
                format_ms(l.p95).into(),
                format_ms(l.p99).into(),
                format_ms(l.max).into(),
                format_ms(l.mean).into(),
            ]
        })
        .collect();
    table(
        &[
            "method", "name", "requests", "failures", "req/s", "p50", "p95", "p99", "max", "mean",
        ],
        rows,
    )
}

fn series(history: &[HistoryRow], value: impl Fn(&HistoryRow) -> f64) -> Vec<(f64, f64)> {
    let x: Vec<f64> = history.iter().map(|h| h.elapsed_s as f64).collect();
    let y: Vec<f64> = history.iter().map(value).collect();
    envelope(&x, &y, DISPLAY_BUCKETS)
}

/// Requests and failures per second over the run, and the open model's intended rate.
pub fn throughput_chart(history: &[HistoryRow]) -> Chart {
    let mut chart = Chart::new("Requests per second", "req/s", XAxis::Seconds);
    if history.iter().any(|h| h.intended_rps.is_some()) {
        chart = chart.line(
            "intended req/s",
            colors::GREY,
            series(history, |h| h.intended_rps.unwrap_or(0.0)),
        );
    }
    chart
        .line("req/s", colors::BLUE, series(history, |h| h.rps))
        .line(
            "10 s mean",
            colors::GREEN,
            series(history, |h| h.current_rps),
        )
        .line(
            "failures/s",
            colors::RED,
            series(history, |h| h.failures_per_s),
        )
}

/// Users (closed model) or connections (open model) over the run.
pub fn users_chart(history: &[HistoryRow], model: &str) -> Chart {
    let what = if model == "open" {
        "connections"
    } else {
        "users"
    };
    let mut chart = Chart::new(&format!("Active {what}"), what, XAxis::Seconds);
    if history.iter().any(|h| h.intended_users.is_some()) {
        chart = chart.line(
            "intended users",
            colors::GREY,
            series(history, |h| f64::from(h.intended_users.unwrap_or(0))),
        );
    }
    chart = chart.line(
        what,
        colors::PURPLE,
        series(history, |h| f64::from(h.users)),
    );
    chart.height = 200.0;
    chart
}

/// p50 / p95 / p99 of each second: the `--plot` chart of `loadtest`.
pub fn latency_chart(history: &[HistoryRow]) -> Chart {
    Chart::new("Latency per second", "ms", XAxis::Seconds)
        .line("p50", colors::GREEN, series(history, |h| h.p50_ms))
        .line("p95", colors::ORANGE, series(history, |h| h.p95_ms))
        .line("p99", colors::RED, series(history, |h| h.p99_ms))
}

/// The latency distribution as HdrHistogram's plotter draws it: latency against the
/// percentile on a log "nines" axis.
pub fn hdr_chart(h: &Histogram<u64>) -> Chart {
    Chart::new(
        "Latency by percentile (HDR histogram, all requests)",
        "ms",
        XAxis::Nines,
    )
    .step_line("latency", colors::BLUE, nines_points(h))
}

/// `(nines, ms)` points of a histogram; the top quantile (1.0) sits one step past the
/// count's resolution, as the HdrHistogram plotter puts it.
pub fn nines_points(h: &Histogram<u64>) -> Vec<(f64, f64)> {
    if h.is_empty() {
        return Vec::new();
    }
    // 1 - q can be no finer than one request in `len`.
    let max_nines = (h.len() as f64).log10().max(1.0);
    let mut points: Vec<(f64, f64)> = h
        .iter_quantiles(5)
        .map(|v| {
            let q: f64 = v.quantile_iterated_to();
            let nines = if q >= 1.0 {
                max_nines
            } else {
                (-(1.0 - q).log10()).min(max_nines)
            };
            (
                nines,
                h.highest_equivalent(v.value_iterated_to()) as f64 / 1e3,
            )
        })
        .collect();
    points.dedup_by(|b, a| a.0 == b.0 && a.1 >= b.1);
    points
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nines_points_rise_to_the_maximum() {
        let mut h = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).unwrap();
        for i in 1..=10_000u64 {
            h.record(i * 10).unwrap(); // 0.01 .. 100 ms
        }
        let points = nines_points(&h);
        assert_eq!(points[0].0, 0.0);
        let last = points.last().unwrap();
        assert!((last.0 - 4.0).abs() < 1e-9, "{last:?}");
        assert!((last.1 - 100.0).abs() < 0.2, "{last:?}");
        assert!(points
            .windows(2)
            .all(|w| w[0].0 <= w[1].0 && w[0].1 <= w[1].1));
        // p99 sits at two nines.
        let p99 = points.iter().find(|p| p.0 >= 2.0).unwrap();
        assert!((p99.1 - 99.0).abs() < 1.0, "{p99:?}");
    }
}
