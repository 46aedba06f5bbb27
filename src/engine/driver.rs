//! The engine loop: takes commands from a front end, runs steps, applies transitions to the
//! session (which saves them) and reports everything as events.

use std::sync::{Arc, Mutex};

use tokio::sync::mpsc;

use super::cancel::Cancel;
use super::context::{Meter, PendingAnswer, SharedSession, StepContext};
use super::events::{Answer, Command, EngineEvent, StopReason};
use super::fingerprint::describe_change;
use super::work::{StepError, StepWork};
use crate::secret::Secret;
use crate::session::{Session, SessionError};
use crate::wizard::{Effect, Msg, Step, StepStatus};

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

    /// Runs until the install finishes, the operator quits, a signal arrives (`cancel`), or a
    /// headless run fails. The session is saved at every change, so returning is always safe.
    pub async fn run(
        self,
        mut commands: mpsc::UnboundedReceiver<Command>,
        cancel: Cancel,
    ) -> Result<StopReason, SessionError> {
        let notices = self.with_session(|s| s.take_notices());
        for n in notices {
            self.notice(n);
        }
        self.observe_inputs()?;
        self.send_state();
        if self.options.auto
            && let StepStatus::Failed { .. } = self.current_status()
        {
            // A headless rerun of a failed session is the operator's explicit retry.
            self.apply(Msg::Retry(self.current()))?;
        }
        let reason = loop {
            let command = if self.options.auto {
                match self.auto_command() {
                    Some(c) => c,
                    None => break StopReason::Finished,
                }
            } else {
                tokio::select! {
                    c = commands.recv() => c.unwrap_or(Command::Quit),
                    () = cancel.cancelled() => Command::Quit,
                }
            };
            if cancel.is_cancelled() {
                break StopReason::Interrupted;
            }
            match command {
                Command::Quit if self.with_session(|s| s.state().is_finished()) => {
                    break StopReason::Finished;
                }
                Command::Quit => break StopReason::Interrupted,
                Command::RunCurrent => {
                    if let Some(stop) = self.run_current(&mut commands, &cancel).await? {
                        break stop;
                    }
                }
                Command::Answer(_) => self.notice("no question is waiting for an answer".into()),
                Command::SetPassword(secret) => self.set_password(Some(secret)),
                other => self.handle_navigation(other)?,
            }
        };
        tracing::info!(?reason, "engine stopped");
        let _ = self.events.send(EngineEvent::Stopped(reason.clone()));
        Ok(reason)
    }

    /// What a headless run does next; None once the install is complete.
    fn auto_command(&self) -> Option<Command> {
        let current = self.current();
        let skip = self.with_session(|s| s.state().choices.skips.get(current.id()).cloned());
        match self.current_status() {
            StepStatus::Done | StepStatus::Skipped { .. } if current == Step::Done => None,
            StepStatus::Done | StepStatus::Skipped { .. } => Some(Command::Next),
            _ => match skip {
                // The answers file asked for this step to be skipped, with its reason.
                Some(reason) if current != Step::Done => Some(Command::Skip { reason }),
                _ => Some(Command::RunCurrent),
            },
        }
    }

    fn handle_navigation(&self, command: Command) -> Result<(), SessionError> {
        let msg = match command {
            Command::Next => Msg::Next,
            Command::Back => Msg::Back,
            Command::Skip { reason } => Msg::Skip {
                step: self.current(),
                reason,
            },
            Command::Retry => Msg::Retry(self.current()),
            Command::SetChoices(choices) => Msg::SetChoices(choices),
            Command::RunCurrent | Command::Answer(_) | Command::SetPassword(_) | Command::Quit => {
                return Ok(());
            }
        };
        let changed_choices = matches!(msg, Msg::SetChoices(_));
        let skipped = match &msg {
            Msg::Skip { step, .. } => Some(*step),
            _ => None,
        };
        match self.apply(msg) {
            Ok(_) => {
                if let Some(step) = skipped {
                    let status = self.current_status_of(step);
                    tracing::info!(%step, status = status.label(), "step skipped");
                    let _ = self.events.send(EngineEvent::StepFinished { step, status });
                }
            }
            Err(SessionError::Refused(refusal)) => self.notice(refusal.to_string()),
            Err(e) => return Err(e),
        }
        if changed_choices {
            self.observe_inputs()?;
        }
        self.send_state();
        Ok(())
    }

    /// Runs the current step. Returns a stop reason when the engine must stop.
    async fn run_current(
        &self,
        commands: &mut mpsc::UnboundedReceiver<Command>,
        cancel: &Cancel,
    ) -> Result<Option<StopReason>, SessionError> {
        self.observe_inputs()?;
        let step = self.current();
        if self.current_status().is_settled() {
            self.notice(format!(
                "{} is already {}",
                step.title(),
                self.current_status().label()
            ));
            return Ok(None);
        }
        let choices = self.with_session(|s| s.state().choices.clone());
        if let Some(reason) = choices.skips.get(step.id()) {
            // The answers file says this step is done another way: record that, do not run it.
            self.handle_navigation(Command::Skip {
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
                Step::ALL
                    .into_iter()
                    .map(|step| (step, state.record(step).inputs.clone()))
                    .collect(),
            )
        });
        for (step, old) in recorded {
            let Some(old) = old else { continue };
            let now = self.work.inputs(step, &choices);
            if now != old {
                let what = describe_change(&old, &now);
                let effects = self.apply(Msg::InputsObserved {
                    step,
                    fingerprint: now,
                    what,
                })?;
                // Later steps were reset together with this one.
                if !effects.is_empty() {
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
            if let Effect::Notify(text) = effect {
                self.notice(text.clone());
            }
        }
        Ok(effects)
    }

    fn notice(&self, text: String) {
        tracing::info!("{text}");
        let _ = self.events.send(EngineEvent::Notice(text));
    }

    fn send_state(&self) {
        let state = self.with_session(|s| s.state().clone());
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
