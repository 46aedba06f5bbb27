//! What the steps leave in the session for the steps after them: the inventory and the work
//! directory (artifacts), the mapping (placeholder mapping), the files the preview wrote. A step
//! reads an earlier step's results through these, never by calling that step's functions.

use std::path::{Path, PathBuf};

use crate::artifacts::Inventory;
use crate::engine::context::StepContext;
use crate::engine::step_data::MappingRowView;
use crate::engine::work::StepError;

pub const INVENTORY_FILE: &str = "inventory.json";

/// The deploy step's ledger unit holding the dashboard address, for the final screen.
pub const DASHBOARD_UNIT: &str = "dashboard";

/// The work directory: the operator's choice, else a folder in the session.
pub fn work_dir(ctx: &StepContext) -> PathBuf {
    ctx.choices()
        .work_dir
        .unwrap_or_else(|| ctx.session_dir().join("work"))
}

pub fn inventory_path(session_dir: &Path) -> PathBuf {
    session_dir.join(INVENTORY_FILE)
}

/// Reads the inventory written by a finished artifacts step.
pub fn load_inventory(session_dir: &Path) -> Result<Inventory, StepError> {
    let path = inventory_path(session_dir);
    let bytes = std::fs::read(&path).map_err(|e| {
        StepError::failed(format!(
            "cannot read the inventory {}: {e}. Run the Artifacts step first.",
            path.display()
        ))
    })?;
    serde_json::from_slice(&bytes).map_err(|e| {
        StepError::failed(format!(
            "the inventory {} is damaged ({e}); retry the Artifacts step to rebuild it",
            path.display()
        ))
    })
}

pub const WRITTEN_UNIT: &str = "written";

/// A file the preview wrote in this session: `bundle`, `report` or `separately_deployed`.
pub fn written(ctx: &StepContext, which: &str) -> Option<PathBuf> {
    ctx.with_state(|s| {
        s.record(crate::wizard::Step::BundlePreview)
            .ledger
            .get(WRITTEN_UNIT)
            .and_then(|v| v.get(which))
            .and_then(|v| v.as_str())
            .map(PathBuf::from)
    })
}

pub const MAPPING_FILE: &str = "mapping.json";
/// The rows as the screen shows them, written at every run (also a failed one), so a command
/// such as a prefix rewrite works on what the operator sees.
pub const ROWS_FILE: &str = "mapping-rows.json";

/// The rows the mapping step last published in this session; none before it ran.
pub fn published_rows(session_dir: &std::path::Path) -> Vec<MappingRowView> {
    std::fs::read(session_dir.join(ROWS_FILE))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
}
