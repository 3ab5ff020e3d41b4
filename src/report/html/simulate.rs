//! The simulate section: demand against capacity with the scale events, the instance
//! count stacked by state, p95 against the SLO, queue depth, and the cost/SLO summary
//! with the recommendation beside the user's policy.
use chrono::{DateTime, Utc};

use super::downsample::{band, envelope};
use super::svg::{colors, Chart, Layer, Mark, Rule, XAxis};
use super::{notes, table, verdict, verdict_line, Cell, DISPLAY_BUCKETS};
use crate::report::simulate::summary_rows;
use crate::simulate::engine::StepRecord;
use crate::simulate::scaler::{Action, Event};
use crate::simulate::{failures, SimulateOutput};
use crate::units::format_ms;

/// Scale events drawn one by one up to this many; beyond, one mark per pixel bucket.
const MAX_MARKS: usize = 200;
/// Rows of the events table; the `--events` CSV has them all.
const MAX_EVENT_ROWS: usize = 500;

/// The whole section (with its own heading).
pub fn section(out: &SimulateOutput) -> String {
    let mut s = String::from(r#"<section id="simulate"><h2>Autoscaling simulation</h2>"#);
    let t = &out.result.totals;
    let failed = failures(out);
    let slo_met = failed.is_empty();
    s.push_str(&verdict_line(
        slo_met,
        if slo_met {
            "Verdict: SLO met"
        } else {
            "Verdict: SLO missed"
        },
    ));
    s.push_str(&notes("warnings", &failed));
    s.push_str(&notes("warnings", &out.warnings));
    s.push_str(&format!(
        "<p>{} steps of {} s from {}; capacity {:.1} rps per worker, service time {:.1} ms.</p>",
        t.steps,
        out.step_seconds,
        out.start.to_rfc3339(),
        out.capacity.rps_per_worker,
        out.capacity.service_time_seconds * 1000.0
    ));
    s.push_str(&summary_table(out, slo_met));
    if out.result.timeline.is_empty() {
        s.push_str("<p>No timeline was recorded.</p>");
    } else {
        s.push_str(&demand_chart(out).render());
        s.push_str(&instances_chart(out).render());
        s.push_str(&p95_chart(out).render());
        s.push_str(&queue_chart(out).render());
    }
    s.push_str(&events_table(out));
    s.push_str("</section>");
    s
}

/// The user's policy and, with `--recommend`, the recommended one, side by side.
fn summary_table(out: &SimulateOutput, slo_met: bool) -> String {
    let with_rec = out.search.is_some();
    let row = |name: String, mine: Cell, recommended: Option<String>| {
        let mut cells = vec![Cell::from(name), mine];
        if with_rec {
            cells.push(recommended.unwrap_or_else(|| "-".into()).into());
        }
        cells
    };
    let mut rows: Vec<Vec<Cell>> = summary_rows(out)
        .into_iter()
        .map(|r| row(r.name, r.mine.into(), r.recommended))
        .collect();
    rows.push(row("SLO".into(), verdict(slo_met), None));
    let mut head = vec!["", "your policy"];
    if with_rec {
        head.push("recommended");
    }
    let mut s = table(&head, rows);
    if let Some(search) = &out.search {
        s.push_str(&format!(
            "<p class=\"small\">{} candidate policies evaluated ({} simulated){}.</p>",
            search.candidates,
            search.simulated,
            if search.best.is_none() {
                "; none met the SLO with zero drops"
            } else {
                ""
            }
        ));
    }
    s
}

fn time_axis() -> XAxis {
    XAxis::Time { offset_seconds: 0 }
}

/// Unix seconds of each recorded step.
fn step_times(out: &SimulateOutput) -> Vec<f64> {
    let start = out.start.timestamp() as f64;
    out.result
        .timeline
        .iter()
        .map(|r| start + f64::from(r.step) * out.step_seconds)
        .collect()
}

fn column(out: &SimulateOutput, f: impl Fn(&StepRecord) -> f64) -> Vec<f64> {
    out.result.timeline.iter().map(f).collect()
}

/// Demand against the capacity in service, with the scale events: the `--plot` chart.
pub fn demand_chart(out: &SimulateOutput) -> Chart {
    let x = step_times(out);
    let per_instance =
        f64::from(out.policy.fleet.workers_per_instance) * out.capacity.rps_per_worker;
    let warm = out.policy.fleet.warmup_capacity;
    let capacity = column(out, |r| {
        (f64::from(r.in_service) + warm * f64::from(r.warming)) * per_instance
    });
    let demand = column(out, |r| r.demand_rps);
    let served = column(out, |r| r.served_rps);
    let mut chart = Chart::new("Demand and capacity", "requests/s", time_axis()).step_line(
        "capacity (at the SLO)",
        colors::GREEN,
        envelope(&x, &capacity, DISPLAY_BUCKETS),
    );
    // Served first and dashed, so demand stays visible where the two are equal.
    chart.layers.push(Layer::Line {
        name: "served".into(),
        color: colors::PURPLE,
        points: envelope(&x, &served, DISPLAY_BUCKETS),
        dashed: true,
        step: false,
    });
    chart = chart.line(
        "demand",
        colors::BLUE,
        envelope(&x, &demand, DISPLAY_BUCKETS),
    );
    chart.marks = event_marks(out, &x);
    chart
}

/// Instances stacked: in service, warming, booting.
pub fn instances_chart(out: &SimulateOutput) -> Chart {
    let x = step_times(out);
    let zero = vec![0.0; x.len()];
    let in_service = column(out, |r| f64::from(r.in_service));
    let warming = column(out, |r| f64::from(r.in_service + r.warming));
    let booting = column(out, |r| f64::from(r.in_service + r.warming + r.booting));
    let mut chart = Chart::new("Instances by state (stacked)", "instances", time_axis());
    let layers = [
        ("booting", colors::GREY, &warming, &booting),
        ("warming", colors::YELLOW, &in_service, &warming),
        ("in service", colors::GREEN, &zero, &in_service),
    ];
    for (name, color, low, high) in layers {
        chart.layers.push(Layer::Area {
            name: name.into(),
            color,
            points: band(&x, low, high, DISPLAY_BUCKETS),
            opacity: 0.8,
            step: true,
        });
    }
    // The reason codes are written on the demand chart above; here only the ticks.
    chart.marks = event_marks(out, &x);
    chart.marks.iter_mut().for_each(|m| m.label.clear());
    chart
}

/// Step p95 against the SLO (clipped at 10 × the SLO, so the line stays readable).
pub fn p95_chart(out: &SimulateOutput) -> Chart {
    let x = step_times(out);
    let slo = out.policy.slo.p95_ms;
    let p95 = column(out, |r| r.p95_ms);
    let cap = slo * 10.0;
    let clipped = p95.iter().any(|&v| v > cap);
    let title = if clipped {
        format!("p95 latency vs the SLO (clipped at {})", format_ms(cap))
    } else {
        "p95 latency vs the SLO".to_string()
    };
    let mut chart = Chart::new(&title, "ms", time_axis()).line(
        "p95",
        colors::ORANGE,
        envelope(&x, &p95, DISPLAY_BUCKETS),
    );
    chart.y_max = Some(cap);
    chart.rules.push(Rule {
        y: slo,
        label: format!("SLO {}", format_ms(slo)),
        color: colors::RED,
    });
    chart
}

/// Requests waiting.
pub fn queue_chart(out: &SimulateOutput) -> Chart {
    let x = step_times(out);
    let queue = column(out, |r| r.queue_depth);
    let mut chart = Chart::new("Queue depth", "requests waiting", time_axis()).line(
        "queue",
        colors::RED,
        envelope(&x, &queue, DISPLAY_BUCKETS),
    );
    chart.height = 220.0;
    chart
}

fn mark_style(action: Action) -> (&'static str, &'static str) {
    match action {
        Action::ScaleUp => ("scale up", colors::RED),
        Action::ScaleDown => ("scale down", colors::TEAL),
        Action::Hold => ("hold / refused", colors::GREY),
    }
}

/// Wall-clock time of a scale event.
fn event_time(out: &SimulateOutput, e: &Event) -> DateTime<Utc> {
    out.start + chrono::Duration::milliseconds((e.at_seconds * 1000.0) as i64)
}

fn event_title(out: &SimulateOutput, e: &Event) -> String {
    format!(
        "{} {} {} → {} ({})",
        event_time(out, e).format("%Y-%m-%d %H:%M:%S"),
        e.action.as_str(),
        e.from,
        e.to,
        e.reason.code()
    )
}

/// One mark per event, or with many events one per bucket and action, titled with
/// the count of each reason code.
fn event_marks(out: &SimulateOutput, x: &[f64]) -> Vec<Mark> {
    let start = out.start.timestamp() as f64;
    let events = &out.result.events;
    if events.len() <= MAX_MARKS {
        return events
            .iter()
            .map(|e| {
                let (group, color) = mark_style(e.action);
                Mark {
                    x: start + e.at_seconds,
                    group,
                    color,
                    label: e.reason.code(),
                    title: event_title(out, e),
                }
            })
            .collect();
    }
    let (first, last) = (
        x.first().copied().unwrap_or(start),
        x.last().copied().unwrap_or(start),
    );
    let width = ((last - first) / MAX_MARKS as f64).max(1.0);
    let mut buckets: std::collections::BTreeMap<(i64, u8), Vec<&Event>> = Default::default();
    for e in events {
        let bucket = ((start + e.at_seconds - first) / width).floor() as i64;
        buckets.entry((bucket, e.action as u8)).or_default().push(e);
    }
    buckets
        .into_values()
        .map(|group_events| {
            let e0 = group_events[0];
            let (group, color) = mark_style(e0.action);
            let mut counts: std::collections::BTreeMap<String, usize> = Default::default();
            for e in &group_events {
                *counts.entry(e.reason.code()).or_default() += 1;
            }
            let reasons: Vec<String> = counts.iter().map(|(c, n)| format!("{c} ×{n}")).collect();
            Mark {
                x: start + e0.at_seconds,
                group,
                color,
                label: String::new(),
                title: format!(
                    "{} {} event(s) from {}: {}",
                    group_events.len(),
                    e0.action.as_str(),
                    event_title(out, e0),
                    reasons.join(", ")
                ),
            }
        })
        .collect()
}

fn events_table(out: &SimulateOutput) -> String {
    let events = &out.result.events;
    let mut s = format!("<h3>Scale events ({})</h3>", events.len());
    if events.is_empty() {
        s.push_str("<p>None.</p>");
        return s;
    }
    let rows = events
        .iter()
        .take(MAX_EVENT_ROWS)
        .map(|e| {
            vec![
                Cell::from(event_time(out, e).to_rfc3339()),
                e.action.as_str().into(),
                e.from.to_string().into(),
                e.to.to_string().into(),
                e.reason.code().into(),
            ]
        })
        .collect();
    s.push_str(&table(&["time", "action", "from", "to", "reason"], rows));
    if events.len() > MAX_EVENT_ROWS {
        s.push_str(&format!(
            "<p class=\"small\">The first {MAX_EVENT_ROWS} of {} events; `--events FILE.csv` writes them all.</p>",
            events.len()
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::html::sample;

    #[test]
    fn few_events_are_marked_one_by_one_with_their_reason() {
        let out = sample::simulate_output(1440);
        let chart = demand_chart(&out);
        assert_eq!(chart.marks.len(), out.result.events.len());
        assert!(chart.marks.iter().any(|m| m.label.starts_with("STEP_UP_")));
    }

    #[test]
    fn many_events_are_grouped_per_bucket_with_reason_counts() {
        let out = sample::simulate_output(60 * 1440);
        assert!(
            out.result.events.len() > MAX_MARKS,
            "{}",
            out.result.events.len()
        );
        let chart = demand_chart(&out);
        // At most one mark per bucket and action.
        assert!(
            chart.marks.len() <= 3 * (MAX_MARKS + 1),
            "{}",
            chart.marks.len()
        );
        assert!(chart.marks.iter().all(|m| m.label.is_empty()));
        assert!(chart
            .marks
            .iter()
            .any(|m| m.title.contains("STEP_UP_") && m.title.contains('×')));
        let html = section(&out);
        assert!(html.contains(&format!("The first {MAX_EVENT_ROWS} of")));
    }
}
