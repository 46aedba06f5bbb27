//! Turning the mapping table into token splices on the bundle text.

use super::edit::{Edit, EditKind, EditPlan, splice_value};
use super::error::{BundleError, Result};
use super::mapping::MappingTable;
use super::scan::ImageRefSite;
use super::yaml::{Document, YamlPath};
use std::collections::BTreeMap;

/// One splice per reference whose row maps to a different reference. Rows with an invalid
/// target or references that cannot be spliced safely make the whole plan fail, naming them.
/// Missing or ambiguous images are not refused here: check `MappingTable::blocking_rows`.
pub fn plan_image_edits(
    doc: &Document,
    sites: &[ImageRefSite],
    table: &MappingTable,
) -> Result<EditPlan> {
    let mut plan = EditPlan::new();
    let mut planned = Vec::new();
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
            planned.push((site, target.clone()));
            if let Some(p) = &table.placeholder
                && site.reference.registry.as_deref() == Some(p)
            {
                plan.placeholder_free
                    .push((p.clone(), site.value_path.clone()));
            }
        }
    }
    // A value holding a reference that cannot be spliced in place is written whole, in a
    // normalised (quoted) form with every reference in it replaced; the rest are splices.
    let mut by_value: BTreeMap<&YamlPath, Vec<(&ImageRefSite, String)>> = BTreeMap::new();
    for (site, target) in planned {
        by_value
            .entry(&site.value_path)
            .or_default()
            .push((site, target));
    }
    for (path, edits) in by_value {
        let Some(blocked) = edits.iter().map(|(s, _)| *s).find(|s| s.span.is_none()) else {
            for (site, target) in &edits {
                plan.push(token_edit(doc, site, target)?);
            }
            continue;
        };
        let whole = doc
            .root
            .at(path)
            .and_then(|n| n.as_str())
            .unwrap_or_default();
        let splices = edits
            .iter()
            .map(|(s, t)| (s.value_range.clone(), t.as_str()));
        let value = splice_value(whole, splices.collect());
        match value.map(|v| Edit::replace_scalar(doc, path, &v)) {
            Some(Ok(edit)) => {
                plan.normalised.push(format!(
                    "{}:{}:{}: {} cannot be edited in place ({}); the whole value is written \
                     as a quoted scalar with the same meaning (see the diff). To leave it as \
                     written instead, skip it with a reason: [skip] \"ref:{}\" in the answers \
                     file, x on the mapping screen, or \"Leave one reference as written\" in \
                     line mode",
                    doc.name,
                    blocked.line,
                    blocked.column,
                    blocked.location(),
                    blocked
                        .not_spliceable
                        .as_deref()
                        .unwrap_or("unknown reason"),
                    blocked.text
                ));
                plan.push(edit);
            }
            _ => return Err(not_spliceable(doc, blocked)),
        }
    }
    Ok(plan)
}

fn not_spliceable(doc: &Document, site: &ImageRefSite) -> BundleError {
    BundleError::NotSpliceable {
        file: doc.name.clone(),
        line: site.line,
        column: site.column,
        what: format!("image {} at {}", site.text, site.location()),
        reason: site.not_spliceable.clone().unwrap_or_default(),
    }
}

fn token_edit(doc: &Document, site: &ImageRefSite, target: &str) -> Result<Edit> {
    let span = site.span.clone().ok_or_else(|| not_spliceable(doc, site))?;
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
