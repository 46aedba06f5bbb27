//! Push: a row per image with its state, bytes and percent, below the overall gauge.

use crossterm::event::KeyEvent;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};

use super::rows::{fit, heading, move_selection, window_start};
use super::status::status_lines;
use crate::engine::Command;
use crate::engine::events::Quantity;
use crate::engine::step_data::{PushRow, PushState, StepData};
use crate::frontend::tui::app::App;
use crate::frontend::view::amount;
use crate::wizard::Step;

fn rows(app: &App) -> &[PushRow] {
    match app.view.data.get(&Step::ImagePush) {
        Some(StepData::Push(rows)) => rows,
        _ => &[],
    }
}

pub fn render(frame: &mut Frame, area: Rect, app: &App) {
    let mut lines = status_lines(app, area.width);
    if let Some(r) = &app.view.state.choices.registry {
        lines.push(Line::from(format!("To {}", r.target)));
    }
    let rows = rows(app);
    if !rows.is_empty() {
        let finished = rows
            .iter()
            .filter(|r| {
                matches!(
                    r.state,
                    PushState::Done | PushState::Skipped | PushState::Mounted
                )
            })
            .count();
        lines.push(heading(&format!(
            "Images: {finished} of {} finished",
            rows.len()
        )));
        let room = (area.height as usize).saturating_sub(lines.len());
        let start = window_start(app.screen.selected, room, rows.len());
        let width = area.width as usize;
        for (i, row) in rows.iter().enumerate().skip(start).take(room) {
            let pointer = if i == app.screen.selected { ">" } else { " " };
            let (state, style) = match &row.state {
                PushState::Pending => ("pending  ".to_string(), app.theme.dim()),
                PushState::Mounted => ("mounted  ".to_string(), app.theme.ok()),
                PushState::Skipped => ("present  ".to_string(), app.theme.ok()),
                PushState::Uploading => {
                    let pct = (row.done * 100).checked_div(row.total).unwrap_or(0);
                    (format!("{pct:>3}%     "), app.theme.warn())
                }
                PushState::Done => ("done     ".to_string(), app.theme.ok()),
                PushState::Failed(_) => ("FAILED   ".to_string(), app.theme.bad()),
            };
            let size = format!(
                "{:>10} of {:<10}",
                amount(row.done, Quantity::Bytes),
                amount(row.total, Quantity::Bytes)
            );
            let name = fit(&row.target, width.saturating_sub(35));
            lines.push(Line::from(vec![
                Span::raw(pointer),
                Span::styled(state, style),
                Span::raw(format!("{size} ")),
                Span::raw(name),
            ]));
            if let PushState::Failed(reason) = &row.state {
                lines.push(Line::from(Span::styled(
                    format!("  {reason}"),
                    app.theme.bad(),
                )));
            }
        }
    }
    frame.render_widget(super::wrapped::paragraph(lines, area.width), area);
}

pub fn selected_row(app: &App) -> Option<Vec<String>> {
    let row = rows(app).get(app.screen.selected)?;
    let mut out = vec![
        format!("Image: {}", row.target),
        format!(
            "{} of {}",
            amount(row.done, Quantity::Bytes),
            amount(row.total, Quantity::Bytes)
        ),
    ];
    out.push(match &row.state {
        PushState::Failed(reason) => format!("Failed: {reason}"),
        state => format!("State: {state:?}"),
    });
    Some(out)
}

pub fn on_key(app: &mut App, key: KeyEvent) -> Option<Vec<Command>> {
    let len = rows(app).len();
    move_selection(&mut app.screen.selected, len, key.code).then(Vec::new)
}
