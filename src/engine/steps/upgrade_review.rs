//! The upgrade plan step: the whole plan built from the two releases, shown with each
//! application's way back and written as `upgrade-plan.json` before anything changes. Every
//! image the plan names, and Juju's `charm-base` image for every base the new charms declare,
//! is looked up in the private registry here: a gap is found now, not as `ImagePullBackOff`
//! half-way through the upgrade.

use std::collections::BTreeSet;

use serde_json::json;

use super::inputs::{GatewayInput, RegistryInput};
use super::planned_upgrade::{PlannedUpgrade, UPGRADE_PLAN_FILE, planned};
use super::registry_client::registry_address_and_prefix;
use crate::artifacts::Inventory;
use crate::cluster::juju_setup::{self, ImageRepo};
use crate::engine::context::StepContext;
use crate::engine::events::Level;
use crate::engine::step_data::{CommandRow, CommandState, DeployView, StepData};
use crate::engine::units::Summary;
use crate::engine::work::StepError;

/// The plan's commands as the deploy screen draws them, every one pending.
pub fn plan_view(planned: &PlannedUpgrade) -> DeployView {
    DeployView {
        commands: planned
            .plan
            .plan
            .steps
            .iter()
            .map(|s| CommandRow {
                id: s.id.clone(),
                display: s.display(),
                state: CommandState::Pending,
            })
            .collect(),
        status: vec![],
        diagnoses: vec![],
        dry_run: false,
    }
}

/// Every `--resource` image the plan's commands name.
fn resource_images(planned: &PlannedUpgrade) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for action in &planned.plan.plan.steps {
        let args = action.cmd.args();
        for pair in args.windows(2) {
            if pair[0] == "--resource"
                && let Some((_, image)) = pair[1].split_once('=')
            {
                out.insert(image.to_owned());
            }
        }
    }
    out
}

/// The cluster's Kubernetes against the target release's range (the pair's guide names its
/// minimum too), before anything changes: a refresh to charms the cluster cannot run is the
/// failure found only halfway through.
async fn prove_kubernetes(ctx: &StepContext, planned: &PlannedUpgrade) -> Result<(), StepError> {
    let Some(to) = planned.to else {
        return Ok(());
    };
    ctx.phase("reading the cluster's Kubernetes version (kubectl version)");
    let (check, _) =
        crate::cluster::checks::kubernetes::check_kubernetes(&super::blocking::runner(), to).await;
    if check.status == crate::cluster::checks::CheckStatus::Fail {
        return Err(StepError::failed(format!(
            "{}: {}; nothing was changed.{}",
            check.title,
            check.evidence,
            check
                .fix
                .map(|f| format!(" {f}, then retry."))
                .unwrap_or_default()
        )));
    }
    ctx.log(Level::Info, format!("{}: {}", check.title, check.evidence));
    Ok(())
}

/// The plan's images and Juju's `charm-base` images of the new charms' bases, in the registry.
async fn prove_images_present(
    ctx: &StepContext,
    planned: &PlannedUpgrade,
) -> Result<(), StepError> {
    let Some(registry) = ctx.input::<RegistryInput>().registry else {
        return Err(StepError::failed(
            "no private registry is chosen ([registry] target): the upgrade's images cannot be \
             looked up. Choose it and retry.",
        ));
    };
    let client = super::registry_client::client(ctx).await?;
    let mut wanted = resource_images(planned);
    let (address, prefix) = registry_address_and_prefix(&registry.target);
    let bases = ctx.output::<Inventory>()?.charm_bases();
    let repo = ImageRepo::new(&address, &prefix);
    for image in juju_setup::juju_images(&repo, planned.juju, &bases) {
        if image.path.ends_with("/charm-base") {
            wanted.insert(format!("{address}/{image}"));
        }
    }
    // A Juju crossing's new controller pulls Juju's own images from the registry.
    for action in &planned.plan.plan.steps {
        if let crate::cluster::plan::ActionKind::Bootstrap { images, .. } = &action.kind {
            wanted.extend(images.iter().map(|i| format!("{address}/{i}")));
        }
    }
    ctx.phase(format!(
        "looking up the plan's {} images in {}",
        wanted.len(),
        registry.target
    ));
    let absent = super::image_presence::absent_images(&client, wanted.iter().cloned()).await;
    if absent.is_empty() {
        ctx.log(
            Level::Info,
            format!(
                "every one of the plan's {} images (with Juju's charm-base images) is in {}",
                wanted.len(),
                registry.target
            ),
        );
        return Ok(());
    }
    let mut text = format!(
        "{} of the upgrade's {} images are not in the private registry; nothing was changed:",
        absent.len(),
        wanted.len()
    );
    for a in &absent {
        text.push_str(&format!("\n  {}: {}", a.reference, a.why));
    }
    text.push_str(
        "\nPush them (a charm-base image comes from the gather's Juju images, [gather] \
         juju_version), then retry.",
    );
    Err(StepError::failed(text))
}

pub async fn run(ctx: StepContext) -> Result<(), StepError> {
    let gateway = ctx.input::<GatewayInput>().gateway;
    let planned = planned(&ctx, gateway).await?;
    let file = ctx.session_dir().join(UPGRADE_PLAN_FILE);
    let bytes = serde_json::to_vec_pretty(&planned.to_json()).map_err(StepError::failed)?;
    crate::durable::write_file(&file, &bytes)
        .map_err(|e| StepError::failed(format!("cannot write {}: {e}", file.display())))?;
    let from = planned
        .from
        .map(|r| format!("CKF {r}"))
        .unwrap_or_else(|| "the installed release".into());
    let to = planned
        .to
        .map(|r| format!("CKF {r}"))
        .unwrap_or_else(|| "the target release".into());
    ctx.log(
        Level::Info,
        format!(
            "the upgrade from {from} to {to}: {} commands for {} applications ({} unchanged, \
             {} intermediate istio-pilot version(s)); written to {}",
            planned.plan.plan.steps.len(),
            planned.targets.apps.len(),
            planned.targets.unchanged.len(),
            planned.targets.hops.len(),
            file.display()
        ),
    );
    for warning in &planned.plan.plan.warnings {
        ctx.log(Level::Warn, warning.clone());
    }
    ctx.document(
        format!(
            "Upgrade plan: {} commands, then each application's way back",
            planned.plan.plan.steps.len()
        ),
        planned.preview(),
    );
    ctx.publish(StepData::Deploy(plan_view(&planned)));
    prove_kubernetes(&ctx, &planned).await?;
    prove_images_present(&ctx, &planned).await?;
    ctx.record(
        &Summary::UpgradePlan,
        &json!({
            "commands": planned.plan.plan.steps.len(),
            "removals": planned.plan.removals,
            "file": file,
        }),
    )
}
