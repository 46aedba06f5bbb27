//! Juju setup: `microk8s config | juju add-k8s` without a shell, the image pre-check, the exact
//! bootstrap argv with its caas-image-repo JSON, and the password kept out of every display.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};

use crate::cluster_support::{Fakes, answer, scenario};
use ckf_airgap::cluster::juju_setup::{self, ImageRepo, SetupError};
use ckf_airgap::cluster::{RunEvent, Version};

const PASSWORD: &str = "s3cr\"et\\pw";

fn repo() -> ImageRepo {
    ImageRepo::new("registry.dc.example:5000", "ckf").with_credentials("ckf-bot", PASSWORD)
}

#[tokio::test]
async fn add_k8s_gets_the_kubeconfig_on_stdin() {
    let fakes = Fakes::all();
    let kubeconfig = "apiVersion: v1\nclusters:\n- cluster:\n    server: https://10.20.0.11:16443\n  name: microk8s-cluster\nusers:\n- name: admin\n  user:\n    token: c2VjcmV0\n";
    fakes.set_scenario(&scenario(vec![answer(
        "microk8s",
        &["config"],
        kubeconfig,
        "",
        0,
    )]));
    let mut events = Vec::new();
    juju_setup::add_k8s(&fakes.runner(), "uk8s-cloud", None, &mut |e| events.push(e))
        .await
        .unwrap();
    let calls = fakes.calls();
    assert_eq!(
        fakes.lines(),
        ["microk8s config", "juju add-k8s uk8s-cloud --client"]
    );
    assert_eq!(calls[1].stdin.as_deref(), Some(kubeconfig));
    // The kubeconfig (with its token) never reached the event stream.
    assert!(!format!("{events:?}").contains("c2VjcmV0"));
}

#[tokio::test]
async fn bootstrap_argv_json_exact_and_password_never_shown() {
    let fakes = Fakes::all();
    let echo =
        format!("Creating Juju controller \"uk8s\"\nusing {PASSWORD} (a tool that echoes it)\n");
    fakes.set_scenario(
        &serde_json::json!({"rules": [{"tool": "juju", "args_prefix": ["bootstrap"],
        "responses": [{"stdout": echo, "stderr": format!("ERROR-ish {PASSWORD}\n")}]}]}),
    );
    let repo = repo();
    let json = r#"{"repository":"registry.dc.example:5000/ckf/jujusolutions","serveraddress":"registry.dc.example:5000","username":"ckf-bot","password":"s3cr\"et\\pw"}"#;
    assert_eq!(repo.json(), json);
    let images = juju_setup::juju_images(
        &repo,
        Version::new(2, 9, 44),
        &["20.04".into(), "ubuntu-22.04".into(), "ubuntu@20.04".into()],
    );
    let seen = Arc::new(Mutex::new(Vec::new()));
    let seen2 = seen.clone();
    let has_image = move |path: String, tag: String| {
        seen2.lock().unwrap().push(format!("{path}:{tag}"));
        async { true }
    };
    let mut events = Vec::new();
    let out = juju_setup::bootstrap(
        &fakes.runner(),
        "uk8s-cloud",
        "uk8s",
        &repo,
        &images,
        has_image,
        &mut |e| events.push(e),
    )
    .await
    .unwrap();
    assert_eq!(
        *seen.lock().unwrap(),
        [
            "ckf/jujusolutions/jujud-operator:2.9.44",
            "ckf/jujusolutions/juju-db:4.4",
            "ckf/jujusolutions/charm-base:ubuntu-20.04",
            "ckf/jujusolutions/charm-base:ubuntu-22.04",
        ]
    );
    let calls = fakes.calls();
    assert_eq!(
        calls[0].args,
        [
            "bootstrap",
            "uk8s-cloud",
            "uk8s",
            "--config",
            &format!("caas-image-repo={json}")
        ]
    );
    // Every display string, event and captured output is redacted.
    let cmd = juju_setup::bootstrap_cmd("uk8s-cloud", "uk8s", &repo);
    let mut shown = vec![
        cmd.display(),
        format!("{cmd:?}"),
        format!("{repo:?}"),
        repo.redacted_json(),
        juju_setup::display_config_arg(&repo),
        out.stdout.clone(),
        out.stderr.clone(),
    ];
    shown.extend(juju_setup::preview("uk8s-cloud", "uk8s", "kubeflow", &repo));
    shown.extend(events.iter().map(|e| format!("{e:?}")));
    for s in &shown {
        assert!(!s.contains("s3cr"), "password leaked in {s}");
    }
    assert!(
        events
            .iter()
            .any(|e| matches!(e, RunEvent::Line(_, l) if l.contains("using *** (a tool"))),
        "{events:?}"
    );
    assert_eq!(
        cmd.display(),
        r#"juju bootstrap uk8s-cloud uk8s --config 'caas-image-repo={"repository":"registry.dc.example:5000/ckf/jujusolutions","serveraddress":"registry.dc.example:5000","username":"ckf-bot","password":"***"}'"#
    );
    assert_eq!(
        juju_setup::preview("uk8s-cloud", "uk8s", "kubeflow", &repo)[0],
        "microk8s config | juju add-k8s uk8s-cloud --client"
    );
}

#[tokio::test]
async fn bootstrap_refuses_when_juju_images_are_missing() {
    let fakes = Fakes::all();
    let repo = repo();
    let images = juju_setup::juju_images(&repo, Version::new(3, 4, 6), &["22.04".into()]);
    let has_image = |path: String, _tag: String| async move { !path.ends_with("juju-db") };
    let err = juju_setup::bootstrap(
        &fakes.runner(),
        "c",
        "k",
        &repo,
        &images,
        has_image,
        &mut |_| {},
    )
    .await
    .unwrap_err();
    match err {
        SetupError::MissingImages(m) => {
            assert_eq!(
                m.iter().map(|i| i.to_string()).collect::<Vec<_>>(),
                ["ckf/jujusolutions/juju-db:4.4"]
            )
        }
        other => panic!("{other}"),
    }
    assert!(
        fakes.calls().is_empty(),
        "nothing may run before the images are there"
    );
    juju_setup::add_model(&fakes.runner(), "kubeflow", &mut |_| {})
        .await
        .unwrap();
    assert_eq!(fakes.lines(), ["juju add-model kubeflow"]);
}
