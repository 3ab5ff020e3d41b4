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
            message: message.into(),
        }
    }

    pub fn file(file: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        InputError::File {
            file: file.into(),
            message: message.into(),
        }
    }

    pub fn flag(flag: impl Into<String>, message: impl Into<String>) -> Self {
        InputError::Flag {
            flag: flag.into(),
            message: message.into(),
        }
    }
}

/// A signal stopped a command whose result would be meaningless if cut short
/// (a capacity search in the middle of a step): exit 130, nothing half-judged written.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Interrupted(pub String);

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
