//! Which CKF release the install is for: the operator's choice, else what the bundle says.

use super::inputs::ReleaseInput;
use crate::ckf_release::CkfRelease;
use crate::engine::work::StepError;

pub const DEFAULT_RELEASE: CkfRelease = CkfRelease::V1_7;

/// The release chosen, or the one the air-gapped bundles are for.
pub fn release(input: &ReleaseInput) -> Result<CkfRelease, StepError> {
    release_with_evidence(input).map(|(r, _)| r)
}

/// The release and why: the operator's choice, else what the bundle says (a release bundle's
/// channels; the air-gapped form is the 1.7 one), else 1.7 with that said.
pub fn release_with_evidence(input: &ReleaseInput) -> Result<(CkfRelease, String), StepError> {
    if let Some(release) = input.ckf_release {
        return Ok((release, "chosen (deploy.ckf_release)".into()));
    }
    if let Some(path) = input.bundle_path()
        && let Ok((bundle, form)) =
            super::forms::form_of(path, input.placeholder_registry.as_deref())
    {
        match form {
            crate::release::BundleForm::Release => {
                if let Some(d) = crate::release::detect_release(&bundle) {
                    return Ok((d.release, format!("from the bundle: {}", d.evidence)));
                }
            }
            crate::release::BundleForm::AirGapped { .. } => {
                return Ok((
                    CkfRelease::V1_7,
                    "from the bundle: the air-gapped form is CKF 1.7's".into(),
                ));
            }
        }
    }
    Ok((
        DEFAULT_RELEASE,
        "not given (deploy.ckf_release) and not recognised from a bundle: versions are checked \
         against CKF 1.7"
            .into(),
    ))
}
