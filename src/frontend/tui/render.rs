//! Drawing the wizard. Pure functions of `App`: the same input always draws the same screen.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Modifier;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};

use super::app::{App, Overlay};
use crate::engine::InputKind;
use crate::wizard::StepStatus;

pub const MIN_WIDTH: u16 = 80;
pub const MIN_HEIGHT: u16 = 24;

/// Wide terminals show the steps in a column; narrow ones in a strip above the screen.
const SIDE_COLUMN_MIN_WIDTH: u16 = 110;

pub fn draw(frame: &mut Frame, app: &App) {
    let area = frame.area();
    if area.width < MIN_WIDTH || area.height < MIN_HEIGHT {
        let text = format!(
            "The terminal is {}x{}; ckf-airgap needs at least {MIN_WIDTH}x{MIN_HEIGHT}.\nEnlarge the window; the work goes on meanwhile.",
            area.width, area.height
        );
        frame.render_widget(Paragraph::new(text).wrap(Wrap { trim: true }), area);
        return;
    }
    let [top, middle, bottom] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(10),
        Constraint::Length(1),
    ])
    .areas(area);
    draw_title(frame, app, top);
    let body = if area.width >= SIDE_COLUMN_MIN_WIDTH {
        let [steps, body] =
            Layout::horizontal([Constraint::Length(28), Constraint::Min(40)]).areas(middle);
        draw_steps(frame, app, steps);
        body
    } else {
        let [strip, body] =
            Layout::vertical([Constraint::Length(1), Constraint::Min(8)]).areas(middle);
        draw_strip(frame, app, strip);
        body
    };
    if app.show_log {
        draw_log(frame, app, body);
    } else {
        draw_step(frame, app, body);
    }
    draw_footer(frame, app, bottom);
    draw_overlay(frame, app, area);
}

fn block<'a>(app: &App, title: &'a str) -> Block<'a> {
    Block::default()
        .borders(Borders::ALL)
        .border_set(app.theme.border())
        .title(title)
}

fn draw_title(frame: &mut Frame, app: &App, area: Rect) {
    let current = app.view.state.current;
    let text = format!(
        " ckf-airgap  session {}  step {}/{}: {}",
        app.view.session_id,
        app.view.state.flow.position(current) + 1,
        app.view.state.flow.step_count(),
        current.title()
    );
    frame.render_widget(
        Paragraph::new(text).style(ratatui::style::Style::default().add_modifier(Modifier::BOLD)),
        area,
    );
}

fn draw_steps(frame: &mut Frame, app: &App, area: Rect) {
    let lines: Vec<Line> = app
        .view
        .state
        .flow
        .steps()
        .map(|step| {
            let status = app.view.state.status(step);
            let (mark, style) = app.theme.status_mark(status);
            let name = Span::raw(format!(" {}", step.title()));
            let name = if step == app.view.state.current {
                name.style(app.theme.current())
            } else {
                name
            };
            Line::from(vec![Span::styled(mark, style), name])
        })
        .collect();
    frame.render_widget(Paragraph::new(lines).block(block(app, " Steps ")), area);
}

/// `✔1 ✔2 ▶3 ·4 ...`: every step's state in one line.
fn draw_strip(frame: &mut Frame, app: &App, area: Rect) {
    let mut spans = vec![Span::raw(" ")];
    for step in app.view.state.flow.steps() {
        let (mark, style) = app.theme.status_mark(app.view.state.status(step));
        let number = Span::raw(format!("{} ", app.view.state.flow.position(step) + 1));
        spans.push(Span::styled(mark, style));
        spans.push(if step == app.view.state.current {
            number.style(app.theme.current())
        } else {
            number
        });
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

fn draw_step(frame: &mut Frame, app: &App, area: Rect) {
    let title = format!(" {} ", app.view.state.current.title());
    let outer = block(app, &title);
    let inner = outer.inner(area);
    frame.render_widget(outer, area);
    let [screen, hint_area] =
        Layout::vertical([Constraint::Min(3), Constraint::Length(1)]).areas(inner);
    super::screens::render(frame, screen, app);
    frame.render_widget(
        Paragraph::new(Span::styled(hint(app), app.theme.dim())),
        hint_area,
    );
}

fn hint(app: &App) -> String {
    if app.view.running.is_some() {
        return "Working. q stops and saves; the step resumes where it stopped.".into();
    }
    match app.view.state.status(app.view.state.current) {
        StepStatus::Pending => "Enter runs this step.".into(),
        StepStatus::Failed { .. } => "Enter retries; s skips with a reason; b goes back.".into(),
        StepStatus::Done | StepStatus::Skipped { .. } if app.view.state.current.is_end() => {
            let done = match app.view.state.flow {
                crate::wizard::Flow::Install if dry_run_finished(app) => {
                    "Dry run finished: nothing was deployed."
                }
                crate::wizard::Flow::Install => "The install is complete.",
                crate::wizard::Flow::Gather => "The archives are ready.",
                crate::wizard::Flow::Upgrade if dry_run_finished(app) => {
                    "Dry run finished: nothing was changed."
                }
                crate::wizard::Flow::Upgrade => "The upgrade is complete.",
            };
            match &app.then {
                Some(then) => format!("{done} q goes on to {then}."),
                None => format!("{done} q quits."),
            }
        }
        StepStatus::Done | StepStatus::Skipped { .. } => "Enter moves to the next step.".into(),
        StepStatus::Running => String::new(),
    }
}

fn dry_run_finished(app: &App) -> bool {
    matches!(
        app.view.data.get(&app.view.state.current),
        Some(crate::engine::step_data::StepData::Finish(v)) if v.dry_run_plan.is_some()
    )
}

fn draw_log(frame: &mut Frame, app: &App, area: Rect) {
    let height = area.height.saturating_sub(2) as usize;
    let total = app.view.log.len();
    let end = total.saturating_sub(app.log_scroll);
    let start = end.saturating_sub(height);
    let lines: Vec<Line> = app
        .view
        .log
        .range(start..end)
        .map(|l| Line::from(l.clone()))
        .collect();
    let title = format!(
        " Log ({}-{} of {total}; PgUp/PgDn) ",
        start.min(end) + usize::from(total > 0),
        end
    );
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(block(app, &title)),
        area,
    );
}

fn draw_footer(frame: &mut Frame, app: &App, area: Rect) {
    let keys = if app.view.running.is_some() {
        " q stop+save  l log  ? help"
    } else {
        " Enter run/next  b back  s skip  r retry  l log  ? help  q quit"
    };
    frame.render_widget(Paragraph::new(keys).style(app.theme.dim()), area);
}

fn centered(area: Rect, width: u16, height: u16) -> Rect {
    let w = width.min(area.width);
    let h = height.min(area.height);
    Rect::new(
        area.x + (area.width - w) / 2,
        area.y + (area.height - h) / 2,
        w,
        h,
    )
}

fn draw_overlay(frame: &mut Frame, app: &App, area: Rect) {
    let (title, body): (&str, Vec<String>) = match &app.overlay {
        Overlay::None => return,
        Overlay::Help => (
            " Help ",
            super::screens::help(app.view.state.current)
                .iter()
                .map(|l| l.to_string())
                .chain([
                    String::new(),
                    "Enter  run the step, or go on once it is done".into(),
                    "b      back to the previous step".into(),
                    "s      skip the step (a reason is recorded)".into(),
                    "r      retry a failed step (finished units are kept)".into(),
                    "l      show or hide the log; PgUp/PgDn scroll".into(),
                    "v      show the selected row of a list whole".into(),
                    "q      quit; everything finished is saved".into(),
                    String::new(),
                    app.log_path
                        .as_ref()
                        .map(|p| format!("Full log: {p}"))
                        .unwrap_or_default(),
                    "Any key closes this help.".into(),
                ])
                .collect(),
        ),
        Overlay::Detail(lines) => (
            " Selected row ",
            lines
                .iter()
                .cloned()
                .chain([String::new(), "Any key closes this view.".into()])
                .collect(),
        ),
        Overlay::ConfirmQuit => (
            " Quit? ",
            vec![
                "Quit ckf-airgap? Finished work is saved;".into(),
                "run ckf-airgap again to resume.".into(),
                String::new(),
                "y quit    any other key stays".into(),
            ],
        ),
        Overlay::SkipItem { kind, id, reason } => (
            " Skip one item ",
            vec![
                format!(
                    "Why is {} skipped? (recorded in the session)",
                    kind.skip_key(id)
                ),
                format!("> {reason}_"),
                String::new(),
                "Enter records the skip and runs the step again; Esc cancels".into(),
            ],
        ),
        Overlay::SkipReason(reason) => (
            " Skip this step ",
            vec![
                "Why is this step skipped? (recorded in the session)".into(),
                format!("> {reason}_"),
                String::new(),
                "Enter records the skip; Esc cancels".into(),
            ],
        ),
        Overlay::Answer { buffer, choice } => {
            let Some(q) = &app.view.question else { return };
            let mut body = vec![q.prompt.clone(), String::new()];
            match &q.kind {
                InputKind::Password => {
                    body.push(format!("> {}_", "*".repeat(buffer.chars().count())))
                }
                InputKind::Text => body.push(format!("> {buffer}_")),
                InputKind::Confirm => body.push("y yes    n no".into()),
                InputKind::Choice(options) => {
                    for (i, o) in options.iter().enumerate() {
                        body.push(format!("{} {o}", if i == *choice { ">" } else { " " }));
                    }
                }
            }
            (" Question ", body)
        }
    };
    // The detail view takes the screen's width so a long reference fits on one line; long
    // lines wrap inside the popup, so its height counts wrapped rows.
    let width = match app.overlay {
        Overlay::Detail(_) => area.width.saturating_sub(2),
        _ => 66,
    };
    let inner = usize::from(width.min(area.width).saturating_sub(2)).max(1);
    let rows: usize = body
        .iter()
        .map(|l| l.chars().count().div_ceil(inner).max(1))
        .sum();
    let height = u16::try_from(rows + 2).unwrap_or(u16::MAX);
    let popup = centered(area, width, height);
    frame.render_widget(Clear, popup);
    let lines: Vec<Line> = body.into_iter().map(Line::from).collect();
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(block(app, title)),
        popup,
    );
}
