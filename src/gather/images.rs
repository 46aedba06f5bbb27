//! Which images to gather: every image the charms need (by the same code as the air-gapped
//! side's needs), every line of the given image lists, and Juju's own images for a chosen
//! version; and where each is pulled from.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::image_ref::ImageRef;
use crate::release::AppNeeds;

/// One image to gather and who needs it (`kfp-api resource oci-image`, `images.txt`, `juju`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GatherImage {
    pub upstream: String,
    pub needed_by: Vec<String>,
    /// Where record mode saw it in the staging cluster (`Deployment/x container y`), for an
    /// image no charm names.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub seen_in: Vec<String>,
}

/// Where an upstream reference is pulled from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullSource {
    /// The registry's API host (`registry-1.docker.io` for Docker Hub).
    pub host: String,
    /// The name shown to the operator (`docker.io`).
    pub registry: String,
    pub repository: String,
    /// A tag or a `sha256:` digest.
    pub reference: String,
}

/// Docker Hub's names: `busybox` is `library/busybox` on `registry-1.docker.io`.
pub fn pull_source(upstream: &str) -> PullSource {
    let r = ImageRef::split(upstream);
    let registry = r.registry.clone().unwrap_or_else(|| "docker.io".into());
    let hub = registry == "docker.io" || registry == "index.docker.io";
    let repository = if hub && !r.path.contains('/') {
        format!("library/{}", r.path)
    } else {
        r.path.clone()
    };
    PullSource {
        host: if hub {
            "registry-1.docker.io".into()
        } else {
            registry.clone()
        },
        registry: if hub { "docker.io".into() } else { registry },
        repository,
        reference: r
            .digest
            .clone()
            .or(r.tag.clone())
            .unwrap_or_else(|| "latest".into()),
    }
}

/// Juju's own images for `version`: the controller's and the charm bases' (`ubuntu@24.04`).
pub fn juju_images(version: &str, bases: &[String]) -> Vec<String> {
    let mut out = vec![
        format!("docker.io/jujusolutions/jujud-operator:{version}"),
        "docker.io/jujusolutions/juju-db:4.4".to_owned(),
    ];
    let mut tags: Vec<String> = bases
        .iter()
        .map(|b| format!("ubuntu-{}", b.trim_start_matches("ubuntu@")))
        .collect();
    tags.sort();
    tags.dedup();
    out.extend(
        tags.into_iter()
            .map(|t| format!("docker.io/jujusolutions/charm-base:{t}")),
    );
    out
}

/// Every image once, with everyone who needs it: the applications' needs, then the lists,
/// then Juju's images.
pub fn images_to_gather(
    apps: &[AppNeeds],
    lists: &[(String, Vec<String>)],
    juju: &[String],
) -> Vec<GatherImage> {
    let mut order: Vec<String> = Vec::new();
    let mut by: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut add = |upstream: &str, who: String| {
        let upstream = upstream.trim().to_owned();
        if upstream.is_empty() || upstream.starts_with('#') {
            return;
        }
        let entry = by.entry(upstream.clone()).or_insert_with(|| {
            order.push(upstream.clone());
            Vec::new()
        });
        if !entry.contains(&who) {
            entry.push(who);
        }
    };
    for app in apps {
        for need in &app.needs {
            add(&need.upstream, format!("{} {}", app.application, need.site));
        }
    }
    for (name, lines) in lists {
        for line in lines {
            add(line, name.clone());
        }
    }
    for image in juju {
        add(image, "juju".into());
    }
    order
        .into_iter()
        .map(|upstream| GatherImage {
            needed_by: by.remove(&upstream).unwrap_or_default(),
            upstream,
            seen_in: Vec::new(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_hub_names_and_other_registries() {
        let s = pull_source("busybox:1.28");
        assert_eq!(
            (s.host.as_str(), s.repository.as_str(), s.reference.as_str()),
            ("registry-1.docker.io", "library/busybox", "1.28")
        );
        let s = pull_source("ghcr.io/canonical/charmed-mysql@sha256:abc");
        assert_eq!(
            (s.host.as_str(), s.repository.as_str(), s.reference.as_str()),
            ("ghcr.io", "canonical/charmed-mysql", "sha256:abc")
        );
        let s = pull_source("charmedkubeflow/dex");
        assert_eq!(
            (s.repository.as_str(), s.reference.as_str()),
            ("charmedkubeflow/dex", "latest")
        );
    }

    #[test]
    fn juju_images_for_every_base() {
        let images = juju_images(
            "3.6.4",
            &[
                "ubuntu@24.04".into(),
                "ubuntu@22.04".into(),
                "ubuntu@24.04".into(),
            ],
        );
        assert_eq!(images.len(), 4);
        assert!(images.contains(&"docker.io/jujusolutions/charm-base:ubuntu-22.04".to_owned()));
    }
}
