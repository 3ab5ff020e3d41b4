//! The result of `capplan forecast`: plain data, serialised as the JSON summary.
use chrono::{DateTime, FixedOffset};
use serde::Serialize;

use super::backtest::{CandidateScore, Metrics};
use super::ingest::IngestReport;
use super::model::ModelConfig;
use super::outliers::Outlier;
use super::peaks::{Peak, PrewarmStep};

/// Version of the `--json` document (schema/forecast.schema.json); bump on a breaking change.
pub const JSON_VERSION: u32 = 1;

/// Everything the forecast found (`--json` writes this).
#[derive(Debug, Clone, Serialize)]
pub struct ForecastResult {
    /// [`JSON_VERSION`].
    pub version: u32,
    /// Hours forecast (count).
    pub horizon_hours: usize,
    /// Coverage of the interval [lower, upper] (fraction).
    pub interval: f64,
    /// What ingest read and did (gaps filled, outliers reported).
    pub ingest: IngestReport,
    /// Spikes and dips in the history (not on holidays), reported and NOT changed.
    pub outliers: Vec<Outlier>,
    /// The chosen model and how it was chosen.
    pub model: ModelChoice,
    /// Held-out accuracy of the model and of the seasonal-naive baseline.
    pub backtest: Backtest,
    /// The hourly forecast.
    pub forecast: Vec<ForecastPoint>,
    /// Highest forecast hour of each day.
    pub peaks: Vec<Peak>,
    /// Sustainable rps of one instance used for the pre-warm schedule (requests/s).
    pub rps_per_instance: Option<f64>,
    /// Lead of each pre-warm rise (seconds).
    pub lead_seconds: f64,
    /// Instances to hold over time (empty without --rps-per-instance / --capacity).
    pub prewarm: Vec<PrewarmStep>,
    /// Plain-language remarks (model worse than the baseline, short history ...).
    pub notes: Vec<String>,
}

/// The model that produced the forecast.
#[derive(Debug, Clone, Serialize)]
pub struct ModelChoice {
    /// The chosen variant.
    pub config: ModelConfig,
    /// Human-readable form of `config`.
    pub label: String,
    /// Weeks the rolling-origin selection scored, before the backtest weeks: the most recent
    /// ones plus earlier weeks holding a holiday (count; 0 = too short, default used).
    pub selection_weeks: usize,
    /// Every candidate's week-ahead MAE at the selection origins, best first.
    pub candidates: Vec<CandidateScore>,
    /// Hours of history the final model was fitted on (count).
    pub fitted_hours: usize,
    /// Trend slope of the final model (model units per year: rps, or log(1 + rps)).
    pub trend_per_year: f64,
}

/// Held-out accuracy, week-ahead forecasts from rolling origins.
#[derive(Debug, Clone, Serialize)]
pub struct Backtest {
    /// Held-out weeks (count).
    pub weeks: usize,
    /// First held-out hour (RFC 3339).
    pub from: DateTime<FixedOffset>,
    /// The model's accuracy.
    pub model: Metrics,
    /// The same hour one week earlier, as a forecast.
    pub seasonal_naive: Metrics,
    /// Model MAE / seasonal-naive MAE (ratio; below 1 = model better).
    pub mae_ratio: f64,
    /// True when the model's MAE is higher than the baseline's.
    pub model_worse_than_naive: bool,
    /// Residual quantiles that make the interval (model units: rps, or log(1 + rps)).
    pub residual_low: f64,
    /// Upper residual quantile (same units).
    pub residual_high: f64,
    /// The band used on holiday hours instead, from week-ahead forecasts of recent holiday
    /// weeks (null without enough holiday hours or when holidays are ignored).
    pub holiday_residuals: Option<ResidualBand>,
}

/// Residual quantiles that make an interval.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct ResidualBand {
    /// Lower quantile (model units: rps, or log(1 + rps)).
    pub low: f64,
    /// Upper quantile (same units).
    pub high: f64,
    /// Residuals the quantiles come from (count of hours).
    pub hours: usize,
}

/// One forecast hour; the CSV columns are timestamp, rps, lower, upper.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ForecastPoint {
    /// Start of the hour (RFC 3339).
    pub timestamp: DateTime<FixedOffset>,
    /// Forecast mean rps of the hour (requests/s).
    pub rps: f64,
    /// Lower bound of the interval (requests/s).
    pub lower: f64,
    /// Upper bound of the interval (requests/s).
    pub upper: f64,
    /// Holiday name when the hour falls on one.
    pub holiday: Option<String>,
}
