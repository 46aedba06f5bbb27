//! The full-screen wizard (ratatui + crossterm). It draws snapshots of the engine's events on a
//! tick and sends commands; it never waits on the work.

pub mod app;
pub mod render;
pub mod screens;
pub mod theme;

use std::time::Duration;

use crossterm::event::{self, Event, KeyCode, KeyEventKind};
use ratatui::DefaultTerminal;
use ratatui::text::Line;
use ratatui::widgets::{Block, Borders, Paragraph, Wrap};
use tokio::sync::mpsc;

use crate::engine::{Command, EngineEvent};
use crate::session::SessionSummary;

use app::App;
use theme::Theme;

/// How often the screen may be redrawn; events in between are folded into one frame.
const TICK: Duration = Duration::from_millis(50);

pub enum Pick {
    Resume(String),
    New,
    Quit,
}

/// The start screen: resume a session (newest unfinished first) or start a new one.
pub fn pick_session(
    terminal: &mut DefaultTerminal,
    sessions: &[SessionSummary],
    theme: Theme,
) -> std::io::Result<Pick> {
    let resumable: Vec<&SessionSummary> = sessions
        .iter()
        .filter(|s| s.file.is_some() && !s.finished() && !s.in_use)
        .collect();
    if resumable.is_empty() {
        return Ok(Pick::New);
    }
    let mut selected = 0usize;
    let count = resumable.len() + 2;
    loop {
        terminal.draw(|f| {
            let mut lines = vec![
                Line::from("Unfinished sessions were found. Resume one, or start anew."),
                Line::from(""),
            ];
            for (i, s) in resumable.iter().enumerate() {
                let marker = if i == selected { ">" } else { " " };
                lines.push(Line::from(format!(
                    "{marker} Resume {}  {}",
                    s.id,
                    s.whereabouts()
                )));
            }
            let new_marker = if selected == resumable.len() {
                ">"
            } else {
                " "
            };
            let quit_marker = if selected == resumable.len() + 1 {
                ">"
            } else {
                " "
            };
            lines.push(Line::from(format!("{new_marker} Start a new session")));
            lines.push(Line::from(format!("{quit_marker} Quit")));
            lines.push(Line::from(""));
            lines.push(Line::from("Up/Down choose, Enter confirms, q quits"));
            let block = Block::default()
                .borders(Borders::ALL)
                .border_set(theme.border())
                .title(" ckf-airgap ");
            f.render_widget(
                Paragraph::new(lines)
                    .wrap(Wrap { trim: false })
                    .block(block),
                f.area(),
            );
        })?;
        if let Event::Key(k) = event::read()?
            && k.kind == KeyEventKind::Press
        {
            match k.code {
                KeyCode::Up => selected = selected.saturating_sub(1),
                KeyCode::Down => selected = (selected + 1).min(count - 1),
                KeyCode::Char('q') | KeyCode::Esc => return Ok(Pick::Quit),
                KeyCode::Char('c') if k.modifiers.contains(event::KeyModifiers::CONTROL) => {
                    return Ok(Pick::Quit);
                }
                KeyCode::Enter => {
                    return Ok(match selected {
                        i if i < resumable.len() => Pick::Resume(resumable[i].id.clone()),
                        i if i == resumable.len() => Pick::New,
                        _ => Pick::Quit,
                    });
                }
                _ => {}
            }
        }
    }
}

/// Runs the wizard screen until the engine stops.
pub fn run_wizard(
    terminal: &mut DefaultTerminal,
    app: &mut App,
    commands: &mpsc::UnboundedSender<Command>,
    events: &mut mpsc::UnboundedReceiver<EngineEvent>,
) -> std::io::Result<()> {
    let mut dirty = true;
    loop {
        loop {
            match events.try_recv() {
                Ok(ev) => {
                    app.on_event(&ev);
                    dirty = true;
                }
                Err(mpsc::error::TryRecvError::Empty) => break,
                // The engine is gone without a word (it cannot be, but never wait for it).
                Err(mpsc::error::TryRecvError::Disconnected) => return Ok(()),
            }
        }
        if app.stopped() {
            return Ok(());
        }
        if dirty {
            terminal.draw(|f| render::draw(f, app))?;
            dirty = false;
        }
        if event::poll(TICK)? {
            match event::read()? {
                Event::Key(k) if k.kind == KeyEventKind::Press => {
                    for c in app.on_key(k) {
                        let _ = commands.send(c);
                    }
                    dirty = true;
                }
                Event::Resize(..) => dirty = true,
                _ => {}
            }
        }
    }
}
