//! The one "file:line:field" error helper every reader shares: lines come from the
//! parsers' own positions (toml spans, serde_json lines, csv record positions), field
//! paths from `serde_path_to_error`, and the offending line is quoted (never the file).
use std::path::Path;

use serde::de::DeserializeOwned;

use crate::error::InputError;

/// Longest quote of an offending line; longer lines are cut so a minified file stays readable.
const QUOTE_CHARS: usize = 120;

/// The text of one input file, to place errors in it.
#[derive(Debug, Clone, Copy)]
pub struct Source<'a> {
    pub path: &'a Path,
    pub text: &'a str,
}

impl<'a> Source<'a> {
    pub fn new(path: &'a Path, text: &'a str) -> Self {
        Source { path, text }
    }

    /// 1-based line of a byte offset.
    pub fn line_of_offset(&self, offset: usize) -> usize {
        let end = floor_char_boundary(self.text, offset.min(self.text.len()));
        self.text[..end].matches('\n').count() + 1
    }

    /// An error at `line` naming `field`, with the line quoted after the message.
    pub fn at_line(
        &self,
        line: usize,
        field: impl Into<String>,
        message: impl Into<String>,
    ) -> InputError {
        let mut message = message.into();
        if let Some(quote) = self.quote(line) {
            message.push_str("\n  | ");
            message.push_str(&quote);
        }
        InputError::at_line(self.path, line.max(1), field, message)
    }

    /// An error at a byte offset (a parser's span start).
    pub fn at_offset(
        &self,
        offset: usize,
        field: impl Into<String>,
        message: impl Into<String>,
    ) -> InputError {
        self.at_line(self.line_of_offset(offset), field, message)
    }

    /// A problem with the whole file (no line to quote).
    pub fn whole_file(&self, message: impl Into<String>) -> InputError {
        InputError::file(self.path, message)
    }

    /// Deserialize TOML; errors carry the toml span's line and the serde field path.
    pub fn toml<T: DeserializeOwned>(&self, default_field: &str) -> Result<T, InputError> {
        let deserializer = toml::Deserializer::new(self.text);
        serde_path_to_error::deserialize(deserializer).map_err(|err| {
            let field = field_name(&err.path().to_string(), err.inner().message())
                .unwrap_or_else(|| default_field.to_string());
            let line = err
                .inner()
                .span()
                .map_or(1, |span| self.line_of_offset(span.start));
            self.at_line(line, field, err.inner().message().trim_end())
        })
    }

    /// Deserialize JSON; errors carry serde_json's line and the serde field path.
    pub fn json<T: DeserializeOwned>(&self, default_field: &str) -> Result<T, InputError> {
        let mut deserializer = serde_json::Deserializer::from_str(self.text);
        let value: T = serde_path_to_error::deserialize(&mut deserializer)
            .map_err(|err| self.json_error(err, default_field))?;
        deserializer.end().map_err(|err| {
            self.at_line(err.line(), default_field, strip_position(&err.to_string()))
        })?;
        Ok(value)
    }

    fn json_error(
        &self,
        err: serde_path_to_error::Error<serde_json::Error>,
        default_field: &str,
    ) -> InputError {
        let message = strip_position(&err.inner().to_string());
        let field = field_name(&err.path().to_string(), &message)
            .unwrap_or_else(|| default_field.to_string());
        self.at_line(err.inner().line(), field, message)
    }

    /// Line of the value of a dotted key (`fleet.max_instances`) in TOML text, found by
    /// the TOML parser's spans, so inline tables and dotted keys are placed right.
    pub fn toml_key_line(&self, dotted: &str) -> usize {
        let Ok(document) = toml_edit::ImDocument::parse(self.text) else {
            return 1;
        };
        let mut item = document.as_item();
        let mut span = None;
        for key in dotted.split('.') {
            let Some(next) = item.as_table_like().and_then(|table| table.get(key)) else {
                break;
            };
            span = next.span().or(span);
            item = next;
        }
        span.map_or(1, |span| self.line_of_offset(span.start))
    }

    /// Whether the TOML text sets the dotted key (a default does not count).
    pub fn toml_has_key(&self, dotted: &str) -> bool {
        let Ok(document) = toml_edit::ImDocument::parse(self.text) else {
            return false;
        };
        let mut item = document.as_item();
        for key in dotted.split('.') {
            match item.as_table_like().and_then(|table| table.get(key)) {
                Some(next) => item = next,
                None => return false,
            }
        }
        true
    }

    fn quote(&self, line: usize) -> Option<String> {
        let text = self.text.lines().nth(line.checked_sub(1)?)?.trim_end();
        if text.trim().is_empty() {
            return None;
        }
        Some(if text.chars().count() > QUOTE_CHARS {
            let cut: String = text.chars().take(QUOTE_CHARS).collect();
            format!("{cut}...")
        } else {
            text.to_string()
        })
    }
}

/// The field an error is about: the serde path when it has one, else the name a
/// serde message quotes ("unknown field `foo`", "missing field `bar`").
fn field_name(path: &str, message: &str) -> Option<String> {
    let quoted = message.split('`').nth(1).filter(|name| !name.is_empty());
    // `toml::Spanned` wraps a value in a private table; its key is no field of the file.
    let path = path.split(".$__").next().unwrap_or(path);
    let path = (path != "." && !path.is_empty()).then_some(path);
    match (path, quoted) {
        // serde reports a missing key at its table, not at the key itself.
        (Some(path), Some(name)) if message.starts_with("missing field") => {
            Some(format!("{path}.{name}"))
        }
        (Some(path), _) => Some(path.to_string()),
        (None, Some(name)) => Some(name.to_string()),
        (None, None) => None,
    }
}

/// serde_json appends " at line L column C"; the line is already in front of the message.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(at) => message[..at].to_string(),
        None => message.to_string(),
    }
}

fn floor_char_boundary(text: &str, mut index: usize) -> usize {
    while !text.is_char_boundary(index) {
        index -= 1;
    }
    index
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)] // read only through Debug
    struct Outer {
        fleet: Inner,
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Inner {
        min: u32,
    }

    #[test]
    fn toml_errors_name_the_path_and_quote_the_line() {
        let text = "# policy\nfleet = { min = -1 }\n";
        let err = Source::new(Path::new("p.toml"), text)
            .toml::<Outer>("policy")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("p.toml:2: fleet.min:"), "{err}");
        assert!(err.ends_with("\n  | fleet = { min = -1 }"), "{err}");
    }

    #[test]
    fn unknown_keys_are_named_with_their_table() {
        let text = "[fleet]\nmin = 1\nmaxx = 2\n";
        let err = Source::new(Path::new("p.toml"), text)
            .toml::<Outer>("policy")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("p.toml:3: fleet.maxx:"), "{err}");
    }

    #[test]
    fn json_errors_carry_line_and_path() {
        let text = "{\n  \"fleet\": {\n    \"min\": \"x\"\n  }\n}";
        let err = Source::new(Path::new("p.json"), text)
            .json::<Outer>("profile")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("p.json:3: fleet.min:"), "{err}");
        assert!(err.contains("  |     \"min\": \"x\""), "{err}");
    }

    #[test]
    fn key_lines_come_from_spans_even_in_inline_tables() {
        let text = "[limits]\nx = 1\n\n[fleet]\nmin = 1\nother = { deep = 2, deeper = 3 }\n";
        let source = Source::new(Path::new("p.toml"), text);
        assert_eq!(source.toml_key_line("fleet.min"), 5);
        assert_eq!(source.toml_key_line("fleet.other.deep"), 6);
        assert_eq!(source.toml_key_line("limits.x"), 2);
        assert_eq!(source.toml_key_line("absent.key"), 1);
    }
}
