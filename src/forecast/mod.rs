//! `capplan forecast`: hourly history -> backtested forecast, daily peaks, pre-warm schedule.
//!
//! Pure core: [`forecast`] takes the hourly series, the calendar ([`build_calendar`])
//! and validated [`Settings`] and returns a [`result::ForecastResult`]. The readers
//! ([`ingest::read_history`], [`capacity::read_rps_per_instance`]) are called by
//! `commands::forecast`, which also prints and writes (renderers: `report::forecast`).
pub mod backtest;
pub mod capacity;
pub mod features;
pub mod holidays;
pub mod ingest;
mod locust;
pub mod methods;
pub mod model;
pub mod outliers;
pub mod peaks;
pub mod result;
pub mod series;

use chrono::{Datelike, NaiveDate};

use crate::error::InputError;
use backtest::{
    evaluate, from_interval_space, metrics, model_candidates, naive_scale, quantile, rank,
    to_interval_space, CandidateScore, Evaluation, WEEK,
};
use features::HolidayMode;
use holidays::{HolidayCalendar, HolidayDays};
use methods::{forecast_method, Method, Single};
use model::{fit, Designs, ModelConfig, Trend};
use result::{Backtest, ForecastPoint, ForecastResult, MethodChoice, ModelChoice, ResidualBand};
use series::{local_date, HourlySeries};

/// Weeks of rolling-origin selection before the backtest weeks, at most: enough that one
/// odd week does not decide.
const SELECTION_WEEKS: usize = 8;
/// Candidates listed in the output, best first (all are scored).
const MAX_LISTED_CANDIDATES: usize = 12;
/// Most recent holiday weeks added to the selection origins, at most.
const MAX_HOLIDAY_WEEKS: usize = 6;
/// Half-life used when the history is too short to choose one.
const DEFAULT_HALF_LIFE_WEEKS: f64 = 4.0;
/// Weeks of history before each scored week, at least (fewer only on a short history).
const MIN_TRAINING_WEEKS: usize = 2;
/// Weeks of history a forecast needs at least: one to learn from, one to check it on.
const MIN_HISTORY_WEEKS: usize = 2;

/// Validated settings of one forecast.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub horizon_hours: usize,
    pub backtest_weeks: usize,
    pub interval: f64,
    pub multiplicative: bool,
    /// False with --no-holidays: the model ignores the calendar.
    pub holidays: bool,
    pub rps_per_instance: Option<f64>,
    pub lead: chrono::Duration,
}

/// The command line's defaults: 48 h ahead, 2 weeks of backtest, a 90 % interval,
/// additive, holidays on, no instance sizing, 10 min lead (a test in
/// commands/forecast.rs holds cli.rs to them).
impl Default for Settings {
    fn default() -> Self {
        Settings {
            horizon_hours: 48,
            backtest_weeks: 2,
            interval: 0.9,
            multiplicative: false,
            holidays: true,
            rps_per_instance: None,
            lead: chrono::Duration::minutes(10),
        }
    }
}

/// Most instances a pre-warm schedule may ask for: more means the rps of one
/// instance was given in the wrong unit (per fleet, per ms) or is absurdly low.
const MAX_INSTANCES: f64 = 1_000_000.0;

/// Refuse an rps per instance that would need an absurd fleet at the forecast peak.
fn check_fleet_size(points: &[ForecastPoint], rps_per_instance: f64) -> Result<(), InputError> {
    let peak = points.iter().map(|p| p.upper).fold(0.0, f64::max);
    let instances = peak / rps_per_instance;
    if instances > MAX_INSTANCES {
        // 1e-300 would print as three hundred digits.
        let rps_per_instance = if rps_per_instance < 1e-3 {
            format!("{rps_per_instance:e}")
        } else {
            rps_per_instance.to_string()
        };
        return Err(InputError::flag(
            "--rps-per-instance",
            format!(
                "{rps_per_instance} rps per instance would need {instances:.3e} instances for the \
                 forecast's peak upper bound of {peak:.1} rps (more than {MAX_INSTANCES:.0}): give \
                 the sustainable rps of one instance"
            ),
        ));
    }
    Ok(())
}

/// US federal holidays over the history and horizon, plus `extra` (the --holidays
/// file's days); no calendar at all when the settings model no holidays.
pub fn build_calendar(
    series: &HourlySeries,
    settings: &Settings,
    extra: Vec<(NaiveDate, String)>,
) -> HolidayCalendar {
    if !settings.holidays {
        return HolidayCalendar::none();
    }
    let first = local_date(series.local_hour(0)).year();
    let last = local_date(series.local_hour(series.len() + settings.horizon_hours)).year();
    let mut calendar = HolidayCalendar::us_federal(first..=last);
    for (date, name) in extra {
        calendar.add(date, name, true);
    }
    calendar
}

/// Origins (aligned with the backtest weeks) of the most recent weeks before `end` that
/// hold a holiday and have enough history before them.
fn holiday_weeks(series: &HourlySeries, calendar: &HolidayCalendar, end: usize) -> Vec<usize> {
    let mut origins: Vec<usize> = (1..=end / WEEK)
        .map(|k| end - k * WEEK)
        .filter(|&origin| origin >= MIN_TRAINING_WEEKS * WEEK)
        .filter(|&origin| {
            (origin..origin + WEEK)
                .step_by(24)
                .any(|i| calendar.is_unusual(local_date(series.local_hour(i))))
        })
        .take(MAX_HOLIDAY_WEEKS)
        .collect();
    origins.reverse();
    origins
}

/// The method the rolling-origin selection chose.
struct Selection {
    /// Every candidate's score, best first (empty when the history was too short).
    scores: Vec<CandidateScore>,
    /// The origins scored (empty = too short a history: the default method).
    origins: Vec<usize>,
}

/// Holiday handling variants, in order of preference (ties go to the earlier).
fn holiday_modes(settings: &Settings) -> &'static [(HolidayMode, HolidayDays)] {
    if settings.holidays {
        &[
            (HolidayMode::OwnProfile, HolidayDays::Major),
            (HolidayMode::Sunday, HolidayDays::Major),
            (HolidayMode::OwnProfile, HolidayDays::All),
            (HolidayMode::Sunday, HolidayDays::All),
            (HolidayMode::Ignore, HolidayDays::All),
        ]
    } else {
        &[(HolidayMode::Ignore, HolidayDays::All)]
    }
}

/// The regression variant used when the history is too short to choose one.
fn default_model(settings: &Settings) -> ModelConfig {
    let (holidays, holiday_days) = holiday_modes(settings)[0];
    ModelConfig {
        holidays,
        holiday_days,
        half_life_weeks: Some(DEFAULT_HALF_LIFE_WEEKS),
        multiplicative: settings.multiplicative,
        trend: Trend::None,
    }
}

/// Rank every method on the weeks before `holdout_start`: the last [`SELECTION_WEEKS`]
/// plus recent weeks that hold a holiday.
fn select(
    series: &HourlySeries,
    calendar: &HolidayCalendar,
    settings: &Settings,
    holdout_start: usize,
) -> anyhow::Result<Selection> {
    let available = (holdout_start / WEEK).saturating_sub(MIN_TRAINING_WEEKS);
    let recent_weeks = SELECTION_WEEKS.min(available);
    let mut origins: Vec<usize> = (1..=recent_weeks)
        .rev()
        .map(|k| holdout_start - k * WEEK)
        .collect();
    if settings.holidays && recent_weeks > 0 {
        // Holiday handling can only be judged on weeks that hold a holiday: add those.
        origins.extend(holiday_weeks(series, calendar, holdout_start));
        origins.sort_unstable();
        origins.dedup();
    }
    if origins.is_empty() {
        return Ok(Selection {
            scores: Vec::new(),
            origins,
        });
    }
    let models = model_candidates(holiday_modes(settings), settings.multiplicative);
    let scores = rank(series, calendar, &models, &origins)?;
    Ok(Selection { scores, origins })
}

/// Held-out hours of ordinary days the fallback needs to be judged on them alone.
const MIN_ORDINARY_HOURS: usize = 24;

/// The interval's spread is residual / (forecast + this share of the mean traffic).
const BAND_OFFSET: f64 = 0.1;

/// Holiday hours scored at least this many times get their own interval.
const MIN_HOLIDAY_RESIDUALS: usize = 24;

/// The interval's residual quantiles from an evaluation: one band for ordinary hours, and
/// one for holiday hours when enough were scored (a holiday is harder to forecast than an
/// ordinary day; its band should say so).
fn residual_bands(
    series: &HourlySeries,
    calendar: &HolidayCalendar,
    evaluation: &Evaluation,
    interval: f64,
) -> (ResidualBand, Option<ResidualBand>) {
    let tail = (1.0 - interval) / 2.0;
    let band = |residuals: &[f64]| ResidualBand {
        low: quantile(residuals, tail),
        high: quantile(residuals, 1.0 - tail),
        hours: residuals.len(),
    };
    let holiday: Vec<f64> = evaluation
        .indices
        .iter()
        .zip(&evaluation.residuals)
        .filter(|(&index, _)| calendar.is_unusual(local_date(series.local_hour(index))))
        .map(|(_, &residual)| residual)
        .collect();
    let holiday_band = (holiday.len() >= MIN_HOLIDAY_RESIDUALS).then(|| band(&holiday));
    (band(&evaluation.residuals), holiday_band)
}

/// Share of `evaluation`'s hours inside the bands (the measured coverage of the interval).
fn coverage(
    series: &HourlySeries,
    calendar: &HolidayCalendar,
    evaluation: &Evaluation,
    bands: (ResidualBand, Option<ResidualBand>),
) -> Option<f64> {
    if evaluation.residuals.is_empty() || bands.0.low.is_nan() {
        return None;
    }
    let inside = evaluation
        .indices
        .iter()
        .zip(&evaluation.residuals)
        .filter(|(&index, &residual)| {
            let band = match bands.1 {
                Some(band) if calendar.is_unusual(local_date(series.local_hour(index))) => band,
                _ => bands.0,
            };
            band.low <= residual && residual <= band.high
        })
        .count();
    Some(inside as f64 / evaluation.residuals.len() as f64)
}

/// Select, backtest, fit and forecast: data in, data out.
pub fn forecast(
    series: &HourlySeries,
    calendar: &HolidayCalendar,
    settings: &Settings,
    ingest: ingest::IngestReport,
) -> anyhow::Result<ForecastResult> {
    let n = series.len();
    let weeks = n / WEEK;
    if weeks < MIN_HISTORY_WEEKS {
        return Err(InputError::flag(
            "--history",
            format!(
                "holds {weeks} whole week(s) ({n} hours); a forecast needs at least {MIN_HISTORY_WEEKS}: one to learn from, one to check it on"
            ),
        )
        .into());
    }
    let mut notes = ingest.notes.clone();
    // A short history gets a shorter backtest rather than none, and says so.
    let backtest_weeks = settings
        .backtest_weeks
        .min(weeks.saturating_sub(MIN_TRAINING_WEEKS).max(1));
    if backtest_weeks < settings.backtest_weeks {
        notes.push(format!(
            "the history holds {weeks} whole week(s): backtest on {backtest_weeks} week(s) instead of {} ({MIN_TRAINING_WEEKS} to fit before each), so trust its figures less",
            settings.backtest_weeks
        ));
    }
    let holdout_start = n - backtest_weeks * WEEK;
    let holdout_origins: Vec<usize> = (0..backtest_weeks)
        .map(|k| holdout_start + k * WEEK)
        .collect();
    let multiplicative = settings.multiplicative;
    let selection = select(series, calendar, settings, holdout_start)?;
    let (selected, best_model) = match selection.scores.first() {
        Some(best) => {
            let best_model = selection
                .scores
                .iter()
                .find_map(|score| score.method.models().first().copied())
                .unwrap_or_else(|| default_model(settings));
            (best.method.clone(), best_model)
        }
        None => {
            notes.push(format!(
                "history too short to choose a method by backtest (needs {} weeks); used the default regression",
                backtest_weeks + MIN_TRAINING_WEEKS + 1
            ));
            let model = default_model(settings);
            (Method::single(Single::Model { config: model }), model)
        }
    };

    // The held-out weeks: the selected method against seasonal naive.
    let holdout = evaluate(
        &selected,
        series,
        calendar,
        &holdout_origins,
        multiplicative,
    )?;
    // MASE's scale: the in-sample naive MAE, or on a one-week training set (none to
    // compute it on) the held-out naive MAE.
    let scale = match naive_scale(&series.rps[..holdout_start]) {
        scale if scale.is_finite() && scale > 0.0 => scale,
        _ => metrics(&holdout.actual, &holdout.naive, 1.0).mae,
    };
    let selected_metrics = metrics(&holdout.actual, &holdout.forecast, scale);
    let naive_metrics = metrics(&holdout.actual, &holdout.naive, scale);
    let mae_ratio = selected_metrics.mae / naive_metrics.mae.max(f64::MIN_POSITIVE);
    let worse = mae_ratio > 1.0;
    // Never ship what the backtest says is worse than last week's traffic. Judged on the
    // held-out ordinary days: holiday handling was chosen on the recent holiday weeks, and
    // two held-out weeks of Christmas must not decide the weeks after it.
    let ordinary: Vec<bool> = holdout
        .indices
        .iter()
        .map(|&index| !calendar.is_unusual(local_date(series.local_hour(index))))
        .collect();
    let ordinary_hours = ordinary.iter().filter(|&&o| o).count();
    let (judged_mae, judged_naive) = if ordinary_hours >= MIN_ORDINARY_HOURS {
        let pick = |values: &[f64]| -> Vec<f64> {
            values
                .iter()
                .zip(&ordinary)
                .filter(|(_, &o)| o)
                .map(|(&v, _)| v)
                .collect()
        };
        let actual = pick(&holdout.actual);
        (
            metrics(&actual, &pick(&holdout.forecast), 1.0).mae,
            metrics(&actual, &pick(&holdout.naive), 1.0).mae,
        )
    } else {
        (selected_metrics.mae, naive_metrics.mae)
    };
    let fall_back = judged_mae > judged_naive;
    let shipped = if fall_back {
        notes.push(format!(
            "the selected method ({}) was WORSE than seasonal-naive on the held-out weeks' {} (MAE {judged_mae:.3} vs {judged_naive:.3} rps): the forecast is seasonal naive instead",
            selected.label,
            if ordinary_hours >= MIN_ORDINARY_HOURS { "ordinary days" } else { "hours" },
        ));
        Method::seasonal_naive()
    } else {
        if worse {
            notes.push(format!(
                "the selected method was worse than seasonal-naive on the held-out weeks ({mae_ratio:.2}x) through their holidays only; not on their ordinary days: shipped",
            ));
        }
        selected.clone()
    };
    let shipped_holdout = if fall_back {
        evaluate(&shipped, series, calendar, &holdout_origins, multiplicative)?
    } else {
        holdout.clone()
    };
    // Interval coverage, measured honestly: bands from the weeks before the held-out ones,
    // checked on the held-out weeks.
    let selection_evaluation = evaluate(
        &shipped,
        series,
        calendar,
        &selection.origins,
        multiplicative,
    )?;
    // Bands scale with the forecast (a busy hour errs by more rps than a quiet one):
    // residuals are divided by forecast + a tenth of the mean traffic (in log space with
    // --multiplicative they are relative already).
    let known: Vec<f64> = series.rps.iter().copied().filter(|v| !v.is_nan()).collect();
    let offset = BAND_OFFSET * known.iter().sum::<f64>() / known.len().max(1) as f64;
    let spread = |rps: f64| {
        if multiplicative {
            1.0
        } else {
            rps + offset
        }
    };
    let relative = |evaluation: &Evaluation| {
        let mut scaled = evaluation.clone();
        for (residual, &forecast) in scaled.residuals.iter_mut().zip(&evaluation.forecast) {
            *residual /= spread(forecast);
        }
        scaled
    };
    let interval_coverage = coverage(
        series,
        calendar,
        &relative(&shipped_holdout),
        residual_bands(
            series,
            calendar,
            &relative(&selection_evaluation),
            settings.interval,
        ),
    );
    // The forecast's bands: every scored week, selection and held-out (more hours, and
    // holiday weeks among them).
    let mut all = relative(&selection_evaluation);
    let holdout_relative = relative(&shipped_holdout);
    all.indices.extend(&holdout_relative.indices);
    all.residuals.extend(&holdout_relative.residuals);
    let (band, holiday_band) = residual_bands(series, calendar, &all, settings.interval);

    let designs = Designs::new(series, calendar, &shipped.models());
    let model = fit(series, n, calendar, best_model)?;
    // A baseline has no value for an hour of week masked in every week it saw (an outage
    // in a two-week history): the regression's forecast stands in.
    let center: Vec<f64> = forecast_method(
        &shipped,
        series,
        calendar,
        &designs,
        n,
        settings.horizon_hours,
    )?
    .into_iter()
    .enumerate()
    .map(|(k, rps)| {
        if rps.is_nan() {
            model.predict(series, calendar, n + k)
        } else {
            rps
        }
    })
    .collect();
    let points: Vec<ForecastPoint> = (n..n + settings.horizon_hours)
        .zip(&center)
        .map(|(index, &rps)| {
            let date = local_date(series.local_hour(index));
            let band = match holiday_band {
                Some(holiday) if calendar.is_unusual(date) => holiday,
                _ => band,
            };
            let center = to_interval_space(rps, multiplicative);
            ForecastPoint {
                timestamp: series.time_at(index),
                rps,
                lower: from_interval_space(center + band.low * spread(rps), multiplicative),
                upper: from_interval_space(center + band.high * spread(rps), multiplicative),
                holiday: calendar.name(date).map(str::to_string),
            }
        })
        .collect();
    let peaks = peaks::daily_peaks(&points);
    let prewarm = match settings.rps_per_instance {
        Some(rps) => {
            check_fleet_size(&points, rps)?;
            peaks::prewarm_schedule(&points, &peaks, rps, settings.lead)
        }
        None => Vec::new(),
    };
    let selection_naive_mae = selection
        .scores
        .iter()
        .find(|score| score.method.is_seasonal_naive())
        .map(|score| score.mae);
    let candidates_scored = selection.scores.len();
    let mut candidates = selection.scores;
    candidates.truncate(MAX_LISTED_CANDIDATES);

    Ok(ForecastResult {
        version: result::JSON_VERSION,
        horizon_hours: settings.horizon_hours,
        interval: settings.interval,
        ingest,
        outliers: outliers::find_outliers(series, calendar),
        method: MethodChoice {
            label: shipped.label.clone(),
            kind: shipped.kind,
            parts: shipped.parts.clone(),
            selected: selected.label.clone(),
            fell_back_to_naive: fall_back,
            selection_weeks: selection.origins.len(),
            selection_mae: candidates.first().map(|c| c.mae),
            selection_naive_mae,
            candidates_scored,
            candidates,
        },
        model: ModelChoice {
            config: model.config,
            label: model.config.label(),
            fitted_hours: n,
            trend_per_year: model.trend_per_year,
            level_shift_from: model.shift_from.map(|index| series.time_at(index)),
        },
        backtest: Backtest {
            weeks: backtest_weeks,
            from: series.time_at(holdout_start),
            method: selected.label,
            model: selected_metrics,
            seasonal_naive: naive_metrics,
            mae_ratio,
            model_worse_than_naive: worse,
            interval_coverage,
            residual_low: band.low,
            residual_high: band.high,
            holiday_residuals: holiday_band,
        },
        forecast: points,
        peaks,
        rps_per_instance: settings.rps_per_instance,
        lead_seconds: settings.lead.num_milliseconds() as f64 / 1000.0,
        prewarm,
        notes,
    })
}
