//! The bundle preview: every edit (images, charm paths, gateway, PodSpec apps moved out) as
//! one verified plan, shown as a diff, written to a new file after the operator's consent.
//! The original bundle is never modified.

use std::path::PathBuf;

use serde_json::json;

use super::bundle_plan;
use super::choice_paths::work_dir;
use super::inputs::{BundleInput, GatewayInput, WriteConsentInput};
use super::release_bundle::{self, ReleaseBundle};
use crate::bundle::{charms, diff, gateway, leftover, podspec, rewrite, write};
use crate::cluster::yaml_out::ConfigValue;
use crate::engine::context::StepContext;
use crate::engine::events::{Answer, InputKind, InputRequest, Level};
use crate::engine::outputs::{BundleEdits, MappingOutput};
use crate::engine::units::Summary;
use crate::engine::work::StepError;

pub const SEPARATE_PLAN_FILE: &str = "separately-deployed.yaml";

pub async fn run(ctx: StepContext) -> Result<(), StepError> {
    let decided = release_bundle::decided(&ctx).await?;
    if decided.is_release() {
        return preview_release(&ctx, &release_bundle::load_release(&ctx, &decided)?);
    }
    let plan = bundle_plan::build(&ctx).await?;
    let mut edits = rewrite::plan_image_edits(&plan.bundle.doc, &plan.sites, &plan.table)
        .map_err(StepError::failed)?;
    for message in &edits.normalised {
        ctx.log(Level::Warn, message.clone());
    }

    if !plan.charm_files.is_empty() {
        let rewrite =
            charms::plan_charm_paths(&plan.bundle, &plan.charm_files).map_err(StepError::failed)?;
        for missing in &rewrite.missing {
            ctx.log(Level::Warn, missing.message());
        }
        edits.merge(rewrite.plan);
    }
    if let Some(choice) = ctx.input::<GatewayInput>().gateway {
        edits.merge(gateway::plan_gateway(&plan.bundle, choice).map_err(StepError::failed)?);
    }
    let warnings = podspec::detect_podspec(&plan.bundle, &plan.charm_kinds);
    let mut separate = None;
    if !warnings.is_empty() {
        for w in &warnings {
            ctx.log(Level::Warn, w.message.clone());
        }
        let moved =
            podspec::plan_podspec_move(&plan.bundle, &warnings).map_err(StepError::failed)?;
        edits.merge(moved.edit);
        separate = Some(moved.plan);
    }

    let edited = edits.apply(&plan.bundle.doc).map_err(StepError::failed)?;
    refuse_leftovers(&ctx, &plan, &edited.doc)?;
    let output: PathBuf = ctx
        .input::<BundleInput>()
        .bundle_output
        .unwrap_or_else(|| write::default_output_path(&plan.path));
    let name = |p: &std::path::Path| p.display().to_string();
    let diff_text = diff::unified_diff(
        plan.bundle.doc.text(),
        &edited.text,
        &name(&plan.path),
        &name(&output),
    );
    ctx.document(format!("Edits to write to {}", output.display()), diff_text);

    if !ctx.input::<WriteConsentInput>().confirm_bundle_write {
        let answer = ctx
            .ask(InputRequest {
                step: ctx.step(),
                prompt: format!(
                    "Write the edited bundle to {}? (the original stays as it is)",
                    output.display()
                ),
                kind: InputKind::Confirm,
                answers_key: "bundle.write",
            })
            .await?;
        if answer != Answer::Confirm(true) {
            return Err(StepError::failed(
                "the edit was not confirmed; nothing was written. Retry to see the preview again.",
            ));
        }
    }
    let report = plan
        .table
        .report(&plan.sites, &name(&plan.path), &name(&output));
    let written = write::write_outputs(&plan.path, Some(&output), &edited.text, &report)
        .map_err(StepError::failed)?;
    let mut outputs = BundleEdits {
        bundle: Some(written.bundle.clone()),
        report: Some(written.report.clone()),
        ..BundleEdits::default()
    };
    if let Some(separate) = separate {
        let path = written.bundle.with_file_name(SEPARATE_PLAN_FILE);
        write::write_atomic(
            &path,
            separate
                .to_yaml("# Deployed one by one by ckf-airgap")
                .as_bytes(),
        )
        .map_err(StepError::failed)?;
        ctx.log(
            Level::Info,
            format!(
                "{} PodSpec application(s) moved out of the bundle; their plan is in {}",
                warnings.len(),
                path.display()
            ),
        );
        outputs.separately_deployed = Some(path);
    }
    ctx.log(
        Level::Info,
        format!(
            "wrote {} and {}",
            written.bundle.display(),
            written.report.display()
        ),
    );
    ctx.write_output(&outputs)?;
    ctx.record(
        &Summary::BundleWritten,
        &json!({ "bundle": written.bundle }),
    )
}

/// A release bundle is not edited: each application is deployed on its own. The preview shows
/// what each will get (charm, resources, the options with every image rewritten); the deploy
/// step shows the exact commands and asks before running them.
fn preview_release(ctx: &StepContext, release: &ReleaseBundle) -> Result<(), StepError> {
    let targets = ctx.output::<MappingOutput>()?.targets();
    let gateway = ctx.input::<GatewayInput>().gateway;
    let apps = release_bundle::app_deploys(release, &targets, &work_dir(ctx), gateway).map_err(
        |missing| {
            StepError::failed(format!(
                "these have no pushed image or charm:\n  {}\nRun the Map placeholders step again \
                 or map them by hand ([mapping]).",
                missing.join("\n  ")
            ))
        },
    )?;
    let mut text = format!(
        "{}: {}. Nothing in it is edited: each application is deployed from its local charm.\n",
        release.path.display(),
        release_bundle::describe(release)
    );
    for app in &apps {
        text.push_str(&format!(
            "\n{} ({})\n",
            app.application,
            app.charm.display()
        ));
        for (name, image) in &app.resources {
            text.push_str(&format!("  --resource {name}={image}\n"));
        }
        for (key, value) in &app.config {
            let shown = match value {
                ConfigValue::Text(t) => t.clone(),
                ConfigValue::Bool(b) => b.to_string(),
                ConfigValue::Int(i) => i.to_string(),
                ConfigValue::Float(f) => f.to_string(),
            };
            let mut lines = shown.lines();
            text.push_str(&format!("  {key}: {}\n", lines.next().unwrap_or("")));
            for line in lines {
                text.push_str(&format!("    {line}\n"));
            }
        }
    }
    ctx.document("Release bundle: what each application gets", text);
    ctx.write_output(&BundleEdits {
        applications: apps.len(),
        ..BundleEdits::default()
    })?;
    ctx.record(
        &Summary::ReleasePlan,
        &json!({ "applications": apps.len(), "bundle": release.path }),
    )
}

/// Every text still under the placeholder registry after the edit, unless the operator skipped
/// that reference with a reason: listed before the diff, and the step does not pass.
fn refuse_leftovers(
    ctx: &StepContext,
    plan: &bundle_plan::BundlePlan,
    edited: &crate::bundle::Document,
) -> Result<(), StepError> {
    let Some(placeholder) = plan.placeholder.as_deref() else {
        return Ok(());
    };
    let input = ctx.input::<BundleInput>();
    let skipped: Vec<&str> = input
        .reference_skips
        .iter()
        .map(|(reference, _)| reference.as_str())
        .collect();
    // A skipped reference is left as written whatever its spelling (an escape such as `\x2F`):
    // matched by the value that holds it, as well as by its text.
    let skipped_values: std::collections::HashSet<String> = plan
        .sites
        .iter()
        .filter(|s| skipped.contains(&s.text.as_str()))
        .map(|s| crate::bundle::yaml::display_path(&s.value_path))
        .collect();
    // What the edit wrote (a target under a registry whose address holds the placeholder's).
    let written: std::collections::HashSet<String> = plan
        .tables()
        .flat_map(|t| t.rows.iter().filter_map(|r| t.final_target(r)))
        .collect();
    let file = plan.path.display().to_string();
    let left: Vec<String> = leftover::placeholder_leftovers(edited, placeholder)
        .into_iter()
        .filter(|l| !skipped.contains(&l.reference.as_str()))
        .filter(|l| !skipped_values.contains(&l.path))
        .filter(|l| !written.contains(&l.reference))
        .map(|l| format!("  {}", l.message(&file)))
        .collect();
    if left.is_empty() {
        return Ok(());
    }
    Err(StepError::failed(format!(
        "{} value(s) of the edited bundle are still under the placeholder registry {placeholder}; \
         written as they are, the cluster would try to pull them from there:\n{}\n\
         Fix each in {file} and run this step again, or skip a reference with a reason (answers: \
         [skip] \"ref:<reference>\" = \"why\").",
        left.len(),
        left.join("\n")
    )))
}
