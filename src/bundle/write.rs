//! Durable, atomic writing of the edited bundle and its sidecar report. The original file is
//! never opened for writing.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

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

/// Temp file in the same directory (so rename is atomic), fsync, rename, fsync the directory
/// (so the rename itself survives a crash).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let err = |source| BundleError::Write {
        path: path.to_owned(),
        source,
    };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let tmp = temp_name(&dir, path);
    let result = write_synced(&tmp, bytes).and_then(|()| std::fs::rename(&tmp, path));
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(err(e));
    }
    File::open(&dir).and_then(|d| d.sync_all()).map_err(err)
}

fn write_synced(tmp: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut f = OpenOptions::new().write(true).create_new(true).open(tmp)?;
    f.write_all(bytes)?;
    f.sync_all()
}

fn temp_name(dir: &Path, path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map_or_else(|| "out".into(), |n| n.to_string_lossy().into_owned());
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    dir.join(format!(".{name}.tmp-{}-{nanos}", std::process::id()))
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(x), Ok(y)) => x == y,
        _ => a == b,
    }
}
