//! Helpers shared by the steps.

use std::path::PathBuf;

use crate::cluster::cmd::Tools;
use crate::cluster::release::CkfRelease;
use crate::cluster::runner::Runner;

use crate::engine::context::StepContext;
use crate::engine::events::{Answer, InputKind, InputRequest};
use crate::engine::work::StepError;
use crate::wizard::Choices;

/// Runs blocking work (file reading, hashing) off the async threads and maps its error.
pub async fn blocking<T, E>(
    work: impl FnOnce() -> Result<T, E> + Send + 'static,
) -> Result<T, StepError>
where
    T: Send + 'static,
    E: std::fmt::Display + Send + 'static,
{
    match tokio::task::spawn_blocking(work).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(e)) => Err(StepError::failed(e.to_string())),
        Err(e) => Err(StepError::failed(format!(
            "the work stopped unexpectedly: {e}"
        ))),
    }
}

/// A path the step needs: from the choices, else asked (and then recorded in the session).
pub async fn required_path(
    ctx: &StepContext,
    get: impl Fn(&Choices) -> Option<PathBuf>,
    set: impl FnOnce(&mut Choices, PathBuf),
    answers_key: &'static str,
    prompt: &str,
) -> Result<PathBuf, StepError> {
    if let Some(path) = get(&ctx.choices()) {
        return Ok(path);
    }
    let answer = ctx
        .ask(InputRequest {
            step: ctx.step(),
            prompt: prompt.to_string(),
            kind: InputKind::Text,
            answers_key,
        })
        .await?;
    let Answer::Text(text) = answer else {
        return Err(StepError::failed(format!("{prompt}: expected a path")));
    };
    let path = PathBuf::from(text.trim());
    if !path.is_file() {
        return Err(StepError::failed(format!(
            "{} is not a readable file; check the path and retry",
            path.display()
        )));
    }
    ctx.update_choices(|c| set(c, path.clone()))?;
    Ok(path)
}

pub const DEFAULT_RELEASE: CkfRelease = CkfRelease::V1_7;

/// The release chosen, or the one the air-gapped bundles are for.
pub fn release(choices: &Choices) -> Result<CkfRelease, StepError> {
    release_with_evidence(choices).map(|(r, _)| r)
}

/// The release and why: the operator's choice, else what the bundle says (a release bundle's
/// channels; the air-gapped form is the 1.7 one), else 1.7 with that said.
pub fn release_with_evidence(choices: &Choices) -> Result<(CkfRelease, String), StepError> {
    if let Some(name) = &choices.ckf_release {
        let release = CkfRelease::parse(name).ok_or_else(|| {
            StepError::failed(format!(
                "{name:?} is not a Charmed Kubeflow release this tool knows (deploy.ckf_release: 1.7 ... 1.11)"
            ))
        })?;
        return Ok((release, "chosen (deploy.ckf_release)".into()));
    }
    if let Some(path) = &choices.bundle
        && let Ok((bundle, form)) = super::release_bundle::form_of(path, choices)
    {
        match form {
            crate::release::BundleForm::Release => {
                if let Some(d) = crate::release::detect_release(&bundle)
                    && let Some(r) = CkfRelease::parse(&d.release)
                {
                    return Ok((r, format!("from the bundle: {}", d.evidence)));
                }
            }
            crate::release::BundleForm::AirGapped { .. } => {
                return Ok((
                    CkfRelease::V1_7,
                    "from the bundle: the air-gapped form is CKF 1.7's".into(),
                ));
            }
        }
    }
    Ok((
        DEFAULT_RELEASE,
        "not given (deploy.ckf_release) and not recognised from a bundle: versions are checked \
         against CKF 1.7"
            .into(),
    ))
}

/// `host[:port]` and the path prefix of a registry target (`reg.lab:5000/ckf`).
pub fn registry_address_and_prefix(target: &str) -> (String, String) {
    let prefix = target
        .split_once('/')
        .map(|(_, p)| p.to_string())
        .unwrap_or_default();
    (registry_address(target).to_string(), prefix)
}

/// `host[:port]` of the registry target (the path prefix is not part of the address).
pub fn registry_address(target: &str) -> &str {
    target.split('/').next().unwrap_or(target)
}

pub fn runner() -> Runner {
    Runner::new(Tools::default()).with_kubectl_fallback()
}

/// The work directory: the operator's choice, else a folder in the session.
pub fn work_dir(ctx: &StepContext) -> std::path::PathBuf {
    ctx.choices()
        .work_dir
        .unwrap_or_else(|| ctx.session_dir().join("work"))
}
