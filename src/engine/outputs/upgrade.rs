//! What the upgrade's steps leave for each other: what the installed release's lock holds
//! that a differential set leaves out (Artifacts), the model as it stands (the first step),
//! the backups (before the first refresh) and the record of the upgraded model (the run).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::StepOutput;
use super::installed::InstalledModel;
use crate::gather::lock::BaseLock;
use crate::wizard::Step;

/// Written by the Artifacts step from the lock beside the archives: in an upgrade, what the
/// installed release's lock holds is not in a differential set, and istio-pilot's
/// intermediate charms are.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DifferentialBase {
    /// None for a whole set (or outside an upgrade).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base: Option<BaseLock>,
    /// istio-pilot's intermediate charms, in the order of the hops.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hops: Vec<HopCharm>,
}

/// One intermediate istio-pilot charm of the set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HopCharm {
    /// The Istio track it installs (`1.25`).
    pub track: String,
    /// Its file name in `charms.tar.gz`.
    pub file: String,
}

impl DifferentialBase {
    /// Whether the installed release's lock holds `upstream` (so it was pushed at install).
    pub fn holds_image(&self, upstream: &str) -> bool {
        let wanted = crate::image_ref::normalize_reference(upstream);
        self.base.as_ref().is_some_and(|b| {
            b.images
                .iter()
                .any(|i| crate::image_ref::normalize_reference(i) == wanted)
        })
    }

    /// Whether the charm is the very file the installed release runs (so not carried again).
    pub fn holds_charm(&self, name: &str) -> bool {
        self.base
            .as_ref()
            .is_some_and(|b| b.charms.iter().any(|c| c == name))
    }

    pub fn is_hop_file(&self, file: &str) -> bool {
        self.hops.iter().any(|h| h.file == file)
    }
}

impl StepOutput for DifferentialBase {
    const WHAT: &'static str = "what the installed release's lock holds";
    const FILE: &'static str = "differential-base.json";
    const PRODUCER: Step = Step::Artifacts;
    const SCHEMA: u32 = 1;
}

/// The model as the upgrade found it: the record of what was installed, checked against
/// `juju status`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StandingModel {
    /// Where the record was read (a record inferred from the model has none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record_file: Option<PathBuf>,
    pub record: InstalledModel,
    /// Each application's status as read, all active.
    pub applications: usize,
}

impl StepOutput for StandingModel {
    const WHAT: &'static str = "the model as it stands";
    const FILE: &'static str = "upgrade-model.json";
    const PRODUCER: Step = Step::UpgradeModel;
    const SCHEMA: u32 = 1;
}

/// The backups made before the first refresh.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpgradeBackups {
    pub files: Vec<BackupFile>,
    /// Why there are none, when the operator declined them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub declined: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupFile {
    /// What it holds (`mlmd database`, `katib-db: every database`).
    pub what: String,
    pub path: PathBuf,
    pub sha256: String,
    pub size: u64,
}

impl StepOutput for UpgradeBackups {
    const WHAT: &'static str = "the backups";
    const FILE: &'static str = "upgrade-backups.json";
    const PRODUCER: Step = Step::UpgradeBackups;
    const SCHEMA: u32 = 1;
}

/// The record of the model as the upgrade left it, in the install record's shape: the next
/// upgrade starts from it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UpgradedModel(pub InstalledModel);

impl StepOutput for UpgradedModel {
    const WHAT: &'static str = "the record of the upgraded model";
    const FILE: &'static str = "upgraded-state.json";
    const PRODUCER: Step = Step::UpgradeRun;
    const SCHEMA: u32 = 1;
}
