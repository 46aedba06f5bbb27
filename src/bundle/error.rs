//! Typed errors of the bundle module. Every message names the cause and the fix, because the
//! wizard shows them verbatim to an operator who cannot look at the code.

use std::path::PathBuf;

use thiserror::Error;

/// Everything that can go wrong while reading, planning, verifying or writing a bundle.
#[derive(Debug, Error)]
pub enum BundleError {
    #[error(
        "{file}:{line}:{column}: YAML syntax error: {message}. Fix the file at that position (or re-copy it from the release) and try again"
    )]
    Parse {
        file: String,
        line: usize,
        column: usize,
        message: String,
    },

    #[error(
        "{file}: {what}. The file does not look like a {expected}; check that you picked the right file"
    )]
    Shape {
        file: String,
        what: String,
        expected: &'static str,
    },

    #[error("cannot read {path}: {source}. Check that the file exists and is readable")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error(
        "cannot write {path}: {source}. Check free space and write permission in that directory"
    )]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error(
        "refusing to overwrite the original bundle {path}; choose a different output file name"
    )]
    WouldOverwriteOriginal { path: PathBuf },

    #[error(
        "invalid image reference {reference:?}: {rule}. Correct the target in the mapping table"
    )]
    InvalidTarget { reference: String, rule: String },

    #[error(
        "{file}:{line}:{column}: cannot edit {what} in place, nor write it whole: {reason}. Either edit this value by hand (a plain or single-quoted scalar) and retry, or leave it as written with a reason: [skip] \"ref:<reference>\" in the answers file, x on the mapping screen, or \"Leave one reference as written\" in line mode"
    )]
    NotSpliceable {
        file: String,
        line: usize,
        column: usize,
        what: String,
        reason: String,
    },

    #[error(
        "internal edit plan error: edits at bytes {first:?} and {second:?} overlap. This is a bug; please report it with the bundle file"
    )]
    OverlappingEdits {
        first: std::ops::Range<usize>,
        second: std::ops::Range<usize>,
    },

    #[error(
        "the edited bundle failed verification, nothing was written: {problems}. This is a bug or an unusual bundle layout; edit the listed values by hand"
    )]
    Verification { problems: String },

    #[error("{file}: {what}. Add it in the bundle or choose another option")]
    Missing { file: String, what: String },

    #[error(
        "{file}: {what} is written in YAML flow style ({{...}} or [...]); this tool edits block style only. Rewrite it in block style or edit it by hand"
    )]
    FlowStyle { file: String, what: String },

    #[error("cannot encode the mapping report as JSON: {0}")]
    Report(#[from] serde_json::Error),
}

pub type Result<T, E = BundleError> = std::result::Result<T, E>;
