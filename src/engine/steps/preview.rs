//! The bundle preview: what the deploy will use, before anything is written or run. The
//! air-gapped form's edits (images, charm paths, gateway, PodSpec apps moved out) as one
//! verified plan, shown as a diff and written to a new file after the operator's consent (the
//! original is never modified); a release bundle's applications with what each gets.

use super::forms::OpenedBundle;
use crate::engine::context::StepContext;
use crate::engine::work::StepError;

pub async fn run(ctx: StepContext) -> Result<(), StepError> {
    OpenedBundle::decided(&ctx).await?.preview(&ctx).await
}
