//! The product's step work. Each step reads the parts of the choices `inputs` lets it read and
//! reports through its `StepContext`; those parts are its fingerprint, so a changed archive,
//! bundle or choice runs it again.

pub mod artifacts;
mod backups;
pub mod blocking;
mod bundle_plan;
pub mod checks;
pub mod choice_paths;
mod command_ledger;
pub mod deploy;
mod forms;
pub mod gateway;
pub mod gather;
mod image_presence;
mod inferred_model;
pub mod inputs;
mod installed_record;
mod library_alias;
pub mod mapping;
pub mod open_uploads;
mod planned_upgrade;
pub mod preview;
pub mod push;
mod push_ledger;
pub mod registry;
pub mod registry_client;
pub mod release_bundle;
pub mod release_choice;
pub mod separate;
mod standing_model;
mod stream_push;
mod upgrade_review;
mod upgrade_run;

use super::context::StepContext;
use super::step_data::{FinishView, StepData};
use super::work::{StepFuture, StepWork};
use crate::wizard::{Choices, Step};

pub struct Builtin;

impl StepWork for Builtin {
    fn inputs(&self, step: Step, choices: &Choices) -> String {
        inputs::fingerprint_of(step, choices)
    }

    fn run(&self, step: Step, ctx: StepContext) -> StepFuture {
        Box::pin(async move {
            match step {
                Step::EnvironmentChecks => checks::run(ctx).await,
                Step::Artifacts => artifacts::run(ctx).await,
                Step::RegistryLogin => registry::run(ctx).await,
                Step::ImagePush => push::run(ctx).await,
                Step::PlaceholderMapping => mapping::run(ctx).await,
                Step::GatewayType => gateway::run(ctx).await,
                Step::BundlePreview => preview::run(ctx).await,
                Step::JujuDeploy => deploy::run(ctx).await,
                Step::GatherSource => gather::source(ctx).await,
                Step::GatherCharms => gather::charms(ctx).await,
                Step::GatherImages => gather::images(ctx).await,
                Step::GatherPull => gather::pull(ctx).await,
                Step::GatherWrite => gather::write(ctx).await,
                Step::GatherDone => gather::done(ctx).await,
                Step::UpgradeModel => standing_model::run(ctx).await,
                Step::UpgradePlan => upgrade_review::run(ctx).await,
                Step::UpgradeBackups => backups::run(ctx).await,
                Step::UpgradeRun => upgrade_run::run(ctx).await,
                Step::UpgradeDone => {
                    let view = upgrade_finish_view(&ctx);
                    match &view.dry_run_plan {
                        Some(plan) => {
                            ctx.phase(format!("dry run: nothing was changed; the plan is {plan}"))
                        }
                        None => ctx.phase("the upgrade is complete"),
                    }
                    ctx.publish(StepData::Finish(view));
                    Ok(())
                }
                Step::Done => {
                    let view = finish_view(&ctx);
                    match &view.dry_run_plan {
                        Some(plan) => {
                            ctx.phase(format!("dry run: nothing was deployed; the plan is {plan}"))
                        }
                        None => ctx.phase("the install is complete"),
                    }
                    ctx.publish(StepData::Finish(view));
                    Ok(())
                }
            }
        })
    }
}

/// After an upgrade: where its record, plan and backups are.
fn upgrade_finish_view(ctx: &StepContext) -> FinishView {
    use crate::engine::outputs::{StepOutput, UpgradeBackups, UpgradedModel};
    let dir = ctx.session_dir();
    let mut next_steps = vec![
        format!(
            "The upgraded model's record: {} (the next upgrade starts from it)",
            dir.join(UpgradedModel::FILE).display()
        ),
        format!(
            "The plan with each application's way back: {}",
            dir.join(planned_upgrade::UPGRADE_PLAN_FILE).display()
        ),
    ];
    if let Ok(backups) = ctx.output::<UpgradeBackups>() {
        for f in &backups.files {
            next_steps.push(format!("Backup of {}: {}", f.what, f.path.display()));
        }
    }
    next_steps.push(
        "Keep the installed release's images in the registry until the upgrade is accepted: \
         the way back pulls them"
            .into(),
    );
    let dry_run_plan = ctx.input::<inputs::DeployInput>().dry_run.then(|| {
        dir.join(planned_upgrade::UPGRADE_PLAN_FILE)
            .display()
            .to_string()
    });
    FinishView {
        dashboard: None,
        next_steps,
        dry_run_plan,
    }
}

/// What the operator does next. The dashboard address comes from the deploy step once it
/// can read the cluster; until then the way to find it is given.
fn finish_view(ctx: &StepContext) -> FinishView {
    let written = match ctx.output::<crate::engine::outputs::BundleEdits>() {
        Ok(edits) => edits.bundle.map(|p| p.display().to_string()),
        Err(_) => None,
    };
    let mut next_steps = Vec::new();
    if let Some(bundle) = written {
        next_steps.push(format!("Edited bundle: {bundle}"));
    }
    next_steps.push(
        "Find the dashboard: kubectl -n kubeflow get svc istio-ingressgateway-workload".into(),
    );
    next_steps.push(
        "Set the login: juju config dex-auth static-username=<user> static-password=<password>"
            .into(),
    );
    // Not known yet (a dry run, or the gateway had no address): the way to find it is given.
    let dashboard = match ctx.output::<crate::engine::outputs::Dashboard>() {
        Ok(d) => Some(d.url),
        Err(_) => None,
    };
    // A skipped Juju step deployed nothing either, but by hand: that is not a dry run.
    let deployed_here =
        ctx.with_state(|s| matches!(s.status(Step::JujuDeploy), crate::wizard::StepStatus::Done));
    let dry_run_plan = (ctx.input::<inputs::DeployInput>().dry_run && deployed_here).then(|| {
        ctx.session_dir()
            .join(deploy::DEPLOY_PLAN_FILE)
            .display()
            .to_string()
    });
    FinishView {
        dashboard,
        next_steps,
        dry_run_plan,
    }
}
