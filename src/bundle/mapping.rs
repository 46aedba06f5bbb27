//! The mapping table: each source reference → the reference to write, checked against what
//! the registry step pushed.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use super::error::{BundleError, Result};
use super::scan::ImageRefSite;
use super::validate::{validate_prefix, validate_reference};
use crate::image_ref::{ImageRef, RefShape};

/// What the registry step pushed: reference (`host/path:tag` or registry-relative
/// `path:tag`, including any target prefix) → manifest digest (`sha256:…`).
#[derive(Debug, Clone, Default, Serialize, serde::Deserialize)]
pub struct PushedTargets {
    pub images: BTreeMap<String, String>,
}

impl PushedTargets {
    pub fn new(images: impl IntoIterator<Item = (String, String)>) -> Self {
        Self {
            images: images.into_iter().collect(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum MatchStatus {
    /// Not checked yet, or the row keeps its source reference.
    Unchecked,
    /// Exactly one pushed image fits; its reference.
    Matched(String),
    Missing,
    /// Several pushed images fit; their references. Pick one with an override.
    Ambiguous(Vec<String>),
}

#[derive(Debug, Clone, Serialize)]
pub struct MappingRow {
    /// The reference as written in the bundle.
    pub source: String,
    pub reference: ImageRef,
    pub shape: RefShape,
    /// Indices into the scanned sites that hold this reference.
    pub sites: Vec<usize>,
    /// The reference to write; `None` keeps the source (not under the placeholder).
    pub target: Option<String>,
    pub overridden: bool,
    pub status: MatchStatus,
    /// Manifest digest of the matched pushed image.
    pub digest: Option<String>,
    /// Why the default target is not a valid reference; the row cannot be written until fixed.
    pub problem: Option<String>,
}

/// Two different sources that would be written as the same target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MappingConflict {
    pub target: String,
    pub sources: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct MappingTable {
    pub placeholder: Option<String>,
    pub target_prefix: String,
    pub pin_digests: bool,
    pub rows: Vec<MappingRow>,
}

impl MappingTable {
    /// One row per distinct source reference. References under `placeholder` get the default
    /// target (placeholder host replaced by `target_prefix`, path and tag kept); others are kept.
    pub fn build(
        sites: &[ImageRefSite],
        placeholder: Option<&str>,
        target_prefix: &str,
    ) -> Result<Self> {
        validate_prefix(target_prefix)?;
        let mut rows: Vec<MappingRow> = Vec::new();
        for (i, site) in sites.iter().enumerate() {
            if let Some(row) = rows.iter_mut().find(|r| r.source == site.text) {
                row.sites.push(i);
                continue;
            }
            let mapped = placeholder.is_some() && site.reference.registry.as_deref() == placeholder;
            rows.push(new_row(site, i, mapped.then_some(target_prefix)));
        }
        Ok(Self {
            placeholder: placeholder.map(str::to_owned),
            target_prefix: target_prefix.to_owned(),
            pin_digests: false,
            rows,
        })
    }

    pub fn row(&self, source: &str) -> Option<&MappingRow> {
        self.rows.iter().find(|r| r.source == source)
    }

    /// Manually set (or with `None`, clear so the source is kept) the target of one source.
    pub fn set_override(&mut self, source: &str, target: Option<&str>) -> Result<()> {
        let row = self
            .rows
            .iter_mut()
            .find(|r| r.source == source)
            .ok_or_else(|| BundleError::Missing {
                file: "mapping table".to_owned(),
                what: format!("no reference {source:?} in the bundle"),
            })?;
        if let Some(t) = target {
            validate_target(row.shape, t)?;
        }
        row.target = target.map(str::to_owned);
        row.overridden = true;
        row.problem = None;
        row.status = MatchStatus::Unchecked;
        Ok(())
    }

    /// Replace `old_prefix` by `new_prefix` at the start of every target; returns rows changed.
    /// Nothing changes when any resulting target would be invalid.
    pub fn bulk_rewrite(&mut self, old_prefix: &str, new_prefix: &str) -> Result<usize> {
        let mut changes = Vec::new();
        for (i, row) in self.rows.iter().enumerate() {
            if let Some(rest) = row
                .target
                .as_deref()
                .and_then(|t| t.strip_prefix(old_prefix))
            {
                let new = format!("{new_prefix}{rest}");
                validate_target(row.shape, &new)?;
                changes.push((i, new));
            }
        }
        for (i, new) in &changes {
            let row = &mut self.rows[*i];
            row.target = Some(new.clone());
            row.problem = None;
            row.status = MatchStatus::Unchecked;
        }
        Ok(changes.len())
    }

    /// Set each mapped row's status from the push report.
    pub fn check(&mut self, report: &PushedTargets) {
        let pushed: Vec<(String, ImageRef)> = report
            .images
            .keys()
            .map(|k| (k.clone(), ImageRef::split(k)))
            .collect();
        for row in &mut self.rows {
            let Some(target) = &row.target else {
                row.status = MatchStatus::Unchecked;
                continue;
            };
            row.status = match_target(row.shape, &ImageRef::split(target), &pushed);
            row.digest = match &row.status {
                MatchStatus::Matched(k) => report.images.get(k).cloned(),
                _ => None,
            };
        }
    }

    /// The reference finally written for a row: its target, pinned by digest when asked
    /// and a digest is known (registry-namespace values cannot be pinned).
    pub fn final_target(&self, row: &MappingRow) -> Option<String> {
        let target = row.target.clone()?;
        match (&row.digest, self.pin_digests, row.shape) {
            (Some(d), true, shape) if shape != RefShape::RegistryNamespace => {
                Some(ImageRef::split(&target).pinned(d).to_string())
            }
            _ => Some(target),
        }
    }

    /// Targets shared by different sources.
    pub fn conflicts(&self) -> Vec<MappingConflict> {
        let mut by_target: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for row in &self.rows {
            if let Some(t) = self.final_target(row) {
                by_target.entry(t).or_default().insert(row.source.clone());
            }
        }
        by_target
            .into_iter()
            .filter(|(_, s)| s.len() > 1)
            .map(|(target, s)| MappingConflict {
                target,
                sources: s.into_iter().collect(),
            })
            .collect()
    }

    /// Pushed images no row uses (after `check`).
    pub fn unused_pushed(&self, report: &PushedTargets) -> Vec<String> {
        let namespaces: Vec<ImageRef> = self
            .rows
            .iter()
            .filter(|r| r.shape == RefShape::RegistryNamespace)
            .filter_map(|r| r.target.as_deref().map(ImageRef::split))
            .collect();
        report
            .images
            .keys()
            .filter(|k| {
                // Candidates of an ambiguous row are not "never used": the user picks one.
                let used = self.rows.iter().any(|r| match &r.status {
                    MatchStatus::Matched(m) => m == *k,
                    MatchStatus::Ambiguous(c) => c.contains(*k),
                    _ => false,
                });
                let p = ImageRef::split(k);
                !used && !namespaces.iter().any(|ns| in_namespace(ns, &p))
            })
            .cloned()
            .collect()
    }

    /// Rows that block writing: invalid default targets, missing or ambiguous images.
    pub fn blocking_rows(&self) -> Vec<&MappingRow> {
        self.rows
            .iter()
            .filter(|r| {
                r.target.is_some()
                    && (r.problem.is_some()
                        || matches!(r.status, MatchStatus::Missing | MatchStatus::Ambiguous(_)))
            })
            .collect()
    }
}

/// The overrides that replace `old` by `new` at the start of every row's target
/// (`(source, target)` pairs); rows whose target does not start with `old` are left alone.
pub fn prefix_rewrites(rows: &[(String, String)], old: &str, new: &str) -> Vec<(String, String)> {
    if old.is_empty() {
        return vec![];
    }
    rows.iter()
        .filter_map(|(source, target)| {
            target
                .strip_prefix(old)
                .map(|rest| (source.clone(), format!("{new}{rest}")))
        })
        .collect()
}

fn new_row(site: &ImageRefSite, index: usize, prefix: Option<&str>) -> MappingRow {
    let target = prefix.map(|p| site.reference.with_prefix(p).to_string());
    let problem = target
        .as_deref()
        .and_then(|t| validate_target(site.form.shape, t).err())
        .map(|e| e.to_string());
    MappingRow {
        source: site.text.clone(),
        reference: site.reference.clone(),
        shape: site.form.shape,
        sites: vec![index],
        target,
        overridden: false,
        status: MatchStatus::Unchecked,
        digest: None,
        problem,
    }
}

fn validate_target(shape: RefShape, target: &str) -> Result<()> {
    if shape == RefShape::RegistryNamespace {
        validate_prefix(target)
    } else {
        validate_reference(target)
    }
}

fn in_namespace(ns: &ImageRef, pushed: &ImageRef) -> bool {
    let host_ok = pushed.registry.is_none() || pushed.registry == ns.registry;
    host_ok && pushed.path.starts_with(&format!("{}/", ns.path))
}

fn match_target(shape: RefShape, target: &ImageRef, pushed: &[(String, ImageRef)]) -> MatchStatus {
    let keys = |f: &dyn Fn(&ImageRef) -> bool| -> Vec<String> {
        pushed
            .iter()
            .filter(|(_, p)| f(p))
            .map(|(k, _)| k.clone())
            .collect()
    };
    if shape == RefShape::RegistryNamespace {
        let hits = keys(&|p| in_namespace(target, p));
        return if hits.is_empty() {
            MatchStatus::Missing
        } else {
            MatchStatus::Matched(hits.join(", "))
        };
    }
    let same_image = |p: &ImageRef| p.same_image(target);
    let exact = keys(&|p| p.registry == target.registry && same_image(p));
    let loose = keys(&|p| (p.registry.is_none() || p.registry == target.registry) && same_image(p));
    let any_host = keys(&|p| same_image(p));
    for hits in [exact, loose, any_host] {
        match hits.len() {
            0 => continue,
            1 => return MatchStatus::Matched(hits.into_iter().next().unwrap_or_default()),
            _ => return MatchStatus::Ambiguous(hits),
        }
    }
    if shape == RefShape::Untagged {
        let tags = keys(&|p| p.path == target.path);
        if !tags.is_empty() {
            return MatchStatus::Ambiguous(tags);
        }
    }
    MatchStatus::Missing
}

/// One line of the sidecar report written next to the edited bundle.
#[derive(Debug, Clone, Serialize)]
pub struct ReportEntry {
    pub original: String,
    pub new: String,
    pub digest: Option<String>,
    pub locations: Vec<String>,
}

/// The sidecar mapping report (JSON).
#[derive(Debug, Clone, Serialize)]
pub struct MappingReport {
    pub source_file: String,
    pub output_file: String,
    pub placeholder: Option<String>,
    pub target_prefix: String,
    pub entries: Vec<ReportEntry>,
}

impl MappingTable {
    pub fn report(
        &self,
        sites: &[ImageRefSite],
        source_file: &str,
        output_file: &str,
    ) -> MappingReport {
        let entries = self
            .rows
            .iter()
            .filter_map(|row| {
                let new = self.final_target(row)?;
                let pinned = self.pin_digests && new.contains('@') && !row.source.contains('@');
                Some(ReportEntry {
                    original: row.source.clone(),
                    new,
                    digest: if pinned { row.digest.clone() } else { None },
                    locations: row
                        .sites
                        .iter()
                        .filter_map(|i| sites.get(*i))
                        .map(ImageRefSite::location)
                        .collect(),
                })
            })
            .collect();
        MappingReport {
            source_file: source_file.to_owned(),
            output_file: output_file.to_owned(),
            placeholder: self.placeholder.clone(),
            target_prefix: self.target_prefix.clone(),
            entries,
        }
    }
}
