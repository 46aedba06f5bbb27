//! Which of the two input forms a bundle is, and which CKF release it deploys.

use serde::{Deserialize, Serialize};

use crate::bundle::model::Bundle;
use crate::ckf_release::CkfRelease;

/// The two bundles an operator brings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum BundleForm {
    /// The CKF 1.7-era air-gapped bundle: local charms and images under a placeholder
    /// registry (`172.17.0.2:5000`), edited in place.
    AirGapped { placeholder: String },
    /// A published release bundle (1.8 to 1.11): charms by name and channel, no resources;
    /// every image is derived from the charms and each application deployed on its own.
    Release,
}

impl BundleForm {
    pub fn describe(&self) -> String {
        match self {
            BundleForm::AirGapped { placeholder } => {
                format!("air-gapped bundle (images under the placeholder registry {placeholder})")
            }
            BundleForm::Release => {
                "release bundle (charms by channel; images derived from the charms)".into()
            }
        }
    }
}

/// A bundle with image references under a placeholder registry is the air-gapped form; one
/// with none, whose applications name their charms by channel, is a release bundle.
pub fn detect_form(bundle: &Bundle, placeholder: Option<&str>) -> BundleForm {
    match placeholder {
        Some(p) => BundleForm::AirGapped {
            placeholder: p.to_owned(),
        },
        None if bundle.applications.iter().any(|a| a.channel.is_some())
            && bundle.applications.iter().all(|a| a.resources.is_empty()) =>
        {
            BundleForm::Release
        }
        None => BundleForm::AirGapped {
            placeholder: String::new(),
        },
    }
}

/// The release a bundle deploys and the evidence for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DetectedRelease {
    pub release: CkfRelease,
    pub evidence: String,
}

/// The release named by the channel of a charm whose track belongs to one release only
/// (`CkfRelease::tracks`).
pub fn detect_release(bundle: &Bundle) -> Option<DetectedRelease> {
    release_of_channels(
        bundle
            .applications
            .iter()
            .filter_map(|a| Some((a.name.clone(), a.charm_name(), a.channel.clone()?))),
    )
}

/// The release the applications' channels name, as (application, charm, channel): the charms
/// in the table's order, so katib-controller's channel decides before kfp-api's. A bundle and
/// a running model (`juju status`'s `charm-channel`) are read alike.
pub fn release_of_channels(
    apps: impl Iterator<Item = (String, String, String)>,
) -> Option<DetectedRelease> {
    let apps: Vec<(String, String, String)> = apps.collect();
    let mut charms: Vec<&str> = Vec::new();
    for (charm, _) in CkfRelease::ALL.iter().flat_map(|r| r.tracks()) {
        if !charms.contains(charm) {
            charms.push(charm);
        }
    }
    for charm in charms {
        let Some((name, _, channel)) = apps.iter().find(|(_, c, _)| c == charm) else {
            continue;
        };
        let track = channel.split('/').next().unwrap_or(channel);
        let found = CkfRelease::ALL
            .into_iter()
            .find(|r| r.tracks().contains(&(charm, track)));
        if let Some(release) = found {
            return Some(DetectedRelease {
                release,
                evidence: format!("{name} is on channel {channel}"),
            });
        }
    }
    None
}
