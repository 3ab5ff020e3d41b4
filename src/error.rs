//! Errors as a contract: every failure maps to one documented exit code.
//!
//! 0 success; 1 a threshold or SLO failed (the run itself was fine);
//! 2 bad usage or bad input; 3 the run could not be carried out.
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
}

impl Outcome {
    pub fn exit_code(&self) -> ExitCode {
        match self {
            Outcome::Success => ExitCode::SUCCESS,
            Outcome::Failed => ExitCode::from(1),
        }
    }
}

/// Exit code for an error: 2 for bad input, 3 for everything else.
pub fn exit_code_for(err: &anyhow::Error) -> ExitCode {
    if err.chain().any(|cause| cause.is::<InputError>()) {
        ExitCode::from(2)
    } else {
        ExitCode::from(3)
    }
}
