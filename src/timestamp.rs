//! A fast, strict parser for the stamps of a traffic CSV (forecast and simulate read the same format).
//!
//! Accepted: `YYYY-MM-DD HH:MM[:SS[.frac]]` or with `T`, optionally followed by `Z`,
//! `+HH:MM`, `-HH:MM` or `+HHMM` (RFC 3339). A 1-minute year has 525,600 rows, so this
//! avoids a general-purpose format parser.

/// A parsed stamp: wall-clock seconds since 1970-01-01 00:00 and the UTC offset if given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    /// Wall-clock time as written, in seconds since 1970-01-01 00:00 (no zone applied).
    pub wall_seconds: i64,
    /// Offset east of UTC in seconds, when the stamp carries one.
    pub offset_seconds: Option<i32>,
}

impl Stamp {
    /// The instant as UTC seconds, using `default_offset` for a naive stamp.
    pub fn utc_seconds(&self, default_offset: i32) -> i64 {
        self.wall_seconds - i64::from(self.offset_seconds.unwrap_or(default_offset))
    }
}

pub const EXPECTED: &str =
    "expected YYYY-MM-DD HH:MM[:SS] or RFC 3339, e.g. 2024-05-06T14:00:00+02:00";

/// Parse one stamp; the error says what was expected.
pub fn parse_stamp(text: &str) -> Result<Stamp, String> {
    let bad = || format!("'{}' is not a timestamp ({EXPECTED})", shorten(text));
    let b = text.as_bytes();
    if b.len() < 16
        || b[4] != b'-'
        || b[7] != b'-'
        || !(b[10] == b' ' || b[10] == b'T')
        || b[13] != b':'
    {
        return Err(bad());
    }
    let year = digits(&b[0..4]).ok_or_else(bad)?;
    let month = digits(&b[5..7]).ok_or_else(bad)?;
    let day = digits(&b[8..10]).ok_or_else(bad)?;
    let hour = digits(&b[11..13]).ok_or_else(bad)?;
    let minute = digits(&b[14..16]).ok_or_else(bad)?;
    let mut rest = &b[16..];
    let mut second = 0;
    if rest.first() == Some(&b':') {
        second = rest.get(1..3).and_then(digits).ok_or_else(bad)?;
        rest = &rest[3..];
        if rest.first() == Some(&b'.') {
            let frac_len = rest[1..].iter().take_while(|c| c.is_ascii_digit()).count();
            if frac_len == 0 {
                return Err(bad());
            }
            rest = &rest[1 + frac_len..];
        }
    }
    let offset_seconds = match rest {
        [] => None,
        [b'Z'] | [b'z'] => Some(0),
        [sign @ (b'+' | b'-'), h1, h2, tail @ ..] => {
            let hours = digits(&[*h1, *h2]).ok_or_else(bad)?;
            let minutes = match tail {
                [b':', m1, m2] | [m1, m2] => digits(&[*m1, *m2]).ok_or_else(bad)?,
                [] => 0,
                _ => return Err(bad()),
            };
            if hours > 23 || minutes > 59 {
                return Err(bad());
            }
            let magnitude = (hours * 3600 + minutes * 60) as i32;
            Some(if *sign == b'-' { -magnitude } else { magnitude })
        }
        _ => return Err(bad()),
    };
    if !(1..=12).contains(&month)
        || day < 1
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return Err(format!("'{}' is not a valid date and time", shorten(text)));
    }
    let days = days_from_civil(year, month, day);
    Ok(Stamp {
        wall_seconds: days * 86_400 + hour * 3600 + minute * 60 + second,
        offset_seconds,
    })
}

/// Unix seconds, or milliseconds when the number is too large to be seconds of a sane
/// date (1e11 s is the year 5138): a UTC stamp. `None` when out of range.
pub fn from_epoch(number: f64) -> Option<Stamp> {
    let seconds = if number >= 1e11 {
        number / 1000.0
    } else {
        number
    };
    if !seconds.is_finite() || !(0.0..1e11).contains(&seconds) {
        return None;
    }
    Some(Stamp {
        wall_seconds: seconds.floor() as i64,
        offset_seconds: Some(0),
    })
}

/// A piece of input as quoted in a message: its first line, at most 60 characters (a CSV
/// field with an unclosed quote can hold the rest of the file; the message must not).
/// Shared by the readers in `formats/`.
pub fn shorten(text: &str) -> String {
    let first = text.lines().next().unwrap_or("");
    let cut: String = first.chars().take(60).collect();
    if cut.len() < text.len() {
        format!("{cut}...")
    } else {
        cut
    }
}

/// Parse a `--tz` value: `UTC`, `Z`, `+HH:MM`, `-HH:MM`, `+HH`.
pub fn parse_offset(text: &str) -> Result<i32, String> {
    let text = text.trim();
    if text.eq_ignore_ascii_case("utc") || text == "Z" {
        return Ok(0);
    }
    let stamp = parse_stamp(&format!("1970-01-01T00:00:00{text}")).map_err(|_| {
        format!("'{text}' is not a fixed UTC offset (expected UTC, +HH:MM or -HH:MM; named zones are not supported)")
    })?;
    stamp
        .offset_seconds
        .ok_or_else(|| format!("'{text}' is not a fixed UTC offset"))
}

fn digits(bytes: &[u8]) -> Option<i64> {
    bytes.iter().try_fold(0i64, |acc, &c| {
        c.is_ascii_digit().then(|| acc * 10 + i64::from(c - b'0'))
    })
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's civil algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let year_of_era = y - era * 400;
    let shifted_month = (month + 9) % 12;
    let day_of_year = (153 * shifted_month + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, NaiveDateTime};

    fn chrono_wall(text: &str) -> i64 {
        NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S")
            .unwrap()
            .and_utc()
            .timestamp()
    }

    #[test]
    fn naive_and_zoned_forms() {
        let naive = parse_stamp("2014-11-02 01:30:00").unwrap();
        assert_eq!(naive.wall_seconds, chrono_wall("2014-11-02 01:30:00"));
        assert_eq!(naive.offset_seconds, None);
        assert_eq!(parse_stamp("2014-11-02 01:30").unwrap(), naive);
        let zoned = parse_stamp("2024-02-29T23:00:00.250-05:00").unwrap();
        let expected = DateTime::parse_from_rfc3339("2024-02-29T23:00:00-05:00").unwrap();
        assert_eq!(zoned.utc_seconds(0), expected.timestamp());
        assert_eq!(
            parse_stamp("2024-02-29T23:00:00Z").unwrap().offset_seconds,
            Some(0)
        );
        assert_eq!(
            parse_stamp("2024-02-29T23:00+0130").unwrap().offset_seconds,
            Some(5400)
        );
    }

    #[test]
    fn garbage_and_impossible_dates_are_rejected() {
        for text in [
            "",
            "yesterday",
            "2014-13-01 00:00",
            "2023-02-29 00:00",
            "2014-11-02 24:00",
            "2014/11/02 01:00",
            "2014-11-02 01:00 UTC",
            "1699999999",
        ] {
            assert!(parse_stamp(text).is_err(), "{text}");
        }
    }

    #[test]
    fn epoch_seconds_and_milliseconds_are_utc_stamps() {
        let seconds = from_epoch(1_700_000_000.0).unwrap();
        assert_eq!(seconds.utc_seconds(3600), 1_700_000_000);
        assert_eq!(from_epoch(1_700_000_000_500.0).unwrap(), seconds);
        assert_eq!(
            from_epoch(1_435_781_430.781).unwrap().wall_seconds,
            1_435_781_430
        );
        assert!(from_epoch(1e20).is_none());
    }

    #[test]
    fn a_huge_bad_stamp_is_quoted_short() {
        let text = format!("{}\n{}", "x".repeat(5000), "y".repeat(5000));
        let message = parse_stamp(&text).unwrap_err();
        assert!(message.len() < 200, "{message}");
    }

    #[test]
    fn offsets_for_tz_flag() {
        assert_eq!(parse_offset("UTC").unwrap(), 0);
        assert_eq!(parse_offset("-05:00").unwrap(), -18_000);
        assert_eq!(parse_offset("+05:30").unwrap(), 19_800);
        assert!(parse_offset("America/New_York").is_err());
    }
}
