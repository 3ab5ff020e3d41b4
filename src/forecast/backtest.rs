//! Rolling-origin backtests: accuracy metrics, the seasonal-naive baseline, the selection
//! among model variants, baselines and their combinations.
use rayon::prelude::*;
use serde::Serialize;

use super::features::HolidayMode;
use super::holidays::{HolidayCalendar, HolidayDays};
use super::methods::{
    combine, forecast_method, forecast_single, Baseline, Method, Single, BASELINES,
};
use super::model::{fit_with, Designs, FittedModel, ModelConfig, Trend};
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

/// In-sample MAE of the weekly seasonal-naive forecast on `y` (the MASE scale); masked
/// hours (NaN) are skipped.
pub fn naive_scale(y: &[f64]) -> f64 {
    let (sum, n) = y
        .windows(WEEK + 1)
        .map(|w| (w[WEEK] - w[0]).abs())
        .filter(|d| !d.is_nan())
        .fold((0.0, 0usize), |(s, n), d| (s + d, n + 1));
    if n == 0 {
        f64::NAN
    } else {
        sum / n as f64
    }
}

/// The space intervals are built in: rps, or log(1 + rps) with `--multiplicative`.
pub fn to_interval_space(rps: f64, multiplicative: bool) -> f64 {
    if multiplicative {
        rps.ln_1p()
    } else {
        rps
    }
}

/// Back from the interval space to rps (never negative).
pub fn from_interval_space(value: f64, multiplicative: bool) -> f64 {
    let rps = if multiplicative {
        value.exp_m1()
    } else {
        value
    };
    rps.max(0.0)
}

/// Week-ahead forecasts of one method from several origins, with the baseline's.
#[derive(Debug, Clone, Default)]
pub struct Evaluation {
    /// Actual rps of every scored hour (masked hours are not scored).
    pub actual: Vec<f64>,
    /// The method's forecast (rps).
    pub forecast: Vec<f64>,
    /// Seasonal-naive forecast: the same hour one week earlier (rps).
    pub naive: Vec<f64>,
    /// actual - forecast in the interval space (rps, or log(1 + rps) when multiplicative).
    pub residuals: Vec<f64>,
    /// Series position of every scored hour.
    pub indices: Vec<usize>,
    /// Position in `actual` where each origin's hours start.
    pub origin_starts: Vec<usize>,
}

impl Evaluation {
    pub fn mae(&self) -> f64 {
        metrics(&self.actual, &self.forecast, 1.0).mae
    }
}

/// The comparator: the same hour one week before (further back past masked hours).
pub fn naive_value(series: &HourlySeries, origin: usize, index: usize) -> f64 {
    Baseline::SeasonalNaive.predict(&series.rps, &[], false, origin, index)
}

/// Hours a week-ahead forecast from `origin` is scored on: up to a week, actual known and
/// the seasonal-naive forecast defined (so every method is scored on the same hours).
fn scored_hours(series: &HourlySeries, origin: usize) -> impl Iterator<Item = usize> + '_ {
    (origin..(origin + WEEK).min(series.len())).filter(move |&index| {
        !series.rps[index].is_nan() && !naive_value(series, origin, index).is_nan()
    })
}

/// Forecast the week after each origin from everything before it, and score it.
pub fn evaluate(
    method: &Method,
    series: &HourlySeries,
    calendar: &HolidayCalendar,
    origins: &[usize],
    multiplicative: bool,
) -> anyhow::Result<Evaluation> {
    let designs = Designs::new(series, calendar, &method.models());
    let mut evaluation = Evaluation::default();
    for &origin in origins {
        let hours = WEEK.min(series.len().saturating_sub(origin));
        let forecast = forecast_method(method, series, calendar, &designs, origin, hours)?;
        evaluation.origin_starts.push(evaluation.actual.len());
        for index in scored_hours(series, origin) {
            let actual = series.rps[index];
            let predicted = forecast[index - origin];
            evaluation.actual.push(actual);
            evaluation.forecast.push(predicted);
            evaluation.naive.push(naive_value(series, origin, index));
            evaluation.residuals.push(
                to_interval_space(actual, multiplicative)
                    - to_interval_space(predicted, multiplicative),
            );
            evaluation.indices.push(index);
        }
    }
    Ok(evaluation)
}

/// The week-ahead MAE of one candidate method at the selection origins.
#[derive(Debug, Clone, Serialize)]
pub struct CandidateScore {
    /// `model`, `baseline` or `combination`.
    pub kind: &'static str,
    /// The method.
    pub label: String,
    /// Its MAE over the selection weeks (requests/s).
    pub mae: f64,
    /// Its MAE / the seasonal-naive MAE over the same hours (ratio; below 1 = better).
    pub mae_ratio: f64,
    /// The mean over the selection weeks of its MAE / seasonal naive's that week (ratio;
    /// every week weighs the same).
    pub weekly_ratio: f64,
    /// The largest of those weekly ratios: its worst week.
    pub worst_weekly_ratio: f64,
    /// The ranking, lowest first: `weekly_ratio` + [`WORST_WEEK_WEIGHT`] x `worst_weekly_ratio`.
    pub score: f64,
    #[serde(skip)]
    pub method: Method,
}

/// How much a candidate's worst selection week counts beside its mean week: of two
/// methods about as good on average, the one that never did badly is chosen (a forecast
/// worse than last week's traffic costs more than a slightly better average earns).
/// Measured with scripts/accuracy_forecast.py (docs/BENCHMARKS.md): any weight from 0.1
/// to 0.35 gave the same worst week, 0.25 the best mean.
pub const WORST_WEEK_WEIGHT: f64 = 0.25;

/// Models of the ranking that enter combinations (the best ones, by MAE).
const MODELS_IN_COMBINATIONS: usize = 3;

/// Every regression variant crossed with every holiday mode, recency and trend.
pub fn model_candidates(
    holiday_modes: &[(HolidayMode, HolidayDays)],
    multiplicative: bool,
) -> Vec<ModelConfig> {
    const HALF_LIVES_WEEKS: [Option<f64>; 6] =
        [Some(1.0), Some(2.0), Some(4.0), Some(8.0), Some(16.0), None];
    const TRENDS: [Trend; 3] = [Trend::None, Trend::ToDate, Trend::Linear];
    let mut configs = Vec::new();
    for &trend in &TRENDS {
        for &(holidays, holiday_days) in holiday_modes {
            for &half_life_weeks in &HALF_LIVES_WEEKS {
                configs.push(ModelConfig {
                    holidays,
                    holiday_days,
                    half_life_weeks,
                    multiplicative,
                    trend,
                });
            }
        }
    }
    configs
}

/// Score every baseline and model variant at the origins (in parallel), then equal-weight
/// combinations of two among the baselines and the best models; best first. Ties keep
/// the order: baselines, models (as listed), combinations.
pub fn rank(
    series: &HourlySeries,
    calendar: &HolidayCalendar,
    models: &[ModelConfig],
    origins: &[usize],
) -> anyhow::Result<Vec<CandidateScore>> {
    let designs = Designs::new(series, calendar, models);
    let spans: Vec<(usize, Vec<usize>)> = origins
        .iter()
        .map(|&origin| (origin, scored_hours(series, origin).collect()))
        .collect();
    let actual: Vec<f64> = spans
        .iter()
        .flat_map(|(_, hours)| hours.iter().map(|&i| series.rps[i]))
        .collect();
    let singles: Vec<Single> = BASELINES
        .iter()
        .map(|&baseline| Single::Baseline { baseline })
        .chain(models.iter().map(|&config| Single::Model { config }))
        .collect();
    // A trend to date and a linear trend share their fit (they differ only past the
    // origin): fit once for both.
    let twin = |config: &ModelConfig| ModelConfig {
        trend: Trend::Linear,
        ..*config
    };
    let forecasts_by_part = singles
        .par_iter()
        .map(|&part| {
            if let Single::Model { config } = part {
                if config.trend == Trend::ToDate && models.contains(&twin(&config)) {
                    return Ok(None);
                }
            }
            let mut scored = Vec::with_capacity(actual.len());
            let mut to_date = Vec::new();
            for (origin, hours) in &spans {
                let Some(&last) = hours.last() else { continue };
                let span = last + 1 - origin;
                match part {
                    Single::Model { config } if config.trend == Trend::Linear => {
                        let mut model = fit_with(series, *origin, calendar, config, &designs)?;
                        let at = |model: &FittedModel, i: usize| {
                            model.predict_known(&designs, series, calendar, i)
                        };
                        scored.extend(hours.iter().map(|&i| at(&model, i)));
                        model.trend_until = Some(origin - 1);
                        to_date.extend(hours.iter().map(|&i| at(&model, i)));
                    }
                    _ => {
                        let forecast =
                            forecast_single(part, series, calendar, &designs, *origin, span)?;
                        scored.extend(hours.iter().map(|&i| forecast[i - origin]));
                    }
                }
            }
            Ok(Some((scored, to_date)))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let forecasts: Vec<Vec<f64>> = singles
        .iter()
        .zip(&forecasts_by_part)
        .map(|(part, own)| match (part, own) {
            (_, Some((scored, _))) => scored.clone(),
            (Single::Model { config }, None) => {
                let linear = singles
                    .iter()
                    .position(|p| {
                        *p == Single::Model {
                            config: twin(config),
                        }
                    })
                    .expect("the linear twin is a candidate");
                forecasts_by_part[linear]
                    .as_ref()
                    .expect("the linear twin was fitted")
                    .1
                    .clone()
            }
            (Single::Baseline { .. }, None) => unreachable!("baselines are always computed"),
        })
        .collect();
    let mae = |forecast: &[f64]| metrics(&actual, forecast, 1.0).mae;
    let naive_mae = mae(&forecasts[0]).max(f64::MIN_POSITIVE);
    // Each week weighs the same in the ranking: a week-ahead MAE relative to seasonal
    // naive's that week, so a holiday week's large errors do not choose for ordinary ones.
    let mut bounds = Vec::with_capacity(spans.len());
    let mut at = 0;
    for (_, hours) in &spans {
        bounds.push(at..at + hours.len());
        at += hours.len();
    }
    // (mean, worst) over the weeks of MAE / seasonal naive's MAE that week.
    let relative = |forecast: &[f64]| {
        let ratios: Vec<f64> = bounds
            .iter()
            .filter(|range| !range.is_empty())
            .map(|range| {
                let actual = &actual[range.clone()];
                metrics(actual, &forecast[range.clone()], 1.0).mae
                    / metrics(actual, &forecasts[0][range.clone()], 1.0)
                        .mae
                        .max(f64::MIN_POSITIVE)
            })
            .collect();
        let mean = ratios.iter().sum::<f64>() / ratios.len().max(1) as f64;
        (mean, ratios.iter().copied().fold(0.0, f64::max))
    };
    let score = |method: Method, forecast: &[f64]| {
        let mae = mae(forecast);
        let (mean, worst) = relative(forecast);
        CandidateScore {
            kind: method.kind,
            label: method.label.clone(),
            mae,
            mae_ratio: mae / naive_mae,
            weekly_ratio: mean,
            worst_weekly_ratio: worst,
            score: mean + WORST_WEEK_WEIGHT * worst,
            method,
        }
    };
    let mut scores: Vec<CandidateScore> = singles
        .iter()
        .zip(&forecasts)
        .map(|(&part, forecast)| score(Method::single(part), forecast))
        .collect();
    // The pool of combinations: every baseline and the best few models.
    let mut best_models: Vec<usize> = (BASELINES.len()..singles.len()).collect();
    best_models.sort_by(|&a, &b| scores[a].score.total_cmp(&scores[b].score));
    let pool: Vec<usize> = (0..BASELINES.len())
        .chain(best_models.into_iter().take(MODELS_IN_COMBINATIONS))
        .collect();
    for (k, &a) in pool.iter().enumerate() {
        for &b in &pool[k + 1..] {
            let forecast = combine(&[forecasts[a].clone(), forecasts[b].clone()]);
            scores.push(score(
                Method::combination(singles[a], singles[b]),
                &forecast,
            ));
        }
    }
    scores.sort_by(|a, b| a.score.total_cmp(&b.score));
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
