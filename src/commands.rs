//! The non-wizard commands: sessions, validate-answers, export-answers. Each returns the text
//! to print and an exit status, so tests can check the output exactly.

use std::path::Path;

use crate::answers::{self, Answers};
use crate::session::{SessionStore, SessionSummary};
use crate::wizard::StepStatus;

pub struct Output {
    pub stdout: String,
    pub stderr: String,
    pub status: i32,
}

impl Output {
    fn ok(stdout: String) -> Output {
        Output {
            stdout,
            stderr: String::new(),
            status: 0,
        }
    }

    fn fail(stderr: String) -> Output {
        Output {
            stdout: String::new(),
            stderr,
            status: 1,
        }
    }
}

pub fn sessions_list(store: &SessionStore) -> Output {
    let sessions = match store.list() {
        Ok(s) => s,
        Err(e) => return Output::fail(format!("error: {e}\n")),
    };
    if sessions.is_empty() {
        return Output::ok(format!(
            "No sessions in {}.\nRun `ckf-airgap` to start one.\n",
            store.root().display()
        ));
    }
    let mut out = format!(
        "{:<22}  {:<20}  {}\n",
        "SESSION", "UPDATED", "WHERE IT STANDS"
    );
    for s in &sessions {
        let updated = s
            .file
            .as_ref()
            .map(|f| f.updated_at.clone())
            .unwrap_or_else(|| "-".into());
        let mut whereabouts = s.whereabouts();
        if whereabouts.chars().count() > 60 {
            whereabouts = whereabouts.chars().take(57).collect::<String>() + "...";
        }
        if s.in_use {
            whereabouts.push_str(" [in use]");
        }
        out.push_str(&format!("{:<22}  {:<20}  {}\n", s.id, updated, whereabouts));
    }
    Output::ok(out)
}

fn find(store: &SessionStore, id: &str) -> Result<SessionSummary, Output> {
    let sessions = store
        .list()
        .map_err(|e| Output::fail(format!("error: {e}\n")))?;
    sessions.into_iter().find(|s| s.id == id).ok_or_else(|| {
        Output::fail(format!(
            "error: no session {id} in {}\nList them with `ckf-airgap sessions list`.\n",
            store.root().display()
        ))
    })
}

pub fn sessions_show(store: &SessionStore, id: &str) -> Output {
    let summary = match find(store, id) {
        Ok(s) => s,
        Err(out) => return out,
    };
    let Some(file) = &summary.file else {
        return Output::fail(format!(
            "error: session {id} cannot be read: {}\n",
            summary.problem.as_deref().unwrap_or("unknown problem")
        ));
    };
    let mut out = format!(
        "Session {}  ({})\nCreated {} by ckf-airgap {}, updated {}\nDirectory {}\n\nSteps:\n",
        file.id,
        summary.whereabouts(),
        file.created_at,
        file.tool_version,
        file.updated_at,
        summary.dir.display()
    );
    for step in file.wizard.flow.steps() {
        let record = file.wizard.record(step);
        let status = match &record.status {
            StepStatus::Failed { reason } => format!("failed: {reason}"),
            StepStatus::Skipped { reason } => format!("skipped: {reason}"),
            other => other.label().to_string(),
        };
        let current = if step == file.wizard.current {
            ">"
        } else {
            " "
        };
        let units = if record.ledger.is_empty() {
            String::new()
        } else {
            format!(" ({} unit(s) finished)", record.ledger.len())
        };
        out.push_str(&format!("{current} {:<24} {status}{units}\n", step.title()));
        if let Some(note) = &record.note {
            out.push_str(&format!("  {:<24} note: {note}\n", ""));
        }
    }
    out.push_str("\nChoices (as an answers file):\n");
    out.push_str(&answers::export(&file.wizard.choices, &file.id));
    Output::ok(out)
}

pub fn sessions_remove(store: &SessionStore, id: &str) -> Output {
    match store.remove(id) {
        Ok(()) => Output::ok(format!("Removed session {id}.\n")),
        Err(e) => Output::fail(format!("error: {e}\n")),
    }
}

/// Removes the registry-mirror files under `certs_dir` (MicroK8s's when not given).
pub fn mirrors_undo(certs_dir: Option<&Path>) -> Output {
    use crate::cluster::registry_mirrors::undo;
    use crate::cluster::trust::MICROK8S_CERTS_D;
    let root = certs_dir.unwrap_or(Path::new(MICROK8S_CERTS_D));
    match undo(root) {
        Ok(report) => {
            let mut text = if report.removed.is_empty() {
                format!(
                    "no registry-mirror files of ckf-airgap under {}\n",
                    root.display()
                )
            } else {
                format!(
                    "removed {} file(s) under {}; containerd pulls from the public registries again\n",
                    report.removed.len(),
                    root.display()
                )
            };
            for path in &report.removed {
                text.push_str(&format!("  removed {}\n", path.display()));
            }
            for path in &report.kept {
                text.push_str(&format!(
                    "  kept {} (not written by ckf-airgap)\n",
                    path.display()
                ));
            }
            Output::ok(text)
        }
        Err(e) => Output::fail(format!(
            "error: cannot remove the mirror files under {}: {e}\nRun as root (the files belong to containerd's configuration), or remove the files that start with \"# Written by ckf-airgap\" by hand.\n",
            root.display()
        )),
    }
}

pub fn validate_answers(path: &Path) -> Output {
    let name = path.display();
    let answers = match Answers::load(path) {
        Ok(a) => a,
        Err(e) => return Output::fail(format!("{e}\n")),
    };
    let env = |var: &str| std::env::var(var).ok();
    let problems = answers::validate(&answers, &env, false);
    if problems.is_empty() {
        return Output::ok(format!("{name}: OK\n"));
    }
    let mut text = format!(
        "{name}: {} problem{}\n",
        problems.len(),
        if problems.len() == 1 { "" } else { "s" }
    );
    for p in problems {
        text.push_str(&format!("  {}: {}\n", p.key, p.message));
    }
    Output::fail(text)
}

pub fn export_answers(store: &SessionStore, id: Option<&str>, output: Option<&Path>) -> Output {
    let summary = match id {
        Some(id) => match find(store, id) {
            Ok(s) => s,
            Err(out) => return out,
        },
        None => match store
            .list()
            .map(|l| l.into_iter().find(|s| s.file.is_some()))
        {
            Ok(Some(s)) => s,
            Ok(None) => return Output::fail("error: there is no session to export\n".into()),
            Err(e) => return Output::fail(format!("error: {e}\n")),
        },
    };
    let Some(file) = &summary.file else {
        return Output::fail(format!("error: session {} cannot be read\n", summary.id));
    };
    let text = answers::export(&file.wizard.choices, &file.id);
    match output {
        None => Output::ok(text),
        Some(path) => match crate::durable::write_file(path, text.as_bytes()) {
            Ok(()) => Output::ok(format!(
                "Wrote the answers of session {} to {}\n",
                file.id,
                path.display()
            )),
            Err(e) => Output::fail(format!("error: cannot write {}: {e}\n", path.display())),
        },
    }
}
