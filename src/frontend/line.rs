//! Line mode: the same wizard as plain prompts (dialoguer) and printed progress, for terminals
//! where a full-screen program is unwelcome (serial consoles, screen readers, logs).

use dialoguer::theme::SimpleTheme;
use dialoguer::{Confirm, Input, Password, Select};
use tokio::sync::mpsc;

use super::headless;
use super::view::View;
use crate::engine::step_data::StepData;
use crate::engine::{Answer, Command, EngineEvent, InputKind, InputRequest, StopReason};
use crate::gateway_type::GatewayServiceType;
use crate::secret::Secret;
use crate::session::SessionSummary;
use crate::wizard::{ItemKind, RegistryForm, Step, StepStatus};

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
                EngineEvent::Waiting => idle = true,
                EngineEvent::NeedsInput(_) => idle = true,
                _ => {}
            }
        }
        let question = view.question.take();
        let snapshot = view.clone();
        let prompt = tokio::task::spawn_blocking(move || match question {
            Some(q) => ask(&q).map(Prompted::Answer),
            None => menu(&snapshot).map(Prompted::Commands),
        });
        tokio::pin!(prompt);
        // One prompt at a time: events that arrive while it is shown update the view only.
        loop {
            tokio::select! {
                result = &mut prompt => {
                    let prompted = result.unwrap_or(Ok(Prompted::Commands(vec![Command::Quit])))
                        .unwrap_or(Prompted::Commands(vec![Command::Quit]));
                    match prompted {
                        Prompted::Answer(a) => { let _ = commands.send(Command::Answer(a)); }
                        Prompted::Commands(cs) => for c in cs { let _ = commands.send(c); },
                    }
                    idle = false;
                    break;
                }
                event = events.recv() => match event {
                    // The engine stopped (a signal) while the operator was being asked.
                    Some(EngineEvent::Stopped(reason)) => {
                        println!();
                        if let Some(text) = headless::line(&EngineEvent::Stopped(reason.clone())) {
                            println!("{text}");
                        }
                        return reason;
                    }
                    Some(event) => view.apply(&event),
                    None => return StopReason::Interrupted,
                },
            }
        }
    }
}

/// What the operator can do at the menu of the current step. Every choice the full-screen
/// wizard offers on a step's screen is here too, as a prompt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Offer {
    /// Run, retry or move on, as the engine decides for the step's status.
    Proceed,
    Retry,
    Skip,
    EnterRegistry,
    OverrideTarget,
    RewritePrefix,
    ChooseGateway,
    SkipCheck,
    SkipCommand,
    SkipNeed,
    SkipReference,
    Back,
    Quit,
}

impl Offer {
    fn label(self, step: Step, status: &StepStatus) -> String {
        let title = step.title();
        match self {
            Offer::Proceed => match status {
                StepStatus::Pending => format!("Run {title}"),
                StepStatus::Failed { .. } => format!("Retry {title}"),
                _ => "Next step".into(),
            },
            Offer::Retry => format!("Run {title} again"),
            Offer::Skip => "Skip it (a reason is recorded)".into(),
            Offer::EnterRegistry => "Enter the registry (address, user, password, CA file)".into(),
            Offer::OverrideTarget => "Map one reference by hand".into(),
            Offer::RewritePrefix => "Rewrite a target prefix on every row".into(),
            Offer::ChooseGateway => "Choose the gateway service type".into(),
            Offer::SkipCheck => "Skip one failed check (a reason is recorded)".into(),
            Offer::SkipCommand => "Skip one failed command (a reason is recorded)".into(),
            Offer::SkipNeed => "Skip one missing image or charm (a reason is recorded)".into(),
            Offer::SkipReference => {
                "Leave one reference as written in the bundle (a reason is recorded)".into()
            }
            Offer::Back => "Back".into(),
            Offer::Quit if step.is_end() => "Quit".into(),
            Offer::Quit => "Quit (progress is saved)".into(),
        }
    }
}

/// The offers for the view's current step, the default first.
pub fn offers(view: &View) -> Vec<Offer> {
    let step = view.state.current;
    let status = view.state.status(step);
    if step.is_end() && status.is_settled() {
        return vec![Offer::Quit];
    }
    let open = !status.is_settled();
    let mut out = vec![Offer::Proceed];
    if matches!(status, StepStatus::Done | StepStatus::Skipped { .. }) {
        out.push(Offer::Retry);
    }
    match step {
        Step::RegistryLogin if open => out.push(Offer::EnterRegistry),
        Step::GatewayType if open => out.push(Offer::ChooseGateway),
        Step::PlaceholderMapping if !mapping_rows(view).is_empty() => out.extend([
            Offer::OverrideTarget,
            Offer::RewritePrefix,
            Offer::SkipReference,
        ]),
        Step::EnvironmentChecks if !view.skippable(ItemKind::Check).is_empty() => {
            out.push(Offer::SkipCheck)
        }
        Step::JujuDeploy if !view.skippable(ItemKind::Command).is_empty() => {
            out.push(Offer::SkipCommand)
        }
        Step::Artifacts if !view.skippable(ItemKind::Need).is_empty() => out.push(Offer::SkipNeed),
        _ => {}
    }
    if open && !step.is_end() {
        out.push(Offer::Skip);
    }
    out.extend([Offer::Back, Offer::Quit]);
    out
}

fn mapping_rows(view: &View) -> Vec<(String, String)> {
    match view.data.get(&Step::PlaceholderMapping) {
        Some(StepData::Mapping(rows)) => rows
            .iter()
            .map(|r| (r.source.clone(), r.target.clone()))
            .collect(),
        _ => vec![],
    }
}

fn menu(view: &View) -> std::io::Result<Vec<Command>> {
    let step = view.state.current;
    let status = view.state.status(step).clone();
    let offers = offers(view);
    let items: Vec<String> = offers.iter().map(|o| o.label(step, &status)).collect();
    let choice = Select::with_theme(&SimpleTheme)
        .with_prompt(format!("{}: {}", step.title(), status.label()))
        .items(&items)
        .default(0)
        .interact_opt()
        .map_err(std::io::Error::other)?;
    let Some(i) = choice else {
        return Ok(vec![Command::Quit]);
    };
    let theme = SimpleTheme;
    let text = |prompt: &str, initial: &str| -> std::io::Result<String> {
        Input::<String>::with_theme(&theme)
            .with_prompt(prompt)
            .with_initial_text(initial)
            .allow_empty(true)
            .interact_text()
            .map_err(std::io::Error::other)
    };
    let reason = || -> std::io::Result<String> {
        Input::<String>::with_theme(&theme)
            .with_prompt("Why is it skipped")
            .interact_text()
            .map_err(std::io::Error::other)
    };
    let pick = |prompt: &str, rows: &[(String, String)]| -> std::io::Result<Option<usize>> {
        let labels: Vec<String> = rows.iter().map(|(a, b)| format!("{a}  {b}")).collect();
        Select::with_theme(&theme)
            .with_prompt(prompt)
            .items(&labels)
            .default(0)
            .interact_opt()
            .map_err(std::io::Error::other)
    };
    Ok(match offers[i] {
        Offer::Proceed => vec![Command::Proceed],
        Offer::Retry => vec![Command::Retry],
        Offer::Skip => vec![Command::Skip { reason: reason()? }],
        Offer::Back => vec![Command::Back],
        Offer::Quit => vec![Command::Quit],
        Offer::EnterRegistry => {
            let current = view.state.choices.registry.clone().unwrap_or_default();
            let target = text("Registry (host[:port][/prefix])", &current.target)?;
            let username = text(
                "Username (empty for none)",
                current.username.as_deref().unwrap_or(""),
            )?;
            let password = Password::with_theme(&theme)
                .with_prompt("Password (empty to keep the configured source)")
                .allow_empty_password(true)
                .interact()
                .map_err(std::io::Error::other)?;
            let ca = current
                .ca_file
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default();
            let ca_file = text("CA file (empty for the system's)", &ca)?;
            let password = Some(password).filter(|p| !p.is_empty()).map(Secret::new);
            vec![Command::SetRegistry {
                form: RegistryForm {
                    target: target.trim().to_string(),
                    username: Some(username.trim().to_string()).filter(|u| !u.is_empty()),
                    password_typed: password.is_some(),
                    ca_file: Some(ca_file.trim().to_string())
                        .filter(|c| !c.is_empty())
                        .map(Into::into),
                },
                password,
            }]
        }
        Offer::ChooseGateway => {
            let options: Vec<&str> = GatewayServiceType::ALL
                .iter()
                .map(|t| t.explanation())
                .collect();
            let chosen = Select::with_theme(&theme)
                .with_prompt("Istio gateway service type")
                .items(&options)
                .default(0)
                .interact_opt()
                .map_err(std::io::Error::other)?;
            chosen
                .map(|i| vec![Command::SetGateway(GatewayServiceType::ALL[i])])
                .unwrap_or_default()
        }
        Offer::OverrideTarget => {
            let rows = mapping_rows(view);
            match pick("Which reference", &rows)? {
                Some(i) => {
                    let target = text("Its target", &rows[i].1)?;
                    vec![Command::OverrideTarget {
                        source: rows[i].0.clone(),
                        target: target.trim().to_string(),
                    }]
                }
                None => vec![],
            }
        }
        Offer::RewritePrefix => {
            let old = text("Prefix to replace", &view.registry_target())?;
            let new = text("Replace it with", "")?;
            vec![Command::RewritePrefix {
                old: old.trim().to_string(),
                new: new.trim().to_string(),
            }]
        }
        Offer::SkipCheck | Offer::SkipCommand | Offer::SkipNeed | Offer::SkipReference => {
            let kind = match offers[i] {
                Offer::SkipCheck => ItemKind::Check,
                Offer::SkipCommand => ItemKind::Command,
                Offer::SkipReference => ItemKind::Reference,
                _ => ItemKind::Need,
            };
            let rows = view.skippable(kind);
            match pick("Which one", &rows)? {
                Some(i) => vec![Command::SkipItem {
                    kind,
                    id: rows[i].0.clone(),
                    reason: reason()?,
                }],
                None => vec![],
            }
        }
    })
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
