//! Shared helpers for the integration tests.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::{Command, Output};

pub const BIN: &str = env!("CARGO_BIN_EXE_ckf-airgap");

/// Runs the real binary with a private state directory and no terminal.
pub fn run(state_dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.arg("--state-dir").arg(state_dir).args(args);
    cmd.env_remove("CKF_AIRGAP_STATE_DIR").env("NO_COLOR", "1");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

/// The real binary, headless, with the answers file `answers` and `args` after it (`--session
/// ID`, `--new`, a command such as `gather`): its exit code (-1 when killed by a signal) and
/// everything it printed, stdout then stderr.
pub fn run_headless<K: AsRef<str>, V: AsRef<str>>(
    state_dir: &Path,
    answers: &Path,
    args: &[&str],
    env: &[(K, V)],
) -> (i32, String) {
    let mut all = vec!["--mode", "headless", "--answers", answers.to_str().unwrap()];
    all.extend_from_slice(args);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_ref(), v.as_ref())).collect();
    let out = run(state_dir, &all, &env);
    (
        out.status.code().unwrap_or(-1),
        text(&out.stdout) + &text(&out.stderr),
    )
}

/// No environment beyond what [`run`] sets, for [`run_headless`].
pub const NO_ENV: &[(&str, &str)] = &[];

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Insta settings that hide what changes from run to run: temp paths, ids, times, pids.
pub fn redactions(state_dir: &Path) -> insta::Settings {
    let mut s = insta::Settings::clone_current();
    s.add_filter(&regex_escape(&state_dir.display().to_string()), "[STATE]");
    s.add_filter(r"\d{8}-\d{6}-[0-9a-f]{4}", "[SESSION]");
    s.add_filter(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", "[TIME]");
    s.add_filter(r"pid \d+", "pid [PID]");
    s.set_prepend_module_to_snapshot(false);
    s
}

fn regex_escape(text: &str) -> String {
    text.chars()
        .map(|c| {
            if "\\.+*?()|[]{}^$".contains(c) {
                format!("\\{c}")
            } else {
                c.to_string()
            }
        })
        .collect()
}

pub mod answers;
pub mod pty;

/// The crash tests' child program (`examples/test_child.rs`), which `cargo test` builds beside
/// this binary: `target/<profile>/deps/it-*` → `target/<profile>/examples/test_child`.
pub fn test_child() -> std::path::PathBuf {
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().and_then(Path::parent).unwrap();
    let child = profile_dir.join("examples").join("test_child");
    assert!(
        child.exists(),
        "{} is missing: run the tests with `cargo test`, which builds the examples",
        child.display()
    );
    child
}
