//! The plan's commands in the session, for the deploy and the upgrade alike: each command's
//! outcome a unit (`cmd:<id>`), the rows the deploy screen draws, and a command's output
//! streamed to the log.

use crate::cluster::deploy::{ActionOutcome, CommandLedger, DeployEvent};
use crate::cluster::plan::DeployPlan;
use crate::cluster::runner::RunEvent;
use crate::engine::context::StepContext;
use crate::engine::events::Level;
use crate::engine::step_data::{CommandRow, CommandState, DeployView, StepData};
use crate::engine::units::PlanCommand;

/// What the session holds for a plan action. The Juju setup an earlier version recorded
/// under its bare id, before it was part of the plan, holds no outcome: it was done, and a
/// session it left must not set up again what it already had.
pub fn recorded_outcome(ctx: &StepContext, id: &str) -> Option<ActionOutcome> {
    let unit = PlanCommand(id);
    ctx.detail(&unit)
        .or_else(|| ctx.done(&unit).then_some(ActionOutcome::Done))
}

pub struct SessionCommandLedger {
    pub ctx: StepContext,
}

impl CommandLedger for SessionCommandLedger {
    fn is_done(&self, step_id: &str) -> bool {
        recorded_outcome(&self.ctx, step_id).is_some_and(|o| o.finishes())
    }

    fn record(&mut self, step_id: &str, outcome: &ActionOutcome) -> Result<(), String> {
        self.ctx
            .record(&PlanCommand(step_id), outcome)
            .map_err(|e| e.to_string())
    }
}

pub fn view(
    ctx: &StepContext,
    plan: &DeployPlan,
    running: Option<&str>,
    dry_run: bool,
) -> DeployView {
    let commands = plan
        .steps
        .iter()
        .map(|step| {
            let outcome = recorded_outcome(ctx, &step.id);
            let state = match (outcome, running == Some(step.id.as_str())) {
                (_, true) => CommandState::Running,
                (Some(ActionOutcome::Done), _) => CommandState::Done,
                (Some(ActionOutcome::AlreadyPresent), _) => CommandState::AlreadyPresent,
                (Some(ActionOutcome::Skipped { reason }), _) => CommandState::Skipped(reason),
                (Some(ActionOutcome::Failed { message, .. }), _) => CommandState::Failed(message),
                (None, false) => CommandState::Pending,
            };
            CommandRow {
                id: step.id.clone(),
                display: step.display(),
                state,
            }
        })
        .collect();
    DeployView {
        commands,
        status: vec![],
        diagnoses: vec![],
        dry_run,
    }
}

pub fn stream(ctx: &StepContext, event: RunEvent) {
    match event {
        RunEvent::Started(display) => ctx.log(Level::Info, format!("$ {display}")),
        RunEvent::Line(_, line) => ctx.log(Level::Info, line),
        RunEvent::Finished(Some(0)) => {}
        RunEvent::Finished(code) => ctx.log(Level::Warn, format!("exit status {code:?}")),
    }
}

/// What the deploy screen and the log show as `cluster::deploy::execute` runs `shown`'s
/// commands: the phase and the rows at each command, its output, the rows after each outcome.
pub fn on_event<'a>(ctx: &'a StepContext, shown: &'a DeployPlan) -> impl FnMut(DeployEvent) + 'a {
    move |event| match event {
        DeployEvent::Step {
            index,
            total,
            id,
            display,
        } => {
            ctx.phase(format!("{}/{total}: {display}", index + 1));
            ctx.publish(StepData::Deploy(view(ctx, shown, Some(&id), false)));
        }
        DeployEvent::Run(e) => stream(ctx, e),
        DeployEvent::Outcome { .. } => {
            ctx.publish(StepData::Deploy(view(ctx, shown, None, false)));
        }
    }
}
