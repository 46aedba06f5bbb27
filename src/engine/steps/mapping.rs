//! Placeholder mapping: the bundle's form is decided and recorded, then every image the
//! deployment uses is mapped to a pushed image (each form's rows in `forms`); the step refuses
//! to finish while one is missing, ambiguous, invalid or in conflict.

use super::forms::{self, OpenedBundle};
use crate::engine::context::StepContext;
use crate::engine::events::Level;
use crate::engine::work::StepError;

pub async fn run(ctx: StepContext) -> Result<(), StepError> {
    let decided = forms::decide(&ctx).await?;
    ctx.log(
        Level::Info,
        format!(
            "{}: {}{}",
            decided.bundle.display(),
            decided.form.describe(),
            decided
                .ckf_release
                .map(|r| format!(" (CKF {r})"))
                .unwrap_or_default()
        ),
    );
    ctx.write_output(&decided)?;
    OpenedBundle::open(&ctx, &decided)?.map(&ctx).await
}
