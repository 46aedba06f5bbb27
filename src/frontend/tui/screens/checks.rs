//! Environment checks: one row per check with its verdict; the selected one shows its
//! evidence and the exact fix.

use crossterm::event::KeyEvent;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};

use super::rows::{fit, heading, move_selection, window_start};
use super::status::status_lines;
use crate::engine::Command;
use crate::engine::step_data::{StepData, Verdict};
use crate::frontend::tui::app::App;
use crate::wizard::Step;

fn rows(app: &App) -> &[crate::engine::step_data::CheckRow] {
    match app.view.data.get(&app.view.state.current) {
        Some(StepData::Checks(rows)) => rows,
        _ => &[],
    }
}

pub fn render(frame: &mut Frame, area: Rect, app: &App) {
    let mut lines = status_lines(app, area.width);
    let rows = rows(app);
    if rows.is_empty() {
        lines.push(Line::from(""));
        let intro: [&str; 2] = if app.view.state.current == Step::UpgradeModel {
            [
                "Enter reads the model with juju status and compares it with the",
                "install's record: charms, settled units, nothing unexpected.",
            ]
        } else {
            [
                "Enter runs the checks: Kubernetes, storage, DNS, load balancer,",
                "registry trust, Juju client and controller, model, disk, inotify.",
            ]
        };
        for line in intro {
            lines.push(Line::from(line));
        }
    } else {
        lines.push(heading("Checks"));
        let room = (area.height as usize).saturating_sub(lines.len() + 6);
        let start = window_start(app.screen.selected, room, rows.len());
        for (i, row) in rows.iter().enumerate().skip(start).take(room) {
            let (mark, style) = verdict_mark(app, row.verdict);
            let pointer = if i == app.screen.selected { ">" } else { " " };
            lines.push(Line::from(vec![
                Span::raw(pointer.to_string()),
                Span::styled(format!("{mark} "), style),
                Span::raw(fit(&row.title, area.width as usize - 8)),
            ]));
        }
        if let Some(row) = rows.get(app.screen.selected) {
            lines.push(Line::from(""));
            lines.push(Line::from(format!("Seen: {}", row.evidence)));
            if let Some(fix) = &row.fix {
                lines.push(Line::from(Span::styled(
                    format!("Fix: {fix}"),
                    app.theme.warn(),
                )));
            }
        }
    }
    frame.render_widget(super::wrapped::paragraph(lines, area.width), area);
}

pub fn selected_row(app: &App) -> Option<Vec<String>> {
    let row = rows(app).get(app.screen.selected)?;
    let mut out = vec![
        format!("Check: {}", row.title),
        format!("Verdict: {:?}", row.verdict),
        format!("Seen: {}", row.evidence),
    ];
    out.extend(row.fix.as_ref().map(|f| format!("Fix: {f}")));
    Some(out)
}

fn verdict_mark(app: &App, verdict: Verdict) -> (&'static str, ratatui::style::Style) {
    let t = app.theme;
    match (verdict, t.ascii) {
        (Verdict::Pass, false) => ("✔", t.ok()),
        (Verdict::Warn, false) => ("!", t.warn()),
        (Verdict::Fail, false) => ("✘", t.bad()),
        (Verdict::Skipped, false) => ("↷", t.dim()),
        (Verdict::Pass, true) => ("[ok]", t.ok()),
        (Verdict::Warn, true) => ("[!!]", t.warn()),
        (Verdict::Fail, true) => ("[XX]", t.bad()),
        (Verdict::Skipped, true) => ("[--]", t.dim()),
    }
}

pub fn on_key(app: &mut App, key: KeyEvent) -> Option<Vec<Command>> {
    let len = rows(app).len();
    if key.code == crossterm::event::KeyCode::Char('x') && app.view.running.is_none() {
        let id = rows(app).get(app.screen.selected)?.id.clone();
        let kind = crate::wizard::ItemKind::Check;
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
