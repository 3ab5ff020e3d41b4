//! Rolling-origin backtests: accuracy metrics, the seasonal-naive baseline, model selection.
use rayon::prelude::*;
use serde::Serialize;

use super::features::HolidayMode;
use super::holidays::{HolidayCalendar, HolidayDays};
use super::model::{fit_with, Designs, ModelConfig};
use super::series::HourlySeries;

/// Hours in a week: the season of the seasonal-naive baseline and the backtest step.
pub const WEEK: usize = 168;

/// Accuracy of one forecaster over held-out hours.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Metrics {
    /// Mean absolute error (requests/s).
    pub mae: f64,
    /// Mean absolute percentage error (fraction, 0.1 = 10%); hours with zero traffic are skipped.
    pub mape: f64,
    /// Weighted absolute percentage error: sum |error| / sum actual (fraction).
    pub wape: f64,
    /// Mean absolute scaled error: MAE / in-sample MAE of the weekly seasonal-naive forecast (ratio).
    pub mase: f64,
    /// Bias: sum(forecast - actual) / sum actual (fraction; positive = over-forecast).
    pub bias: f64,
    /// Held-out hours scored (count).
    pub hours: usize,
}

/// Score `forecast` against `actual`; `naive_scale` is the MASE denominator.
pub fn metrics(actual: &[f64], forecast: &[f64], naive_scale: f64) -> Metrics {
    let hours = actual.len();
    let abs_error: f64 = actual
        .iter()
        .zip(forecast)
        .map(|(a, f)| (f - a).abs())
        .sum();
    let signed: f64 = actual.iter().zip(forecast).map(|(a, f)| f - a).sum();
    let total: f64 = actual.iter().sum();
    let (percent_sum, percent_n) = actual
        .iter()
        .zip(forecast)
        .filter(|(a, _)| **a > 0.0)
        .fold((0.0, 0usize), |(s, n), (a, f)| {
            (s + (f - a).abs() / a, n + 1)
        });
    let mae = abs_error / hours.max(1) as f64;
    Metrics {
        mae,
        mape: percent_sum / percent_n.max(1) as f64,
        wape: abs_error / total.max(f64::MIN_POSITIVE),
        mase: mae / naive_scale.max(f64::MIN_POSITIVE),
        bias: signed / total.max(f64::MIN_POSITIVE),
        hours,
    }
}

/// In-sample MAE of the weekly seasonal-naive forecast on `y` (the MASE scale).
pub fn naive_scale(y: &[f64]) -> f64 {
    if y.len() <= WEEK {
        return f64::NAN;
    }
    let sum: f64 = y.windows(WEEK + 1).map(|w| (w[WEEK] - w[0]).abs()).sum();
    sum / (y.len() - WEEK) as f64
}

/// Week-ahead forecasts from several origins, with the baseline's.
#[derive(Debug, Clone, Default)]
pub struct Evaluation {
    /// Actual rps of every scored hour.
    pub actual: Vec<f64>,
    /// Model forecast (rps).
    pub model: Vec<f64>,
    /// Seasonal-naive forecast: the same hour one week earlier (rps).
    pub naive: Vec<f64>,
    /// actual - forecast in model space (rps, or log(1 + rps) when multiplicative).
    pub residuals: Vec<f64>,
    /// Series position of every scored hour.
    pub indices: Vec<usize>,
}

/// Fit on everything before each origin and forecast the week after it.
pub fn evaluate(
    series: &HourlySeries,
    calendar: &HolidayCalendar,
    config: ModelConfig,
    origins: &[usize],
) -> anyhow::Result<Evaluation> {
    let designs = Designs::new(series, calendar, &[config]);
    evaluate_with(series, calendar, config, origins, &designs)
}

/// [`evaluate`] with the designs already built.
fn evaluate_with(
    series: &HourlySeries,
    calendar: &HolidayCalendar,
    config: ModelConfig,
    origins: &[usize],
    designs: &Designs,
) -> anyhow::Result<Evaluation> {
    let mut evaluation = Evaluation::default();
    for &origin in origins {
        let model = fit_with(series, origin, calendar, config, designs)?;
        for index in origin..(origin + WEEK).min(series.len()) {
            let actual = series.rps[index];
            let predicted = model.predict_model_space(series, calendar, index);
            evaluation.actual.push(actual);
            evaluation.model.push(model.untransform(predicted));
            evaluation.naive.push(series.rps[index - WEEK]);
            evaluation
                .residuals
                .push(model.transform(actual) - predicted);
            evaluation.indices.push(index);
        }
    }
    Ok(evaluation)
}

impl Evaluation {
    pub fn model_mae(&self) -> f64 {
        metrics(&self.actual, &self.model, 1.0).mae
    }
}

/// The mean week-ahead MAE of one candidate at the selection origins.
#[derive(Debug, Clone, Serialize)]
pub struct CandidateScore {
    /// The candidate model.
    pub config: ModelConfig,
    /// Its MAE over the selection weeks (requests/s).
    pub mae: f64,
}

/// Candidates for selection: every recency crossed with every holiday mode.
pub fn candidates(
    holiday_modes: &[(HolidayMode, HolidayDays)],
    multiplicative: bool,
) -> Vec<ModelConfig> {
    const HALF_LIVES_WEEKS: [Option<f64>; 6] =
        [Some(1.0), Some(2.0), Some(4.0), Some(8.0), Some(16.0), None];
    holiday_modes
        .iter()
        .flat_map(|&(holidays, holiday_days)| {
            HALF_LIVES_WEEKS
                .iter()
                .map(move |&half_life_weeks| ModelConfig {
                    holidays,
                    holiday_days,
                    half_life_weeks,
                    multiplicative,
                })
        })
        .collect()
}

/// Score every candidate at the origins (in parallel) and return them best first.
/// Ties keep the candidates' order, so list the preferred variant first.
pub fn rank(
    series: &HourlySeries,
    calendar: &HolidayCalendar,
    candidates: &[ModelConfig],
    origins: &[usize],
) -> anyhow::Result<Vec<CandidateScore>> {
    let designs = Designs::new(series, calendar, candidates);
    let mut scores = candidates
        .par_iter()
        .map(|&config| {
            let mae = evaluate_with(series, calendar, config, origins, &designs)?.model_mae();
            Ok(CandidateScore { config, mae })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    scores.sort_by(|a, b| a.mae.total_cmp(&b.mae));
    Ok(scores)
}

/// Linear-interpolation quantile of unsorted data, `q` in 0..=1.
pub fn quantile(values: &[f64], q: f64) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    if sorted.is_empty() {
        return f64::NAN;
    }
    let position = q.clamp(0.0, 1.0) * (sorted.len() - 1) as f64;
    let low = position.floor() as usize;
    let high = position.ceil() as usize;
    sorted[low] + (sorted[high] - sorted[low]) * (position - low as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_by_hand() {
        let m = metrics(&[10.0, 20.0, 0.0], &[12.0, 15.0, 1.0], 4.0);
        assert!((m.mae - 8.0 / 3.0).abs() < 1e-12);
        assert!(
            (m.mape - (0.2 + 0.25) / 2.0).abs() < 1e-12,
            "zero hour skipped"
        );
        assert!((m.wape - 8.0 / 30.0).abs() < 1e-12);
        assert!((m.mase - 8.0 / 12.0).abs() < 1e-12);
        assert!((m.bias - (-2.0 / 30.0)).abs() < 1e-12);
    }

    #[test]
    fn naive_scale_is_the_mean_weekly_difference() {
        let y: Vec<f64> = (0..WEEK + 2).map(|i| i as f64).collect();
        assert_eq!(naive_scale(&y), WEEK as f64);
    }

    #[test]
    fn quantiles_interpolate() {
        assert_eq!(quantile(&[3.0, 1.0, 2.0, 4.0], 0.5), 2.5);
        assert_eq!(quantile(&[3.0, 1.0, 2.0], 1.0), 3.0);
    }
}
