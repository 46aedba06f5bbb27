//! The registry password reaches neither the session directory, the log, the screen nor an
//! exported answers file.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use crate::support::answers;
use crate::support::{run, text};
use ckf_airgap::answers::Answers;

const PASSWORD: &str = "pw-Zq81-never-on-disk";

fn grep_tree(dir: &Path, needle: &[u8]) -> Vec<String> {
    let mut hits = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if let Ok(bytes) = std::fs::read(&path)
                && bytes.windows(needle.len()).any(|w| w == needle)
            {
                hits.push(path.display().to_string());
            }
        }
    }
    hits
}

#[test]
fn the_password_is_never_written_anywhere() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let answers = dir.path().join("answers.toml");
    let mut spec = Answers {
        registry: Some(answers::registry_login(
            "registry.example.com:5443/ckf",
            "admin",
            "CKF_TEST_REGISTRY_PASSWORD",
        )),
        ..Answers::default()
    };
    answers::skip(&mut spec, "environment-checks", "checked by hand");
    answers::write(&answers, &spec);
    let env = [
        ("CKF_TEST_REGISTRY_PASSWORD", PASSWORD),
        ("CKF_AIRGAP_LOG", "trace"),
    ];
    let out = run(
        &state,
        &["--mode", "headless", "--answers", answers.to_str().unwrap()],
        &env,
    );
    // The run gets as far as this release goes, with the password loaded into memory.
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("[environment-checks] skipped: checked by hand"),
        "{stdout}"
    );
    // The log records that a password was loaded, which is what makes the grep below count.
    let logged = grep_tree(&state, b"password=\"given\"");
    assert!(
        logged.iter().any(|p| p.ends_with("ckf-airgap.log")),
        "the session log should say a password was given: {logged:?}"
    );

    let exported = run(&state, &["export-answers"], &env);
    let sessions = run(&state, &["sessions", "list"], &env);
    let id = text(&sessions.stdout)
        .lines()
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();
    let shown = run(&state, &["sessions", "show", &id], &env);
    assert!(text(&shown.stdout).contains("password_env = \"CKF_TEST_REGISTRY_PASSWORD\""));

    for (what, bytes) in [
        ("run stdout", &out.stdout),
        ("run stderr", &out.stderr),
        ("export-answers", &exported.stdout),
        ("sessions show", &shown.stdout),
    ] {
        assert!(!text(bytes).contains(PASSWORD), "{what} shows the password");
    }
    let hits = grep_tree(&state, PASSWORD.as_bytes());
    assert!(hits.is_empty(), "the password is on disk in {hits:?}");
}
