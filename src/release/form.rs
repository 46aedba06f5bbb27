//! Which of the two input forms a bundle is, and which CKF release it deploys.

use serde::Serialize;

use crate::bundle::model::Bundle;

/// The two bundles an operator brings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
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
    pub release: String,
    pub evidence: String,
}

/// Charm tracks that name one CKF release each (the kubeflow charms' own tracks do not: the
/// 1.11 bundle deploys the 1.10 tracks of several).
const TRACKS: [(&str, &[(&str, &str)]); 2] = [
    (
        "katib-controller",
        &[
            ("0.15", "1.7"),
            ("0.16", "1.8"),
            ("0.17", "1.9"),
            ("0.18", "1.10"),
            ("0.19", "1.11"),
        ],
    ),
    (
        "kfp-api",
        &[
            ("2.0-alpha.7", "1.7"),
            ("2.0", "1.8"),
            ("2.2", "1.9"),
            ("2.3", "1.9"),
            ("2.5", "1.10"),
            ("2.15", "1.11"),
        ],
    ),
];

/// The release named by the channel of a charm whose track belongs to one release only.
pub fn detect_release(bundle: &Bundle) -> Option<DetectedRelease> {
    for (charm, table) in TRACKS {
        let Some(app) = bundle.applications.iter().find(|a| a.charm_name() == charm) else {
            continue;
        };
        let Some(channel) = app.channel.as_deref() else {
            continue;
        };
        let track = channel.split('/').next().unwrap_or(channel);
        if let Some((_, release)) = table.iter().find(|(t, _)| *t == track) {
            return Some(DetectedRelease {
                release: (*release).to_owned(),
                evidence: format!("{} is on channel {channel}", app.name),
            });
        }
    }
    None
}
