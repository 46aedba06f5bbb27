//! The mapping: for every image reference the deployment uses, where it goes. The mapping
//! step writes it, for both bundle forms in one shape; the preview and the deploy read their
//! targets from it and from nothing else, so "where does this image go" has one answer.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::StepOutput;
use crate::wizard::Step;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MappingOutput {
    pub rows: Vec<MappedImage>,
}

impl StepOutput for MappingOutput {
    const WHAT: &'static str = "the image mapping";
    const FILE: &'static str = "mapping.json";
    const PRODUCER: Step = Step::PlaceholderMapping;
    const SCHEMA: u32 = 1;
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MappedImage {
    /// The application that needs it (release bundles; the air-gapped form maps by reference).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub application: Option<String>,
    /// Where in the application: `resource oci-image`, `option custom_images[x]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub site: Option<String>,
    /// The reference as the bundle or the charm writes it.
    pub source: String,
    /// The reference the deployment uses instead; none when it is left as written.
    pub target: Option<String>,
    /// The value names a registry namespace (istio's `global-hub`), not an image: the images
    /// formed under it are rows of their own, and it is not looked up as an image.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub registry_namespace: bool,
    /// The pushed manifest digest, when the push report has it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
}

impl MappingOutput {
    /// Source reference → the target the deployment uses (rows kept as written are absent).
    pub fn targets(&self) -> BTreeMap<String, String> {
        self.rows
            .iter()
            .filter_map(|r| Some((r.source.clone(), r.target.clone()?)))
            .collect()
    }
}

/// The rows as the mapping screen last showed them, written at every run (a failed one too),
/// so that a command such as a prefix rewrite works on what the operator sees. It is a view,
/// not an output: nothing later depends on it.
pub const MAPPING_VIEW_FILE: &str = "mapping-rows.json";

pub fn write_view(
    session_dir: &std::path::Path,
    rows: &[crate::engine::step_data::MappingRowView],
) -> std::io::Result<()> {
    let bytes = serde_json::to_vec_pretty(rows).map_err(std::io::Error::other)?;
    crate::durable::write_file(&session_dir.join(MAPPING_VIEW_FILE), &bytes)
}

/// The rows the mapping step last showed; none before it first ran (nothing to rewrite yet).
pub fn last_view(session_dir: &std::path::Path) -> Vec<crate::engine::step_data::MappingRowView> {
    match std::fs::read(session_dir.join(MAPPING_VIEW_FILE)) {
        Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_else(|e| {
            tracing::warn!("{MAPPING_VIEW_FILE} cannot be read ({e}); the mapping runs again");
            Vec::new()
        }),
        Err(_) => Vec::new(),
    }
}
