//! Small grammars shared by every command: durations with units and percentages.
use std::time::Duration;

/// Parse a duration with a unit: `500us`, `20ms`, `1.5s`, `90s`, `10m`, `48h`, `2d`, `2w`.
/// A bare number is rejected: silent unit guesses are a classic source of wrong results.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .ok_or_else(|| format!("'{text}' has no unit (expected e.g. 20ms, 90s, 10m, 48h, 2w)"))?;
    let (number, unit) = text.split_at(split);
    let value: f64 = number
        .parse()
        .map_err(|_| format!("'{text}' is not a number followed by a unit"))?;
    let seconds_per_unit = match unit {
        "us" | "µs" => 1e-6,
        "ms" => 1e-3,
        "s" => 1.0,
        "m" | "min" => 60.0,
        "h" => 3600.0,
        "d" => 86_400.0,
        "w" => 604_800.0,
        _ => {
            return Err(format!(
                "'{text}' has unknown unit '{unit}' (expected us, ms, s, m, h, d or w)"
            ))
        }
    };
    // try_from also refuses what does not fit a Duration (about 585 billion years).
    Duration::try_from_secs_f64(value * seconds_per_unit)
        .map_err(|_| format!("'{text}' is not a valid duration"))
}

/// Parse a fraction given as `1%`, `0.5%` or a plain number in 0..=1 (`0.01`).
pub fn parse_fraction(text: &str) -> Result<f64, String> {
    let text = text.trim();
    let value = if let Some(percent) = text.strip_suffix('%') {
        percent
            .trim()
            .parse::<f64>()
            .map(|p| p / 100.0)
            .map_err(|_| format!("'{text}' is not a percentage"))?
    } else {
        text.parse::<f64>()
            .map_err(|_| format!("'{text}' is not a number or percentage"))?
    };
    if !(0.0..=1.0).contains(&value) {
        return Err(format!("'{text}' must be between 0 and 1 (or 0% and 100%)"));
    }
    Ok(value)
}

/// Format a duration compactly for tables: `850us`, `20.1ms`, `1.20s`.
pub fn format_ms(ms: f64) -> String {
    if ms < 1.0 {
        format!("{:.0}us", ms * 1000.0)
    } else if ms < 1000.0 {
        format!("{ms:.1}ms")
    } else {
        format!("{:.2}s", ms / 1000.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_with_units() {
        assert_eq!(parse_duration("20ms").unwrap(), Duration::from_millis(20));
        assert_eq!(parse_duration("1.5s").unwrap(), Duration::from_millis(1500));
        assert_eq!(parse_duration("10m").unwrap(), Duration::from_secs(600));
        assert_eq!(
            parse_duration("2w").unwrap(),
            Duration::from_secs(14 * 86_400)
        );
        assert_eq!(parse_duration("500us").unwrap(), Duration::from_micros(500));
    }

    #[test]
    fn durations_without_unit_or_with_junk_are_rejected() {
        assert!(parse_duration("20").is_err());
        assert!(parse_duration("ms").is_err());
        assert!(parse_duration("20 parsecs").is_err());
        assert!(parse_duration("-5s").is_err());
        // Too long for a Duration: an error, not a panic.
        assert_eq!(
            parse_duration("18446744073709551615w"),
            Err("'18446744073709551615w' is not a valid duration".to_string())
        );
    }

    #[test]
    fn fractions() {
        assert_eq!(parse_fraction("1%").unwrap(), 0.01);
        assert_eq!(parse_fraction("0.25").unwrap(), 0.25);
        assert!(parse_fraction("150%").is_err());
        assert!(parse_fraction("abc").is_err());
    }
}
