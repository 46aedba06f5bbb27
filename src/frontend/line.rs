//! Line mode: the same wizard as plain prompts (dialoguer) and printed progress, for terminals
//! where a full-screen program is unwelcome (serial consoles, screen readers, logs).

use dialoguer::theme::SimpleTheme;
use dialoguer::{Confirm, Input, Password, Select};
use tokio::sync::mpsc;

use super::headless;
use super::view::View;
use crate::engine::{Answer, Command, EngineEvent, InputKind, InputRequest, StopReason};
use crate::secret::Secret;
use crate::session::SessionSummary;
use crate::wizard::{Step, StepStatus};

pub enum Pick {
    Resume(String),
    New,
    Quit,
}

pub fn pick_session(sessions: &[SessionSummary]) -> std::io::Result<Pick> {
    let resumable: Vec<&SessionSummary> = sessions
        .iter()
        .filter(|s| s.file.is_some() && !s.finished() && !s.in_use)
        .collect();
    if resumable.is_empty() {
        return Ok(Pick::New);
    }
    let mut items: Vec<String> = resumable
        .iter()
        .map(|s| format!("Resume {}  {}", s.id, s.whereabouts()))
        .collect();
    items.push("Start a new session".into());
    items.push("Quit".into());
    let choice = Select::with_theme(&SimpleTheme)
        .with_prompt("Unfinished sessions were found")
        .items(&items)
        .default(0)
        .interact_opt()
        .map_err(std::io::Error::other)?;
    Ok(match choice {
        Some(i) if i < resumable.len() => Pick::Resume(resumable[i].id.clone()),
        Some(i) if i == resumable.len() => Pick::New,
        _ => Pick::Quit,
    })
}

enum Prompted {
    Commands(Vec<Command>),
    Answer(Answer),
}

/// Drives the engine until it stops; returns why it stopped.
pub async fn run(
    session_id: String,
    commands: mpsc::UnboundedSender<Command>,
    mut events: mpsc::UnboundedReceiver<EngineEvent>,
) -> StopReason {
    let mut view = View::new(session_id);
    let mut idle = false;
    loop {
        // Print what happens until the engine waits for the operator.
        while !idle {
            let Some(event) = events.recv().await else {
                return StopReason::Interrupted;
            };
            view.apply(&event);
            // A question is shown as its own prompt, not as a line about it.
            if !matches!(event, EngineEvent::NeedsInput(_))
                && let Some(text) = headless::line(&event)
            {
                println!("{text}");
            }
            match &event {
                EngineEvent::Stopped(reason) => return reason.clone(),
                EngineEvent::State(_) if view.running.is_none() => idle = true,
                EngineEvent::NeedsInput(_) => idle = true,
                _ => {}
            }
        }
        let question = view.question.take();
        let status = view.state.status(view.state.current).clone();
        let current = view.state.current;
        let prompt = tokio::task::spawn_blocking(move || match question {
            Some(q) => ask(&q).map(Prompted::Answer),
            None => menu(current, &status).map(Prompted::Commands),
        });
        tokio::select! {
            result = prompt => {
                let prompted = result.unwrap_or(Ok(Prompted::Commands(vec![Command::Quit])))
                    .unwrap_or(Prompted::Commands(vec![Command::Quit]));
                match prompted {
                    Prompted::Answer(a) => { let _ = commands.send(Command::Answer(a)); }
                    Prompted::Commands(cs) => for c in cs { let _ = commands.send(c); },
                }
                idle = false;
            }
            event = events.recv() => {
                // The engine stopped (a signal) while the operator was being asked.
                if let Some(EngineEvent::Stopped(reason)) = event {
                    println!();
                    if let Some(text) = headless::line(&EngineEvent::Stopped(reason.clone())) {
                        println!("{text}");
                    }
                    return reason;
                }
                if let Some(event) = event { view.apply(&event); }
            }
        }
    }
}

fn menu(step: Step, status: &StepStatus) -> std::io::Result<Vec<Command>> {
    let title = step.title();
    let (items, actions): (Vec<String>, Vec<Vec<Command>>) = match status {
        StepStatus::Pending => (
            vec![
                format!("Run {title}"),
                "Skip it (a reason is recorded)".into(),
                "Back".into(),
                "Quit (progress is saved)".into(),
            ],
            vec![
                vec![Command::RunCurrent],
                vec![],
                vec![Command::Back],
                vec![Command::Quit],
            ],
        ),
        StepStatus::Failed { .. } => (
            vec![
                format!("Retry {title}"),
                "Skip it (a reason is recorded)".into(),
                "Back".into(),
                "Quit (progress is saved)".into(),
            ],
            vec![
                vec![Command::Retry, Command::RunCurrent],
                vec![],
                vec![Command::Back],
                vec![Command::Quit],
            ],
        ),
        _ if step.is_end() => (vec!["Quit".into()], vec![vec![Command::Quit]]),
        _ => (
            vec![
                "Next step".into(),
                "Back".into(),
                "Quit (progress is saved)".into(),
            ],
            vec![
                vec![Command::Next],
                vec![Command::Back],
                vec![Command::Quit],
            ],
        ),
    };
    let choice = Select::with_theme(&SimpleTheme)
        .with_prompt(format!("{title}: {}", status.label()))
        .items(&items)
        .default(0)
        .interact_opt()
        .map_err(std::io::Error::other)?;
    let Some(i) = choice else {
        return Ok(vec![Command::Quit]);
    };
    if items[i].starts_with("Skip") {
        let reason: String = Input::with_theme(&SimpleTheme)
            .with_prompt("Why is it skipped")
            .interact_text()
            .map_err(std::io::Error::other)?;
        return Ok(vec![Command::Skip { reason }]);
    }
    Ok(actions[i].clone())
}

fn ask(q: &InputRequest) -> std::io::Result<Answer> {
    let theme = SimpleTheme;
    Ok(match &q.kind {
        InputKind::Password => Answer::Password(Secret::new(
            Password::with_theme(&theme)
                .with_prompt(&q.prompt)
                .interact()
                .map_err(std::io::Error::other)?,
        )),
        InputKind::Text => Answer::Text(
            Input::with_theme(&theme)
                .with_prompt(&q.prompt)
                .interact_text()
                .map_err(std::io::Error::other)?,
        ),
        InputKind::Confirm => Answer::Confirm(
            Confirm::with_theme(&theme)
                .with_prompt(&q.prompt)
                .interact()
                .map_err(std::io::Error::other)?,
        ),
        InputKind::Choice(options) => Answer::Choice(
            Select::with_theme(&theme)
                .with_prompt(&q.prompt)
                .items(options)
                .default(0)
                .interact()
                .map_err(std::io::Error::other)?,
        ),
    })
}
