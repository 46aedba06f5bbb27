//! What the operator sees from the command line: help, session listings and answers checks.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::support::{redactions, run, text};
use ckf_airgap::session::SessionStore;
use ckf_airgap::wizard::{Msg, Step};

#[test]
fn help_lists_the_commands_and_options() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(dir.path(), &["--help"], &[]);
    assert!(out.status.success());
    insta::assert_snapshot!("help", text(&out.stdout));
}

#[test]
fn sessions_list_shows_newest_first_with_where_each_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(dir.path(), &["sessions", "list"], &[]);
    redactions(dir.path())
        .bind(|| insta::assert_snapshot!("sessions_list_empty", text(&out.stdout)));

    let store = SessionStore::open(dir.path()).unwrap();
    let mut first = store.create().unwrap();
    first
        .apply(Msg::Start {
            step: Step::EnvironmentChecks,
            inputs: "x".into(),
        })
        .unwrap();
    first
        .apply(Msg::Fail {
            step: Step::EnvironmentChecks,
            reason: "kubectl is not installed".into(),
        })
        .unwrap();
    drop(first);
    // Ids start with the creation second; make sure the second session is newer.
    let second_dir;
    loop {
        let s = store.create().unwrap();
        if s.id() != store.list().unwrap().last().unwrap().id {
            second_dir = s.dir().to_path_buf();
            let mut s = s;
            s.apply(Msg::Skip {
                step: Step::EnvironmentChecks,
                reason: "checked by hand".into(),
            })
            .unwrap();
            s.apply(Msg::Next).unwrap();
            break;
        }
        std::fs::remove_dir_all(s.dir()).unwrap();
    }
    assert!(second_dir.exists());

    let out = run(dir.path(), &["sessions", "list"], &[]);
    assert!(out.status.success());
    let listing = text(&out.stdout);
    let lines: Vec<&str> = listing.lines().collect();
    assert_eq!(lines.len(), 3, "{listing}");
    assert!(
        lines[1].contains("at Artifacts (pending)"),
        "newest first: {listing}"
    );
    assert!(
        lines[2].contains("failed: kubectl is not installed"),
        "{listing}"
    );
    redactions(dir.path()).bind(|| insta::assert_snapshot!("sessions_list", listing));
}

#[test]
fn validate_answers_reports_every_problem_with_its_key_and_fix() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("answers.toml");
    std::fs::write(
        &bad,
        r#"
[artifacts]
images = "/nonexistent/images.tar.gz"

[registry]
target = "https://registry.example.com/CKF"
username = "admin"
password = "in-clear-text"
gzip_level = 13
upload = "sideways"
chunk_size_mib = 0

[mapping]
"172.17.0.2:5000/istio/proxyv2:1.16.2" = "proxyv2:1.16.2"

[deploy]
model = "kf"

[skip]
registry-logn = "typo"
"#,
    )
    .unwrap();
    let out = run(
        dir.path(),
        &["validate-answers", bad.to_str().unwrap()],
        &[],
    );
    assert_eq!(out.status.code(), Some(1));
    redactions(dir.path())
        .bind(|| insta::assert_snapshot!("validate_answers_bad", text(&out.stderr)));

    let syntax = dir.path().join("syntax.toml");
    std::fs::write(
        &syntax,
        "[registry]\ntarget = \"r.example.com\"\nusrname = \"admin\"\n",
    )
    .unwrap();
    let out = run(
        dir.path(),
        &["validate-answers", syntax.to_str().unwrap()],
        &[],
    );
    assert_eq!(out.status.code(), Some(1));
    redactions(dir.path())
        .bind(|| insta::assert_snapshot!("validate_answers_syntax", text(&out.stderr)));

    let good = dir.path().join("good.toml");
    std::fs::write(
        &good,
        "[registry]\ntarget = \"registry.example.com:5443/ckf\"\nusername = \"admin\"\npassword_env = \"CKF_TEST_PW\"\n",
    )
    .unwrap();
    let out = run(
        dir.path(),
        &["validate-answers", good.to_str().unwrap()],
        &[("CKF_TEST_PW", "x")],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).ends_with(": OK\n"));
}

#[test]
fn without_a_terminal_the_wizard_refuses_and_names_headless_mode() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(dir.path(), &[], &[]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains("--mode headless --answers FILE"), "{err}");
    let out = run(dir.path(), &["--mode", "headless"], &[]);
    assert!(text(&out.stderr).contains("needs --answers FILE"));
}

#[test]
fn completions_and_the_man_page_are_printed_and_version_names_the_commit() {
    let dir = tempfile::tempdir().unwrap();
    for (shell, marker) in [
        ("bash", "complete -F _ckf__airgap"),
        ("zsh", "#compdef ckf-airgap"),
        ("fish", "complete -c ckf-airgap"),
    ] {
        let out = run(dir.path(), &["completions", shell], &[]);
        assert!(out.status.success(), "{shell}: {}", text(&out.stderr));
        let script = text(&out.stdout);
        assert!(script.contains(marker), "{shell}: {script}");
        // Every command is offered.
        assert!(
            script.contains("mirrors") && script.contains("gather"),
            "{shell}"
        );
    }
    let man = run(dir.path(), &["man"], &[]);
    assert!(man.status.success(), "{}", text(&man.stderr));
    let page = text(&man.stdout);
    assert!(page.contains(".TH ckf-airgap 1"), "{page}");
    assert!(page.contains("validate\\-answers"), "{page}");

    let version = text(&run(dir.path(), &["--version"], &[]).stdout);
    let commit = std::process::Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| text(&o.stdout).trim().to_owned())
        .unwrap_or_else(|| "unknown".into());
    assert_eq!(
        version.trim(),
        format!("ckf-airgap {} (commit {commit})", env!("CARGO_PKG_VERSION"))
    );
}

/// `--log-level` (or `CKF_AIRGAP_LOG`) sets what the session log holds; a filter that does
/// not parse is a usage error naming the option.
#[test]
fn log_level_sets_the_session_log_and_a_bad_one_is_a_usage_error() {
    use crate::support::answers;
    use ckf_airgap::answers::Answers;
    let dir = tempfile::tempdir().unwrap();
    let release = ckf_airgap::synth::generate_release(
        &ckf_airgap::synth::ReleaseSpec::default(),
        &dir.path().join("rel"),
    )
    .unwrap();
    let mut spec = Answers {
        artifacts: Some(answers::artifacts(
            &release.images_gz,
            release.charms_gz.as_ref().unwrap(),
        )),
        ..Answers::default()
    };
    answers::skip_all_but(&mut spec, &["artifacts"], "t");
    let path = dir.path().join("answers.toml");
    answers::write(&path, &spec);
    let debug_lines = |args: &[&str], env: &[(&str, &str)]| {
        let state = tempfile::tempdir().unwrap();
        let mut all = vec!["--mode", "headless", "--answers", path.to_str().unwrap()];
        all.extend_from_slice(args);
        let out = run(state.path(), &all, env);
        assert!(out.status.success(), "{}", text(&out.stdout));
        let store = SessionStore::open(state.path()).unwrap();
        let session = store.list().unwrap().remove(0).dir;
        std::fs::read_to_string(session.join("ckf-airgap.log"))
            .unwrap()
            .lines()
            .filter(|l| l.contains("DEBUG"))
            .count()
    };
    assert_eq!(debug_lines(&[], &[]), 0);
    assert!(debug_lines(&["--log-level", "debug"], &[]) > 0);
    assert!(debug_lines(&[], &[("CKF_AIRGAP_LOG", "debug")]) > 0);

    let bad = run(
        dir.path(),
        &["--log-level", "info,[=", "sessions", "list"],
        &[],
    );
    assert_eq!(bad.status.code(), Some(2));
    let said = text(&bad.stderr);
    assert!(said.contains("--log-level"), "{said}");
}
