//! Presentation of `capplan forecast`: summary tables, forecast CSV, JSON, terminal
//! chart, each returned as text (`commands::forecast` writes them).
use std::fmt::Write as _;

use comfy_table::{presets::UTF8_FULL_CONDENSED, Table};

use crate::forecast::result::ForecastResult;
use crate::forecast::series::{hour_of_day, HourlySeries};

/// The forecast CSV: `timestamp,rps,lower,upper`, itself a valid traffic CSV.
pub fn render_csv(result: &ForecastResult) -> String {
    let mut out = String::from("timestamp,rps,lower,upper\n");
    for p in &result.forecast {
        let _ = writeln!(
            out,
            "{},{:.4},{:.4},{:.4}",
            p.timestamp.to_rfc3339(),
            p.rps,
            p.lower,
            p.upper
        );
    }
    out
}

/// The JSON summary (pretty-printed).
pub fn render_json(result: &ForecastResult) -> anyhow::Result<String> {
    Ok(serde_json::to_string_pretty(result)?)
}

fn percent(fraction: f64) -> String {
    format!("{:.1}%", fraction * 100.0)
}

/// Summary tables: history, model, backtest, peaks, pre-warm.
pub fn render_summary(result: &ForecastResult) -> String {
    let mut out = String::new();
    let ingest = &result.ingest;
    let _ = writeln!(
        out,
        "History: {} rows ({} {}, every {} s) -> {} hours",
        ingest.rows, ingest.format, ingest.column, ingest.interval_seconds, ingest.hours
    );
    for run in &ingest.filled {
        let _ = writeln!(
            out,
            "  filled by linear interpolation: {} hour(s) from {}",
            run.hours,
            run.from.format("%Y-%m-%d %H:%M")
        );
    }
    if ingest.dropped_partial_hours > 0 {
        let _ = writeln!(
            out,
            "  left out {} incomplete hour(s) at the edges",
            ingest.dropped_partial_hours
        );
    }
    for o in &result.outliers {
        let note = o
            .note
            .as_deref()
            .map(|n| format!(" -- {n}"))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "  outlier kept as is: {} h around {}, up to {:.2}x the same hour in nearby weeks ({:.3} rps){note}",
            o.hours,
            o.time.format("%Y-%m-%d %H:%M"),
            o.ratio,
            o.rps
        );
    }
    let method = &result.method;
    match (method.selection_mae, method.selection_naive_mae) {
        (Some(mae), Some(naive)) => {
            let _ = writeln!(
                out,
                "Selection: {} among {} candidates (regression variants, baselines, combinations) \
                 on {} rolling-origin weeks: MAE {mae:.3} vs seasonal-naive {naive:.3} rps ({:.2}x)",
                method.selected,
                method.candidates_scored,
                method.selection_weeks,
                mae / naive.max(f64::MIN_POSITIVE)
            );
        }
        _ => {
            let _ = writeln!(
                out,
                "Selection: none (history too short); default {}",
                method.selected
            );
        }
    }
    let _ = writeln!(out, "Forecast: {}", method.label);

    let bt = &result.backtest;
    let mut table = Table::new();
    table.load_preset(UTF8_FULL_CONDENSED);
    table.set_header(vec![
        format!(
            "backtest: {} week(s) from {}",
            bt.weeks,
            bt.from.format("%Y-%m-%d %H:%M")
        ),
        "selected".into(),
        "seasonal-naive".into(),
    ]);
    table.add_row(vec![
        "MAE (rps)".into(),
        format!("{:.3}", bt.model.mae),
        format!("{:.3}", bt.seasonal_naive.mae),
    ]);
    table.add_row(vec![
        "MAPE".into(),
        percent(bt.model.mape),
        percent(bt.seasonal_naive.mape),
    ]);
    table.add_row(vec![
        "WAPE".into(),
        percent(bt.model.wape),
        percent(bt.seasonal_naive.wape),
    ]);
    table.add_row(vec![
        "MASE".into(),
        format!("{:.3}", bt.model.mase),
        format!("{:.3}", bt.seasonal_naive.mase),
    ]);
    table.add_row(vec![
        "bias".into(),
        percent(bt.model.bias),
        percent(bt.seasonal_naive.bias),
    ]);
    let _ = writeln!(out, "{table}");
    let verdict = if bt.model_worse_than_naive {
        "WORSE than seasonal-naive on the held-out weeks: the forecast is seasonal naive instead"
    } else {
        "not worse than seasonal-naive: shipped"
    };
    let _ = writeln!(
        out,
        "Selected MAE = {:.2}x seasonal-naive MAE: {verdict}",
        bt.mae_ratio
    );
    if let Some(coverage) = bt.interval_coverage {
        let _ = writeln!(
            out,
            "Interval: {:.0}% nominal, {} of held-out hours inside (bands from the weeks before them)",
            result.interval * 100.0,
            percent(coverage)
        );
    }

    let mut peaks = Table::new();
    peaks.load_preset(UTF8_FULL_CONDENSED);
    peaks.set_header(vec![
        "daily peak".to_string(),
        "rps".into(),
        format!("upper ({:.0}%)", result.interval * 100.0),
        "holiday".into(),
    ]);
    for peak in &result.peaks {
        let holiday = result
            .forecast
            .iter()
            .find(|p| p.timestamp == peak.time)
            .and_then(|p| p.holiday.clone())
            .unwrap_or_default();
        peaks.add_row(vec![
            peak.time.format("%a %Y-%m-%d %H:%M").to_string(),
            format!("{:.2}", peak.rps),
            format!("{:.2}", peak.upper),
            holiday,
        ]);
    }
    let _ = writeln!(out, "{peaks}");

    if let Some(rps) = result.rps_per_instance {
        let mut steps = Table::new();
        steps.load_preset(UTF8_FULL_CONDENSED);
        steps.set_header(vec![
            format!(
                "pre-warm at ({} rps/instance, lead {} s)",
                rps, result.lead_seconds
            ),
            "instances".into(),
            "for peak".into(),
        ]);
        for step in &result.prewarm {
            let peak = step
                .peak_time
                .map(|t| t.format("%a %H:%M").to_string())
                .unwrap_or_default();
            steps.add_row(vec![
                step.at.format("%a %Y-%m-%d %H:%M").to_string(),
                step.instances.to_string(),
                peak,
            ]);
        }
        let _ = writeln!(out, "{steps}");
    }
    for note in &result.notes {
        let _ = writeln!(out, "NOTE: {note}");
    }
    out
}

const EIGHTHS: [char; 9] = [' ', '▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];

/// Bar chart of the last week of history, a `┃` at now, then the forecast (`·` marks the upper bound).
pub fn render_chart(
    series: &HourlySeries,
    result: &ForecastResult,
    max_width: usize,
    height: usize,
) -> String {
    let total = series.len().min(168) + result.forecast.len();
    let per_column = total.div_ceil(max_width.max(1)).max(1);
    // Whole columns only, so every column starts on a known hour.
    let history_hours = series.len().min(168) / per_column * per_column;
    let history = &series.rps[series.len() - history_hours..];
    // Each column shows the highest hour it covers: peaks are what capacity is about.
    let column = |values: &[f64]| values.iter().cloned().fold(0.0, f64::max);
    let past: Vec<f64> = history.chunks(per_column).map(column).collect();
    let ahead: Vec<f64> = result
        .forecast
        .chunks(per_column)
        .map(|c| c.iter().map(|p| p.rps).fold(0.0, f64::max))
        .collect();
    let upper: Vec<f64> = result
        .forecast
        .chunks(per_column)
        .map(|c| c.iter().map(|p| p.upper).fold(0.0, f64::max))
        .collect();
    let top = past
        .iter()
        .chain(&upper)
        .cloned()
        .fold(f64::MIN_POSITIVE, f64::max);
    let cells = |value: f64| ((value / top) * (height * 8) as f64).round() as usize;

    let mut out = format!(
        "Last {history_hours} h and {} h forecast, 1 column = {per_column} h (max of the hours)\n",
        result.forecast.len()
    );
    for row in (0..height).rev() {
        let label = if row == height - 1 {
            format!("{top:>9.1} ")
        } else if row == 0 {
            format!("{:>9.1} ", 0.0)
        } else {
            " ".repeat(10)
        };
        out.push_str(&label);
        out.push('│');
        let bar = |value: f64| {
            let level = cells(value);
            EIGHTHS[level.saturating_sub(row * 8).min(8)]
        };
        out.extend(past.iter().map(|&v| bar(v)));
        out.push('┃');
        for (&value, &up) in ahead.iter().zip(&upper) {
            let ch = bar(value);
            let upper_row = cells(up).saturating_sub(1) / 8;
            out.push(if ch == ' ' && upper_row == row {
                '·'
            } else {
                ch
            });
        }
        out.push('\n');
    }
    // Day marks under the columns that start a local day.
    let mut axis = format!("{}└", " ".repeat(10));
    let first_hour = series.len() - history_hours;
    let start_of = |col: usize, offset: usize| first_hour + offset + col * per_column;
    let day_mark = |index: usize| {
        let hour = series.local_hour(index);
        if (0..per_column).any(|k| hour_of_day(hour + k as i64) == 0) {
            '┬'
        } else {
            '─'
        }
    };
    axis.extend((0..past.len()).map(|c| day_mark(start_of(c, 0))));
    axis.push('┸');
    axis.extend((0..ahead.len()).map(|c| day_mark(series.len() + c * per_column)));
    let _ = writeln!(out, "{axis}");
    let _ = writeln!(
        out,
        "{}history{}forecast ▶ (┬ = local midnight)",
        " ".repeat(11),
        " ".repeat(past.len().saturating_sub(7))
    );
    out
}
