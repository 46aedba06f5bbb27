//! Juju setup and deploy: the whole plan shown before it runs (the Juju setup the cluster
//! lacks, bundle, separately deployed charms with their config files, relations), confirmed
//! once, then each command run by argv with its output streamed and its outcome recorded,
//! resumed from the first unfinished command, and the model watched until it settles.

use std::time::Duration;

use futures_util::future::BoxFuture;
use serde_json::json;

use super::blocking::runner;
use super::command_ledger::{self, SessionCommandLedger, recorded_outcome, view};
use super::forms::{OpenedBundle, PlannedInstall};
use super::inputs::{
    CommandSkipsInput, DeployConsentInput, DeployInput, RegistryInput, ReleaseInput,
};
use super::installed_record::{RecordContext, installed_model};
use super::registry_client::{registry_address, registry_address_and_prefix};
use super::release_choice::release;
use crate::artifacts::Inventory;
use crate::ckf_release::CkfRelease;
use crate::cluster::checks::{self as cluster_checks, Check, CheckStatus};
use crate::cluster::deploy::{self, ActionOutcome, CommandLedger, DeployError, ImageLookup};
use crate::cluster::juju_setup::{self, ClusterLacks, ImageRepo, JujuImage, SetupError};
use crate::cluster::plan::{ActionKind, AppDeploy, DeployPlan};
use crate::cluster::pod_images;
use crate::cluster::runner::Runner;
use crate::cluster::watch::{self, WatchOptions, WatchOutcome};
use crate::cluster::{Cmd, finish};
use crate::engine::context::StepContext;
use crate::engine::events::{Answer, InputKind, InputRequest, Level};
use crate::engine::outputs::{Dashboard, InstalledModel, MappingOutput, StepOutput};
use crate::engine::step_data::{AppStatusRow, StepData};
use crate::engine::units::Summary;
use crate::engine::work::StepError;
use crate::oci::MediaType;
use crate::registry::RegistryClient;
use crate::version::Version;
use crate::wizard::ItemKind;

/// The inventory, or none when the Artifacts step was skipped (the caller says what it does
/// without it).
fn inventory(ctx: &StepContext) -> Result<Option<Inventory>, StepError> {
    Ok(ctx.output_unless_skipped::<Inventory>()?)
}

/// Every base the charms declare (Juju's `charm-base` image is pulled for each).
fn charm_bases(ctx: &StepContext) -> Result<Vec<String>, StepError> {
    Ok(inventory(ctx)?.map(|i| i.charm_bases()).unwrap_or_default())
}

async fn juju_version(runner: &Runner) -> Result<Version, StepError> {
    let out = runner.capture(&Cmd::juju(["version"])).await.map_err(|e| {
        StepError::failed(format!("cannot run juju: {e}. Install the Juju client."))
    })?;
    Version::parse(&out.stdout).ok_or_else(|| {
        StepError::failed(format!(
            "`juju version` said {:?}: not a version",
            out.stdout.trim()
        ))
    })
}

const CLOUD: &str = "ckf-k8s";
const CONTROLLER: &str = "ckf";

/// What the cluster lacks for the deploy, found by read-only checks (nothing is changed), with
/// the controller check when there is no controller, for the refusal's message. A dry run does
/// not look, as before: it may run where there is no cluster.
async fn cluster_lacks(
    ctx: &StepContext,
    runner: &Runner,
    release: crate::ckf_release::CkfRelease,
    version: Version,
    model: &str,
) -> (ClusterLacks, Option<Check>) {
    if ctx.input::<DeployInput>().dry_run {
        ctx.log(
            Level::Warn,
            format!(
                "dry run: the controller and the {model} model were not looked up, so this plan \
                 cannot show whether `juju add-k8s`, `juju bootstrap` and `juju add-model` are \
                 needed; a real run puts them first when the cluster lacks them"
            ),
        );
        return (ClusterLacks::Nothing, None);
    }
    let (controller, info) = cluster_checks::check_controller(runner, release, Some(version)).await;
    if info.is_none() {
        return (ClusterLacks::Controller, Some(controller));
    }
    if cluster_checks::check_model(runner, model).await.status != CheckStatus::Pass {
        return (ClusterLacks::Model, None);
    }
    (ClusterLacks::Nothing, None)
}

/// The Juju setup the cluster lacks, as the first actions of the plan. The bootstrap's
/// `caas-image-repo` names the chosen registry and, from the in-memory password, its
/// credentials; `Cmd` hides the password wherever the plan is shown, written or logged.
async fn setup_actions(
    ctx: &StepContext,
    version: Version,
    model: &str,
    lacks: ClusterLacks,
) -> Result<Vec<crate::cluster::plan::PlanAction>, StepError> {
    if lacks == ClusterLacks::Nothing {
        return Ok(Vec::new());
    }
    let registry = ctx.input::<RegistryInput>().registry.unwrap_or_default();
    let (address, prefix) = registry_address_and_prefix(&registry.target);
    let mut images = Vec::new();
    let mut repo = ImageRepo::new(&address, &prefix);
    if lacks == ClusterLacks::Controller {
        if address.is_empty() {
            // Shown as a placeholder; the plan is refused before it runs (`refuse_unready`).
            repo = ImageRepo::new("<registry>", &prefix);
        } else {
            repo = super::registry_client::with_credentials(ctx, repo, &registry).await?;
        }
        images = juju_setup::juju_images(&repo, version, &charm_bases(ctx)?);
    }
    Ok(juju_setup::setup_actions(
        lacks, CLOUD, CONTROLLER, model, &repo, images,
    ))
}

/// The images of the plan's bootstrap when it is still to run (not done, not skipped).
fn pending_bootstrap<'p>(ctx: &StepContext, plan: &'p DeployPlan) -> Option<&'p [JujuImage]> {
    let ledger = SessionCommandLedger { ctx: ctx.clone() };
    let skips = ctx.input::<CommandSkipsInput>();
    plan.steps.iter().find_map(|s| match &s.kind {
        ActionKind::Bootstrap { images, .. }
            if !ledger.is_done(&s.id) && skips.skipped(&s.id).is_none() =>
        {
            Some(images.as_slice())
        }
        _ => None,
    })
}

/// "Juju controller: <why there is none>", the opening of every bootstrap refusal.
fn no_controller(controller: Option<&Check>) -> String {
    match controller {
        Some(c) => format!("{}: {}", c.title, c.evidence),
        None => "There is no Juju controller".to_owned(),
    }
}

/// A bootstrap that cannot succeed is refused before the operator is asked and before anything
/// runs: without a registry there is nowhere to pull Juju's images from, and a missing image
/// makes it hang until "timed out waiting for controller pod" (canonical/microk8s#3956).
async fn refuse_unready(
    ctx: &StepContext,
    controller: Option<&Check>,
    images: &[JujuImage],
) -> Result<RegistryImages, StepError> {
    let target = ctx
        .input::<RegistryInput>()
        .registry
        .map(|r| r.target)
        .unwrap_or_default();
    if registry_address(&target).is_empty() {
        return Err(StepError::failed(format!(
            "{}\nThe bootstrap pulls Juju's own images from the private registry, and none is \
             chosen ([registry] target): choose it and retry, or bootstrap the controller with \
             the commands shown, then retry. Nothing was run.",
            no_controller(controller)
        )));
    }
    let lookup = RegistryImages(Some(super::registry_client::client(ctx).await?));
    let missing = juju_setup::missing_images(images, |path, tag| lookup.has_image(path, tag)).await;
    if !missing.is_empty() {
        return Err(StepError::failed(format!(
            "{}\nNothing was run. Retry once they are there.",
            SetupError::MissingImages(missing)
        )));
    }
    Ok(lookup)
}

/// Why a headless run without `[cluster] bootstrap = true` does not bootstrap.
fn no_bootstrap_consent(controller: Option<&Check>, consent: &DeployConsentInput) -> StepError {
    let run = if consent.confirm_deploy {
        ""
    } else {
        ", with [deploy] run = true"
    };
    StepError::failed(format!(
        "{}\nBootstrap the controller with the commands shown (Juju's own images must be in the \
         registry first), then retry; or let ckf-airgap do it as the first commands of the plan \
         ([cluster] bootstrap = true{run}). Nothing was run.",
        no_controller(controller)
    ))
}

/// The chosen registry, asked by the deploy loop just before the bootstrap runs.
struct RegistryImages(Option<RegistryClient>);

impl ImageLookup for RegistryImages {
    fn has_image(&self, path: String, tag: String) -> BoxFuture<'static, bool> {
        match &self.0 {
            Some(client) => Box::pin(has_image(client.clone(), path, tag)),
            // Without a client only when no bootstrap is pending, so nothing asks; a bootstrap
            // that did would find nothing and not run.
            None => Box::pin(async { false }),
        }
    }
}

/// The plan as a file in the session, written at every run (dry or not).
pub const DEPLOY_PLAN_FILE: &str = "deploy-plan.json";

pub async fn run(ctx: StepContext) -> Result<(), StepError> {
    let input = ctx.input::<DeployInput>();
    let consent = ctx.input::<DeployConsentInput>();
    let runner = runner();
    let model = input.model_name();
    let release = release(&ctx.input::<ReleaseInput>())?;
    let version = match juju_version(&runner).await {
        Ok(v) => v,
        // A dry run only shows the plan: without a Juju client it shows Juju 3's commands.
        Err(_) if input.dry_run => {
            ctx.log(
                Level::Warn,
                "no juju client here: the dry run shows Juju 3 commands",
            );
            Version::new(3, 6, 0)
        }
        Err(e) => return Err(e),
    };

    // The plan is whole before anything changes in the cluster: the setup it lacks comes first,
    // shown and confirmed with the deploy, so a plan that cannot run is refused untouched.
    let (lacks, controller) = cluster_lacks(&ctx, &runner, release, version, &model).await;
    let form = OpenedBundle::decided(&ctx).await?;
    let PlannedInstall { mut plan, apps } = form.deploy_plan(&ctx, version, &model)?;
    plan.prepend(setup_actions(&ctx, version, &model, lacks).await?);
    let plan_file = ctx.session_dir().join(DEPLOY_PLAN_FILE);
    let bytes = serde_json::to_vec_pretty(&plan.to_json()).map_err(StepError::failed)?;
    crate::durable::write_file(&plan_file, &bytes)
        .map_err(|e| StepError::failed(format!("cannot write {}: {e}", plan_file.display())))?;
    ctx.log(
        Level::Info,
        format!("the deploy plan is written to {}", plan_file.display()),
    );
    for warning in &plan.warnings {
        ctx.log(Level::Warn, warning.clone());
    }
    check_juju_images(&ctx, version).await;
    ctx.document(
        format!("Deploy plan: {} commands", plan.steps.len()),
        plan.preview(),
    );
    ctx.publish(StepData::Deploy(view(&ctx, &plan, None, input.dry_run)));
    prove_images_present(&ctx).await?;

    if input.dry_run {
        ctx.log(
            Level::Warn,
            "dry run: the plan above is what a real run executes; nothing was run",
        );
        return ctx.record(&Summary::DryRun, &json!({ "commands": plan.steps.len() }));
    }
    let bootstrap = pending_bootstrap(&ctx, &plan);
    // Headless, the plan's confirmation cannot be asked for, and `[deploy] run` alone never
    // consented to a bootstrap: that takes `[cluster] bootstrap`.
    if bootstrap.is_some() && !consent.bootstrap && !ctx.is_interactive() {
        return Err(no_bootstrap_consent(controller.as_ref(), &consent));
    }
    let lookup = match bootstrap {
        Some(images) => refuse_unready(&ctx, controller.as_ref(), images).await?,
        None => RegistryImages(None),
    };
    let all_done = plan
        .steps
        .iter()
        .all(|s| SessionCommandLedger { ctx: ctx.clone() }.is_done(&s.id));
    let consented = consent.confirm_deploy && (bootstrap.is_none() || consent.bootstrap);
    if !all_done && !consented {
        let commands = match plan.steps.len() {
            1 => "1 juju command".to_string(),
            n => format!("{n} juju commands"),
        };
        let (prompt, answers_key) = match bootstrap {
            Some(_) => (
                format!(
                    "There is no Juju controller. Bootstrap one on MicroK8s and run {commands} \
                     now, as shown?"
                ),
                if consent.bootstrap {
                    "deploy.run"
                } else {
                    "cluster.bootstrap"
                },
            ),
            None => (format!("Run {commands} now?"), "deploy.run"),
        };
        let answer = ctx
            .ask(InputRequest {
                step: ctx.step(),
                prompt,
                kind: InputKind::Confirm,
                answers_key,
            })
            .await?;
        if answer != Answer::Confirm(true) {
            return Err(StepError::failed(
                "the deploy was not confirmed; nothing was run. Retry to see the plan again.",
            ));
        }
    }

    let mut ledger = SessionCommandLedger { ctx: ctx.clone() };
    let skips = ctx.input::<CommandSkipsInput>();
    for step in &plan.steps {
        if let Some(reason) = skips.skipped(&step.id)
            && !ledger.is_done(&step.id)
        {
            ledger
                .record(
                    &step.id,
                    &ActionOutcome::Skipped {
                        reason: reason.clone(),
                    },
                )
                .map_err(StepError::failed)?;
        }
    }
    let mut on_event = command_ledger::on_event(&ctx, &plan);
    let executed = deploy::execute(&runner, &plan, &mut ledger, &lookup, &mut on_event).await;
    // Written whatever the outcome: what ran is in the model, and this record is the only
    // account of which charms and images that is.
    write_installed_record(&ctx, &plan, &apps, &form, version, release)?;
    match executed {
        Ok(_) => {}
        Err(DeployError::StepFailed {
            step_id,
            error,
            known,
        }) => {
            ctx.publish(StepData::Deploy(view(&ctx, &plan, None, false)));
            let mut text = format!("{step_id} failed: {error}");
            for k in &known {
                text.push_str(&format!("\n  {}", k.advice(&model)));
            }
            text.push_str(&format!(
                "\nRetry runs it again (finished commands are not repeated), or skip it with a \
                 reason ([skip] \"{}\" = \"...\").",
                ItemKind::Command.skip_key(&step_id)
            ));
            return Err(StepError::failed(text));
        }
        Err(e @ DeployError::NotReady { .. }) => {
            ctx.publish(StepData::Deploy(view(&ctx, &plan, None, false)));
            return Err(StepError::failed(format!(
                "{e}\nRetry once they are there; finished commands are not repeated."
            )));
        }
        Err(e) => {
            return Err(StepError::failed(format!(
                "{e}\nRetry continues from the first unfinished command; finished ones are not repeated."
            )));
        }
    }
    ctx.publish(StepData::Deploy(view(&ctx, &plan, None, false)));

    settle(&ctx, &runner, &plan, &model).await?;
    scan_pod_images(&ctx, &form, &runner, &model).await?;
    match finish::dashboard(&runner, &model).await {
        Ok(d) => {
            ctx.write_output(&Dashboard { url: d.url.clone() })?;
            ctx.record(&Summary::Dashboard, &json!({ "url": d.url }))
        }
        Err(e) => {
            ctx.log(
                Level::Warn,
                format!("the dashboard address is not known yet: {e}"),
            );
            Ok(())
        }
    }
}

/// The record of what the plan put in the model (`deployed-state.json`), from the commands'
/// recorded outcomes.
fn write_installed_record(
    ctx: &StepContext,
    plan: &DeployPlan,
    apps: &[AppDeploy],
    form: &OpenedBundle,
    juju: Version,
    release: CkfRelease,
) -> Result<(), StepError> {
    let inventory = inventory(ctx)?;
    let record = installed_model(
        plan,
        apps,
        RecordContext {
            juju,
            ckf_release: Some(release),
            bundle: form.bundle_path().to_path_buf(),
            registry: ctx
                .input::<RegistryInput>()
                .registry
                .map(|r| r.target.clone()),
            inventory: inventory.as_ref(),
        },
        |id| recorded_outcome(ctx, id),
    );
    ctx.write_output(&record)?;
    ctx.log(
        Level::Info,
        format!(
            "what was installed ({} applications) is recorded in {}",
            record.applications.len(),
            ctx.session_dir().join(InstalledModel::FILE).display()
        ),
    );
    Ok(())
}

/// Whether the registry holds `path:tag` (a manifest HEAD).
async fn has_image(client: RegistryClient, path: String, tag: String) -> bool {
    matches!(
        client
            .head_manifest(
                &path,
                &tag,
                &MediaType::accept(&[MediaType::DockerManifest, MediaType::OciManifest]),
            )
            .await,
        Ok(Some(_))
    )
}

/// Every image the plan makes the cluster pull (each resource and each image option, as the
/// mapping step mapped them) is looked up in the private registry before the first `juju`
/// command: one that is absent stops the step with the list, before anything is deployed.
async fn prove_images_present(ctx: &StepContext) -> Result<(), StepError> {
    let registry_input = ctx.input::<RegistryInput>();
    let Some(registry) = registry_input.registry.as_ref() else {
        ctx.log(
            Level::Warn,
            "no registry is chosen: the plan's images were not looked up before the deploy",
        );
        return Ok(());
    };
    let Some(mapping) = ctx.output_unless_skipped::<MappingOutput>()? else {
        ctx.log(
            Level::Warn,
            "the mapping step was skipped: the plan's images were not looked up before the deploy",
        );
        return Ok(());
    };
    let targets: std::collections::BTreeSet<String> = mapping
        .rows
        .iter()
        .filter(|r| !r.registry_namespace)
        .filter_map(|r| r.target.clone())
        .collect();
    if targets.is_empty() {
        return Ok(());
    }
    ctx.phase(format!(
        "looking up the plan's {} images in {}",
        targets.len(),
        registry.target
    ));
    let client = super::registry_client::client(ctx).await?;
    let absent = super::image_presence::absent_images(&client, targets.iter().cloned()).await;
    if absent.is_empty() {
        ctx.log(
            Level::Info,
            format!(
                "every one of the plan's {} images is in {}",
                targets.len(),
                registry.target
            ),
        );
        return Ok(());
    }
    let needed_by = |reference: &str| -> String {
        let who: Vec<String> = mapping
            .rows
            .iter()
            .filter(|r| r.target.as_deref() == Some(reference))
            .map(|r| match (&r.application, &r.site) {
                (Some(a), Some(s)) => format!("{a} {s}"),
                (Some(a), None) => a.clone(),
                _ => r.source.clone(),
            })
            .collect();
        who.join(", ")
    };
    let mut text = format!(
        "{} of the plan's {} images are not in the private registry; nothing was deployed:",
        absent.len(),
        targets.len()
    );
    for a in &absent {
        text.push_str(&format!(
            "\n  {} (for {}): {}",
            a.reference,
            needed_by(&a.reference),
            a.why
        ));
    }
    text.push_str(
        "\nPush them (go back to the push step, or push them by hand), or map each to an image \
         the registry holds ([mapping] in the answers file), then run this step again.",
    );
    Err(StepError::failed(text))
}

/// Juju's own images for this deployment (`jujud-operator`, `juju-db`, `charm-base` for every
/// base the charms declare), listed and looked up in the registry before anything is deployed:
/// a missing `charm-base` leaves every sidecar pod in `ImagePullBackOff`.
async fn check_juju_images(ctx: &StepContext, version: Version) {
    let Some(registry) = ctx.input::<RegistryInput>().registry else {
        return;
    };
    let (address, prefix) = registry_address_and_prefix(&registry.target);
    let repo = ImageRepo::new(&address, &prefix);
    let bases = match charm_bases(ctx) {
        Ok(b) => b,
        Err(e) => {
            ctx.log(
                Level::Warn,
                format!("Juju's images were not looked up: {e}"),
            );
            return;
        }
    };
    let images = juju_setup::juju_images(&repo, version, &bases);
    ctx.log(
        Level::Info,
        format!(
            "Juju's own images: {}",
            images
                .iter()
                .map(|i| format!("{address}/{i}"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    );
    let client = match super::registry_client::client(ctx).await {
        Ok(c) => c,
        Err(e) => {
            ctx.log(
                Level::Warn,
                format!("Juju's images were not looked up in the registry: {e}"),
            );
            return;
        }
    };
    let missing =
        juju_setup::missing_images(&images, |path, tag| has_image(client.clone(), path, tag)).await;
    for image in missing {
        ctx.log(
            Level::Warn,
            format!(
                "{address}/{image} is not in the registry: Juju pulls it for this deployment; push it \
                 (docker.io/jujusolutions/… on the connected side) before deploying"
            ),
        );
    }
}

/// After the model settles, every container image of every pod in its namespace must come from
/// the private registry; one that does not is named with the charm option that controls it.
async fn scan_pod_images(
    ctx: &StepContext,
    form: &OpenedBundle,
    runner: &Runner,
    model: &str,
) -> Result<(), StepError> {
    let Some(registry) = ctx
        .input::<RegistryInput>()
        .registry
        .as_ref()
        .map(|r| registry_address(&r.target).to_owned())
    else {
        return Ok(());
    };
    ctx.phase(format!(
        "checking that every pod in {model} pulls from {registry}"
    ));
    let images = match pod_images::list(runner, model).await {
        Ok(images) => images,
        Err(e) => {
            ctx.log(
                Level::Warn,
                format!("the pods' images could not be listed ({e}); check them with `kubectl get pods -n {model} -o json`"),
            );
            return Ok(());
        }
    };
    let foreign = pod_images::outside(&images, &registry);
    if foreign.is_empty() {
        ctx.log(
            Level::Info,
            format!(
                "all {} container images in {model} come from {registry}",
                images.len()
            ),
        );
        return Ok(());
    }
    // An image of the runtime table that nothing in the charm can point elsewhere is pulled
    // under its public name by design: a registry mirror serves it, which a pod spec cannot
    // show. It is said, not counted against the deploy.
    let (by_mirror, foreign): (Vec<_>, Vec<_>) = foreign
        .into_iter()
        .partition(|p| form.mirror_only(&p.image).is_some());
    for p in &by_mirror {
        ctx.log(
            Level::Warn,
            format!(
                "pod {} container {} pulls {} under its public name ({}): only a containerd \
                 registry mirror pointing at {registry} serves it here",
                p.pod,
                p.container,
                p.image,
                form.mirror_only(&p.image).unwrap_or_default()
            ),
        );
    }
    if foreign.is_empty() {
        return Ok(());
    }
    let mut text = format!(
        "{} container image(s) in {model} do not come from {registry}:",
        foreign.len()
    );
    for p in &foreign {
        text.push_str(&format!(
            "\n  pod {} container {}: {}",
            p.pod, p.container, p.image
        ));
        let controls = form.set_by(&p.image);
        if let Some(controls) = controls {
            text.push_str(&format!(
                "\n    set by {controls}: map it to the private registry"
            ));
        }
    }
    text.push_str(
        "\nThese pods need the internet. Point the options named above at the pushed images \
         (`juju config <application> <option>=...`), then retry to check again.",
    );
    Err(StepError::failed(text))
}

/// Watches the model until every application is active; the table is the step's screen.
async fn settle(
    ctx: &StepContext,
    runner: &Runner,
    plan: &DeployPlan,
    model: &str,
) -> Result<(), StepError> {
    let minutes = ctx.input::<DeployInput>().watch_minutes.unwrap_or(60);
    let options = WatchOptions {
        timeout: Duration::from_secs(minutes * 60),
        ..WatchOptions::new(model)
    };
    ctx.phase(format!(
        "waiting for every application to be active (up to {minutes} min)"
    ));
    let mut on_round = |round: &watch::WatchRound| {
        let mut v = view(ctx, plan, None, false);
        v.status = round
            .rows
            .iter()
            .map(|r| AppStatusRow {
                application: r.application.clone(),
                status: r.status.clone(),
                message: r.message.clone(),
            })
            .collect();
        v.diagnoses = round.findings.iter().map(|f| f.advice(model)).collect();
        ctx.publish(StepData::Deploy(v));
        let active = round.rows.iter().filter(|r| r.status == "active").count();
        ctx.progress(
            active as u64,
            Some(round.rows.len() as u64),
            crate::engine::Quantity::Items,
            None,
        );
    };
    match watch::watch(runner, &options, &mut on_round)
        .await
        .map_err(StepError::failed)?
    {
        WatchOutcome::AllActive(round) => {
            ctx.log(
                Level::Info,
                format!("all {} applications are active", round.rows.len()),
            );
            Ok(())
        }
        WatchOutcome::TimedOut(round) => {
            let mut text = format!(
                "the model did not settle within {minutes} min:\n{}",
                watch::render_table(&round.rows)
            );
            for f in &round.findings {
                text.push_str(&format!("\n{}", f.advice(model)));
            }
            text.push_str("\nRetry watches again (nothing is redeployed).");
            Err(StepError::failed(text))
        }
    }
}
