//! The mapping table: every reference and its target, coloured by state, missing first.
//! `/` filters, `e` edits the selected target, `p` rewrites a prefix over every row.

use crossterm::event::{KeyCode, KeyEvent};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};

use super::rows::{fit, heading, move_selection, window_start};
use super::status::status_lines;
use crate::engine::Command;
use crate::engine::step_data::{MappingRowView, MappingState, StepData};
use crate::frontend::tui::app::App;
use crate::wizard::Step;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum MappingMode {
    #[default]
    Browse,
    Filter,
    Edit(String),
    Prefix {
        old: String,
        new: String,
        second: bool,
    },
}

fn all_rows(app: &App) -> &[MappingRowView] {
    match app.view.data.get(&Step::PlaceholderMapping) {
        Some(StepData::Mapping(rows)) => rows,
        _ => &[],
    }
}

fn visible(app: &App) -> Vec<&MappingRowView> {
    let filter = app.screen.filter.to_lowercase();
    all_rows(app)
        .iter()
        .filter(|r| {
            filter.is_empty()
                || r.source.to_lowercase().contains(&filter)
                || r.target.to_lowercase().contains(&filter)
        })
        .collect()
}

pub fn render(frame: &mut Frame, area: Rect, app: &App) {
    let mut lines = status_lines(app, area.width);
    let rows = visible(app);
    let all = all_rows(app);
    let count = |s: MappingState| all.iter().filter(|r| r.state == s).count();
    if !all.is_empty() {
        lines.push(heading(&format!(
            "{} references: {} matched, {} missing, {} ambiguous, {} unchecked, {} kept",
            all.len(),
            count(MappingState::Matched),
            count(MappingState::Missing) + count(MappingState::Invalid),
            count(MappingState::Ambiguous),
            count(MappingState::Unchecked),
            count(MappingState::Kept),
        )));
    }
    match &app.screen.mapping {
        MappingMode::Filter => lines.push(Line::from(format!("filter: {}_", app.screen.filter))),
        MappingMode::Edit(buffer) => lines.push(Line::from(Span::styled(
            format!("new target: {buffer}_  (Enter applies, Esc cancels)"),
            app.theme.current(),
        ))),
        MappingMode::Prefix { old, new, second } => lines.push(Line::from(Span::styled(
            format!(
                "rewrite prefix: {old}{} -> {new}{}  (Tab switches, Enter applies)",
                if *second { "" } else { "_" },
                if *second { "_" } else { "" }
            ),
            app.theme.current(),
        ))),
        MappingMode::Browse if !app.screen.filter.is_empty() => {
            lines.push(Line::from(format!("filter: {}", app.screen.filter)))
        }
        MappingMode::Browse => {}
    }
    let width = area.width as usize;
    let room = (area.height as usize).saturating_sub(lines.len() + 1) / 2;
    let start = window_start(app.screen.selected, room, rows.len());
    for (i, row) in rows.iter().enumerate().skip(start).take(room) {
        let (tag, style) = match row.state {
            MappingState::Matched => ("ok  ", app.theme.ok()),
            MappingState::Missing => ("MISS", app.theme.bad()),
            MappingState::Invalid => ("BAD ", app.theme.bad()),
            MappingState::Ambiguous => ("AMBG", app.theme.warn()),
            MappingState::Unchecked => ("?   ", app.theme.dim()),
            MappingState::Kept => ("kept", app.theme.dim()),
        };
        let pointer = if i == app.screen.selected { ">" } else { " " };
        let edited = if row.overridden { "*" } else { " " };
        lines.push(Line::from(vec![
            Span::raw(pointer.to_string()),
            Span::styled(tag, style),
            Span::raw(format!(
                "{edited}{}",
                fit(&row.source, width.saturating_sub(7))
            )),
        ]));
        let detail = row
            .detail
            .as_deref()
            .map(|d| format!("  ({d})"))
            .unwrap_or_default();
        lines.push(Line::from(Span::styled(
            fit(&format!("      -> {}{detail}", row.target), width),
            style,
        )));
    }
    if all.is_empty() {
        lines.push(Line::from(
            "Enter maps every image reference of the bundle to the registry.",
        ));
    }
    frame.render_widget(super::wrapped::paragraph(lines, area.width), area);
}

pub fn on_key(app: &mut App, key: KeyEvent) -> Option<Vec<Command>> {
    if app.view.running.is_some() {
        return None;
    }
    let mode = std::mem::take(&mut app.screen.mapping);
    match mode {
        MappingMode::Browse => browse(app, key),
        MappingMode::Filter => {
            match key.code {
                KeyCode::Enter | KeyCode::Esc => app.screen.mapping = MappingMode::Browse,
                KeyCode::Backspace => {
                    app.screen.filter.pop();
                    app.screen.mapping = MappingMode::Filter;
                }
                KeyCode::Char(c) => {
                    app.screen.filter.push(c);
                    app.screen.selected = 0;
                    app.screen.mapping = MappingMode::Filter;
                }
                _ => app.screen.mapping = MappingMode::Filter,
            }
            Some(vec![])
        }
        MappingMode::Edit(mut buffer) => match key.code {
            KeyCode::Esc => Some(vec![]),
            KeyCode::Enter => {
                let source = visible(app)
                    .get(app.screen.selected)
                    .map(|r| r.source.clone());
                Some(match source {
                    Some(source) => vec![Command::OverrideTarget {
                        source,
                        target: buffer.trim().to_string(),
                    }],
                    None => vec![],
                })
            }
            code => {
                edit(&mut buffer, code);
                app.screen.mapping = MappingMode::Edit(buffer);
                Some(vec![])
            }
        },
        MappingMode::Prefix {
            mut old,
            mut new,
            second,
        } => match key.code {
            KeyCode::Esc => Some(vec![]),
            KeyCode::Tab => {
                app.screen.mapping = MappingMode::Prefix {
                    old,
                    new,
                    second: !second,
                };
                Some(vec![])
            }
            KeyCode::Enter if !old.is_empty() => Some(vec![Command::RewritePrefix { old, new }]),
            code => {
                edit(if second { &mut new } else { &mut old }, code);
                app.screen.mapping = MappingMode::Prefix { old, new, second };
                Some(vec![])
            }
        },
    }
}

pub fn selected_row(app: &App) -> Option<Vec<String>> {
    let row = visible(app).into_iter().nth(app.screen.selected)?;
    let mut out = vec![
        format!("Reference: {}", row.source),
        format!("Target: {}", row.target),
        format!(
            "State: {:?}{}",
            row.state,
            if row.overridden { " (set by hand)" } else { "" }
        ),
    ];
    out.extend(row.detail.as_ref().map(|d| format!("Detail: {d}")));
    Some(out)
}

fn browse(app: &mut App, key: KeyEvent) -> Option<Vec<Command>> {
    let len = visible(app).len();
    if move_selection(&mut app.screen.selected, len, key.code) {
        return Some(vec![]);
    }
    match key.code {
        KeyCode::Char('/') => app.screen.mapping = MappingMode::Filter,
        KeyCode::Char('x') if app.view.running.is_none() => {
            let source = visible(app)
                .get(app.screen.selected)
                .map(|r| r.source.clone())?;
            app.overlay = crate::frontend::tui::app::Overlay::SkipItem {
                kind: crate::wizard::ItemKind::Reference,
                id: source,
                reason: String::new(),
            };
        }
        KeyCode::Char('e') => {
            let target = visible(app)
                .get(app.screen.selected)
                .map(|r| r.target.clone())?;
            app.screen.mapping = MappingMode::Edit(target);
        }
        KeyCode::Char('p') if !all_rows(app).is_empty() => {
            app.screen.mapping = MappingMode::Prefix {
                old: app.view.registry_target(),
                new: String::new(),
                second: true,
            };
        }
        _ => return None,
    }
    Some(vec![])
}

fn edit(buffer: &mut String, code: KeyCode) {
    match code {
        KeyCode::Char(c) => buffer.push(c),
        KeyCode::Backspace => {
            buffer.pop();
        }
        _ => {}
    }
}
