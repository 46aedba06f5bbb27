//! What the preview wrote, and what the deploy learnt for the final screen.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::StepOutput;
use crate::wizard::Step;

/// The files the preview wrote: the edited bundle, its mapping report and the plan of the
/// charms moved out of it. A release bundle is not edited: all are none, and `applications`
/// says how many were shown.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BundleEdits {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bundle: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub report: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub separately_deployed: Option<PathBuf>,
    #[serde(default)]
    pub applications: usize,
}

impl StepOutput for BundleEdits {
    const WHAT: &'static str = "the edited bundle";
    const FILE: &'static str = "bundle-edits.json";
    const PRODUCER: Step = Step::BundlePreview;
    const SCHEMA: u32 = 1;
}

/// The dashboard's address once the model settled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dashboard {
    pub url: String,
}

impl StepOutput for Dashboard {
    const WHAT: &'static str = "the dashboard address";
    const FILE: &'static str = "dashboard.json";
    const PRODUCER: Step = Step::JujuDeploy;
    const SCHEMA: u32 = 1;
}
