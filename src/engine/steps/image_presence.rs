//! Whether the images a plan names are in the private registry, asked by manifest before
//! anything changes: an absent one is found here, named, and not as `ImagePullBackOff` on the
//! far side after the deploy.

use futures_util::StreamExt;

use crate::image_ref::ImageRef;
use crate::oci::MediaType;
use crate::registry::RegistryClient;

/// How many manifests are asked for at once.
const LOOKUPS_IN_FLIGHT: usize = 8;

/// An image the cluster would fail to pull from the private registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AbsentImage {
    pub reference: String,
    /// Why, in the operator's words: not under the registry, no manifest, or the registry's
    /// own answer when it could not be asked.
    pub why: String,
}

/// Every reference of `references` that the registry `client` reaches does not hold, in the
/// order given. Indexes count: a multi-platform image is there when its index is.
pub async fn absent_images(
    client: &RegistryClient,
    references: impl IntoIterator<Item = String>,
) -> Vec<AbsentImage> {
    let authority = client.target().authority();
    let accept = MediaType::accept(&[
        MediaType::DockerManifest,
        MediaType::OciManifest,
        MediaType::OciIndex,
        MediaType::DockerManifestList,
    ]);
    let lookups = references.into_iter().enumerate().map(|(i, reference)| {
        let (client, authority, accept) = (client.clone(), authority.clone(), accept.clone());
        async move {
            let r = ImageRef::split(&reference);
            let why = if r.registry.as_deref() != Some(authority.as_str()) {
                Some(format!("it is not under the private registry {authority}"))
            } else {
                let tag_or_digest = r
                    .digest
                    .clone()
                    .or_else(|| r.effective_tag().map(str::to_owned))
                    .unwrap_or_else(|| "latest".to_owned());
                match client.head_manifest(&r.path, &tag_or_digest, &accept).await {
                    Ok(Some(_)) => None,
                    Ok(None) => Some("the registry holds no manifest under this name".to_owned()),
                    Err(e) => Some(format!("the registry could not be asked: {e}")),
                }
            };
            (i, why.map(|why| AbsentImage { reference, why }))
        }
    });
    let mut found: Vec<(usize, Option<AbsentImage>)> = futures_util::stream::iter(lookups)
        .buffer_unordered(LOOKUPS_IN_FLIGHT)
        .collect()
        .await;
    found.sort_by_key(|(i, _)| *i);
    found.into_iter().filter_map(|(_, a)| a).collect()
}
