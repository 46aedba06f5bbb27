//! The lines every step screen starts with: status, note, phase and progress.

use ratatui::style::Modifier;
use ratatui::text::{Line, Span};

use crate::frontend::tui::app::App;
use crate::frontend::view::progress_line;
use crate::wizard::StepStatus;

pub fn status_lines(app: &App, width: u16) -> Vec<Line<'static>> {
    let step = app.view.state.current;
    let record = app.view.state.record(step);
    let theme = app.theme;
    let (mark, style) = theme.status_mark(&record.status);
    let status = match &record.status {
        StepStatus::Failed { reason } => format!("failed: {reason}"),
        StepStatus::Skipped { reason } => format!("skipped: {reason}"),
        other => other.label().to_string(),
    };
    let mut lines = vec![Line::from(vec![
        Span::styled(format!("{mark} "), style),
        Span::styled(status, style),
    ])];
    if let Some(note) = &record.note {
        lines.push(Line::from(Span::styled(note.clone(), theme.warn())));
    }
    if let Some(phase) = app.view.phase.get(&step)
        && app.view.running == Some(step)
    {
        lines.push(Line::from(phase.clone()));
    }
    if let Some(p) = app.view.progress.get(&step) {
        if let Some(f) = p.fraction() {
            lines.push(Line::from(gauge(app, f, width.saturating_sub(2) as usize)));
        }
        lines.push(Line::from(progress_line(p)));
    }
    for notice in &app.view.notices {
        lines.push(Line::from(Span::styled(notice.clone(), theme.warn())));
    }
    lines
}

pub fn gauge(app: &App, fraction: f64, width: usize) -> String {
    let (full, empty) = app.theme.gauge_chars();
    let filled = ((fraction * width as f64).round() as usize).min(width);
    let mut s: String = std::iter::repeat_n(full, filled).collect();
    s.extend(std::iter::repeat_n(empty, width - filled));
    s
}

pub fn heading(text: &str) -> Line<'static> {
    Line::from(Span::styled(
        text.to_string(),
        ratatui::style::Style::default().add_modifier(Modifier::BOLD),
    ))
}

/// Keeps `selected` in view in a window of `height` rows; returns the first row to show.
pub fn window_start(selected: usize, height: usize, len: usize) -> usize {
    if height == 0 || len <= height {
        return 0;
    }
    selected.saturating_sub(height / 2).min(len - height)
}

/// Cuts a line to `width` characters, marking the cut.
pub fn fit(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        return text.to_string();
    }
    let mut s: String = text.chars().take(width.saturating_sub(1)).collect();
    s.push('~');
    s
}

/// Up/Down/PgUp/PgDn/Home/End move `selected` within `len` rows.
pub fn move_selection(selected: &mut usize, len: usize, key: crossterm::event::KeyCode) -> bool {
    use crossterm::event::KeyCode;
    let last = len.saturating_sub(1);
    match key {
        KeyCode::Up => *selected = selected.saturating_sub(1),
        KeyCode::Down => *selected = (*selected + 1).min(last),
        KeyCode::PageUp => *selected = selected.saturating_sub(10),
        KeyCode::PageDown => *selected = (*selected + 10).min(last),
        KeyCode::Home => *selected = 0,
        KeyCode::End => *selected = last,
        _ => return false,
    }
    true
}
