//! Polls `juju status` until every application and unit is active or the time is up, showing a
//! table each round and recognising the known failures on the way.

use std::time::Duration;

use serde::Serialize;

use super::cmd::Cmd;
use super::diagnose::{self, KnownFailure};
use super::error::RunError;
use super::juju_status::{ModelStatus, status_cmd};
use super::runner::Runner;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchOptions {
    pub model: String,
    pub timeout: Duration,
    /// Pause after the first round; doubled each round up to `poll_max`. A Kubeflow model takes
    /// tens of minutes to settle and `juju status` is not free for the controller, so production
    /// backs off; tests pass zero.
    pub poll_initial: Duration,
    pub poll_max: Duration,
}

impl WatchOptions {
    pub fn new(model: &str) -> Self {
        Self {
            model: model.to_owned(),
            timeout: Duration::from_secs(60 * 60),
            poll_initial: Duration::from_secs(5),
            poll_max: Duration::from_secs(60),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AppRow {
    pub application: String,
    pub status: String,
    pub message: String,
    /// `active/total` units.
    pub units: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct WatchRound {
    pub rows: Vec<AppRow>,
    pub findings: Vec<KnownFailure>,
    pub all_active: bool,
    /// Why this round saw nothing (status command failed), if so.
    pub note: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WatchOutcome {
    AllActive(WatchRound),
    TimedOut(WatchRound),
}

/// Runs at least one round, however short the timeout. Only a tool that cannot be started at
/// all is an error; a failing `juju status` (controller busy) is retried.
pub async fn watch(
    runner: &Runner,
    options: &WatchOptions,
    on_round: &mut (dyn FnMut(&WatchRound) + Send),
) -> Result<WatchOutcome, RunError> {
    let deadline = tokio::time::Instant::now() + options.timeout;
    let mut pause = options.poll_initial;
    loop {
        let round = observe(runner, &options.model).await?;
        on_round(&round);
        if round.all_active {
            return Ok(WatchOutcome::AllActive(round));
        }
        if tokio::time::Instant::now() + pause > deadline {
            return Ok(WatchOutcome::TimedOut(round));
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(options.poll_max);
    }
}

/// One look at the model: status table and known failures.
pub async fn observe(runner: &Runner, model: &str) -> Result<WatchRound, RunError> {
    let out = runner.capture(&status_cmd(model)).await?;
    if !out.success() {
        return Ok(WatchRound {
            note: Some(format!("juju status failed: {}", out.stderr.trim())),
            ..WatchRound::default()
        });
    }
    let status = match ModelStatus::parse(&out.stdout) {
        Ok(s) => s,
        Err(e) => {
            return Ok(WatchRound {
                note: Some(format!("unreadable juju status: {e}")),
                ..WatchRound::default()
            });
        }
    };
    let all_active = status.all_active();
    let mut findings = diagnose::from_status(&status);
    if !all_active {
        let pods = Cmd::kubectl(["get", "pods", "-n", model, "-o", "json"]).quiet_stdout();
        let out = runner.capture(&pods).await?;
        if let Ok(json) = serde_json::from_str::<serde_json::Value>(&out.stdout) {
            findings.extend(diagnose::from_pods(&json));
        }
    }
    Ok(WatchRound {
        rows: rows(&status),
        findings,
        all_active,
        note: None,
    })
}

fn rows(status: &ModelStatus) -> Vec<AppRow> {
    status
        .applications
        .iter()
        .map(|(name, app)| {
            let active = app.units.iter().filter(|u| u.workload == "active").count();
            // The unit's message is the useful one when the application has none.
            let message = if app.message.is_empty() {
                app.units
                    .iter()
                    .map(|u| u.message.as_str())
                    .find(|m| !m.is_empty())
                    .unwrap_or_default()
                    .to_owned()
            } else {
                app.message.clone()
            };
            AppRow {
                application: name.clone(),
                status: app.status.clone(),
                message,
                units: format!("{active}/{}", app.units.len()),
            }
        })
        .collect()
}

/// A plain-text table for the log and simple front ends.
pub fn render_table(rows: &[AppRow]) -> String {
    let width = |f: fn(&AppRow) -> &str, title: &str| {
        rows.iter()
            .map(|r| f(r).chars().count())
            .max()
            .unwrap_or(0)
            .max(title.len())
    };
    let (wa, ws, wu) = (
        width(|r| &r.application, "APP"),
        width(|r| &r.status, "STATUS"),
        width(|r| &r.units, "UNITS"),
    );
    let mut out = format!(
        "{:wa$}  {:ws$}  {:wu$}  MESSAGE\n",
        "APP", "STATUS", "UNITS"
    );
    for r in rows {
        out.push_str(
            format!(
                "{:wa$}  {:ws$}  {:wu$}  {}",
                r.application, r.status, r.units, r.message
            )
            .trim_end(),
        );
        out.push('\n');
    }
    out
}
