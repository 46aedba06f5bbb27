//! The end: where the dashboard is and what to do next.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::Line;

use super::rows::heading;
use super::status::status_lines;
use crate::engine::step_data::StepData;
use crate::frontend::tui::app::App;
use crate::wizard::{Step, StepStatus};

pub fn render(frame: &mut Frame, area: Rect, app: &App) {
    let mut lines = status_lines(app, area.width);
    let skipped: Vec<&str> = app
        .view
        .state
        .flow
        .steps()
        .filter(|s| matches!(app.view.state.status(*s), StepStatus::Skipped { .. }))
        .map(|s| s.title())
        .collect();
    let finish = app.view.data.get(&app.view.state.current);
    let upgrade = app.view.state.current == Step::UpgradeDone;
    if let Some(StepData::Finish(view)) = finish
        && upgrade
    {
        if let Some(plan) = &view.dry_run_plan {
            lines.push(heading("Dry run: nothing was changed"));
            lines.push(Line::from(format!("The plan: {plan}")));
            lines.push(Line::from(
                "To upgrade: set [deploy] dry_run = false in the answers file and run the upgrade again.",
            ));
        } else {
            lines.push(heading("Charmed Kubeflow upgraded"));
        }
        for step in &view.next_steps {
            lines.push(Line::from(format!("- {step}")));
        }
    } else if let Some(StepData::Finish(view)) = finish
        && let Some(plan) = &view.dry_run_plan
    {
        lines.push(heading("Dry run: nothing was deployed"));
        lines.push(Line::from(format!("The plan: {plan}")));
        lines.push(Line::from(
            "To deploy: set [deploy] dry_run = false in the answers file and run the Juju step again.",
        ));
    } else if let Some(StepData::Finish(view)) = finish {
        lines.push(heading("Charmed Kubeflow"));
        match &view.dashboard {
            Some(url) => lines.push(Line::from(format!("Dashboard: {url}"))),
            None => lines.push(Line::from("Dashboard: see the command below")),
        }
        lines.push(Line::from(""));
        lines.push(heading("Next steps"));
        for step in &view.next_steps {
            lines.push(Line::from(format!("- {step}")));
        }
    } else {
        lines.push(Line::from(if upgrade {
            "Enter finishes the upgrade and shows where its record, plan and backups are."
        } else {
            "Enter finishes the install and shows the next steps."
        }));
    }
    if !skipped.is_empty() {
        lines.push(Line::from(""));
        lines.push(Line::from(format!(
            "Done by hand (skipped here): {}",
            skipped.join(", ")
        )));
    }
    frame.render_widget(super::wrapped::paragraph(lines, area.width), area);
}
