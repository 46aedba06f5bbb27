//! A step that records its units to a file is interrupted by SIGKILL and by SIGINT in the
//! middle of a unit; the session must load, show that unit as not done, and finish on resume
//! without repeating a finished unit.
//!
//! The child process is `examples/test_child.rs probe`: it drives the real engine and session
//! store with a probe step, so nothing test-only lives in the product.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use ckf_airgap::session::SessionStore;
use ckf_airgap::wizard::{Step, StepStatus};

const UNITS: usize = 5;

fn spawn_child(state_dir: &Path, record: &Path, block_at: Option<usize>) -> Child {
    let mut cmd = Command::new(crate::support::test_child());
    cmd.arg("probe")
        .arg(state_dir)
        .arg(record)
        .args(block_at.map(|i| i.to_string()))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    cmd.spawn().unwrap()
}

/// Reads the child's output until it says it is blocked inside unit `i`.
fn wait_until_blocked(child: &mut Child, i: usize) {
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let want = format!("blocked {i}");
    for line in lines.by_ref() {
        let line = line.unwrap();
        if line == want {
            // Keep draining so the child never blocks on a full pipe.
            std::thread::spawn(move || for _ in lines {});
            return;
        }
    }
    panic!("the child ended without reaching unit {i}");
}

fn record_lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

fn units_done(state_dir: &Path) -> (Vec<String>, StepStatus, Option<String>) {
    let store = SessionStore::open(state_dir).unwrap();
    let id = store.list().unwrap()[0].id.clone();
    let session = store.open_session(&id).unwrap();
    let record = session.state().record(Step::EnvironmentChecks).clone();
    (
        record.ledger.keys().cloned().collect(),
        record.status,
        record.note,
    )
}

fn send_signal(child: &Child, signal: &str) {
    let status = Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

#[test]
fn sigkill_mid_unit_then_resume_repeats_no_finished_unit() {
    let dir = tempfile::tempdir().unwrap();
    let record = dir.path().join("units.log");

    let mut child = spawn_child(dir.path(), &record, Some(3));
    wait_until_blocked(&mut child, 3);
    child.kill().unwrap(); // SIGKILL: no chance to save anything more.
    child.wait().unwrap();

    let (done, status, note) = units_done(dir.path());
    assert_eq!(done, ["unit-0", "unit-1", "unit-2"]);
    assert_eq!(status, StepStatus::Pending);
    assert!(note.unwrap().contains("interrupted"));

    let status = spawn_child(dir.path(), &record, None).wait().unwrap();
    assert!(status.success(), "resumed run failed: {status:?}");
    assert_eq!(
        record_lines(&record),
        [
            "begin 0", "end 0", "begin 1", "end 1", "begin 2", "end 2", "begin 3", // killed
            "begin 3", "end 3", "begin 4", "end 4",
        ]
    );
    let store = SessionStore::open(dir.path()).unwrap();
    let summary = &store.list().unwrap()[0];
    assert!(summary.finished(), "{}", summary.whereabouts());
}

#[test]
fn sigint_checkpoints_and_a_second_sigint_during_the_checkpoint_corrupts_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let record = dir.path().join("units.log");

    let mut child = spawn_child(dir.path(), &record, Some(1));
    wait_until_blocked(&mut child, 1);
    send_signal(&child, "-INT");
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130));
    let (done, status, note) = units_done(dir.path());
    assert_eq!(done, ["unit-0"]);
    assert_eq!(status, StepStatus::Pending);
    assert!(note.unwrap().contains("interrupted"));

    let mut child = spawn_child(dir.path(), &record, Some(2));
    wait_until_blocked(&mut child, 2);
    send_signal(&child, "-INT");
    send_signal(&child, "-INT");
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130));
    let (done, _, _) = units_done(dir.path());
    assert_eq!(done, ["unit-0", "unit-1"]);

    assert!(
        spawn_child(dir.path(), &record, None)
            .wait()
            .unwrap()
            .success()
    );
    let lines = record_lines(&record);
    for i in 0..UNITS {
        let ends = lines.iter().filter(|l| **l == format!("end {i}")).count();
        assert_eq!(ends, 1, "unit {i} finished {ends} times: {lines:?}");
    }
}

/// Killed after three units were appended to the journal and before `session.json` absorbed
/// them (it still shows the step with none), the session reopens with all three; a line the
/// kill cut short in the middle of an append was never acknowledged and is dropped.
#[test]
fn sigkill_between_a_journal_append_and_a_compaction_keeps_every_finished_unit() {
    let dir = tempfile::tempdir().unwrap();
    let record = dir.path().join("units.log");
    let mut child = spawn_child(dir.path(), &record, Some(3));
    wait_until_blocked(&mut child, 3);
    child.kill().unwrap();
    child.wait().unwrap();

    let session_dir = SessionStore::open(dir.path()).unwrap().list().unwrap()[0]
        .dir
        .clone();
    let file: serde_json::Value =
        serde_json::from_slice(&std::fs::read(session_dir.join("session.json")).unwrap()).unwrap();
    let generation = file["journal"].as_u64().unwrap();
    assert!(
        file["wizard"]["steps"]["environment-checks"]["ledger"].is_null(),
        "session.json has not absorbed the units: {file}"
    );
    let journal = session_dir.join(format!("journal-{generation}.jsonl"));
    let lines = std::fs::read_to_string(&journal).unwrap();
    assert_eq!(lines.lines().count(), 3, "{lines}");
    let mut cut = std::fs::OpenOptions::new()
        .append(true)
        .open(&journal)
        .unwrap();
    std::io::Write::write_all(
        &mut cut,
        br#"{"step":"environment-checks","unit":"unit-3","de"#,
    )
    .unwrap();

    let (done, status, _) = units_done(dir.path());
    assert_eq!(done, ["unit-0", "unit-1", "unit-2"]);
    assert_eq!(status, StepStatus::Pending);
    // Opening absorbed the journal into session.json.
    let file: serde_json::Value =
        serde_json::from_slice(&std::fs::read(session_dir.join("session.json")).unwrap()).unwrap();
    assert_eq!(
        file["wizard"]["steps"]["environment-checks"]["ledger"]
            .as_object()
            .unwrap()
            .len(),
        3
    );
    assert!(!journal.exists());
}
