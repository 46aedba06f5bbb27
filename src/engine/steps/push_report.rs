//! The push report: which image went where, with its manifest digest. The push step writes it
//! into the session; the mapping step checks the bundle's references against it.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::bundle::mapping::PushedTargets;

pub const PUSH_REPORT_FILE: &str = "push-report.json";

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionPushReport {
    pub images: Vec<ReportedImage>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportedImage {
    /// The reference in the archive (`RepoTags`), e.g. `172.17.0.2:5000/istio/proxyv2:1.16.2`.
    pub source: String,
    /// Where it was pushed, e.g. `registry.example.com:5443/ckf/istio/proxyv2:1.16.2`.
    pub target: String,
    /// The manifest digest the registry holds under that tag.
    pub digest: String,
}

pub fn path(session_dir: &Path) -> PathBuf {
    session_dir.join(PUSH_REPORT_FILE)
}

impl SessionPushReport {
    pub fn load(path: &Path) -> Result<SessionPushReport, String> {
        let bytes =
            std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        serde_json::from_slice(&bytes)
            .map_err(|e| format!("{} is not a push report: {e}", path.display()))
    }

    /// The form the mapping table checks against: target reference → manifest digest.
    pub fn pushed_targets(&self) -> PushedTargets {
        PushedTargets::new(
            self.images
                .iter()
                .map(|i| (i.target.clone(), i.digest.clone())),
        )
    }
}
