//! The front ends' picture of the install, folded from engine events. Front ends render this;
//! they never look inside the engine.

use std::collections::{BTreeMap, VecDeque};

use crate::engine::{EngineEvent, InputRequest, Level, Progress, Quantity, StopReason};
use crate::wizard::{ItemKind, Step, WizardState};

/// The step whose results list the items of a kind.
fn kind_step(kind: ItemKind) -> Step {
    match kind {
        ItemKind::Check => Step::EnvironmentChecks,
        ItemKind::Command => Step::JujuDeploy,
        ItemKind::Need => Step::Artifacts,
        ItemKind::Reference => Step::PlaceholderMapping,
    }
}

/// Enough history for the log pane; the full log is in the file.
const LOG_LINES: usize = 2000;

#[derive(Debug, Default, Clone)]
pub struct View {
    pub session_id: String,
    /// The state without its ledgers (see `StateSnapshot`).
    pub state: WizardState,
    /// Finished units per step.
    pub units: BTreeMap<Step, usize>,
    pub running: Option<Step>,
    pub progress: BTreeMap<Step, Progress>,
    pub phase: BTreeMap<Step, String>,
    pub log: VecDeque<String>,
    pub notices: VecDeque<String>,
    pub question: Option<InputRequest>,
    /// The latest document per step (e.g. the bundle diff) with its title.
    pub documents: BTreeMap<Step, (String, String)>,
    /// The latest structured results per step.
    pub data: BTreeMap<Step, crate::engine::step_data::StepData>,
    pub stopped: Option<StopReason>,
}

impl View {
    /// What may be skipped on its own now, of one kind, as (id, label): failed checks, failed
    /// deploy commands, missing needs of a release bundle, any bundle reference. Every front end
    /// offers the same items.
    pub fn skippable(&self, kind: ItemKind) -> Vec<(String, String)> {
        use crate::engine::step_data::{CommandState, StepData, Verdict};
        match (kind, self.data.get(&kind_step(kind))) {
            (ItemKind::Check, Some(StepData::Checks(rows))) => rows
                .iter()
                .filter(|r| r.verdict == Verdict::Fail)
                .map(|r| (r.id.clone(), r.title.clone()))
                .collect(),
            (ItemKind::Command, Some(StepData::Deploy(d))) => d
                .commands
                .iter()
                .filter(|c| matches!(c.state, CommandState::Failed(_)))
                .map(|c| (c.id.clone(), c.display.clone()))
                .collect(),
            (ItemKind::Need, Some(StepData::Inventory(v))) => v
                .skippable
                .iter()
                .map(|s| (s.id.clone(), s.line.clone()))
                .collect(),
            (ItemKind::Reference, Some(StepData::Mapping(rows))) => rows
                .iter()
                .map(|r| (r.source.clone(), r.source.clone()))
                .collect(),
            _ => vec![],
        }
    }

    /// The registry target chosen so far (empty before the registry step): the prefix a
    /// mapping rewrite starts from in every front end.
    pub fn registry_target(&self) -> String {
        self.state
            .choices
            .registry
            .as_ref()
            .map(|r| r.target.clone())
            .unwrap_or_default()
    }

    pub fn new(session_id: impl Into<String>) -> View {
        View {
            session_id: session_id.into(),
            ..View::default()
        }
    }

    pub fn apply(&mut self, event: &EngineEvent) {
        match event {
            EngineEvent::State(snapshot) => {
                self.state = snapshot.wizard.clone();
                self.units = snapshot.units.clone();
            }
            EngineEvent::StepStarted(step) => {
                self.running = Some(*step);
                self.progress.remove(step);
                self.phase.remove(step);
                self.push_log(format!("{}: started", step.title()));
            }
            EngineEvent::Progress(p) => {
                self.progress.insert(p.step, p.clone());
            }
            EngineEvent::Phase { step, text } => {
                self.phase.insert(*step, text.clone());
            }
            EngineEvent::Log { level, line, .. } => {
                let prefix = match level {
                    Level::Info => "",
                    Level::Warn => "warning: ",
                    Level::Error => "error: ",
                };
                self.push_log(format!("{prefix}{line}"));
            }
            EngineEvent::UnitDone { .. } | EngineEvent::Waiting => {}
            EngineEvent::StepFinished { step, status } => {
                self.running = None;
                self.question = None;
                self.push_log(format!("{}: {}", step.title(), status.label()));
            }
            EngineEvent::NeedsInput(request) => self.question = Some(request.clone()),
            EngineEvent::StepData { step, data } => {
                self.data.insert(*step, data.clone());
            }
            EngineEvent::Document { step, title, text } => {
                self.documents.insert(*step, (title.clone(), text.clone()));
            }
            EngineEvent::Notice(text) => {
                self.push_log(text.clone());
                self.notices.push_back(text.clone());
                while self.notices.len() > 3 {
                    self.notices.pop_front();
                }
            }
            EngineEvent::Stopped(reason) => self.stopped = Some(reason.clone()),
        }
    }

    fn push_log(&mut self, line: String) {
        self.log.push_back(line);
        while self.log.len() > LOG_LINES {
            self.log.pop_front();
        }
    }
}

pub use crate::engine::events::amount;

/// One line describing progress: "42.0%  1.2 GiB of 2.9 GiB  90.0 MiB/s  ETA 20s".
pub fn progress_line(p: &Progress) -> String {
    let mut parts = Vec::new();
    if let Some(f) = p.fraction() {
        parts.push(format!("{:.1}%", f * 100.0));
    }
    match p.total {
        Some(t) => parts.push(format!(
            "{} of {}",
            amount(p.done, p.quantity),
            amount(t, p.quantity)
        )),
        None => parts.push(amount(p.done, p.quantity)),
    }
    if let Some(rate) = p.rate_per_sec {
        let per = match p.quantity {
            Quantity::Bytes => format!("{}/s", amount(rate as u64, Quantity::Bytes)),
            Quantity::Items => format!("{rate:.1}/s"),
        };
        parts.push(per);
    }
    if let Some(eta) = p.eta_secs {
        parts.push(format!("ETA {}", duration(eta)));
    }
    if let Some(item) = &p.item {
        parts.push(item.clone());
    }
    parts.join("  ")
}

pub fn duration(secs: u64) -> String {
    match secs {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m{:02}s", s / 60, s % 60),
        s => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_and_progress_read_well() {
        assert_eq!(amount(512, Quantity::Bytes), "512 B");
        assert_eq!(amount(3 << 30, Quantity::Bytes), "3.0 GiB");
        let p = Progress {
            step: Step::Artifacts,
            done: 1 << 30,
            total: Some(4 << 30),
            quantity: Quantity::Bytes,
            item: Some("x.tar".into()),
            rate_per_sec: Some(100.0 * 1024.0 * 1024.0),
            eta_secs: Some(95),
        };
        assert_eq!(
            progress_line(&p),
            "25.0%  1.0 GiB of 4.0 GiB  100.0 MiB/s  ETA 1m35s  x.tar"
        );
    }
}
