//! The `--holidays` file: `date[,name]` or a period `first..last[,name]` per line, optional
//! `date,name` header, `#` comments.
use std::path::Path;

use chrono::NaiveDate;

use super::located::Source;
use crate::error::InputError;
use crate::timestamp::shorten;

/// Longest period of a `--holidays` line (days after its first).
const MAX_PERIOD_DAYS: i64 = 366;

/// Read a `--holidays` file: `date[,name]` or `first..last[,name]` per line, optional
/// header, `#` comments.
pub fn read_holidays_file(path: &Path) -> Result<Vec<(NaiveDate, String)>, InputError> {
    let text = std::fs::read_to_string(path)
        .map_err(|err| InputError::file(path, format!("cannot read holidays file: {err}")))?;
    parse_holidays(&text, path)
}

/// Parse the text of a holidays file (see [`read_holidays_file`]).
pub fn parse_holidays(text: &str, path: &Path) -> Result<Vec<(NaiveDate, String)>, InputError> {
    let source = Source::new(path, text);
    let mut dates = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let line_number = index + 1;
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (date_text, name) = match line.split_once(',') {
            Some((date, name)) => (date.trim(), name.trim().trim_matches('"')),
            None => (line, ""),
        };
        if line_number == 1 && date_text.eq_ignore_ascii_case("date") {
            continue;
        }
        let parse = |text: &str| {
            NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d").map_err(|_| {
                source.at_line(
                    line_number,
                    "date",
                    format!(
                        "'{}' is not a date (expected YYYY-MM-DD, or a period FIRST..LAST)",
                        shorten(text)
                    ),
                )
            })
        };
        let name = if name.is_empty() { "holiday" } else { name };
        // A period: every day from the first to the last, inclusive.
        let (first, last) = match date_text.split_once("..") {
            Some((first, last)) => (parse(first)?, parse(last)?),
            None => (parse(date_text)?, parse(date_text)?),
        };
        let days = (last - first).num_days();
        if !(0..=MAX_PERIOD_DAYS).contains(&days) {
            return Err(source.at_line(
                line_number,
                "date",
                format!(
                    "a period runs forward and at most {MAX_PERIOD_DAYS} days: {first}..{last}"
                ),
            ));
        }
        for day in 0..=days {
            dates.push((first + chrono::Duration::days(day), name.to_string()));
        }
    }
    Ok(dates)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_comments_and_names_are_read_and_bad_dates_quoted() {
        let dates = parse_holidays(
            "date,name\n# ours\n2024-12-24,\"Christmas Eve\"\n2024-12-31\n",
            Path::new("h.txt"),
        )
        .unwrap();
        let d = |m, day| NaiveDate::from_ymd_opt(2024, m, day).unwrap();
        assert_eq!(
            dates,
            vec![
                (d(12, 24), "Christmas Eve".to_string()),
                (d(12, 31), "holiday".to_string())
            ]
        );
        let err = parse_holidays("2024-12-24\n24/12/2024,Eve\n", Path::new("h.txt"))
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("h.txt:2: date: '24/12/2024'"), "{err}");
        assert!(err.ends_with("\n  | 24/12/2024,Eve"), "{err}");
    }

    #[test]
    fn a_period_is_every_day_of_it() {
        let dates =
            parse_holidays("2024-12-30..2025-01-02,Winter break\n", Path::new("h.txt")).unwrap();
        assert_eq!(dates.len(), 4);
        assert_eq!(dates[3].0, NaiveDate::from_ymd_opt(2025, 1, 2).unwrap());
        let err = parse_holidays("2025-01-02..2024-12-30\n", Path::new("h.txt")).unwrap_err();
        assert!(err.to_string().contains("runs forward"), "{err}");
    }
}
