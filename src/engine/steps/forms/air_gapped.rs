//! The CKF 1.7-era air-gapped bundle: images under a placeholder registry, local charms.
//! Mapped reference by reference, edited in place (spliced, re-parsed, shown as a diff, written
//! to a new file), the PodSpec charms moved out and deployed one by one.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::json;

use super::{BundleCheck, PlannedInstall};
use crate::artifacts::{self, DeploymentNeeds, Inventory};
use crate::bundle::mapping::{MappingConflict, MappingRow, MappingTable, MatchStatus};
use crate::bundle::podspec::SeparatelyDeployed;
use crate::bundle::{charms, diff, gateway, leftover, podspec, rewrite, write};
use crate::cluster::plan::{DeployPlan, PlanInput};
use crate::engine::context::StepContext;
use crate::engine::events::{Answer, InputKind, InputRequest, Level};
use crate::engine::outputs::{BundleEdits, MappedImage, MappingOutput, SessionPushReport};
use crate::engine::step_data::{MappingRowView, MappingState, StepData};
use crate::engine::steps::bundle_plan;
use crate::engine::steps::choice_paths::work_dir;
use crate::engine::steps::inputs::{BundleInput, GatewayInput, ReleaseInput, WriteConsentInput};
use crate::engine::units::Summary;
use crate::engine::work::StepError;
use crate::version::Version;

/// Where the preview writes the plan of the PodSpec charms it moved out of the bundle.
pub const SEPARATE_PLAN_FILE: &str = "separately-deployed.yaml";

pub struct AirGappedForm {
    pub path: PathBuf,
    pub placeholder: String,
}

impl AirGappedForm {
    /// The images under the placeholder and the charms the bundle names, against the archives.
    pub fn cross_check(
        &self,
        ctx: &StepContext,
        inventory: &Inventory,
        report: bool,
    ) -> Result<BundleCheck, StepError> {
        let needs = deployment_needs(&self.path, Some(&self.placeholder))?;
        let check = artifacts::cross_check(inventory, &needs);
        let unused = check
            .unused_images
            .iter()
            .map(|i| format!("image not used by the bundle: {i}"))
            .chain(
                check
                    .unused_charms
                    .iter()
                    .map(|c| format!("charm not used by the bundle: {c}")),
            );
        for line in unused.filter(|_| report) {
            ctx.log(Level::Warn, line);
        }
        Ok(BundleCheck {
            check,
            bundle: crate::release::BundleForm::AirGapped {
                placeholder: self.placeholder.clone(),
            }
            .describe(),
            skippable: Vec::new(),
        })
    }

    /// Every reference under the placeholder mapped to a pushed image; refused while one is
    /// missing, ambiguous, invalid or in conflict.
    pub async fn map(&self, ctx: &StepContext) -> Result<(), StepError> {
        let plan = bundle_plan::build(ctx).await?;
        let tables: Vec<&MappingTable> = plan.tables().collect();
        let rows = all_rows(&tables);
        ctx.log(
            Level::Info,
            format!(
                "{}: {} image reference(s), {} distinct{}; placeholder registry {}",
                plan.path.display(),
                plan.sites.len(),
                rows.len(),
                if plan.separate.is_some() {
                    " (with the separately deployed charms)"
                } else {
                    ""
                },
                plan.table.placeholder.as_deref().unwrap_or("(none found)")
            ),
        );
        let input = ctx.input::<BundleInput>();
        for (source, reason) in input
            .reference_skips
            .iter()
            .filter(|(source, _)| plan.table.row(source).is_some())
        {
            ctx.log(
                Level::Warn,
                format!("{source} is left as written in the bundle (skipped: {reason})"),
            );
        }
        for site in plan.sites.iter().filter(|s| !s.shared_by.is_empty()) {
            ctx.log(
            Level::Info,
            format!(
                "{} is anchored as &{} and reused by {}: it is edited once, where it is written",
                site.location(),
                site.anchor.as_deref().unwrap_or("?"),
                site.shared_by.join(", ")
            ),
        );
        }
        let mut text = String::new();
        for (table, row) in &rows {
            let target = table
                .final_target(row)
                .unwrap_or_else(|| format!("{} (kept)", row.source));
            let status = match &row.status {
                MatchStatus::Matched(_) => "matched".to_string(),
                MatchStatus::Missing => "MISSING".to_string(),
                MatchStatus::Ambiguous(c) => format!("AMBIGUOUS ({})", c.join(", ")),
                MatchStatus::Unchecked => "not checked".to_string(),
            };
            text.push_str(&format!("{}\n  -> {target}  [{status}]\n", row.source));
        }
        ctx.document("Image mapping", text);
        let view = rows_view(&tables);
        super::write_mapping_view(ctx, &view)?;
        ctx.publish(StepData::Mapping(view));

        let conflicts = conflicts(&tables);
        let mut blocking: Vec<&MappingRow> =
            tables.iter().flat_map(|t| t.blocking_rows()).collect();
        blocking.dedup_by(|a, b| a.source == b.source);
        if !conflicts.is_empty() || !blocking.is_empty() {
            let mut message = String::from("the mapping cannot be written yet:");
            for c in &conflicts {
                message.push_str(&format!(
                    "\n  {} would receive {} different images: {}",
                    c.target,
                    c.sources.len(),
                    c.sources.join(", ")
                ));
            }
            for row in &blocking {
                let why = match (&row.problem, &row.status) {
                    (Some(p), _) => p.clone(),
                    (None, MatchStatus::Missing) => "no pushed image matches".to_string(),
                    (None, MatchStatus::Ambiguous(c)) => {
                        format!("several pushed images match: {}", c.join(", "))
                    }
                    (None, _) => "unusable".to_string(),
                };
                message.push_str(&format!("\n  {}: {why}", row.source));
            }
            message.push_str(
                "\nPush the missing images, or map each row by hand (the [mapping] table of the \
             answers file: \"<source>\" = \"<target>\"), then retry.",
            );
            return Err(StepError::failed(message));
        }
        if let Some(report) = ctx.output_unless_skipped::<SessionPushReport>()? {
            let report = report.pushed_targets();
            let unused: Vec<Vec<String>> =
                tables.iter().map(|t| t.unused_pushed(&report)).collect();
            for image in unused.first().into_iter().flatten() {
                if unused.iter().all(|u| u.contains(image)) {
                    ctx.log(
                        Level::Warn,
                        format!("pushed but not used by the deployment: {image}"),
                    );
                }
            }
        } else {
            ctx.log(
                Level::Warn,
                "there is no push report in this session (the push step was skipped): the targets \
             are not checked against the registry",
            );
        }
        let output = MappingOutput {
            rows: rows
                .iter()
                .map(|(table, row)| MappedImage {
                    application: None,
                    site: None,
                    source: row.source.clone(),
                    target: table.final_target(row),
                    registry_namespace: row.shape == crate::image_ref::RefShape::RegistryNamespace,
                    digest: row.digest.clone(),
                })
                .collect(),
        };
        ctx.write_output(&output)?;
        ctx.record(
            &Summary::Mapping,
            &json!({ "rows": rows.len(), "placeholder": plan.table.placeholder }),
        )
    }

    /// Every edit (images, charm paths, gateway, PodSpec apps moved out) as one verified plan,
    /// shown as a diff, written to a new file after the operator's consent.
    pub async fn preview(&self, ctx: &StepContext) -> Result<(), StepError> {
        let plan = bundle_plan::build(ctx).await?;
        let mut edits = rewrite::plan_image_edits(&plan.bundle.doc, &plan.sites, &plan.table)
            .map_err(StepError::failed)?;
        for message in &edits.normalised {
            ctx.log(Level::Warn, message.clone());
        }

        if !plan.charm_files.is_empty() {
            let rewrite = charms::plan_charm_paths(&plan.bundle, &plan.charm_files)
                .map_err(StepError::failed)?;
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
        refuse_leftovers(ctx, &plan, &edited.doc)?;
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

    /// The edited bundle, the separately deployed charms, their relations.
    pub fn deploy_plan(
        &self,
        ctx: &StepContext,
        juju: Version,
        config_dir: &Path,
        model: &str,
    ) -> Result<PlannedInstall, StepError> {
        let edits = bundle_edits(ctx)?;
        let bundle = bundle_to_deploy(ctx, &edits)?;
        let separate = separate_plan(ctx, &edits)?;
        let images = image_map(ctx)?;
        let charms = charm_files(ctx)?;
        let input = PlanInput {
            bundle_path: &bundle,
            separate: &separate,
            images: &images,
            charms: &charms,
            juju,
            config_dir,
            model,
        };
        Ok(PlannedInstall {
            plan: DeployPlan::build(&input).map_err(StepError::failed)?,
            apps: DeployPlan::air_gapped_apps(&input).map_err(StepError::failed)?,
        })
    }
}

/// Every row of every table once (a reference used by the bundle and a separate charm is one
/// row), with the table that maps it.
fn all_rows<'a>(tables: &[&'a MappingTable]) -> Vec<(&'a MappingTable, &'a MappingRow)> {
    let mut seen = std::collections::BTreeSet::new();
    tables
        .iter()
        .flat_map(|t| t.rows.iter().map(move |r| (*t, r)))
        .filter(|(_, r)| seen.insert(r.source.clone()))
        .collect()
}

/// The rows for the mapping screen: rows that need the operator first.
fn rows_view(tables: &[&MappingTable]) -> Vec<MappingRowView> {
    let mut rows: Vec<MappingRowView> = all_rows(tables)
        .into_iter()
        .map(|(table, row)| {
            let (state, detail) = match (&row.problem, &row.status, &row.target) {
                (Some(p), _, _) => (MappingState::Invalid, Some(p.clone())),
                (None, _, None) => (MappingState::Kept, None),
                (None, MatchStatus::Matched(_), _) => (MappingState::Matched, row.digest.clone()),
                (None, MatchStatus::Missing, _) => (MappingState::Missing, None),
                (None, MatchStatus::Ambiguous(c), _) => {
                    (MappingState::Ambiguous, Some(c.join(", ")))
                }
                (None, MatchStatus::Unchecked, _) => (MappingState::Unchecked, None),
            };
            MappingRowView {
                source: row.source.clone(),
                target: table
                    .final_target(row)
                    .unwrap_or_else(|| row.source.clone()),
                state,
                detail,
                overridden: row.overridden,
            }
        })
        .collect();
    let rank = |s: &MappingState| match s {
        MappingState::Missing | MappingState::Invalid => 0,
        MappingState::Ambiguous => 1,
        MappingState::Unchecked => 2,
        MappingState::Matched => 3,
        MappingState::Kept => 4,
    };
    rows.sort_by_key(|r| rank(&r.state));
    rows
}

/// Two different sources written as the same target, across every table.
fn conflicts(tables: &[&MappingTable]) -> Vec<MappingConflict> {
    let mut by_target: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for (table, row) in all_rows(tables) {
        if let Some(target) = table.final_target(row) {
            by_target
                .entry(target)
                .or_default()
                .push(row.source.clone());
        }
    }
    by_target
        .into_iter()
        .filter(|(_, sources)| sources.len() > 1)
        .map(|(target, sources)| MappingConflict { target, sources })
        .collect()
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

/// The files the preview wrote. A skipped preview means the operator edited the bundle another
/// way: the chosen bundle is deployed as it is, and the log says so.
fn bundle_edits(ctx: &StepContext) -> Result<BundleEdits, StepError> {
    match ctx.output_unless_skipped::<BundleEdits>()? {
        Some(edits) => Ok(edits),
        None => {
            ctx.log(
                Level::Warn,
                "the bundle preview was skipped: the chosen bundle is deployed as it is",
            );
            Ok(BundleEdits::default())
        }
    }
}

/// The bundle to deploy: the one the preview wrote, else the chosen one as it is.
fn bundle_to_deploy(ctx: &StepContext, edits: &BundleEdits) -> Result<PathBuf, StepError> {
    edits
        .bundle
        .clone()
        .or_else(|| {
            ctx.input::<BundleInput>()
                .bundle
                .map(|w| w.path().to_path_buf())
        })
        .ok_or_else(|| {
            StepError::failed(
                "no bundle to deploy: choose one (answers: bundle.file) and run the preview",
            )
        })
}

/// The charms deployed one by one: the preview's moved-out PodSpec charms, else the plan the
/// operator named or the release's published one.
fn separate_plan(ctx: &StepContext, edits: &BundleEdits) -> Result<SeparatelyDeployed, StepError> {
    match &edits.separately_deployed {
        Some(path) => SeparatelyDeployed::load(path).map_err(StepError::failed),
        None => crate::engine::steps::separate::plan(
            &ctx.input::<BundleInput>(),
            &ctx.input::<ReleaseInput>(),
        ),
    }
}

/// Reference → the reference the deployment uses, as the mapping step decided. A skipped
/// mapping leaves every reference as the bundle writes it (the operator mapped them another
/// way); the log says so.
fn image_map(ctx: &StepContext) -> Result<BTreeMap<String, String>, StepError> {
    match ctx.output_unless_skipped::<MappingOutput>()? {
        Some(mapping) => Ok(mapping.targets()),
        None => {
            ctx.log(
                Level::Warn,
                "the mapping was skipped: image references are deployed as the bundle writes them",
            );
            Ok(BTreeMap::new())
        }
    }
}

/// The inventory, or none when the Artifacts step was skipped (the caller says what it does
/// without it).
fn inventory(ctx: &StepContext) -> Result<Option<Inventory>, StepError> {
    Ok(ctx.output_unless_skipped::<Inventory>()?)
}

fn charm_files(ctx: &StepContext) -> Result<BTreeMap<String, PathBuf>, StepError> {
    let Some(inventory) = inventory(ctx)? else {
        ctx.log(
            Level::Warn,
            "the Artifacts step was skipped: charms are deployed from the paths the bundle names",
        );
        return Ok(BTreeMap::new());
    };
    let dir = work_dir(ctx);
    Ok(inventory
        .charms
        .iter()
        .map(|c| (c.name.clone(), dir.join(&c.spool_path)))
        .collect())
}

/// The images and charms a bundle refers to.
fn deployment_needs(path: &Path, placeholder: Option<&str>) -> Result<DeploymentNeeds, StepError> {
    let parsed =
        crate::bundle::model::Bundle::load(path).map_err(|e| StepError::failed(e.to_string()))?;
    let sites = crate::bundle::scan::scan_document(&parsed.doc);
    let placeholder = placeholder
        .map(str::to_string)
        .or_else(|| crate::bundle::scan::detect_placeholder(&sites));
    let images = sites
        .iter()
        .filter(|s| s.form.shape != crate::image_ref::RefShape::RegistryNamespace)
        .filter(|s| placeholder.is_none() || s.reference.registry == placeholder)
        .map(|s| s.text.clone())
        .collect();
    let charms = parsed.applications.iter().map(|a| a.charm_name()).collect();
    Ok(DeploymentNeeds { images, charms })
}
