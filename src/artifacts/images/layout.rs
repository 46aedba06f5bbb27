//! Understands the metadata of the docker save flavours: legacy
//! (`manifest.json` + `<id>/layer.tar`), skopeo docker-archive (same with
//! symlinks), Docker 25+ (OCI layout plus `manifest.json`) and the containerd
//! store (OCI layout with compressed blobs, maybe platforms whose blobs are
//! absent). Produces one plan per image; hashes are checked in `verify`.

use std::collections::HashMap;

use serde::Deserialize;

use super::context::Ctx;
use super::member::MemberContents;
use crate::artifacts::error::{ArtifactError, Result};
use crate::artifacts::safety::normalize_entry_path;
use crate::artifacts::spool::{digest_hex, is_sha256_hex};

const ANN_CONTAINERD_NAME: &str = "io.containerd.image.name";
const ANN_OCI_REF_NAME: &str = "org.opencontainers.image.ref.name";

#[derive(Debug, Deserialize)]
pub struct DockerManifestEntry {
    #[serde(rename = "Config")]
    pub config: String,
    #[serde(rename = "RepoTags", default)]
    pub repo_tags: Option<Vec<String>>,
    #[serde(rename = "Layers", default)]
    pub layers: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Descriptor {
    #[serde(rename = "mediaType", default)]
    pub media_type: String,
    pub digest: String,
    #[serde(default)]
    pub size: u64,
    #[serde(default)]
    pub annotations: Option<HashMap<String, String>>,
}

#[derive(Debug, Deserialize)]
struct OciIndex {
    #[serde(default)]
    manifests: Vec<Descriptor>,
}

#[derive(Debug, Deserialize)]
struct OciManifest {
    config: Descriptor,
    #[serde(default)]
    layers: Vec<Descriptor>,
}

#[derive(Debug, Deserialize)]
pub struct ImageConfig {
    pub rootfs: RootFs,
}

#[derive(Debug, Deserialize)]
pub struct RootFs {
    #[serde(default)]
    pub diff_ids: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct LayerPlan {
    pub path: String,
    /// Compressed/blob digest from the OCI manifest, when there is one.
    pub descriptor: Option<Descriptor>,
}

#[derive(Debug, Clone)]
pub struct ManifestPlan {
    pub path: String,
    pub hex: String,
    pub media_type: String,
    pub size: u64,
}

#[derive(Debug, Clone)]
pub struct ImagePlan {
    pub references: Vec<String>,
    pub config_path: String,
    /// Digest the config must have, from its file name or descriptor.
    pub config_expected: Option<String>,
    pub layers: Vec<LayerPlan>,
    pub manifest: Option<ManifestPlan>,
}

struct OciImage {
    names: Vec<String>,
    manifest: ManifestPlan,
    config_hex: String,
    layers: Vec<Descriptor>,
}

fn blob_path(hex: &str) -> String {
    format!("blobs/sha256/{hex}")
}

/// An OCI ref name is often just a tag (`v1.7.0`); only a full reference names
/// an image.
fn names_from_annotations(ann: Option<&HashMap<String, String>>) -> Vec<String> {
    let Some(ann) = ann else { return Vec::new() };
    if let Some(n) = ann.get(ANN_CONTAINERD_NAME).filter(|n| !n.is_empty()) {
        return vec![n.clone()];
    }
    match ann.get(ANN_OCI_REF_NAME) {
        Some(n) if n.contains('/') || n.contains(':') => vec![n.clone()],
        _ => Vec::new(),
    }
}

/// Image names from metadata bytes alone (used when skipping a done member).
pub fn names_from_metadata(manifest: Option<&[u8]>, index: Option<&[u8]>) -> Vec<String> {
    let mut names = Vec::new();
    if let Some(m) =
        manifest.and_then(|b| serde_json::from_slice::<Vec<DockerManifestEntry>>(b).ok())
    {
        for e in m {
            names.extend(e.repo_tags.unwrap_or_default());
        }
    }
    if names.is_empty()
        && let Some(ix) = index.and_then(|b| serde_json::from_slice::<OciIndex>(b).ok())
    {
        for d in ix.manifests {
            names.extend(names_from_annotations(d.annotations.as_ref()));
        }
    }
    names
}

fn collect_oci(
    ctx: &Ctx,
    contents: &MemberContents,
    index_bytes: &[u8],
    inherited: &[String],
    depth: usize,
    out: &mut Vec<OciImage>,
) -> Result<()> {
    let index: OciIndex =
        serde_json::from_slice(index_bytes).map_err(|e| ctx.bad_metadata("index.json", e))?;
    for d in index.manifests {
        let Some(hex) = digest_hex(&d.digest) else {
            return Err(ctx.bad_metadata("index.json", format!("bad digest {:?}", d.digest)));
        };
        let mut names = names_from_annotations(d.annotations.as_ref());
        if names.is_empty() {
            names = inherited.to_vec();
        }
        let path = blob_path(hex);
        // The containerd store keeps the original index, which may list
        // platforms whose blobs were never pulled: absent means "not here".
        if contents.resolve(&path).is_none() {
            continue;
        }
        let bytes = contents.read_small(ctx, &path)?;
        let is_index = d.media_type.contains("index") || d.media_type.contains("manifest.list");
        if is_index {
            if depth < 4 {
                collect_oci(ctx, contents, &bytes, &names, depth + 1, out)?;
            }
            continue;
        }
        let m: OciManifest =
            serde_json::from_slice(&bytes).map_err(|e| ctx.bad_metadata(&path, e))?;
        let Some(config_hex) = digest_hex(&m.config.digest) else {
            return Err(ctx.bad_metadata(&path, "bad config digest"));
        };
        if m.layers.iter().any(|l| digest_hex(&l.digest).is_none()) {
            return Err(ctx.bad_metadata(&path, "bad layer digest"));
        }
        out.push(OciImage {
            names,
            manifest: ManifestPlan {
                path: path.clone(),
                hex: hex.to_string(),
                media_type: if d.media_type.is_empty() {
                    "application/vnd.oci.image.manifest.v1+json".into()
                } else {
                    d.media_type.clone()
                },
                size: bytes.len() as u64,
            },
            config_hex: config_hex.to_string(),
            layers: m.layers,
        });
    }
    Ok(())
}

/// The digest a legacy or OCI config file name promises.
fn expected_config_hex(path: &str) -> Option<String> {
    if let Some(h) = path.strip_prefix("blobs/sha256/") {
        return is_sha256_hex(h).then(|| h.to_string());
    }
    let base = path.rsplit('/').next().unwrap_or(path);
    let h = base.strip_suffix(".json").unwrap_or(base);
    is_sha256_hex(h).then(|| h.to_string())
}

pub fn plan_images(ctx: &Ctx, contents: &MemberContents) -> Result<Vec<ImagePlan>> {
    let has_manifest = contents.resolve("manifest.json").is_some();
    let has_index = contents.resolve("index.json").is_some();
    if !has_manifest && !has_index {
        return Err(ArtifactError::NotAnImage {
            archive: ctx.archive.to_string(),
            member: ctx.member.to_string(),
        });
    }
    let mut oci = Vec::new();
    if has_index {
        let b = contents.read_small(ctx, "index.json")?;
        collect_oci(ctx, contents, &b, &[], 0, &mut oci)?;
    }
    let mut plans = Vec::new();
    if has_manifest {
        let b = contents.read_small(ctx, "manifest.json")?;
        let entries: Vec<DockerManifestEntry> =
            serde_json::from_slice(&b).map_err(|e| ctx.bad_metadata("manifest.json", e))?;
        if entries.is_empty() {
            return Err(ctx.bad_metadata("manifest.json", "it lists no image"));
        }
        for e in entries {
            let config_expected = expected_config_hex(&e.config);
            let matching = config_expected
                .as_ref()
                .and_then(|h| oci.iter().find(|o| &o.config_hex == h));
            let mut references = e.repo_tags.clone().unwrap_or_default();
            references.retain(|r| !r.is_empty());
            if references.is_empty() {
                references = match matching {
                    Some(o) => o.names.clone(),
                    None if oci.len() == 1 => oci[0].names.clone(),
                    None => Vec::new(),
                };
            }
            if references.is_empty() {
                return Err(ArtifactError::NoImageName {
                    archive: ctx.archive.to_string(),
                    member: ctx.member.to_string(),
                    detail: "RepoTags is empty and index.json has no image name annotation".into(),
                });
            }
            let descs = matching
                .filter(|o| o.layers.len() == e.layers.len())
                .map(|o| o.layers.clone());
            let layers = e
                .layers
                .iter()
                .enumerate()
                .map(|(i, p)| {
                    Ok(LayerPlan {
                        path: normalize_entry_path(p.as_bytes())
                            .map_err(|w| ctx.unsafe_path(p.as_bytes(), w))?,
                        descriptor: descs.as_ref().and_then(|d| d.get(i).cloned()),
                    })
                })
                .collect::<Result<Vec<_>>>()?;
            plans.push(ImagePlan {
                references,
                config_path: normalize_entry_path(e.config.as_bytes())
                    .map_err(|w| ctx.unsafe_path(e.config.as_bytes(), w))?,
                config_expected,
                layers,
                manifest: matching.map(|o| o.manifest.clone()),
            });
        }
        return Ok(plans);
    }
    if oci.is_empty() {
        return Err(ctx.bad_metadata(
            "index.json",
            "no image manifest whose blob is present in the member",
        ));
    }
    for o in oci {
        if o.names.is_empty() {
            return Err(ArtifactError::NoImageName {
                archive: ctx.archive.to_string(),
                member: ctx.member.to_string(),
                detail: "index.json has no io.containerd.image.name or full org.opencontainers.image.ref.name annotation"
                    .into(),
            });
        }
        plans.push(ImagePlan {
            references: o.names,
            config_path: blob_path(&o.config_hex),
            config_expected: Some(o.config_hex),
            layers: o
                .layers
                .into_iter()
                .map(|d| LayerPlan {
                    path: blob_path(digest_hex(&d.digest).unwrap_or_default()),
                    descriptor: Some(d),
                })
                .collect(),
            manifest: Some(o.manifest),
        });
    }
    Ok(plans)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_names_promise_digests() {
        let h = "ab".repeat(32);
        assert_eq!(expected_config_hex(&format!("{h}.json")), Some(h.clone()));
        assert_eq!(
            expected_config_hex(&format!("blobs/sha256/{h}")),
            Some(h.clone())
        );
        assert_eq!(expected_config_hex("config.json"), None);
    }

    #[test]
    fn tag_only_ref_name_is_not_a_name() {
        let mut a = HashMap::new();
        a.insert(ANN_OCI_REF_NAME.to_string(), "v1.7.0".to_string());
        assert!(names_from_annotations(Some(&a)).is_empty());
        a.insert(ANN_CONTAINERD_NAME.to_string(), "r/x:v1".to_string());
        assert_eq!(names_from_annotations(Some(&a)), vec!["r/x:v1".to_string()]);
    }
}
