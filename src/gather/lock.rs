//! `ckf-release.lock.json`: what the connected side gathered, so the air-gapped side can prove
//! the archives whole: every charm with its revision and SHA-256, every image with its
//! digests, names and the applications that need it, and Juju's images.

use serde::{Deserialize, Serialize};

use crate::artifacts::Inventory;
use crate::oci::Digest;

pub const RELEASE_LOCK_FILE: &str = "ckf-release.lock.json";

/// Where gather writes the lock file for `images_archive`: beside it.
pub fn beside(images_archive: &std::path::Path) -> std::path::PathBuf {
    images_archive.with_file_name(RELEASE_LOCK_FILE)
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReleaseLock {
    pub tool_version: String,
    /// The CKF release, when the bundle names one. A name, not `CkfRelease`: a lock written by
    /// a newer ckf-airgap for a release this one does not know must still be read.
    pub release: Option<String>,
    pub bundle_sha256: Option<String>,
    pub charms: Vec<LockedCharm>,
    pub images: Vec<LockedImage>,
    /// Juju's own images among `images`.
    pub juju_images: Vec<String>,
    /// Images that could not be gathered and were accepted as missing, with who needs each.
    #[serde(default)]
    pub missing: Vec<MissingImage>,
    /// `images.tar.gz`'s volumes in order, when gather cut it (`[gather] max_volume_size`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub volumes: Vec<crate::gather::volume_writer::LockedVolume>,
    /// The ckf-airgap executable gather copied beside the archives.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool: Option<crate::gather::tool_copy::LockedTool>,
    /// For an upgrade's differential set: the installed release's lock it was gathered
    /// against, and what the target needs that it already holds (left out of the archives).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base: Option<BaseLock>,
}

/// The lock of the release an upgrade starts from, as a differential gather read it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BaseLock {
    /// Its file name, as given to `[gather] upgrade_from`.
    pub file: String,
    pub sha256: String,
    pub release: Option<String>,
    /// Target images the base lock holds (so already in the private registry): not archived.
    pub images: Vec<String>,
    /// Target charms whose file the base lock holds with the same SHA-256: not archived.
    pub charms: Vec<String>,
}

impl ReleaseLock {
    /// The volumes as the Artifacts step checks them.
    pub fn expected_volumes(&self) -> Vec<crate::artifacts::volumes::ExpectedVolume> {
        self.volumes
            .iter()
            .map(|v| crate::artifacts::volumes::ExpectedVolume {
                file: v.file.clone(),
                size: v.size,
                sha256: v.sha256.clone(),
            })
            .collect()
    }

    /// The lock at `path`; the error names the file and what to do.
    pub fn read(path: &std::path::Path) -> Result<ReleaseLock, String> {
        let bytes =
            std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        serde_json::from_slice(&bytes).map_err(|e| {
            format!(
                "{} is not a lock file ckf-airgap wrote ({e}); copy it again or remove it",
                path.display()
            )
        })
    }

    /// Whether this lock holds `upstream` (as gathered, by its normal form): an upgrade's
    /// differential gather leaves it out.
    pub fn holds_image(&self, upstream: &str) -> bool {
        let wanted = crate::image_ref::normalize_reference(upstream);
        self.images
            .iter()
            .any(|i| crate::image_ref::normalize_reference(&i.upstream) == wanted)
    }

    /// Whether this lock holds this very charm file.
    pub fn holds_charm(&self, name: &str, sha256: &str) -> bool {
        self.charms
            .iter()
            .any(|c| c.name == name && c.sha256 == sha256)
    }

    /// Every registry host the gathered (and missing) images come from, Docker Hub as
    /// `docker.io`.
    pub fn upstream_hosts(&self) -> Vec<String> {
        let mut hosts: Vec<String> = self
            .images
            .iter()
            .map(|i| i.upstream.as_str())
            .chain(self.missing.iter().map(|m| m.image.as_str()))
            .map(|image| {
                crate::image_ref::ImageRef::split(image)
                    .registry
                    .unwrap_or_else(|| "docker.io".to_owned())
            })
            .collect();
        hosts.sort();
        hosts.dedup();
        hosts
    }
}

/// An image gather could not pull and the operator accepted as missing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "MissingImageForm")]
pub struct MissingImage {
    pub image: String,
    /// `kfp-api resource oci-image`, as gather's images list names them.
    pub needed_by: Vec<String>,
}

impl MissingImage {
    pub fn describe(&self) -> String {
        if self.needed_by.is_empty() {
            self.image.clone()
        } else {
            format!("{} (needed by {})", self.image, self.needed_by.join(", "))
        }
    }
}

/// Locks written before the applications were recorded list the image alone.
#[derive(Deserialize)]
#[serde(untagged)]
enum MissingImageForm {
    Image(String),
    Named {
        image: String,
        #[serde(default)]
        needed_by: Vec<String>,
    },
}

impl From<MissingImageForm> for MissingImage {
    fn from(form: MissingImageForm) -> Self {
        match form {
            MissingImageForm::Image(image) => MissingImage {
                image,
                needed_by: Vec::new(),
            },
            MissingImageForm::Named { image, needed_by } => MissingImage { image, needed_by },
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockedCharm {
    pub name: String,
    pub file: String,
    pub channel: Option<String>,
    pub revision: Option<u64>,
    pub sha256: String,
    pub bases: Vec<String>,
    /// For istio-pilot on an upgrade's way: the Istio track this charm is the hop to, refreshed
    /// through before the target release's own charm.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upgrade_hop: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockedImage {
    pub upstream: String,
    pub index_digest: Option<Digest>,
    pub manifest_digest: Digest,
    pub config_digest: Digest,
    pub repo_tags: Vec<String>,
    pub member: String,
    pub size: u64,
    pub needed_by: Vec<String>,
    /// Where record mode saw it in the staging cluster, for an image no charm names.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub seen_in: Vec<String>,
}

/// What the archives lack or hold that the lock does not explain; empty when they match.
pub fn verify(lock: &ReleaseLock, inventory: &Inventory) -> (Vec<String>, Vec<String>) {
    let mut problems = Vec::new();
    for image in &lock.images {
        let tag = image.repo_tags.first().cloned().unwrap_or_default();
        match inventory
            .images
            .iter()
            .find(|r| r.references.contains(&tag))
        {
            None => problems.push(format!(
                "image {tag} ({}) is in the lock file but not in images.tar.gz",
                image.upstream
            )),
            Some(r) if r.config_digest != image.config_digest => problems.push(format!(
                "image {tag} in member {} has config {}, the lock file says {}",
                r.member, r.config_digest, image.config_digest
            )),
            Some(_) => {}
        }
    }
    for charm in &lock.charms {
        // By file first: an upgrade's set holds several istio-pilot files.
        let found = inventory
            .charms
            .iter()
            .find(|c| c.file_name == charm.file)
            .or_else(|| inventory.charms.iter().find(|c| c.name == charm.name));
        match found {
            None => problems.push(format!(
                "charm {} ({}) is in the lock file but not in charms.tar.gz",
                charm.name, charm.file
            )),
            Some(c) if c.sha256 != charm.sha256 => problems.push(format!(
                "charm {} ({}) hashes to {}, the lock file says {}",
                charm.name, c.file_name, c.sha256, charm.sha256
            )),
            Some(_) => {}
        }
    }
    let extra = inventory
        .images
        .iter()
        .filter(|r| {
            !lock
                .images
                .iter()
                .any(|l| l.repo_tags.iter().any(|t| r.references.contains(t)))
        })
        .map(|r| {
            format!(
                "image {} (member {}) is not in the lock file",
                r.reference, r.member
            )
        })
        .chain(
            inventory
                .charms
                .iter()
                .filter(|c| {
                    !lock
                        .charms
                        .iter()
                        .any(|l| l.name == c.name || l.file == c.file_name)
                })
                .map(|c| format!("charm {} is not in the lock file", c.file_name)),
        )
        .collect();
    (problems, extra)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lock_from_before_the_applications_were_recorded_is_read() {
        let lock: ReleaseLock = serde_json::from_str(
            r#"{"tool_version": "0.1.0", "release": null, "bundle_sha256": null, "charms": [],
                "images": [], "juju_images": [],
                "missing": ["r.io/a:1", {"image": "r.io/b:2", "needed_by": ["kfp-api resource oci-image"]}]}"#,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let described: Vec<String> = lock.missing.iter().map(MissingImage::describe).collect();
        assert_eq!(
            described,
            [
                "r.io/a:1",
                "r.io/b:2 (needed by kfp-api resource oci-image)"
            ]
        );
    }
}
