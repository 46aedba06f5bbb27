//! Pulling images without a daemon: a reference resolved to one platform's manifest (through
//! an image index or a Docker manifest list), and each blob streamed to a file while it is
//! hashed, kept only when its digest is the one the manifest names. A blob already on disk
//! with the right digest is not fetched again, so a restarted pull resumes at the first
//! unfinished blob.

use std::io::Write;
use std::path::{Path, PathBuf};

use futures_util::StreamExt;
use reqwest::Method;
use reqwest::header::{ACCEPT, HeaderMap, HeaderValue};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use super::client::RegistryClient;
use super::error::RegistryError;
pub use crate::oci::Platform;
use crate::oci::{Descriptor, Digest, ManifestOrIndex, MediaType};

/// Every manifest and index type, for a reference that may name either.
pub(super) fn accept_any() -> String {
    MediaType::accept(&[
        MediaType::OciIndex,
        MediaType::DockerManifestList,
        MediaType::OciManifest,
        MediaType::DockerManifest,
    ])
}

/// One platform's image as the upstream registry serves it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResolvedImage {
    /// The digest of the index or manifest list the reference named, when it named one.
    pub index_digest: Option<Digest>,
    pub manifest_digest: Digest,
    pub manifest_media_type: MediaType,
    /// The manifest's bytes, verified against `manifest_digest`.
    pub manifest: Vec<u8>,
    pub config: Descriptor,
    pub layers: Vec<Descriptor>,
}

/// `repo:tag`, or `repo@sha256:…` for a digest.
fn shown_reference(repo: &str, reference: &str) -> String {
    if Digest::parse(reference).is_ok() {
        format!("{repo}@{reference}")
    } else {
        format!("{repo}:{reference}")
    }
}

impl RegistryClient {
    fn pull_scope(repo: &str) -> String {
        format!("repository:{repo}:pull")
    }

    /// The manifest under `reference` (tag or digest), verified when the reference is a digest.
    async fn fetch_manifest(
        &self,
        repo: &str,
        reference: &str,
    ) -> Result<(Digest, MediaType, Vec<u8>), RegistryError> {
        let url = self.url(&format!("/v2/{repo}/manifests/{reference}"));
        let mut headers = HeaderMap::new();
        if let Ok(v) = HeaderValue::from_str(&accept_any()) {
            headers.insert(ACCEPT, v);
        }
        let shown = shown_reference(repo, reference);
        let pinned = Digest::parse(reference).ok();
        self.retrying(
            |_| {
                let headers = headers.clone();
                let url = url.clone();
                let shown = shown.clone();
                let pinned = pinned.clone();
                async move {
                    let resp = self
                        .send(
                            Method::GET,
                            &url,
                            &Self::pull_scope(repo),
                            headers,
                            None,
                            "reading a manifest",
                        )
                        .await?;
                    match resp.status() {
                        s if s.is_success() => {}
                        reqwest::StatusCode::NOT_FOUND => {
                            return Err(RegistryError::ImageNotFound {
                                host: self.authority().to_owned(),
                                reference: shown,
                            });
                        }
                        _ => return Err(self.refusal(resp, &Method::GET, &url, None).await),
                    }
                    let media_type = MediaType::parse(
                        resp.headers()
                            .get(reqwest::header::CONTENT_TYPE)
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or_default(),
                    );
                    let body = resp.bytes().await.map_err(|e| RegistryError::Network {
                        host: self.authority().to_owned(),
                        during: "reading a manifest".into(),
                        detail: e.to_string(),
                        retryable: true,
                    })?;
                    let digest = Digest::of(&body);
                    if let Some(pinned) = &pinned
                        && digest != *pinned
                    {
                        return Err(RegistryError::PulledCorrupt {
                            host: self.authority().to_owned(),
                            reference: shown,
                            what: "the manifest".into(),
                            expected: pinned.to_string(),
                            actual: digest.to_string(),
                        });
                    }
                    Ok((digest, media_type, body.to_vec()))
                }
            },
            |_, _, _| {},
        )
        .await
    }

    /// `reference` (a tag or `sha256:` digest) of `repo`, resolved to `platform`.
    pub async fn resolve_image(
        &self,
        repo: &str,
        reference: &str,
        platform: &Platform,
    ) -> Result<ResolvedImage, RegistryError> {
        let (digest, media_type, body) = self.fetch_manifest(repo, reference).await?;
        let unreadable = |shown: String, detail: String| RegistryError::Network {
            host: self.authority().to_owned(),
            during: format!("reading the manifest of {shown}"),
            detail,
            retryable: false,
        };
        let shown = shown_reference(repo, reference);
        let parsed =
            ManifestOrIndex::parse(&body, &media_type).map_err(|e| unreadable(shown.clone(), e))?;
        let (index_digest, digest, media_type, body, manifest) = match parsed {
            ManifestOrIndex::Manifest(m) => (None, digest, media_type, body, m),
            ManifestOrIndex::Index(index) => {
                let chosen = index
                    .manifests
                    .iter()
                    .find(|m| m.platform.as_ref().is_some_and(|p| platform.matches(p)));
                let Some(chosen) = chosen else {
                    let available: Vec<String> = index
                        .manifests
                        .iter()
                        .filter_map(|m| m.platform.as_ref())
                        .map(|p| format!("{}/{}", p.os, p.architecture))
                        .collect();
                    return Err(RegistryError::NoPlatform {
                        host: self.authority().to_owned(),
                        reference: shown,
                        platform: platform.to_string(),
                        available: available.join(", "),
                    });
                };
                let wanted = chosen.digest.to_string();
                let (d, t, b) = self.fetch_manifest(repo, &wanted).await?;
                let inner_shown = shown_reference(repo, &wanted);
                let inner = match ManifestOrIndex::parse(&b, &t)
                    .map_err(|e| unreadable(inner_shown.clone(), e))?
                {
                    ManifestOrIndex::Manifest(m) => m,
                    ManifestOrIndex::Index(_) => {
                        return Err(unreadable(
                            inner_shown,
                            "an index inside an index is not an image".into(),
                        ));
                    }
                };
                (Some(digest), d, t, b, inner)
            }
        };
        let manifest_media_type = manifest.media_type.clone().unwrap_or(media_type);
        Ok(ResolvedImage {
            index_digest,
            manifest_digest: digest,
            manifest_media_type,
            manifest: body,
            config: manifest.config,
            layers: manifest.layers,
        })
    }

    /// Streams `blob` of `repo` into `dir/<hex>`, hashing as it goes; the file appears under
    /// that name only when its digest is right. Returns the path; a blob already there is not
    /// fetched again. `on_bytes` hears every chunk's size, `on_wait` every retry and why (a
    /// 429 with its `Retry-After` is waited out, and said).
    pub async fn pull_blob(
        &self,
        repo: &str,
        blob: &Descriptor,
        dir: &Path,
        on_bytes: &(dyn Fn(u64) + Send + Sync),
        on_wait: &(dyn Fn(String) + Send + Sync),
    ) -> Result<PathBuf, RegistryError> {
        let hex = blob.digest.hex();
        let dest = dir.join(hex);
        if dest.exists() {
            return Ok(dest);
        }
        let io_err = |path: &Path, source: std::io::Error| RegistryError::Io {
            host: self.authority().to_owned(),
            path: path.to_path_buf(),
            source,
        };
        std::fs::create_dir_all(dir).map_err(|e| io_err(dir, e))?;
        let url = self.url(&format!("/v2/{repo}/blobs/{}", blob.digest));
        let tmp = dir.join(format!(".{hex}.part"));
        self.retrying(
            |_| {
                let url = url.clone();
                let tmp = tmp.clone();
                let dest = dest.clone();
                async move {
                    let resp = self
                        .send(
                            Method::GET,
                            &url,
                            &Self::pull_scope(repo),
                            HeaderMap::new(),
                            None,
                            "reading a blob",
                        )
                        .await?;
                    if !resp.status().is_success() {
                        return Err(self.refusal(resp, &Method::GET, &url, None).await);
                    }
                    let mut file = std::fs::File::create(&tmp).map_err(|e| io_err(&tmp, e))?;
                    let mut hasher = Sha256::new();
                    let mut stream = resp.bytes_stream();
                    loop {
                        // The stall watchdog: a transfer that stops moving is retried, not
                        // waited on forever.
                        let next = tokio::time::timeout(self.stall_timeout(), stream.next())
                            .await
                            .map_err(|_| RegistryError::Stalled {
                                host: self.authority().to_owned(),
                                after: self.stall_timeout(),
                                during: format!("reading blob {}", blob.digest),
                            })?;
                        let Some(chunk) = next else { break };
                        let chunk = chunk.map_err(|e| RegistryError::Network {
                            host: self.authority().to_owned(),
                            during: "reading a blob".into(),
                            detail: e.to_string(),
                            retryable: true,
                        })?;
                        hasher.update(&chunk);
                        file.write_all(&chunk).map_err(|e| io_err(&tmp, e))?;
                        on_bytes(chunk.len() as u64);
                    }
                    file.sync_all().map_err(|e| io_err(&tmp, e))?;
                    let actual = Digest::from_hasher(hasher);
                    if actual != blob.digest {
                        let _ = std::fs::remove_file(&tmp);
                        return Err(RegistryError::PulledCorrupt {
                            host: self.authority().to_owned(),
                            reference: repo.to_owned(),
                            what: format!("blob {}", blob.digest),
                            expected: blob.digest.to_string(),
                            actual: actual.to_string(),
                        });
                    }
                    std::fs::rename(&tmp, &dest).map_err(|e| io_err(&dest, e))?;
                    Ok(dest)
                }
            },
            |attempt, delay, e| {
                on_wait(format!(
                    "waiting {delay:?} before attempt {} of blob {}: {e}",
                    attempt + 1,
                    blob.digest
                ))
            },
        )
        .await
    }
}
