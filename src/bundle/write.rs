//! Durable, atomic writing of the edited bundle and its sidecar report. The original file is
//! never opened for writing.

use std::path::{Path, PathBuf};

use super::error::{BundleError, Result};
use super::mapping::MappingReport;

/// `<dir>/<stem>.airgap.yaml` beside the original.
pub fn default_output_path(original: &Path) -> PathBuf {
    let stem = original
        .file_stem()
        .map_or_else(|| "bundle".into(), |s| s.to_string_lossy().into_owned());
    original.with_file_name(format!("{stem}.airgap.yaml"))
}

/// `<dir>/<output stem>.mapping.json` beside the output.
pub fn report_path(output: &Path) -> PathBuf {
    let stem = output
        .file_stem()
        .map_or_else(|| "bundle".into(), |s| s.to_string_lossy().into_owned());
    output.with_file_name(format!("{stem}.mapping.json"))
}

/// Paths written by `write_outputs`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    pub bundle: PathBuf,
    pub report: PathBuf,
}

/// Write the edited text to `output` (default beside `original`) and the JSON report beside it.
pub fn write_outputs(
    original: &Path,
    output: Option<&Path>,
    text: &str,
    report: &MappingReport,
) -> Result<Written> {
    let bundle = output.map_or_else(|| default_output_path(original), Path::to_path_buf);
    if same_file(original, &bundle) {
        return Err(BundleError::WouldOverwriteOriginal { path: bundle });
    }
    let report_file = report_path(&bundle);
    let mut json = serde_json::to_string_pretty(report)?;
    json.push('\n');
    write_atomic(&bundle, text.as_bytes())?;
    write_atomic(&report_file, json.as_bytes())?;
    Ok(Written {
        bundle,
        report: report_file,
    })
}

/// The bundle and its reports are documents the operator reads and hands on: written
/// crash-safely, readable by others like any file they would write themselves.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    crate::durable::write_file_with(path, bytes, 0o644, None).map_err(|source| BundleError::Write {
        path: path.to_owned(),
        source,
    })
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(x), Ok(y)) => x == y,
        _ => a == b,
    }
}
