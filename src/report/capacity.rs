//! The capacity search's terminal report: the knee, the measured curve as a table.
use comfy_table::presets::UTF8_FULL_CONDENSED;
use comfy_table::{CellAlignment, Table};

use crate::loadtest::capacity::{SearchOutcome, Verdict};
use crate::profile::CapacityProfile;
use crate::units::format_ms;

fn verdict_text(v: Verdict) -> &'static str {
    match v {
        Verdict::Holds => "holds",
        Verdict::LatencyOverSlo => "latency over SLO",
        Verdict::ErrorsOverBudget => "errors over budget",
        Verdict::RateNotKept => "rate not kept",
        Verdict::QueueGrowing => "queue growing",
    }
}

/// The curve (every step, by offered rate) and the knee.
pub fn summary(profile: &CapacityProfile, outcome: &SearchOutcome) -> String {
    let mut steps: Vec<_> = outcome.steps.iter().collect();
    steps.sort_by(|a, b| {
        a.measurement
            .offered_rps
            .total_cmp(&b.measurement.offered_rps)
    });
    let mut table = Table::new();
    table.load_preset(UTF8_FULL_CONDENSED).set_header(vec![
        "offered rps",
        "achieved rps",
        "p50",
        "p95",
        "p99",
        "errors",
        "verdict",
    ]);
    for s in steps {
        let m = &s.measurement;
        table.add_row(vec![
            format!("{:.1}", m.offered_rps),
            format!("{:.1}", m.achieved_rps),
            format_ms(m.p50_ms),
            format_ms(m.p95_ms),
            format_ms(m.p99_ms),
            format!("{:.2}%", 100.0 * m.error_rate),
            verdict_text(s.verdict).to_string(),
        ]);
    }
    for column in 0..6 {
        if let Some(c) = table.column_mut(column) {
            c.set_cell_alignment(CellAlignment::Right);
        }
    }
    let knee = match outcome.sustainable_rps {
        Some(rps) => format!(
            "knee: {rps:.1} rps hold {} ({:.2} rps per worker over {} worker(s)); next step up broke it at {}",
            profile.slo,
            profile.rps_per_worker,
            profile.workers_measured,
            outcome
                .breaking_rps
                .map_or("no rate tried".to_string(), |r| format!("{r:.1} rps")),
        ),
        None => format!("knee: not found: {} failed at every rate tried", profile.slo),
    };
    format!(
        "{table}\nservice time at low load: mean {}, p95 {}\n{knee}\n",
        format_ms(profile.service_time_ms.mean),
        format_ms(profile.service_time_ms.p95)
    )
}
