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
use crate::artifacts::spool::BlobStore;
use crate::oci::{Digest, LayerEncoding, MediaType};

fn layer_mismatch(
    ctx: &Ctx,
    image: &str,
    layer: &str,
    expected: &Digest,
    actual: &Digest,
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
    pub files: Vec<(String, Digest)>,
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
                expected: exp.to_string(),
                actual: config_file.sha256.to_string(),
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
        if let Some(named) = Digest::from_blob_path(&real)
            && named != f.sha256
        {
            return Err(layer_mismatch(ctx, &image, &lp.path, &named, &f.sha256));
        }
        if let Some(d) = &lp.descriptor
            && d.digest != f.sha256
        {
            return Err(layer_mismatch(ctx, &image, &lp.path, &d.digest, &f.sha256));
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
                if *diff_id != f.sha256 {
                    return Err(layer_mismatch(ctx, &image, &lp.path, diff_id, &f.sha256));
                }
                (None, false)
            }
            Compression::Gzip => match &f.uncompressed {
                Some((h, n)) => {
                    if diff_id != h {
                        return Err(layer_mismatch(ctx, &image, &lp.path, diff_id, h));
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
            .filter(|m| *m != MediaType::Unspecified)
            .unwrap_or_else(|| {
                let encoding = match f.compression {
                    Compression::None => LayerEncoding::Tar,
                    Compression::Gzip => LayerEncoding::Gzip,
                    Compression::Zstd => LayerEncoding::Zstd,
                };
                MediaType::layer(encoding, false)
            });
        layers.push(LayerRecord {
            diff_id: diff_id.clone(),
            blob_digest: f.sha256.clone(),
            size: f.size,
            uncompressed_size,
            compressed_digest: compressed.then(|| f.sha256.clone()),
            media_type,
            spool_path: f.sha256.blob_path(),
        });
        files.push((real, f.sha256.clone()));
    }

    let manifest = match &plan.manifest {
        Some(m) => {
            let (real, f) = contents
                .resolve(&m.path)
                .ok_or_else(|| ctx.missing("index.json", &m.path))?;
            if f.sha256 != m.digest {
                return Err(ctx.bad_metadata(
                    &m.path,
                    format!("digest {} does not match its name", f.sha256),
                ));
            }
            files.push((real, m.digest.clone()));
            Some(ManifestRecord {
                digest: m.digest.clone(),
                media_type: m.media_type.clone(),
                size: m.size,
                spool_path: m.digest.blob_path(),
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
            config_digest: config_file.sha256.clone(),
            config_size: config_file.size,
            config_spool_path: config_file.sha256.blob_path(),
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
    let mut wanted: HashMap<String, Digest> = HashMap::new();
    for v in verified {
        for (path, digest) in &v.files {
            wanted.insert(path.clone(), digest.clone());
        }
    }
    for (path, digest) in wanted {
        let hex = digest.hex();
        let Some(f) = contents.files.get_mut(&path) else {
            continue;
        };
        match f.held.take() {
            Some(Held::Temp(t)) => {
                store.commit(t, hex)?;
            }
            Some(Held::Memory(b)) => {
                store.commit_bytes(&b, hex)?;
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
