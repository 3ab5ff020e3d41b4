//! Errors as a contract: every failure maps to one documented exit code.
//!
//! 0 success; 1 a threshold or SLO failed (the run itself was fine);
//! 2 bad usage or bad input; 3 the run could not be carried out;
//! 130 a signal stopped the run (its reports were written).
use std::path::PathBuf;
use std::process::ExitCode;

/// Bad input: names the file, the line and the field, and what was expected.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    /// A problem at a known place in a file.
    #[error("{file}:{line}: {field}: {message}")]
    AtLine {
        file: PathBuf,
        line: usize,
        field: String,
        message: String,
    },
    /// A problem with a whole file (missing, empty, wrong header).
    #[error("{file}: {message}")]
    File { file: PathBuf, message: String },
    /// A bad command-line value.
    #[error("{flag}: {message}")]
    Flag { flag: String, message: String },
}

impl InputError {
    pub fn at_line(
        file: impl Into<PathBuf>,
        line: usize,
        field: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        InputError::AtLine {
            file: file.into(),
            line,
            field: field.into(),
            message: tidy(message.into()),
        }
    }

    pub fn file(file: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        InputError::File {
            file: file.into(),
            message: tidy(message.into()),
        }
    }

    pub fn flag(flag: impl Into<String>, message: impl Into<String>) -> Self {
        InputError::Flag {
            flag: flag.into(),
            message: tidy(message.into()),
        }
    }
}

/// A signal stopped a command whose result would be meaningless if cut short
/// (a capacity search in the middle of a step): exit 130, nothing half-judged written.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Interrupted(pub String);

/// Longest run of non-blank characters an error message shows: a value is quoted
/// to say which one is wrong, and a 100 MB CSV field must not come back whole.
const LONGEST_WORD: usize = 100;

/// An error message fit for a terminal: control characters (a NUL in a path, an
/// escape sequence) shown escaped, and any overlong word cut with `...`. Line
/// breaks are kept: they separate the message from the quoted line.
fn tidy(message: String) -> String {
    let clean = |c: char| c.is_control() && c != '\n';
    let overlong = message
        .split(|c: char| c.is_whitespace())
        .any(|word| word.chars().count() > LONGEST_WORD);
    if !overlong && !message.chars().any(clean) {
        return message;
    }
    let mut out = String::with_capacity(message.len().min(4096));
    let mut word_chars = 0usize;
    for c in message.chars() {
        if c.is_whitespace() && !clean(c) || c == '\n' {
            word_chars = 0;
            out.push(c);
            continue;
        }
        if word_chars > LONGEST_WORD {
            continue; // already cut
        }
        // A word is measured as shown: an escaped NUL takes six characters.
        let shown: Vec<char> = if clean(c) {
            c.escape_default().collect()
        } else {
            vec![c]
        };
        if word_chars + shown.len() > LONGEST_WORD {
            out.push_str("...");
            word_chars = LONGEST_WORD + 1;
            continue;
        }
        word_chars += shown.len();
        out.extend(shown);
    }
    out
}

/// The run could not be carried out (target unreachable at start, I/O error).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct RunError(pub String);

/// How a command that ran to completion ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Everything passed.
    Success,
    /// The run was fine but a threshold or SLO failed; the reasons were printed.
    Failed,
    /// A signal cut the run short; every report of what was measured was written.
    Interrupted,
}

/// The exit code of a run stopped by a signal (128 + SIGINT, as shells report it).
pub const EXIT_INTERRUPTED: u8 = 130;

impl Outcome {
    pub fn exit_code(&self) -> ExitCode {
        match self {
            Outcome::Success => ExitCode::SUCCESS,
            Outcome::Failed => ExitCode::from(1),
            Outcome::Interrupted => ExitCode::from(EXIT_INTERRUPTED),
        }
    }
}

/// Exit code for an error: 2 for bad input, 3 for everything else.
pub fn exit_code_for(err: &anyhow::Error) -> ExitCode {
    if err.chain().any(|cause| cause.is::<InputError>()) {
        ExitCode::from(2)
    } else if err.chain().any(|cause| cause.is::<Interrupted>()) {
        ExitCode::from(EXIT_INTERRUPTED)
    } else {
        ExitCode::from(3)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_escape_control_characters_and_cut_huge_values() {
        let err = InputError::at_line("s.toml", 3, "path", "bad\n  | path=\"/a\0b\"");
        assert_eq!(
            err.to_string(),
            "s.toml:3: path: bad\n  | path=\"/a\\u{0}b\""
        );
        let huge = "9".repeat(5_000_000);
        let err = InputError::flag("--x", format!("'{huge}' is not a number"));
        let text = err.to_string();
        assert!(text.len() < 200, "{}", text.len());
        assert!(text.ends_with("9... is not a number"), "{text}");
        let plain = "--users: must be from 1 to 1000000; got 0";
        assert_eq!(
            InputError::flag("--users", "must be from 1 to 1000000; got 0").to_string(),
            plain
        );
    }

    #[test]
    fn a_word_of_escaped_characters_is_cut_as_shown() {
        // 72 NULs show as 432 characters: cut like any overlong word (found by the
        // traffic_csv fuzz target).
        let stamp = format!("2026-03-02T20:40{}:00Z", "\0".repeat(72));
        let err = InputError::at_line("t.csv", 126, "timestamp", format!("'{stamp}' is bad"));
        let text = err.to_string();
        let longest = text
            .split(char::is_whitespace)
            .map(|w| w.chars().count())
            .max();
        assert!(longest <= Some(LONGEST_WORD + 3), "{text}");
        assert!(text.contains("'2026-03-02T20:40\\u{0}\\u{0}"), "{text}");
        assert!(text.contains("... is bad"), "{text}");
    }
}
