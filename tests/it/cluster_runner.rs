//! The runner runs fakes by name on PATH with an argv (no shell), streams and captures output,
//! feeds stdin, times out and kills the child when dropped.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use crate::cluster_support::{Fakes, answer, scenario};
use ckf_airgap::cluster::{Cmd, RunError, RunEvent, Stream, Tool, Tools};
use serde_json::json;

#[tokio::test]
async fn runs_by_name_with_argv_streams_and_captures() {
    let fakes = Fakes::all();
    fakes.set_scenario(&scenario(vec![answer(
        "juju",
        &["deploy", "a b", "$HOME;rm -rf /"],
        "line one\nline two\n",
        "warn\n",
        3,
    )]));
    let runner = fakes.runner();
    let mut events = Vec::new();
    let cmd = Cmd::juju(["deploy", "a b", "$HOME;rm -rf /"]);
    let out = runner.run(&cmd, &mut |e| events.push(e)).await.unwrap();
    assert_eq!(out.code, Some(3));
    assert!(!out.success());
    assert_eq!(out.stdout, "line one\nline two\n");
    assert_eq!(out.stderr, "warn\n");
    // The argv arrived intact: no shell split or expanded anything.
    assert_eq!(fakes.calls()[0].args, ["deploy", "a b", "$HOME;rm -rf /"]);
    assert_eq!(fakes.calls()[0].stdin, None);
    assert_eq!(
        events[0],
        RunEvent::Started("juju deploy 'a b' '$HOME;rm -rf /'".into())
    );
    assert!(events.contains(&RunEvent::Line(Stream::Stdout, "line two".into())));
    assert!(events.contains(&RunEvent::Line(Stream::Stderr, "warn".into())));
    assert_eq!(events.last(), Some(&RunEvent::Finished(Some(3))));
    let err = runner.run_ok(&cmd, &mut |_| {}).await.unwrap_err();
    assert!(
        matches!(err, RunError::Failed { code: Some(3), .. }),
        "{err}"
    );
}

#[tokio::test]
async fn feeds_stdin_and_caps_capture() {
    let fakes = Fakes::all();
    fakes.set_scenario(&scenario(vec![answer(
        "juju",
        &["x"],
        &"y".repeat(5000),
        "",
        0,
    )]));
    let mut runner = fakes.runner();
    runner.capture_limit = 1000;
    let cmd = Cmd::juju(["x"]).with_stdin(b"kubeconfig bytes\n".to_vec());
    let out = runner.capture(&cmd).await.unwrap();
    assert_eq!(out.stdout.len(), 1000);
    assert!(out.truncated);
    assert_eq!(
        fakes.calls()[0].stdin.as_deref(),
        Some("kubeconfig bytes\n")
    );
}

#[tokio::test]
async fn quiet_stdout_is_captured_but_not_streamed() {
    let fakes = Fakes::all();
    fakes.set_scenario(&scenario(vec![answer(
        "microk8s",
        &["config"],
        "token: s3cret\n",
        "",
        0,
    )]));
    let mut lines = Vec::new();
    let out = fakes
        .runner()
        .run(&Cmd::microk8s(["config"]).quiet_stdout(), &mut |e| {
            if let RunEvent::Line(..) = e {
                lines.push(e)
            }
        })
        .await
        .unwrap();
    assert_eq!(out.stdout, "token: s3cret\n");
    assert!(lines.is_empty());
}

#[tokio::test]
async fn missing_program_and_timeout_are_errors() {
    let fakes = Fakes::new(&["juju"]);
    let err = fakes
        .runner()
        .capture(&Cmd::kubectl(["version"]))
        .await
        .unwrap_err();
    assert!(matches!(err, RunError::Spawn { .. }), "{err}");
    fakes.set_scenario(
        &json!({"rules": [{"tool": "juju", "args": ["wait"], "responses": [{"hang": true}]}]}),
    );
    let cmd = Cmd::juju(["wait"]).with_timeout(Duration::ZERO);
    let err = fakes.runner().capture(&cmd).await.unwrap_err();
    assert!(matches!(err, RunError::Timeout { .. }), "{err}");
}

#[tokio::test]
async fn dropping_the_future_kills_the_child() {
    let fakes = Fakes::all();
    fakes.set_scenario(&json!({"rules": [{"tool": "juju", "args": ["wait"],
        "responses": [{"stdout": "ready\n", "hang": true}]}]}));
    let runner = fakes.runner();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let mut tx = Some(tx);
    let cmd = Cmd::juju(["wait"]);
    let mut on_event = |e| {
        if let RunEvent::Line(Stream::Stdout, l) = e
            && l == "ready"
            && let Some(tx) = tx.take()
        {
            let _ = tx.send(());
        }
    };
    let run = runner.run(&cmd, &mut on_event);
    tokio::select! {
        _ = run => panic!("the fake should still be running"),
        _ = rx => {}
    }
    let log: serde_json::Value = serde_json::from_str(
        std::fs::read_to_string(&fakes.log)
            .unwrap()
            .lines()
            .next()
            .unwrap(),
    )
    .unwrap();
    let pid = log["pid"].as_u64().unwrap();
    // SIGKILL was sent when the future was dropped; the kernel finishes it promptly.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let state = stat
            .rsplit(')')
            .next()
            .unwrap_or("")
            .trim_start()
            .chars()
            .next();
        if stat.is_empty() || state == Some('Z') {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "child {pid} still alive: {stat}"
        );
        std::thread::yield_now();
    }
}

#[test]
fn kubectl_falls_back_to_microk8s_kubectl() {
    let only_microk8s = Fakes::new(&["microk8s"]);
    let runner = only_microk8s.runner().with_kubectl_fallback();
    assert_eq!(runner.tools.kubectl, ["microk8s", "kubectl"]);
    let both = Fakes::new(&["microk8s", "kubectl"]);
    assert_eq!(
        both.runner().with_kubectl_fallback().tools,
        Tools::default()
    );
    assert_eq!(Tool::Kubectl.name(), "kubectl");
}
