//! The result of `capplan forecast`: plain data, serialised as the JSON summary.
use chrono::{DateTime, FixedOffset};
use serde::Serialize;

use super::backtest::{CandidateScore, Metrics};
use super::ingest::IngestReport;
use super::methods::Single;
use super::model::ModelConfig;
use super::outliers::Outlier;
use super::peaks::{Peak, PrewarmStep};

/// Version of the `--json` document (schema/forecast.schema.json); bump on a breaking change.
pub const JSON_VERSION: u32 = 2;

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
    /// The method whose forecast this is, and how it was chosen.
    pub method: MethodChoice,
    /// The best regression variant of the selection, fitted on the whole history.
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

/// The method that produced the forecast, and the rolling-origin selection behind it.
#[derive(Debug, Clone, Serialize)]
pub struct MethodChoice {
    /// The method shipped: the selection's winner, or seasonal naive when the winner lost
    /// to it on the held-out weeks.
    pub label: String,
    /// `model`, `baseline` or `combination` (the equal-weight mean of two).
    pub kind: &'static str,
    /// The forecasters it averages.
    pub parts: Vec<Single>,
    /// The selection's winner.
    pub selected: String,
    /// True when the winner was worse than seasonal naive on the held-out weeks and
    /// seasonal naive was shipped instead.
    pub fell_back_to_naive: bool,
    /// Weeks the selection scored, before the held-out weeks: the most recent ones plus
    /// earlier weeks holding a holiday (count; 0 = too short, default regression used).
    pub selection_weeks: usize,
    /// The winner's week-ahead MAE over the selection weeks (requests/s; null without selection).
    pub selection_mae: Option<f64>,
    /// Seasonal naive's MAE over the same hours (requests/s; null without selection).
    pub selection_naive_mae: Option<f64>,
    /// Candidates scored: regression variants, baselines and combinations (count).
    pub candidates_scored: usize,
    /// The best candidates, best first.
    pub candidates: Vec<CandidateScore>,
}

/// A regression variant.
#[derive(Debug, Clone, Serialize)]
pub struct ModelChoice {
    /// The variant.
    pub config: ModelConfig,
    /// Human-readable form of `config`.
    pub label: String,
    /// Hours of history it was fitted on (count).
    pub fitted_hours: usize,
    /// Its trend slope (model units per year: rps, or log(1 + rps); 0 without a trend term).
    pub trend_per_year: f64,
    /// Start of a level shift detected in the last weeks, where its fit starts (variants
    /// with a trend term only; null: none).
    pub level_shift_from: Option<DateTime<FixedOffset>>,
}

/// Held-out accuracy, week-ahead forecasts from rolling origins.
#[derive(Debug, Clone, Serialize)]
pub struct Backtest {
    /// Held-out weeks (count).
    pub weeks: usize,
    /// First held-out hour (RFC 3339).
    pub from: DateTime<FixedOffset>,
    /// The method backtested: the selection's winner.
    pub method: String,
    /// The selection winner's accuracy.
    pub model: Metrics,
    /// The same hour one week earlier, as a forecast.
    pub seasonal_naive: Metrics,
    /// Winner MAE / seasonal-naive MAE (ratio; below 1 = winner better).
    pub mae_ratio: f64,
    /// True when the winner's MAE is higher than the baseline's (seasonal naive is then shipped).
    pub model_worse_than_naive: bool,
    /// Share of held-out hours inside the interval built from the weeks before them
    /// (fraction; null without selection weeks).
    pub interval_coverage: Option<f64>,
    /// Residual quantiles that make the interval, as fractions of (forecast + a tenth of the
    /// mean rps) (in log(1 + rps) with --multiplicative).
    pub residual_low: f64,
    /// Upper residual quantile (same units).
    pub residual_high: f64,
    /// The band used on holiday hours instead, from the holiday hours of the scored weeks
    /// (null with fewer than 24 such hours).
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
