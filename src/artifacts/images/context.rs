//! What every step needs to name its errors: the archive, the member and the
//! work dir, plus the cancel flag.

use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::artifacts::error::ArtifactError;
use crate::artifacts::progress::is_cancel_error;
use crate::artifacts::safety::PathProblem;

pub struct Ctx<'a> {
    pub archive: &'a str,
    pub member: &'a str,
    pub work_dir: &'a Path,
    pub cancel: &'a AtomicBool,
    /// Bytes the spool still needs from this member on (for the disk-full
    /// message): the rest of the archive, or this member alone when images
    /// are handled one at a time.
    pub needed_hint: u64,
}

impl Ctx<'_> {
    pub fn cancelled(&self) -> bool {
        self.cancel.load(Ordering::Relaxed)
    }

    /// Classifies a read error from the gzip/tar stack. flate2 and tar report a
    /// cut-short input as `UnexpectedEof`; a damaged deflate stream or a bad
    /// tar header as `InvalidInput`/`InvalidData`.
    pub fn read_error(&self, e: io::Error, doing: &str) -> ArtifactError {
        if self.cancelled() || is_cancel_error(&e) {
            return ArtifactError::Cancelled;
        }
        let detail = format!("{doing}: {e}");
        match e.kind() {
            io::ErrorKind::UnexpectedEof => ArtifactError::Truncated {
                archive: self.archive.to_string(),
                member: self.member.to_string(),
                detail,
            },
            io::ErrorKind::InvalidData | io::ErrorKind::InvalidInput | io::ErrorKind::Other => {
                ArtifactError::Corrupt {
                    archive: self.archive.to_string(),
                    member: self.member.to_string(),
                    detail,
                }
            }
            _ => ArtifactError::io(Path::new(self.archive), e),
        }
    }

    pub fn duplicate_entry(&self, path: &str) -> ArtifactError {
        ArtifactError::DuplicateEntry {
            archive: self.archive.to_string(),
            member: self.member.to_string(),
            path: path.to_string(),
        }
    }

    pub fn unsafe_path(&self, raw: &[u8], why: PathProblem) -> ArtifactError {
        ArtifactError::UnsafePath {
            archive: self.archive.to_string(),
            member: self.member.to_string(),
            path: String::from_utf8_lossy(raw).into_owned(),
            why: why.describe(),
        }
    }

    /// The destination of a streamed file failed (the registry), not the archive.
    pub fn sink_failed(&self, path: &str, e: io::Error) -> ArtifactError {
        if self.cancelled() || is_cancel_error(&e) {
            return ArtifactError::Cancelled;
        }
        ArtifactError::SinkFailed {
            archive: self.archive.to_string(),
            member: self.member.to_string(),
            path: path.to_string(),
            detail: e.to_string(),
        }
    }

    pub fn truncated(&self, detail: String) -> ArtifactError {
        ArtifactError::Truncated {
            archive: self.archive.to_string(),
            member: self.member.to_string(),
            detail,
        }
    }

    pub fn bad_metadata(&self, file: &str, detail: impl std::fmt::Display) -> ArtifactError {
        ArtifactError::BadMetadata {
            archive: self.archive.to_string(),
            member: self.member.to_string(),
            file: file.to_string(),
            detail: detail.to_string(),
        }
    }

    pub fn missing(&self, what: impl Into<String>, path: &str) -> ArtifactError {
        ArtifactError::MissingFile {
            archive: self.archive.to_string(),
            member: self.member.to_string(),
            what: what.into(),
            path: path.to_string(),
        }
    }
}
