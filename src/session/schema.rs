//! The on-disk form of a session (`session.json`) and migrations from older schema versions.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::wizard::{Choices, Step, StepRecord, StepStatus, WizardState};

pub const SCHEMA_VERSION: u32 = 3;
pub const TOOL_VERSION: &str = env!("CARGO_PKG_VERSION");

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionFile {
    /// First in the file so that any version can tell which reader it needs.
    pub schema_version: u32,
    pub tool_version: String,
    pub id: String,
    pub created_at: String,
    pub updated_at: String,
    /// The journal generation not yet absorbed into this file (`journal-<n>.jsonl`): finished
    /// units recorded since this file was written. Schema 3 and later.
    #[serde(default)]
    pub journal: u64,
    pub wizard: WizardState,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SchemaError {
    #[error("it is not a session file: {0}")]
    Invalid(String),
    #[error(
        "it was written by ckf-airgap {tool} (session schema {found}); this is ckf-airgap {TOOL_VERSION} \
         (schema {SCHEMA_VERSION}). Run it with ckf-airgap {tool} or newer, or start a new session."
    )]
    Newer { found: u32, tool: String },
}

/// Decodes a session of any known schema version, migrating older ones to the current form.
pub fn decode(bytes: &[u8]) -> Result<(SessionFile, Option<u32>), SchemaError> {
    let value: Value =
        serde_json::from_slice(bytes).map_err(|e| SchemaError::Invalid(e.to_string()))?;
    let version = value
        .get("schema_version")
        .and_then(Value::as_u64)
        .ok_or_else(|| SchemaError::Invalid("no schema_version field".into()))?;
    let version = u32::try_from(version)
        .map_err(|_| SchemaError::Invalid(format!("schema_version {version} is out of range")))?;
    match version {
        SCHEMA_VERSION => serde_json::from_value(value)
            .map(|file| (file, None))
            .map_err(|e| SchemaError::Invalid(e.to_string())),
        // Schema 2 had no journal: every unit was in the file itself.
        2 => serde_json::from_value::<SessionFile>(value)
            .map(|mut file| {
                file.schema_version = SCHEMA_VERSION;
                (file, Some(2))
            })
            .map_err(|e| SchemaError::Invalid(e.to_string())),
        1 => migrate_v1(value).map(|file| (file, Some(1))),
        v if v > SCHEMA_VERSION => Err(SchemaError::Newer {
            found: v,
            tool: value
                .get("tool_version")
                .and_then(Value::as_str)
                .unwrap_or("unknown")
                .to_string(),
        }),
        v => Err(SchemaError::Invalid(format!(
            "schema_version {v} was never released"
        ))),
    }
}

/// Schema 1 (the development releases) kept statuses as bare strings with reasons beside them,
/// ledgers as plain lists of unit ids, and the creation time as Unix seconds.
#[derive(Deserialize)]
struct V1 {
    tool_version: String,
    id: String,
    created: u64,
    step: Step,
    status: BTreeMap<Step, String>,
    #[serde(default)]
    reasons: BTreeMap<Step, String>,
    #[serde(default)]
    ledger: BTreeMap<Step, Vec<String>>,
    #[serde(default)]
    choices: Choices,
}

fn migrate_v1(value: Value) -> Result<SessionFile, SchemaError> {
    let v1: V1 = serde_json::from_value(value)
        .map_err(|e| SchemaError::Invalid(format!("schema 1 session: {e}")))?;
    let mut wizard = WizardState {
        current: v1.step,
        choices: v1.choices,
        ..WizardState::default()
    };
    for (step, status) in v1.status {
        let reason = v1.reasons.get(&step).cloned().unwrap_or_default();
        let status = match status.as_str() {
            "pending" => StepStatus::Pending,
            "running" => StepStatus::Running,
            "done" => StepStatus::Done,
            "failed" => StepStatus::Failed { reason },
            "skipped" => StepStatus::Skipped { reason },
            other => {
                return Err(SchemaError::Invalid(format!(
                    "schema 1 session: unknown status {other:?} for {step}"
                )));
            }
        };
        wizard.steps.insert(
            step,
            StepRecord {
                status,
                ..StepRecord::default()
            },
        );
    }
    for (step, units) in v1.ledger {
        let record = wizard.record_mut(step);
        record.ledger = units.into_iter().map(|u| (u, Value::Null)).collect();
    }
    let created = std::time::UNIX_EPOCH + std::time::Duration::from_secs(v1.created);
    let created = humantime::format_rfc3339_seconds(created).to_string();
    Ok(SessionFile {
        schema_version: SCHEMA_VERSION,
        tool_version: v1.tool_version,
        id: v1.id,
        updated_at: created.clone(),
        created_at: created,
        journal: 0,
        wizard,
    })
}
