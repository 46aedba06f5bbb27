//! Charms from Charmhub without a Juju client: the public API's info call for a charm at a
//! channel (`GET /v2/charms/info/<name>?channel=…&fields=…`), then the download, streamed to
//! a file while hashed and kept only when its SHA-256 is the one Charmhub gave, as
//! `<name>_r<revision>.charm`. The base URL is configurable (a Charmhub proxy, a test server).

use std::io::Write;
use std::path::{Path, PathBuf};

use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::registry::{RegistryClient, TlsOptions};

pub const DEFAULT_URL: &str = "https://api.charmhub.io";

const FIELDS: &str = "default-release.revision.download.url,\
default-release.revision.download.hash-sha-256,default-release.revision.download.size,\
default-release.revision.revision,default-release.channel.name,\
channel-map.channel.name,channel-map.channel.base.channel,channel-map.channel.base.architecture,\
channel-map.revision.revision,channel-map.revision.download.url,\
channel-map.revision.download.hash-sha-256,channel-map.revision.download.size";

/// One revision of a charm on a channel, as Charmhub describes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CharmRelease {
    pub name: String,
    pub channel: String,
    pub revision: u64,
    pub url: String,
    pub sha256: String,
    pub size: u64,
}

impl CharmRelease {
    pub fn file_name(&self) -> String {
        format!("{}_r{}.charm", self.name, self.revision)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CharmhubError {
    #[error(
        "cannot reach Charmhub at {url}: {detail}. Check the network, a proxy, or the charmhub_url of the answers file"
    )]
    Network { url: String, detail: String },
    #[error(
        "Charmhub has no charm {name} on channel {channel} ({detail}); check the name and channel in the bundle"
    )]
    NotFound {
        name: String,
        channel: String,
        detail: String,
    },
    #[error("Charmhub answered {status} for {url}: {detail}")]
    Http {
        url: String,
        status: u16,
        detail: String,
    },
    #[error("Charmhub's answer for {name} is not what its API documents: {detail}")]
    BadAnswer { name: String, detail: String },
    #[error(
        "the download of {file} hashes to {actual}, not {expected} as Charmhub said; it is fetched again on retry"
    )]
    Corrupt {
        file: String,
        expected: String,
        actual: String,
    },
    #[error("cannot write {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

pub struct Charmhub {
    base: String,
    http: reqwest::Client,
}

impl Charmhub {
    /// A client for `base` (`https://…` with the given trust roots, or `http://…`).
    pub fn new(base: &str, tls: &TlsOptions) -> Result<Charmhub, CharmhubError> {
        let base = base.trim_end_matches('/').to_owned();
        let network = |detail: String| CharmhubError::Network {
            url: base.clone(),
            detail,
        };
        let http = if base.starts_with("http://") {
            reqwest::Client::builder()
                .user_agent(concat!("ckf-airgap/", env!("CARGO_PKG_VERSION")))
                .build()
                .map_err(|e| network(e.to_string()))?
        } else {
            let authority = base
                .trim_start_matches("https://")
                .split('/')
                .next()
                .unwrap_or_default()
                .to_owned();
            RegistryClient::https_client(tls, &authority).map_err(|e| network(e.to_string()))?
        };
        Ok(Charmhub { base, http })
    }

    /// The revision `channel` of charm `name` holds; where the channel holds one revision per
    /// base, the one for `base` (`ubuntu@22.04`, as a bundle pins it), else the newest base's.
    pub async fn info(
        &self,
        name: &str,
        channel: &str,
        base: Option<&str>,
    ) -> Result<CharmRelease, CharmhubError> {
        let url = format!("{}/v2/charms/info/{name}", self.base);
        let resp = self
            .http
            .get(&url)
            .query(&[("channel", channel), ("fields", FIELDS)])
            .send()
            .await
            .map_err(|e| CharmhubError::Network {
                url: url.clone(),
                detail: e.to_string(),
            })?;
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        if status == reqwest::StatusCode::NOT_FOUND {
            return Err(CharmhubError::NotFound {
                name: name.into(),
                channel: channel.into(),
                detail: text.chars().take(200).collect(),
            });
        }
        if !status.is_success() {
            return Err(CharmhubError::Http {
                url,
                status: status.as_u16(),
                detail: text.chars().take(200).collect(),
            });
        }
        let bad = |detail: &str| CharmhubError::BadAnswer {
            name: name.into(),
            detail: detail.into(),
        };
        let v: serde_json::Value = serde_json::from_str(&text).map_err(|e| bad(&e.to_string()))?;
        let wanted_base = base.map(|b| b.trim_start_matches("ubuntu@").to_owned());
        let mut candidates: Vec<&serde_json::Value> = v["channel-map"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|e| e["channel"]["name"].as_str() == Some(channel))
            .filter(|e| {
                matches!(
                    e["channel"]["base"]["architecture"].as_str(),
                    None | Some("amd64") | Some("all")
                )
            })
            .collect();
        let base_of = |e: &serde_json::Value| {
            e["channel"]["base"]["channel"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        };
        candidates.sort_by_key(|e| base_of(e));
        let chosen = match &wanted_base {
            Some(b) => candidates.iter().find(|e| base_of(e) == *b).copied(),
            None => candidates.last().copied(),
        };
        let rev = match chosen {
            Some(entry) => &entry["revision"],
            None => &v["default-release"]["revision"],
        };
        Ok(CharmRelease {
            name: name.into(),
            channel: channel.into(),
            revision: rev["revision"].as_u64().ok_or_else(|| bad("no revision"))?,
            url: rev["download"]["url"]
                .as_str()
                .ok_or_else(|| bad("no download url"))?
                .into(),
            sha256: rev["download"]["hash-sha-256"]
                .as_str()
                .ok_or_else(|| bad("no hash-sha-256"))?
                .into(),
            size: rev["download"]["size"].as_u64().unwrap_or(0),
        })
    }

    /// Downloads `release` into `dir` as `<name>_r<revision>.charm`, verified; a file already
    /// there with the right hash is kept.
    pub async fn download(
        &self,
        release: &CharmRelease,
        dir: &Path,
    ) -> Result<PathBuf, CharmhubError> {
        let dest = dir.join(release.file_name());
        let io = |path: &Path, source| CharmhubError::Io {
            path: path.to_path_buf(),
            source,
        };
        if dest.exists()
            && crate::artifacts::spool::sha256_file(&dest).ok().as_deref()
                == Some(release.sha256.as_str())
        {
            return Ok(dest);
        }
        std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
        let part = dir.join(format!(".{}.part", release.file_name()));
        let resp =
            self.http
                .get(&release.url)
                .send()
                .await
                .map_err(|e| CharmhubError::Network {
                    url: release.url.clone(),
                    detail: e.to_string(),
                })?;
        if !resp.status().is_success() {
            return Err(CharmhubError::Http {
                url: release.url.clone(),
                status: resp.status().as_u16(),
                detail: String::new(),
            });
        }
        let mut file = std::fs::File::create(&part).map_err(|e| io(&part, e))?;
        let mut hasher = Sha256::new();
        let mut stream = resp.bytes_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| CharmhubError::Network {
                url: release.url.clone(),
                detail: e.to_string(),
            })?;
            hasher.update(&chunk);
            file.write_all(&chunk).map_err(|e| io(&part, e))?;
        }
        file.sync_all().map_err(|e| io(&part, e))?;
        let actual = hex::encode(hasher.finalize());
        if actual != release.sha256 {
            let _ = std::fs::remove_file(&part);
            return Err(CharmhubError::Corrupt {
                file: release.file_name(),
                expected: release.sha256.clone(),
                actual,
            });
        }
        std::fs::rename(&part, &dest).map_err(|e| io(&dest, e))?;
        Ok(dest)
    }
}
