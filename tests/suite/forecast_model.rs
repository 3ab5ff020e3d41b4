//! The forecast core on data generated from a known model: a fit must recover it.
use capplan::forecast::backtest::WEEK;
use capplan::forecast::features::{HolidayMode, HOUR_OF_WEEK_CELLS, SUNDAY};
use capplan::forecast::holidays::{HolidayCalendar, HolidayDays};
use capplan::forecast::ingest::IngestReport;
use capplan::forecast::model::{fit, ModelConfig, Trend};
use capplan::forecast::series::{hour_of_day, hour_of_week, local_date, HourlySeries};
use capplan::forecast::{forecast, Settings};
use chrono::{FixedOffset, NaiveDate};
use rand::{rngs::StdRng, SeedableRng};
use rand_distr::{Distribution, Normal};

const NOISE_SD: f64 = 3.0;
/// Each hour-of-week level is the mean of ~10 noisy hours (standard error ~1 rps): 4 rps is 4 sigma.
const PROFILE_TOLERANCE: f64 = 4.0;
/// Holiday hour levels rest on 3 holidays (standard error ~1.7 rps).
const HOLIDAY_TOLERANCE: f64 = 7.0;

/// The true hour-of-week profile (rps): two weekday bumps, flatter weekends.
fn profile(how: usize) -> f64 {
    let (day, hour) = (how / 24, (how % 24) as f64);
    let bump = |center: f64, width: f64| (-0.5 * ((hour - center) / width).powi(2)).exp();
    if day >= 5 {
        40.0 + 50.0 * bump(15.0, 4.0)
    } else {
        30.0 + 90.0 * bump(10.5, 2.0) + 100.0 * bump(15.0, 2.5) + day as f64 * 3.0
    }
}

/// The true holiday profile: half of Sunday, by hour of day.
fn holiday_profile(hour: usize) -> f64 {
    0.5 * profile(SUNDAY + hour)
}

fn start_hour() -> i64 {
    // Monday 2024-04-15 00:00.
    let start = NaiveDate::from_ymd_opt(2024, 4, 15)
        .unwrap()
        .and_hms_opt(0, 0, 0)
        .unwrap();
    start.and_utc().timestamp() / 3600
}

fn calendar() -> HolidayCalendar {
    let mut calendar = HolidayCalendar::none();
    for (m, d) in [(5, 1), (5, 27), (6, 12), (7, 4)] {
        calendar.add(
            NaiveDate::from_ymd_opt(2024, m, d).unwrap(),
            "test holiday",
            true,
        );
    }
    calendar
}

fn synthetic(weeks: usize, seed: u64) -> HourlySeries {
    let mut rng = StdRng::seed_from_u64(seed);
    let noise = Normal::new(0.0, NOISE_SD).unwrap();
    let calendar = calendar();
    let rps = (0..weeks * WEEK)
        .map(|i| {
            let hour = start_hour() + i as i64;
            let truth = if calendar.contains(local_date(hour)) {
                holiday_profile(hour_of_day(hour))
            } else {
                profile(hour_of_week(hour))
            };
            (truth + noise.sample(&mut rng)).max(0.0)
        })
        .collect();
    HourlySeries {
        offset: FixedOffset::east_opt(0).unwrap(),
        start_hour: start_hour(),
        rps,
    }
}

fn settings(holidays: bool) -> Settings {
    Settings {
        horizon_hours: 48,
        backtest_weeks: 2,
        interval: 0.9,
        multiplicative: false,
        holidays,
        rps_per_instance: Some(50.0),
        lead: chrono::Duration::minutes(10),
    }
}

fn report(series: &HourlySeries) -> IngestReport {
    IngestReport::hourly(series.len())
}

#[test]
fn fit_recovers_the_hour_of_week_profile_and_the_holiday_profile() {
    let _machine = crate::common::machine::shared();
    // 10 weeks from 2024-04-15: holidays 05-01, 05-27, 06-12 inside.
    let series = synthetic(10, 11);
    let config = ModelConfig {
        holidays: HolidayMode::OwnProfile,
        holiday_days: HolidayDays::All,
        half_life_weeks: None,
        multiplicative: false,
        trend: Trend::Linear,
    };
    let model = fit(&series, series.len(), &calendar(), config).unwrap();
    // No trend in the truth: the fitted slope must be small, and levels are read at the middle.
    let middle_trend = model.trend_per_year * (series.len() as f64 / 2.0 / 8766.0);
    assert!(
        model.trend_per_year.abs() < 10.0,
        "trend {}",
        model.trend_per_year
    );
    let worst = (0..HOUR_OF_WEEK_CELLS)
        .map(|how| (model.cell_levels[how].unwrap() + middle_trend - profile(how)).abs())
        .fold(0.0, f64::max);
    assert!(
        worst < PROFILE_TOLERANCE,
        "worst hour-of-week error {worst:.2} rps"
    );
    let worst_holiday = (0..24)
        .map(|h| {
            (model.cell_levels[HOUR_OF_WEEK_CELLS + h].unwrap() + middle_trend - holiday_profile(h))
                .abs()
        })
        .fold(0.0, f64::max);
    assert!(
        worst_holiday < HOLIDAY_TOLERANCE,
        "worst holiday error {worst_holiday:.2} rps"
    );
}

#[test]
fn the_forecast_beats_seasonal_naive_on_mase() {
    let _machine = crate::common::machine::shared();
    // The backtest weeks hold the 07-04 holiday: the naive forecast copies an ordinary Thursday.
    let series = synthetic(12, 5);
    let result = forecast(&series, &calendar(), &settings(true), report(&series)).unwrap();
    let backtest = &result.backtest;
    assert!(
        backtest.model.mase < 0.8 * backtest.seasonal_naive.mase,
        "model MASE {:.3} vs naive {:.3}",
        backtest.model.mase,
        backtest.seasonal_naive.mase
    );
    assert!(!backtest.model_worse_than_naive);
    // Gaussian noise, a stable profile: the 90 % interval holds about 90 % of held-out hours.
    let coverage = backtest.interval_coverage.unwrap();
    assert!((0.8..=0.98).contains(&coverage), "coverage {coverage}");
    assert!(result.notes.iter().all(|n| !n.contains("WORSE")));
}

#[test]
fn a_holiday_in_the_horizon_changes_its_forecast() {
    let _machine = crate::common::machine::shared();
    let series = synthetic(12, 9); // ends Sunday 2024-07-07 23:00
    let mut with_holiday = calendar();
    with_holiday.add(
        NaiveDate::from_ymd_opt(2024, 7, 9).unwrap(),
        "test holiday",
        true,
    );
    let plain = forecast(&series, &calendar(), &settings(true), report(&series)).unwrap();
    let holiday = forecast(&series, &with_holiday, &settings(true), report(&series)).unwrap();
    // Tuesday 07-09 15:00 is hour 24 + 15 of the horizon: an ordinary Tuesday peaks near 220 rps.
    let at = 24 + 15;
    assert_eq!(
        holiday.forecast[at].holiday.as_deref(),
        Some("test holiday")
    );
    let (ordinary, on_holiday) = (plain.forecast[at].rps, holiday.forecast[at].rps);
    assert!((ordinary - profile(24 + 15)).abs() < 10.0, "{ordinary}");
    assert!(
        (on_holiday - holiday_profile(15)).abs() < 10.0,
        "{on_holiday}"
    );
    // Holiday hours take their interval from the residuals of past holiday hours.
    let band = holiday
        .backtest
        .holiday_residuals
        .expect("four holidays in the history");
    assert!(band.hours >= 24);
    // Bands are fractions of forecast + a tenth of the mean rps.
    let offset = 0.1 * series.rps.iter().sum::<f64>() / series.len() as f64;
    let (on, off) = (&holiday.forecast[at], &holiday.forecast[10]);
    assert!((on.upper - on.rps - band.high * (on.rps + offset)).abs() < 1e-9);
    let high = holiday.backtest.residual_high;
    assert!((off.upper - off.rps - high * (off.rps + offset)).abs() < 1e-9);
    // Monday 07-08 is not a holiday in either calendar.
    assert!((plain.forecast[10].rps - holiday.forecast[10].rps).abs() < 5.0);
}
