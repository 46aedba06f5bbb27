//! Placeholder mapping: every image reference in the bundle is mapped to a pushed image, and
//! the step refuses to finish while a reference is missing, ambiguous, invalid or in conflict.

use serde_json::json;

use super::bundle_plan;
use crate::bundle::mapping::MappingTable;
use crate::bundle::mapping::MatchStatus;
use crate::engine::context::StepContext;
use crate::engine::events::Level;
use crate::engine::step_data::{MappingRowView, MappingState, StepData};
use crate::engine::work::StepError;

/// The rows for the mapping screen: rows that need the operator first.
pub fn rows_view(table: &MappingTable) -> Vec<MappingRowView> {
    let mut rows: Vec<MappingRowView> = table
        .rows
        .iter()
        .map(|row| {
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

pub const MAPPING_FILE: &str = "mapping.json";

pub async fn run(ctx: StepContext) -> Result<(), StepError> {
    let plan = bundle_plan::build(&ctx).await?;
    let table = &plan.table;
    ctx.log(
        Level::Info,
        format!(
            "{}: {} image reference(s), {} distinct; placeholder registry {}",
            plan.path.display(),
            plan.sites.len(),
            table.rows.len(),
            table.placeholder.as_deref().unwrap_or("(none found)")
        ),
    );
    let mut text = String::new();
    for row in &table.rows {
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
    ctx.publish(StepData::Mapping(rows_view(table)));

    let conflicts = table.conflicts();
    let blocking = table.blocking_rows();
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
    if let Ok(report) =
        super::push_report::PushReportFile::load(&super::push_report::path(&ctx.session_dir()))
    {
        for unused in table.unused_pushed(&report.to_mapping_report()) {
            ctx.log(
                Level::Warn,
                format!("pushed but not used by the bundle: {unused}"),
            );
        }
    } else {
        ctx.log(
            Level::Warn,
            "there is no push report in this session (the push step was skipped): the targets \
             are not checked against the registry",
        );
    }
    let rows: Vec<_> = table
        .rows
        .iter()
        .map(|row| {
            json!({
                "source": row.source,
                "target": table.final_target(row),
                "digest": row.digest,
            })
        })
        .collect();
    let path = ctx.session_dir().join(MAPPING_FILE);
    let bytes = serde_json::to_vec_pretty(&json!({ "rows": rows }))
        .map_err(|e| StepError::failed(e.to_string()))?;
    crate::session::atomic::write_atomically(&path, &bytes, None)
        .map_err(|e| StepError::failed(format!("cannot write {}: {e}", path.display())))?;
    ctx.record_unit(
        "mapping",
        json!({ "rows": table.rows.len(), "placeholder": table.placeholder }),
    )
}
