//! What an upgrade passes through that neither release's bundle names. The istio-pilot charm
//! refuses to move more than one minor version at a time (canonical/istio-operators
//! `charms/istio-pilot/src/charm.py`, `_validate_upgrade_version`), and each version's charm
//! bundles its own `istioctl` and installs its own images, so an upgrade refreshes it through
//! every minor version between the installed track and the target's, each hop with its own
//! charm and images (the CKF upgrade guides, `docs/how-to/manage/upgrade/*.rst` at
//! canonical/charmed-kubeflow-documentation `62c5fbe`: 1.10 → 1.11 goes 1.25, 1.26, 1.27, 1.28).

use crate::artifacts::CharmInfo;
use crate::artifacts::charm_images::istio_tag;

pub const ISTIO_PILOT: &str = "istio-pilot";

/// `1.24/stable` → (1, 24); `1.24.2` → (1, 24).
fn minor_of(version: &str) -> Option<(u32, u32)> {
    let track = version.split('/').next()?;
    let mut parts = track.split('.');
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    Some((major, minor))
}

/// The istio-pilot tracks strictly between the installed channel and the target's
/// (`1.24/stable` → `1.28/stable` gives `1.25`, `1.26`, `1.27`): each is refreshed to and
/// waited for before the next.
pub fn istio_hops(installed: &str, target: &str) -> Result<Vec<String>, String> {
    let parse = |c: &str, which: &str| {
        minor_of(c).ok_or_else(|| {
            format!("the {which} istio-pilot channel {c:?} names no Istio version (as 1.24/stable)")
        })
    };
    let (from_major, from) = parse(installed, "installed")?;
    let (to_major, to) = parse(target, "target")?;
    if from_major != to_major {
        return Err(format!(
            "istio-pilot {installed} → {target} changes the major version; no CKF release does"
        ));
    }
    if to < from {
        return Err(format!(
            "istio-pilot would go back from {installed} to {target}: the target release is older"
        ));
    }
    Ok((from + 1..to)
        .map(|m| format!("{from_major}.{m}"))
        .collect())
}

/// The track (`1.26`) an istio-pilot charm file installs, read from its own config.
pub fn istio_track(charm: &CharmInfo) -> Option<String> {
    track_of(&istio_tag(charm)?)
}

/// `1.26/stable` or `1.26.8` → `1.26`; none for a channel that names no version
/// (`latest/edge`).
pub fn track_of(version: &str) -> Option<String> {
    let (major, minor) = minor_of(version)?;
    Some(format!("{major}.{minor}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The channels of the real release bundles (tests/fixtures/releases/1.10 and 1.11).
    #[test]
    fn ckf_1_10_to_1_11_goes_through_every_istio_minor_between() {
        let channel = |release: &str| {
            let path = format!(
                "{}/tests/fixtures/releases/{release}/bundle.yaml",
                env!("CARGO_MANIFEST_DIR")
            );
            let bundle = crate::bundle::model::Bundle::load(std::path::Path::new(&path))
                .unwrap_or_else(|e| panic!("{e}"));
            bundle
                .applications
                .iter()
                .find(|a| a.charm_name() == ISTIO_PILOT)
                .and_then(|a| a.channel.clone())
                .unwrap_or_default()
        };
        assert_eq!(channel("1.10"), "1.24/stable");
        assert_eq!(
            istio_hops(&channel("1.10"), &channel("1.11")),
            Ok(vec!["1.25".into(), "1.26".into(), "1.27".into()])
        );
        assert_eq!(istio_hops("1.24/stable", "1.25/stable"), Ok(vec![]));
        assert_eq!(istio_hops("1.24/stable", "1.24/stable"), Ok(vec![]));
        assert!(istio_hops("1.25/stable", "1.24/stable").is_err());
        assert!(istio_hops("latest/edge", "1.24/stable").is_err());
    }
}
