//! The session's journal: each finished unit is one line appended to `journal-<n>.jsonl` and
//! made durable before the unit counts as done, instead of rewriting `session.json`, whose size
//! grows with the release. `session.json` names the journal generation `n` it has not yet
//! absorbed; writing `session.json` (when a step starts, ends or is stopped) absorbs it and
//! starts generation `n + 1`. A crash at any instant loses no finished unit: on opening, the
//! lines of generation `n` are replayed; a line cut short by the crash was never acknowledged
//! and is dropped; journals of other generations are already in `session.json` and removed.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::durable::{PRIVATE_FILE_MODE, sync_dir};
use crate::wizard::{self, Msg, Step, WizardState};

const PREFIX: &str = "journal-";
const SUFFIX: &str = ".jsonl";

#[derive(Serialize)]
struct LineOut<'a> {
    step: Step,
    unit: &'a str,
    detail: &'a Value,
}

#[derive(Deserialize)]
struct LineIn {
    step: Step,
    unit: String,
    detail: Value,
}

pub fn path(dir: &Path, generation: u64) -> PathBuf {
    dir.join(format!("{PREFIX}{generation}{SUFFIX}"))
}

/// The open journal of one generation, created on the first unit.
pub struct Journal {
    dir: PathBuf,
    generation: u64,
    file: Option<File>,
}

impl Journal {
    pub fn new(dir: &Path, generation: u64) -> Journal {
        Journal {
            dir: dir.to_path_buf(),
            generation,
            file: None,
        }
    }

    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Appends one unit and makes it durable (data and, the first time, the file's name).
    pub fn append(&mut self, step: Step, unit: &str, detail: &Value) -> io::Result<()> {
        let mut line =
            serde_json::to_vec(&LineOut { step, unit, detail }).map_err(io::Error::other)?;
        line.push(b'\n');
        if self.file.is_none() {
            let file = OpenOptions::new()
                .create(true)
                .append(true)
                .mode(PRIVATE_FILE_MODE)
                .open(path(&self.dir, self.generation))?;
            sync_dir(&self.dir)?;
            self.file = Some(file);
        }
        let Some(file) = self.file.as_mut() else {
            return Err(io::Error::other("the journal is not open"));
        };
        file.write_all(&line)?;
        file.sync_data()
    }

    /// `session.json` now holds everything: the next units go to a new generation and this
    /// one's file is removed (a crash before the removal leaves a file the next open ignores).
    pub fn absorbed(&mut self, next_generation: u64) {
        self.file = None;
        let _ = fs::remove_file(path(&self.dir, self.generation));
        self.generation = next_generation;
    }
}

/// Replays generation `generation` into `state`. Returns how many units were replayed and
/// whether a cut-short line was dropped. It only reads: `sessions list` uses it unlocked.
pub fn replay(dir: &Path, generation: u64, state: &mut WizardState) -> (usize, bool) {
    let Ok(bytes) = fs::read(path(dir, generation)) else {
        return (0, false);
    };
    let mut replayed = 0;
    let mut dropped = false;
    for raw in bytes.split_inclusive(|b| *b == b'\n') {
        // A line without its newline, or one that does not parse, was being written when the
        // process died: it was never acknowledged, and nothing after it was written.
        let parsed = raw
            .strip_suffix(b"\n")
            .and_then(|l| serde_json::from_slice::<LineIn>(l).ok());
        let Some(line) = parsed else {
            dropped = true;
            break;
        };
        let msg = Msg::UnitDone {
            step: line.step,
            unit: line.unit,
            detail: line.detail,
        };
        if wizard::update(state, msg).is_ok() {
            replayed += 1;
        }
    }
    (replayed, dropped)
}

/// Removes journals `session.json` has absorbed (left by a crash between its save and their
/// removal). Called with the session's lock held.
pub fn remove_other_generations(dir: &Path, keep: u64) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let Some(n) = name
            .strip_prefix(PREFIX)
            .and_then(|rest| rest.strip_suffix(SUFFIX))
            .and_then(|n| n.parse::<u64>().ok())
        else {
            continue;
        };
        if n != keep {
            let _ = fs::remove_file(entry.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wizard::{Flow, StepStatus};

    fn running() -> WizardState {
        let mut s = WizardState::new(Flow::Install);
        s.record_mut(Step::Artifacts).status = StepStatus::Running;
        s
    }

    #[test]
    fn appended_units_replay_and_a_cut_line_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let mut j = Journal::new(dir.path(), 4);
        j.append(Step::Artifacts, "a", &serde_json::json!({"n": 1}))
            .unwrap();
        j.append(Step::Artifacts, "b", &Value::Null).unwrap();
        drop(j);
        let mut file = OpenOptions::new()
            .append(true)
            .open(path(dir.path(), 4))
            .unwrap();
        file.write_all(br#"{"step":"artifacts","unit":"c","det"#)
            .unwrap();
        fs::write(path(dir.path(), 3), b"old generation\n").unwrap();

        let mut state = running();
        let (n, dropped) = replay(dir.path(), 4, &mut state);
        remove_other_generations(dir.path(), 4);
        assert_eq!((n, dropped), (2, true));
        let ledger = &state.record(Step::Artifacts).ledger;
        assert_eq!(ledger.len(), 2);
        assert_eq!(ledger["a"], serde_json::json!({"n": 1}));
        assert!(
            !path(dir.path(), 3).exists(),
            "an absorbed generation is removed"
        );
    }

    #[test]
    fn an_absorbed_generation_starts_a_new_file() {
        let dir = tempfile::tempdir().unwrap();
        let mut j = Journal::new(dir.path(), 0);
        j.append(Step::Artifacts, "a", &Value::Null).unwrap();
        assert!(path(dir.path(), 0).exists());
        j.absorbed(1);
        assert!(!path(dir.path(), 0).exists());
        j.append(Step::Artifacts, "b", &Value::Null).unwrap();
        let mut state = running();
        assert_eq!(replay(dir.path(), 1, &mut state), (1, false));
        assert!(state.unit_done(Step::Artifacts, "b"));
        assert!(!state.unit_done(Step::Artifacts, "a"));
    }
}
