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
pub mod model;
pub mod outliers;
pub mod peaks;
pub mod result;
pub mod series;

use chrono::{Datelike, NaiveDate};

use crate::error::InputError;
use backtest::{candidates, evaluate, metrics, naive_scale, quantile, rank, CandidateScore, WEEK};
use features::HolidayMode;
use holidays::{HolidayCalendar, HolidayDays};
use model::{fit, ModelConfig};
use result::{Backtest, ForecastPoint, ForecastResult, ModelChoice, ResidualBand};
use series::{local_date, HourlySeries};

/// Weeks of rolling-origin model selection before the backtest weeks, at most.
const SELECTION_WEEKS: usize = 3;
/// Most recent holiday weeks added to the selection origins, at most.
const MAX_HOLIDAY_WEEKS: usize = 6;
/// Half-life used when the history is too short to choose one.
const DEFAULT_HALF_LIFE_WEEKS: f64 = 4.0;
/// Weeks of history the first fit needs at least.
const MIN_TRAINING_WEEKS: usize = 2;

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
                .any(|i| calendar.contains(local_date(series.local_hour(i))))
        })
        .take(MAX_HOLIDAY_WEEKS)
        .collect();
    origins.reverse();
    origins
}

/// The variant the rolling-origin selection chose.
struct Selection {
    config: ModelConfig,
    /// Every candidate's score, best first (empty when the default was used).
    scores: Vec<CandidateScore>,
    /// Selection weeks used (0 = too short a history: the default).
    origins: usize,
}

/// Pick recency and holiday handling on the weeks before `holdout_start`: the last
/// [`SELECTION_WEEKS`] plus recent weeks that hold a holiday.
fn select_model(
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
    // Listed in order of preference: ties go to the earlier variant.
    let modes: &[(HolidayMode, HolidayDays)] = if settings.holidays {
        &[
            (HolidayMode::OwnProfile, HolidayDays::Major),
            (HolidayMode::Sunday, HolidayDays::Major),
            (HolidayMode::OwnProfile, HolidayDays::All),
            (HolidayMode::Sunday, HolidayDays::All),
            (HolidayMode::Ignore, HolidayDays::All),
        ]
    } else {
        &[(HolidayMode::Ignore, HolidayDays::All)]
    };
    if origins.is_empty() {
        let config = ModelConfig {
            holidays: modes[0].0,
            holiday_days: modes[0].1,
            half_life_weeks: Some(DEFAULT_HALF_LIFE_WEEKS),
            multiplicative: settings.multiplicative,
        };
        return Ok(Selection {
            config,
            scores: Vec::new(),
            origins: 0,
        });
    }
    let scores = rank(
        series,
        calendar,
        &candidates(modes, settings.multiplicative),
        &origins,
    )?;
    Ok(Selection {
        config: scores[0].config,
        scores,
        origins: origins.len(),
    })
}

/// Holiday hours scored at least this many times get their own interval.
const MIN_HOLIDAY_RESIDUALS: usize = 24;

/// Residual quantiles of holiday hours: week-ahead forecasts from the recent holiday weeks
/// (a holiday is harder to forecast than an ordinary day; its band should say so).
fn holiday_residual_band(
    series: &HourlySeries,
    calendar: &HolidayCalendar,
    config: ModelConfig,
    interval: f64,
) -> anyhow::Result<Option<ResidualBand>> {
    if config.holidays == HolidayMode::Ignore {
        return Ok(None);
    }
    let origins = holiday_weeks(series, calendar, series.len());
    let evaluation = evaluate(series, calendar, config, &origins)?;
    let residuals: Vec<f64> = evaluation
        .indices
        .iter()
        .zip(&evaluation.residuals)
        .filter(|(&index, _)| {
            calendar.is_holiday(local_date(series.local_hour(index)), config.holiday_days)
        })
        .map(|(_, &residual)| residual)
        .collect();
    if residuals.len() < MIN_HOLIDAY_RESIDUALS {
        return Ok(None);
    }
    let tail = (1.0 - interval) / 2.0;
    Ok(Some(ResidualBand {
        low: quantile(&residuals, tail),
        high: quantile(&residuals, 1.0 - tail),
        hours: residuals.len(),
    }))
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
    let needed = settings.backtest_weeks + MIN_TRAINING_WEEKS;
    if weeks < needed {
        return Err(InputError::flag(
            "--backtest",
            format!(
                "the history holds {weeks} whole week(s) ({n} hours); --backtest {}w needs at least {needed} ({MIN_TRAINING_WEEKS} to fit, {} to hold out)",
                settings.backtest_weeks, settings.backtest_weeks
            ),
        )
        .into());
    }
    let holdout_start = n - settings.backtest_weeks * WEEK;
    let holdout_origins: Vec<usize> = (0..settings.backtest_weeks)
        .map(|k| holdout_start + k * WEEK)
        .collect();
    let mut notes = Vec::new();
    let selection = select_model(series, calendar, settings, holdout_start)?;
    if selection.origins == 0 {
        notes.push(format!(
            "history too short to select recency and holiday handling by backtest (needs {} weeks); used the default",
            needed + 1
        ));
    }
    let config = selection.config;

    let evaluation = evaluate(series, calendar, config, &holdout_origins)?;
    let scale = naive_scale(&series.rps[..holdout_start]);
    let model_metrics = metrics(&evaluation.actual, &evaluation.model, scale);
    let naive_metrics = metrics(&evaluation.actual, &evaluation.naive, scale);
    let mae_ratio = model_metrics.mae / naive_metrics.mae.max(f64::MIN_POSITIVE);
    if mae_ratio > 1.0 {
        notes.push(format!(
            "the model is WORSE than seasonal-naive on the backtest (MAE {:.3} vs {:.3} rps): the same hour last week forecast the held-out weeks better",
            model_metrics.mae, naive_metrics.mae
        ));
    }
    let tail = (1.0 - settings.interval) / 2.0;
    let residual_low = quantile(&evaluation.residuals, tail);
    let residual_high = quantile(&evaluation.residuals, 1.0 - tail);

    let holiday_band = holiday_residual_band(series, calendar, config, settings.interval)?;
    let is_modelled_holiday = |index: usize| {
        config.holidays != HolidayMode::Ignore
            && calendar.is_holiday(local_date(series.local_hour(index)), config.holiday_days)
    };

    let model = fit(series, n, calendar, config)?;
    let points: Vec<ForecastPoint> = (n..n + settings.horizon_hours)
        .map(|index| {
            let center = model.predict_model_space(series, calendar, index);
            let (low, high) = match holiday_band {
                Some(band) if is_modelled_holiday(index) => (band.low, band.high),
                _ => (residual_low, residual_high),
            };
            ForecastPoint {
                timestamp: series.time_at(index),
                rps: model.untransform(center),
                lower: model.untransform(center + low),
                upper: model.untransform(center + high),
                holiday: calendar
                    .name(local_date(series.local_hour(index)))
                    .map(str::to_string),
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

    Ok(ForecastResult {
        version: result::JSON_VERSION,
        horizon_hours: settings.horizon_hours,
        interval: settings.interval,
        ingest,
        outliers: outliers::find_outliers(series, calendar),
        model: ModelChoice {
            config,
            label: config.label(),
            selection_weeks: selection.origins,
            candidates: selection.scores,
            fitted_hours: n,
            trend_per_year: model.trend_per_year,
        },
        backtest: Backtest {
            weeks: settings.backtest_weeks,
            from: series.time_at(holdout_start),
            model: model_metrics,
            seasonal_naive: naive_metrics,
            mae_ratio,
            model_worse_than_naive: mae_ratio > 1.0,
            residual_low,
            residual_high,
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
