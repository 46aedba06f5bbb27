//! The upgrade plan built from what the earlier steps left: the model as it stands (the
//! record of the install), the target release's bundle and charms opened in their form, the
//! mapping to pushed images, istio-pilot's intermediate charms and the release pair's table.
//! The plan step shows and writes it; the run step builds the very same plan again (the same
//! inputs give the same ids), so a resumed run finds its place.

use std::collections::BTreeMap;

use super::blocking::runner;
use super::forms::{OpenedBundle, UpgradeTargets};
use crate::ckf_release::CkfRelease;
use crate::cluster::Cmd;
use crate::cluster::upgrade_plan::{self, RunningApp, UpgradeInput, UpgradePlan};
use crate::engine::context::StepContext;
use crate::engine::outputs::{InstalledApp, StandingModel};
use crate::engine::work::StepError;
use crate::gateway_type::GatewayServiceType;
use crate::version::Version;

/// The gateway charm and its service-type option: the type chosen at install carries over.
const GATEWAY_CHARM: &str = "istio-gateway";
const GATEWAY_OPTION: &str = "gateway_service_type";

/// The file the plan step writes, in the shape of `deploy-plan.json` with each application's
/// way back beside the commands.
pub const UPGRADE_PLAN_FILE: &str = "upgrade-plan.json";

pub struct PlannedUpgrade {
    pub plan: UpgradePlan,
    pub standing: StandingModel,
    pub targets: UpgradeTargets,
    pub juju: Version,
    pub from: Option<CkfRelease>,
    pub to: Option<CkfRelease>,
}

impl PlannedUpgrade {
    /// `upgrade-plan.json`: the commands as `deploy-plan.json` has them, then per application
    /// its way back, the removals that wait for consent and what stays as it is.
    pub fn to_json(&self) -> serde_json::Value {
        let mut value = self.plan.plan.to_json();
        let back = |actions: &[crate::cluster::plan::PlanAction]| {
            crate::cluster::plan::DeployPlan {
                model: self.plan.plan.model.clone(),
                steps: actions.to_vec(),
                warnings: vec![],
            }
            .to_json()["commands"]
                .clone()
        };
        value["from"] = serde_json::json!(self.from.map(|r| r.to_string()));
        value["to"] = serde_json::json!(self.to.map(|r| r.to_string()));
        value["way_back"] = self
            .plan
            .way_back
            .iter()
            .map(|(app, actions)| (app.clone(), back(actions)))
            .collect::<serde_json::Map<_, _>>()
            .into();
        value["removals"] = serde_json::json!(self.plan.removals);
        value["unchanged"] = serde_json::json!(self.targets.unchanged);
        value
    }

    /// The plan as the operator reads it before anything runs: every command, then each
    /// application's way back.
    pub fn preview(&self) -> String {
        let mut text = self.plan.plan.preview();
        if !self.targets.unchanged.is_empty() {
            text.push_str(&format!(
                "\nUnchanged (the installed release's charm): {}\n",
                self.targets.unchanged.join(", ")
            ));
        }
        text.push_str("\nThe way back, per application:\n");
        for (app, actions) in &self.plan.way_back {
            text.push_str(&format!("  {app}:\n"));
            for a in actions {
                text.push_str(&format!("    {}\n", a.display()));
            }
        }
        text
    }
}

/// An application whose kind the record does not hold (a model inferred from `juju status`,
/// or an install whose Artifacts step was skipped) is a PodSpec charm when the release pair's
/// guide moves it to a sidecar charm, so it is scaled to 0 for its refresh as Juju requires.
fn assume_kinds(running: &mut [RunningApp], to_sidecar: &[String]) {
    for r in running.iter_mut().filter(|r| r.kind.is_none()) {
        if to_sidecar.contains(&r.application) {
            r.kind = Some(crate::charm_kind::CharmKind::PodSpec);
        }
    }
}

fn running_app(app: &InstalledApp) -> RunningApp {
    RunningApp {
        application: app.application.clone(),
        charm_name: app.charm.clone(),
        charm_file: app.charm_file.clone(),
        resources: app
            .resources
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        config: app
            .config
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        trust: app.trust,
        scale: app.scale.unwrap_or(1),
        kind: app.kind,
    }
}

/// The gateway type the install chose, from the record (the operator's `[gateway]` wins).
fn carried_gateway(
    standing: &StandingModel,
    chosen: Option<GatewayServiceType>,
) -> Option<GatewayServiceType> {
    chosen.or_else(|| {
        standing
            .record
            .applications
            .iter()
            .filter(|a| a.charm == GATEWAY_CHARM)
            .find_map(|a| match a.config.get(GATEWAY_OPTION)? {
                crate::cluster::yaml_out::ConfigValue::Text(t) => GatewayServiceType::parse(t),
                _ => None,
            })
    })
}

async fn juju_version(standing: &StandingModel) -> Version {
    let recorded = Version::parse(&standing.record.juju_version);
    match runner().capture(&Cmd::juju(["version"])).await {
        Ok(out) if out.success() => Version::parse(&out.stdout)
            .or(recorded)
            .unwrap_or(Version::new(3, 6, 0)),
        _ => recorded.unwrap_or(Version::new(3, 6, 0)),
    }
}

/// When the target release runs on another Juju minor version than the model, the plan's
/// first actions: a new controller of the client's version, the migration and the agents'
/// upgrade; the model as later commands name it. Refused, naming what to do, without a client
/// of the target's version or a name for the new controller.
async fn juju_crossing(
    ctx: &StepContext,
    pair: &crate::release::upgrade_pairs::UpgradePair,
    standing: &StandingModel,
    client: Version,
) -> Result<Option<(String, Vec<crate::cluster::plan::PlanAction>)>, StepError> {
    use crate::cluster::juju_crossing::{Crossing, crossing_actions, migrated_model};
    let Some(needed) = Version::parse(&format!("{}.0", pair.juju)) else {
        return Ok(None);
    };
    let current = Version::parse(&standing.record.juju_version).unwrap_or(client);
    if (needed.major, needed.minor) == (current.major, current.minor) {
        return Ok(None);
    }
    if (needed.major, needed.minor) != (client.major, client.minor) {
        return Err(StepError::failed(format!(
            "CKF {} runs on Juju {}, the model on Juju {current}, and this Juju client is \
             {client}: crossing a Juju minor version bootstraps a new controller with the \
             client's version. Carry a Juju {} client across (`snap download juju --channel \
             {}/stable` on the connected side; `snap ack` and `snap install` here), then retry.",
            pair.to, pair.juju, pair.juju, pair.juju
        )));
    }
    let input = ctx.input::<super::inputs::InstalledInput>();
    let Some(controller) = input.new_controller.clone() else {
        return Err(StepError::failed(format!(
            "CKF {} runs on Juju {} and the model on Juju {current}: Juju moves a model across a \
             minor version only to a new controller ({}). Name it in the answers file \
             ([upgrade] new_controller = \"ckf-{}{}\"; [upgrade] cloud, default {DEFAULT_CLOUD}, \
             is the Kubernetes cloud it is bootstrapped on), then retry: the plan then \
             bootstraps it with caas-image-repo at the private registry, migrates the model \
             and upgrades its agents before the first refresh.",
            pair.to, pair.juju, pair.source, needed.major, needed.minor
        )));
    };
    let registry = ctx
        .input::<super::inputs::RegistryInput>()
        .registry
        .unwrap_or_default();
    let (address, prefix) = super::registry_client::registry_address_and_prefix(&registry.target);
    let repo = super::registry_client::with_credentials(
        ctx,
        crate::cluster::juju_setup::ImageRepo::new(&address, &prefix),
        &registry,
    )
    .await?;
    let bases = ctx.output::<crate::artifacts::Inventory>()?.charm_bases();
    let cloud = input.cloud.clone().unwrap_or_else(|| DEFAULT_CLOUD.into());
    let crossing = Crossing {
        cloud: &cloud,
        controller: &controller,
        model: &standing.record.model,
        agent: client.to_string(),
        images: crate::cluster::juju_setup::juju_images(&repo, client, &bases),
        repo: &repo,
    };
    Ok(Some((
        migrated_model(&crossing),
        crossing_actions(&crossing),
    )))
}

/// The cloud an install's bootstrap registers the cluster as.
const DEFAULT_CLOUD: &str = "ckf-k8s";

pub async fn planned(
    ctx: &StepContext,
    gateway: Option<GatewayServiceType>,
) -> Result<PlannedUpgrade, StepError> {
    let standing = ctx.output::<StandingModel>()?;
    let form = OpenedBundle::decided(ctx).await?;
    let targets = form.upgrade_targets(ctx, carried_gateway(&standing, gateway))?;
    missing_istio_hops(&standing.record.applications, &targets)?;
    let juju = juju_version(&standing).await;
    let from = standing.record.ckf_release;
    let to = targets.release;
    if let (Some(f), Some(t)) = (from, to)
        && t <= f
    {
        return Err(StepError::failed(format!(
            "the model runs CKF {f} and the bundle is CKF {t}: an upgrade moves to a later \
             release. Give the next release's bundle and archives, then retry."
        )));
    }
    let pair = match (from, to) {
        (Some(f), Some(t)) => crate::release::upgrade_pairs::pair(f, t),
        _ => None,
    };
    let mut running: Vec<RunningApp> = standing
        .record
        .applications
        .iter()
        .filter(|a| !targets.unchanged.contains(&a.application))
        .map(running_app)
        .collect();
    assume_kinds(
        &mut running,
        pair.map(|p| p.to_sidecar.as_slice()).unwrap_or_default(),
    );
    let config_dir = ctx.session_dir().join("upgrade-config");
    let relations_added: Vec<[String; 2]> =
        pair.map(|p| p.relations_added.clone()).unwrap_or_default();
    let crossing = match pair {
        Some(p) => juju_crossing(ctx, p, &standing, juju).await?,
        None => None,
    };
    let model = crossing
        .as_ref()
        .map(|(migrated, _)| migrated.clone())
        .unwrap_or_else(|| standing.record.model.clone());
    let mut plan = upgrade_plan::build(&UpgradeInput {
        model: &model,
        juju,
        config_dir: &config_dir,
        running: &running,
        target: &targets.apps,
        istio_hops: &targets.hops,
        relations: &targets.relations,
        relations_added: &relations_added,
        redeploy: pair.map(|p| p.redeploy.as_slice()).unwrap_or_default(),
    });
    if let Some((_, actions)) = crossing {
        plan.plan.steps.splice(0..0, actions);
    }
    match (pair, from, to) {
        (Some(p), _, _) => {
            plan.plan
                .warnings
                .extend(crate::release::upgrade_pairs::disagreements(
                    p,
                    &targets.bundle,
                ));
        }
        (None, Some(f), Some(t)) => plan.plan.warnings.push(format!(
            "no upgrade guide goes from CKF {f} to CKF {t} in one step: the plan follows the two \
             bundles only; upgrade one release at a time where you can"
        )),
        _ => plan.plan.warnings.push(
            "the installed or the target release is not known: the release pair's table is not \
             used"
                .into(),
        ),
    }
    Ok(PlannedUpgrade {
        plan,
        standing,
        targets,
        juju,
        from,
        to,
    })
}

/// istio-pilot moves one minor version at a time: every track between the installed channel
/// and the target's must have its charm in the set, or the plan stops before anything runs.
fn missing_istio_hops(
    installed: &[InstalledApp],
    targets: &UpgradeTargets,
) -> Result<(), StepError> {
    let pilot = crate::release::upgrade_path::ISTIO_PILOT;
    let from = installed
        .iter()
        .find(|a| a.charm == pilot)
        .and_then(|a| a.channel.as_deref());
    let to = targets
        .bundle
        .applications
        .iter()
        .find(|a| a.charm_name() == pilot)
        .and_then(|a| a.channel.as_deref());
    let carried: Vec<&str> = targets.hops.iter().map(|h| h.track.as_str()).collect();
    istio_hops_carried(from, to, &carried).map_err(StepError::failed)
}

fn istio_hops_carried(
    from: Option<&str>,
    to: Option<&str>,
    carried: &[&str],
) -> Result<(), String> {
    let (Some(from), Some(to)) = (from, to) else {
        return Ok(());
    };
    let needed = crate::release::upgrade_path::istio_hops(from, to)?;
    let missing: Vec<&str> = needed
        .iter()
        .map(String::as_str)
        .filter(|t| !carried.contains(t))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    Err(format!(
        "istio-pilot goes from {from} to {to} through {}, one minor version at a time, but the \
         archives hold no istio-pilot charm for {}: nothing was changed. On the connected side, \
         gather again with [gather] upgrade_from (the intermediate charms in [gather] \
         charms_dir or from Charmhub), carry the new set, then retry.",
        needed.join(", "),
        missing.join(", ")
    ))
}

/// Every application's actions in the plan, in order (for the run's way back and skips).
pub fn actions_by_application(plan: &UpgradePlan) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for action in &plan.plan.steps {
        if let Some(app) = upgrade_plan::action_application(action) {
            out.entry(app.to_owned())
                .or_default()
                .push(action.id.clone());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unknown_kind_is_podspec_where_the_guide_moves_it_to_sidecar() {
        let app = |name: &str, kind| RunningApp {
            application: name.into(),
            charm_name: name.into(),
            charm_file: Default::default(),
            resources: vec![],
            config: vec![],
            trust: false,
            scale: 1,
            kind,
        };
        use crate::charm_kind::CharmKind;
        let mut running = vec![
            app("kubeflow-volumes", None),
            app("kfp-api", None),
            app("minio", Some(CharmKind::Sidecar)),
        ];
        assume_kinds(&mut running, &["kubeflow-volumes".into(), "minio".into()]);
        let kinds: Vec<_> = running.iter().map(|r| r.kind).collect();
        assert_eq!(
            kinds,
            [Some(CharmKind::PodSpec), None, Some(CharmKind::Sidecar)],
            "only an unknown kind is assumed, and only from the guide"
        );
    }

    #[test]
    fn every_istio_track_on_the_way_must_be_carried() {
        let all = ["1.25", "1.26", "1.27"];
        assert_eq!(
            istio_hops_carried(Some("1.24/stable"), Some("1.28/stable"), &all),
            Ok(())
        );
        let err = istio_hops_carried(Some("1.24/stable"), Some("1.28/stable"), &["1.25", "1.27"])
            .unwrap_err();
        assert!(
            err.contains("through 1.25, 1.26, 1.27")
                && err.contains("no istio-pilot charm for 1.26:"),
            "{err}"
        );
        assert_eq!(
            istio_hops_carried(Some("1.27/stable"), Some("1.28/stable"), &[]),
            Ok(())
        );
        assert_eq!(istio_hops_carried(None, Some("1.28/stable"), &[]), Ok(()));
    }
}
