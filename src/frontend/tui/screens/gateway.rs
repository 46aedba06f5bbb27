//! The gateway choice: three service types with one line each and the cluster's hint.

use crossterm::event::{KeyCode, KeyEvent};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};

use super::rows::heading;
use super::status::status_lines;
use crate::engine::Command;
use crate::frontend::tui::app::App;
use crate::gateway_type::GatewayServiceType;

fn selected(app: &App) -> usize {
    app.screen.choice.unwrap_or_else(|| {
        app.view
            .state
            .choices
            .gateway
            .and_then(|g| GatewayServiceType::ALL.iter().position(|t| *t == g))
            .unwrap_or(0)
    })
}

pub fn render(frame: &mut Frame, area: Rect, app: &App) {
    let mut lines = status_lines(app, area.width);
    lines.push(heading("How is the Kubeflow dashboard exposed?"));
    let chosen = selected(app);
    for (i, t) in GatewayServiceType::ALL.iter().enumerate() {
        let marker = if i == chosen { "(*)" } else { "( )" };
        let style = if i == chosen {
            app.theme.current()
        } else {
            ratatui::style::Style::default()
        };
        lines.push(Line::from(Span::styled(
            format!("{marker} {}", t.as_str()),
            style,
        )));
        lines.push(Line::from(format!("    {}", t.explanation())));
    }
    lines.push(Line::from(""));
    lines.push(Line::from(Span::styled(
        "The environment checks tell whether the cluster has a load balancer.",
        app.theme.dim(),
    )));
    frame.render_widget(super::wrapped::paragraph(lines, area.width), area);
}

pub fn on_key(app: &mut App, key: KeyEvent) -> Option<Vec<Command>> {
    let status = app.view.state.status(app.view.state.current).clone();
    if app.view.running.is_some() || status.is_settled() {
        return None;
    }
    let current = selected(app);
    match key.code {
        KeyCode::Up => app.screen.choice = Some(current.saturating_sub(1)),
        KeyCode::Down => {
            app.screen.choice = Some((current + 1).min(GatewayServiceType::ALL.len() - 1))
        }
        KeyCode::Enter => {
            return Some(vec![Command::SetGateway(GatewayServiceType::ALL[current])]);
        }
        _ => return None,
    }
    Some(vec![])
}
