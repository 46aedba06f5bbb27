//! The diff preview: coloured, scrollable, with jumps between hunks and an explicit confirm.

use crossterm::event::{KeyCode, KeyEvent};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};

use super::rows::fit;
use super::status::status_lines;
use crate::engine::{Answer, Command, InputKind};
use crate::frontend::tui::app::App;
use crate::wizard::Step;

fn diff(app: &App) -> Option<&(String, String)> {
    app.view.documents.get(&Step::BundlePreview)
}

/// The confirm question of this screen is answered here, not in a pop-up over the diff.
pub fn owns_question(app: &App) -> bool {
    app.view.state.current == Step::BundlePreview
        && app
            .view
            .question
            .as_ref()
            .is_some_and(|q| q.kind == InputKind::Confirm)
}

pub fn render(frame: &mut Frame, area: Rect, app: &App) {
    let mut lines = status_lines(app, area.width);
    let width = area.width as usize;
    match diff(app) {
        None => lines.push(Line::from(
            "Enter builds the whole edit and shows it here before anything is written.",
        )),
        Some((title, text)) => {
            let all: Vec<&str> = text.lines().collect();
            let hunks = all.iter().filter(|l| l.starts_with("@@")).count();
            lines.push(Line::from(Span::styled(
                fit(
                    &format!("{title} ({} lines, {hunks} hunks)", all.len()),
                    width,
                ),
                app.theme.current(),
            )));
            let footer = usize::from(owns_question(app));
            let room = (area.height as usize).saturating_sub(lines.len() + footer);
            let start = app.screen.scroll.min(all.len().saturating_sub(room));
            for line in all.iter().skip(start).take(room) {
                let style = if line.starts_with('+') && !line.starts_with("+++") {
                    app.theme.ok()
                } else if line.starts_with('-') && !line.starts_with("---") {
                    app.theme.bad()
                } else if line.starts_with("@@") {
                    app.theme.warn()
                } else {
                    ratatui::style::Style::default()
                };
                lines.push(Line::from(Span::styled(fit(line, width), style)));
            }
        }
    }
    if owns_question(app)
        && let Some(q) = &app.view.question
    {
        lines.push(Line::from(Span::styled(
            fit(&format!("y write / n do not write: {}", q.prompt), width),
            app.theme.current(),
        )));
    }
    frame.render_widget(super::wrapped::paragraph(lines, area.width), area);
}

pub fn on_key(app: &mut App, key: KeyEvent) -> Option<Vec<Command>> {
    let text = diff(app).map(|(_, t)| t.clone()).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    let last = lines.len().saturating_sub(1);
    let scroll = &mut app.screen.scroll;
    match key.code {
        KeyCode::Up => *scroll = scroll.saturating_sub(1),
        KeyCode::Down => *scroll = (*scroll + 1).min(last),
        KeyCode::PageUp => *scroll = scroll.saturating_sub(15),
        KeyCode::PageDown => *scroll = (*scroll + 15).min(last),
        KeyCode::Char(']') => {
            if let Some(i) = lines
                .iter()
                .enumerate()
                .skip(*scroll + 1)
                .find(|(_, l)| l.starts_with("@@"))
            {
                *scroll = i.0;
            }
        }
        KeyCode::Char('[') => {
            if let Some(i) = lines
                .iter()
                .enumerate()
                .take(*scroll)
                .rev()
                .find(|(_, l)| l.starts_with("@@"))
            {
                *scroll = i.0;
            }
        }
        KeyCode::Char('y') if owns_question(app) => {
            app.view.question = None;
            return Some(vec![Command::Answer(Answer::Confirm(true))]);
        }
        KeyCode::Char('n') if owns_question(app) => {
            app.view.question = None;
            return Some(vec![Command::Answer(Answer::Confirm(false))]);
        }
        _ => return None,
    }
    Some(vec![])
}
