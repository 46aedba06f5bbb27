//! Runs a `DeployPlan` step by step, streaming output, recording each step's outcome through the
//! engine's ledger, resuming at the first unfinished step, and not repeating what the model
//! already has (an application that exists, a relation that is there).

use serde::{Deserialize, Serialize};

use super::diagnose::{self, KnownFailure};
use super::error::RunError;
use super::juju_status::{ModelStatus, status_cmd};
use super::plan::{ActionKind, DeployPlan, PlanAction};
use super::runner::{RunEvent, Runner};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ActionOutcome {
    Done,
    /// The model already had it; nothing was run.
    AlreadyPresent,
    /// The operator chose to go on without this step.
    Skipped {
        reason: String,
    },
    Failed {
        code: Option<i32>,
        message: String,
    },
}

impl ActionOutcome {
    /// Whether a step with this outcome is finished (a resume does not run it again).
    pub fn finishes(&self) -> bool {
        !matches!(self, Self::Failed { .. })
    }
}

/// The engine's persistent record of steps. `is_done` must be true exactly for steps whose last
/// recorded outcome `finishes()`.
pub trait CommandLedger {
    fn is_done(&self, step_id: &str) -> bool;
    fn record(&mut self, step_id: &str, outcome: &ActionOutcome) -> Result<(), String>;
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeployEvent {
    Step {
        index: usize,
        total: usize,
        id: String,
        display: String,
    },
    Run(RunEvent),
    Outcome {
        id: String,
        outcome: ActionOutcome,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum DeployError {
    /// The front end offers: retry (run `execute` again), skip (record `Skipped` with the
    /// operator's reason, then `execute` again), or stop.
    #[error("step {step_id} failed: {error}")]
    StepFailed {
        step_id: String,
        error: Box<RunError>,
        known: Vec<KnownFailure>,
    },
    #[error("cannot read the model status: {0}")]
    Status(String),
    #[error("cannot record step {step_id}: {message}")]
    Ledger { step_id: String, message: String },
    #[error("cannot write {path}: {source}")]
    File {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeployReport {
    /// Steps handled in this run, in order; steps already finished before it are not listed.
    pub outcomes: Vec<(String, ActionOutcome)>,
}

pub async fn execute(
    runner: &Runner,
    plan: &DeployPlan,
    ledger: &mut (dyn CommandLedger + Send),
    on_event: &mut (dyn FnMut(DeployEvent) + Send),
) -> Result<DeployReport, DeployError> {
    let mut report = DeployReport::default();
    let mut status: Option<ModelStatus> = None;
    let total = plan.steps.len();
    for (index, step) in plan.steps.iter().enumerate() {
        if ledger.is_done(&step.id) {
            continue;
        }
        let current = match status.take() {
            Some(s) => s,
            None => read_status(runner, &plan.model).await?,
        };
        on_event(DeployEvent::Step {
            index,
            total,
            id: step.id.clone(),
            display: step.cmd.display(),
        });
        let outcome = if already_present(step, &current) {
            status = Some(current);
            ActionOutcome::AlreadyPresent
        } else {
            let result = run_step(runner, step, on_event).await;
            match result {
                Ok(()) => {
                    // A deploy changes the model; a relation does not add what later steps
                    // look for, so its status can be reused.
                    if matches!(step.kind, ActionKind::Relation { .. }) {
                        status = Some(current);
                    }
                    ActionOutcome::Done
                }
                Err(ActionError::Present) => ActionOutcome::AlreadyPresent,
                Err(ActionError::File(path, source)) => {
                    return Err(DeployError::File { path, source });
                }
                Err(ActionError::Run(error)) => {
                    let failed = ActionOutcome::Failed {
                        code: match &error {
                            RunError::Failed { code, .. } => *code,
                            _ => None,
                        },
                        message: error.to_string(),
                    };
                    record(ledger, on_event, &step.id, &failed)?;
                    let known = diagnose::from_deploy_stderr(error.stderr());
                    return Err(DeployError::StepFailed {
                        step_id: step.id.clone(),
                        error: Box::new(error),
                        known,
                    });
                }
            }
        };
        record(ledger, on_event, &step.id, &outcome)?;
        report.outcomes.push((step.id.clone(), outcome));
    }
    Ok(report)
}

enum ActionError {
    Run(RunError),
    /// Juju said it exists (the status we read was older than the model).
    Present,
    File(String, std::io::Error),
}

async fn run_step(
    runner: &Runner,
    step: &PlanAction,
    on_event: &mut (dyn FnMut(DeployEvent) + Send),
) -> Result<(), ActionError> {
    step.write_file().map_err(|e| {
        let path = step
            .file
            .as_ref()
            .map(|f| f.path.display().to_string())
            .unwrap_or_default();
        ActionError::File(path, e)
    })?;
    let mut sink = |e: RunEvent| on_event(DeployEvent::Run(e));
    match runner.run_ok(&step.cmd, &mut sink).await {
        Ok(_) => Ok(()),
        Err(e)
            if e.stderr().contains("already exists")
                && !matches!(step.kind, ActionKind::Bundle { .. }) =>
        {
            Err(ActionError::Present)
        }
        Err(e) => Err(ActionError::Run(e)),
    }
}

fn already_present(step: &PlanAction, status: &ModelStatus) -> bool {
    match &step.kind {
        ActionKind::Bundle { applications } => {
            !applications.is_empty() && applications.iter().all(|a| status.has_app(a))
        }
        ActionKind::App { application } => status.has_app(application),
        ActionKind::Relation { a, b } => status.has_relation(a, b),
    }
}

async fn read_status(runner: &Runner, model: &str) -> Result<ModelStatus, DeployError> {
    let out = runner
        .run_ok(&status_cmd(model), &mut |_| {})
        .await
        .map_err(|e| DeployError::Status(e.to_string()))?;
    ModelStatus::parse(&out.stdout).map_err(|e| DeployError::Status(e.to_string()))
}

fn record(
    ledger: &mut (dyn CommandLedger + Send),
    on_event: &mut (dyn FnMut(DeployEvent) + Send),
    id: &str,
    outcome: &ActionOutcome,
) -> Result<(), DeployError> {
    ledger
        .record(id, outcome)
        .map_err(|message| DeployError::Ledger {
            step_id: id.to_owned(),
            message,
        })?;
    on_event(DeployEvent::Outcome {
        id: id.to_owned(),
        outcome: outcome.clone(),
    });
    Ok(())
}
