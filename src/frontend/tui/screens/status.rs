//! The lines every step screen starts with: status, note, phase and progress.

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
