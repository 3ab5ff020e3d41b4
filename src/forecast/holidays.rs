//! Holidays: the built-in US federal calendar (observed dates) plus a user file.
use std::collections::BTreeMap;

use chrono::{Datelike, NaiveDate, Weekday};

/// Dates the model treats as holidays, with a name for reports and whether most
/// businesses close (major) or mostly stay open (minor: MLK, Washington's Birthday,
/// Juneteenth, Columbus and Veterans Day).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HolidayCalendar {
    dates: BTreeMap<NaiveDate, (String, bool)>,
    /// Days around holidays that are not holidays but not ordinary either (Christmas Eve to
    /// New Year's Eve): no evidence for ordinary weeks.
    periods: BTreeMap<NaiveDate, String>,
}

/// Which holidays a model variant treats as holidays.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum HolidayDays {
    /// Every holiday of the calendar.
    All,
    /// Only the major ones (and every --holidays entry).
    Major,
}

impl HolidayCalendar {
    /// No holidays at all (`--no-holidays`).
    pub fn none() -> Self {
        Self::default()
    }

    /// US federal holidays, on their observed dates, for every year in `years`, plus the
    /// day after Thanksgiving: not federal, but a state holiday in about half the states and
    /// a day off at most employers, so traffic treats it as a holiday.
    pub fn us_federal(years: std::ops::RangeInclusive<i32>) -> Self {
        let mut calendar = Self::default();
        // One year more on each side: New Year's Day on a Saturday is observed on Dec 31.
        for year in years.start() - 1..=years.end() + 1 {
            for (date, name, major) in us_federal_year(year) {
                calendar.add(observed(date), name, major);
            }
            let thanksgiving = NaiveDate::from_weekday_of_month_opt(year, 11, Weekday::Thu, 4)
                .expect("November has four Thursdays");
            calendar.add(
                thanksgiving + chrono::Duration::days(1),
                "Day after Thanksgiving",
                true,
            );
            // Christmas Eve to the first Sunday after New Year's Day: offices half empty,
            // schools closed, traffic still low on the days after New Year.
            let mut date = NaiveDate::from_ymd_opt(year, 12, 24).expect("valid date");
            let new_year = NaiveDate::from_ymd_opt(year + 1, 1, 1).expect("valid date");
            while date <= new_year || date.weekday() != Weekday::Mon {
                calendar.add_period(date, "Christmas to New Year");
                date += chrono::Duration::days(1);
            }
        }
        calendar
    }

    /// Mark a day as part of a holiday period (not a holiday itself).
    pub fn add_period(&mut self, date: NaiveDate, name: impl Into<String>) {
        self.periods.entry(date).or_insert_with(|| name.into());
    }

    /// A holiday or a day of a holiday period: not evidence for ordinary days.
    pub fn is_unusual(&self, date: NaiveDate) -> bool {
        self.dates.contains_key(&date) || self.periods.contains_key(&date)
    }

    /// A day of a holiday period that is not a holiday.
    pub fn in_period(&self, date: NaiveDate) -> bool {
        !self.dates.contains_key(&date) && self.periods.contains_key(&date)
    }

    /// Add a holiday; a date already present keeps its name and becomes major if either is.
    pub fn add(&mut self, date: NaiveDate, name: impl Into<String>, major: bool) {
        let entry = self
            .dates
            .entry(date)
            .or_insert_with(|| (name.into(), major));
        entry.1 |= major;
    }

    /// Any holiday on this date.
    pub fn contains(&self, date: NaiveDate) -> bool {
        self.dates.contains_key(&date)
    }

    /// A holiday of the given kind on this date.
    pub fn is_holiday(&self, date: NaiveDate, days: HolidayDays) -> bool {
        self.dates
            .get(&date)
            .is_some_and(|(_, major)| *major || days == HolidayDays::All)
    }

    pub fn name(&self, date: NaiveDate) -> Option<&str> {
        self.dates.get(&date).map(|(name, _)| name.as_str())
    }

    /// Holidays of the given kind between two dates, inclusive (count).
    pub fn count_between(&self, from: NaiveDate, to: NaiveDate, days: HolidayDays) -> usize {
        self.dates
            .range(from..=to)
            .filter(|(_, (_, major))| *major || days == HolidayDays::All)
            .count()
    }
}

/// The federal holidays of one year on their nominal dates (5 U.S.C. 6103), and whether
/// most private employers close (the usual six paid holidays).
fn us_federal_year(year: i32) -> Vec<(NaiveDate, &'static str, bool)> {
    let fixed = |month, day| NaiveDate::from_ymd_opt(year, month, day).expect("valid date");
    let nth = |month, weekday, n| {
        NaiveDate::from_weekday_of_month_opt(year, month, weekday, n).expect("valid date")
    };
    let last_monday_of_may = (25..=31)
        .rev()
        .map(|day| fixed(5, day))
        .find(|date| date.weekday() == Weekday::Mon)
        .expect("May has a last Monday");
    let mut holidays = vec![
        (fixed(1, 1), "New Year's Day", true),
        (nth(1, Weekday::Mon, 3), "Martin Luther King Jr. Day", false),
        (nth(2, Weekday::Mon, 3), "Washington's Birthday", false),
        (last_monday_of_may, "Memorial Day", true),
        (fixed(7, 4), "Independence Day", true),
        (nth(9, Weekday::Mon, 1), "Labor Day", true),
        (nth(10, Weekday::Mon, 2), "Columbus Day", false),
        (fixed(11, 11), "Veterans Day", false),
        (nth(11, Weekday::Thu, 4), "Thanksgiving Day", true),
        (fixed(12, 25), "Christmas Day", true),
    ];
    if year >= 2021 {
        holidays.push((fixed(6, 19), "Juneteenth", false));
    }
    holidays
}

/// A holiday on a Saturday is observed on the Friday before, on a Sunday on the Monday after.
fn observed(date: NaiveDate) -> NaiveDate {
    match date.weekday() {
        Weekday::Sat => date.pred_opt().expect("valid date"),
        Weekday::Sun => date.succ_opt().expect("valid date"),
        _ => date,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    #[test]
    fn federal_holidays_of_2014_match_opm() {
        let calendar = HolidayCalendar::us_federal(2014..=2014);
        for expected in [
            date(2014, 1, 1),
            date(2014, 1, 20),
            date(2014, 2, 17),
            date(2014, 5, 26),
            date(2014, 7, 4),
            date(2014, 9, 1),
            date(2014, 10, 13),
            date(2014, 11, 11),
            date(2014, 11, 27),
            date(2014, 12, 25),
        ] {
            assert!(calendar.contains(expected), "{expected} missing");
        }
        assert!(
            !calendar.contains(date(2014, 6, 19)),
            "Juneteenth began in 2021"
        );
        assert_eq!(calendar.name(date(2014, 11, 27)), Some("Thanksgiving Day"));
        assert_eq!(
            calendar.name(date(2014, 11, 28)),
            Some("Day after Thanksgiving")
        );
        assert!(calendar.is_holiday(date(2014, 11, 28), HolidayDays::Major));
        assert!(!calendar.is_holiday(date(2014, 11, 11), HolidayDays::Major));
        assert!(calendar.is_holiday(date(2014, 11, 11), HolidayDays::All));
    }

    #[test]
    fn weekend_holidays_move_to_the_observed_weekday() {
        let calendar = HolidayCalendar::us_federal(2020..=2022);
        // 2020-07-04 was a Saturday, 2021-07-04 a Sunday, 2022-01-01 a Saturday.
        assert!(calendar.contains(date(2020, 7, 3)));
        assert!(!calendar.contains(date(2020, 7, 4)));
        assert!(calendar.contains(date(2021, 7, 5)));
        assert!(calendar.contains(date(2021, 12, 31)));
        assert!(
            calendar.contains(date(2022, 6, 20)),
            "Juneteenth 2022 observed Monday"
        );
    }
}
