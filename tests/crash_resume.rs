//! A step that records its units to a file is interrupted by SIGKILL and by SIGINT in the
//! middle of a unit; the session must load, show that unit as not done, and finish on resume
//! without repeating a finished unit.
//!
//! The child process is this test binary itself, re-run with `PROBE_CHILD` set: it drives the
//! real engine and session store with a probe step, so nothing test-only lives in the product.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;

use ckf_airgap::engine::{
    Cancel, Engine, EngineOptions, StepContext, StepError, StepFuture, StepWork,
};
use ckf_airgap::frontend::headless;
use ckf_airgap::session::SessionStore;
use ckf_airgap::wizard::{Choices, Step, StepStatus};

const PROBE_CHILD: &str = "PROBE_CHILD";
const UNITS: usize = 5;

struct Probe {
    record: PathBuf,
    block_at: Option<usize>,
}

fn append(path: &Path, line: &str) {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    writeln!(f, "{line}").unwrap();
}

impl StepWork for Probe {
    fn inputs(&self, _: Step, _: &Choices) -> String {
        "probe".into()
    }

    fn run(&self, step: Step, ctx: StepContext) -> StepFuture {
        let record = self.record.clone();
        let block_at = self.block_at;
        Box::pin(async move {
            if step != Step::EnvironmentChecks {
                return Ok(());
            }
            for i in 0..UNITS {
                let unit = format!("unit-{i}");
                if ctx.is_done(&unit) {
                    continue;
                }
                append(&record, &format!("begin {i}"));
                if block_at == Some(i) {
                    // Tell the parent we are mid-unit, then wait to be killed or interrupted.
                    println!("blocked {i}");
                    std::io::stdout().flush().unwrap();
                    ctx.cancel().cancelled().await;
                    return Err(StepError::Cancelled);
                }
                append(&record, &format!("end {i}"));
                ctx.record_unit(unit, serde_json::json!({ "index": i }))?;
            }
            Ok(())
        })
    }
}

/// The child's side: run the engine headless over the probe, like `--mode headless` does.
#[test]
fn probe_child() {
    let Ok(state_dir) = std::env::var(PROBE_CHILD) else {
        return; // Only meaningful when re-run by the tests below.
    };
    let record = PathBuf::from(std::env::var("PROBE_RECORD").unwrap());
    let block_at = std::env::var("PROBE_BLOCK_AT")
        .ok()
        .map(|v| v.parse().unwrap());
    let store = SessionStore::open(Path::new(&state_dir)).unwrap();
    let session = match store.newest_unfinished().unwrap() {
        Some(s) => store.open_session(&s.id).unwrap(),
        None => store.create().unwrap(),
    };
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let reason = runtime.block_on(async move {
        let cancel = Cancel::new();
        ckf_airgap::signals::install(cancel.clone()).unwrap();
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let engine = Engine::new(
            session,
            Arc::new(Probe { record, block_at }),
            tx,
            EngineOptions {
                auto: true,
                interactive: false,
            },
        );
        let printer = tokio::spawn(async move {
            while let Some(ev) = rx.recv().await {
                if let Some(line) = headless::line(&ev) {
                    println!("{line}");
                }
            }
        });
        let (_keep, commands) = tokio::sync::mpsc::unbounded_channel();
        let reason = engine.run(commands, cancel).await.unwrap();
        let _ = printer.await;
        reason
    });
    std::process::exit(ckf_airgap::run::exit_code(&reason));
}

fn spawn_child(state_dir: &Path, record: &Path, block_at: Option<usize>) -> Child {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args(["--exact", "probe_child", "--nocapture", "--test-threads=1"])
        .env(PROBE_CHILD, state_dir)
        .env("PROBE_RECORD", record)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    match block_at {
        Some(i) => cmd.env("PROBE_BLOCK_AT", i.to_string()),
        None => cmd.env_remove("PROBE_BLOCK_AT"),
    };
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
