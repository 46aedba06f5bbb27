//! The product's step work. Each step reads its choices from the session and reports through
//! its `StepContext`; what a step depends on is declared in `inputs` so that a changed archive,
//! bundle or choice invalidates it.

pub mod artifacts;
mod bundle_plan;
pub mod checks;
mod common;
pub mod deploy;
pub mod gateway;
pub mod mapping;
pub mod preview;
pub mod push;
pub mod push_report;
pub mod registry;
pub mod separate;

use std::path::Path;

use super::context::StepContext;
use super::fingerprint::{self, InputSet};
use super::step_data::{FinishView, StepData};
use super::work::{StepFuture, StepWork};
use crate::wizard::{Choices, Step};

pub struct Builtin;

fn path_input(set: InputSet, name: &str, path: Option<&Path>) -> InputSet {
    match path {
        Some(p) => set.with(name, fingerprint::file(p)),
        None => set.with(name, "unset"),
    }
}

fn registry_input(set: InputSet, choices: &Choices) -> InputSet {
    let registry = choices
        .registry
        .as_ref()
        .map(|r| {
            format!(
                "{}|{}|{}|{}|{}",
                r.target,
                r.username.as_deref().unwrap_or(""),
                r.insecure,
                r.plain_http,
                r.no_layer_compression
            )
        })
        .unwrap_or_default();
    let ca = choices.registry.as_ref().and_then(|r| r.ca_file.as_deref());
    let set = set.with("registry", fingerprint::value(&registry));
    match ca {
        Some(ca) => set.with("registry CA file", fingerprint::file(ca)),
        None => set,
    }
}

fn artifacts_input(set: InputSet, choices: &Choices) -> InputSet {
    let set = path_input(set, "images archive", choices.images_archive.as_deref());
    let set = path_input(set, "charms archive", choices.charms_archive.as_deref());
    let work = choices
        .work_dir
        .as_deref()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    set.with(
        "work directory",
        fingerprint::value(&format!("{work}|{}", choices.one_image_at_a_time)),
    )
}

fn bundle_input(set: InputSet, choices: &Choices) -> InputSet {
    let set = path_input(set, "bundle", choices.bundle.as_deref());
    let mapping = format!(
        "{:?}|{:?}|{}|{:?}|{:?}|{:?}",
        choices.placeholder_registry,
        choices.mapping_overrides,
        choices.pin_digests,
        choices.bundle_output,
        choices.separate_plan,
        choices.ckf_release
    );
    set.with("placeholder mapping choices", fingerprint::value(&mapping))
}

impl StepWork for Builtin {
    fn inputs(&self, step: Step, choices: &Choices) -> String {
        let set = InputSet::new();
        let set = match step {
            Step::EnvironmentChecks => registry_input(set, choices).with(
                "cluster choices",
                fingerprint::value(&format!(
                    "{:?}|{:?}|{:?}|{}|{:?}",
                    choices.model,
                    choices.ckf_release,
                    choices.containerd_certs_dir,
                    choices.write_containerd_trust,
                    choices
                        .skips
                        .iter()
                        .filter(|(k, _)| k.starts_with("check:"))
                        .collect::<Vec<_>>()
                )),
            ),
            Step::Artifacts => artifacts_input(set, choices),
            Step::RegistryLogin => registry_input(set, choices),
            Step::ImagePush => registry_input(artifacts_input(set, choices), choices),
            Step::PlaceholderMapping => registry_input(bundle_input(set, choices), choices),
            Step::GatewayType => bundle_input(set, choices).with(
                "gateway service type",
                fingerprint::value(&format!("{:?}", choices.gateway)),
            ),
            Step::BundlePreview => bundle_input(set, choices).with(
                "gateway service type",
                fingerprint::value(&format!("{:?}", choices.gateway)),
            ),
            Step::JujuDeploy => bundle_input(set, choices).with(
                "deploy choices",
                fingerprint::value(&format!(
                    "{:?}|{}|{:?}|{:?}",
                    choices.model, choices.dry_run, choices.separate_plan, choices.ckf_release
                )),
            ),
            Step::Done => set,
        };
        set.encode()
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
                Step::Done => {
                    ctx.publish(StepData::Finish(finish_view(&ctx)));
                    ctx.phase("the install is complete");
                    Ok(())
                }
            }
        })
    }
}

/// What the operator does next. The dashboard address comes from the deploy step once it
/// can read the cluster; until then the way to find it is given.
fn finish_view(ctx: &StepContext) -> FinishView {
    let written = preview::written(ctx, "bundle").map(|p| p.display().to_string());
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
    let dashboard = ctx.with_state(|s| {
        s.record(Step::JujuDeploy)
            .ledger
            .get(deploy::DASHBOARD_UNIT)
            .and_then(|v| v.get("url"))
            .and_then(|v| v.as_str())
            .map(str::to_string)
    });
    FinishView {
        dashboard,
        next_steps,
    }
}
