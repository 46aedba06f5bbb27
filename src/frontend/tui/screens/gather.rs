//! The gather flow's screens: the step's status, what it is doing, and its latest log lines
//! (the counts, registries and failures each step reports).

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};

use super::rows::{fit, heading};
use super::status::status_lines;
use crate::frontend::tui::app::App;

pub fn render(frame: &mut Frame, area: Rect, app: &App) {
    let mut lines = status_lines(app, area.width);
    let width = area.width as usize;
    lines.push(heading("Latest"));
    let room = (area.height as usize).saturating_sub(lines.len());
    let start = app.view.log.len().saturating_sub(room);
    for line in app.view.log.iter().skip(start) {
        lines.push(Line::from(Span::raw(fit(line, width))));
    }
    frame.render_widget(super::wrapped::paragraph(lines, area.width), area);
}
