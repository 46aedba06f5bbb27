//! Checks a fully read member against its own metadata (layer hashes against
//! the config's diff_ids or the OCI manifest digests, the config against its
//! file name or descriptor), then moves the verified files into the blob
//! store. Verification of all images of a member happens before any blob is
//! committed, so a bad member leaves nothing new under a final name.

use std::collections::HashMap;

use super::context::Ctx;
use super::layout::{ImageConfig, ImagePlan};
use super::member::{Compression, Held, MemberContents};
use crate::artifacts::error::{ArtifactError, DigestMismatch, Result};
use crate::artifacts::inventory::{ImageRecord, LayerRecord, ManifestRecord};
use crate::artifacts::spool::{BlobStore, digest_hex};

fn sha(hex: &str) -> String {
    format!("sha256:{hex}")
}

fn spool_rel(hex: &str) -> String {
    format!("blobs/sha256/{hex}")
}

fn layer_mismatch(
    ctx: &Ctx,
    image: &str,
    layer: &str,
    expected: &str,
    actual: &str,
) -> ArtifactError {
    ArtifactError::LayerDigestMismatch(Box::new(DigestMismatch {
        archive: ctx.archive.to_string(),
        member: ctx.member.to_string(),
        image: image.to_string(),
        item: layer.to_string(),
        expected: expected.to_string(),
        actual: actual.to_string(),
    }))
}

/// A verified image and the member files it needs in the store, by path.
pub struct Verified {
    pub record: ImageRecord,
    pub files: Vec<(String, String)>,
}

pub fn verify_image(ctx: &Ctx, contents: &MemberContents, plan: &ImagePlan) -> Result<Verified> {
    let image = plan.references.first().cloned().unwrap_or_default();
    let mut files = Vec::new();

    let (config_real, config_file) = contents.resolve(&plan.config_path).ok_or_else(|| {
        ctx.missing(
            format!("the manifest of {image} (Config)"),
            &plan.config_path,
        )
    })?;
    if let Some(exp) = &plan.config_expected
        && exp != &config_file.sha256
    {
        return Err(ArtifactError::ConfigDigestMismatch(Box::new(
            DigestMismatch {
                archive: ctx.archive.to_string(),
                member: ctx.member.to_string(),
                image,
                item: plan.config_path.clone(),
                expected: sha(exp),
                actual: sha(&config_file.sha256),
            },
        )));
    }
    let config_bytes = contents.read_small(ctx, &plan.config_path)?;
    let config: ImageConfig = serde_json::from_slice(&config_bytes)
        .map_err(|e| ctx.bad_metadata(&plan.config_path, e))?;
    let diff_ids = &config.rootfs.diff_ids;
    if diff_ids.len() != plan.layers.len() {
        return Err(ArtifactError::LayerCountMismatch {
            archive: ctx.archive.to_string(),
            member: ctx.member.to_string(),
            image,
            layers: plan.layers.len(),
            diff_ids: diff_ids.len(),
        });
    }
    files.push((config_real, config_file.sha256.clone()));

    let mut layers = Vec::with_capacity(plan.layers.len());
    for (lp, diff_id) in plan.layers.iter().zip(diff_ids) {
        let (real, f) = contents
            .resolve(&lp.path)
            .ok_or_else(|| ctx.missing(format!("the manifest of {image} (Layers)"), &lp.path))?;
        // A content-addressed name is itself a promise about the content.
        if let Some(h) = real.strip_prefix("blobs/sha256/")
            && h != f.sha256
        {
            return Err(layer_mismatch(
                ctx,
                &image,
                &lp.path,
                &sha(h),
                &sha(&f.sha256),
            ));
        }
        if let Some(d) = &lp.descriptor
            && digest_hex(&d.digest) != Some(f.sha256.as_str())
        {
            return Err(layer_mismatch(
                ctx,
                &image,
                &lp.path,
                &d.digest,
                &sha(&f.sha256),
            ));
        }
        let unsupported = |c: Compression| ArtifactError::UnsupportedCompression {
            archive: ctx.archive.to_string(),
            member: ctx.member.to_string(),
            image: image.clone(),
            layer: lp.path.clone(),
            compression: c.name(),
        };
        let (uncompressed_size, compressed) = match f.compression {
            Compression::None => {
                if digest_hex(diff_id) != Some(f.sha256.as_str()) {
                    return Err(layer_mismatch(
                        ctx,
                        &image,
                        &lp.path,
                        diff_id,
                        &sha(&f.sha256),
                    ));
                }
                (None, false)
            }
            Compression::Gzip => match &f.uncompressed {
                Some((h, n)) => {
                    if digest_hex(diff_id) != Some(h.as_str()) {
                        return Err(layer_mismatch(ctx, &image, &lp.path, diff_id, &sha(h)));
                    }
                    (Some(*n), true)
                }
                None if lp.descriptor.is_some() => (None, true),
                None => return Err(unsupported(f.compression)),
            },
            Compression::Zstd => {
                if lp.descriptor.is_none() {
                    return Err(unsupported(f.compression));
                }
                (None, true)
            }
        };
        let media_type = lp
            .descriptor
            .as_ref()
            .map(|d| d.media_type.clone())
            .filter(|m| !m.is_empty())
            .unwrap_or_else(|| match f.compression {
                Compression::None => "application/vnd.oci.image.layer.v1.tar".into(),
                Compression::Gzip => "application/vnd.oci.image.layer.v1.tar+gzip".into(),
                Compression::Zstd => "application/vnd.oci.image.layer.v1.tar+zstd".into(),
            });
        layers.push(LayerRecord {
            diff_id: diff_id.clone(),
            blob_digest: sha(&f.sha256),
            size: f.size,
            uncompressed_size,
            compressed_digest: compressed.then(|| sha(&f.sha256)),
            media_type,
            spool_path: spool_rel(&f.sha256),
        });
        files.push((real, f.sha256.clone()));
    }

    let manifest = match &plan.manifest {
        Some(m) => {
            let (real, f) = contents
                .resolve(&m.path)
                .ok_or_else(|| ctx.missing("index.json", &m.path))?;
            if f.sha256 != m.hex {
                return Err(ctx.bad_metadata(
                    &m.path,
                    format!("digest {} does not match its name", sha(&f.sha256)),
                ));
            }
            files.push((real, m.hex.clone()));
            Some(ManifestRecord {
                digest: sha(&m.hex),
                media_type: m.media_type.clone(),
                size: m.size,
                spool_path: spool_rel(&m.hex),
            })
        }
        None => None,
    };

    let (normalized, repository, tag) = ImageRecord::new_named(&image);
    let total_size = config_file.size + layers.iter().map(|l| l.size).sum::<u64>();
    Ok(Verified {
        record: ImageRecord {
            reference: image,
            references: plan.references.clone(),
            normalized,
            repository,
            tag,
            member: ctx.member.to_string(),
            config_digest: sha(&config_file.sha256),
            config_size: config_file.size,
            config_spool_path: spool_rel(&config_file.sha256),
            layers,
            manifest,
            total_size,
        },
        files,
    })
}

/// Moves the files that verified images use into the store; everything else
/// (legacy `<id>/json`, `repositories`, ...) is dropped with its temp file.
pub fn commit_files(
    contents: &mut MemberContents,
    store: &mut BlobStore,
    verified: &[Verified],
) -> Result<()> {
    let mut wanted: HashMap<String, String> = HashMap::new();
    for v in verified {
        for (path, hex) in &v.files {
            wanted.insert(path.clone(), hex.clone());
        }
    }
    for (path, hex) in wanted {
        let Some(f) = contents.files.get_mut(&path) else {
            continue;
        };
        match f.held.take() {
            Some(Held::Temp(t)) => {
                store.commit(t, &hex)?;
            }
            Some(Held::Memory(b)) => {
                store.commit_bytes(&b, &hex)?;
            }
            Some(Held::Sent(b)) => {
                b.commit().map_err(|e| ArtifactError::Stopped {
                    image: path.clone(),
                    reason: format!("committing {path} to the registry: {e}"),
                })?;
            }
            None => {}
        }
    }
    Ok(())
}
