//! The registry as the streaming push's memory across sessions: for every layer it compresses,
//! a tiny manifest in the staging repository, tagged `sha256-<diff_id hex>`, names the
//! compressed blob. A new session (another machine, a wiped state directory) that meets a layer
//! whose archive name promises its diff_id looks the tag up and, when the registry has it,
//! only verifies the layer instead of compressing and sending it again.

use bytes::Bytes;

use super::client::RegistryClient;
use super::error::RegistryError;
use super::ledger::PushedBlob;
use crate::oci::{Descriptor, Digest, Manifest, MediaType};

/// The config every index manifest shares: the OCI "empty" descriptor's content.
const EMPTY_CONFIG: &[u8] = b"{}";

fn empty_config() -> Descriptor {
    Descriptor::of(MediaType::OciEmpty, EMPTY_CONFIG)
}

/// Puts the config the index manifests share; once per push, before the first of them.
pub(crate) async fn prepare(client: &RegistryClient, repo: &str) -> Result<(), RegistryError> {
    let config = empty_config();
    if client.head_blob(repo, &config.digest).await?.is_none() {
        client
            .put_blob(repo, &config.digest, Bytes::from_static(EMPTY_CONFIG))
            .await?;
    }
    Ok(())
}

/// Writes the index entry for `diff_id` (after [`prepare`]).
pub(crate) async fn record(
    client: &RegistryClient,
    repo: &str,
    diff_id: &Digest,
    blob: &PushedBlob,
) -> Result<(), RegistryError> {
    let manifest = Manifest::new(
        MediaType::OciManifest,
        empty_config(),
        vec![Descriptor::new(
            blob.media_type.clone(),
            blob.digest.clone(),
            blob.size,
        )],
    );
    client
        .put_manifest(
            repo,
            &diff_id.as_tag(),
            &MediaType::OciManifest,
            Bytes::from(manifest.to_bytes()),
        )
        .await?;
    Ok(())
}

/// The blob the index names for `diff_id`, if the registry still holds both.
pub(crate) async fn lookup(
    client: &RegistryClient,
    repo: &str,
    diff_id: &Digest,
) -> Result<Option<PushedBlob>, RegistryError> {
    let accept = MediaType::OciManifest.to_string();
    let Some((_, body)) = client
        .get_manifest(repo, &diff_id.as_tag(), &accept)
        .await?
    else {
        return Ok(None);
    };
    let Ok(m) = serde_json::from_slice::<Manifest>(&body) else {
        return Ok(None);
    };
    let Some(layer) = m.layers.into_iter().next() else {
        return Ok(None);
    };
    if client.head_blob(repo, &layer.digest).await?.is_none() {
        return Ok(None);
    }
    Ok(Some(PushedBlob {
        digest: layer.digest,
        size: layer.size,
        media_type: layer.media_type,
        repository: Some(repo.to_string()),
    }))
}
