//! The upgrade's first step: the model as it stands. The record of what was installed
//! (`deployed-state.json`, or the record an earlier upgrade left) is read and held against
//! `juju status`: every recorded application there, on the recorded charm and active, and
//! nothing else in the model. Nothing is changed; what does not hold is named with what to
//! do, before any archive is read.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use super::blocking::runner;
use super::inferred_model;
use super::inputs::InstalledInput;
use crate::cluster::cmd::Cmd;
use crate::cluster::juju_status::{ModelStatus, status_cmd};
use crate::engine::context::StepContext;
use crate::engine::events::{Answer, InputKind, InputRequest, Level};
use crate::engine::outputs::{InstalledModel, InstalledOutcome, StandingModel};
use crate::engine::step_data::{CheckRow, StepData, Verdict};
use crate::engine::work::StepError;
use crate::wizard::{ChoiceChange, PathChoice};

/// The record at `path`: an install's `deployed-state.json` or an upgrade's
/// `upgraded-state.json` (the same shape).
pub fn read_record(path: &Path) -> Result<InstalledModel, StepError> {
    let bytes = std::fs::read(path).map_err(|e| {
        StepError::failed(format!(
            "cannot read {}: {e}. Give the deployed-state.json the install wrote in its session \
             directory ([upgrade] installed).",
            path.display()
        ))
    })?;
    serde_json::from_slice(&bytes).map_err(|e| {
        StepError::failed(format!(
            "{} is not a record of an install ckf-airgap wrote ({e}); give the \
             deployed-state.json of the install's session ([upgrade] installed)",
            path.display()
        ))
    })
}

/// One application as the record and the model show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub application: String,
    pub verdict: Verdict,
    pub evidence: String,
    pub fix: Option<String>,
}

/// The record against the model: each recorded application present, on its charm and active;
/// each application of the model recorded.
pub fn compare(record: &InstalledModel, status: &ModelStatus, model: &str) -> Vec<Finding> {
    let mut out = Vec::new();
    let recorded: BTreeSet<&str> = record
        .applications
        .iter()
        .map(|a| a.application.as_str())
        .collect();
    for app in &record.applications {
        let name = app.application.clone();
        if let InstalledOutcome::Skipped { reason } = &app.outcome {
            out.push(Finding {
                application: name,
                verdict: Verdict::Skipped,
                evidence: format!("skipped at install: {reason}"),
                fix: None,
            });
            continue;
        }
        let Some(seen) = status.applications.get(&app.application) else {
            out.push(Finding {
                application: name.clone(),
                verdict: Verdict::Fail,
                evidence: format!("recorded as installed, but the {model} model has no {name}"),
                fix: Some(
                    "deploy it again as the install did (its command is in the install's \
                     deploy-plan.json), or give the record of this model ([upgrade] installed)"
                        .into(),
                ),
            });
            continue;
        };
        if !seen.charm.is_empty() && seen.charm != app.charm {
            out.push(Finding {
                application: name.clone(),
                verdict: Verdict::Fail,
                evidence: format!(
                    "runs the charm {}, the record says {}",
                    seen.charm, app.charm
                ),
                fix: Some(
                    "give the record of this very model ([upgrade] installed): this one is \
                     another install's"
                        .into(),
                ),
            });
            continue;
        }
        let unsettled: Vec<String> = seen
            .units
            .iter()
            .filter(|u| u.workload != "active")
            .map(|u| {
                format!("{} {} {}", u.name, u.workload, u.message)
                    .trim()
                    .to_owned()
            })
            .collect();
        if seen.status != "active" || !unsettled.is_empty() {
            let mut evidence = format!("{} {}", seen.status, seen.message)
                .trim()
                .to_owned();
            for u in &unsettled {
                evidence.push_str(&format!("; {u}"));
            }
            out.push(Finding {
                application: name.clone(),
                verdict: Verdict::Fail,
                evidence,
                fix: Some(format!(
                    "an upgrade starts from a settled model: wait until `juju status -m {model} \
                     {name}` shows active (or repair it), then retry"
                )),
            });
            continue;
        }
        out.push(Finding {
            application: name,
            verdict: Verdict::Pass,
            evidence: format!("{} on {}, active", app.charm, app.charm_file.display()),
            fix: None,
        });
    }
    for (name, seen) in &status.applications {
        if recorded.contains(name.as_str()) {
            continue;
        }
        out.push(Finding {
            application: name.clone(),
            verdict: Verdict::Fail,
            evidence: format!(
                "in the {model} model (charm {}), but not in the record of the install",
                seen.charm
            ),
            fix: Some(format!(
                "the upgrade moves only what the record holds: remove it (juju remove-application \
                 -m {model} {name}) or give the record of this model ([upgrade] installed)"
            )),
        });
    }
    out
}

/// Where the installed release is known from: the record the operator gave or typed, or the
/// model itself (`[upgrade] from_model`, or `model` typed at the prompt).
enum Source {
    Record(PathBuf),
    Model { typed: bool },
}

async fn source(ctx: &StepContext, input: &InstalledInput) -> Result<Source, StepError> {
    if let Some(path) = input.record_path() {
        return Ok(Source::Record(path.to_path_buf()));
    }
    if input.from_model {
        return Ok(Source::Model { typed: false });
    }
    let answer = ctx
        .ask(InputRequest {
            step: ctx.step(),
            prompt: "Path to the installed release's deployed-state.json (or `model` to read \
                     what runs from juju status, for a model ckf-airgap did not install)"
                .into(),
            kind: InputKind::Text,
            answers_key: PathChoice::InstalledRecord.answers_key(),
        })
        .await?;
    let Answer::Text(text) = answer else {
        return Err(StepError::failed("expected a path, or `model`"));
    };
    if text.trim() == "model" {
        ctx.change_choice(ChoiceChange::InstalledFromModel)?;
        return Ok(Source::Model { typed: true });
    }
    let path = PathBuf::from(text.trim());
    if !path.is_file() {
        return Err(StepError::failed(format!(
            "{} is not a readable file; check the path and retry",
            path.display()
        )));
    }
    ctx.change_choice(ChoiceChange::Path(
        PathChoice::InstalledRecord,
        path.clone(),
    ))?;
    Ok(Source::Record(path))
}

async fn model_status(model: &str) -> Result<ModelStatus, StepError> {
    let out = runner().capture(&status_cmd(model)).await.map_err(|e| {
        StepError::failed(format!(
            "cannot read the {model} model: {e}. Install the Juju client and log in to the \
             controller, then retry."
        ))
    })?;
    if !out.success() {
        return Err(StepError::failed(format!(
            "`juju status -m {model}` failed: {}. Check the controller and the model name \
             ([deploy] model), then retry.",
            out.stderr.trim()
        )));
    }
    ModelStatus::parse(&out.stdout).map_err(|e| {
        StepError::failed(format!(
            "`juju status -m {model} --format=json` gave what is not Juju's JSON ({e}); retry"
        ))
    })
}

/// The record inferred from the model, shown whole; the operator who chose it at the prompt
/// confirms it before it is used.
async fn inferred_record(
    ctx: &StepContext,
    input: &InstalledInput,
    status: &ModelStatus,
    model: &str,
    typed: bool,
) -> Result<InstalledModel, StepError> {
    let juju = match runner().capture(&Cmd::juju(["version"])).await {
        Ok(out) if out.success() => out.stdout.trim().to_owned(),
        _ => String::new(),
    };
    let inferred = inferred_model::infer(status, model, &juju, input.installed_release)
        .map_err(StepError::failed)?;
    ctx.publish(StepData::Checks(inferred.rows.clone()));
    let release = inferred
        .record
        .ckf_release
        .map(|r| r.to_string())
        .unwrap_or_default();
    ctx.log(
        Level::Warn,
        format!(
            "no record of the install: the {model} model is read as it stands, CKF {release} \
             ({}), {} applications; none has a way back (no previous charm file, images or \
             options are known)",
            inferred.release_evidence,
            inferred.record.applications.len()
        ),
    );
    if typed {
        let answer = ctx
            .ask(InputRequest {
                step: ctx.step(),
                prompt: format!(
                    "Take these {} applications, inferred from the {model} model, as the \
                     installed CKF {release}?",
                    inferred.record.applications.len()
                ),
                kind: InputKind::Confirm,
                answers_key: "upgrade.from_model",
            })
            .await?;
        if answer != Answer::Confirm(true) {
            return Err(StepError::failed(
                "what was inferred was not confirmed; nothing was changed. Give the install's \
                 deployed-state.json ([upgrade] installed), or retry to be asked again.",
            ));
        }
    }
    Ok(inferred.record)
}

pub async fn run(ctx: StepContext) -> Result<(), StepError> {
    let input = ctx.input::<InstalledInput>();
    let (record, status, path) = match source(&ctx, &input).await? {
        Source::Record(path) => {
            let record = read_record(&path)?;
            let model = input.model.clone().unwrap_or_else(|| record.model.clone());
            ctx.log(
                Level::Info,
                format!(
                    "{}: CKF {} on Juju {}, {} applications in the {} model",
                    path.display(),
                    record
                        .ckf_release
                        .map(|r| r.to_string())
                        .unwrap_or_else(|| "(release not recorded)".into()),
                    record.juju_version,
                    record.applications.len(),
                    record.model
                ),
            );
            ctx.phase(format!("reading the {model} model (juju status)"));
            let status = model_status(&model).await?;
            let mut record = record;
            record.model = model;
            (record, status, Some(path))
        }
        Source::Model { typed } => {
            let model = input.model.clone().unwrap_or_else(|| "kubeflow".into());
            ctx.phase(format!("reading the {model} model (juju status)"));
            let status = model_status(&model).await?;
            let record = inferred_record(&ctx, &input, &status, &model, typed).await?;
            (record, status, None)
        }
    };
    let model = record.model.clone();
    let findings = compare(&record, &status, &model);
    ctx.publish(StepData::Checks(
        findings
            .iter()
            .map(|f| CheckRow {
                id: f.application.clone(),
                title: f.application.clone(),
                verdict: f.verdict,
                evidence: f.evidence.clone(),
                fix: f.fix.clone(),
            })
            .collect(),
    ));
    let failed: Vec<&Finding> = findings
        .iter()
        .filter(|f| f.verdict == Verdict::Fail)
        .collect();
    if !failed.is_empty() {
        let mut text = format!(
            "the {model} model is not as {} records it; nothing was changed:",
            path.as_deref()
                .map(|p| p.display().to_string())
                .unwrap_or_else(|| "what was inferred from it".into())
        );
        for f in &failed {
            text.push_str(&format!("\n  {}: {}", f.application, f.evidence));
            if let Some(fix) = &f.fix {
                text.push_str(&format!("\n    {fix}"));
            }
        }
        return Err(StepError::failed(text));
    }
    ctx.log(
        Level::Info,
        format!(
            "the {model} model stands as recorded: {} applications, every one active",
            status.applications.len()
        ),
    );
    ctx.write_output(&StandingModel {
        record_file: path,
        applications: status.applications.len(),
        record,
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::outputs::InstalledApp;

    fn app(name: &str, charm: &str) -> InstalledApp {
        InstalledApp {
            application: name.into(),
            charm: charm.into(),
            charm_file: format!("/w/{charm}_r1.charm").into(),
            charm_sha256: None,
            kind: None,
            charmhub_revision: Some(1),
            channel: None,
            resources: Default::default(),
            config: Default::default(),
            config_file: None,
            trust: true,
            base: None,
            scale: Some(1),
            outcome: InstalledOutcome::Deployed,
        }
    }

    #[test]
    fn a_missing_unsettled_foreign_or_extra_application_is_named_with_its_fix() {
        let record = InstalledModel {
            model: "kubeflow".into(),
            juju_version: "3.6.4".into(),
            ckf_release: None,
            bundle: "/b.yaml".into(),
            registry: None,
            applications: vec![
                app("kfp-api", "kfp-api"),
                app("minio", "minio"),
                app("katib-db", "mysql-k8s"),
                app("gone", "gone"),
            ],
        };
        let status = ModelStatus::parse(
            r#"{"applications":{
            "kfp-api":{"charm-name":"kfp-api","application-status":{"current":"active"},
                "units":{"kfp-api/0":{"workload-status":{"current":"active"}}}},
            "minio":{"charm-name":"minio","application-status":{"current":"active"},
                "units":{"minio/0":{"workload-status":{"current":"maintenance","message":"restarting"}}}},
            "katib-db":{"charm-name":"postgresql-k8s","application-status":{"current":"active"}},
            "extra":{"charm-name":"grafana-k8s","application-status":{"current":"active"}}}}"#,
        )
        .unwrap();
        let findings = compare(&record, &status, "kubeflow");
        let by = |n: &str| findings.iter().find(|f| f.application == n).unwrap();
        assert_eq!(by("kfp-api").verdict, Verdict::Pass);
        assert_eq!(by("minio").verdict, Verdict::Fail);
        assert!(
            by("minio")
                .evidence
                .contains("minio/0 maintenance restarting")
        );
        assert!(by("katib-db").evidence.contains("postgresql-k8s"));
        assert!(by("gone").evidence.contains("has no gone"));
        assert!(
            by("extra")
                .fix
                .as_deref()
                .unwrap()
                .contains("juju remove-application -m kubeflow extra")
        );
    }
}
