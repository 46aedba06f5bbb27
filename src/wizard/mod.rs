//! The wizard's persisted model and its pure transitions.

pub mod change;
pub mod state;
pub mod step;
pub mod transition;

pub use change::{ChoiceChange, ItemKind, PathChoice, RegistryForm};
pub use state::{Choices, StepRecord, StepStatus, WizardState};
pub use step::{Flow, Step};
pub use transition::{Effect, Msg, Refusal, update};
