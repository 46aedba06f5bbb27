//! Drawing and moving through the rows of a screen's list: headings, cut lines, the window
//! that keeps the selection in view, and the keys that move it.

use ratatui::style::Modifier;
use ratatui::text::{Line, Span};

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
