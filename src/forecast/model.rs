//! The regression: y = b[cell(t)] + beta * trend(t) + e, fitted by (weighted) least squares.
//!
//! The one-hot cells are absorbed exactly by demeaning within each cell (the
//! Frisch-Waugh-Lovell theorem, see docs/forecast.md): linfa-linear solves the remaining
//! regression of demeaned y on demeaned trend, and each cell's level follows from its means.
//! Same coefficients as a QR fit of the full one-hot design (a test checks it), at O(rows)
//! instead of O(rows x 193^2): the rolling-origin selection runs dozens of fits.
use linfa::prelude::*;
use linfa_linear::LinearRegression;
use ndarray::{Array1, Array2};
use serde::Serialize;

use super::features::{
    cell, cell_of, fallback_cell, trend, HolidayMode, CELLS, HOUR_OF_WEEK_CELLS,
};
use super::holidays::{HolidayCalendar, HolidayDays};
use super::series::{local_date, HourlySeries};

/// One model variant; the backtest chooses among these.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ModelConfig {
    /// How holiday hours are modelled.
    pub holidays: HolidayMode,
    /// Which holidays count: all, or only those where most businesses close.
    pub holiday_days: HolidayDays,
    /// Half-life of the exponentially decaying row weights (weeks); `None` = equal weights (OLS).
    pub half_life_weeks: Option<f64>,
    /// Fit log(1 + rps) instead of rps (`--multiplicative`).
    pub multiplicative: bool,
    /// How the trend term is used; the backtest chooses (a trend must earn its place).
    pub trend: Trend,
}

/// The trend term of a variant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Trend {
    /// No trend term: each cell is the (weighted) mean of its hours.
    None,
    /// Fitted, used to bring older weeks to today's level, but held flat after the last
    /// training hour (a fully damped trend: nothing is extrapolated).
    ToDate,
    /// Fitted and extrapolated linearly over the horizon.
    Linear,
}

impl Trend {
    pub fn label(self) -> &'static str {
        match self {
            Trend::None => "no trend",
            Trend::ToDate => "trend to date",
            Trend::Linear => "linear trend",
        }
    }
}

impl ModelConfig {
    /// A short human label, e.g. `sunday, half-life 4w`.
    pub fn label(&self) -> String {
        let recency = match self.half_life_weeks {
            Some(weeks) => format!("half-life {weeks}w"),
            None => "equal weights".to_string(),
        };
        let space = if self.multiplicative { ", log" } else { "" };
        let trend = self.trend.label();
        let days = match (self.holidays, self.holiday_days) {
            (HolidayMode::Ignore, _) => "",
            (_, HolidayDays::All) => " (all)",
            (_, HolidayDays::Major) => " (major only)",
        };
        format!(
            "holidays {}{days}, {recency}, {trend}{space}",
            self.holidays.label()
        )
    }

    fn transform(&self, rps: f64) -> f64 {
        if self.multiplicative {
            rps.ln_1p()
        } else {
            rps
        }
    }

    fn untransform(&self, value: f64) -> f64 {
        let rps = if self.multiplicative {
            value.exp_m1()
        } else {
            value
        };
        rps.max(0.0)
    }
}

/// A fitted model: one level per indicator cell plus a trend slope.
#[derive(Debug, Clone)]
pub struct FittedModel {
    /// The variant as fitted (own-profile becomes sunday with too few holidays in training).
    pub config: ModelConfig,
    /// Level of each cell in model space; `None` when training never saw the cell.
    pub cell_levels: Vec<Option<f64>>,
    /// Trend slope in model space per year (0 without a trend term).
    pub trend_per_year: f64,
    /// Last position the trend is extrapolated to (`Trend::ToDate`: the last training hour).
    pub trend_until: Option<usize>,
    /// Start of a level shift detected in the last weeks (series position): the fit
    /// starts there.
    pub shift_from: Option<usize>,
}

/// Holiday x hour cells need this many holidays in training; with fewer, holiday hours take
/// Sunday's cells (one holiday is too little to learn a profile from).
pub const MIN_HOLIDAYS_FOR_OWN_PROFILE: usize = 2;

fn effective_config(
    series: &HourlySeries,
    train_end: usize,
    calendar: &HolidayCalendar,
    config: ModelConfig,
) -> ModelConfig {
    if config.holidays != HolidayMode::OwnProfile {
        return config;
    }
    let first = local_date(series.local_hour(0));
    let last = local_date(series.local_hour(train_end - 1));
    if calendar.count_between(first, last, config.holiday_days) >= MIN_HOLIDAYS_FOR_OWN_PROFILE {
        config
    } else {
        ModelConfig {
            holidays: HolidayMode::Sunday,
            ..config
        }
    }
}

/// Hours a fit looks back at most: half a year (the model has no yearly season, so older weeks
/// say little about next week; it also bounds the cost of the selection's many fits).
pub const MAX_FIT_HOURS: usize = 26 * 168;

/// Weight under which a row is left out of a fit.
const NEGLIGIBLE_WEIGHT: f64 = 1e-4;

/// Weighted sums of one cell's rows.
#[derive(Clone, Copy, Default)]
struct CellSums {
    weight: f64,
    weighted_trend: f64,
    weighted_y: f64,
}

/// What a fit needs of every hour and that does not depend on the origin or the weights:
/// its cell and its value in model space. Built once per variant, shared by many fits.
#[derive(Debug, Clone)]
pub struct Design {
    holidays: HolidayMode,
    holiday_days: HolidayDays,
    multiplicative: bool,
    cells: Vec<u8>,
    y: Vec<f64>,
}

impl Design {
    pub fn new(series: &HourlySeries, calendar: &HolidayCalendar, config: ModelConfig) -> Design {
        // The cell depends on the day only through the holiday checks: once a day.
        let mut day_cache: Option<(i64, bool, bool)> = None;
        let cells = (0..series.len())
            .map(|i| {
                let hour = series.local_hour(i);
                let day = hour.div_euclid(24);
                let (holiday, period) = match day_cache {
                    Some((cached, holiday, period)) if cached == day => (holiday, period),
                    _ => {
                        let date = local_date(hour);
                        let holiday = calendar.is_holiday(date, config.holiday_days);
                        let period = calendar.in_period(date);
                        day_cache = Some((day, holiday, period));
                        (holiday, period)
                    }
                };
                cell_of(hour, holiday, period, config.holidays) as u8
            })
            .collect();
        Design {
            holidays: config.holidays,
            holiday_days: config.holiday_days,
            multiplicative: config.multiplicative,
            cells,
            y: series
                .rps
                .iter()
                .map(|&rps| config.transform(rps))
                .collect(),
        }
    }

    fn serves(&self, config: &ModelConfig) -> bool {
        (self.holidays, self.holiday_days, self.multiplicative)
            == (config.holidays, config.holiday_days, config.multiplicative)
    }
}

/// Designs of several variants, built once (including the own-profile -> sunday fallback),
/// and which hours fall on a holiday or in a holiday period (the baselines skip those).
#[derive(Debug, Clone, Default)]
pub struct Designs(Vec<Design>, Vec<bool>);

impl Designs {
    pub fn new(
        series: &HourlySeries,
        calendar: &HolidayCalendar,
        configs: &[ModelConfig],
    ) -> Designs {
        let mut designs = Designs::default();
        let mut day_cache: Option<(i64, bool)> = None;
        designs.1 = (0..series.len())
            .map(|i| {
                let day = series.local_hour(i).div_euclid(24);
                match day_cache {
                    Some((cached, unusual)) if cached == day => unusual,
                    _ => {
                        let unusual = calendar.is_unusual(local_date(series.local_hour(i)));
                        day_cache = Some((day, unusual));
                        unusual
                    }
                }
            })
            .collect();
        for config in configs {
            let fallback = ModelConfig {
                holidays: HolidayMode::Sunday,
                ..*config
            };
            for variant in [*config, fallback] {
                if !designs.0.iter().any(|d| d.serves(&variant)) {
                    designs.0.push(Design::new(series, calendar, variant));
                }
            }
        }
        designs
    }

    /// Per hour of the series: on a holiday or in a holiday period.
    pub fn unusual(&self) -> &[bool] {
        &self.1
    }

    fn get(&self, config: &ModelConfig) -> Option<&Design> {
        self.0.iter().find(|d| d.serves(config))
    }
}

/// Fit on the first `train_end` hours of `series`.
pub fn fit(
    series: &HourlySeries,
    train_end: usize,
    calendar: &HolidayCalendar,
    config: ModelConfig,
) -> anyhow::Result<FittedModel> {
    fit_with(
        series,
        train_end,
        calendar,
        config,
        &Designs::new(series, calendar, &[config]),
    )
}

/// [`fit`] with the designs already built.
pub fn fit_with(
    series: &HourlySeries,
    train_end: usize,
    calendar: &HolidayCalendar,
    config: ModelConfig,
    designs: &Designs,
) -> anyhow::Result<FittedModel> {
    fit_weighted(series, train_end, calendar, config, designs, true)
}

/// The fit; `robust` adds the Huber reweighting (off only to test the plain solve).
fn fit_weighted(
    series: &HourlySeries,
    train_end: usize,
    calendar: &HolidayCalendar,
    config: ModelConfig,
    designs: &Designs,
    robust: bool,
) -> anyhow::Result<FittedModel> {
    anyhow::ensure!(train_end > 0, "no training data to fit");
    let config = effective_config(series, train_end, calendar, config);
    let design = match designs.get(&config) {
        Some(design) => design,
        None => anyhow::bail!("no design built for {}", config.label()),
    };
    // Weights shrink by a constant factor per hour back from the end: one multiply per
    // row. Rows below NEGLIGIBLE_WEIGHT (13 half-lives old) change nothing visible and
    // are skipped, as long as two weeks remain.
    let hourly_decay = config
        .half_life_weeks
        .map_or(1.0, |h| 0.5f64.powf(1.0 / (h * 168.0)));
    let mut weights = Vec::with_capacity(train_end);
    let mut weight = 1.0;
    for age in 0..train_end.min(MAX_FIT_HOURS) {
        if weight < NEGLIGIBLE_WEIGHT && age >= 2 * 168 {
            break;
        }
        weights.push(weight);
        weight *= hourly_decay;
    }
    let first = train_end - weights.len();
    weights.reverse();
    let rows = first..train_end;

    // Masked hours (an outage: NaN) carry no weight.
    for (w, i) in weights.iter_mut().zip(rows.clone()) {
        if design.y[i].is_nan() {
            *w = 0.0;
        }
    }
    let (mut cell_levels, mut trend_per_year) = solve(design, rows.clone(), &weights, config)?;
    // Robust: one Huber reweighting (IRLS) of the weighted least squares, so an incident
    // or a spike pulls its cell less (rows beyond 1.345 robust sigmas weigh sigma / |r|).
    let residuals: Vec<(usize, f64)> = rows
        .clone()
        .zip(&weights)
        .enumerate()
        .filter(|(_, (_, &w))| w > 0.0)
        .filter_map(|(k, (i, _))| {
            let level = cell_levels[usize::from(design.cells[i])]?;
            Some((k, design.y[i] - level - trend_per_year * trend(i)))
        })
        .collect();
    if robust && residuals.len() > 2 * CELLS {
        let mut magnitudes: Vec<f64> = residuals.iter().map(|&(_, r)| r.abs()).collect();
        let middle = magnitudes.len() / 2;
        let (_, median, _) = magnitudes.select_nth_unstable_by(middle, f64::total_cmp);
        let threshold = HUBER_K * 1.4826 * *median;
        if threshold > 0.0 {
            let mut robust = weights.clone();
            for &(k, r) in &residuals {
                if r.abs() > threshold {
                    robust[k] *= threshold / r.abs();
                }
            }
            weights = robust;
            (cell_levels, trend_per_year) = solve(design, rows.clone(), &weights, config)?;
        }
    }
    // A level shift in the last weeks: the fit starts after it. Variants with a trend term
    // follow the level; those without stay the stable weekly mean (the backtest chooses).
    let shift_from = if config.trend == Trend::None {
        None
    } else {
        level_shift_start(design, rows.clone(), &residuals, &weights)
    };
    if let Some(start) = shift_from {
        for (w, i) in weights.iter_mut().zip(rows.clone()) {
            if i < start {
                *w = 0.0;
            }
        }
        (cell_levels, trend_per_year) = solve(design, rows, &weights, config)?;
    }
    Ok(FittedModel {
        config,
        cell_levels,
        trend_per_year,
        trend_until: (config.trend == Trend::ToDate).then(|| train_end - 1),
        shift_from,
    })
}

/// Days of the last weeks a level shift is looked for in.
const SHIFT_WINDOW_DAYS: usize = 35;
/// A shift is looked for between this many days before the end ...
const MIN_DAYS_AFTER_SHIFT: usize = 7;
/// ... and this many (the fit must keep a week after it, and evidence before it).
const MAX_DAYS_AFTER_SHIFT: usize = 21;
/// Welch-style t of the daily mean residual after vs before the shift, at least.
const SHIFT_T: f64 = 8.0;
/// Relative size of a shift, at least (15 % of the level).
const MIN_SHIFT: f64 = 0.15;

/// Where a level shift in the last weeks of training starts (a series position), if there
/// is one: the daily relative residuals (residual sum / prediction sum of each day, from the
/// first fit) split into after and before, at the split that differs most; a shift is at
/// least [`MIN_SHIFT`] of the level and [`SHIFT_T`] standard errors.
fn level_shift_start(
    design: &Design,
    rows: std::ops::Range<usize>,
    residuals: &[(usize, f64)],
    weights: &[f64],
) -> Option<usize> {
    let end = rows.end;
    if rows.len() < (SHIFT_WINDOW_DAYS + 7) * 24 {
        return None;
    }
    let mut sums = vec![(0.0f64, 0.0f64); SHIFT_WINDOW_DAYS];
    for &(k, residual) in residuals {
        let i = rows.start + k;
        let day = (end - 1 - i) / 24;
        if day < SHIFT_WINDOW_DAYS && weights[k] > 0.0 {
            sums[day].0 += residual;
            sums[day].1 += (design.y[i] - residual).abs();
        }
    }
    let daily: Vec<f64> = sums
        .iter()
        .map(|&(r, p)| if p > 0.0 { r / p } else { f64::NAN })
        .collect();
    if daily.iter().any(|v| v.is_nan()) {
        return None;
    }
    let stats = |values: &[f64]| {
        let n = values.len() as f64;
        let mean = values.iter().sum::<f64>() / n;
        let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0).max(1.0);
        (mean, var, n)
    };
    (MIN_DAYS_AFTER_SHIFT..=MAX_DAYS_AFTER_SHIFT)
        .filter_map(|after_days| {
            let (after, before) = daily.split_at(after_days);
            let (ma, va, na) = stats(after);
            let (mb, vb, nb) = stats(before);
            let error = (va / na + vb / nb).sqrt().max(1e-12);
            let t = (ma - mb).abs() / error;
            (t > SHIFT_T && (ma - mb).abs() > MIN_SHIFT).then_some((after_days, t))
        })
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(after_days, _)| end - after_days * 24)
}

/// Huber's tuning constant: 95 % efficiency at Gaussian noise.
const HUBER_K: f64 = 1.345;

/// Weighted least squares of one design on `rows` with `weights` (zero = left out): each
/// cell's level and the trend slope (0 without a trend term).
fn solve(
    design: &Design,
    rows: std::ops::Range<usize>,
    weights: &[f64],
    config: ModelConfig,
) -> anyhow::Result<(Vec<Option<f64>>, f64)> {
    let mut sums = vec![CellSums::default(); CELLS];
    for (i, &w) in rows.clone().zip(weights) {
        if w == 0.0 {
            continue;
        }
        let s = &mut sums[usize::from(design.cells[i])];
        s.weight += w;
        s.weighted_trend += w * trend(i);
        s.weighted_y += w * design.y[i];
    }
    // Absorb the cell indicators: demean trend and y within each cell (weighted), scale
    // rows by sqrt(weight), and regress what is left (Frisch-Waugh-Lovell).
    let trend_per_year = if config.trend == Trend::None {
        0.0
    } else {
        let mut demeaned_trend = Array2::<f64>::zeros((weights.len(), 1));
        let mut demeaned_y = Array1::<f64>::zeros(weights.len());
        for (k, (i, &w)) in rows.zip(weights).enumerate() {
            if w == 0.0 {
                continue;
            }
            let s = sums[usize::from(design.cells[i])];
            let root = w.sqrt();
            demeaned_trend[[k, 0]] = root * (trend(i) - s.weighted_trend / s.weight);
            demeaned_y[k] = root * (design.y[i] - s.weighted_y / s.weight);
        }
        let spread: f64 = demeaned_trend.iter().map(|v| v * v).sum();
        // With a single row per cell (under two weeks) the trend is not identifiable: flat.
        if spread > 1e-12 {
            let fitted = LinearRegression::new()
                .with_intercept(false)
                .fit(&Dataset::new(demeaned_trend, demeaned_y))?;
            fitted.params()[0]
        } else {
            0.0
        }
    };
    let cell_levels = sums
        .iter()
        .map(|s| {
            (s.weight > 0.0).then(|| (s.weighted_y - trend_per_year * s.weighted_trend) / s.weight)
        })
        .collect();
    Ok((cell_levels, trend_per_year))
}

impl FittedModel {
    /// Prediction in model space for series position `index` (may lie past the end).
    pub fn predict_model_space(
        &self,
        series: &HourlySeries,
        calendar: &HolidayCalendar,
        index: usize,
    ) -> f64 {
        let c = cell(
            series.local_hour(index),
            calendar,
            self.config.holidays,
            self.config.holiday_days,
        );
        let level = self.cell_levels[c]
            .or(self.cell_levels[fallback_cell(c, series.local_hour(index))])
            .unwrap_or_else(|| self.mean_weekly_level());
        let at = self.trend_until.map_or(index, |until| index.min(until));
        level + self.trend_per_year * trend(at)
    }

    /// [`Self::predict`] for a position inside the series, its cell read from the designs
    /// the fit used (no calendar lookup: the selection predicts hundreds of thousands).
    pub fn predict_known(
        &self,
        designs: &Designs,
        series: &HourlySeries,
        calendar: &HolidayCalendar,
        index: usize,
    ) -> f64 {
        let Some(&c) = designs
            .get(&self.config)
            .and_then(|design| design.cells.get(index))
        else {
            return self.predict(series, calendar, index);
        };
        let c = usize::from(c);
        let level = self.cell_levels[c]
            .or(self.cell_levels[fallback_cell(c, series.local_hour(index))])
            .unwrap_or_else(|| self.mean_weekly_level());
        let at = self.trend_until.map_or(index, |until| index.min(until));
        self.config
            .untransform(level + self.trend_per_year * trend(at))
    }

    /// Prediction in rps (never negative).
    pub fn predict(&self, series: &HourlySeries, calendar: &HolidayCalendar, index: usize) -> f64 {
        self.config
            .untransform(self.predict_model_space(series, calendar, index))
    }

    /// Model-space value of an actual rps, for residuals.
    pub fn transform(&self, rps: f64) -> f64 {
        self.config.transform(rps)
    }

    /// Back to rps from model space (clamped at zero).
    pub fn untransform(&self, value: f64) -> f64 {
        self.config.untransform(value)
    }

    /// Fallback for a cell training never saw (only with less than a week of data).
    fn mean_weekly_level(&self) -> f64 {
        let seen: Vec<f64> = self.cell_levels[..HOUR_OF_WEEK_CELLS]
            .iter()
            .flatten()
            .copied()
            .collect();
        seen.iter().sum::<f64>() / seen.len().max(1) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::forecast::series::hour_of_week;
    use chrono::{FixedOffset, NaiveDate};
    use rand::{rngs::StdRng, Rng, SeedableRng};

    fn series(hours: usize, seed: u64) -> HourlySeries {
        let mut rng = StdRng::seed_from_u64(seed);
        let start = NaiveDate::from_ymd_opt(2024, 5, 13)
            .unwrap()
            .and_hms_opt(0, 0, 0)
            .unwrap();
        HourlySeries {
            offset: FixedOffset::east_opt(0).unwrap(),
            start_hour: start.and_utc().timestamp() / 3600,
            rps: (0..hours)
                .map(|i| {
                    50.0 + 30.0 * ((i % 24) as f64 / 4.0).sin()
                        + i as f64 * 0.01
                        + rng.gen_range(-3.0..3.0)
                })
                .collect(),
        }
    }

    /// The within-cell shortcut must give the coefficients of the full one-hot WLS fit.
    #[test]
    fn matches_a_qr_fit_of_the_full_one_hot_design() {
        let data = series(3 * 168 + 30, 7);
        let mut calendar = HolidayCalendar::none();
        calendar.add(
            NaiveDate::from_ymd_opt(2024, 5, 27).unwrap(),
            "Memorial Day",
            true,
        );
        calendar.add(
            NaiveDate::from_ymd_opt(2024, 5, 30).unwrap(),
            "a local holiday",
            false,
        );
        let config = ModelConfig {
            holidays: HolidayMode::OwnProfile,
            holiday_days: HolidayDays::All,
            half_life_weeks: Some(1.0),
            multiplicative: false,
            trend: Trend::Linear,
        };
        let n = data.len();
        let designs = Designs::new(&data, &calendar, &[config]);
        let model = fit_weighted(&data, n, &calendar, config, &designs, false).unwrap();

        let cells: Vec<usize> = (0..n)
            .map(|i| {
                cell(
                    data.local_hour(i),
                    &calendar,
                    config.holidays,
                    config.holiday_days,
                )
            })
            .collect();
        let mut active: Vec<usize> = cells.clone();
        active.sort_unstable();
        active.dedup();
        let mut x = Array2::<f64>::zeros((n, active.len() + 1));
        let mut y = Array1::<f64>::zeros(n);
        for i in 0..n {
            let root = 0.5f64.powf((n - 1 - i) as f64 / 168.0).sqrt();
            let column = active.binary_search(&cells[i]).unwrap();
            x[[i, column]] = root;
            x[[i, active.len()]] = root * trend(i);
            y[i] = root * data.rps[i];
        }
        let full = LinearRegression::new()
            .with_intercept(false)
            .fit(&Dataset::new(x, y))
            .unwrap();
        let params = full.params();
        assert!(
            (params[active.len()] - model.trend_per_year).abs()
                < 1e-6 * params[active.len()].abs().max(1.0)
        );
        for (column, &c) in active.iter().enumerate() {
            assert!(
                (params[column] - model.cell_levels[c].unwrap()).abs() < 1e-6,
                "cell {c}"
            );
        }
        assert_eq!(
            active.len(),
            168 + 24,
            "Memorial Day gives the 24 holiday cells"
        );
    }

    #[test]
    fn an_incident_pulls_its_cell_less_than_in_plain_least_squares() {
        let mut data = series(4 * 168, 2);
        let spike = 3 * 168 + 10;
        data.rps[spike] += 500.0;
        let config = ModelConfig {
            holidays: HolidayMode::Ignore,
            holiday_days: HolidayDays::All,
            half_life_weeks: None,
            multiplicative: false,
            trend: Trend::None,
        };
        let calendar = HolidayCalendar::none();
        let designs = Designs::new(&data, &calendar, &[config]);
        let n = data.len();
        let plain = fit_weighted(&data, n, &calendar, config, &designs, false).unwrap();
        let robust = fit_weighted(&data, n, &calendar, config, &designs, true).unwrap();
        let cell = hour_of_week(data.local_hour(spike));
        let others: f64 = (0..3).map(|w| data.rps[w * 168 + 10]).sum::<f64>() / 3.0;
        let off = |m: &FittedModel| (m.cell_levels[cell].unwrap() - others).abs();
        assert!(off(&plain) > 100.0, "plain {}", off(&plain));
        assert!(
            off(&robust) < 0.5 * off(&plain),
            "robust {} plain {}",
            off(&robust),
            off(&plain)
        );
    }

    #[test]
    fn a_level_shift_in_the_last_weeks_starts_the_fit_after_it() {
        let mut data = series(6 * 168, 4);
        let n = data.len();
        let shift = n - 10 * 24;
        for value in &mut data.rps[shift..] {
            *value *= 0.6;
        }
        let calendar = HolidayCalendar::none();
        let config = |trend| ModelConfig {
            holidays: HolidayMode::Ignore,
            holiday_days: HolidayDays::All,
            half_life_weeks: None,
            multiplicative: false,
            trend,
        };
        let follows = fit(&data, n, &calendar, config(Trend::ToDate)).unwrap();
        let from = follows.shift_from.expect("a 40 % drop is a shift");
        assert!(from.abs_diff(shift) <= 24, "{from} vs {shift}");
        // The next Monday hour from the days after the shift only: about 0.6 of before.
        let before = data.rps[n - 7 * 24 - 168 * 2];
        let next = follows.predict(&data, &calendar, n);
        assert!(
            (next / (0.6 * before) - 1.0).abs() < 0.2,
            "{next} vs {before}"
        );
        let stable = fit(&data, n, &calendar, config(Trend::None)).unwrap();
        assert_eq!(
            stable.shift_from, None,
            "no-trend variants keep the weekly mean"
        );
        let flat = series(6 * 168, 4);
        let none = fit(&flat, n, &calendar, config(Trend::ToDate)).unwrap();
        assert_eq!(none.shift_from, None, "no shift in a stable series");
    }

    #[test]
    fn own_profile_needs_two_holidays_in_training() {
        let data = series(3 * 168, 1);
        let mut calendar = HolidayCalendar::none();
        calendar.add(
            NaiveDate::from_ymd_opt(2024, 5, 27).unwrap(),
            "Memorial Day",
            true,
        );
        calendar.add(
            NaiveDate::from_ymd_opt(2024, 5, 30).unwrap(),
            "minor",
            false,
        );
        let own = |days| ModelConfig {
            holidays: HolidayMode::OwnProfile,
            holiday_days: days,
            half_life_weeks: None,
            multiplicative: false,
            trend: Trend::Linear,
        };
        let all = fit(&data, data.len(), &calendar, own(HolidayDays::All)).unwrap();
        assert_eq!(all.config.holidays, HolidayMode::OwnProfile);
        let major = fit(&data, data.len(), &calendar, own(HolidayDays::Major)).unwrap();
        assert_eq!(
            major.config.holidays,
            HolidayMode::Sunday,
            "one major holiday only"
        );
    }

    #[test]
    fn multiplicative_predictions_come_back_in_rps_and_never_negative() {
        let data = series(2 * 168, 3);
        let calendar = HolidayCalendar::none();
        let config = ModelConfig {
            holidays: HolidayMode::Ignore,
            holiday_days: HolidayDays::All,
            half_life_weeks: None,
            multiplicative: true,
            trend: Trend::Linear,
        };
        let model = fit(&data, data.len(), &calendar, config).unwrap();
        let predicted = model.predict(&data, &calendar, data.len());
        assert!(
            predicted > 0.0 && (predicted - data.rps[data.len() - 168]).abs() < 10.0,
            "{predicted}"
        );
        assert_eq!(model.untransform(-5.0), 0.0);
    }
}
