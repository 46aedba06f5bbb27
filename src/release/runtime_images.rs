//! Images no file of a release's charms names, which its workloads pull all the same: the
//! table in `assets/runtime-images.toml`, with a source (repository, path, commit) for every
//! entry. Each is needed by the application whose charm runs the workload: gather pulls it,
//! the Artifacts step requires it, and the install sets it where the charm has a way to.

use serde::Deserialize;

use crate::ckf_release::CkfRelease;

const TABLE: &str = include_str!("../../assets/runtime-images.toml");

/// How the install points the workload at the private registry.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub enum PointedBy {
    /// A key of an option holding a map of images (`custom_images`): the install sets it.
    OptionKey { option: String, key: String },
    /// Nothing in the charm sets it: the node's registry mirror must serve it.
    MirrorOnly,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Source {
    pub repository: String,
    pub path: String,
    pub commit: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuntimeImage {
    /// The releases whose charms leave this image out.
    pub releases: Vec<String>,
    /// The charm whose workload pulls it.
    pub charm: String,
    pub image: String,
    /// What pulls it, in the operator's words (`PyTorchJob workers' init container`).
    pub pulled_by: String,
    pub pointed_by: PointedBy,
    pub sources: Vec<Source>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Table {
    image: Vec<RuntimeImage>,
}

/// Parsed once: it is asked for every application of every bundle read.
fn table() -> &'static [RuntimeImage] {
    static PARSED: std::sync::OnceLock<Vec<RuntimeImage>> = std::sync::OnceLock::new();
    // The table is part of the binary and checked by a unit test: it always parses.
    PARSED.get_or_init(|| {
        toml::from_str::<Table>(TABLE)
            .map(|t| t.image)
            .unwrap_or_default()
    })
}

/// The runtime images of `release` that `charm`'s workloads pull.
pub fn runtime_images(release: CkfRelease, charm: &str) -> Vec<RuntimeImage> {
    table()
        .iter()
        .filter(|i| i.charm == charm && i.releases.iter().any(|r| r == release.name()))
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_entry_parses_names_known_releases_and_has_a_source_at_a_commit() {
        let table = toml::from_str::<Table>(TABLE).unwrap_or_else(|e| panic!("{e}"));
        assert!(!table.image.is_empty());
        for entry in &table.image {
            assert!(
                crate::image_ref::ImageRef::detect(&entry.image).is_some(),
                "{}",
                entry.image
            );
            for r in &entry.releases {
                assert!(
                    CkfRelease::parse(r).is_some(),
                    "{}: release {r}",
                    entry.image
                );
            }
            assert!(!entry.sources.is_empty(), "{}: no source", entry.image);
            for s in &entry.sources {
                assert!(
                    s.commit.len() == 40 && s.commit.bytes().all(|b| b.is_ascii_hexdigit()),
                    "{}: commit {:?}",
                    entry.image,
                    s.commit
                );
            }
        }
    }
}
