//! What the engine tells the front ends, and what they tell it.

use crate::gateway_type::GatewayServiceType;
use crate::secret::Secret;
use crate::wizard::{ItemKind, RegistryForm, Step, StepStatus, WizardState};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Info,
    Warn,
    Error,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quantity {
    Bytes,
    Items,
}

/// "1.2 GiB", "340 KiB", "17 items".
pub fn amount(n: u64, quantity: Quantity) -> String {
    match quantity {
        Quantity::Items => format!("{n}"),
        Quantity::Bytes => {
            const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
            let mut value = n as f64;
            let mut unit = 0;
            while value >= 1024.0 && unit < UNITS.len() - 1 {
                value /= 1024.0;
                unit += 1;
            }
            if unit == 0 {
                format!("{n} B")
            } else {
                format!("{value:.1} {}", UNITS[unit])
            }
        }
    }
}

/// Progress of a running step. Rate and ETA are computed by the engine so every front end
/// shows the same figures.
#[derive(Debug, Clone, PartialEq)]
pub struct Progress {
    pub step: Step,
    pub done: u64,
    pub total: Option<u64>,
    pub quantity: Quantity,
    /// The item in hand (an archive member, an image, a command).
    pub item: Option<String>,
    pub rate_per_sec: Option<f64>,
    pub eta_secs: Option<u64>,
}

impl Progress {
    pub fn fraction(&self) -> Option<f64> {
        match self.total {
            Some(0) => Some(1.0),
            Some(total) => Some((self.done as f64 / total as f64).clamp(0.0, 1.0)),
            None => None,
        }
    }
}

/// A question only the operator can answer. Headless runs fail on it with `answers_key`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputRequest {
    pub step: Step,
    pub prompt: String,
    pub kind: InputKind,
    /// Where the answers file would have given this answer.
    pub answers_key: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InputKind {
    Password,
    Text,
    Confirm,
    Choice(Vec<String>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    Password(Secret),
    Text(String),
    Confirm(bool),
    Choice(usize),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StopReason {
    /// Every step is done.
    Finished,
    /// Ctrl-C, SIGHUP, SIGTERM or the operator quit: progress is saved.
    Interrupted,
    /// A headless run hit a failure or a question it cannot answer.
    Failed { step: Step, reason: String },
    /// The engine itself could not go on (the session could not be saved, ...): the message
    /// says why and what to do; everything saved before it stands.
    Error(String),
}

/// The persisted state as the front ends see it: each step's status, note and how many units
/// it finished, and the choices; not the ledgers, which grow with the release.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct StateSnapshot {
    /// The state with every ledger left empty.
    pub wizard: WizardState,
    pub units: std::collections::BTreeMap<Step, usize>,
}

impl StateSnapshot {
    pub fn of(state: &WizardState) -> StateSnapshot {
        let steps = state
            .steps
            .iter()
            .map(|(step, r)| {
                let record = crate::wizard::StepRecord {
                    status: r.status.clone(),
                    inputs: r.inputs.clone(),
                    ledger: Default::default(),
                    note: r.note.clone(),
                };
                (*step, record)
            })
            .collect();
        StateSnapshot {
            wizard: WizardState {
                flow: state.flow,
                current: state.current,
                steps,
                choices: state.choices.clone(),
            },
            units: state
                .steps
                .iter()
                .map(|(step, r)| (*step, r.ledger.len()))
                .collect(),
        }
    }
}

impl From<WizardState> for StateSnapshot {
    fn from(state: WizardState) -> Self {
        StateSnapshot::of(&state)
    }
}

impl std::ops::Deref for StateSnapshot {
    type Target = WizardState;
    fn deref(&self) -> &WizardState {
        &self.wizard
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum EngineEvent {
    /// The persisted state changed; front ends render from this copy.
    State(Box<StateSnapshot>),
    StepStarted(Step),
    Progress(Progress),
    /// What a long, silent piece of work is doing.
    Phase {
        step: Step,
        text: String,
    },
    Log {
        step: Option<Step>,
        level: Level,
        line: String,
    },
    UnitDone {
        step: Step,
        unit: String,
    },
    StepFinished {
        step: Step,
        status: StepStatus,
    },
    NeedsInput(InputRequest),
    /// Structured results for the step's screen (checks, inventory, push rows, mapping, ...).
    StepData {
        step: Step,
        data: super::step_data::StepData,
    },
    /// A document for the operator to read before deciding (the bundle diff).
    Document {
        step: Step,
        title: String,
        text: String,
    },
    /// Something the operator should read (an invalidation, a refusal, a resume).
    Notice(String),
    /// The engine waits for the operator's next command (sent once per wait, after the state
    /// it waits in): a prompting front end asks exactly then.
    Waiting,
    Stopped(StopReason),
}

/// What a front end asks of the engine: one typed request each, never a whole `Choices`.
/// The engine alone decides what follows (running, retrying, moving on), so every front end
/// behaves the same.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// "Go on" (Enter): run a pending step, retry a failed one, move past a settled one.
    Proceed,
    /// Run (or resume) the current step.
    RunCurrent,
    Next,
    Back,
    Skip {
        reason: String,
    },
    /// Run a failed, skipped or done step again.
    Retry,
    /// Skip one check or deploy command with a recorded reason, then run the step again.
    SkipItem {
        kind: ItemKind,
        id: String,
        reason: String,
    },
    /// The registry form, then the login is tried. A typed password stays in memory only.
    SetRegistry {
        form: RegistryForm,
        password: Option<Secret>,
    },
    /// Map one image reference by hand, then check the mapping again.
    OverrideTarget {
        source: String,
        target: String,
    },
    /// Replace `old` by `new` at the start of every mapping target, then check again.
    RewritePrefix {
        old: String,
        new: String,
    },
    /// The Istio gateway's service type, then the step records it.
    SetGateway(GatewayServiceType),
    /// The registry password typed into a form; kept in the engine's memory only.
    SetPassword(Secret),
    Answer(Answer),
    /// Save and stop.
    Quit,
}
