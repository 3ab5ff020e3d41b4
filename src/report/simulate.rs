//! Presentation of `capplan simulate`: summary table, timeline CSV, events CSV, JSON.
use chrono::{DateTime, Duration, SecondsFormat, Utc};
use comfy_table::{presets::UTF8_FULL_CONDENSED, Table};
use serde::Serialize;

use crate::simulate::latency::LatencyReport;
use crate::simulate::recommend::{Incident, Optimality, Recommendation};
use crate::simulate::whatif::WhatIfReport;
use crate::simulate::{failures, NormalPeak, SimulateOutput, Timing};

fn time_at(start: DateTime<Utc>, seconds: f64) -> String {
    (start + Duration::milliseconds((seconds * 1000.0).round() as i64))
        .to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// One row of the summary: the user's policy and, after `--recommend`, the
/// recommended one (`None`: not applicable, shown as "-").
pub struct SummaryRow {
    pub name: String,
    pub mine: String,
    pub recommended: Option<String>,
}

/// The summary rows (SLO, cost, scaling), shared by the terminal table and the HTML report.
pub fn summary_rows(out: &SimulateOutput) -> Vec<SummaryRow> {
    let t = &out.result.totals;
    let p = &out.policy;
    let cost = |hours: f64| {
        out.instance_cost
            .map_or("-".to_string(), |c| format!("{:.2}", hours * c))
    };
    let rec = out.search.as_ref().and_then(|s| s.best.as_ref());
    let row = |name: &str, mine: String, recommended: Option<String>| SummaryRow {
        name: name.to_string(),
        mine,
        recommended,
    };
    // Under target tracking or an HPA the step knobs decide nothing: shown as "-".
    let step_knob = |text: String| {
        if p.own_rules().is_some() {
            "-".to_string()
        } else {
            text
        }
    };
    let mut rows = vec![
        row(
            "min / max instances",
            format!("{} / {}", p.fleet.min_instances, p.fleet.max_instances),
            rec.map(|r| format!("{} / {}", r.min_instances, r.max_instances)),
        ),
        row(
            "workers per instance",
            p.fleet.workers_per_instance.to_string(),
            rec.map(|r| r.workers_per_instance.to_string()),
        ),
        row(
            "step % / window",
            step_knob(format!(
                "{} / {}s",
                p.scale_up.step_percent, p.scale_down.window_seconds
            )),
            rec.map(|r| format!("{} / {}s", r.step_percent, r.window_seconds)),
        ),
        row(
            "scale-up / down threshold",
            step_knob(format!(
                "{} / {}",
                p.scale_up.threshold, p.scale_down.threshold
            )),
            rec.map(|r| {
                format!(
                    "{} / {}",
                    round3(r.scale_up_threshold),
                    round3(r.scale_down_threshold)
                )
            }),
        ),
        row(
            "cooldown / remove %",
            step_knob(format!(
                "{}s / {}",
                p.scale_up.cooldown_seconds, p.scale_down.max_remove_percent
            )),
            rec.map(|r| format!("{}s / {}", r.cooldown_seconds, r.max_remove_percent)),
        ),
    ];
    if let Some(Some(lead)) = rec.map(|r| r.lead_seconds) {
        let key = if p.predictive.scheduling_buffer_seconds.is_some() {
            "pre-warm buffer"
        } else {
            "pre-warm lead"
        };
        let mine = p
            .predictive
            .scheduling_buffer_seconds
            .unwrap_or(p.predictive.lead_seconds);
        rows.push(row(key, format!("{mine}s"), Some(format!("{lead}s"))));
    }
    rows.extend([row(
        &format!("SLO p95 > {} ms", p.slo.p95_ms),
        format!("{:.1} min ({:.2}%)", t.breach_minutes, t.breach_percent),
        rec.map(|r| format!("{:.1} min", r.breach_minutes)),
    )]);
    if let Some(rules) = own_rules(p) {
        // The step rows above are not what decides: say what does.
        rows.push(row("scaling rules", rules, None));
    }
    if t.frozen_breach_steps > 0 {
        // Breach time while the panic freeze was on (scale-in held, scale-out allowed).
        rows.push(row(
            &format!("  of which frozen (p95 > {} ms)", p.limits.freeze_p95_ms),
            format!("{:.1} min", frozen_minutes(out)),
            None,
        ));
    }
    rows.extend([
        row(
            "worst p95",
            crate::units::format_ms(t.max_p95_ms),
            rec.map(|r| crate::units::format_ms(r.max_p95_ms)),
        ),
        row(
            "requests dropped",
            format!("{:.0}", t.dropped_requests),
            rec.map(|r| format!("{:.0}", r.dropped_requests)),
        ),
        row("max queue depth", format!("{:.0}", t.max_queue_depth), None),
        row(
            "instance-hours",
            format!("{:.1}", t.instance_hours),
            rec.map(|r| format!("{:.1}", r.instance_hours)),
        ),
        row(
            "cost",
            cost(t.instance_hours),
            rec.map(|r| cost(r.instance_hours)),
        ),
        row(
            "peak instances (safety cap)",
            format!("{} ({})", t.peak_instances, out.result.safety_cap),
            None,
        ),
        row(
            "scale-ups / downs",
            format!("{} / {}", t.scale_ups, t.scale_downs),
            None,
        ),
        row(
            "flaps / refused",
            format!("{} / {}", t.flaps, t.refused),
            None,
        ),
    ]);
    if let Some(db) = &out.what_if.db_connections {
        rows.push(row(
            &format!("peak DB connections (of {})", db.max_connections),
            format!("{}", db.peak_connections),
            rec.map(|r| r.peak_connections.map_or("-".into(), |c| c.to_string())),
        ));
    }
    rows
}

/// What decides instead of the single-step rules, when something else does.
fn own_rules(p: &crate::simulate::policy::Policy) -> Option<String> {
    use crate::simulate::policy::TrackedMetric;
    let metric = |m: TrackedMetric| match m {
        TrackedMetric::Utilization => "utilization",
        TrackedMetric::RpsPerInstance => "rps per instance",
    };
    if let Some(tt) = &p.target_tracking {
        return Some(format!(
            "target tracking: {} at {}{}",
            metric(tt.metric),
            tt.target,
            if tt.disable_scale_in {
                ", no scale-in"
            } else {
                ""
            }
        ));
    }
    if let Some(hpa) = &p.hpa {
        let unit = match hpa.metric {
            TrackedMetric::Utilization => " %",
            TrackedMetric::RpsPerInstance => "",
        };
        return Some(format!(
            "HPA: {} at {}{unit}, tolerance {}",
            metric(hpa.metric),
            hpa.target,
            hpa.tolerance
        ));
    }
    let (up, down) = (p.scale_up.steps.len(), p.scale_down.steps.len());
    (up + down > 0).then(|| format!("steps: {up} up, {down} down"))
}

/// Breach time while the panic freeze was on, minutes.
fn frozen_minutes(out: &SimulateOutput) -> f64 {
    f64::from(out.result.totals.frozen_breach_steps) * out.step_seconds / 60.0
}

/// The summary table (SLO, cost, scaling; the recommendation beside the user's policy).
pub fn summary(out: &SimulateOutput) -> String {
    let t = &out.result.totals;
    let mut table = Table::new();
    table.load_preset(UTF8_FULL_CONDENSED);
    let mut header = vec!["".to_string(), "your policy".to_string()];
    if out.search.is_some() {
        header.push("recommended".to_string());
    }
    table.set_header(header);
    for SummaryRow {
        name,
        mine,
        recommended,
    } in summary_rows(out)
    {
        let mut cells = vec![name, mine];
        if out.search.is_some() {
            cells.push(recommended.unwrap_or_else(|| "-".to_string()));
        }
        table.add_row(cells);
    }

    let mut text = format!(
        "simulate: {} steps of {}s from {} (capacity {:.1} rps/worker, service time {:.1} ms)\n{table}",
        t.steps,
        out.step_seconds,
        out.start.to_rfc3339_opts(SecondsFormat::Secs, true),
        out.capacity.rps_per_worker,
        out.capacity.service_time_seconds * 1000.0,
    );
    text.push_str(&latency_line(out));
    text.push_str(&safety_cap_line(out));
    text.push_str(&what_if_lines(&out.what_if));
    if let Some(search) = &out.search {
        text.push_str(&format!(
            "\nrecommend: {} candidate policies evaluated ({} simulations; the rest were identical to a run with a larger max)",
            search.candidates, search.simulated
        ));
        if out.what_if.db_connections.is_some() {
            text.push_str(&format!(
                "; {} excluded: max_instances x workers x pool above --db-max-connections",
                search.excluded_db_connections
            ));
        }
        if search.refined > 0 {
            text.push_str(&format!(
                "; {} of them by refining the grid's best one knob at a time",
                search.refined
            ));
        }
        match &search.best {
            None => text.push_str("; none held the SLO's error budget"),
            Some(r) => text.push_str(&recommend_lines(out, search, r)),
        }
    }
    let failed = failures(out);
    text.push_str(if failed.is_empty() {
        "\nverdict: SLO met"
    } else {
        "\nverdict: SLO missed"
    });
    for reason in failed {
        text.push_str(&format!("\n  - {reason}"));
    }
    for warning in &out.warnings {
        text.push_str(&format!("\nwarning: {warning}"));
    }
    text
}

/// Where the safety cap comes from.
fn safety_cap_line(out: &SimulateOutput) -> String {
    let source = if out.normal_peak.from_policy {
        "limits.normal_peak_rps"
    } else {
        "the traffic's median day's second-busiest hour; set limits.normal_peak_rps to fix it"
    };
    format!(
        "\nsafety cap: {} instances = {} x the normal peak of {:.1} rps ({source})",
        out.result.safety_cap, out.policy.limits.safety_cap_multiple, out.normal_peak.rps
    )
}

/// A threshold as typed (no float noise from the search's multiples).
fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// What the recommendation rests on: headroom, ties, incidents, optimality.
fn recommend_lines(
    out: &SimulateOutput,
    search: &crate::simulate::recommend::Search,
    r: &Recommendation,
) -> String {
    let slo = &out.policy.slo;
    let headroom = if r.max_instances >= r.peak_needs_instances {
        format!("covers the {} instance(s)", r.peak_needs_instances)
    } else {
        format!(
            "is the database's limit, below the {} instance(s)",
            r.peak_needs_instances
        )
    };
    let mut text = format!(
        "\nrecommend: max {} {headroom} the scale-up threshold needs at the peak ({:.1} rps); min {} ({})",
        r.max_instances,
        search.peak_rps,
        r.min_instances,
        if r.min_instances >= 2 {
            "redundant"
        } else {
            "single instance allowed by --allow-single-instance"
        }
    );
    text.push_str(&format!(
        "\nrecommend: error budget {} breach minutes, drop rate {}; it uses {:.1} minutes and {:.0} dropped requests outside incidents",
        slo.max_breach_minutes,
        slo.max_drop_rate,
        r.breach_minutes - r.incident_breach_minutes,
        r.dropped_requests - r.incident_dropped_requests
    ));
    if r.tied_at_best_cost > 0 {
        text.push_str(&format!(
            "\nrecommend: {} other passing policies cost the same; picked the largest min, then max (the safer one)",
            r.tied_at_best_cost
        ));
    }
    if !search.incidents.is_empty() {
        let list: Vec<String> = search
            .incidents
            .iter()
            .take(5)
            .map(|i| {
                format!(
                    "{} for {:.0} min (peak {:.1} rps)",
                    time_at(out.start, i.start_seconds),
                    i.minutes,
                    i.peak_rps
                )
            })
            .collect();
        text.push_str(&format!(
            "\nincidents (demand above 1.5x its 99th percentile for at most {:.0} min; reported, not planned for: no always-on capacity for them, max still covers them): {}: {}{}; the recommended policy breaches {:.1} minutes and drops {:.0} requests in and after them",
            search.incident_max_minutes,
            search.incidents.len(),
            list.join(", "),
            if search.incidents.len() > 5 { ", ..." } else { "" },
            r.incident_breach_minutes,
            r.incident_dropped_requests
        ));
    }
    if let Some(o) = &search.optimality {
        let hours = |h: Option<f64>| h.map_or("none passed".to_string(), |h| format!("{h:.1} h"));
        text.push_str(&format!(
            "\noptimality: on the busiest {} steps from {} this search's procedure finds {}, the best of {} policies drawn from a finer grid of every knob {}{}",
            o.sample_steps,
            time_at(out.start, o.sample_start_seconds),
            hours(o.search_hours),
            o.finer_candidates,
            hours(o.finer_hours),
            o.gap_percent
                .map_or(String::new(), |g| format!(" (gap {g:+.1}%)"))
        ));
        if o.adopted {
            text.push_str("; that policy also holds the budget on the whole traffic and is the one recommended");
        }
    }
    text
}

/// Which latency model the p95 figures came from.
fn latency_line(out: &SimulateOutput) -> String {
    let l = &out.latency;
    let idle = if l.idle_steps > 0 {
        format!("; {} steps without arrivals have no p95", l.idle_steps)
    } else {
        String::new()
    };
    match l.curve_rps_per_worker {
        Some([lo, hi]) => format!(
            "\nlatency: the profile's measured curve ({lo:.1}-{hi:.1} rps per worker) at {} steps, the M/M/c model joined to it beyond at {} steps{idle}",
            l.measured_steps, l.model_steps
        ),
        None => format!(
            "\nlatency: M/M/c model (no measured curve; give --capacity profile.json to hold it to measurement){idle}"
        ),
    }
}

/// The what-if lines under the table (empty when no lever is used).
fn what_if_lines(w: &WhatIfReport) -> String {
    let mut text = String::new();
    if w.levers().active() {
        text.push_str(&format!(
            "\nwhat-if: CDN offload {:.1}%, cache hits {:.1}%: {:.1}% of demand reaches the app (peak {:.1} -> {:.1} rps; {:.0} -> {:.0} requests)",
            100.0 * w.cdn_offload,
            100.0 * w.cache_hit,
            100.0 * w.app_share,
            w.demand.peak_rps,
            w.app_demand.peak_rps,
            w.demand.requests,
            w.app_demand.requests,
        ));
    }
    if let Some(db) = &w.db_connections {
        text.push_str(&format!(
            "\nwhat-if: database {} connections, {} per instance: at most {} instances; peak {} connections; decisions capped by it (CAPPED_DB_CONNECTIONS): {}",
            db.max_connections,
            db.connections_per_instance,
            db.max_instances,
            db.peak_connections,
            db.capped_decisions,
        ));
    }
    text
}

/// `time,demand_rps,served_rps,instances,booting,warming,in_service,utilization,queue_depth,p95_ms,dropped`,
/// then `total_demand_rps` with `--cdn-offload`/`--cache-hit` and `db_connections`
/// with `--db-max-connections` (`demand_rps` is what reaches the app).
pub fn timeline_csv(out: &SimulateOutput) -> anyhow::Result<Vec<u8>> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let db = out.what_if.db_connections;
    let mut header = vec![
        "time",
        "demand_rps",
        "served_rps",
        "instances",
        "booting",
        "warming",
        "in_service",
        "utilization",
        "queue_depth",
        "p95_ms",
        "dropped",
    ];
    if out.total_demand.is_some() {
        header.push("total_demand_rps");
    }
    if db.is_some() {
        header.push("db_connections");
    }
    w.write_record(&header)?;
    for r in &out.result.timeline {
        let mut record = vec![
            time_at(out.start, f64::from(r.step) * out.step_seconds),
            format!("{:.3}", r.demand_rps),
            format!("{:.3}", r.served_rps),
            r.instances.to_string(),
            r.booting.to_string(),
            r.warming.to_string(),
            r.in_service.to_string(),
            format!("{:.4}", r.utilization),
            format!("{:.2}", r.queue_depth),
            // A step without arrivals has no latency: an empty cell.
            if r.p95_ms.is_nan() {
                String::new()
            } else {
                format!("{:.2}", r.p95_ms)
            },
            format!("{:.2}", r.dropped),
        ];
        if let Some(total) = &out.total_demand {
            record.push(format!("{:.3}", total[r.step as usize]));
        }
        if let Some(db) = db {
            record.push(db.connections(r.instances).to_string());
        }
        w.write_record(&record)?;
    }
    Ok(w.into_inner()?)
}

/// `time,action,from,to,reason`.
pub fn events_csv(out: &SimulateOutput) -> anyhow::Result<Vec<u8>> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(["time", "action", "from", "to", "reason"])?;
    for e in &out.result.events {
        w.write_record(&[
            time_at(out.start, e.at_seconds),
            e.action.as_str().to_string(),
            e.from.to_string(),
            e.to.to_string(),
            e.reason.code(),
        ])?;
    }
    Ok(w.into_inner()?)
}

/// SLO figures in the JSON summary.
#[derive(Serialize)]
struct SloJson {
    /// Objective, ms.
    p95_ms: f64,
    /// Time above it, minutes.
    breach_minutes: f64,
    /// Share of time above it, percent.
    breach_percent: f64,
    /// Of `breach_minutes`, those with p95 above `limits.freeze_p95_ms` (the panic
    /// freeze was on), minutes.
    frozen_breach_minutes: f64,
}

/// Version of the `--json` document (schema/simulate.schema.json); bump on a breaking change.
pub const JSON_VERSION: u32 = 1;

/// Values that differ between identical runs (wall time, thread scheduling):
/// kept under one key so a snapshot can drop `runtime` and compare the rest.
#[derive(Serialize)]
struct RuntimeJson {
    /// Wall time of the core, ms.
    timing_ms: Timing,
    /// With --recommend: simulations actually run (the rest reused; depends on
    /// which thread finished first).
    #[serde(skip_serializing_if = "Option::is_none")]
    simulated: Option<usize>,
}

/// The `--json` document (keys per DESIGN.md, plus a few extras).
#[derive(Serialize)]
struct SummaryJson<'a> {
    /// [`JSON_VERSION`].
    version: u32,
    slo: SloJson,
    /// Requests dropped, requests.
    dropped_requests: f64,
    /// Deepest queue, requests.
    max_queue_depth: f64,
    /// Worst step p95, ms.
    max_p95_ms: f64,
    /// Instance time, instance-hours.
    instance_hours: f64,
    /// instance_hours × --instance-cost (null without it), currency.
    cost: Option<f64>,
    /// Scale-ups made, decisions.
    scale_ups: u32,
    /// Scale-downs made, decisions.
    scale_downs: u32,
    /// Scale-downs followed by a scale-up within the window, flaps.
    flaps: u32,
    /// Refused or capped decisions (one per episode), decisions.
    refused: u32,
    /// Most instances at once, instances.
    peak_instances: u32,
    /// Safety cap used, instances.
    safety_cap: u32,
    /// The normal peak the safety cap multiplies.
    normal_peak: NormalPeak,
    /// What the user must hear before trusting the verdict.
    warnings: &'a [String],
    /// Steps simulated, steps.
    steps: u32,
    /// Step length, seconds.
    step_seconds: f64,
    /// Why the SLO was missed (empty when met).
    failures: Vec<String>,
    /// With --recommend: the cheapest passing policy (null when none passed).
    #[serde(skip_serializing_if = "Option::is_none")]
    recommendation: Option<Option<&'a Recommendation>>,
    /// With --recommend: policies evaluated.
    #[serde(skip_serializing_if = "Option::is_none")]
    candidates: Option<usize>,
    /// With --recommend: of those, from refining the grid's best one knob at a time.
    #[serde(skip_serializing_if = "Option::is_none")]
    refined: Option<usize>,
    /// With --recommend: the short incidents reported, not planned for.
    #[serde(skip_serializing_if = "Option::is_none")]
    incidents: Option<&'a [Incident]>,
    /// With --recommend: peak demand outside incidents (sizes min_instances), rps.
    #[serde(skip_serializing_if = "Option::is_none")]
    planned_peak_rps: Option<f64>,
    /// With --recommend: peak demand, incidents included (max_instances' headroom), rps.
    #[serde(skip_serializing_if = "Option::is_none")]
    peak_rps: Option<f64>,
    /// With --recommend: the answer against the best of a finer grid on a sample.
    #[serde(skip_serializing_if = "Option::is_none")]
    optimality: Option<Option<&'a Optimality>>,
    /// With --recommend and --db-max-connections: policies excluded for holding too many connections.
    #[serde(skip_serializing_if = "Option::is_none")]
    excluded_db_connections: Option<usize>,
    /// Which latency model the p95 came from, and at how many steps.
    latency: &'a LatencyReport,
    /// The what-if levers: demand before and after the CDN and cache, the database check.
    what_if: &'a WhatIfReport,
    /// Run-to-run varying values; snapshots filter this key.
    runtime: RuntimeJson,
}

/// The `--json` summary.
pub fn json(out: &SimulateOutput) -> anyhow::Result<String> {
    let t = &out.result.totals;
    let doc = SummaryJson {
        version: JSON_VERSION,
        slo: SloJson {
            p95_ms: out.policy.slo.p95_ms,
            breach_minutes: t.breach_minutes,
            breach_percent: t.breach_percent,
            frozen_breach_minutes: frozen_minutes(out),
        },
        dropped_requests: t.dropped_requests,
        max_queue_depth: t.max_queue_depth,
        max_p95_ms: t.max_p95_ms,
        instance_hours: t.instance_hours,
        cost: out.instance_cost.map(|c| c * t.instance_hours),
        scale_ups: t.scale_ups,
        scale_downs: t.scale_downs,
        flaps: t.flaps,
        refused: t.refused,
        peak_instances: t.peak_instances,
        safety_cap: out.result.safety_cap,
        normal_peak: out.normal_peak,
        warnings: &out.warnings,
        steps: t.steps,
        step_seconds: out.step_seconds,
        failures: failures(out),
        recommendation: out.search.as_ref().map(|s| s.best.as_ref()),
        candidates: out.search.as_ref().map(|s| s.candidates),
        refined: out.search.as_ref().map(|s| s.refined),
        incidents: out.search.as_ref().map(|s| s.incidents.as_slice()),
        planned_peak_rps: out.search.as_ref().map(|s| s.planned_peak_rps),
        peak_rps: out.search.as_ref().map(|s| s.peak_rps),
        optimality: out.search.as_ref().map(|s| s.optimality.as_ref()),
        excluded_db_connections: out
            .search
            .as_ref()
            .filter(|_| out.what_if.db_connections.is_some())
            .map(|s| s.excluded_db_connections),
        latency: &out.latency,
        what_if: &out.what_if,
        runtime: RuntimeJson {
            timing_ms: out.timing,
            simulated: out.search.as_ref().map(|s| s.simulated),
        },
    };
    let mut text = serde_json::to_string_pretty(&doc)?;
    text.push('\n');
    Ok(text)
}
