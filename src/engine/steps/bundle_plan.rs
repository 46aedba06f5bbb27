//! What the bundle steps share: the bundle as read, its image references, and the mapping
//! table built from the choices and the push report. Rebuilt on every run from the same
//! inputs, so the preview always shows exactly what the mapping step checked.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::choice_paths::{required_path, work_dir};
use super::inputs::{BundleInput, RegistryTargetInput, ReleaseInput};
use crate::artifacts::Inventory;
use crate::bundle::mapping::MappingTable;
use crate::bundle::model::Bundle;
use crate::bundle::scan::{self, ImageRefSite};
use crate::charm_kind::CharmKind;
use crate::engine::context::StepContext;
use crate::engine::events::Level;
use crate::engine::outputs::SessionPushReport;
use crate::engine::work::StepError;
use crate::wizard::PathChoice;

pub struct BundlePlan {
    pub path: PathBuf,
    pub bundle: Bundle,
    pub sites: Vec<ImageRefSite>,
    /// The placeholder registry the bundle's images are under (chosen or detected).
    pub placeholder: Option<String>,
    pub table: MappingTable,
    /// Charm name → kind, from charms.tar.gz (empty when the artifacts step was skipped).
    pub charm_kinds: BTreeMap<String, CharmKind>,
    /// Charm name → extracted file.
    pub charm_files: BTreeMap<String, String>,
    /// The images of the charms deployed outside the bundle, mapped by the same rules. They
    /// are checked and reported with the bundle's but never spliced into it.
    pub separate: Option<MappingTable>,
}

impl BundlePlan {
    /// Every table: the bundle's, then the separately deployed charms'.
    pub fn tables(&self) -> impl Iterator<Item = &MappingTable> {
        std::iter::once(&self.table).chain(self.separate.iter())
    }
}

pub async fn build(ctx: &StepContext) -> Result<BundlePlan, StepError> {
    let release = ctx.input::<ReleaseInput>();
    let input = ctx.input::<BundleInput>();
    let path = required_path(
        ctx,
        release.bundle_path(),
        PathChoice::Bundle,
        "Path to the air-gapped bundle.yaml",
    )
    .await?;
    let target = ctx
        .input::<RegistryTargetInput>()
        .registry_target
        .ok_or_else(|| {
            StepError::failed(
                "no registry target is chosen: go back to Registry login (answers: registry.target)",
            )
        })?;
    let bundle = Bundle::load(&path).map_err(StepError::failed)?;
    let sites = scan::scan_document(&bundle.doc);
    let placeholder = release
        .placeholder_registry
        .clone()
        .or_else(|| scan::detect_placeholder(&sites));
    // A skipped push leaves nothing to check the targets against; the mapping says so.
    let report = ctx
        .output_unless_skipped::<SessionPushReport>()?
        .map(|r| r.pushed_targets());
    let build_table = |sites: &[ImageRefSite]| -> Result<MappingTable, StepError> {
        let mut table = MappingTable::build(sites, placeholder.as_deref(), &target)
            .map_err(StepError::failed)?;
        table.pin_digests = input.pin_digests;
        for (source, override_target) in &input.mapping_overrides {
            if table.row(source).is_none() {
                continue;
            }
            table
                .set_override(source, Some(override_target))
                .map_err(|e| StepError::failed(format!("mapping override for {source}: {e}")))?;
        }
        // A reference skipped with a reason stays as written: no target, no edit.
        for (source, _) in &input.reference_skips {
            if table.row(source).is_some() {
                table
                    .set_override(source, None)
                    .map_err(|e| StepError::failed(format!("skipping {source}: {e}")))?;
            }
        }
        if let Some(report) = &report {
            table.check(report);
        }
        Ok(table)
    };
    let table = build_table(&sites)?;
    let separate = match super::separate::document(&input, &release)? {
        Some(doc) => Some(build_table(&scan::scan_document(&doc))?),
        None => None,
    };
    let unknown: Vec<&String> = input
        .mapping_overrides
        .keys()
        .filter(|k| table.row(k).is_none() && separate.as_ref().is_none_or(|t| t.row(k).is_none()))
        .collect();
    if !unknown.is_empty() {
        return Err(StepError::failed(format!(
            "the [mapping] overrides name references the bundle does not hold: {}",
            unknown
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    let (charm_kinds, charm_files) = match ctx.output_unless_skipped::<Inventory>()? {
        Some(inventory) => (
            inventory
                .charms
                .iter()
                .map(|c| (c.name.clone(), c.kind))
                .collect(),
            inventory
                .charms
                .iter()
                .map(|c| {
                    let file = work_dir(ctx).join(&c.spool_path);
                    (c.name.clone(), file.display().to_string())
                })
                .collect(),
        ),
        None => {
            ctx.log(
                Level::Warn,
                "the Artifacts step was skipped: the bundle's charm paths are left as written and \
                 PodSpec charms are not detected from charms.tar.gz",
            );
            (BTreeMap::new(), BTreeMap::new())
        }
    };
    Ok(BundlePlan {
        path,
        bundle,
        sites,
        placeholder,
        table,
        charm_kinds,
        charm_files,
        separate,
    })
}
