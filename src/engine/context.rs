//! What a running step may do: read choices and its ledger, record finished units, report
//! progress, ask the operator. Every recorded unit is on disk before `record_unit` returns.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::sync::{mpsc, oneshot};

use super::cancel::Cancel;
use super::events::{Answer, EngineEvent, InputRequest, Level, Progress, Quantity};
use super::units::Unit;
use super::work::StepError;
use crate::secret::Secret;
use crate::session::Session;
use crate::wizard::{ChoiceChange, Msg, Step};

/// Progress is sent at most this often; a finished count is always sent.
const PROGRESS_INTERVAL: Duration = Duration::from_millis(100);

pub type SharedSession = Arc<Mutex<Session>>;
pub type PendingAnswer = Arc<Mutex<Option<oneshot::Sender<Answer>>>>;

#[derive(Clone)]
pub struct StepContext {
    pub(crate) step: Step,
    pub(crate) session: SharedSession,
    pub(crate) events: mpsc::UnboundedSender<EngineEvent>,
    pub(crate) cancel: Cancel,
    pub(crate) interactive: bool,
    pub(crate) pending_answer: PendingAnswer,
    pub(crate) password: Arc<Mutex<Option<Secret>>>,
    pub(crate) meter: Arc<Mutex<Meter>>,
}

pub(crate) struct Meter {
    started: Instant,
    last_sent: Option<Instant>,
}

impl Meter {
    pub(crate) fn new() -> Meter {
        Meter {
            started: Instant::now(),
            last_sent: None,
        }
    }
}

impl StepContext {
    pub fn step(&self) -> Step {
        self.step
    }

    /// The flow this session runs (a step the upgrade shares with the install reads it).
    pub fn flow(&self) -> crate::wizard::Flow {
        self.with_state(|s| s.flow)
    }

    /// A part of the choices this step reads. Only a step the part names may ask for it, so
    /// that what a step reads is what its fingerprint holds (a programming error otherwise).
    pub fn input<T: super::steps::inputs::InputPart>(&self) -> T {
        let known = T::READ_BY.contains(&self.step);
        debug_assert!(
            known,
            "{} read {}, which is not among its inputs",
            self.step.title(),
            std::any::type_name::<T>()
        );
        if !known {
            tracing::error!(
                step = %self.step,
                part = std::any::type_name::<T>(),
                "internal error: a step read a part of the choices not among its inputs"
            );
        }
        self.with_session(|s| T::of(&s.state().choices))
    }

    /// Records a choice the step obtained (a path the operator typed) in the session, through
    /// the same typed changes the front ends make.
    pub fn change_choice(&self, change: ChoiceChange) -> Result<(), StepError> {
        let mut session = self.session.lock().map_err(|_| {
            StepError::failed("the session store is unusable after a crash in another task")
        })?;
        session
            .apply(Msg::Change(change))
            .map(|_| ())
            .map_err(|e| StepError::failed(format!("could not save the choice: {e}")))
    }

    /// An output an earlier step left (see `outputs`), or why it is not there.
    pub fn output<T: super::outputs::StepOutput>(&self) -> Result<T, super::outputs::Missing> {
        let dir = self.session_dir();
        self.with_session(|s| super::outputs::read::<T>(&dir, s.state()))
    }

    /// `T`, or None when the operator skipped its producer (the caller then says what it does
    /// without it); any other absence is an error naming the producer.
    pub fn output_unless_skipped<T: super::outputs::StepOutput>(
        &self,
    ) -> Result<Option<T>, super::outputs::Missing> {
        match self.output::<T>() {
            Ok(value) => Ok(Some(value)),
            // A producer skipped, or not a step of this flow (the upgrade has no environment
            // checks), left nothing: the caller says what it does without it.
            Err(super::outputs::Missing::NotProduced { .. })
                if self.with_state(|s| {
                    !T::PRODUCER.in_flow(s.flow)
                        || matches!(
                            s.status(T::PRODUCER),
                            crate::wizard::StepStatus::Skipped { .. }
                        )
                }) =>
            {
                Ok(None)
            }
            Err(missing) => Err(missing),
        }
    }

    /// Writes this step's output `T`; only its producer may (a programming error otherwise).
    pub fn write_output<T: super::outputs::StepOutput>(
        &self,
        value: &T,
    ) -> Result<std::path::PathBuf, StepError> {
        if T::PRODUCER != self.step {
            return Err(StepError::failed(format!(
                "internal error: {} tried to write {}, which only {} writes",
                self.step.title(),
                T::WHAT,
                T::PRODUCER.title()
            )));
        }
        let dir = self.session_dir();
        super::outputs::write(&dir, value).map_err(|e| {
            StepError::failed(format!(
                "cannot write {} to {}: {e}",
                T::WHAT,
                super::outputs::path_of::<T>(&dir).display()
            ))
        })
    }

    /// The session's own directory: reports and plans written for the operator go here.
    pub fn session_dir(&self) -> std::path::PathBuf {
        self.with_session(|s| s.dir().to_path_buf())
    }

    /// How many units of this step are finished (none on a first run or after invalidation).
    pub fn units_done(&self) -> usize {
        self.with_session(|s| s.state().record(self.step).ledger.len())
    }

    /// The detail of a unit `step` recorded, when it did (and it reads as that unit's detail).
    pub fn detail_of<U: Unit>(&self, step: Step, unit: &U) -> Option<U::Detail> {
        let value = self.with_session(|s| {
            let ledger = &s.state().record(step).ledger;
            ledger
                .get(&unit.key())
                .or_else(|| ledger.get(&unit.legacy_key()?))
                .cloned()
        })?;
        serde_json::from_value(value).ok()
    }

    /// The detail of a unit this step recorded.
    pub fn detail<U: Unit>(&self, unit: &U) -> Option<U::Detail> {
        self.detail_of(self.step, unit)
    }

    /// Whether this step recorded `unit` (under its key or an older one).
    pub fn done<U: Unit>(&self, unit: &U) -> bool {
        self.with_session(|s| {
            let state = s.state();
            state.unit_done(self.step, &unit.key())
                || unit
                    .legacy_key()
                    .is_some_and(|k| state.unit_done(self.step, &k))
        })
    }

    /// Records a finished unit and saves the session before returning.
    pub fn record<U: Unit>(&self, unit: &U, detail: &U::Detail) -> Result<(), StepError> {
        let value = serde_json::to_value(detail)
            .map_err(|e| StepError::failed(format!("cannot record {}: {e}", unit.key())))?;
        self.record_unit(unit.key(), value)
    }

    fn record_unit(&self, unit: String, detail: Value) -> Result<(), StepError> {
        let result = {
            let mut session = self.session.lock().map_err(|_| {
                StepError::failed("the session store is unusable after a crash in another task")
            })?;
            session.apply(Msg::UnitDone {
                step: self.step,
                unit: unit.clone(),
                detail,
            })
        };
        match result {
            Ok(_) => {
                tracing::debug!(step = %self.step, %unit, "unit done");
                let _ = self.events.send(EngineEvent::UnitDone {
                    step: self.step,
                    unit,
                });
                Ok(())
            }
            Err(e) => Err(StepError::failed(format!("could not record progress: {e}"))),
        }
    }

    pub fn is_cancelled(&self) -> bool {
        self.cancel.is_cancelled()
    }

    pub fn cancel(&self) -> Cancel {
        self.cancel.clone()
    }

    pub fn log(&self, level: Level, line: impl Into<String>) {
        // A line may quote an archive's or a bundle's text: its control characters are shown.
        let line = crate::shown_text::escape_controls(&line.into()).into_owned();
        match level {
            Level::Info => tracing::info!(step = %self.step, "{line}"),
            Level::Warn => tracing::warn!(step = %self.step, "{line}"),
            Level::Error => tracing::error!(step = %self.step, "{line}"),
        }
        let _ = self.events.send(EngineEvent::Log {
            step: Some(self.step),
            level,
            line,
        });
    }

    pub fn phase(&self, text: impl Into<String>) {
        let text = crate::shown_text::escape_controls(&text.into()).into_owned();
        tracing::info!(step = %self.step, "{text}");
        let _ = self.events.send(EngineEvent::Phase {
            step: self.step,
            text,
        });
    }

    /// Reports progress; rate and ETA are derived from the time since the step started.
    pub fn progress(
        &self,
        done: u64,
        total: Option<u64>,
        quantity: Quantity,
        item: Option<String>,
    ) {
        let now = Instant::now();
        let Ok(mut meter) = self.meter.lock() else {
            return;
        };
        let finished = total.is_some_and(|t| done >= t);
        if !finished
            && meter
                .last_sent
                .is_some_and(|t| now.duration_since(t) < PROGRESS_INTERVAL)
        {
            return;
        }
        meter.last_sent = Some(now);
        let elapsed = now.duration_since(meter.started).as_secs_f64();
        let rate = (elapsed > 0.5).then(|| done as f64 / elapsed);
        let eta_secs = match (rate, total) {
            (Some(r), Some(t)) if r > 0.0 => Some(((t.saturating_sub(done)) as f64 / r) as u64),
            _ => None,
        };
        let _ = self.events.send(EngineEvent::Progress(Progress {
            step: self.step,
            done,
            total,
            quantity,
            item,
            rate_per_sec: rate,
            eta_secs,
        }));
    }

    /// Publishes structured results for the step's screen.
    pub fn publish(&self, data: super::step_data::StepData) {
        let _ = self.events.send(EngineEvent::StepData {
            step: self.step,
            data,
        });
    }

    /// Shows a document (a diff, a plan) to the operator.
    pub fn document(&self, title: impl Into<String>, text: impl Into<String>) {
        // A diff or a plan quotes the bundle's and the charms' values as they are.
        let _ = self.events.send(EngineEvent::Document {
            step: self.step,
            title: crate::shown_text::escape_controls(&title.into()).into_owned(),
            text: crate::shown_text::escape_controls(&text.into()).into_owned(),
        });
    }

    /// Whether `ask` reaches an operator (false in a headless run, where it fails with the
    /// answers key). A step whose answer key alone would not give the consent it needs says so
    /// itself before asking.
    pub fn is_interactive(&self) -> bool {
        self.interactive
    }

    /// Asks the operator. A headless run cannot ask, so the step fails with the answers key.
    pub async fn ask(&self, mut request: InputRequest) -> Result<Answer, StepError> {
        // A prompt may quote a file name or a value read from an archive or bundle.
        request.prompt = crate::shown_text::escape_controls(&request.prompt).into_owned();
        if !self.interactive {
            return Err(StepError::NeedsInput(request));
        }
        let (tx, rx) = oneshot::channel();
        if let Ok(mut slot) = self.pending_answer.lock() {
            *slot = Some(tx);
        }
        let _ = self.events.send(EngineEvent::NeedsInput(request));
        tokio::select! {
            answer = rx => answer.map_err(|_| StepError::Cancelled),
            () = self.cancel.cancelled() => Err(StepError::Cancelled),
        }
    }

    /// The registry password, if one was given (it is never stored on disk).
    pub fn password(&self) -> Option<Secret> {
        self.password.lock().ok().and_then(|p| p.clone())
    }

    pub fn set_password(&self, secret: Secret) {
        if let Ok(mut p) = self.password.lock() {
            *p = Some(secret);
        }
    }

    /// Reads the wizard state (another step's status, say).
    pub fn with_state<T>(&self, f: impl FnOnce(&crate::wizard::WizardState) -> T) -> T {
        self.with_session(|s| f(s.state()))
    }

    fn with_session<T>(&self, f: impl FnOnce(&Session) -> T) -> T {
        match self.session.lock() {
            Ok(guard) => f(&guard),
            Err(poisoned) => f(&poisoned.into_inner()),
        }
    }
}
