//! Headless mode: no questions, one plain line per event on standard output.

use std::io::Write;

use tokio::sync::mpsc;

use super::view::progress_line;
use crate::engine::{EngineEvent, Level, StopReason};

/// The line printed for an event, or None for events with nothing to say.
pub fn line(event: &EngineEvent) -> Option<String> {
    Some(match event {
        EngineEvent::StepData {
            step,
            data: crate::engine::step_data::StepData::Login(lines),
        } => lines
            .iter()
            .map(|l| format!("[{step}] proven: {l}"))
            .collect::<Vec<_>>()
            .join("\n"),
        EngineEvent::State(_)
        | EngineEvent::UnitDone { .. }
        | EngineEvent::StepData { .. }
        | EngineEvent::Waiting => {
            return None;
        }
        EngineEvent::StepStarted(step) => format!("[{step}] started"),
        EngineEvent::Progress(p) => format!("[{}] progress {}", p.step, progress_line(p)),
        EngineEvent::Phase { step, text } => format!("[{step}] {text}"),
        EngineEvent::Log { step, level, line } => {
            let tag = step.map(|s| s.id()).unwrap_or("engine");
            let prefix = match level {
                Level::Info => "",
                Level::Warn => "warning: ",
                Level::Error => "error: ",
            };
            format!("[{tag}] {prefix}{line}")
        }
        EngineEvent::StepFinished { step, status } => match status {
            crate::wizard::StepStatus::Failed { reason } => format!("[{step}] failed: {reason}"),
            crate::wizard::StepStatus::Skipped { reason } => {
                format!("[{step}] skipped: {reason}")
            }
            other => format!("[{step}] {}", other.label()),
        },
        EngineEvent::NeedsInput(r) => format!(
            "[{}] needs an answer: {} (answers key {})",
            r.step, r.prompt, r.answers_key
        ),
        EngineEvent::Notice(text) => format!("notice: {text}"),
        EngineEvent::Document { step, title, text } => {
            let body: Vec<String> = text.lines().map(|l| format!("[{step}] | {l}")).collect();
            format!("[{step}] {title}:\n{}", body.join("\n"))
        }
        EngineEvent::Stopped(reason) => match reason {
            StopReason::Finished => "finished: every step is done".to_string(),
            StopReason::Interrupted => {
                "interrupted: the session is saved; run again to resume".to_string()
            }
            StopReason::Failed { step, reason } => {
                format!("stopped: {} failed: {reason}", step.title())
            }
            StopReason::Error(message) => format!("error: the wizard cannot go on: {message}"),
        },
    })
}

/// Prints events until the engine stops.
pub async fn print_events(mut events: mpsc::UnboundedReceiver<EngineEvent>, mut out: impl Write) {
    while let Some(event) = events.recv().await {
        if let Some(text) = line(&event) {
            let _ = writeln!(out, "{text}");
            let _ = out.flush();
        }
        if matches!(event, EngineEvent::Stopped(_)) {
            break;
        }
    }
}
