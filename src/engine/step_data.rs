//! Structured results a step publishes for its screen: check results, the inventory, push
//! rows, the mapping table, the deploy plan, the final addresses. Front ends draw these; they
//! are plain data so every front end (and a snapshot test) sees the same thing.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Verdict {
    Pass,
    Warn,
    Fail,
    Skipped,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckRow {
    /// Stable id, for skipping one check (`check:<id>` in the skips).
    pub id: String,
    pub title: String,
    pub verdict: Verdict,
    /// What was seen (command and the relevant output).
    pub evidence: String,
    /// The exact command or file that fixes it.
    pub fix: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageRow {
    pub reference: String,
    pub layers: usize,
    pub bytes: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CharmRow {
    pub name: String,
    pub kind: String,
    pub version: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InventoryView {
    pub images: Vec<ImageRow>,
    pub charms: Vec<CharmRow>,
    pub missing: Vec<String>,
    pub unused: Vec<String>,
    /// The bundle's form and release, as recognised.
    #[serde(default)]
    pub bundle: Option<String>,
    /// Every image's size added up, and the bytes the spool really holds (shared layers once).
    #[serde(default)]
    pub total_bytes: u64,
    #[serde(default)]
    pub unique_bytes: u64,
    /// Missing items that can be skipped one by one with a reason (a release bundle's needs):
    /// the line as shown in `missing`, and the id a `SkipItem` of kind `Need` takes.
    #[serde(default)]
    pub skippable: Vec<SkippableItem>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SkippableItem {
    pub id: String,
    pub line: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum PushState {
    Pending,
    Mounted,
    Skipped,
    Uploading,
    Done,
    Failed(String),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushRow {
    pub target: String,
    pub state: PushState,
    pub done: u64,
    pub total: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum MappingState {
    Matched,
    Missing,
    Ambiguous,
    Unchecked,
    Kept,
    Invalid,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MappingRowView {
    pub source: String,
    pub target: String,
    pub state: MappingState,
    pub detail: Option<String>,
    pub overridden: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum CommandState {
    Pending,
    Running,
    Done,
    AlreadyPresent,
    Failed(String),
    Skipped(String),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommandRow {
    /// Stable id, for skipping one command (`cmd:<id>` in the skips).
    pub id: String,
    /// The command as shown (secrets redacted).
    pub display: String,
    pub state: CommandState,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppStatusRow {
    pub application: String,
    pub status: String,
    pub message: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeployView {
    pub commands: Vec<CommandRow>,
    pub status: Vec<AppStatusRow>,
    /// Known failures recognised in the status, with what to do.
    pub diagnoses: Vec<String>,
    pub dry_run: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FinishView {
    pub dashboard: Option<String>,
    pub next_steps: Vec<String>,
    /// A dry run: nothing was deployed; the plan it wrote.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dry_run_plan: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum StepData {
    Checks(Vec<CheckRow>),
    /// What the registry login proved, one line each.
    Login(Vec<String>),
    Inventory(InventoryView),
    Push(Vec<PushRow>),
    Mapping(Vec<MappingRowView>),
    Deploy(DeployView),
    Finish(FinishView),
}
