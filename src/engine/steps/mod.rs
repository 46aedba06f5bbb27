//! The product's step work. Each step reads its choices from the session and reports through
//! its `StepContext`; what a step depends on is declared in `inputs` so that a changed archive,
//! bundle or choice invalidates it.

pub mod artifacts;
pub mod blocking;
mod bundle_plan;
pub mod checks;
pub mod choice_paths;
pub mod deploy;
pub mod gateway;
pub mod gather;
mod image_presence;
mod library_alias;
pub mod mapping;
pub mod open_uploads;
pub mod preview;
pub mod push;
mod push_ledger;
pub mod registry;
pub mod registry_client;
pub mod release_bundle;
pub mod release_choice;
pub mod separate;
mod stream_push;

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Serialize;

use super::context::StepContext;
use super::fingerprint::{self, Watched};
use super::step_data::{FinishView, StepData};
use super::work::{StepFuture, StepWork};
use crate::wizard::state::{GatewayServiceType, GatherChoice, RegistryChoice};
use crate::wizard::{Choices, ItemKind, Step};

pub struct Builtin;

/// What the registry steps read: the whole registry choice (every field, present and future)
/// and the content of every file it names.
#[derive(Serialize)]
struct RegistryInput<'a> {
    registry: &'a Option<RegistryChoice>,
    ca_file: Option<Watched>,
    certs_dir: Option<Watched>,
    client_cert: Option<Watched>,
    client_key: Option<Watched>,
}

impl<'a> RegistryInput<'a> {
    fn of(choices: &'a Choices) -> Self {
        let r = choices.registry.as_ref();
        let watched = |f: fn(&RegistryChoice) -> Option<&PathBuf>| {
            Watched::of(r.and_then(f).map(PathBuf::as_path))
        };
        RegistryInput {
            registry: &choices.registry,
            ca_file: watched(|r| r.ca_file.as_ref()),
            certs_dir: watched(|r| r.certs_dir.as_ref()),
            client_cert: watched(|r| r.client_cert.as_ref()),
            client_key: watched(|r| r.client_key.as_ref()),
        }
    }
}

/// What the environment checks read of the registry: the address and the TLS settings of an
/// anonymous preflight (credentials are the login step's business).
#[derive(Serialize)]
struct RegistryReachInput<'a> {
    registry_target: Option<&'a str>,
    insecure: bool,
    plain_http: bool,
    ca_file: Option<Watched>,
    certs_dir: Option<Watched>,
    client_cert: Option<Watched>,
    client_key: Option<Watched>,
}

impl<'a> RegistryReachInput<'a> {
    fn of(choices: &'a Choices) -> Self {
        let r = choices.registry.as_ref();
        RegistryReachInput {
            registry_target: r.map(|r| r.target.as_str()),
            insecure: r.is_some_and(|r| r.insecure),
            plain_http: r.is_some_and(|r| r.plain_http),
            ca_file: Watched::of(r.and_then(|r| r.ca_file.as_deref())),
            certs_dir: Watched::of(r.and_then(|r| r.certs_dir.as_deref())),
            client_cert: Watched::of(r.and_then(|r| r.client_cert.as_deref())),
            client_key: Watched::of(r.and_then(|r| r.client_key.as_deref())),
        }
    }
}

#[derive(Serialize)]
struct ArtifactsInput<'a> {
    images_archive: Option<Watched>,
    charms_archive: Option<Watched>,
    retagged_images: Option<Watched>,
    work_dir: &'a Option<PathBuf>,
    one_image_at_a_time: bool,
    /// `ckf-release.lock.json` beside `images.tar.gz`, which the step verifies the archives
    /// against. Absent from the fingerprint while there is none, so sessions made before it
    /// was read keep theirs; one that appears or changes runs the step again.
    #[serde(skip_serializing_if = "Option::is_none")]
    lock_file: Option<Watched>,
}

impl<'a> ArtifactsInput<'a> {
    fn of(choices: &'a Choices) -> Self {
        let lock = choices
            .images_archive
            .as_deref()
            .map(crate::gather::lock::beside)
            .filter(|p| p.exists());
        ArtifactsInput {
            images_archive: Watched::of(choices.images_archive.as_deref()),
            charms_archive: Watched::of(choices.charms_archive.as_deref()),
            retagged_images: Watched::of(choices.retagged_images.as_deref()),
            work_dir: &choices.work_dir,
            one_image_at_a_time: choices.one_image_at_a_time,
            lock_file: Watched::of(lock.as_deref()),
        }
    }
}

#[derive(Serialize)]
struct BundleInput<'a> {
    bundle: Option<Watched>,
    placeholder_registry: &'a Option<String>,
    mapping_overrides: &'a BTreeMap<String, String>,
    pin_digests: bool,
    bundle_output: &'a Option<PathBuf>,
    separate_plan: &'a Option<String>,
    ckf_release: &'a Option<crate::ckf_release::CkfRelease>,
    /// References left as written, with their reasons (`ref:<reference>` skips).
    reference_skips: Vec<(&'a str, &'a String)>,
}

impl<'a> BundleInput<'a> {
    fn of(choices: &'a Choices) -> Self {
        BundleInput {
            bundle: Watched::of(choices.bundle.as_deref()),
            placeholder_registry: &choices.placeholder_registry,
            mapping_overrides: &choices.mapping_overrides,
            pin_digests: choices.pin_digests,
            bundle_output: &choices.bundle_output,
            separate_plan: &choices.separate_plan,
            ckf_release: &choices.ckf_release,
            reference_skips: ItemKind::Reference.skips(choices).collect(),
        }
    }
}

/// Every step's input value: the fields each step reads, flattened into one fingerprint.
#[derive(Serialize)]
#[serde(untagged)]
enum StepInput<'a> {
    Checks {
        #[serde(flatten)]
        registry: RegistryReachInput<'a>,
        model: &'a Option<String>,
        ckf_release: &'a Option<crate::ckf_release::CkfRelease>,
        containerd_certs_dir: &'a Option<PathBuf>,
        write_containerd_trust: bool,
        #[serde(skip_serializing_if = "Option::is_none")]
        registry_mirrors: Option<bool>,
        check_skips: BTreeMap<&'a String, &'a String>,
    },
    Artifacts(ArtifactsInput<'a>),
    Registry(RegistryInput<'a>),
    Push {
        #[serde(flatten)]
        artifacts: ArtifactsInput<'a>,
        #[serde(flatten)]
        registry: RegistryInput<'a>,
    },
    Mapping {
        #[serde(flatten)]
        bundle: BundleInput<'a>,
        registry_target: Option<&'a str>,
    },
    Gateway {
        #[serde(flatten)]
        bundle: BundleInput<'a>,
        gateway: &'a Option<GatewayServiceType>,
    },
    Deploy {
        #[serde(flatten)]
        bundle: BundleInput<'a>,
        model: &'a Option<String>,
        dry_run: bool,
    },
    /// The connected side: the whole gather choice and the files it names.
    Gather {
        gather: &'a Option<GatherChoice>,
        bundle: Option<Watched>,
        charms_dir: Option<Watched>,
        image_lists: Vec<Watched>,
    },
    Nothing {},
}

impl<'a> StepInput<'a> {
    fn of(step: Step, choices: &'a Choices) -> Self {
        match step {
            Step::EnvironmentChecks => StepInput::Checks {
                registry: RegistryReachInput::of(choices),
                model: &choices.model,
                ckf_release: &choices.ckf_release,
                containerd_certs_dir: &choices.containerd_certs_dir,
                write_containerd_trust: choices.write_containerd_trust,
                registry_mirrors: choices.registry_mirrors,
                // Keyed by the whole skip key, as saved sessions' fingerprints were made.
                check_skips: choices
                    .skips
                    .iter()
                    .filter(|(k, _)| ItemKind::Check.id_in(k).is_some())
                    .collect(),
            },
            Step::Artifacts => StepInput::Artifacts(ArtifactsInput::of(choices)),
            Step::RegistryLogin => StepInput::Registry(RegistryInput::of(choices)),
            Step::ImagePush => StepInput::Push {
                artifacts: ArtifactsInput::of(choices),
                registry: RegistryInput::of(choices),
            },
            Step::PlaceholderMapping => StepInput::Mapping {
                bundle: BundleInput::of(choices),
                registry_target: choices.registry.as_ref().map(|r| r.target.as_str()),
            },
            Step::GatewayType | Step::BundlePreview => StepInput::Gateway {
                bundle: BundleInput::of(choices),
                gateway: &choices.gateway,
            },
            Step::JujuDeploy => StepInput::Deploy {
                bundle: BundleInput::of(choices),
                model: &choices.model,
                dry_run: choices.dry_run,
            },
            Step::Done | Step::GatherDone => StepInput::Nothing {},
            Step::GatherSource
            | Step::GatherCharms
            | Step::GatherImages
            | Step::GatherPull
            | Step::GatherWrite => {
                let g = choices.gather.as_ref();
                StepInput::Gather {
                    gather: &choices.gather,
                    bundle: Watched::of(g.and_then(|g| g.bundle.as_deref())),
                    charms_dir: Watched::of(g.and_then(|g| g.charms_dir.as_deref())),
                    image_lists: g
                        .map(|g| g.image_lists.iter().map(|p| Watched(p.clone())).collect())
                        .unwrap_or_default(),
                }
            }
        }
    }
}

impl StepWork for Builtin {
    fn inputs(&self, step: Step, choices: &Choices) -> String {
        fingerprint::of(&StepInput::of(step, choices))
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
    let dry_run_plan = (ctx.choices().dry_run && deployed_here).then(|| {
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
