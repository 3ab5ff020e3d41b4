//! Feeder CSV files (a scenario's `[[feeder]]`): a header naming the columns, then one
//! row per record, as Gatling's csv feeders. Every row must have every column.
use std::path::Path;

use crate::error::InputError;
use crate::formats::located::Source;

/// A feeder file's columns and rows, in file order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeederRows {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

/// Read and check a feeder file.
pub fn load(path: &Path) -> Result<FeederRows, InputError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| InputError::file(path, format!("cannot read feeder file: {e}")))?;
    parse(path, &text)
}

/// Parse feeder text; `path` is only used in error messages.
pub fn parse(path: &Path, text: &str) -> Result<FeederRows, InputError> {
    let source = Source::new(path, text);
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let header = reader
        .headers()
        .map_err(|e| source.at_line(1, "header", format!("unreadable CSV: {e}")))?
        .clone();
    let mut columns: Vec<String> = Vec::with_capacity(header.len());
    for name in header.iter() {
        let usable = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_alphanumeric() || c == '_' || c == '-');
        if !usable {
            return Err(source.at_line(
                1,
                "header",
                format!(
                    "column name '{name}' must be letters, digits, '_' or '-' \
                     (it is written {{{{feeder.{name}}}}})"
                ),
            ));
        }
        if columns.iter().any(|c| c == name) {
            return Err(source.at_line(1, "header", format!("column '{name}' appears twice")));
        }
        columns.push(name.to_string());
    }
    if columns.is_empty() {
        return Err(source.whole_file("no header: the first line names the columns"));
    }
    let mut rows = Vec::new();
    let mut record = csv::StringRecord::new();
    loop {
        match reader.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => rows.push(record.iter().map(str::to_string).collect()),
            Err(err) => {
                let line = err.position().map_or(0, |p| p.line() as usize);
                let message = match err.kind() {
                    csv::ErrorKind::UnequalLengths {
                        len, expected_len, ..
                    } => format!(
                        "{len} fields where the header names {expected_len} ({})",
                        columns.join(", ")
                    ),
                    _ => format!("unreadable CSV: {err}"),
                };
                return Err(source.at_line(line, "row", message));
            }
        }
    }
    if rows.is_empty() {
        return Err(source.whole_file("no rows after the header: a feeder needs at least one"));
    }
    Ok(FeederRows { columns, rows })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_and_errors() {
        let p = Path::new("a.csv");
        let ok = parse(p, "email, password\na@x.org,1\n\"b,c@x.org\",2\n").unwrap();
        assert_eq!(ok.columns, ["email", "password"]);
        assert_eq!(ok.rows[1], ["b,c@x.org", "2"]);
        let e = parse(p, "email,password\na,1\nb\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("a.csv:3: row:") && e.contains("1 fields"),
            "{e}"
        );
        assert!(e.ends_with("| b"), "{e}");
        let e = parse(p, "e mail\na\n").unwrap_err().to_string();
        assert!(e.starts_with("a.csv:1: header:"), "{e}");
        let e = parse(p, "a,a\n1,2\n").unwrap_err().to_string();
        assert!(e.contains("twice"), "{e}");
        let e = parse(p, "a\n").unwrap_err().to_string();
        assert!(e.contains("no rows"), "{e}");
    }
}
