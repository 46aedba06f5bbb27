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
use sha2::{Digest, Sha256};

use super::client::RegistryClient;
use super::error::RegistryError;

const ACCEPT_ANY: &str = "application/vnd.oci.image.index.v1+json, \
    application/vnd.docker.distribution.manifest.list.v2+json, \
    application/vnd.oci.image.manifest.v1+json, \
    application/vnd.docker.distribution.manifest.v2+json";

/// `linux/amd64` (the default), `linux/arm64/v8`, ...
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Platform {
    pub os: String,
    pub architecture: String,
    pub variant: Option<String>,
}

impl Default for Platform {
    fn default() -> Self {
        Platform {
            os: "linux".into(),
            architecture: "amd64".into(),
            variant: None,
        }
    }
}

impl std::fmt::Display for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

impl Platform {
    pub fn parse(text: &str) -> Option<Platform> {
        let mut parts = text.split('/');
        let os = parts.next().filter(|s| !s.is_empty())?.to_owned();
        let architecture = parts.next().filter(|s| !s.is_empty())?.to_owned();
        let variant = parts.next().map(str::to_owned);
        Some(Platform {
            os,
            architecture,
            variant,
        })
    }

    fn matches(&self, p: &serde_json::Value) -> bool {
        p["os"].as_str() == Some(&self.os)
            && p["architecture"].as_str() == Some(&self.architecture)
            && self
                .variant
                .as_deref()
                .is_none_or(|v| p["variant"].as_str() == Some(v))
    }
}

/// A blob the manifest names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlobRef {
    pub digest: String,
    pub size: u64,
    pub media_type: String,
}

/// One platform's image as the upstream registry serves it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResolvedImage {
    /// The digest of the index or manifest list the reference named, when it named one.
    pub index_digest: Option<String>,
    pub manifest_digest: String,
    pub manifest_media_type: String,
    /// The manifest's bytes, verified against `manifest_digest`.
    pub manifest: Vec<u8>,
    pub config: BlobRef,
    pub layers: Vec<BlobRef>,
}

fn sha256_digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

fn blob_ref(v: &serde_json::Value) -> Option<BlobRef> {
    Some(BlobRef {
        digest: v["digest"].as_str()?.to_owned(),
        size: v["size"].as_u64()?,
        media_type: v["mediaType"].as_str().unwrap_or_default().to_owned(),
    })
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
    ) -> Result<(String, String, Vec<u8>), RegistryError> {
        let url = self.url(&format!("/v2/{repo}/manifests/{reference}"));
        let mut headers = HeaderMap::new();
        headers.insert(ACCEPT, HeaderValue::from_static(ACCEPT_ANY));
        let shown = format!("{repo}:{reference}");
        self.retrying(
            |_| {
                let headers = headers.clone();
                let url = url.clone();
                let shown = shown.clone();
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
                        _ => return Err(self.status_error(resp, &Method::GET, &url, "").await),
                    }
                    let media_type = resp
                        .headers()
                        .get(reqwest::header::CONTENT_TYPE)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default()
                        .to_owned();
                    let body = resp.bytes().await.map_err(|e| RegistryError::Network {
                        host: self.authority().to_owned(),
                        during: "reading a manifest".into(),
                        detail: e.to_string(),
                        retryable: true,
                    })?;
                    let digest = sha256_digest(&body);
                    if reference.starts_with("sha256:") && digest != reference {
                        return Err(RegistryError::PulledCorrupt {
                            host: self.authority().to_owned(),
                            reference: shown,
                            what: "the manifest".into(),
                            expected: reference.to_owned(),
                            actual: digest,
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
        let doc: serde_json::Value =
            serde_json::from_slice(&body).map_err(|e| RegistryError::Network {
                host: self.authority().to_owned(),
                during: format!("reading the manifest of {repo}:{reference}"),
                detail: format!("not JSON: {e}"),
                retryable: false,
            })?;
        let kind = doc["mediaType"].as_str().unwrap_or(&media_type).to_owned();
        let is_index =
            doc["manifests"].is_array() || kind.contains("index") || kind.contains("list");
        let (index_digest, digest, media_type, body, doc) = if is_index {
            let entries = doc["manifests"].as_array().cloned().unwrap_or_default();
            let chosen = entries.iter().find(|m| platform.matches(&m["platform"]));
            let Some(chosen) = chosen else {
                let available: Vec<String> = entries
                    .iter()
                    .filter_map(|m| {
                        Some(format!(
                            "{}/{}",
                            m["platform"]["os"].as_str()?,
                            m["platform"]["architecture"].as_str()?
                        ))
                    })
                    .collect();
                return Err(RegistryError::NoPlatform {
                    host: self.authority().to_owned(),
                    reference: format!("{repo}:{reference}"),
                    platform: platform.to_string(),
                    available: available.join(", "),
                });
            };
            let wanted = chosen["digest"].as_str().unwrap_or_default().to_owned();
            let (d, t, b) = self.fetch_manifest(repo, &wanted).await?;
            let inner: serde_json::Value =
                serde_json::from_slice(&b).map_err(|e| RegistryError::Network {
                    host: self.authority().to_owned(),
                    during: format!("reading the manifest of {repo}@{wanted}"),
                    detail: format!("not JSON: {e}"),
                    retryable: false,
                })?;
            (Some(digest), d, t, b, inner)
        } else {
            (None, digest, media_type, body, doc)
        };
        let bad = |what: &str| RegistryError::Network {
            host: self.authority().to_owned(),
            during: format!("reading the manifest of {repo}:{reference}"),
            detail: format!("it has no valid {what}"),
            retryable: false,
        };
        let config = blob_ref(&doc["config"]).ok_or_else(|| bad("config"))?;
        let layers = doc["layers"]
            .as_array()
            .ok_or_else(|| bad("layers"))?
            .iter()
            .map(|l| blob_ref(l).ok_or_else(|| bad("layer")))
            .collect::<Result<Vec<_>, _>>()?;
        let media_type = doc["mediaType"]
            .as_str()
            .map(str::to_owned)
            .unwrap_or(media_type);
        Ok(ResolvedImage {
            index_digest,
            manifest_digest: digest,
            manifest_media_type: media_type,
            manifest: body,
            config,
            layers,
        })
    }

    /// Streams `blob` of `repo` into `dir/<hex>`, hashing as it goes; the file appears under
    /// that name only when its digest is right. Returns the path; a blob already there is not
    /// fetched again. `on_bytes` hears every chunk's size, `on_wait` every retry and why (a
    /// 429 with its `Retry-After` is waited out, and said).
    pub async fn pull_blob(
        &self,
        repo: &str,
        blob: &BlobRef,
        dir: &Path,
        on_bytes: &(dyn Fn(u64) + Send + Sync),
        on_wait: &(dyn Fn(String) + Send + Sync),
    ) -> Result<PathBuf, RegistryError> {
        let hex = blob.digest.strip_prefix("sha256:").unwrap_or(&blob.digest);
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
                        return Err(self.status_error(resp, &Method::GET, &url, "").await);
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
                    let actual = format!("sha256:{}", hex::encode(hasher.finalize()));
                    if actual != blob.digest {
                        let _ = std::fs::remove_file(&tmp);
                        return Err(RegistryError::PulledCorrupt {
                            host: self.authority().to_owned(),
                            reference: repo.to_owned(),
                            what: format!("blob {}", blob.digest),
                            expected: blob.digest.clone(),
                            actual,
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
