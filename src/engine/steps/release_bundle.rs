//! What a release bundle needs and where it goes: what each application needs from its own
//! charm, where each needed image went (archive, push report, the operator's overrides), and
//! the per-application deploys built from the mapping output. The release form (`forms`) uses it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::inputs::BundleInput;
use crate::artifacts::Inventory;
use crate::bundle::model::Bundle;
use crate::cluster::plan::AppDeploy;
use crate::cluster::yaml_out::ConfigValue;
use crate::engine::outputs::{DifferentialBase, ReportedImage, SessionPushReport};
use crate::gateway_type::GatewayServiceType;
use crate::image_ref::ImageRef;
use crate::release::{AppNeeds, ArchiveIndex, DetectedRelease, detect_release, release_needs_as};

/// The gateway charm and its service-type option.
const GATEWAY_CHARM: &str = "istio-gateway";
const GATEWAY_OPTION: &str = "gateway_service_type";

pub struct ReleaseBundle {
    pub path: PathBuf,
    pub bundle: Bundle,
    pub detected: Option<DetectedRelease>,
    pub apps: Vec<AppNeeds>,
    /// The Artifacts step's inventory, whose charms the needs were read from.
    pub inventory: Inventory,
    /// In an upgrade from a differential set: what the installed release's lock holds.
    pub carried: DifferentialBase,
    /// Applications whose charm is the very file the installed release runs: not in a
    /// differential set, and not refreshed.
    pub unchanged: Vec<String>,
}

/// The release bundle with what its applications need, read from `inventory`'s charms. With
/// a differential set (`carried`), istio-pilot's intermediate charms are not the target's, and
/// an application whose charm the installed release already runs is set apart as unchanged.
pub fn with_inventory(
    path: PathBuf,
    bundle: Bundle,
    inventory: Inventory,
    chosen: Option<crate::ckf_release::CkfRelease>,
    carried: &DifferentialBase,
) -> ReleaseBundle {
    let detected = detect_release(&bundle);
    // `[deploy] ckf_release` overrides what the channels name, here as everywhere.
    let release = chosen.or(detected.as_ref().map(|d| d.release));
    let target_charms: Vec<_> = inventory
        .charms
        .iter()
        .filter(|c| !carried.is_hop_file(&c.file_name))
        .cloned()
        .collect();
    let (apps, unchanged): (Vec<AppNeeds>, Vec<AppNeeds>) =
        release_needs_as(&bundle, &target_charms, release)
            .into_iter()
            .partition(|a| a.charm_info.is_some() || !carried.holds_charm(&a.charm));
    ReleaseBundle {
        apps,
        unchanged: unchanged.into_iter().map(|a| a.application).collect(),
        carried: carried.clone(),
        detected,
        path,
        bundle,
        inventory,
    }
}

/// Where an upstream image went: the archived image holding it, what the push made of that
/// image, or the operator's override.
pub struct Resolver {
    index: ArchiveIndex,
    pushed: BTreeMap<String, ReportedImage>,
    overrides: BTreeMap<String, String>,
    pin_digests: bool,
    /// In an upgrade: what the installed release pushed, and where.
    carried: Option<(DifferentialBase, crate::registry::RegistryTarget)>,
}

impl Resolver {
    /// `report` is none when the push was skipped: then nothing has a pushed target.
    pub fn new(
        input: &BundleInput,
        inventory: &Inventory,
        report: Option<&SessionPushReport>,
    ) -> Self {
        let pushed = match report {
            Some(r) => r
                .images
                .iter()
                .map(|i| (i.source.clone(), i.clone()))
                .collect(),
            None => BTreeMap::new(),
        };
        Resolver {
            index: ArchiveIndex::new(&inventory.images),
            pushed,
            overrides: input.mapping_overrides.clone(),
            pin_digests: input.pin_digests,
            carried: None,
        }
    }

    /// An upgrade's resolver: an image the installed release's lock holds is not in a
    /// differential set; the install pushed it under the name the push gives its archived
    /// name (Canonical's retag rule), so it is there, and the plan step proves it.
    pub fn with_carried(
        mut self,
        carried: &DifferentialBase,
        registry: Option<crate::registry::RegistryTarget>,
    ) -> Self {
        if carried.base.is_some()
            && let Some(registry) = registry
        {
            self.carried = Some((carried.clone(), registry));
        }
        self
    }

    /// Where the install pushed `upstream`, when the installed release's lock holds it and
    /// this set does not.
    pub fn carried_target(&self, upstream: &str) -> Option<String> {
        let (carried, registry) = self.carried.as_ref()?;
        if self.archived(upstream).is_some() || !carried.holds_image(upstream) {
            return None;
        }
        let archived = ImageRef::split(&crate::image_ref::ckf_retag(upstream, "retag.invalid"));
        Some(registry.reference(&archived.path, archived.tag.as_deref().unwrap_or("latest")))
    }

    /// The archived image (its name in the archive) that holds `upstream`.
    pub fn archived(&self, upstream: &str) -> Option<&str> {
        self.index.find(upstream)
    }

    pub fn is_overridden(&self, upstream: &str) -> bool {
        self.overrides.contains_key(upstream)
    }

    /// The reference the deployment uses for `upstream`: the operator's override, else the
    /// pushed tag (or the pushed digest when pinning) of the archived image; never the
    /// upstream digest, since the push writes new manifests.
    pub fn target(&self, upstream: &str) -> Option<String> {
        if let Some(t) = self.overrides.get(upstream) {
            return Some(t.clone());
        }
        if let Some(t) = self.carried_target(upstream) {
            return Some(t);
        }
        let pushed = self.pushed.get(self.archived(upstream)?)?;
        if self.pin_digests {
            return Some(
                ImageRef::split(&pushed.target)
                    .pinned(&pushed.digest.to_string())
                    .to_string(),
            );
        }
        Some(pushed.target.clone())
    }
}

/// Every application deployed on its own: its charm file, `--resource` for every OCI image,
/// the bundle's options plus every image option rewritten, trust, constraints, scale and base
/// as the bundle says. Fails with every image that has no target, by application.
pub fn app_deploys(
    release: &ReleaseBundle,
    targets: &BTreeMap<String, String>,
    work_dir: &Path,
    gateway: Option<GatewayServiceType>,
) -> Result<Vec<AppDeploy>, Vec<String>> {
    let target = |upstream: &str| targets.get(upstream).cloned();
    let mut missing = Vec::new();
    let mut out = Vec::new();
    for needs in &release.apps {
        let Some(app) = release.bundle.application(&needs.application) else {
            continue;
        };
        let Some(charm) = &needs.charm_info else {
            missing.push(format!("{}: charm {}", needs.application, needs.charm));
            continue;
        };
        let mut resources = Vec::new();
        for resource in charm.oci_resources() {
            let Some(upstream) = &resource.upstream_source else {
                missing.push(format!(
                    "{}: resource {} names no upstream image in the charm",
                    needs.application, resource.name
                ));
                continue;
            };
            match target(upstream) {
                Some(t) => resources.push((resource.name.clone(), t)),
                None => missing.push(format!(
                    "{}: resource {} ({upstream})",
                    needs.application, resource.name
                )),
            }
        }
        let mut config: Vec<(String, ConfigValue)> = app
            .options
            .iter()
            .filter(|(k, _)| !needs.image_options.iter().any(|o| &o.option == k))
            .map(|(k, v)| (k.clone(), ConfigValue::from(v)))
            .collect();
        for option in &needs.image_options {
            match option.rewritten(&target) {
                Ok(value) => config.push((option.option.clone(), ConfigValue::Text(value))),
                Err(upstream) => missing.push(format!(
                    "{}: option {} ({upstream})",
                    needs.application, option.option
                )),
            }
        }
        if needs.charm == GATEWAY_CHARM
            && let Some(g) = gateway
        {
            config.retain(|(k, _)| k != GATEWAY_OPTION);
            config.push((GATEWAY_OPTION.into(), ConfigValue::Text(g.as_str().into())));
        }
        out.push(AppDeploy {
            application: needs.application.clone(),
            charm_name: needs.charm.clone(),
            channel: app.channel.clone(),
            charm: work_dir.join(&charm.spool_path),
            resources,
            config,
            trust: app.trust.unwrap_or(false),
            constraints: app.constraints.clone(),
            scale: app.scale,
            base: app.base.clone(),
        });
    }
    if missing.is_empty() {
        Ok(out)
    } else {
        Err(missing)
    }
}

/// The bundle's relations as `app[:endpoint]` pairs.
pub fn relations(bundle: &Bundle) -> Vec<[String; 2]> {
    bundle
        .relations
        .iter()
        .map(|r| [r.endpoints[0].to_string(), r.endpoints[1].to_string()])
        .collect()
}

/// "CKF 1.11 (kfp-api is on channel 2.15/stable)", or that it is unknown.
pub fn describe(release: &ReleaseBundle) -> String {
    match &release.detected {
        Some(d) => format!("CKF {} ({})", d.release, d.evidence),
        None => "CKF release not recognised from the channels: versions are not checked".into(),
    }
}
