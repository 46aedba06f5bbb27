//! The bundle's form, decided once.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::StepOutput;
use crate::ckf_release::CkfRelease;
use crate::release::BundleForm;
use crate::wizard::Step;

/// The bundle and its form (the 1.7-era air-gapped bundle, or a release bundle with the CKF
/// release its channels name), decided by the mapping step, the first that needs the bundle,
/// and shown there. The preview and the deploy follow it instead of reading the form again,
/// so every step after the mapping works on the same form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DecidedBundle {
    pub bundle: PathBuf,
    pub form: BundleForm,
    /// For a release bundle, the release its charm channels name (when they name one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ckf_release: Option<CkfRelease>,
}

impl StepOutput for DecidedBundle {
    const WHAT: &'static str = "the bundle's form";
    const FILE: &'static str = "bundle-form.json";
    const PRODUCER: Step = Step::PlaceholderMapping;
    const SCHEMA: u32 = 1;
}
