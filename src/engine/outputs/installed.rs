//! What the deploy put in the model, application by application. A local charm shows in
//! `juju status` with a small local revision (0, 1, 2, …), so this record is the only way to
//! know later which Charmhub charm, images and options run: an upgrade starts from it, and its
//! way back returns to it.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::StepOutput;
use crate::ckf_release::CkfRelease;
use crate::cluster::yaml_out::ConfigValue;
use crate::wizard::Step;

/// The model as the deploy left it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InstalledModel {
    pub model: String,
    /// The Juju client's version the commands were written for.
    pub juju_version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ckf_release: Option<CkfRelease>,
    /// The bundle the operator chose (a release bundle, or the air-gapped bundle before the
    /// preview's edit).
    pub bundle: PathBuf,
    /// The private registry the images were pushed to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registry: Option<String>,
    pub applications: Vec<InstalledApp>,
}

/// One application: where its charm came from and everything it was deployed with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InstalledApp {
    pub application: String,
    /// The charm's name (`kfp-api`).
    pub charm: String,
    /// The local `.charm` file deployed.
    pub charm_file: PathBuf,
    /// Its SHA-256 as read from `charms.tar.gz` (none when the Artifacts step was skipped).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub charm_sha256: Option<String>,
    /// PodSpec or sidecar, as read from the charm (an upgrade to a sidecar charm scales a
    /// PodSpec application to 0 first).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<crate::charm_kind::CharmKind>,
    /// The Charmhub revision the file came from (`_r<N>.charm`), when it names one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub charmhub_revision: Option<u64>,
    /// The channel the bundle names for it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
    /// Every resource as set (`oci-image` → the pushed image).
    pub resources: BTreeMap<String, String>,
    /// Every option as set, image options with their pushed images.
    pub config: BTreeMap<String, ConfigValue>,
    /// The `--config` file the deploy gave it (none when the bundle carried its options).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_file: Option<PathBuf>,
    pub trust: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale: Option<i64>,
    pub outcome: InstalledOutcome,
}

/// What the deploy's command for the application did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "state")]
pub enum InstalledOutcome {
    /// Deployed by this run's command.
    Deployed,
    /// The model had it already; nothing was run, so what runs may differ from this record.
    AlreadyPresent,
    /// The operator skipped its command with this reason.
    Skipped { reason: String },
}

impl StepOutput for InstalledModel {
    const WHAT: &'static str = "the record of what was installed";
    const FILE: &'static str = "deployed-state.json";
    const PRODUCER: Step = Step::JujuDeploy;
    const SCHEMA: u32 = 1;
}
