//! The upload sessions this session's pushes have open, kept in `open-uploads.jsonl` beside
//! the session file (one synced line per opening, move and close), so that a run killed
//! mid-upload cancels what it left open when the push resumes: otherwise the registry keeps
//! the abandoned bytes until its purge runs.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use crate::engine::context::StepContext;
use crate::engine::events::Level;
use crate::registry::{RegistryClient, UploadJournal, upload_id};

pub const OPEN_UPLOADS_FILE: &str = "open-uploads.jsonl";

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
enum Line {
    Open { repo: String, location: String },
    Closed { id: String },
}

/// The id under which an upload's lines are folded (its location when it names none).
fn id_of(location: &str) -> &str {
    upload_id(location).unwrap_or(location)
}

pub struct SessionUploadJournal {
    path: PathBuf,
    /// Opened by path for each line: several clients of a session append to the file, each
    /// line one `O_APPEND` write, and a handle kept open would go on writing to a file that
    /// `cancel_left` has removed.
    lock: Mutex<()>,
}

impl SessionUploadJournal {
    pub fn new(session_dir: &Path) -> SessionUploadJournal {
        SessionUploadJournal {
            path: session_dir.join(OPEN_UPLOADS_FILE),
            lock: Mutex::new(()),
        }
    }

    fn append(&self, line: &Line) {
        let Ok(_guard) = self.lock.lock() else {
            return;
        };
        let Ok(mut text) = serde_json::to_vec(line) else {
            return;
        };
        text.push(b'\n');
        let written = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .and_then(|mut f| {
                f.write_all(&text)?;
                f.sync_data()
            });
        if let Err(e) = written {
            // Losing this record costs disk space in the registry, not a finished unit.
            tracing::warn!(
                "cannot record an open upload in {}: {e}",
                self.path.display()
            );
        }
    }

    /// The uploads opened and never closed: `(repository, latest location)`.
    pub fn left_open(&self) -> Vec<(String, String)> {
        let Ok(text) = std::fs::read_to_string(&self.path) else {
            return Vec::new();
        };
        let mut open: BTreeMap<String, (String, String)> = BTreeMap::new();
        // A last line cut short by a kill is ignored, as the session journal does.
        for line in text
            .lines()
            .filter_map(|l| serde_json::from_str::<Line>(l).ok())
        {
            match line {
                Line::Open { repo, location } => {
                    open.insert(id_of(&location).to_string(), (repo, location));
                }
                Line::Closed { id } => {
                    open.remove(&id);
                }
            }
        }
        open.into_values().collect()
    }

    /// Cancels what an interrupted run left open, then starts the record anew. Called when a
    /// push starts, before it opens anything.
    pub async fn cancel_left(&self, ctx: &StepContext, client: &RegistryClient) {
        let left = self.left_open();
        let mut refused = 0;
        for (repo, location) in &left {
            if !client.cancel_upload(repo, location).await {
                refused += 1;
            }
        }
        if !left.is_empty() {
            ctx.log(
                Level::Info,
                format!(
                    "cancelled {} upload(s) an interrupted run left open in {}",
                    left.len() - refused,
                    client.target().authority()
                ),
            );
        }
        if refused > 0 {
            ctx.log(
                Level::Warn,
                format!(
                    "{refused} upload(s) left open could not be cancelled: the registry took \
                     their last chunk after the run was killed, so the state token kept for \
                     them is out of date. The registry's upload purge removes them \
                     (storage.maintenance.uploadpurging, by default after a week)."
                ),
            );
        }
        let _ = std::fs::remove_file(&self.path);
    }
}

impl UploadJournal for SessionUploadJournal {
    fn opened(&self, repo: &str, location: &str) {
        self.append(&Line::Open {
            repo: repo.to_string(),
            location: location.to_string(),
        });
    }

    fn closed(&self, location: &str) {
        self.append(&Line::Closed {
            id: id_of(location).to_string(),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_upload_opened_moved_and_not_closed_is_left_with_its_latest_location() {
        let dir = tempfile::tempdir().unwrap();
        let j = SessionUploadJournal::new(dir.path());
        j.opened("ckf/a", "https://r/v2/ckf/a/blobs/uploads/u1?_state=s1");
        j.opened("ckf/a", "https://r/v2/ckf/a/blobs/uploads/u1?_state=s2");
        j.opened("ckf/b", "https://r/v2/ckf/b/blobs/uploads/u2?_state=t1");
        j.closed("https://r/v2/ckf/b/blobs/uploads/u2?_state=t9");
        assert_eq!(
            j.left_open(),
            [(
                "ckf/a".to_string(),
                "https://r/v2/ckf/a/blobs/uploads/u1?_state=s2".to_string()
            )]
        );
    }
}
