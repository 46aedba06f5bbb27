//! The paths the steps need from the choices: a file asked for when the answers do not name
//! it (and then recorded as a typed choice), and the work directory.

use std::path::{Path, PathBuf};

use super::inputs::WorkDirInput;

use crate::engine::context::StepContext;
use crate::engine::events::{Answer, InputKind, InputRequest};
use crate::engine::work::StepError;
use crate::wizard::{ChoiceChange, PathChoice};

/// A file the step needs: `chosen` (from the step's input), else asked (and then recorded in
/// the session as `which`).
pub async fn required_path(
    ctx: &StepContext,
    chosen: Option<&Path>,
    which: PathChoice,
    prompt: &str,
) -> Result<PathBuf, StepError> {
    if let Some(path) = chosen {
        return Ok(path.to_path_buf());
    }
    let answer = ctx
        .ask(InputRequest {
            step: ctx.step(),
            prompt: prompt.to_string(),
            kind: InputKind::Text,
            answers_key: which.answers_key(),
        })
        .await?;
    let Answer::Text(text) = answer else {
        return Err(StepError::failed(format!("{prompt}: expected a path")));
    };
    let path = PathBuf::from(text.trim());
    if !crate::artifacts::volumes::archive_exists(&path) {
        return Err(StepError::failed(format!(
            "{} is not a readable file; check the path and retry",
            path.display()
        )));
    }
    ctx.change_choice(ChoiceChange::Path(which, path.clone()))?;
    Ok(path)
}

/// The work directory: the operator's choice, else a folder in the session.
pub fn work_dir(ctx: &StepContext) -> PathBuf {
    ctx.input::<WorkDirInput>()
        .work_dir
        .unwrap_or_else(|| ctx.session_dir().join("work"))
}
