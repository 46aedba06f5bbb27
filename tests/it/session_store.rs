//! The session store as a second process, a damaged disk or another version meets it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Command;

use ckf_airgap::session::{SessionError, SessionStore};
use ckf_airgap::wizard::{Msg, Step, StepStatus};

const BIN: &str = env!("CARGO_BIN_EXE_ckf-airgap");

fn write_answers(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("answers.toml");
    let spec = ckf_airgap::answers::Answers {
        deploy: Some(crate::support::answers::deploy("kubeflow")),
        ..Default::default()
    };
    crate::support::answers::write(&path, &spec);
    path
}

#[test]
fn a_second_process_on_the_same_session_is_refused_and_told_who_holds_it() {
    let dir = tempfile::tempdir().unwrap();
    let store = SessionStore::open(dir.path()).unwrap();
    let held = store.create().unwrap();
    let answers = write_answers(dir.path());

    let out = Command::new(BIN)
        .args(["--mode", "headless", "--answers"])
        .arg(&answers)
        .arg("--state-dir")
        .arg(dir.path())
        .args(["--session", held.id()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let me = format!("pid {}", std::process::id());
    assert!(
        stderr.contains(&format!(
            "session {} is in use by another ckf-airgap process",
            held.id()
        )) && stderr.contains(&me),
        "{stderr}"
    );
    drop(held);
    let reopened = store.open_session(&store.list().unwrap()[0].id);
    assert!(reopened.is_ok(), "the lock goes with its holder");
}

#[test]
fn a_garbage_or_truncated_session_file_is_reported_with_the_file_and_the_backup_kept() {
    let dir = tempfile::tempdir().unwrap();
    let store = SessionStore::open(dir.path()).unwrap();
    let mut session = store.create().unwrap();
    session
        .apply(Msg::Skip {
            step: Step::EnvironmentChecks,
            reason: "checked by hand".into(),
        })
        .unwrap();
    let id = session.id().to_string();
    let path = session.dir().join("session.json");
    drop(session);

    let good = std::fs::read(&path).unwrap();
    for damaged in [&good[..good.len() / 2], b"\x00\x01garbage" as &[u8], b""] {
        std::fs::write(&path, damaged).unwrap();
        let err = store.open_session(&id).unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, SessionError::Corrupt { .. }), "{text}");
        assert!(text.contains(&path.display().to_string()), "{text}");
        assert!(text.contains("session.json.bak"), "{text}");
        assert!(text.contains("session.json.damaged-"), "{text}");
    }
    // The backup holds the state before the last save: a whole, loadable session.
    std::fs::copy(path.with_file_name("session.json.bak"), &path).unwrap();
    let restored = store.open_session(&id).unwrap();
    assert_eq!(restored.state().current, Step::EnvironmentChecks);
}

#[test]
fn a_session_from_a_newer_schema_is_refused_not_guessed_at() {
    let dir = tempfile::tempdir().unwrap();
    let store = SessionStore::open(dir.path()).unwrap();
    let session = store.create().unwrap();
    let id = session.id().to_string();
    let path = session.dir().join("session.json");
    drop(session);
    let mut value: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    value["schema_version"] = 99.into();
    value["tool_version"] = "9.0.0".into();
    std::fs::write(&path, serde_json::to_vec(&value).unwrap()).unwrap();
    let before = std::fs::read(&path).unwrap();

    let err = store.open_session(&id).unwrap_err().to_string();
    assert!(
        err.contains("ckf-airgap 9.0.0 (session schema 99)"),
        "{err}"
    );
    assert!(err.contains("or newer"), "{err}");
    assert_eq!(
        std::fs::read(&path).unwrap(),
        before,
        "the file is left alone"
    );
}

#[test]
fn a_session_of_the_previous_schema_is_migrated() {
    let dir = tempfile::tempdir().unwrap();
    let store = SessionStore::open(dir.path()).unwrap();
    let id = "20260101-120000-abcd";
    let session_dir = store.root().join(id);
    std::fs::create_dir_all(&session_dir).unwrap();
    std::fs::copy(
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/session-v1.json"
        ),
        session_dir.join("session.json"),
    )
    .unwrap();

    let mut session = store.open_session(id).unwrap();
    let notices = session.take_notices();
    assert!(
        notices.iter().any(|n| n.contains("schema 1")),
        "{notices:?}"
    );
    let state = session.state();
    assert_eq!(state.current, Step::RegistryLogin);
    assert_eq!(state.status(Step::Artifacts), &StepStatus::Done);
    assert_eq!(
        state.status(Step::RegistryLogin),
        &StepStatus::Failed {
            reason: "x509: certificate signed by unknown authority".into()
        }
    );
    assert!(state.unit_done(Step::Artifacts, "image-b"));
    assert_eq!(
        state.choices.registry.as_ref().unwrap().target,
        "registry.example.com:5443/ckf"
    );
    assert_eq!(session.file().created_at, "2026-01-01T12:00:00Z");
    drop(session);
    let on_disk: serde_json::Value =
        serde_json::from_slice(&std::fs::read(session_dir.join("session.json")).unwrap()).unwrap();
    assert_eq!(on_disk["schema_version"], 3, "the upgrade is written back");
}

#[test]
fn session_files_are_private_to_the_owner() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let store = SessionStore::open(dir.path()).unwrap();
    let session = store.create().unwrap();
    for name in ["session.json", "session.lock"] {
        let mode = std::fs::metadata(session.dir().join(name))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "{name} is readable by others: {mode:o}");
    }
    let mode = std::fs::metadata(session.dir())
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o077, 0, "session dir: {mode:o}");
}
