//! Calendar features: which indicator cell an hour belongs to, and the trend value.
//!
//! Every hour has exactly one indicator cell: its hour of week (168 cells), or for a
//! holiday hour either Sunday's cell of the same hour of day or one of 24 holiday cells,
//! or for a day of a holiday period (Christmas to New Year) one of 24 period cells.
use serde::Serialize;

use super::holidays::{HolidayCalendar, HolidayDays};
use super::series::{hour_of_day, hour_of_week, local_date};

/// Hour-of-week cells: Monday 00:00 is 0, Sunday 23:00 is 167.
pub const HOUR_OF_WEEK_CELLS: usize = 168;
/// First of the 24 holiday hour-of-day cells.
pub const HOLIDAY_CELLS: usize = HOUR_OF_WEEK_CELLS;
/// First of the 24 hour-of-day cells of holiday periods (Christmas to New Year).
pub const PERIOD_CELLS: usize = HOLIDAY_CELLS + 24;
/// All indicator cells: hour of week, the holiday hours, the holiday-period hours.
pub const CELLS: usize = PERIOD_CELLS + 24;
/// First hour-of-week cell of Sunday.
pub const SUNDAY: usize = 6 * 24;
/// Hours in a year of 365.25 days: the trend is measured in years.
const HOURS_PER_YEAR: f64 = 8766.0;

/// How holiday hours enter the model; the backtest picks one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum HolidayMode {
    /// Holidays are ordinary days of their weekday.
    Ignore,
    /// A holiday hour takes Sunday's hour-of-week cell: a holiday looks like a Sunday.
    Sunday,
    /// A holiday hour has its own holiday x hour-of-day cell (Sunday's when never seen in training).
    OwnProfile,
}

impl HolidayMode {
    pub fn label(self) -> &'static str {
        match self {
            HolidayMode::Ignore => "ignore",
            HolidayMode::Sunday => "sunday",
            HolidayMode::OwnProfile => "own-profile",
        }
    }
}

/// Indicator cell of a local hour under a holiday mode.
pub fn cell(
    local_hour: i64,
    calendar: &HolidayCalendar,
    mode: HolidayMode,
    days: HolidayDays,
) -> usize {
    let date = local_date(local_hour);
    let holiday = mode != HolidayMode::Ignore && calendar.is_holiday(date, days);
    let period = mode != HolidayMode::Ignore && calendar.in_period(date);
    cell_of(local_hour, holiday, period, mode)
}

/// Indicator cell of a local hour whose holiday and holiday-period status is known. A day
/// of a holiday period (not a holiday) has its own hour-of-day cell unless holidays are
/// ignored: it is no evidence for, and no copy of, an ordinary day.
pub fn cell_of(local_hour: i64, holiday: bool, period: bool, mode: HolidayMode) -> usize {
    match (holiday, period, mode) {
        (_, _, HolidayMode::Ignore) | (false, false, _) => hour_of_week(local_hour),
        (true, _, HolidayMode::Sunday) => SUNDAY + hour_of_day(local_hour),
        (true, _, HolidayMode::OwnProfile) => HOLIDAY_CELLS + hour_of_day(local_hour),
        (false, true, _) => PERIOD_CELLS + hour_of_day(local_hour),
    }
}

/// The cell a holiday or period cell falls back to when training never saw it: Sunday's
/// hour for a holiday, the ordinary hour of week for a period day.
pub fn fallback_cell(cell: usize, local_hour: i64) -> usize {
    if cell >= PERIOD_CELLS {
        hour_of_week(local_hour)
    } else if cell >= HOLIDAY_CELLS {
        SUNDAY + (cell - HOLIDAY_CELLS)
    } else {
        cell
    }
}

/// Trend value of series position `index`: years since the first hour.
pub fn trend(index: usize) -> f64 {
    index as f64 / HOURS_PER_YEAR
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    #[test]
    fn holiday_hours_map_to_sunday_or_their_own_cells() {
        let thanksgiving = NaiveDate::from_ymd_opt(2014, 11, 27).unwrap();
        let hour = thanksgiving
            .and_hms_opt(9, 0, 0)
            .unwrap()
            .and_utc()
            .timestamp()
            / 3600;
        let calendar = HolidayCalendar::us_federal(2014..=2014);
        assert_eq!(
            cell(hour, &calendar, HolidayMode::Ignore, HolidayDays::All),
            3 * 24 + 9
        );
        assert_eq!(
            cell(hour, &calendar, HolidayMode::Sunday, HolidayDays::All),
            SUNDAY + 9
        );
        assert_eq!(
            cell(hour, &calendar, HolidayMode::OwnProfile, HolidayDays::All),
            HOUR_OF_WEEK_CELLS + 9
        );
        assert_eq!(fallback_cell(HOUR_OF_WEEK_CELLS + 9, hour), SUNDAY + 9);
        let eve = hour + 27 * 24; // Wednesday 2014-12-24 09:00: a holiday period day
        assert_eq!(
            cell(eve, &calendar, HolidayMode::Sunday, HolidayDays::All),
            PERIOD_CELLS + 9
        );
        assert_eq!(
            cell(eve, &calendar, HolidayMode::Ignore, HolidayDays::All),
            2 * 24 + 9
        );
        assert_eq!(fallback_cell(PERIOD_CELLS + 9, eve), 2 * 24 + 9);
        assert_eq!(
            cell(
                hour + 4 * 24,
                &calendar,
                HolidayMode::Sunday,
                HolidayDays::All
            ),
            9
        );
    }
}
