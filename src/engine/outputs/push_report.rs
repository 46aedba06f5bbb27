//! The push report: which image went where, with its manifest digest. The push step writes it;
//! the mapping step checks the bundle's references against it.

use serde::{Deserialize, Serialize};

use super::StepOutput;
use crate::bundle::mapping::PushedTargets;
use crate::wizard::Step;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionPushReport {
    pub images: Vec<ReportedImage>,
}

impl StepOutput for SessionPushReport {
    const WHAT: &'static str = "the push report";
    const FILE: &'static str = "push-report.json";
    const PRODUCER: Step = Step::ImagePush;
    const SCHEMA: u32 = 1;
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportedImage {
    /// The reference in the archive (`RepoTags`), e.g. `172.17.0.2:5000/istio/proxyv2:1.16.2`.
    pub source: String,
    /// Where it was pushed, e.g. `registry.example.com:5443/ckf/istio/proxyv2:1.16.2`.
    pub target: String,
    /// The manifest digest the registry holds under that tag.
    pub digest: crate::oci::Digest,
}

impl SessionPushReport {
    /// The form the mapping table checks against: target reference → manifest digest.
    pub fn pushed_targets(&self) -> PushedTargets {
        PushedTargets::new(
            self.images
                .iter()
                .map(|i| (i.target.clone(), i.digest.to_string())),
        )
    }
}
