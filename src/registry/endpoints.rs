//! The distribution API's endpoints, typed: blobs (HEAD, mount, one-request PUT), uploads
//! (start, finish, cancel), manifests (PUT, HEAD, GET) and tags. Transport, authentication and
//! retries are `client.rs`'s; every answer that is not the expected one becomes an error in
//! one place, [`RegistryClient::refusal`].

use reqwest::header::{HeaderMap, HeaderValue};
use reqwest::{Method, Response, StatusCode, Url};

use super::client::{MountOutcome, RegistryClient, error_text, location, parse_retry_after};
use super::error::RegistryError;
use super::payload::Payload;
use crate::oci::{Digest, MediaType};

impl RegistryClient {
    pub(crate) fn push_scope(repo: &str) -> String {
        format!("repository:{repo}:pull,push")
    }

    /// Size of the blob when the repository holds it.
    pub(crate) async fn head_blob(
        &self,
        repo: &str,
        digest: &Digest,
    ) -> Result<Option<u64>, RegistryError> {
        let url = self.url(&format!("/v2/{repo}/blobs/{digest}"));
        let resp = self
            .push_request(
                Method::HEAD,
                &url,
                repo,
                HeaderMap::new(),
                None,
                "checking for a blob",
            )
            .await?;
        match resp.status() {
            s if s.is_success() => Ok(Some(
                resp.headers()
                    .get(reqwest::header::CONTENT_LENGTH)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0),
            )),
            StatusCode::NOT_FOUND => Ok(None),
            _ => Err(self.refusal(resp, &Method::HEAD, &url, None).await),
        }
    }

    /// A request in `repo` with push rights.
    async fn push_request(
        &self,
        method: Method,
        url: &str,
        repo: &str,
        headers: HeaderMap,
        body: Option<Payload>,
        during: &str,
    ) -> Result<Response, RegistryError> {
        self.send(method, url, &Self::push_scope(repo), headers, body, during)
            .await
    }

    /// The one way an answer that is not the expected one becomes an error: for a write into
    /// `writing_to`, a refusal that names the repository (forbidden, missing, Harbor's missing
    /// project); otherwise the registry's own error code and message, with a `Retry-After`
    /// kept for the retry loop.
    pub(crate) async fn refusal(
        &self,
        resp: Response,
        method: &Method,
        url: &str,
        writing_to: Option<&str>,
    ) -> RegistryError {
        let status = resp.status();
        let retry_after = parse_retry_after(resp.headers());
        let detail = error_text(resp).await;
        if let Some(repo) = writing_to
            && let Some(e) = self.write_refused(repo, status, detail.clone())
        {
            return e;
        }
        self.answer_error(method, url, status.as_u16(), detail, retry_after, "")
    }

    fn write_refused(
        &self,
        repo: &str,
        status: StatusCode,
        detail: String,
    ) -> Option<RegistryError> {
        let host = self.authority().to_string();
        match status {
            StatusCode::FORBIDDEN => Some(RegistryError::Forbidden {
                host,
                user: self.user_name(),
                repository: repo.to_string(),
                detail,
            }),
            StatusCode::NOT_FOUND => Some(RegistryError::RepositoryNotFound {
                host,
                repository: repo.to_string(),
                detail,
            }),
            // Harbor answers a push into a missing project with 500 and "project ... not found"
            // (goharbor/harbor-helm#849); retrying that forever helps nobody.
            s if s.is_server_error()
                && detail.to_lowercase().contains("project")
                && detail.to_lowercase().contains("not found") =>
            {
                Some(RegistryError::RepositoryNotFound {
                    host,
                    repository: repo.to_string(),
                    detail,
                })
            }
            _ => None,
        }
    }

    /// Tries a cross-repository mount. When the registry starts an upload instead, that upload
    /// is cancelled and the caller uploads normally.
    pub(crate) async fn mount_blob(
        &self,
        repo: &str,
        digest: &Digest,
        from: &str,
    ) -> Result<MountOutcome, RegistryError> {
        let mut url =
            Url::parse(&self.url(&format!("/v2/{repo}/blobs/uploads/"))).map_err(|e| {
                RegistryError::Network {
                    host: self.authority().to_string(),
                    during: "mounting a blob".into(),
                    detail: e.to_string(),
                    retryable: false,
                }
            })?;
        url.query_pairs_mut()
            .append_pair("mount", &digest.to_string())
            .append_pair("from", from);
        let scope = format!("{} repository:{from}:pull", Self::push_scope(repo));
        let resp = self
            .send(
                Method::POST,
                url.as_str(),
                &scope,
                HeaderMap::new(),
                None,
                "mounting a blob",
            )
            .await?;
        match resp.status() {
            StatusCode::CREATED => Ok(MountOutcome::Mounted),
            StatusCode::ACCEPTED => {
                if let Some(loc) = location(&resp) {
                    self.cancel_upload(repo, &loc).await;
                }
                Ok(MountOutcome::NotMounted)
            }
            _ => Err(self
                .refusal(resp, &Method::POST, url.as_str(), Some(repo))
                .await),
        }
    }

    /// Starts an upload session; returns its absolute location.
    pub(crate) async fn start_upload(&self, repo: &str) -> Result<String, RegistryError> {
        let url = self.url(&format!("/v2/{repo}/blobs/uploads/"));
        let resp = self
            .push_request(
                Method::POST,
                &url,
                repo,
                HeaderMap::new(),
                None,
                "starting an upload",
            )
            .await?;
        match resp.status() {
            StatusCode::ACCEPTED => {
                let opened = location(&resp).ok_or_else(|| RegistryError::Network {
                    host: self.authority().to_string(),
                    during: "starting an upload".into(),
                    detail: "the registry did not say where to upload (no Location header)".into(),
                    retryable: false,
                })?;
                self.upload_moved(repo, &opened);
                Ok(opened)
            }
            _ => Err(self.refusal(resp, &Method::POST, &url, Some(repo)).await),
        }
    }

    /// Best effort: a leftover session is purged by the registry anyway. True when the upload
    /// is gone (cancelled, or unknown to the registry); false when the registry refused, as
    /// for an upload an interrupted run left open whose last chunk the registry took after the
    /// kill: the state token held for it is out of date (distribution checks its offset).
    pub async fn cancel_upload(&self, repo: &str, location: &str) -> bool {
        let resp = self
            .push_request(
                Method::DELETE,
                location,
                repo,
                HeaderMap::new(),
                None,
                "cancelling an upload",
            )
            .await;
        // Either way there is nothing more this run can do about it.
        self.upload_closed(location);
        match resp {
            Ok(r) if r.status().is_success() => true,
            // 404 BLOB_UPLOAD_UNKNOWN: already gone. 404 BLOB_UPLOAD_INVALID: a stale state.
            Ok(r) if r.status() == StatusCode::NOT_FOUND => {
                !error_text(r).await.contains("BLOB_UPLOAD_INVALID")
            }
            _ => false,
        }
    }

    /// Completes an upload with the digest learned while streaming.
    pub(crate) async fn finish_upload(
        &self,
        repo: &str,
        location: &str,
        digest: &Digest,
    ) -> Result<(), RegistryError> {
        self.put_digest(repo, location, digest, None, "finishing an upload")
            .await
    }

    /// Uploads a small blob in one request (POST, then PUT with the body).
    pub(crate) async fn put_blob(
        &self,
        repo: &str,
        digest: &Digest,
        body: bytes::Bytes,
    ) -> Result<(), RegistryError> {
        let location = self.start_upload(repo).await?;
        let put = self
            .put_digest(
                repo,
                &location,
                digest,
                Some(body.into()),
                "uploading a small blob",
            )
            .await;
        if put.is_err() {
            // A retry starts a new upload: let the registry drop this one now.
            self.cancel_upload(repo, &location).await;
        }
        put
    }

    /// The upload's closing `PUT ?digest=`, with the last bytes when there are any.
    async fn put_digest(
        &self,
        repo: &str,
        location: &str,
        digest: &Digest,
        body: Option<Payload>,
        during: &str,
    ) -> Result<(), RegistryError> {
        let mut url = Url::parse(location).map_err(|e| RegistryError::Network {
            host: self.authority().to_string(),
            during: during.into(),
            detail: format!("invalid upload location {location:?}: {e}"),
            retryable: false,
        })?;
        url.query_pairs_mut()
            .append_pair("digest", &digest.to_string());
        let mut headers = HeaderMap::new();
        if body.is_some() {
            headers.insert(
                reqwest::header::CONTENT_TYPE,
                HeaderValue::from_static("application/octet-stream"),
            );
        }
        let resp = self
            .push_request(Method::PUT, url.as_str(), repo, headers, body, during)
            .await?;
        if resp.status().is_success() {
            self.upload_closed(location);
            Ok(())
        } else {
            let e = self.refusal(resp, &Method::PUT, url.as_str(), None).await;
            if matches!(e, RegistryError::UploadLost { .. }) {
                self.upload_closed(location);
            }
            Err(e)
        }
    }

    /// Puts a manifest under a tag; returns the digest the registry reports.
    pub(crate) async fn put_manifest(
        &self,
        repo: &str,
        tag: &str,
        media_type: &MediaType,
        body: bytes::Bytes,
    ) -> Result<Option<Digest>, RegistryError> {
        let url = self.url(&format!("/v2/{repo}/manifests/{tag}"));
        let mut headers = HeaderMap::new();
        if let Ok(v) = HeaderValue::from_str(media_type.as_str()) {
            headers.insert(reqwest::header::CONTENT_TYPE, v);
        }
        let resp = self
            .push_request(
                Method::PUT,
                &url,
                repo,
                headers,
                Some(body.into()),
                "putting a manifest",
            )
            .await?;
        if resp.status().is_success() {
            Ok(Self::content_digest(&resp))
        } else {
            Err(self.refusal(resp, &Method::PUT, &url, Some(repo)).await)
        }
    }

    /// The answer to a HEAD or GET of the manifest under `reference`: None when absent.
    async fn manifest_request(
        &self,
        method: Method,
        repo: &str,
        reference: &str,
        accept: &str,
        during: &str,
    ) -> Result<Option<Response>, RegistryError> {
        let url = self.url(&format!("/v2/{repo}/manifests/{reference}"));
        let mut headers = HeaderMap::new();
        if let Ok(v) = HeaderValue::from_str(accept) {
            headers.insert(reqwest::header::ACCEPT, v);
        }
        let resp = self
            .push_request(method.clone(), &url, repo, headers, None, during)
            .await?;
        match resp.status() {
            s if s.is_success() => Ok(Some(resp)),
            StatusCode::NOT_FOUND => Ok(None),
            _ => Err(self.refusal(resp, &method, &url, None).await),
        }
    }

    /// The digest the registry names in `Docker-Content-Digest`; one that is not a digest is
    /// no answer (the caller then asks, or computes it).
    fn content_digest(resp: &Response) -> Option<Digest> {
        resp.headers()
            .get("docker-content-digest")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| Digest::parse(v).ok())
    }

    /// The digest of the manifest under `reference`, if any.
    pub(crate) async fn head_manifest(
        &self,
        repo: &str,
        reference: &str,
        accept: &str,
    ) -> Result<Option<Digest>, RegistryError> {
        let resp = self
            .manifest_request(Method::HEAD, repo, reference, accept, "checking a manifest")
            .await?;
        Ok(resp.as_ref().and_then(Self::content_digest))
    }

    /// The manifest under `reference` and its digest, if any. Manifests are small; a body over
    /// 4 MiB is not a manifest this tool wrote and is treated as absent.
    pub(crate) async fn get_manifest(
        &self,
        repo: &str,
        reference: &str,
        accept: &str,
    ) -> Result<Option<(Digest, Vec<u8>)>, RegistryError> {
        let Some(resp) = self
            .manifest_request(Method::GET, repo, reference, accept, "reading a manifest")
            .await?
        else {
            return Ok(None);
        };
        let digest = Self::content_digest(&resp);
        let body = resp.bytes().await.map_err(|e| RegistryError::Network {
            host: self.authority().to_string(),
            during: "reading a manifest".into(),
            detail: e.to_string(),
            retryable: true,
        })?;
        if body.len() > 4 << 20 {
            return Ok(None);
        }
        let digest = digest.unwrap_or_else(|| Digest::of(&body));
        Ok(Some((digest, body.to_vec())))
    }

    /// Every tag of `repo` (`GET /v2/<repo>/tags/list`, following `Link` pages); empty when
    /// the repository does not exist. `None` when the registry lists no tags (an error, or an
    /// answer that is not a tag list), so the caller asks tag by tag instead.
    pub(crate) async fn list_tags(&self, repo: &str) -> Option<Vec<String>> {
        let mut tags = Vec::new();
        let mut next = Some(self.url(&format!("/v2/{repo}/tags/list")));
        // A registry that pages without end is cut off; the caller falls back to lookups.
        for _ in 0..1000 {
            let Some(url) = next.take() else {
                return Some(tags);
            };
            let resp = self
                .push_request(
                    Method::GET,
                    &url,
                    repo,
                    HeaderMap::new(),
                    None,
                    "listing tags",
                )
                .await
                .ok()?;
            if resp.status() == StatusCode::NOT_FOUND {
                return Some(tags);
            }
            if !resp.status().is_success() {
                return None;
            }
            next = resp
                .headers()
                .get(reqwest::header::LINK)
                .and_then(|v| v.to_str().ok())
                .and_then(next_page)
                .and_then(|l| resp.url().join(&l).ok())
                .map(|u| u.to_string());
            let body = resp.bytes().await.ok()?;
            let v: serde_json::Value = serde_json::from_slice(&body).ok()?;
            match &v["tags"] {
                serde_json::Value::Null => {}
                serde_json::Value::Array(a) => {
                    tags.extend(a.iter().filter_map(|t| t.as_str().map(str::to_string)))
                }
                _ => return None,
            }
        }
        None
    }
}

/// The target of a `Link: <url>; rel="next"` header (distribution's pagination).
fn next_page(link: &str) -> Option<String> {
    link.split(',').find_map(|part| {
        let (url, params) = part.split_once(';')?;
        params
            .split(';')
            .any(|p| p.trim().replace(' ', "") == "rel=\"next\"")
            .then(|| {
                url.trim()
                    .trim_start_matches('<')
                    .trim_end_matches('>')
                    .to_string()
            })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_next_page_of_a_link_header() {
        assert_eq!(
            next_page(r#"</v2/r/tags/list?last=b&n=2>; rel="next""#).as_deref(),
            Some("/v2/r/tags/list?last=b&n=2")
        );
        assert_eq!(
            next_page(r#"<https://a/prev>; rel="prev", <https://a/next>; rel = "next""#).as_deref(),
            Some("https://a/next")
        );
        assert_eq!(next_page(r#"</x>; rel="prev""#), None);
        assert_eq!(next_page("garbage"), None);
    }
}
