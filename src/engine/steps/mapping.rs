//! Placeholder mapping: every image reference in the bundle is mapped to a pushed image, and
//! the step refuses to finish while a reference is missing, ambiguous, invalid or in conflict.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::json;

use super::bundle_plan;
use super::inputs::BundleInput;
use super::release_bundle::{self, ReleaseBundle, Resolver};
use crate::bundle::mapping::MatchStatus;
use crate::bundle::mapping::{MappingConflict, MappingRow, MappingTable};
use crate::engine::context::StepContext;
use crate::engine::events::Level;
use crate::engine::outputs::{self, MappedImage, MappingOutput, SessionPushReport};
use crate::engine::step_data::{MappingRowView, MappingState, StepData};
use crate::engine::units::Summary;
use crate::engine::work::StepError;

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
pub fn rows_view(tables: &[&MappingTable]) -> Vec<MappingRowView> {
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

pub async fn run(ctx: StepContext) -> Result<(), StepError> {
    let decided = release_bundle::decide(&ctx).await?;
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
    if decided.is_release() {
        return run_release(&ctx, &release_bundle::load_release(&ctx, &decided)?).await;
    }
    let plan = bundle_plan::build(&ctx).await?;
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
    write_view(&ctx, &view)?;
    ctx.publish(StepData::Mapping(view));

    let conflicts = conflicts(&tables);
    let mut blocking: Vec<&MappingRow> = tables.iter().flat_map(|t| t.blocking_rows()).collect();
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
        let unused: Vec<Vec<String>> = tables.iter().map(|t| t.unused_pushed(&report)).collect();
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

/// A release bundle: one row per application and resource or option, from the upstream image
/// the charm names to the archived image and the pushed target.
async fn run_release(ctx: &StepContext, release: &ReleaseBundle) -> Result<(), StepError> {
    let input = ctx.input::<BundleInput>();
    let report = ctx.output_unless_skipped::<SessionPushReport>()?;
    let pushed_any = report.is_some();
    let resolver = Resolver::new(&input, &release.inventory, report.as_ref());
    let absent_overrides = absent_override_targets(ctx, &input, pushed_any).await?;
    ctx.log(
        Level::Info,
        format!(
            "{}: release bundle, {}",
            release.path.display(),
            release_bundle::describe(release)
        ),
    );
    let mut rows = Vec::new();
    let mut text = String::new();
    let mut mapped = Vec::new();
    for app in &release.apps {
        for need in &app.needs {
            let archived = resolver.archived(&need.upstream);
            let target = resolver.target(&need.upstream);
            let absent = target
                .as_ref()
                .filter(|_| resolver.is_overridden(&need.upstream))
                .and_then(|t| absent_overrides.get(t));
            let (state, detail) = match (&target, archived) {
                (Some(t), _) if absent.is_some() => (
                    MappingState::Missing,
                    format!(
                        "set by hand to {t}, but {}",
                        absent.map(String::as_str).unwrap_or_default()
                    ),
                ),
                (Some(_), _) if resolver.is_overridden(&need.upstream) => {
                    (MappingState::Matched, "set by hand".to_string())
                }
                (Some(_), Some(a)) => (MappingState::Matched, format!("archived as {a}")),
                (None, Some(a)) if !pushed_any => (
                    MappingState::Unchecked,
                    format!("archived as {a}; not pushed in this session"),
                ),
                (None, Some(a)) => (
                    MappingState::Missing,
                    format!("archived as {a} but not pushed"),
                ),
                (None, None) => (MappingState::Missing, "not in the archives".to_string()),
                (Some(_), None) => (MappingState::Matched, String::new()),
            };
            let detail = format!("{}: {}; {detail}", app.application, need.site);
            text.push_str(&format!(
                "{} {}\n  {} -> {}\n",
                app.application,
                need.site,
                need.upstream,
                target.as_deref().unwrap_or("(none)")
            ));
            mapped.push(MappedImage {
                application: Some(app.application.clone()),
                site: Some(need.site.to_string()),
                source: need.upstream.clone(),
                target: target.clone(),
                registry_namespace: false,
                digest: None,
            });
            rows.push(MappingRowView {
                source: need.upstream.clone(),
                target: target.clone().unwrap_or_default(),
                state,
                detail: Some(detail),
                overridden: resolver.is_overridden(&need.upstream),
            });
        }
    }
    rows.sort_by_key(|r| matches!(r.state, MappingState::Matched));
    ctx.document("Images by application", text);
    write_view(ctx, &rows)?;
    let blocking: Vec<&MappingRowView> = rows
        .iter()
        .filter(|r| matches!(r.state, MappingState::Missing | MappingState::Unchecked))
        .collect();
    ctx.publish(StepData::Mapping(rows.clone()));
    if !blocking.is_empty() {
        let mut message = format!(
            "{} image(s) the applications need have no pushed image:",
            blocking.len()
        );
        for row in &blocking {
            message.push_str(&format!(
                "\n  {}: {}",
                row.detail.as_deref().unwrap_or(""),
                row.source
            ));
        }
        message.push_str(
            "\nPush them (they must be in images.tar.gz), or map each by hand (the [mapping] \
             table of the answers file: \"<upstream>\" = \"<target>\"), then retry.",
        );
        return Err(StepError::failed(message));
    }
    ctx.write_output(&MappingOutput { rows: mapped })?;
    ctx.record(
        &Summary::Mapping,
        &json!({ "rows": rows.len(), "form": "release" }),
    )
}

/// Each `[mapping]` target set by hand that the private registry does not hold, with why: a
/// target nothing was pushed to would reach the plan and fail only at the pod. Asked only when
/// this session pushed (the registry is known to answer); otherwise the rows are unchecked.
async fn absent_override_targets(
    ctx: &StepContext,
    input: &BundleInput,
    pushed_any: bool,
) -> Result<BTreeMap<String, String>, StepError> {
    if input.mapping_overrides.is_empty() || !pushed_any {
        return Ok(BTreeMap::new());
    }
    let client = super::registry_client::client(ctx).await?;
    let targets: BTreeSet<String> = input.mapping_overrides.values().cloned().collect();
    Ok(super::image_presence::absent_images(&client, targets)
        .await
        .into_iter()
        .map(|a| (a.reference, a.why))
        .collect())
}

fn write_view(ctx: &StepContext, rows: &[MappingRowView]) -> Result<(), StepError> {
    let dir = ctx.session_dir();
    outputs::write_view(&dir, rows).map_err(|e| {
        StepError::failed(format!(
            "cannot write {}: {e}",
            dir.join(outputs::MAPPING_VIEW_FILE).display()
        ))
    })
}
