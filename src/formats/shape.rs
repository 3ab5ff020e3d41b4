//! The `--shape FILE.csv` file, Locust's LoadTestShape as a table: a header
//! `offset,users`, `offset,users,spawn_rate` or `offset,rate`, then one row per step:
//! from `offset` seconds on, the target is `users` (reached at `spawn_rate` users a
//! second when given, at once otherwise) or `rate` requests a second. Offsets increase;
//! the last row's offset ends the run and its value must be 0 (Locust's `tick()`
//! returning None). Blank lines and `#` comments are skipped.
use std::path::Path;

use super::located::Source;
use crate::error::InputError;

/// What the second column of a shape file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShapeColumn {
    /// `users` (closed model), with an optional `spawn_rate` column.
    Users,
    /// `rate`, requests a second (open model).
    Rate,
}

/// One step of a shape file.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ShapeRow {
    /// Line in the file (1 = header).
    pub line: usize,
    /// Seconds since the start.
    pub offset: f64,
    /// Users or requests a second from `offset` on.
    pub value: f64,
    /// Users started (or stopped) a second on the way to `value`; `None`: at once.
    pub spawn_rate: Option<f64>,
}

/// A shape file as read and checked.
#[derive(Debug, Clone, PartialEq)]
pub struct ShapeFile {
    pub column: ShapeColumn,
    /// At least two rows, offsets increasing, the last at value 0.
    pub rows: Vec<ShapeRow>,
}

/// Read a shape file. Errors name the file, the line and the column.
pub fn read_shape(path: &Path) -> Result<ShapeFile, InputError> {
    let bytes = std::fs::read(path)
        .map_err(|err| InputError::file(path, format!("cannot read shape file: {err}")))?;
    parse_shape(&String::from_utf8_lossy(&bytes), path)
}

/// Parse the text of a shape file (see the module's documentation).
pub fn parse_shape(text: &str, path: &Path) -> Result<ShapeFile, InputError> {
    let source = Source::new(path, text);
    let mut lines = text
        .lines()
        .enumerate()
        .map(|(i, line)| (i + 1, line.trim()))
        .filter(|(_, line)| !line.is_empty() && !line.starts_with('#'));
    let (header_line, header) = lines.next().ok_or_else(|| {
        source.whole_file("is empty; expected a header offset,users[,spawn_rate] or offset,rate")
    })?;
    let names: Vec<String> = header
        .split(',')
        .map(|n| n.trim().to_ascii_lowercase())
        .collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let (column, width) = match names.as_slice() {
        ["offset", "users"] => (ShapeColumn::Users, 2),
        ["offset", "users", "spawn_rate"] => (ShapeColumn::Users, 3),
        ["offset", "rate"] => (ShapeColumn::Rate, 2),
        _ => {
            return Err(source.at_line(
                header_line,
                "header",
                "expected offset,users or offset,users,spawn_rate (closed model) or \
                 offset,rate (open model)",
            ))
        }
    };
    let value_name = names[1];
    let mut rows: Vec<ShapeRow> = Vec::new();
    for (line, text) in lines {
        let fields: Vec<&str> = text.split(',').map(str::trim).collect();
        // The spawn_rate column may be left out of a row (no spawn rate: at once).
        if fields.len() != width && !(width == 3 && fields.len() == 2) {
            return Err(source.at_line(
                line,
                "row",
                format!(
                    "expected {width} fields ({}), found {}",
                    names.join(","),
                    fields.len()
                ),
            ));
        }
        let number = |index: usize, what: &str| -> Result<f64, InputError> {
            let field = names[index];
            let value: f64 = fields[index].parse().map_err(|_| {
                source.at_line(
                    line,
                    field,
                    format!("'{}' is not a number ({what})", fields[index]),
                )
            })?;
            if !(value.is_finite() && value >= 0.0) {
                return Err(source.at_line(
                    line,
                    field,
                    format!("{value} must be a non-negative number ({what})"),
                ));
            }
            Ok(value)
        };
        let offset = number(0, "seconds since the start")?;
        let value = number(
            1,
            match column {
                ShapeColumn::Users => "users",
                ShapeColumn::Rate => "requests a second",
            },
        )?;
        let spawn_rate = if fields.len() == 3 && !fields[2].is_empty() {
            let rate = number(2, "users started a second")?;
            if rate == 0.0 {
                return Err(source.at_line(
                    line,
                    "spawn_rate",
                    "must be positive (leave it empty to jump at once)",
                ));
            }
            Some(rate)
        } else {
            None
        };
        if let Some(previous) = rows.last() {
            if offset <= previous.offset {
                return Err(source.at_line(
                    line,
                    "offset",
                    format!(
                        "{offset} must be later than the previous row's {} (offsets increase)",
                        previous.offset
                    ),
                ));
            }
        }
        rows.push(ShapeRow {
            line,
            offset,
            value,
            spawn_rate,
        });
    }
    let Some(last) = rows.last().copied() else {
        return Err(source.whole_file("has a header but no rows"));
    };
    if rows.len() < 2 {
        return Err(source.at_line(
            last.line,
            "offset",
            "one row holds for no time: add a last row whose offset ends the run, e.g. \
             600,0",
        ));
    }
    if last.value != 0.0 || last.spawn_rate.is_some() {
        return Err(source.at_line(
            last.line,
            value_name,
            format!(
                "the last row ends the run at its offset: give it {value_name} 0 and no \
                 spawn_rate (Locust's tick() returning None)"
            ),
        ));
    }
    Ok(ShapeFile { column, rows })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<ShapeFile, InputError> {
        parse_shape(text, Path::new("shape.csv"))
    }

    #[test]
    fn users_with_spawn_rates_and_rates_are_read() {
        let file = parse("# ramp\noffset,users,spawn_rate\n0,10,2\n\n60,50,\n120,0\n").unwrap();
        assert_eq!(file.column, ShapeColumn::Users);
        assert_eq!(file.rows.len(), 3);
        assert_eq!(file.rows[0].spawn_rate, Some(2.0));
        assert_eq!(file.rows[1].spawn_rate, None);
        assert_eq!(file.rows[1].line, 5);
        let rates = parse("Offset,Rate\n0,100\n30.5,0\n").unwrap();
        assert_eq!(rates.column, ShapeColumn::Rate);
        assert_eq!(rates.rows[1].offset, 30.5);
    }

    #[test]
    fn errors_name_the_line_and_column_and_quote_the_line() {
        for (text, says) in [
            ("", "is empty"),
            ("time,users\n", "shape.csv:1: header"),
            ("offset,users\n", "no rows"),
            (
                "offset,users\n0,x\n10,0\n",
                "shape.csv:2: users: 'x' is not a number",
            ),
            (
                "offset,rate\n0,5\n10\n",
                "shape.csv:3: row: expected 2 fields",
            ),
            (
                "offset,rate\n0,5\n0,0\n",
                "shape.csv:3: offset: 0 must be later",
            ),
            ("offset,rate\n0,-5\n10,0\n", "shape.csv:2: rate: -5 must be"),
            (
                "offset,rate\n0,5\n10,5\n",
                "shape.csv:3: rate: the last row ends the run",
            ),
            (
                "offset,users,spawn_rate\n0,5,0\n10,0,\n",
                "shape.csv:2: spawn_rate",
            ),
            ("offset,users\n0,5\n", "shape.csv:2: offset: one row"),
        ] {
            let err = parse(text).unwrap_err().to_string();
            assert!(err.contains(says), "{text:?}: {err}");
        }
        let err = parse("offset,rate\n0,5\n10,zz\n").unwrap_err().to_string();
        assert!(err.contains("| 10,zz"), "{err}");
    }
}
