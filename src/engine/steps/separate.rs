//! Which charms are deployed one by one, outside the bundle (the PodSpec charms Juju refuses in
//! a local bundle): a plan the operator named, a published release's plan, or none. The mapping
//! step maps their images; the deploy step runs them.

use std::path::Path;

use super::inputs::{BundleInput, ReleaseInput};
use super::release_choice::release;
use crate::bundle::podspec::{PodspecRelease, SeparatelyDeployed};
use crate::bundle::yaml::Document;
use crate::ckf_release::CkfRelease;
use crate::engine::work::StepError;

/// The names `deploy.separate_plan` accepts besides a file path.
pub const NAMED: [(&str, PodspecRelease); 3] = [
    ("ckf-1.7-edge", PodspecRelease::Ckf17Edge),
    ("latest-edge-2023-10", PodspecRelease::LatestEdge202310),
    ("latest-edge-2023-09-18", PodspecRelease::LatestEdge20230918),
];

/// The plan's text and name, or None when no charm is deployed separately.
pub fn chosen_text(
    bundle: &BundleInput,
    release_input: &ReleaseInput,
) -> Result<Option<(String, String)>, StepError> {
    let named = bundle.separate_plan.clone().or_else(|| {
        // The 1.7 air-gapped bundle is published together with its PodSpec script.
        (release(release_input).ok()? == CkfRelease::V1_7).then(|| "ckf-1.7-edge".to_string())
    });
    let Some(name) = named else { return Ok(None) };
    if name == "none" {
        return Ok(None);
    }
    if let Some((_, release)) = NAMED.iter().find(|(n, _)| *n == name) {
        return Ok(Some((
            release.file_name().to_string(),
            release.text().to_string(),
        )));
    }
    let text = std::fs::read_to_string(Path::new(&name)).map_err(|e| {
        StepError::failed(format!(
            "deploy.separate_plan {name:?}: {e}. Give a plan file, one of {}, or none.",
            NAMED.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ")
        ))
    })?;
    Ok(Some((name, text)))
}

pub fn plan(bundle: &BundleInput, release: &ReleaseInput) -> Result<SeparatelyDeployed, StepError> {
    match chosen_text(bundle, release)? {
        None => Ok(SeparatelyDeployed::default()),
        Some((name, text)) => {
            SeparatelyDeployed::parse(&name, &text).map_err(|e| StepError::failed(e.to_string()))
        }
    }
}

pub fn document(
    bundle: &BundleInput,
    release: &ReleaseInput,
) -> Result<Option<Document>, StepError> {
    match chosen_text(bundle, release)? {
        None => Ok(None),
        Some((name, text)) => Document::parse(&name, &text)
            .map(Some)
            .map_err(|e| StepError::failed(e.to_string())),
    }
}
