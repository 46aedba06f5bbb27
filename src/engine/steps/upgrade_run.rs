//! Run the upgrade: the plan the plan step showed, built again from the same outputs (the same
//! ids), confirmed once, each command a unit so a killed run resumes at the first unfinished
//! one, each application waited for until it settles. A failed application offers retry, a
//! skip with a reason, or its way back: the previous charm with the previous images and
//! options from the record of the install. The record of the upgraded model is written
//! whatever the outcome.

use std::collections::BTreeSet;

use super::blocking::runner;
use super::command_ledger::{SessionCommandLedger, on_event, recorded_outcome, view};
use super::inputs::{
    CommandSkipsInput, DeployInput, GatewayInput, RegistryInput, UpgradeConsentInput, WayBackInput,
};
use super::installed_record::{RecordContext, upgraded_model};
use super::planned_upgrade::{PlannedUpgrade, actions_by_application, planned};
use crate::artifacts::Inventory;
use crate::cluster::deploy::{self, ActionOutcome, CommandLedger, DeployError, ImageLookup};
use crate::cluster::plan::{ActionKind, DeployPlan, PlanAction};
use crate::cluster::upgrade_plan::action_application;
use crate::engine::context::StepContext;
use crate::engine::events::{Answer, InputKind, InputRequest, Level};
use crate::engine::outputs::{StepOutput, UpgradedModel};
use crate::engine::step_data::StepData;
use crate::engine::work::StepError;
use crate::wizard::ItemKind;

/// The upgrade runs no bootstrap, so nothing asks for Juju's images.
struct NoBootstrap;

impl ImageLookup for NoBootstrap {
    fn has_image(
        &self,
        _path: String,
        _tag: String,
    ) -> futures_util::future::BoxFuture<'static, bool> {
        Box::pin(async { false })
    }
}

fn skip(ledger: &mut SessionCommandLedger, id: &str, reason: &str) -> Result<(), StepError> {
    if ledger.is_done(id) {
        return Ok(());
    }
    ledger
        .record(
            id,
            &ActionOutcome::Skipped {
                reason: reason.to_owned(),
            },
        )
        .map_err(StepError::failed)
}

/// Runs `actions` as one plan with the step's ledger, streaming to the log and the screen.
async fn execute(
    ctx: &StepContext,
    model: &str,
    actions: &[PlanAction],
    shown: &DeployPlan,
) -> Result<(), DeployError> {
    let plan = DeployPlan {
        model: model.to_owned(),
        steps: actions.to_vec(),
        warnings: vec![],
    };
    let mut ledger = SessionCommandLedger { ctx: ctx.clone() };
    let mut on_event = on_event(ctx, shown);
    deploy::execute(&runner(), &plan, &mut ledger, &NoBootstrap, &mut on_event)
        .await
        .map(|_| ())
}

/// The plan as shown: the upgrade's commands, then the way back of every application taken
/// back.
fn shown_plan(planned: &PlannedUpgrade, taken_back: &BTreeSet<String>) -> DeployPlan {
    let mut steps = planned.plan.plan.steps.clone();
    for app in taken_back {
        if let Some(back) = planned.plan.way_back.get(app) {
            steps.extend(back.iter().cloned());
        }
    }
    DeployPlan {
        model: planned.plan.plan.model.clone(),
        steps,
        warnings: vec![],
    }
}

/// Takes `app` back: its way back runs, and its upgrade's commands not yet run are skipped.
async fn take_back(
    ctx: &StepContext,
    planned: &PlannedUpgrade,
    app: &str,
    shown: &DeployPlan,
) -> Result<(), StepError> {
    let Some(back) = planned.plan.way_back.get(app) else {
        return Err(StepError::failed(format!(
            "{app} has no way back (istio-pilot's charm does not downgrade, and an application \
             the upgrade deploys has nothing to go back to): retry it or skip it with a reason"
        )));
    };
    ctx.log(
        Level::Warn,
        format!("taking {app} back to the installed release, as the record of the install has it"),
    );
    let mut ledger = SessionCommandLedger { ctx: ctx.clone() };
    let reason = format!("{app} was taken back to the installed release");
    for id in actions_by_application(&planned.plan)
        .get(app)
        .into_iter()
        .flatten()
    {
        skip(&mut ledger, id, &reason)?;
    }
    execute(ctx, &planned.plan.plan.model, back, shown)
        .await
        .map_err(|e| {
            StepError::failed(format!(
                "the way back of {app} failed: {e}\nRetry runs it again from its first \
                 unfinished command."
            ))
        })
}

fn write_record(ctx: &StepContext, planned: &PlannedUpgrade) -> Result<(), StepError> {
    let inventory = ctx.output_unless_skipped::<Inventory>()?;
    let targets: Vec<_> = planned
        .targets
        .apps
        .iter()
        .map(|t| t.deploy.clone())
        .collect();
    let record = upgraded_model(
        &planned.standing.record,
        &planned.plan.plan,
        &targets,
        RecordContext {
            juju: planned.juju,
            ckf_release: planned.to,
            bundle: ctx
                .input::<super::inputs::ReleaseInput>()
                .bundle_path()
                .map(|p| p.to_path_buf())
                .unwrap_or_else(|| planned.standing.record.bundle.clone()),
            registry: ctx.input::<RegistryInput>().registry.map(|r| r.target),
            inventory: inventory.as_ref(),
        },
        |id| recorded_outcome(ctx, id),
    );
    ctx.write_output(&UpgradedModel(record))?;
    ctx.log(
        Level::Info,
        format!(
            "the upgraded model is recorded in {}; the next upgrade starts from it ([upgrade] \
             installed)",
            ctx.session_dir().join(UpgradedModel::FILE).display()
        ),
    );
    Ok(())
}

pub async fn run(ctx: StepContext) -> Result<(), StepError> {
    let gateway = ctx.input::<GatewayInput>().gateway;
    let planned = planned(&ctx, gateway).await?;
    if ctx.input::<DeployInput>().dry_run {
        let shown = shown_plan(&planned, &BTreeSet::new());
        ctx.publish(StepData::Deploy(view(&ctx, &shown, None, true)));
        ctx.phase(format!(
            "dry run: nothing was run; the plan is {}",
            ctx.session_dir()
                .join(super::planned_upgrade::UPGRADE_PLAN_FILE)
                .display()
        ));
        return Ok(());
    }
    let consent = ctx.input::<UpgradeConsentInput>();
    let model = planned.plan.plan.model.clone();
    let mut ledger = SessionCommandLedger { ctx: ctx.clone() };
    let all_done = planned
        .plan
        .plan
        .steps
        .iter()
        .all(|s| ledger.is_done(&s.id));
    if !all_done && !consent.run {
        let answer = ctx
            .ask(InputRequest {
                step: ctx.step(),
                prompt: format!(
                    "Run the upgrade now: {} commands, as the plan shows?",
                    planned.plan.plan.steps.len()
                ),
                kind: InputKind::Confirm,
                answers_key: "upgrade.run",
            })
            .await?;
        if answer != Answer::Confirm(true) {
            return Err(StepError::failed(
                "the upgrade was not confirmed; nothing was run. Retry to be asked again.",
            ));
        }
    }
    // What the target release drops is removed only with consent; kept, it is recorded so.
    let pending_removals: Vec<&String> = planned
        .plan
        .removals
        .iter()
        .filter(|app| !ledger.is_done(&format!("remove:{app}")))
        .collect();
    if !pending_removals.is_empty() {
        let names: Vec<&str> = pending_removals.iter().map(|s| s.as_str()).collect();
        let remove = consent.remove_dropped
            || (ctx.is_interactive()
                && ctx
                    .ask(InputRequest {
                        step: ctx.step(),
                        prompt: format!(
                            "The target release has no {}: remove them (their units and the \
                             storage they own go, and the way back does not bring them back)?",
                            names.join(", ")
                        ),
                        kind: InputKind::Confirm,
                        answers_key: "upgrade.remove_dropped",
                    })
                    .await?
                    == Answer::Confirm(true));
        if !remove {
            for app in &names {
                skip(
                    &mut ledger,
                    &format!("remove:{app}"),
                    "kept: its removal was not consented to ([upgrade] remove_dropped)",
                )?;
            }
        }
    }
    let skips = ctx.input::<CommandSkipsInput>();
    for step in &planned.plan.plan.steps {
        if let Some(reason) = skips.skipped(&step.id) {
            skip(&mut ledger, &step.id, reason)?;
        }
    }
    let mut taken_back: BTreeSet<String> =
        ctx.input::<WayBackInput>().way_back.into_iter().collect();
    for app in taken_back.clone() {
        let shown = shown_plan(&planned, &taken_back);
        take_back(&ctx, &planned, &app, &shown).await?;
    }
    loop {
        let shown = shown_plan(&planned, &taken_back);
        ctx.publish(StepData::Deploy(view(&ctx, &shown, None, false)));
        let executed = execute(&ctx, &model, &planned.plan.plan.steps, &shown).await;
        let failed = match executed {
            Ok(()) => break,
            Err(DeployError::StepFailed {
                step_id,
                error,
                known,
            }) => (step_id, error, known),
            Err(e) => {
                write_record(&ctx, &planned)?;
                return Err(StepError::failed(format!(
                    "{e}\nRetry continues from the first unfinished command; finished ones are \
                     not repeated."
                )));
            }
        };
        let (step_id, error, known) = failed;
        let app = planned
            .plan
            .plan
            .steps
            .iter()
            .find(|s| s.id == step_id)
            .and_then(action_application)
            .map(str::to_owned);
        let way_back = app
            .as_deref()
            .filter(|a| planned.plan.way_back.contains_key(*a));
        if let Some(app) = way_back
            && ctx.is_interactive()
        {
            let answer = ctx
                .ask(InputRequest {
                    step: ctx.step(),
                    prompt: format!("{step_id} failed: {error}. What now for {app}?"),
                    kind: InputKind::Choice(vec![
                        format!(
                            "Take {app} back to the installed release (its way back), then go on"
                        ),
                        "Stop here, to retry or skip it with a reason".into(),
                    ]),
                    answers_key: "upgrade.way_back",
                })
                .await?;
            if answer == Answer::Choice(0) {
                taken_back.insert(app.to_owned());
                let shown = shown_plan(&planned, &taken_back);
                take_back(&ctx, &planned, app, &shown).await?;
                continue;
            }
        }
        write_record(&ctx, &planned)?;
        let mut text = format!("{step_id} failed: {error}");
        for k in &known {
            text.push_str(&format!("\n  {}", k.advice(&model)));
        }
        text.push_str(&format!(
            "\nRetry runs it again (finished commands are not repeated), or skip it with a \
             reason ([skip] \"{}\" = \"...\")",
            ItemKind::Command.skip_key(&step_id)
        ));
        if let Some(app) = way_back {
            text.push_str(&format!(
                ", or take {app} back to the installed release ([upgrade] way_back = [\"{app}\"])"
            ));
        }
        text.push('.');
        return Err(StepError::failed(text));
    }
    let removed = planned
        .plan
        .plan
        .steps
        .iter()
        .filter(|s| matches!(s.kind, ActionKind::Remove { .. }))
        .filter(|s| matches!(recorded_outcome(&ctx, &s.id), Some(ActionOutcome::Done)))
        .count();
    write_record(&ctx, &planned)?;
    ctx.log(
        Level::Info,
        format!(
            "the upgrade ran: {} commands, {} application(s) taken back, {removed} removed",
            planned.plan.plan.steps.len(),
            taken_back.len()
        ),
    );
    Ok(())
}
