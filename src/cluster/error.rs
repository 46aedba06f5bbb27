//! Errors of running an external program. A non-zero exit is not an error of `Runner::run`
//! (checks read failing output as evidence); `Runner::run_ok` turns it into `Failed`.

use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("cannot start `{display}`: {source}")]
    Spawn {
        display: String,
        #[source]
        source: std::io::Error,
    },
    #[error("`{display}` did not finish within {after:?} and was stopped")]
    Timeout { display: String, after: Duration },
    #[error("reading the output of `{display}` failed: {source}")]
    Io {
        display: String,
        #[source]
        source: std::io::Error,
    },
    #[error("`{display}` failed (exit {}): {}", code.map_or("signal".to_owned(), |c| c.to_string()), last_lines(stderr, 5))]
    Failed {
        display: String,
        code: Option<i32>,
        stdout: String,
        stderr: String,
    },
}

impl RunError {
    /// The redacted command line the error is about.
    pub fn display(&self) -> &str {
        match self {
            Self::Spawn { display, .. }
            | Self::Timeout { display, .. }
            | Self::Io { display, .. }
            | Self::Failed { display, .. } => display,
        }
    }

    /// Standard error of a command that ran and failed (empty otherwise).
    pub fn stderr(&self) -> &str {
        match self {
            Self::Failed { stderr, .. } => stderr,
            _ => "",
        }
    }
}

/// The end of a long error output, which is where tools put the reason.
pub fn last_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(n)..].join(" / ")
}
