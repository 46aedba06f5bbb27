//! What a step leaves for the steps after it. Each output is a type with a schema version,
//! written by exactly one step (its producer) through the one durable writer, and read by
//! later steps as `Result<T, Missing>`: a read never falls back to an empty value, and a
//! missing output names the step that makes it and how to get it.
//!
//! Outputs live in the session directory under their own names (the operator and the tests
//! read them there). Each file holds the value with two fields beside it: `schema` and
//! `produced_by`. When a step is invalidated (its inputs changed) the driver discards its
//! outputs, so a later step never reads what an earlier run of another input made.

mod bundle_form;
mod cluster_runtimes;
mod installed;
mod mapping;
mod preview;
mod push_report;
mod upgrade;

use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

pub use bundle_form::DecidedBundle;
pub use cluster_runtimes::ClusterRuntimes;
pub use installed::{InstalledApp, InstalledModel, InstalledOutcome};
pub use mapping::{MAPPING_VIEW_FILE, MappedImage, MappingOutput, last_view, write_view};
pub use preview::{BundleEdits, Dashboard};
pub use push_report::{ReportedImage, SessionPushReport};
pub use upgrade::{
    BackupFile, DifferentialBase, HopCharm, StandingModel, UpgradeBackups, UpgradedModel,
};

use crate::artifacts::Inventory;
use crate::wizard::{Step, StepStatus, WizardState};

/// A value one step leaves for later ones.
pub trait StepOutput: Serialize + DeserializeOwned {
    /// What it is, in the operator's words ("the inventory").
    const WHAT: &'static str;
    /// Its file in the session directory.
    const FILE: &'static str;
    /// The one step that writes it.
    const PRODUCER: Step;
    /// Raised when the form changes; an output of another schema is not read.
    const SCHEMA: u32;
}

impl StepOutput for Inventory {
    const WHAT: &'static str = "the inventory of the archives";
    const FILE: &'static str = "inventory.json";
    const PRODUCER: Step = Step::Artifacts;
    const SCHEMA: u32 = 1;
}

/// Every output's producer and file, so that an invalidated step's outputs can be discarded.
/// A unit test checks that every `StepOutput` is listed.
pub const ALL: [(Step, &str); 12] = [
    (Inventory::PRODUCER, Inventory::FILE),
    (ClusterRuntimes::PRODUCER, ClusterRuntimes::FILE),
    (SessionPushReport::PRODUCER, SessionPushReport::FILE),
    (MappingOutput::PRODUCER, MappingOutput::FILE),
    (DecidedBundle::PRODUCER, DecidedBundle::FILE),
    (BundleEdits::PRODUCER, BundleEdits::FILE),
    (Dashboard::PRODUCER, Dashboard::FILE),
    (InstalledModel::PRODUCER, InstalledModel::FILE),
    (DifferentialBase::PRODUCER, DifferentialBase::FILE),
    (StandingModel::PRODUCER, StandingModel::FILE),
    (UpgradeBackups::PRODUCER, UpgradeBackups::FILE),
    (UpgradedModel::PRODUCER, UpgradedModel::FILE),
];

/// An output a step needs is not there (or cannot be used).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Missing {
    #[error(
        "{what} is not there: the {producer} step makes it, and it {state}. {how}",
        producer = .producer.title()
    )]
    NotProduced {
        what: &'static str,
        producer: Step,
        state: String,
        how: String,
    },
    #[error(
        "{what} ({path}) cannot be used: {reason}. Run the {producer} step again to write it anew.",
        path = .path.display(),
        producer = .producer.title()
    )]
    Unusable {
        what: &'static str,
        path: PathBuf,
        producer: Step,
        reason: String,
    },
}

impl Missing {
    /// The step whose output is missing.
    pub fn producer(&self) -> Step {
        match self {
            Missing::NotProduced { producer, .. } | Missing::Unusable { producer, .. } => *producer,
        }
    }
}

impl From<Missing> for crate::engine::work::StepError {
    fn from(m: Missing) -> Self {
        crate::engine::work::StepError::failed(m)
    }
}

#[derive(Serialize)]
struct Envelope<'a, T> {
    schema: u32,
    produced_by: Step,
    #[serde(flatten)]
    value: &'a T,
}

#[derive(Deserialize)]
struct Header {
    schema: Option<u32>,
    produced_by: Option<Step>,
}

pub fn path_of<T: StepOutput>(session_dir: &Path) -> PathBuf {
    session_dir.join(T::FILE)
}

/// Writes `value` as its producer's output. Only the engine's step context and tests that
/// stand in for a producer call this.
pub fn write<T: StepOutput>(session_dir: &Path, value: &T) -> std::io::Result<PathBuf> {
    let path = path_of::<T>(session_dir);
    let mut bytes = serde_json::to_vec_pretty(&Envelope {
        schema: T::SCHEMA,
        produced_by: T::PRODUCER,
        value,
    })
    .map_err(std::io::Error::other)?;
    bytes.push(b'\n');
    crate::durable::write_file(&path, &bytes)?;
    Ok(path)
}

/// Reads `T`, or says why it is not there: the producer's status in `state` tells the
/// operator what to do (run it, or stop skipping it).
pub fn read<T: StepOutput>(session_dir: &Path, state: &WizardState) -> Result<T, Missing> {
    let path = path_of::<T>(session_dir);
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(not_produced::<T>(state));
        }
        Err(e) => return Err(unusable::<T>(&path, e.to_string())),
    };
    let header: Header =
        serde_json::from_slice(&bytes).map_err(|e| unusable::<T>(&path, e.to_string()))?;
    match (header.schema, header.produced_by) {
        (Some(s), Some(p)) if s == T::SCHEMA && p == T::PRODUCER => {}
        (Some(s), _) if s != T::SCHEMA => {
            return Err(unusable::<T>(
                &path,
                format!(
                    "it has schema {s}, this ckf-airgap reads schema {}",
                    T::SCHEMA
                ),
            ));
        }
        _ => {
            return Err(unusable::<T>(
                &path,
                "it does not say which step wrote it".into(),
            ));
        }
    }
    serde_json::from_slice(&bytes).map_err(|e| unusable::<T>(&path, e.to_string()))
}

/// Removes the outputs of `step`, as when its inputs changed and it must run again.
pub fn discard(session_dir: &Path, step: Step) {
    for (producer, file) in ALL {
        if producer == step {
            let _ = std::fs::remove_file(session_dir.join(file));
        }
    }
}

fn unusable<T: StepOutput>(path: &Path, reason: String) -> Missing {
    Missing::Unusable {
        what: T::WHAT,
        path: path.to_path_buf(),
        producer: T::PRODUCER,
        reason,
    }
}

fn not_produced<T: StepOutput>(state: &WizardState) -> Missing {
    let producer = T::PRODUCER;
    let title = producer.title();
    let (state_text, how) = match state.status(producer) {
        StepStatus::Skipped { reason } => (
            format!("was skipped ({reason})"),
            format!(
                "Go back to {title} and run it (in an answers file, remove \"{}\" from [skip]).",
                producer.id()
            ),
        ),
        StepStatus::Failed { .. } => (
            "failed".to_string(),
            format!("Go back to {title}, fix its cause and retry it."),
        ),
        StepStatus::Done => (
            "finished without writing it (an older ckf-airgap, or the file was removed)"
                .to_string(),
            format!("Go back to {title} and run it again (r)."),
        ),
        StepStatus::Pending | StepStatus::Running => (
            "has not finished in this session".to_string(),
            format!("Run {title} first."),
        ),
    };
    Missing::NotProduced {
        what: T::WHAT,
        producer,
        state: state_text,
        how,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wizard::Flow;

    #[test]
    fn an_output_reads_back_and_a_skipped_producer_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let mut state = WizardState::new(Flow::Install);
        state.record_mut(Step::Artifacts).status = StepStatus::Skipped {
            reason: "copied by hand".into(),
        };
        let missing = read::<Inventory>(dir.path(), &state).unwrap_err();
        let text = missing.to_string();
        assert_eq!(missing.producer(), Step::Artifacts);
        assert!(text.contains("the Artifacts step makes it"), "{text}");
        assert!(text.contains("was skipped (copied by hand)"), "{text}");
        assert!(text.contains("remove \"artifacts\" from [skip]"), "{text}");

        write(dir.path(), &Inventory::default()).unwrap();
        assert_eq!(
            read::<Inventory>(dir.path(), &state).unwrap(),
            Inventory::default()
        );
        discard(dir.path(), Step::Artifacts);
        assert!(read::<Inventory>(dir.path(), &state).is_err());
    }

    #[test]
    fn a_file_of_another_schema_or_without_its_producer_is_not_read() {
        let dir = tempfile::tempdir().unwrap();
        let state = WizardState::new(Flow::Install);
        let path = dir.path().join(Inventory::FILE);
        std::fs::write(&path, br#"{"images": [], "charms": []}"#).unwrap();
        let text = read::<Inventory>(dir.path(), &state)
            .unwrap_err()
            .to_string();
        assert!(text.contains("does not say which step wrote it"), "{text}");
        std::fs::write(
            &path,
            br#"{"schema": 99, "produced_by": "artifacts", "images": [], "charms": []}"#,
        )
        .unwrap();
        let text = read::<Inventory>(dir.path(), &state)
            .unwrap_err()
            .to_string();
        assert!(text.contains("schema 99"), "{text}");
        std::fs::write(&path, b"{not json").unwrap();
        let text = read::<Inventory>(dir.path(), &state)
            .unwrap_err()
            .to_string();
        assert!(text.contains("Run the Artifacts step again"), "{text}");
    }

    #[test]
    fn every_output_is_listed_once_with_its_producer() {
        let files: std::collections::BTreeSet<&str> = ALL.iter().map(|(_, f)| *f).collect();
        assert_eq!(files.len(), ALL.len(), "two outputs share a file");
        assert!(ALL.contains(&(Step::ImagePush, "push-report.json")));
        assert!(ALL.contains(&(Step::PlaceholderMapping, "mapping.json")));
    }
}
