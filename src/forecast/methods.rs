//! The forecasting methods the rolling-origin backtest chooses among: the regression's
//! variants, robust baselines (seasonal naive, mean or median of the same hour over the
//! last k weeks) and equal-weight combinations of two of them.
use serde::Serialize;

use super::backtest::WEEK;
use super::holidays::HolidayCalendar;
use super::model::{fit_with, Designs, ModelConfig};
use super::series::{local_date, HourlySeries};

/// A forecast made of the same hour of week in the last weeks before the origin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "weeks", rename_all = "kebab-case")]
pub enum Baseline {
    /// The same hour one week earlier (the forecast every method is measured against).
    SeasonalNaive,
    /// Mean of the same hour over the last k weeks; for an ordinary day, weeks where that
    /// day was a holiday or in a holiday period are passed over.
    WeeksMean(usize),
    /// Median of the same hour over the last k weeks (an odd week does not move it); holiday
    /// days passed over as for the mean.
    WeeksMedian(usize),
}

/// Every baseline the selection scores, simplest first (ties go to the earlier).
pub const BASELINES: [Baseline; 7] = [
    Baseline::SeasonalNaive,
    Baseline::WeeksMean(1),
    Baseline::WeeksMean(2),
    Baseline::WeeksMean(3),
    Baseline::WeeksMean(4),
    Baseline::WeeksMedian(3),
    Baseline::WeeksMedian(5),
];

/// Most weeks a baseline looks back over (the size of `gather`'s stack buffer).
const MAX_WEEKS: usize = 8;

// Every baseline fits the buffer: checked when compiling, not by a panic at run time.
const _: () = {
    let mut i = 0;
    while i < BASELINES.len() {
        assert!(BASELINES[i].weeks() <= MAX_WEEKS);
        i += 1;
    }
};

impl Baseline {
    pub fn label(self) -> String {
        match self {
            Baseline::SeasonalNaive => "seasonal naive (same hour last week)".into(),
            Baseline::WeeksMean(1) => "same hour of the last ordinary week".into(),
            Baseline::WeeksMean(k) => format!("mean of the same hour over {k} weeks"),
            Baseline::WeeksMedian(k) => format!("median of the same hour over {k} weeks"),
        }
    }

    const fn weeks(self) -> usize {
        match self {
            Baseline::SeasonalNaive => 1,
            Baseline::WeeksMean(k) | Baseline::WeeksMedian(k) => k,
        }
    }

    /// Forecast of position `index` (at or after `origin`) from the weeks before `origin`
    /// (rps). Masked hours (NaN: an outage) are skipped: the search goes further back, as
    /// it does past holiday days (`unusual`, per series hour) when the target day is
    /// ordinary (`target_unusual` false), except for seasonal naive. NaN only when that
    /// hour of week was never seen.
    pub fn predict(
        self,
        rps: &[f64],
        unusual: &[bool],
        target_unusual: bool,
        origin: usize,
        index: usize,
    ) -> f64 {
        if self == Baseline::SeasonalNaive {
            return self.gather(rps, origin, index, usize::MAX, |_| true);
        }
        // An ordinary day looks past holiday days; a day of a holiday period looks for the
        // same period's days of the last two weeks first (Christmas week for New Year's).
        let like_target =
            |source: usize| unusual.get(source).copied().unwrap_or(false) == target_unusual;
        let max_back = if target_unusual { 2 } else { usize::MAX };
        let value = self.gather(rps, origin, index, max_back, like_target);
        if value.is_nan() {
            // No earlier week like the target there: take the weeks as they are.
            return self.gather(rps, origin, index, usize::MAX, |_| true);
        }
        value
    }

    /// Mean or median of the same hour in the last `self.weeks()` weeks (at most `max_back`
    /// back) whose hour is known and `accept`ed.
    fn gather(
        self,
        rps: &[f64],
        origin: usize,
        index: usize,
        max_back: usize,
        accept: impl Fn(usize) -> bool,
    ) -> f64 {
        let position = (index - origin) % WEEK;
        let wanted = self.weeks();
        let mut values = [0.0; MAX_WEEKS];
        let mut found = 0;
        let mut back = 1;
        while found < wanted && back * WEEK <= origin && back <= max_back {
            let source = origin - back * WEEK + position;
            let value = rps[source];
            if !value.is_nan() && accept(source) {
                values[found] = value;
                found += 1;
            }
            back += 1;
        }
        let values = &mut values[..found];
        match (self, found) {
            (_, 0) => f64::NAN,
            (Baseline::WeeksMedian(_), _) => {
                values.sort_by(f64::total_cmp);
                if found % 2 == 1 {
                    values[found / 2]
                } else {
                    (values[found / 2 - 1] + values[found / 2]) / 2.0
                }
            }
            _ => values.iter().sum::<f64>() / found as f64,
        }
    }
}

/// One forecaster: a regression variant or a baseline.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Single {
    Model { config: ModelConfig },
    Baseline { baseline: Baseline },
}

impl Single {
    pub fn label(&self) -> String {
        match self {
            Single::Model { config } => format!("model: {}", config.label()),
            Single::Baseline { baseline } => baseline.label(),
        }
    }
}

/// A method: one forecaster, or the equal-weight mean of two.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Method {
    /// `model`, `baseline` or `combination`.
    pub kind: &'static str,
    /// Human-readable description.
    pub label: String,
    /// The forecasters averaged (one, or two for a combination).
    pub parts: Vec<Single>,
}

impl Method {
    pub fn single(part: Single) -> Method {
        let kind = match part {
            Single::Model { .. } => "model",
            Single::Baseline { .. } => "baseline",
        };
        Method {
            kind,
            label: part.label(),
            parts: vec![part],
        }
    }

    pub fn combination(a: Single, b: Single) -> Method {
        Method {
            kind: "combination",
            label: format!("mean of [{}] and [{}]", a.label(), b.label()),
            parts: vec![a, b],
        }
    }

    pub fn seasonal_naive() -> Method {
        Method::single(Single::Baseline {
            baseline: Baseline::SeasonalNaive,
        })
    }

    pub fn is_seasonal_naive(&self) -> bool {
        *self == Method::seasonal_naive()
    }

    /// The regression variants this method uses.
    pub fn models(&self) -> Vec<ModelConfig> {
        self.parts
            .iter()
            .filter_map(|part| match part {
                Single::Model { config } => Some(*config),
                Single::Baseline { .. } => None,
            })
            .collect()
    }
}

/// Forecast of one forecaster for positions `origin..origin + hours`, fitted on
/// everything before `origin` (rps, never negative).
pub fn forecast_single(
    part: Single,
    series: &HourlySeries,
    calendar: &HolidayCalendar,
    designs: &Designs,
    origin: usize,
    hours: usize,
) -> anyhow::Result<Vec<f64>> {
    Ok(match part {
        Single::Model { config } => {
            let model = fit_with(series, origin, calendar, config, designs)?;
            (origin..origin + hours)
                .map(|index| model.predict_known(designs, series, calendar, index))
                .collect()
        }
        Single::Baseline { baseline } => {
            let unusual = designs.unusual();
            (origin..origin + hours)
                .map(|index| {
                    let target = unusual.get(index).copied().unwrap_or_else(|| {
                        calendar.is_unusual(local_date(series.local_hour(index)))
                    });
                    baseline.predict(&series.rps, unusual, target, origin, index)
                })
                .collect()
        }
    })
}

/// Equal-weight mean of the parts' forecasts; a part without a value (NaN) is left out.
pub fn combine(forecasts: &[Vec<f64>]) -> Vec<f64> {
    let hours = forecasts.first().map_or(0, Vec::len);
    (0..hours)
        .map(|h| {
            let (sum, n) = forecasts
                .iter()
                .map(|f| f[h])
                .filter(|v| !v.is_nan())
                .fold((0.0, 0usize), |(s, n), v| (s + v, n + 1));
            if n == 0 {
                f64::NAN
            } else {
                sum / n as f64
            }
        })
        .collect()
}

/// Forecast of a method for positions `origin..origin + hours`.
pub fn forecast_method(
    method: &Method,
    series: &HourlySeries,
    calendar: &HolidayCalendar,
    designs: &Designs,
    origin: usize,
    hours: usize,
) -> anyhow::Result<Vec<f64>> {
    let forecasts = method
        .parts
        .iter()
        .map(|&part| forecast_single(part, series, calendar, designs, origin, hours))
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(combine(&forecasts))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn baselines_read_the_same_hour_of_earlier_weeks_and_skip_masked_ones() {
        // Five weeks; hour 3 of week w holds 10 * (w + 1); week 3's is masked.
        let mut rps = vec![0.0; 5 * WEEK];
        for w in 0..5 {
            rps[w * WEEK + 3] = 10.0 * (w + 1) as f64;
        }
        rps[3 * WEEK + 3] = f64::NAN;
        let origin = 5 * WEEK;
        let ordinary = vec![false; rps.len()];
        let at = |b: Baseline| b.predict(&rps, &ordinary, false, origin, origin + 3);
        assert_eq!(at(Baseline::SeasonalNaive), 50.0);
        assert_eq!(at(Baseline::WeeksMean(2)), 40.0, "week 3 masked: 50 and 30");
        assert_eq!(at(Baseline::WeeksMedian(3)), 30.0, "50, 30, 20");
        // Two weeks ahead repeats the last week.
        assert_eq!(
            Baseline::SeasonalNaive.predict(&rps, &ordinary, false, origin, origin + WEEK + 3),
            50.0
        );
        assert!(Baseline::SeasonalNaive
            .predict(&rps, &ordinary, false, 0, 3)
            .is_nan());
        // Week 4 on a holiday: passed over for an ordinary day, except by seasonal naive.
        let mut unusual = ordinary.clone();
        unusual[4 * WEEK + 3] = true;
        let at = |b: Baseline, target| b.predict(&rps, &unusual, target, origin, origin + 3);
        assert_eq!(at(Baseline::WeeksMean(1), false), 30.0);
        assert_eq!(
            at(Baseline::WeeksMean(1), true),
            50.0,
            "the unusual week first"
        );
        // A holiday target with no holiday in the last two weeks takes them as they are.
        let plain = |b: Baseline| b.predict(&rps, &ordinary, true, origin, origin + 3);
        assert_eq!(plain(Baseline::WeeksMean(2)), 40.0);
        assert_eq!(at(Baseline::SeasonalNaive, false), 50.0);
    }

    #[test]
    fn combinations_average_and_skip_missing_parts() {
        let mixed = combine(&[vec![1.0, 2.0, f64::NAN], vec![3.0, f64::NAN, f64::NAN]]);
        assert_eq!(mixed[..2], [2.0, 2.0]);
        assert!(mixed[2].is_nan());
    }
}
