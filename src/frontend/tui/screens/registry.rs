//! The registry form: target, user, password (masked, memory only), CA file. Enter saves the
//! choices and runs the step, which tests the connection and push rights.

use crossterm::event::{KeyCode, KeyEvent};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};

use super::rows::heading;
use super::status::status_lines;
use crate::engine::Command;
use crate::engine::step_data::StepData;
use crate::frontend::tui::app::App;
use crate::secret::Secret;
use crate::wizard::Step;
use crate::wizard::state::RegistryChoice;

pub const FIELDS: [&str; 4] = [
    "Registry (host[:port][/prefix])",
    "Username",
    "Password",
    "CA file",
];

/// The form's text, seeded from the session's choices when the screen opens.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RegistryFields {
    pub values: [String; 4],
    /// The field being typed into; None when the wizard's keys are active.
    pub focus: Option<usize>,
    pub seeded: bool,
}

impl RegistryFields {
    fn seed(&mut self, choice: Option<&RegistryChoice>) {
        if self.seeded {
            return;
        }
        self.seeded = true;
        self.focus = Some(0);
        if let Some(c) = choice {
            self.values[0] = c.target.clone();
            self.values[1] = c.username.clone().unwrap_or_default();
            self.values[3] = c
                .ca_file
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default();
        }
    }
}

pub fn render(frame: &mut Frame, area: Rect, app: &App) {
    let mut lines = status_lines(app, area.width);
    let form = &app.screen.form;
    let choice = app.view.state.choices.registry.as_ref();
    lines.push(heading("Registry"));
    for (i, label) in FIELDS.iter().enumerate() {
        let value = if form.seeded {
            form.values[i].clone()
        } else {
            match (i, choice) {
                (0, Some(c)) => c.target.clone(),
                (1, Some(c)) => c.username.clone().unwrap_or_default(),
                (3, Some(c)) => c
                    .ca_file
                    .as_ref()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default(),
                _ => String::new(),
            }
        };
        let shown = if i == 2 {
            if value.is_empty() {
                password_source_hint(choice)
            } else {
                "*".repeat(value.chars().count())
            }
        } else {
            value
        };
        let focused = form.focus == Some(i);
        let cursor = if focused { "_" } else { "" };
        let pointer = if focused { ">" } else { " " };
        lines.push(Line::from(vec![
            Span::raw(format!("{pointer} {label:<32} ")),
            Span::styled(
                format!("{shown}{cursor}"),
                if focused {
                    app.theme.current()
                } else {
                    ratatui::style::Style::default()
                },
            ),
        ]));
    }
    if let Some(c) = choice {
        if c.insecure {
            lines.push(Line::from(Span::styled(
                "WARNING: TLS verification is off (insecure): anyone on the path can read and change what is pushed.",
                app.theme.bad(),
            )));
        }
        if c.plain_http {
            lines.push(Line::from(Span::styled(
                "WARNING: plain HTTP: Juju and containerd will refuse this registry later.",
                app.theme.bad(),
            )));
        }
    }
    if let Some(StepData::Login(proven)) = app.view.data.get(&Step::RegistryLogin) {
        lines.push(heading("What the login proved"));
        for p in proven {
            lines.push(Line::from(format!("  {p}")));
        }
    }
    lines.push(Line::from(""));
    lines.push(Line::from(Span::styled(
        "Tab next field, Enter test the connection, Esc wizard keys",
        app.theme.dim(),
    )));
    frame.render_widget(super::wrapped::paragraph(lines, area.width), area);
}

/// Where the password comes from when none is typed here (never the password itself).
fn password_source_hint(choice: Option<&RegistryChoice>) -> String {
    choice
        .and_then(|c| c.password_source.as_ref())
        .map(|source| format!("(from {})", source.origin()))
        .unwrap_or_default()
}

pub fn on_key(app: &mut App, key: KeyEvent) -> Option<Vec<Command>> {
    let status = app.view.state.status(app.view.state.current).clone();
    if app.view.running.is_some() || status.is_settled() {
        return None;
    }
    let choice = app.view.state.choices.registry.clone();
    let form = &mut app.screen.form;
    form.seed(choice.as_ref());
    let Some(focus) = form.focus else {
        if key.code == KeyCode::Tab {
            form.focus = Some(0);
            return Some(vec![]);
        }
        return None;
    };
    match key.code {
        KeyCode::Tab | KeyCode::Down => form.focus = Some((focus + 1) % FIELDS.len()),
        KeyCode::BackTab | KeyCode::Up => {
            form.focus = Some((focus + FIELDS.len() - 1) % FIELDS.len())
        }
        KeyCode::Esc => form.focus = None,
        KeyCode::Backspace => {
            form.values[focus].pop();
        }
        KeyCode::Char(c) => form.values[focus].push(c),
        KeyCode::Enter => return Some(submit(app)),
        _ => {}
    }
    Some(vec![])
}

fn submit(app: &mut App) -> Vec<Command> {
    let form = &app.screen.form;
    let text = |i: usize| form.values[i].trim().to_string();
    let password = Some(form.values[2].clone())
        .filter(|p| !p.is_empty())
        .map(Secret::new);
    let command = Command::SetRegistry {
        form: crate::wizard::RegistryForm {
            target: text(0),
            username: Some(text(1)).filter(|u| !u.is_empty()),
            password_typed: password.is_some(),
            ca_file: Some(text(3)).filter(|c| !c.is_empty()).map(Into::into),
        },
        password,
    };
    app.screen.form.focus = None;
    vec![command]
}
