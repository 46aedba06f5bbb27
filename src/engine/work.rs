//! The contract between the engine and the work of each step.

use std::future::Future;
use std::pin::Pin;

use super::context::StepContext;
use super::events::InputRequest;
use crate::wizard::{Choices, Step};

#[derive(Debug, thiserror::Error)]
pub enum StepError {
    /// The message says what went wrong and what to do about it.
    #[error("{0}")]
    Failed(String),
    #[error("stopped before the step finished")]
    Cancelled,
    /// A question a headless run cannot answer.
    #[error("needs an answer the run cannot ask for: {} (set `{}` in the answers file)", .0.prompt, .0.answers_key)]
    NeedsInput(InputRequest),
}

impl StepError {
    /// The step failed with this message (any error's text: it says what to do).
    pub fn failed(message: impl std::fmt::Display) -> StepError {
        // The message may quote an archive's or a bundle's text: its control characters are
        // shown, not sent to the terminal.
        StepError::Failed(crate::shown_text::escape_controls(&message.to_string()).into_owned())
    }
}

pub type StepFuture = Pin<Box<dyn Future<Output = Result<(), StepError>> + Send>>;

/// The work behind the steps. The product's implementation is `steps::Builtin`; tests supply
/// their own to drive the engine through units, failures and crashes.
pub trait StepWork: Send + Sync {
    /// The fingerprint of the inputs `step` depends on, as encoded by `fingerprint::of`.
    fn inputs(&self, step: Step, choices: &Choices) -> String;

    /// Does the step. Must skip units already in the ledger (`ctx.is_done`) and record each
    /// finished unit with `ctx.record_unit` before starting the next.
    fn run(&self, step: Step, ctx: StepContext) -> StepFuture;
}
