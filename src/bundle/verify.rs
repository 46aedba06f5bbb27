//! Proof that an edit did only what it meant: the result is re-parsed and compared with the
//! original, path by path.

use std::collections::{BTreeMap, BTreeSet};

use super::edit::{EditKind, EditPlan, splice_value};
use super::error::{BundleError, Result};
use super::scalar::property_name;
use super::scan::scan_document;
use super::yaml::{Document, Node, NodeKind, PathSeg, ScalarValue, YamlPath, display_path};

const MAX_LISTED: usize = 10;

/// What the new document must look like relative to the old one.
#[derive(Debug, Default)]
struct Expectations {
    changed: BTreeMap<YamlPath, ScalarValue>,
    deleted: BTreeSet<YamlPath>,
    inserted: BTreeMap<YamlPath, ScalarValue>,
}

/// Re-parse `new_text` and check it against `old` and `plan`; returns the new document.
pub fn verify(old: &Document, new_text: &str, plan: &EditPlan) -> Result<Document> {
    let new = Document::parse(&old.name, new_text).map_err(|e| BundleError::Verification {
        problems: format!("the edited text no longer parses ({e})"),
    })?;
    let expect = expectations(old, plan)?;
    let mut problems = Vec::new();
    compare(
        &old.root,
        &new.root,
        &mut Vec::new(),
        &expect,
        &mut problems,
    );
    placeholder_left(&new, plan, &mut problems);
    if problems.is_empty() {
        return Ok(new);
    }
    let more = problems.len().saturating_sub(MAX_LISTED);
    problems.truncate(MAX_LISTED);
    if more > 0 {
        problems.push(format!("and {more} more"));
    }
    Err(BundleError::Verification {
        problems: problems.join("; "),
    })
}

fn expectations(old: &Document, plan: &EditPlan) -> Result<Expectations> {
    let mut e = Expectations::default();
    let mut tokens: BTreeMap<&YamlPath, Vec<(std::ops::Range<usize>, &str)>> = BTreeMap::new();
    for edit in &plan.edits {
        match &edit.kind {
            EditKind::Token {
                value_path,
                value_range,
                replacement,
            } => {
                tokens
                    .entry(value_path)
                    .or_default()
                    .push((value_range.clone(), replacement));
            }
            EditKind::Scalar { value_path, value } => {
                e.changed.insert(value_path.clone(), value.clone());
            }
            EditKind::Delete { path } => {
                e.deleted.insert(path.clone());
            }
            EditKind::Insert { leaves } => e.inserted.extend(leaves.iter().cloned()),
        }
    }
    for (path, splices) in tokens {
        let value =
            old.root
                .at(path)
                .and_then(Node::as_str)
                .ok_or_else(|| BundleError::Verification {
                    problems: format!("{} is not a string in the original", display_path(path)),
                })?;
        let new_value = splice_value(value, splices).ok_or_else(|| BundleError::Verification {
            problems: format!("{} has no bytes the edit names", display_path(path)),
        })?;
        e.changed.insert(path.clone(), ScalarValue::Str(new_value));
    }
    // An alias reads the anchored value, so it changes with it.
    let mut anchors = BTreeMap::new();
    let mut aliases = Vec::new();
    anchors_and_aliases(old, &old.root, &mut Vec::new(), &mut anchors, &mut aliases);
    for (name, alias_path) in aliases {
        if let Some(value) = anchors.get(&name).and_then(|p| e.changed.get(p)).cloned() {
            e.changed.insert(alias_path, value);
        }
    }
    Ok(e)
}

/// Every anchored value (`&name`) with its path, and every alias (`*name`) with its path.
fn anchors_and_aliases(
    doc: &Document,
    node: &Node,
    path: &mut YamlPath,
    anchors: &mut BTreeMap<String, YamlPath>,
    aliases: &mut Vec<(String, YamlPath)>,
) {
    let name_at = |sigil| property_name(doc.text(), node.start, sigil).map(str::to_owned);
    match &node.kind {
        NodeKind::Map(entries) => {
            for (k, v) in entries {
                path.push(PathSeg::Key(k.key_text()));
                anchors_and_aliases(doc, v, path, anchors, aliases);
                path.pop();
            }
        }
        NodeKind::Seq(items) => {
            for (i, v) in items.iter().enumerate() {
                path.push(PathSeg::Index(i));
                anchors_and_aliases(doc, v, path, anchors, aliases);
                path.pop();
            }
        }
        NodeKind::Scalar(_) => {
            if let Some(name) = name_at('&') {
                anchors.insert(name, path.clone());
            } else if let Some(name) = name_at('*') {
                aliases.push((name, path.clone()));
            }
        }
    }
}

fn compare(old: &Node, new: &Node, path: &mut YamlPath, e: &Expectations, out: &mut Vec<String>) {
    if let Some(expected) = e.changed.get(path.as_slice()) {
        if new.as_scalar() != Some(expected) {
            out.push(format!(
                "{} is {:?}, expected {expected:?}",
                display_path(path),
                new.as_scalar()
            ));
        }
        return;
    }
    match (&old.kind, &new.kind) {
        (NodeKind::Map(om), NodeKind::Map(_)) => compare_maps(om, new, path, e, out),
        (NodeKind::Seq(os), NodeKind::Seq(ns)) => {
            let kept: Vec<(usize, &Node)> = os
                .iter()
                .enumerate()
                .filter(|(i, _)| !e.deleted.contains(&child(path, PathSeg::Index(*i))))
                .collect();
            if kept.len() != ns.len() {
                out.push(format!(
                    "{} has {} items, expected {}",
                    display_path(path),
                    ns.len(),
                    kept.len()
                ));
                return;
            }
            for ((i, o), n) in kept.into_iter().zip(ns) {
                path.push(PathSeg::Index(i));
                compare(o, n, path, e, out);
                path.pop();
            }
        }
        (NodeKind::Scalar(a), NodeKind::Scalar(b)) if a == b => {}
        _ => out.push(format!("{} changed unexpectedly", display_path(path))),
    }
}

fn compare_maps(
    om: &[(Node, Node)],
    new: &Node,
    path: &mut YamlPath,
    e: &Expectations,
    out: &mut Vec<String>,
) {
    for (k, o) in om {
        let key = k.key_text();
        path.push(PathSeg::Key(key.clone()));
        match (e.deleted.contains(path.as_slice()), new.get(&key)) {
            (true, Some(_)) => out.push(format!("{} should have been deleted", display_path(path))),
            (false, None) => out.push(format!("{} disappeared", display_path(path))),
            (false, Some(n)) => compare(o, n, path, e, out),
            (true, None) => {}
        }
        path.pop();
    }
    for (k, n) in new.entries() {
        let key = k.key_text();
        if om.iter().any(|(ok, _)| ok.key_text() == key) {
            continue;
        }
        path.push(PathSeg::Key(key));
        check_inserted(n, path, e, out);
        path.pop();
    }
}

fn check_inserted(n: &Node, path: &mut YamlPath, e: &Expectations, out: &mut Vec<String>) {
    match &n.kind {
        NodeKind::Map(m) => {
            for (k, v) in m {
                path.push(PathSeg::Key(k.key_text()));
                check_inserted(v, path, e, out);
                path.pop();
            }
        }
        NodeKind::Scalar(v) if e.inserted.get(path.as_slice()) == Some(v) => {}
        _ => out.push(format!("{} appeared unexpectedly", display_path(path))),
    }
}

fn child(path: &[PathSeg], seg: PathSeg) -> YamlPath {
    let mut p = path.to_vec();
    p.push(seg);
    p
}

fn placeholder_left(new: &Document, plan: &EditPlan, out: &mut Vec<String>) {
    if plan.placeholder_free.is_empty() {
        return;
    }
    for site in scan_document(new) {
        let left = plan.placeholder_free.iter().any(|(placeholder, path)| {
            *path == site.value_path
                && site.reference.registry.as_deref() == Some(placeholder.as_str())
        });
        if left {
            out.push(format!("{} still refers to {}", site.location(), site.text));
        }
    }
}
