//! Turning the mapping table into token splices on the bundle text.

use super::edit::{Edit, EditKind, EditPlan};
use super::error::{BundleError, Result};
use super::mapping::MappingTable;
use super::scan::ImageRefSite;
use super::yaml::Document;

/// One splice per reference whose row maps to a different reference. Rows with an invalid
/// target or references that cannot be spliced safely make the whole plan fail, naming them.
/// Missing or ambiguous images are not refused here: check `MappingTable::blocking_rows`.
pub fn plan_image_edits(
    doc: &Document,
    sites: &[ImageRefSite],
    table: &MappingTable,
) -> Result<EditPlan> {
    let mut plan = EditPlan::new();
    for row in &table.rows {
        let Some(target) = table.final_target(row) else {
            continue;
        };
        if let Some(rule) = &row.problem {
            return Err(BundleError::InvalidTarget {
                reference: target,
                rule: rule.clone(),
            });
        }
        if !target
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._:/@-".contains(c))
        {
            return Err(BundleError::InvalidTarget {
                reference: target,
                rule: "only letters, digits and . _ : / @ - may appear, so the value never needs re-quoting".to_owned(),
            });
        }
        for site in row.sites.iter().filter_map(|i| sites.get(*i)) {
            plan.push(token_edit(doc, site, &target)?);
            if let Some(p) = &table.placeholder
                && site.reference.registry.as_deref() == Some(p)
            {
                plan.placeholder_free
                    .push((p.clone(), site.value_path.clone()));
            }
        }
    }
    Ok(plan)
}

fn token_edit(doc: &Document, site: &ImageRefSite, target: &str) -> Result<Edit> {
    let span = site
        .span
        .clone()
        .ok_or_else(|| BundleError::NotSpliceable {
            file: doc.name.clone(),
            line: site.line,
            column: site.column,
            what: format!("image {} at {}", site.text, site.location()),
            reason: site.not_spliceable.clone().unwrap_or_default(),
        })?;
    Ok(Edit {
        range: span,
        replacement: target.to_owned(),
        kind: EditKind::Token {
            value_path: site.value_path.clone(),
            value_range: site.value_range.clone(),
            replacement: target.to_owned(),
        },
    })
}
