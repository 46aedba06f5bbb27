//! A second name for an image already in the registry, without moving a layer: every blob is
//! mounted from the first repository and the manifest put again byte for byte, so both names
//! resolve to one digest. containerd asks a mirror for Docker Hub's official images under
//! `library/<name>`, which `docker save` and the push drop; the mirror safety net needs that
//! path to answer too.

use super::client::{MountOutcome, RegistryClient};
use super::error::RegistryError;
use super::pull::accept_any;
use crate::oci::{Digest, ManifestOrIndex, MediaType};

impl RegistryClient {
    /// Makes `to_repo:tag` name the manifest `from_repo` holds under `reference` (a tag or a
    /// digest); returns its digest. An index's children are copied by digest first, so the
    /// index never names a manifest the repository lacks.
    pub async fn alias_image(
        &self,
        from_repo: &str,
        reference: &str,
        to_repo: &str,
        tag: &str,
    ) -> Result<Digest, RegistryError> {
        let (digest, body, kind) = self.read_manifest(from_repo, reference).await?;
        match &kind {
            ManifestOrIndex::Manifest(m) => {
                for blob in std::iter::once(&m.config).chain(&m.layers) {
                    self.mount_or_refuse(from_repo, to_repo, &blob.digest)
                        .await?;
                }
            }
            ManifestOrIndex::Index(index) => {
                for child in &index.manifests {
                    let child_ref = child.digest.to_string();
                    let (_, child_body, child_kind) =
                        self.read_manifest(from_repo, &child_ref).await?;
                    if let ManifestOrIndex::Manifest(m) = &child_kind {
                        for blob in std::iter::once(&m.config).chain(&m.layers) {
                            self.mount_or_refuse(from_repo, to_repo, &blob.digest)
                                .await?;
                        }
                    }
                    self.put_manifest(
                        to_repo,
                        &child_ref,
                        &media_type_of(&child_kind),
                        child_body.into(),
                    )
                    .await?;
                }
            }
        }
        let put = self
            .put_manifest(to_repo, tag, &media_type_of(&kind), body.into())
            .await?;
        match put {
            Some(d) if d != digest => Err(RegistryError::ManifestMismatch {
                host: self.authority().to_string(),
                reference: format!("{to_repo}:{tag}"),
                expected: digest.to_string(),
                actual: d.to_string(),
            }),
            _ => Ok(digest),
        }
    }

    async fn read_manifest(
        &self,
        repo: &str,
        reference: &str,
    ) -> Result<(Digest, Vec<u8>, ManifestOrIndex), RegistryError> {
        let Some((digest, body)) = self.get_manifest(repo, reference, &accept_any()).await? else {
            return Err(RegistryError::ImageNotFound {
                host: self.authority().to_string(),
                reference: format!("{repo}:{reference}"),
            });
        };
        let kind = ManifestOrIndex::parse(&body, &MediaType::Unspecified).map_err(|e| {
            RegistryError::Network {
                host: self.authority().to_string(),
                during: format!("reading the manifest of {repo}:{reference}"),
                detail: e,
                retryable: false,
            }
        })?;
        Ok((digest, body, kind))
    }

    async fn mount_or_refuse(
        &self,
        from: &str,
        to: &str,
        digest: &Digest,
    ) -> Result<(), RegistryError> {
        if self.head_blob(to, digest).await?.is_some() {
            return Ok(());
        }
        match self.mount_blob(to, digest, from).await? {
            MountOutcome::Mounted => Ok(()),
            MountOutcome::NotMounted => Err(RegistryError::CopyRefused {
                host: self.authority().to_string(),
                digest: digest.to_string(),
                from: from.to_string(),
                to: to.to_string(),
            }),
        }
    }
}

/// The type the manifest names itself by; one written without (never by this tool's push) is
/// taken as OCI's.
fn media_type_of(kind: &ManifestOrIndex) -> MediaType {
    match kind {
        ManifestOrIndex::Manifest(m) => m.media_type.clone().unwrap_or(MediaType::OciManifest),
        ManifestOrIndex::Index(i) => i.media_type.clone().unwrap_or(MediaType::OciIndex),
    }
}
