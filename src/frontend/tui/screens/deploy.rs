//! Juju setup and deploy: the plan, each command's state, the live output and the model's
//! status table with any known failure recognised.

use crossterm::event::KeyEvent;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};

use super::rows::{fit, heading, move_selection, window_start};
use super::status::status_lines;
use crate::engine::Command;
use crate::engine::step_data::{CommandState, DeployView, StepData};
use crate::frontend::tui::app::App;
use crate::wizard::Step;

fn view(app: &App) -> Option<&DeployView> {
    match app.view.data.get(&app.view.state.current) {
        Some(StepData::Deploy(v)) => Some(v),
        _ => None,
    }
}

/// What Enter does on a screen of commands that has none yet.
fn intro(step: Step) -> &'static [&'static str] {
    match step {
        Step::UpgradePlan => &[
            "Enter builds the upgrade plan: every refresh with its charm file,",
            "resources and config, the istio hops, and each application's way back.",
        ],
        Step::UpgradeBackups => &[
            "Enter backs up the databases (MLMD, MySQL) into the session,",
            "with your consent, before anything changes.",
        ],
        Step::UpgradeRun => &[
            "Enter runs the upgrade plan one command at a time,",
            "each application settled before the next.",
        ],
        _ => &[
            "Enter shows the deploy plan: the edited bundle, the charms",
            "deployed one by one with their config files, then the relations.",
        ],
    }
}

pub fn render(frame: &mut Frame, area: Rect, app: &App) {
    let mut lines = status_lines(app, area.width);
    let width = area.width as usize;
    let Some(v) = view(app) else {
        for line in intro(app.view.state.current) {
            lines.push(Line::from(*line));
        }
        frame.render_widget(super::wrapped::paragraph(lines, area.width), area);
        return;
    };
    if v.dry_run {
        lines.push(Line::from(Span::styled(
            "DRY RUN: the commands are shown, not run",
            app.theme.warn(),
        )));
    }
    lines.push(heading(&format!("Plan: {} commands", v.commands.len())));
    let status_rows = v.status.len() + v.diagnoses.len() + usize::from(!v.status.is_empty());
    let output_rows = if app.view.running == Some(app.view.state.current) {
        5
    } else {
        0
    };
    // A command too long for its row is shown whole under the list (wrapped), so nothing of
    // it is hidden behind the `~`.
    let selected_full = v
        .commands
        .get(app.screen.selected)
        .filter(|r| r.display.chars().count() > width.saturating_sub(4))
        .map(|r| r.display.clone());
    let selected_rows = selected_full
        .as_ref()
        .map_or(0, |d| 1 + d.chars().count().div_ceil(width.max(1)));
    let room = (area.height as usize)
        .saturating_sub(lines.len() + status_rows.min(8) + output_rows + selected_rows);
    let start = window_start(app.screen.selected, room, v.commands.len());
    for row in v.commands.iter().skip(start).take(room) {
        let pointer = if Some(row) == v.commands.get(app.screen.selected) {
            ">"
        } else {
            " "
        };
        let (mark, style) = match &row.state {
            CommandState::Pending => ("   ", app.theme.dim()),
            CommandState::Running => ("-> ", app.theme.warn()),
            CommandState::Done => ("ok ", app.theme.ok()),
            CommandState::AlreadyPresent => ("== ", app.theme.ok()),
            CommandState::Failed(_) => ("XX ", app.theme.bad()),
            CommandState::Skipped(_) => ("-- ", app.theme.dim()),
        };
        lines.push(Line::from(vec![
            Span::raw(pointer),
            Span::styled(mark, style),
            Span::raw(fit(&row.display, width.saturating_sub(4))),
        ]));
        if let CommandState::Failed(why) = &row.state {
            lines.push(Line::from(Span::styled(
                fit(&format!("   {why}"), width),
                app.theme.bad(),
            )));
        }
    }
    if let Some(full) = selected_full {
        lines.push(heading("Selected command"));
        lines.push(Line::from(full));
    }
    if app.view.running == Some(app.view.state.current) {
        // The running command's latest output; the whole of it is in the log pane (l).
        lines.push(heading("Output"));
        for line in app
            .view
            .log
            .iter()
            .rev()
            .take(4)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
        {
            lines.push(Line::from(Span::styled(fit(line, width), app.theme.dim())));
        }
    }
    if !v.status.is_empty() {
        lines.push(heading("Model kubeflow"));
        for s in v.status.iter().take(6) {
            lines.push(Line::from(fit(
                &format!("{:<28} {:<10} {}", s.application, s.status, s.message),
                width,
            )));
        }
    }
    for d in &v.diagnoses {
        lines.push(Line::from(Span::styled(fit(d, width), app.theme.warn())));
    }
    frame.render_widget(super::wrapped::paragraph(lines, area.width), area);
}

pub fn selected_row(app: &App) -> Option<Vec<String>> {
    let row = view(app)?.commands.get(app.screen.selected)?;
    let state = match &row.state {
        CommandState::Failed(why) => format!("Failed: {why}"),
        CommandState::Skipped(why) => format!("Skipped: {why}"),
        state => format!("State: {state:?}"),
    };
    Some(vec![format!("Command: {}", row.display), state])
}

pub fn on_key(app: &mut App, key: KeyEvent) -> Option<Vec<Command>> {
    let len = view(app).map(|v| v.commands.len()).unwrap_or(0);
    if key.code == crossterm::event::KeyCode::Char('x') && app.view.running.is_none() {
        let id = view(app)?.commands.get(app.screen.selected)?.id.clone();
        let kind = crate::wizard::ItemKind::Command;
        if !app.view.skippable(kind).iter().any(|(s, _)| *s == id) {
            return None;
        }
        app.overlay = crate::frontend::tui::app::Overlay::SkipItem {
            kind,
            id,
            reason: String::new(),
        };
        return Some(vec![]);
    }
    move_selection(&mut app.screen.selected, len, key.code).then(Vec::new)
}
