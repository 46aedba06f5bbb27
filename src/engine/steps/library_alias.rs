//! Docker Hub's official images under the path containerd asks a mirror for. The push names
//! `docker.io/library/alpine:3.10` `<target>/alpine:3.10`, as `docker save` does; containerd,
//! sent to the private registry by a `hosts.toml` mirror (the environment step's safety net),
//! asks for `<prefix>/library/alpine:3.10`. Each single-component repository gets that second
//! name, pointing at the same manifest, so an image nobody configured still resolves.

use crate::engine::context::StepContext;
use crate::engine::events::Level;
use crate::registry::{PushImage, RegistryClient};

pub async fn alias_official_images(
    ctx: &StepContext,
    client: &RegistryClient,
    images: &[PushImage],
) {
    let target = client.target();
    let official: Vec<&PushImage> = images
        .iter()
        .filter(|i| !i.repository.contains('/'))
        .collect();
    if official.is_empty() {
        return;
    }
    ctx.phase(format!(
        "naming {} single-name image(s) under library/ too, as containerd asks a mirror for them",
        official.len()
    ));
    let mut failed = Vec::new();
    for image in official {
        let from = target.repository(&image.repository);
        let to = target.repository(&format!("library/{}", image.repository));
        if let Err(e) = client.alias_image(&from, &image.tag, &to, &image.tag).await {
            failed.push(format!("{from}:{} → {to}: {e}", image.tag));
        }
    }
    if failed.is_empty() {
        return;
    }
    // The images themselves are pushed and every configured reference names them; only what
    // the mirror safety net would find under `library/` is missing, so this warns.
    ctx.log(
        Level::Warn,
        format!(
            "{} image(s) have no library/ name for containerd's Docker Hub mirror path (an \
             image no option names would not resolve through the mirror):\n  {}",
            failed.len(),
            failed.join("\n  ")
        ),
    );
}
