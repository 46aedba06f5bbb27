//! Runs a `DeployPlan` step by step, streaming output, recording each step's outcome through the
//! engine's ledger, resuming at the first unfinished step, and not repeating what the model
//! already has (an application that exists, a relation that is there). The Juju setup at the
//! head of a plan runs in the same loop: the bootstrap only once Juju's images are in the
//! registry.

use futures_util::future::BoxFuture;
use serde::{Deserialize, Serialize};

use super::diagnose::{self, KnownFailure};
use super::error::RunError;
use super::juju_setup::{self, SetupError};
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

/// Whether the registry Juju pulls from holds `path:tag`. The loop asks before a bootstrap;
/// this module reaches no registry itself.
pub trait ImageLookup: Sync {
    fn has_image(&self, path: String, tag: String) -> BoxFuture<'static, bool>;
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
    /// An action that cannot start yet (the bootstrap without Juju's images); nothing was run.
    #[error("{step_id}: {error}")]
    NotReady {
        step_id: String,
        #[source]
        error: SetupError,
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
    images: &dyn ImageLookup,
    on_event: &mut (dyn FnMut(DeployEvent) + Send),
) -> Result<DeployReport, DeployError> {
    let mut report = DeployReport::default();
    let mut status: Option<ModelStatus> = None;
    let total = plan.steps.len();
    for (index, step) in plan.steps.iter().enumerate() {
        if ledger.is_done(&step.id) {
            continue;
        }
        // Before the setup there may be no controller or model to read a status from.
        let current = if step.kind.is_setup() {
            status = None;
            None
        } else {
            Some(match status.take() {
                Some(s) => s,
                None => read_status(runner, &plan.model).await?,
            })
        };
        on_event(DeployEvent::Step {
            index,
            total,
            id: step.id.clone(),
            display: step.display(),
        });
        let outcome = if current.as_ref().is_some_and(|c| already_present(step, c)) {
            status = current;
            ActionOutcome::AlreadyPresent
        } else {
            let result = run_step(runner, step, images, on_event).await;
            match result {
                Ok(()) => {
                    // A deploy changes the model; a relation does not add what later steps
                    // look for, so its status can be reused.
                    if matches!(step.kind, ActionKind::Relation { .. }) {
                        status = current;
                    }
                    ActionOutcome::Done
                }
                Err(ActionError::Present) => ActionOutcome::AlreadyPresent,
                Err(ActionError::File(path, source)) => {
                    return Err(DeployError::File { path, source });
                }
                Err(ActionError::NotReady(error)) => {
                    let failed = ActionOutcome::Failed {
                        code: None,
                        message: error.to_string(),
                    };
                    record(ledger, on_event, &step.id, &failed)?;
                    return Err(DeployError::NotReady {
                        step_id: step.id.clone(),
                        error,
                    });
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
    NotReady(SetupError),
}

async fn run_step(
    runner: &Runner,
    step: &PlanAction,
    images: &dyn ImageLookup,
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
    if let ActionKind::Bootstrap { images: needed, .. } = &step.kind {
        let missing =
            juju_setup::missing_images(needed, |path, tag| images.has_image(path, tag)).await;
        if !missing.is_empty() {
            return Err(ActionError::NotReady(SetupError::MissingImages(missing)));
        }
    }
    let mut sink = |e: RunEvent| on_event(DeployEvent::Run(e));
    let mut cmd = step.cmd.clone();
    if let Some(source) = step.stdin_source() {
        let out = runner
            .run_ok(&source, &mut sink)
            .await
            .map_err(ActionError::Run)?;
        cmd = cmd.with_stdin(out.stdout.into_bytes());
    }
    match runner.run_ok(&cmd, &mut sink).await {
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
        ActionKind::AddK8s { .. } | ActionKind::Bootstrap { .. } | ActionKind::AddModel { .. } => {
            false
        }
        // An upgrade's actions change what is there: the model's status cannot say one ran.
        ActionKind::Refresh { .. }
        | ActionKind::Scale { .. }
        | ActionKind::Settle { .. }
        | ActionKind::Gone { .. }
        | ActionKind::Remove { .. }
        | ActionKind::Migrate { .. }
        | ActionKind::ModelReady { .. }
        | ActionKind::UpgradeModel { .. } => false,
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
