//! Understands the metadata of the docker save flavours: legacy
//! (`manifest.json` + `<id>/layer.tar`), skopeo docker-archive (same with
//! symlinks), Docker 25+ (OCI layout plus `manifest.json`) and the containerd
//! store (OCI layout with compressed blobs, maybe platforms whose blobs are
//! absent). Produces one plan per image; hashes are checked in `verify`.

use super::context::Ctx;
use super::member::MemberContents;
use crate::artifacts::error::{ArtifactError, Result};
use crate::artifacts::safety::normalize_entry_path;
pub use crate::oci::ImageConfig;
use crate::oci::{
    ANNOTATION_CONTAINERD_NAME, ANNOTATION_REF_NAME, Descriptor, Digest, Index, Manifest,
    MediaType, SaveManifestEntry,
};

#[derive(Debug, Clone)]
pub struct LayerPlan {
    pub path: String,
    /// Compressed/blob digest from the OCI manifest, when there is one.
    pub descriptor: Option<Descriptor>,
}

#[derive(Debug, Clone)]
pub struct ManifestPlan {
    pub path: String,
    pub digest: Digest,
    pub media_type: MediaType,
    pub size: u64,
}

#[derive(Debug, Clone)]
pub struct ImagePlan {
    pub references: Vec<String>,
    pub config_path: String,
    /// Digest the config must have, from its file name or descriptor.
    pub config_expected: Option<Digest>,
    pub layers: Vec<LayerPlan>,
    pub manifest: Option<ManifestPlan>,
}

struct OciImage {
    names: Vec<String>,
    manifest: ManifestPlan,
    config: Digest,
    layers: Vec<Descriptor>,
}

/// An OCI ref name is often just a tag (`v1.7.0`); only a full reference names
/// an image.
fn names_from_annotations(d: &Descriptor) -> Vec<String> {
    if let Some(n) = d
        .annotation(ANNOTATION_CONTAINERD_NAME)
        .filter(|n| !n.is_empty())
    {
        return vec![n.to_string()];
    }
    match d.annotation(ANNOTATION_REF_NAME) {
        Some(n) if n.contains('/') || n.contains(':') => vec![n.to_string()],
        _ => Vec::new(),
    }
}

/// Image names from metadata bytes alone (used when skipping a done member).
pub fn names_from_metadata(manifest: Option<&[u8]>, index: Option<&[u8]>) -> Vec<String> {
    let mut names = Vec::new();
    if let Some(m) = manifest.and_then(|b| serde_json::from_slice::<Vec<SaveManifestEntry>>(b).ok())
    {
        for e in m {
            names.extend(e.repo_tags.unwrap_or_default());
        }
    }
    if names.is_empty()
        && let Some(ix) = index.and_then(|b| serde_json::from_slice::<Index>(b).ok())
    {
        for d in &ix.manifests {
            names.extend(names_from_annotations(d));
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
    // A digest that is not one is refused here, with the value escaped: it can never become
    // a path.
    let index: Index =
        serde_json::from_slice(index_bytes).map_err(|e| ctx.bad_metadata("index.json", e))?;
    for d in index.manifests {
        let mut names = names_from_annotations(&d);
        if names.is_empty() {
            names = inherited.to_vec();
        }
        let path = d.digest.blob_path();
        // The containerd store keeps the original index, which may list
        // platforms whose blobs were never pulled: absent means "not here".
        if contents.resolve(&path).is_none() {
            continue;
        }
        let bytes = contents.read_small(ctx, &path)?;
        if d.media_type.is_index() {
            if depth < 4 {
                collect_oci(ctx, contents, &bytes, &names, depth + 1, out)?;
            }
            continue;
        }
        let m: Manifest = serde_json::from_slice(&bytes).map_err(|e| ctx.bad_metadata(&path, e))?;
        out.push(OciImage {
            names,
            manifest: ManifestPlan {
                path: path.clone(),
                digest: d.digest.clone(),
                media_type: match d.media_type {
                    MediaType::Unspecified => MediaType::OciManifest,
                    given => given,
                },
                size: bytes.len() as u64,
            },
            config: m.config.digest,
            layers: m.layers,
        });
    }
    Ok(())
}

/// The digest a legacy or OCI config file name promises.
fn expected_config(path: &str) -> Option<Digest> {
    if path.starts_with("blobs/sha256/") {
        return Digest::from_blob_path(path);
    }
    let base = path.rsplit('/').next().unwrap_or(path);
    Digest::from_hex(base.strip_suffix(".json").unwrap_or(base)).ok()
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
        let entries: Vec<SaveManifestEntry> =
            serde_json::from_slice(&b).map_err(|e| ctx.bad_metadata("manifest.json", e))?;
        if entries.is_empty() {
            return Err(ctx.bad_metadata("manifest.json", "it lists no image"));
        }
        for e in entries {
            let config_expected = expected_config(&e.config);
            let matching = config_expected
                .as_ref()
                .and_then(|h| oci.iter().find(|o| &o.config == h));
            let mut references = e.repo_tags.clone().unwrap_or_default();
            references.retain(|r| !r.is_empty());
            if references.is_empty() {
                references = match matching {
                    Some(o) => o.names.clone(),
                    None if oci.len() == 1 => oci[0].names.clone(),
                    None => Vec::new(),
                };
            }
            // A name is shown and logged everywhere: one holding a line break or a control
            // character (which could forge a log line or act on a terminal) is no image name.
            if let Some(bad) = references
                .iter()
                .find(|r| r.chars().any(|c| c.is_control() || c.is_whitespace()))
            {
                return Err(ctx.bad_metadata(
                    "manifest.json",
                    format!(
                        "RepoTags holds {bad:?}, which is not an image name (it holds a space, a \
                         line break or a control character). Fix: save the image again under its \
                         real name and rebuild the archive"
                    ),
                ));
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
            config_path: o.config.blob_path(),
            config_expected: Some(o.config),
            layers: o
                .layers
                .into_iter()
                .map(|d| LayerPlan {
                    path: d.digest.blob_path(),
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
        let d = Digest::from_hex(&h).ok();
        assert_eq!(expected_config(&format!("{h}.json")), d);
        assert_eq!(expected_config(&format!("blobs/sha256/{h}")), d);
        assert_eq!(expected_config("config.json"), None);
    }

    #[test]
    fn tag_only_ref_name_is_not_a_name() {
        let mut d = Descriptor::of(MediaType::OciManifest, b"{}");
        let mut a = std::collections::BTreeMap::new();
        a.insert(ANNOTATION_REF_NAME.to_string(), "v1.7.0".to_string());
        d.annotations = Some(a.clone());
        assert!(names_from_annotations(&d).is_empty());
        a.insert(ANNOTATION_CONTAINERD_NAME.to_string(), "r/x:v1".to_string());
        d.annotations = Some(a);
        assert_eq!(names_from_annotations(&d), vec!["r/x:v1".to_string()]);
    }
}
