//! What an upgrade between two CKF releases needs that their bundles cannot tell (the table in
//! `assets/upgrade-pairs.toml`, each pair with its source), and where the upgrade guide and the
//! target release bundle disagree: the bundle wins, and the plan says so.

use serde::Deserialize;

use crate::bundle::model::Bundle;
use crate::ckf_release::CkfRelease;

const TABLE: &str = include_str!("../../assets/upgrade-pairs.toml");

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GuideChannel {
    pub application: String,
    pub channel: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpgradePair {
    pub from: String,
    pub to: String,
    /// The Juju minor version the target release runs on.
    pub juju: String,
    pub kubernetes_min: String,
    /// The guide this pair is read from (file and commit).
    pub source: String,
    /// Channels the guide names, compared with the target bundle's.
    pub guide_channels: Vec<GuideChannel>,
    /// Applications that go from a PodSpec to a sidecar charm (scaled to 0 first).
    pub to_sidecar: Vec<String>,
    /// Applications removed (with their storage) and deployed again.
    pub redeploy: Vec<String>,
    pub relations_added: Vec<[String; 2]>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Table {
    pair: Vec<UpgradePair>,
}

fn table() -> &'static [UpgradePair] {
    static PARSED: std::sync::OnceLock<Vec<UpgradePair>> = std::sync::OnceLock::new();
    // The table is part of the binary and checked by a unit test: it always parses.
    PARSED.get_or_init(|| {
        toml::from_str::<Table>(TABLE)
            .map(|t| t.pair)
            .unwrap_or_default()
    })
}

/// The pair from `from` to `to`; none when the table has no such step (an upgrade skipping a
/// release is not supported by the guides).
pub fn pair(from: CkfRelease, to: CkfRelease) -> Option<&'static UpgradePair> {
    table()
        .iter()
        .find(|p| p.from == from.name() && p.to == to.name())
}

/// Where the guide names another channel than the target bundle: the bundle wins, and each
/// line says so.
pub fn disagreements(pair: &UpgradePair, target: &Bundle) -> Vec<String> {
    pair.guide_channels
        .iter()
        .filter_map(|g| {
            let app = target
                .applications
                .iter()
                .find(|a| a.name == g.application)?;
            let bundle = app.channel.as_deref()?;
            (bundle != g.channel).then(|| {
                format!(
                    "the upgrade guide refreshes {} to {}, the CKF {} bundle has {bundle}: the \
                     bundle's channel is used ({})",
                    g.application, g.channel, pair.to, pair.source
                )
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bundle(release: &str) -> Bundle {
        let path = format!(
            "{}/tests/fixtures/releases/{release}/bundle.yaml",
            env!("CARGO_MANIFEST_DIR")
        );
        Bundle::load(std::path::Path::new(&path)).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn every_pair_parses_names_known_releases_and_its_source() {
        let table = toml::from_str::<Table>(TABLE).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(table.pair.len(), 3);
        for p in &table.pair {
            assert!(CkfRelease::parse(&p.from).is_some(), "{p:?}");
            assert!(CkfRelease::parse(&p.to).is_some(), "{p:?}");
            assert!(p.source.contains(" @ "), "{p:?}");
        }
    }

    /// The 1.10 -> 1.11 guide names katib 0.18; the real 1.11 bundle has 0.19, which wins.
    #[test]
    fn the_1_11_bundle_wins_over_the_guides_katib_channel() {
        let pair = pair(CkfRelease::V1_10, CkfRelease::V1_11).unwrap_or_else(|| panic!("no pair"));
        let lines = disagreements(pair, &bundle("1.11"));
        assert_eq!(lines.len(), 3, "{lines:#?}");
        assert!(
            lines[0].starts_with(
                "the upgrade guide refreshes katib-controller to 0.18/stable, the CKF 1.11 \
                 bundle has 0.19/stable: the bundle's channel is used"
            ),
            "{lines:#?}"
        );
        assert!(super::pair(CkfRelease::V1_8, CkfRelease::V1_10).is_none());
    }

    /// Every application the 1.8 -> 1.9 pair names is in the 1.8 bundle (no 1.9 bundle is in
    /// the fixtures).
    #[test]
    fn the_1_8_pairs_applications_are_in_the_1_8_bundle() {
        let p = pair(CkfRelease::V1_8, CkfRelease::V1_9).unwrap_or_else(|| panic!("no pair"));
        let b = bundle("1.8");
        for app in p.to_sidecar.iter().chain(&p.redeploy) {
            assert!(b.applications.iter().any(|a| &a.name == app), "{app}");
        }
    }
}
