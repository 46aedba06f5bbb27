//! What the release contains, as the engine and the UI see it, and how it
//! compares with what the deployment needs. Serializable so the engine can
//! persist it next to its ledger.

use std::collections::{BTreeSet, HashSet};
use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use super::charms::CharmInfo;
use super::error::{ArtifactError, Result};
use super::spool::{blob_path, write_json_atomic};
use crate::image_ref::{ImageRef, normalize_reference};
use crate::oci::{Digest, MediaType};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayerRecord {
    /// Uncompressed digest from the config (`sha256:...`).
    pub diff_id: Digest,
    /// Digest of the blob as stored in the spool (equals `diff_id` when the
    /// archive held the layer uncompressed).
    pub blob_digest: Digest,
    /// Size of the stored blob.
    pub size: u64,
    /// Size after inflating, when the blob is compressed and it was measured.
    pub uncompressed_size: Option<u64>,
    /// Set when the stored blob is compressed (same as `blob_digest`).
    pub compressed_digest: Option<Digest>,
    pub media_type: MediaType,
    /// Spool path relative to the work dir: `blobs/sha256/<hex>`.
    pub spool_path: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestRecord {
    pub digest: Digest,
    pub media_type: MediaType,
    pub size: u64,
    pub spool_path: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageRecord {
    /// The reference as written in the archive (first RepoTag or annotation).
    pub reference: String,
    /// All names the archive gives this image.
    pub references: Vec<String>,
    /// `reference` without registry host (what bundles are compared on).
    pub normalized: String,
    pub repository: String,
    pub tag: Option<String>,
    /// Outer member file name (for the engine's ledger and messages).
    pub member: String,
    pub config_digest: Digest,
    pub config_size: u64,
    pub config_spool_path: String,
    pub layers: Vec<LayerRecord>,
    /// The original OCI manifest when the archive had one (Docker 25+, containerd).
    pub manifest: Option<ManifestRecord>,
    /// Config plus stored layer sizes.
    pub total_size: u64,
}

impl ImageRecord {
    pub fn new_named(reference: &str) -> (String, String, Option<String>) {
        let r = ImageRef::split(reference);
        (
            r.normalized(),
            r.repository().to_owned(),
            r.effective_tag().map(str::to_owned),
        )
    }

    /// An image the archive is promised to hold (by gather's lock file or Canonical's
    /// retagged list), known by its names only: what a bundle's needs are checked against
    /// before the archive is read, so a missing image stops the run before any is sent. Never
    /// stored; the real record replaces it once the archive is read.
    pub fn promised(names: &[String], member: &str, config_digest: Option<Digest>) -> Self {
        let reference = names.first().cloned().unwrap_or_default();
        let (normalized, repository, tag) = Self::new_named(&reference);
        ImageRecord {
            reference,
            references: names.to_vec(),
            normalized,
            repository,
            tag,
            member: member.to_owned(),
            config_digest: config_digest.unwrap_or_else(|| Digest::of(b"")),
            config_size: 0,
            config_spool_path: String::new(),
            layers: Vec::new(),
            manifest: None,
            total_size: 0,
        }
    }

    /// Digests of every blob this image keeps in the spool.
    pub fn blob_digests(&self) -> Vec<Digest> {
        let mut v: Vec<Digest> = self.layers.iter().map(|l| l.blob_digest.clone()).collect();
        v.push(self.config_digest.clone());
        if let Some(m) = &self.manifest {
            v.push(m.digest.clone());
        }
        v
    }
}

pub fn records_dir(work_dir: &Path) -> PathBuf {
    work_dir.join("images")
}

/// One JSON file per image, named by a hash of the reference so any
/// reference text is a safe file name.
pub fn record_path(work_dir: &Path, reference: &str) -> PathBuf {
    let h = hex::encode(Sha256::digest(reference.as_bytes()));
    records_dir(work_dir).join(format!("{}.json", &h[..32]))
}

pub fn save_image_record(work_dir: &Path, record: &ImageRecord) -> Result<()> {
    write_json_atomic(&record_path(work_dir, &record.reference), record, work_dir)
}

/// Every image record in the work dir (from this run and earlier ones).
pub fn load_image_records(work_dir: &Path) -> Result<Vec<ImageRecord>> {
    let dir = records_dir(work_dir);
    let mut out = Vec::new();
    let rd = match fs::read_dir(&dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(ArtifactError::io(&dir, e)),
    };
    for e in rd.flatten() {
        let p = e.path();
        if p.extension().is_some_and(|x| x == "json")
            && !e.file_name().to_string_lossy().starts_with('.')
        {
            let b = fs::read(&p).map_err(|err| ArtifactError::io(&p, err))?;
            let r: ImageRecord = serde_json::from_slice(&b)
                .map_err(|err| ArtifactError::io(&p, std::io::Error::other(err)))?;
            out.push(r);
        }
    }
    out.sort_by(|a, b| a.reference.cmp(&b.reference));
    Ok(out)
}

/// Deletes an image's spooled blobs and its record, keeping any blob another
/// recorded image still uses (shared base layers). Returns bytes freed.
pub fn remove_image_spool(work_dir: &Path, record: &ImageRecord) -> Result<u64> {
    let others = load_image_records(work_dir)?;
    let keep: HashSet<Digest> = others
        .iter()
        .filter(|r| r.reference != record.reference)
        .flat_map(|r| r.blob_digests())
        .collect();
    let mut freed = 0;
    for d in record.blob_digests() {
        if keep.contains(&d) {
            continue;
        }
        let p = blob_path(work_dir, d.hex());
        if let Ok(m) = fs::metadata(&p) {
            fs::remove_file(&p).map_err(|e| ArtifactError::io(&p, e))?;
            freed += m.len();
        }
    }
    let rp = record_path(work_dir, &record.reference);
    match fs::remove_file(&rp) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(ArtifactError::io(&rp, e)),
    }
    Ok(freed)
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Inventory {
    pub images: Vec<ImageRecord>,
    pub charms: Vec<CharmInfo>,
}

impl Inventory {
    /// Every base the charms name, once each, in order (Juju's `charm-base` images follow them).
    pub fn charm_bases(&self) -> Vec<String> {
        let mut bases: Vec<String> = self.charms.iter().flat_map(|c| c.bases.clone()).collect();
        bases.sort();
        bases.dedup();
        bases
    }

    pub fn total_image_bytes(&self) -> u64 {
        self.images.iter().map(|i| i.total_size).sum()
    }

    /// Bytes the spool really holds: shared blobs counted once.
    pub fn unique_blob_bytes(&self) -> u64 {
        let mut seen = HashSet::new();
        let mut total = 0;
        for i in &self.images {
            if seen.insert(i.config_digest.clone()) {
                total += i.config_size;
            }
            for l in &i.layers {
                if seen.insert(l.blob_digest.clone()) {
                    total += l.size;
                }
            }
        }
        total
    }
}

/// What the deployment (bundle + scripts) refers to.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DeploymentNeeds {
    pub images: Vec<String>,
    pub charms: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CrossCheck {
    /// Needed references (as given) that no archived image matches.
    pub missing_images: Vec<String>,
    /// Archived references nothing in the deployment uses.
    pub unused_images: Vec<String>,
    pub missing_charms: Vec<String>,
    pub unused_charms: Vec<String>,
}

impl CrossCheck {
    pub fn is_complete(&self) -> bool {
        self.missing_images.is_empty() && self.missing_charms.is_empty()
    }
}

/// Compares on host-less references (placeholder registries differ) and on
/// charm names (file hashes/revisions never match the bundle's).
pub fn cross_check(inv: &Inventory, needs: &DeploymentNeeds) -> CrossCheck {
    let have: HashSet<String> = inv
        .images
        .iter()
        .flat_map(|i| i.references.iter().map(|r| normalize_reference(r)))
        .collect();
    let needed: HashSet<String> = needs
        .images
        .iter()
        .map(|r| normalize_reference(r))
        .collect();
    let missing_images: BTreeSet<String> = needs
        .images
        .iter()
        .filter(|r| !have.contains(&normalize_reference(r)))
        .cloned()
        .collect();
    let unused_images: BTreeSet<String> = inv
        .images
        .iter()
        .filter(|i| {
            !i.references
                .iter()
                .any(|r| needed.contains(&normalize_reference(r)))
        })
        .map(|i| i.reference.clone())
        .collect();
    let have_charms: HashSet<&str> = inv.charms.iter().map(|c| c.name.as_str()).collect();
    let need_charms: HashSet<&str> = needs.charms.iter().map(|c| c.as_str()).collect();
    let missing_charms: BTreeSet<String> = needs
        .charms
        .iter()
        .filter(|c| !have_charms.contains(c.as_str()))
        .cloned()
        .collect();
    let unused_charms: BTreeSet<String> = inv
        .charms
        .iter()
        .filter(|c| !need_charms.contains(c.name.as_str()))
        .map(|c| c.name.clone())
        .collect();
    CrossCheck {
        missing_images: missing_images.into_iter().collect(),
        unused_images: unused_images.into_iter().collect(),
        missing_charms: missing_charms.into_iter().collect(),
        unused_charms: unused_charms.into_iter().collect(),
    }
}
