//! The capacity search's terminal report: the knee, the measured curve as a table.
use comfy_table::presets::UTF8_FULL_CONDENSED;
use comfy_table::{CellAlignment, Table};

use crate::formats::profile::CapacityProfile;
use crate::loadtest::capacity_search::{SearchOutcome, Verdict};
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

/// Horizontal bars in eighths of a cell.
const EIGHTHS: [char; 8] = ['▏', '▎', '▍', '▌', '▋', '▊', '▉', '█'];
/// Bar width for twice the SLO, cells.
const CHART_WIDTH: usize = 40;

/// Terminal chart of the load → latency curve: one bar per step (by offered rate), the
/// SLO's latency as a `│` at half the width, bars beyond twice the SLO clipped with `▶`.
pub fn curve_chart(outcome: &SearchOutcome, slo_ms: f64) -> String {
    let mut steps: Vec<_> = outcome.steps.iter().map(|s| &s.measurement).collect();
    steps.sort_by(|a, b| a.offered_rps.total_cmp(&b.offered_rps));
    let full_scale = 2.0 * slo_ms.max(f64::MIN_POSITIVE);
    let slo_column = CHART_WIDTH / 2;
    let mut out = format!(
        "SLO latency by offered rate (│ = {} objective, full width = 2x)\n",
        format_ms(slo_ms)
    );
    for m in steps {
        let eighths = ((m.slo_value_ms / full_scale) * (CHART_WIDTH * 8) as f64).round() as usize;
        let clipped = eighths > CHART_WIDTH * 8;
        let eighths = eighths.min(CHART_WIDTH * 8);
        let mut bar: Vec<char> = vec![' '; CHART_WIDTH];
        for cell in bar.iter_mut().take(eighths / 8) {
            *cell = '█';
        }
        if !eighths.is_multiple_of(8) {
            bar[eighths / 8] = EIGHTHS[eighths % 8 - 1];
        }
        if bar[slo_column] == ' ' {
            bar[slo_column] = '│';
        }
        let bar: String = bar.into_iter().collect();
        out.push_str(&format!(
            "{:>9.1} rps {bar}{} {}\n",
            m.offered_rps,
            if clipped { "▶" } else { " " },
            format_ms(m.slo_value_ms)
        ));
    }
    out
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
        "{table}\n{}service time at low load: mean {}, p95 {}\n{knee}\n",
        curve_chart(outcome, profile.slo.limit_ms()),
        format_ms(profile.service_time_ms.mean),
        format_ms(profile.service_time_ms.p95)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::loadtest::capacity_search::{Step, StepMeasurement};

    fn step(rps: f64, latency: f64, verdict: Verdict) -> Step {
        Step {
            measurement: StepMeasurement {
                offered_rps: rps,
                achieved_rps: rps,
                p50_ms: latency / 2.0,
                p95_ms: latency,
                p99_ms: latency,
                slo_value_ms: latency,
                error_rate: 0.0,
                rate_achieved: 1.0,
                trend: Default::default(),
            },
            verdict,
            phase: "coarse",
        }
    }

    #[test]
    fn chart_draws_bars_against_the_slo_and_clips_beyond_twice() {
        let outcome = SearchOutcome {
            sustainable_rps: Some(200.0),
            breaking_rps: Some(300.0),
            steps: vec![
                step(300.0, 500.0, Verdict::LatencyOverSlo),
                step(100.0, 50.0, Verdict::Holds),
                step(200.0, 100.0, Verdict::Holds),
            ],
        };
        let chart = curve_chart(&outcome, 100.0);
        let lines: Vec<&str> = chart.lines().collect();
        assert_eq!(lines.len(), 4, "{chart}");
        // Sorted by rate; 50 ms is a quarter of full scale: 10 full cells, then the SLO mark.
        assert!(lines[1].starts_with("    100.0 rps ██████████ "), "{chart}");
        assert!(lines[1].contains('│'), "{chart}");
        // At the SLO the bar reaches the mark; beyond twice the SLO it is clipped.
        assert!(lines[2].contains(&"█".repeat(20)), "{chart}");
        assert!(
            lines[3].contains(&format!("{}▶", "█".repeat(40))),
            "{chart}"
        );
    }
}
