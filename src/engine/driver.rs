//! The engine loop: takes commands from a front end, runs steps, applies transitions to the
//! session (which saves them) and reports everything as events.

use std::sync::{Arc, Mutex};

use tokio::sync::mpsc;

use super::cancel::Cancel;
use super::context::{Meter, PendingAnswer, SharedSession, StepContext};
use super::events::{Answer, Command, EngineEvent, StopReason};
use super::fingerprint::{changed_fields, describe_change, only_rerun_fields_changed};
use super::work::{StepError, StepWork};
use crate::secret::Secret;
use crate::session::{Session, SessionError};
use crate::wizard::{ChoiceChange, Effect, Msg, Step, StepStatus};

pub struct EngineOptions {
    /// Headless: move from step to step without commands and fail instead of asking.
    pub auto: bool,
    pub interactive: bool,
}

pub struct Engine {
    session: SharedSession,
    work: Arc<dyn StepWork>,
    events: mpsc::UnboundedSender<EngineEvent>,
    options: EngineOptions,
    password: Arc<Mutex<Option<Secret>>>,
    pending_answer: PendingAnswer,
}

impl Engine {
    pub fn new(
        session: Session,
        work: Arc<dyn StepWork>,
        events: mpsc::UnboundedSender<EngineEvent>,
        options: EngineOptions,
    ) -> Engine {
        Engine {
            session: Arc::new(Mutex::new(session)),
            work,
            events,
            options,
            password: Arc::new(Mutex::new(None)),
            pending_answer: Arc::new(Mutex::new(None)),
        }
    }

    pub fn set_password(&self, secret: Option<Secret>) {
        if let Ok(mut p) = self.password.lock() {
            *p = secret;
        }
    }

    /// Runs until the install finishes, the operator quits, a signal arrives (`cancel`), a
    /// headless run fails, or the engine itself cannot go on (the session cannot be saved).
    /// Every ending is announced with `EngineEvent::Stopped`, so no front end waits forever.
    pub async fn run(
        self,
        mut commands: mpsc::UnboundedReceiver<Command>,
        cancel: Cancel,
    ) -> StopReason {
        let reason = match self.drive(&mut commands, &cancel).await {
            Ok(reason) => reason,
            Err(e) => {
                let message = format!(
                    "{e}. Everything finished before this is saved; fix the cause and run \
                     `ckf-airgap` again to resume."
                );
                tracing::error!("{message}");
                StopReason::Error(message)
            }
        };
        tracing::info!(?reason, "engine stopped");
        let _ = self.events.send(EngineEvent::Stopped(reason.clone()));
        reason
    }

    async fn drive(
        &self,
        commands: &mut mpsc::UnboundedReceiver<Command>,
        cancel: &Cancel,
    ) -> Result<StopReason, SessionError> {
        let notices = self.with_session(|s| s.take_notices());
        for n in notices {
            self.notice(n);
        }
        self.observe_inputs()?;
        self.send_state();
        let mut effects = Vec::new();
        let mut last_auto_state = None;
        if self.options.auto
            && let StepStatus::Failed { .. } = self.current_status()
        {
            // A headless rerun of a failed session is the operator's explicit retry.
            effects = self.apply(Msg::Retry(self.current()))?;
        }
        loop {
            // The driver carries out every effect the transitions returned, in order.
            for effect in std::mem::take(&mut effects) {
                if let Effect::RunStep(step) = effect
                    && let Some(stop) = self.run_step(step, commands, cancel).await?
                {
                    return Ok(stop);
                }
            }
            let command = if self.options.auto {
                let now = self.with_session(|s| s.state().clone());
                if last_auto_state.as_ref() == Some(&now) {
                    // Nothing moved since the last command: ending beats spinning forever.
                    return Ok(StopReason::Failed {
                        step: now.current,
                        reason: "the headless run cannot make progress here; run the wizard \
                                 interactively to see why"
                            .into(),
                    });
                }
                last_auto_state = Some(now);
                match self.auto_command() {
                    Some(c) => c,
                    None => return Ok(StopReason::Finished),
                }
            } else {
                // The state as the operator decides on it, then the one signal that the engine
                // waits.
                self.send_state();
                let _ = self.events.send(EngineEvent::Waiting);
                tokio::select! {
                    c = commands.recv() => c.unwrap_or(Command::Quit),
                    () = cancel.cancelled() => Command::Quit,
                }
            };
            if cancel.is_cancelled() {
                return Ok(StopReason::Interrupted);
            }
            effects = match command {
                Command::Quit if self.with_session(|s| s.state().is_finished()) => {
                    return Ok(StopReason::Finished);
                }
                Command::Quit => return Ok(StopReason::Interrupted),
                Command::Answer(_) => {
                    self.notice("no question is waiting for an answer".into());
                    vec![]
                }
                Command::SetPassword(secret) => {
                    self.set_password(Some(secret));
                    vec![]
                }
                other => self.handle(other)?,
            };
        }
    }

    /// What a headless run does next; None once the install is complete.
    fn auto_command(&self) -> Option<Command> {
        let current = self.current();
        let skip = self.with_session(|s| s.state().choices.skipped_step(current).cloned());
        match self.current_status() {
            StepStatus::Done | StepStatus::Skipped { .. } if current.is_end() => None,
            StepStatus::Pending | StepStatus::Failed { .. } if !current.is_end() => match skip {
                // The answers file asked for this step to be skipped, with its reason.
                Some(reason) => Some(Command::Skip { reason }),
                None => Some(Command::Proceed),
            },
            _ => Some(Command::Proceed),
        }
    }

    /// The one rule for "what happens next" on a step, whatever the front end.
    fn proceed(&self) -> Result<Vec<Effect>, SessionError> {
        let current = self.current();
        match self.current_status() {
            StepStatus::Pending => Ok(vec![Effect::RunStep(current)]),
            StepStatus::Failed { .. } => self.transition(Msg::Retry(current)),
            StepStatus::Done | StepStatus::Skipped { .. } if !current.is_end() => {
                self.transition(Msg::Next)
            }
            StepStatus::Done | StepStatus::Skipped { .. } | StepStatus::Running => Ok(vec![]),
        }
    }

    /// After the operator changed a choice on a step's screen: check the inputs (a change may
    /// invalidate this step and later ones) and run the current step again with it.
    fn choose(&self, changes: Vec<ChoiceChange>) -> Result<Vec<Effect>, SessionError> {
        for change in changes {
            self.transition(Msg::Change(change))?;
        }
        self.observe_inputs()?;
        let current = self.current();
        match self.current_status() {
            StepStatus::Running => Ok(vec![]),
            StepStatus::Pending => Ok(vec![Effect::RunStep(current)]),
            _ => self.transition(Msg::Retry(current)),
        }
    }

    /// Applies a message; a refusal becomes a notice, not an error.
    fn transition(&self, msg: Msg) -> Result<Vec<Effect>, SessionError> {
        match self.apply(msg) {
            Ok(effects) => Ok(effects),
            Err(SessionError::Refused(refusal)) => {
                self.notice(refusal.to_string());
                Ok(vec![])
            }
            Err(e) => Err(e),
        }
    }

    fn handle(&self, command: Command) -> Result<Vec<Effect>, SessionError> {
        let effects = match command {
            Command::Proceed => self.proceed()?,
            Command::RunCurrent => vec![Effect::RunStep(self.current())],
            Command::Next => self.transition(Msg::Next)?,
            Command::Back => self.transition(Msg::Back)?,
            Command::Retry => self.transition(Msg::Retry(self.current()))?,
            Command::Skip { reason } => {
                let step = self.current();
                let effects = self.transition(Msg::Skip { step, reason })?;
                let status = self.current_status_of(step);
                if matches!(status, StepStatus::Skipped { .. }) {
                    tracing::info!(%step, "step skipped");
                    let _ = self.events.send(EngineEvent::StepFinished { step, status });
                }
                effects
            }
            Command::SkipItem { kind, id, reason } => {
                self.choose(vec![ChoiceChange::SkipItem { kind, id, reason }])?
            }
            Command::SetRegistry { form, password } => {
                if let Some(secret) = password {
                    self.set_password(Some(secret));
                }
                self.choose(vec![ChoiceChange::Registry(form)])?
            }
            Command::OverrideTarget { source, target } => {
                self.choose(vec![ChoiceChange::OverrideTarget { source, target }])?
            }
            Command::RewritePrefix { old, new } => {
                let rows = self.with_session(|s| mapping_rows(s.dir()));
                let changes = crate::bundle::mapping::prefix_rewrites(&rows, &old, &new);
                if changes.is_empty() {
                    self.notice(format!("no mapping target starts with {old:?}"));
                    vec![]
                } else {
                    self.notice(format!(
                        "{} target(s) rewritten from {old:?} to {new:?}",
                        changes.len()
                    ));
                    self.choose(
                        changes
                            .into_iter()
                            .map(|(source, target)| ChoiceChange::OverrideTarget { source, target })
                            .collect(),
                    )?
                }
            }
            Command::SetGateway(g) => self.choose(vec![ChoiceChange::Gateway(g)])?,
            Command::SetPassword(_) | Command::Answer(_) | Command::Quit => vec![],
        };
        Ok(effects)
    }

    /// Runs `step` (the current one: a transition made it so). Returns a stop reason when
    /// the engine must stop.
    async fn run_step(
        &self,
        step: Step,
        commands: &mut mpsc::UnboundedReceiver<Command>,
        cancel: &Cancel,
    ) -> Result<Option<StopReason>, SessionError> {
        self.observe_inputs()?;
        if self.current() != step {
            // An input changed and moved the wizard back: the earlier step runs first.
            self.notice(format!(
                "{} must run again before {}",
                self.current().title(),
                step.title()
            ));
            return Ok(None);
        }
        if self.current_status().is_settled() {
            self.notice(format!(
                "{} is already {}",
                step.title(),
                self.current_status().label()
            ));
            return Ok(None);
        }
        let choices = self.with_session(|s| s.state().choices.clone());
        if let Some(reason) = choices.skipped_step(step) {
            // The answers file says this step is done another way: record that, do not run it.
            self.handle(Command::Skip {
                reason: reason.clone(),
            })?;
            return Ok(None);
        }
        let inputs = self.work.inputs(step, &choices);
        match self.apply(Msg::Start { step, inputs }) {
            Ok(_) => {}
            Err(SessionError::Refused(refusal)) => {
                self.notice(refusal.to_string());
                return Ok(None);
            }
            Err(e) => return Err(e),
        }
        tracing::info!(%step, "step started");
        let _ = self.events.send(EngineEvent::StepStarted(step));
        self.send_state();

        let ctx = StepContext {
            step,
            session: self.session.clone(),
            events: self.events.clone(),
            cancel: cancel.clone(),
            interactive: self.options.interactive,
            pending_answer: self.pending_answer.clone(),
            password: self.password.clone(),
            meter: Arc::new(Mutex::new(Meter::new())),
        };
        let mut work = self.work.run(step, ctx);
        let result = loop {
            tokio::select! {
                r = &mut work => break r,
                () = cancel.cancelled() => break Err(StepError::Cancelled),
                c = commands.recv() => match c {
                    None | Some(Command::Quit) => {
                        cancel.cancel();
                        break Err(StepError::Cancelled);
                    }
                    Some(Command::Answer(answer)) => self.deliver(answer),
                    Some(Command::SetPassword(secret)) => self.set_password(Some(secret)),
                    Some(_) => self.notice(format!("{} is running; wait for it or quit", step.title())),
                },
            }
        };
        // Dropping the future stops its work at the next await point; units it finished are
        // already on disk.
        drop(work);
        let (msg, stop) = match result {
            Ok(()) => {
                let choices = self.with_session(|s| s.state().choices.clone());
                let inputs = Some(self.work.inputs(step, &choices));
                (Msg::Finish { step, inputs }, None)
            }
            Err(StepError::Cancelled) => (Msg::Interrupt(step), Some(StopReason::Interrupted)),
            Err(e) => {
                let reason = e.to_string();
                tracing::error!(%step, %reason, "step failed");
                let stop = self.options.auto.then(|| StopReason::Failed {
                    step,
                    reason: reason.clone(),
                });
                (Msg::Fail { step, reason }, stop)
            }
        };
        self.apply(msg)?;
        let status = self.current_status_of(step);
        tracing::info!(%step, status = status.label(), "step finished");
        let _ = self.events.send(EngineEvent::StepFinished { step, status });
        self.send_state();
        Ok(stop)
    }

    fn deliver(&self, answer: Answer) {
        let sender = self.pending_answer.lock().ok().and_then(|mut s| s.take());
        match sender {
            Some(tx) => {
                let _ = tx.send(answer);
            }
            None => self.notice("no question is waiting for an answer".into()),
        }
    }

    /// Compares every step's recorded inputs with the inputs as they are now; a change
    /// invalidates that step and the ones after it.
    fn observe_inputs(&self) -> Result<(), SessionError> {
        let (choices, recorded): (_, Vec<(Step, Option<String>)>) = self.with_session(|s| {
            let state = s.state();
            (
                state.choices.clone(),
                state
                    .flow
                    .steps()
                    .map(|step| (step, state.record(step).inputs.clone()))
                    .collect(),
            )
        });
        for (step, old) in recorded {
            let Some(old) = old else { continue };
            let now = self.work.inputs(step, &choices);
            if now == old {
                continue;
            }
            // Compared field by field: the order a fingerprint was written in is no change.
            if changed_fields(&old, &now).is_empty() {
                self.apply(Msg::InputsAdopted {
                    step,
                    fingerprint: now,
                })?;
            } else {
                let what = describe_change(&old, &now);
                let keeps_units = only_rerun_fields_changed(&old, &now);
                let effects = self.apply(Msg::InputsObserved {
                    step,
                    fingerprint: now,
                    what,
                    keeps_units,
                })?;
                // Later steps were reset together with this one.
                if !keeps_units && !effects.is_empty() {
                    break;
                }
            }
        }
        Ok(())
    }

    fn apply(&self, msg: Msg) -> Result<Vec<Effect>, SessionError> {
        let effects = {
            let mut session = match self.session.lock() {
                Ok(g) => g,
                Err(p) => p.into_inner(),
            };
            session.apply(msg)?
        };
        for effect in &effects {
            match effect {
                Effect::Notify(text) => self.notice(text.clone()),
                Effect::DiscardOutputs(steps) => {
                    let dir = self.with_session(|s| s.dir().to_path_buf());
                    for step in steps {
                        super::outputs::discard(&dir, *step);
                    }
                }
                Effect::RunStep(_) => {}
            }
        }
        Ok(effects)
    }

    fn notice(&self, text: String) {
        // A notice can quote what the operator typed or a value read from a file.
        let text = crate::shown_text::escape_controls(&text).into_owned();
        tracing::info!("{text}");
        let _ = self.events.send(EngineEvent::Notice(text));
    }

    fn send_state(&self) {
        let state = self.with_session(|s| super::events::StateSnapshot::of(s.state()));
        let _ = self.events.send(EngineEvent::State(Box::new(state)));
    }

    fn current(&self) -> Step {
        self.with_session(|s| s.current())
    }

    fn current_status(&self) -> StepStatus {
        self.with_session(|s| s.state().status(s.current()).clone())
    }

    fn current_status_of(&self, step: Step) -> StepStatus {
        self.with_session(|s| s.state().status(step).clone())
    }

    fn with_session<T>(&self, f: impl FnOnce(&mut Session) -> T) -> T {
        match self.session.lock() {
            Ok(mut g) => f(&mut g),
            Err(p) => f(&mut p.into_inner()),
        }
    }
}

/// The mapping step's rows as it last published them (`source`, `target`), for a prefix
/// rewrite; none before the step ran.
fn mapping_rows(session_dir: &std::path::Path) -> Vec<(String, String)> {
    super::outputs::last_view(session_dir)
        .into_iter()
        .map(|r| (r.source, r.target))
        .collect()
}
