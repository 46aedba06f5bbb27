//! The registry as the streaming push's memory across sessions: for every layer it compresses,
//! a tiny manifest in the staging repository, tagged `sha256-<diff_id hex>`, names the
//! compressed blob. A new session (another machine, a wiped state directory) that meets a layer
//! whose archive name promises its diff_id looks the tag up and, when the registry has it,
//! only verifies the layer instead of compressing and sending it again.

use bytes::Bytes;
use serde_json::json;

use super::client::RegistryClient;
use super::error::RegistryError;
use super::ledger::PushedBlob;
use super::push::OCI_MANIFEST;

/// The config every index manifest shares: the OCI "empty" descriptor's content.
const EMPTY_CONFIG: &[u8] = b"{}";
const EMPTY_CONFIG_TYPE: &str = "application/vnd.oci.empty.v1+json";

fn empty_config_digest() -> String {
    use sha2::Digest;
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(EMPTY_CONFIG)))
}

/// The tag for a diff_id, or `None` when it is not a sha256 digest.
pub(crate) fn tag(diff_id: &str) -> Option<String> {
    let hex = diff_id.strip_prefix("sha256:")?;
    crate::image_ref::is_hex64(hex).then(|| format!("sha256-{hex}"))
}

/// Puts the config the index manifests share; once per push, before the first of them.
pub(crate) async fn prepare(client: &RegistryClient, repo: &str) -> Result<(), RegistryError> {
    let config = empty_config_digest();
    if client.head_blob(repo, &config).await?.is_none() {
        client
            .put_blob(repo, &config, Bytes::from_static(EMPTY_CONFIG))
            .await?;
    }
    Ok(())
}

/// Writes the index entry for `diff_id` (after [`prepare`]).
pub(crate) async fn record(
    client: &RegistryClient,
    repo: &str,
    diff_id: &str,
    blob: &PushedBlob,
) -> Result<(), RegistryError> {
    let Some(tag) = tag(diff_id) else {
        return Ok(());
    };
    let config = empty_config_digest();
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": EMPTY_CONFIG_TYPE, "digest": config, "size": EMPTY_CONFIG.len()},
        "layers": [{"mediaType": blob.media_type, "digest": blob.digest, "size": blob.size}],
    });
    let body = serde_json::to_vec(&manifest).map_err(|e| RegistryError::Network {
        host: client.authority().to_string(),
        during: "encoding a layer index".into(),
        detail: e.to_string(),
        retryable: false,
    })?;
    client
        .put_manifest(repo, &tag, OCI_MANIFEST, Bytes::from(body))
        .await?;
    Ok(())
}

/// The blob the index names for `diff_id`, if the registry still holds both.
pub(crate) async fn lookup(
    client: &RegistryClient,
    repo: &str,
    diff_id: &str,
) -> Result<Option<PushedBlob>, RegistryError> {
    let Some(tag) = tag(diff_id) else {
        return Ok(None);
    };
    let Some((_, body)) = client.get_manifest(repo, &tag, OCI_MANIFEST).await? else {
        return Ok(None);
    };
    let Ok(m) = serde_json::from_slice::<serde_json::Value>(&body) else {
        return Ok(None);
    };
    let layer = &m["layers"][0];
    let (Some(digest), Some(size), Some(media_type)) = (
        layer["digest"].as_str(),
        layer["size"].as_u64(),
        layer["mediaType"].as_str(),
    ) else {
        return Ok(None);
    };
    if client.head_blob(repo, digest).await?.is_none() {
        return Ok(None);
    }
    Ok(Some(PushedBlob {
        digest: digest.to_string(),
        size,
        media_type: media_type.to_string(),
        repository: repo.to_string(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_are_valid_registry_tags() {
        let t = tag(&format!("sha256:{}", "ab".repeat(32))).unwrap_or_default();
        assert_eq!(t.len(), 71);
        assert!(t.starts_with("sha256-"));
        assert_eq!(tag("sha512:00"), None);
        assert_eq!(tag("sha256:xyz"), None);
    }
}
