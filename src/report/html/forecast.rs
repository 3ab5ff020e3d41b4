//! The forecast section: recent history and the forecast with its interval band and
//! holidays, the pre-warm schedule, and the tables (backtest vs seasonal-naive, peaks).
use super::downsample::{band, envelope};
use super::svg::{colors, Chart, Layer, Mark, Span, XAxis};
use super::{facts, notes, pass_class, table, Cell, DISPLAY_BUCKETS};
use crate::forecast::backtest::Metrics;
use crate::forecast::holidays::HolidayCalendar;
use crate::forecast::result::ForecastResult;
use crate::forecast::series::{local_date, HourlySeries};

/// History shown before the forecast in the main chart: one week shows the weekly
/// shape without squeezing a two-day forecast into a sliver.
const HISTORY_HOURS: usize = 7 * 24;

/// The whole section (with its own heading).
pub fn section(series: &HourlySeries, calendar: &HolidayCalendar, r: &ForecastResult) -> String {
    let mut s = String::from(r#"<section id="forecast"><h2>Forecast</h2>"#);
    s.push_str(&notes("notes", &r.notes));
    let ingest = &r.ingest;
    let mut pairs = vec![
        (
            "history",
            format!(
                "{} rows of {} every {} s → {} hours",
                ingest.rows, ingest.column, ingest.interval_seconds, ingest.hours
            ),
        ),
        ("method", r.method.label.clone()),
        (
            "horizon",
            format!(
                "{} hours, {:.0}% interval",
                r.horizon_hours,
                100.0 * r.interval
            ),
        ),
    ];
    if let (Some(mae), Some(naive)) = (r.method.selection_mae, r.method.selection_naive_mae) {
        pairs.push((
            "selection",
            format!(
                "{:.2}x seasonal naive's error on {} weeks, among {} candidates{}",
                mae / naive.max(f64::MIN_POSITIVE),
                r.method.selection_weeks,
                r.method.candidates_scored,
                if r.method.fell_back_to_naive {
                    "; worse on the held-out weeks: seasonal naive shipped"
                } else {
                    ""
                }
            ),
        ));
    }
    if let Some(coverage) = r.backtest.interval_coverage {
        pairs.push((
            "interval coverage",
            format!("{:.0}% of held-out hours", 100.0 * coverage),
        ));
    }
    if !ingest.filled.is_empty() {
        pairs.push(("gaps filled", ingest.filled.len().to_string()));
    }
    if !ingest.masked.is_empty() {
        pairs.push(("outages masked", ingest.masked.len().to_string()));
    }
    if let Some(rps) = r.rps_per_instance {
        pairs.push((
            "pre-warm",
            format!("{rps:.1} rps per instance, lead {:.0} s", r.lead_seconds),
        ));
    }
    s.push_str(&facts(&pairs));
    s.push_str(&main_chart(series, calendar, r).render());
    s.push_str(&history_chart(series, calendar).render());
    if !r.prewarm.is_empty() {
        s.push_str(&prewarm_chart(r).render());
    }
    s.push_str(&format!(
        "<h3>Backtest: {} held-out week(s) from {}</h3>",
        r.backtest.weeks,
        r.backtest.from.to_rfc3339()
    ));
    s.push_str(&backtest_table(r));
    s.push_str("<h3>Predicted daily peaks</h3>");
    let rows = r
        .peaks
        .iter()
        .map(|p| {
            vec![
                Cell::from(p.time.to_rfc3339()),
                format!("{:.1}", p.rps).into(),
                format!("{:.1}", p.upper).into(),
            ]
        })
        .collect();
    s.push_str(&table(&["peak hour", "rps", "upper rps"], rows));
    if !r.prewarm.is_empty() {
        s.push_str("<h3>Pre-warm schedule</h3>");
        let rows = r
            .prewarm
            .iter()
            .map(|p| {
                vec![
                    Cell::from(p.at.to_rfc3339()),
                    p.instances.to_string().into(),
                    p.peak_time.map_or("-".into(), |t| t.to_rfc3339()).into(),
                ]
            })
            .collect();
        s.push_str(&table(&["from", "instances", "for the peak at"], rows));
    }
    if !r.outliers.is_empty() {
        s.push_str("<h3>Outliers in the history (reported, not changed)</h3>");
        let rows = r
            .outliers
            .iter()
            .map(|o| {
                vec![
                    Cell::from(o.time.to_rfc3339()),
                    o.hours.to_string().into(),
                    format!("{:.1}", o.rps).into(),
                    format!("{:.1}", o.expected_rps).into(),
                    format!("{:.2}", o.ratio).into(),
                    o.note.clone().unwrap_or_default().into(),
                ]
            })
            .collect();
        s.push_str(&table(
            &["from", "hours", "rps", "expected", "ratio", "note"],
            rows,
        ));
    }
    s.push_str("</section>");
    s
}

fn backtest_table(r: &ForecastResult) -> String {
    let bt = &r.backtest;
    let row = |name: &str, f: &dyn Fn(&Metrics) -> String| {
        vec![
            Cell::from(name),
            f(&bt.model).into(),
            f(&bt.seasonal_naive).into(),
        ]
    };
    let pct = |v: f64| format!("{:.1}%", 100.0 * v);
    let mut rows = vec![
        row("MAE (rps)", &|m| format!("{:.2}", m.mae)),
        row("MAPE", &|m| pct(m.mape)),
        row("WAPE", &|m| pct(m.wape)),
        row("MASE", &|m| format!("{:.3}", m.mase)),
        row("bias", &|m| pct(m.bias)),
        row("hours scored", &|m| m.hours.to_string()),
    ];
    rows.push(vec![
        Cell::from("model MAE / naive MAE"),
        Cell {
            text: format!("{:.3}", bt.mae_ratio),
            class: Some(pass_class(!bt.model_worse_than_naive)),
        },
        "1".into(),
    ]);
    table(&["metric", "selected", "seasonal-naive"], rows)
}

/// Time on the series' own wall clock.
fn time_axis(series: &HourlySeries) -> XAxis {
    XAxis::Time {
        offset_seconds: series.offset.local_minus_utc(),
    }
}

/// Unix seconds of hour `index` (past the end: forecast hours).
fn hour_x(series: &HourlySeries, index: usize) -> f64 {
    series.time_at(index).timestamp() as f64
}

/// Times and values of the hours from `from` on, masked hours (an outage) left out.
fn known_hours(series: &HourlySeries, from: usize) -> (Vec<f64>, Vec<f64>) {
    (from..series.len())
        .filter(|&i| !series.rps[i].is_nan())
        .map(|i| (hour_x(series, i), series.rps[i]))
        .unzip()
}

/// History and forecast with the interval band and holidays: the `--plot` chart.
pub fn main_chart(series: &HourlySeries, calendar: &HolidayCalendar, r: &ForecastResult) -> Chart {
    let mut chart = Chart::new(
        "Traffic: recent history and forecast",
        "requests/s",
        time_axis(series),
    );
    let from = series.len().saturating_sub(HISTORY_HOURS);
    let (hx, hy) = known_hours(series, from);
    let history = envelope(&hx, &hy, DISPLAY_BUCKETS);

    let fx: Vec<f64> = r
        .forecast
        .iter()
        .map(|p| p.timestamp.timestamp() as f64)
        .collect();
    let lower: Vec<f64> = r.forecast.iter().map(|p| p.lower).collect();
    let upper: Vec<f64> = r.forecast.iter().map(|p| p.upper).collect();
    let mean: Vec<f64> = r.forecast.iter().map(|p| p.rps).collect();
    chart.layers.push(Layer::Area {
        name: format!("{:.0}% interval", 100.0 * r.interval),
        color: colors::ORANGE,
        points: band(&fx, &lower, &upper, DISPLAY_BUCKETS),
        opacity: 0.25,
        step: false,
    });
    chart = chart.line("history", colors::BLUE, history).line(
        "forecast",
        colors::ORANGE,
        envelope(&fx, &mean, DISPLAY_BUCKETS),
    );
    chart.spans = holiday_spans(series, calendar, from, series.len() + r.forecast.len());
    chart.marks = r
        .peaks
        .iter()
        .map(|p| Mark {
            x: p.time.timestamp() as f64,
            group: "daily peak",
            color: colors::RED,
            label: format!("{:.0}", p.upper),
            title: format!(
                "peak {} rps (upper {:.1}) at {}",
                p.rps.round(),
                p.upper,
                p.time
            ),
        })
        .collect();
    chart
}

/// The whole history (thinned for display), holidays shaded.
pub fn history_chart(series: &HourlySeries, calendar: &HolidayCalendar) -> Chart {
    let mut chart = Chart::new("The whole history", "requests/s", time_axis(series));
    chart.height = 240.0;
    let (x, y) = known_hours(series, 0);
    chart = chart.line("history", colors::BLUE, envelope(&x, &y, DISPLAY_BUCKETS));
    chart.spans = holiday_spans(series, calendar, 0, series.len());
    chart
}

/// Hours `from..to` (past the end: forecast hours) that fall on a holiday, one span
/// per holiday.
fn holiday_spans(
    series: &HourlySeries,
    calendar: &HolidayCalendar,
    from: usize,
    to: usize,
) -> Vec<Span> {
    let mut spans: Vec<Span> = Vec::new();
    for index in from..to {
        let Some(name) = calendar.name(local_date(series.local_hour(index))) else {
            continue;
        };
        let start = hour_x(series, index);
        match spans.last_mut() {
            Some(last) if last.label == name && last.x1 == start => last.x1 = start + 3600.0,
            _ => spans.push(Span {
                x0: start,
                x1: start + 3600.0,
                label: name.to_string(),
            }),
        }
    }
    spans
}

/// Instances to hold over the horizon.
pub fn prewarm_chart(r: &ForecastResult) -> Chart {
    let mut points: Vec<(f64, f64)> = r
        .prewarm
        .iter()
        .map(|p| (p.at.timestamp() as f64, f64::from(p.instances)))
        .collect();
    if let (Some(last), Some(end)) = (points.last().copied(), r.forecast.last()) {
        points.push(((end.timestamp.timestamp() + 3600) as f64, last.1));
    }
    let offset = r
        .forecast
        .first()
        .map_or(0, |p| p.timestamp.offset().local_minus_utc());
    let mut chart = Chart::new(
        "Pre-warm schedule",
        "instances",
        XAxis::Time {
            offset_seconds: offset,
        },
    )
    .step_line("instances to hold", colors::PURPLE, points);
    chart.height = 220.0;
    chart
}
