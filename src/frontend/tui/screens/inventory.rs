//! Artifacts: reading progress, then the inventory (images and charms) and what the bundle
//! needs that is missing.

use crossterm::event::KeyEvent;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};

use super::rows::{fit, heading, move_selection, window_start};
use super::status::status_lines;
use crate::engine::Command;
use crate::engine::events::Quantity;
use crate::engine::step_data::{InventoryView, StepData};
use crate::frontend::tui::app::App;
use crate::frontend::view::amount;
use crate::wizard::Step;

fn view(app: &App) -> Option<&InventoryView> {
    match app.view.data.get(&Step::Artifacts) {
        Some(StepData::Inventory(v)) => Some(v),
        _ => None,
    }
}

fn lines_of(v: &InventoryView) -> Vec<(String, bool)> {
    let mut out = Vec::new();
    for m in &v.missing {
        out.push((format!("MISSING {m}"), true));
    }
    for i in &v.images {
        out.push((
            format!(
                "{}  {} layers  {}",
                i.reference,
                i.layers,
                amount(i.bytes, Quantity::Bytes)
            ),
            false,
        ));
    }
    for c in &v.charms {
        out.push((
            format!("charm {} {} ({})", c.name, c.version, c.kind),
            false,
        ));
    }
    for u in &v.unused {
        out.push((format!("unused {u}"), false));
    }
    out
}

pub fn render(frame: &mut Frame, area: Rect, app: &App) {
    let mut lines = status_lines(app, area.width);
    let choices = &app.view.state.choices;
    let show = |p: &Option<std::path::PathBuf>| {
        p.as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| "(asked when the step runs)".into())
    };
    lines.push(Line::from(format!(
        "Images: {}",
        show(&choices.images_archive)
    )));
    lines.push(Line::from(format!(
        "Charms: {}",
        show(&choices.charms_archive)
    )));
    if let Some(v) = view(app) {
        if let Some(bundle) = &v.bundle {
            lines.push(Line::from(format!("Bundle: {bundle}")));
        }
        if !v.skippable.is_empty() {
            lines.push(Line::from(Span::styled(
                "x skips the selected missing item with a reason",
                app.theme.dim(),
            )));
        }
        lines.push(heading(&format!(
            "Inventory: {} images ({} in all, {} of unique layers), {} charms",
            v.images.len(),
            amount(v.total_bytes, Quantity::Bytes),
            amount(v.unique_bytes, Quantity::Bytes),
            v.charms.len()
        )));
        let all = lines_of(v);
        let room = (area.height as usize).saturating_sub(lines.len());
        let start = window_start(app.screen.selected, room, all.len());
        for (i, (text, bad)) in all.iter().enumerate().skip(start).take(room) {
            let pointer = if i == app.screen.selected { ">" } else { " " };
            let text = format!(
                "{pointer}{}",
                fit(text, (area.width as usize).saturating_sub(1))
            );
            lines.push(if *bad {
                Line::from(Span::styled(text, app.theme.bad()))
            } else {
                Line::from(text)
            });
        }
    }
    frame.render_widget(super::wrapped::paragraph(lines, area.width), area);
}

pub fn selected_row(app: &App) -> Option<Vec<String>> {
    let (line, _) = lines_of(view(app)?).into_iter().nth(app.screen.selected)?;
    Some(vec![line])
}

pub fn on_key(app: &mut App, key: KeyEvent) -> Option<Vec<Command>> {
    if key.code == crossterm::event::KeyCode::Char('x') && app.view.running.is_none() {
        let v = view(app)?;
        let (line, _) = lines_of(v).into_iter().nth(app.screen.selected)?;
        let item = v
            .skippable
            .iter()
            .find(|s| format!("MISSING {}", s.line) == line)?;
        app.overlay = crate::frontend::tui::app::Overlay::SkipItem {
            kind: crate::wizard::ItemKind::Need,
            id: item.id.clone(),
            reason: String::new(),
        };
        return Some(vec![]);
    }
    let len = view(app).map(|v| lines_of(v).len()).unwrap_or(0);
    move_selection(&mut app.screen.selected, len, key.code).then(Vec::new)
}
