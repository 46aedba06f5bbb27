//! The Juju deploy step as the operator runs it: the real binary, headless, against a fake
//! juju and kubectl, with the real CKF 1.7 bundle and its PodSpec plan.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;

use crate::cluster_support::{Fakes, answer, answer_file};
use crate::support::{run, text};
use ckf_airgap::artifacts::charms::CharmVersion;
use ckf_airgap::artifacts::{CharmInfo, CharmKind, Inventory};
use ckf_airgap::bundle::podspec::PodspecRelease;
use ckf_airgap::session::SessionStore;
use serde_json::{Value, json};

const STATUS: [&str; 4] = ["status", "--model", "kubeflow", "--format=json"];

struct Setup {
    dir: tempfile::TempDir,
    fakes: Fakes,
    state: PathBuf,
    session: String,
    bundle: PathBuf,
}

fn scenario(status_reads_before_settling: usize, fail_at: Option<Value>) -> Value {
    let mut status: Vec<Value> = (0..status_reads_before_settling)
        .map(|_| json!({"stdout_file": "status-empty.json"}))
        .collect();
    status.push(json!({"stdout_file": "status-active.json"}));
    let mut s = json!({"rules": [
        answer("juju", &["version"], "2.9.45-ubuntu-amd64\n", "", 0),
        answer_file("juju", &["show-controller", "--format=json"], "juju-show-controller.json"),
        answer_file("juju", &["models", "--format=json"], "juju-models.json"),
        {"tool": "juju", "args": STATUS, "responses": status},
        answer_file("kubectl", &["-n", "kubeflow", "get", "svc", "istio-ingressgateway-workload", "-o", "json"], "svc-gateway-nodeport.json"),
        answer_file("kubectl", &["get", "nodes", "-o", "json"], "nodes.json"),
    ]});
    if let Some(f) = fail_at {
        s["fail_at"] = f;
    }
    s
}

fn setup(extra: &str) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let fakes = Fakes::all();
    let state = dir.path().join("state");
    let bundle = dir.path().join("bundle.airgap.yaml");
    std::fs::copy(
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/bundles/ckf-1.7-edge-airgap-bundle.yaml"
        ),
        &bundle,
    )
    .unwrap();
    let store = SessionStore::open(&state).unwrap();
    let session = store.create().unwrap();
    let id = session.id().to_string();
    let session_dir = session.dir().to_path_buf();
    drop(session);
    // The charms the artifacts step would have extracted: the PodSpec ones of the 1.7 plan.
    let plan = PodspecRelease::Ckf17Edge.plan().unwrap();
    let charms = plan
        .apps
        .iter()
        .map(|app| {
            let file = app.charm_file.trim_start_matches("./").to_string();
            CharmInfo {
                name: file.rsplit_once('_').unwrap().0.to_string(),
                spool_path: format!("charms/{file}"),
                default_files: Default::default(),
                file_name: file,
                version: CharmVersion::Revision(1),
                kind: CharmKind::PodSpec,
                resources: vec![],
                options: vec![],
                bases: vec![],
                base_images: vec![],
                sha256: String::new(),
                size: 0,
            }
        })
        .collect();
    // As the artifacts step leaves it.
    ckf_airgap::engine::outputs::write(
        &session_dir,
        &Inventory {
            images: vec![],
            charms,
        },
    )
    .unwrap();
    let answers = dir.path().join("answers.toml");
    std::fs::write(
        &answers,
        format!(
            "[bundle]\nfile = {bundle:?}\n\n[deploy]\nmodel = \"kubeflow\"\nwatch_minutes = 0\n{extra}\n\
             [skip]\nenvironment-checks = \"t\"\nartifacts = \"t\"\nregistry-login = \"t\"\nimage-push = \"t\"\n\
             placeholder-mapping = \"t\"\ngateway-type = \"t\"\nbundle-preview = \"t\"\n"
        ),
    )
    .unwrap();
    Setup {
        dir,
        fakes,
        state,
        session: id,
        bundle,
    }
}

fn run_headless(s: &Setup) -> (i32, String) {
    run_headless_with(s, &[])
}

fn run_headless_with(s: &Setup, extra: &[(&str, &str)]) -> (i32, String) {
    let env = s.fakes.env();
    let mut env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    env.extend_from_slice(extra);
    let answers = s.dir.path().join("answers.toml");
    let out = run(
        &s.state,
        &[
            "--mode",
            "headless",
            "--answers",
            answers.to_str().unwrap(),
            "--session",
            &s.session,
        ],
        &env,
    );
    (
        out.status.code().unwrap_or(-1),
        text(&out.stdout) + &text(&out.stderr),
    )
}

fn deploys(fakes: &Fakes) -> Vec<String> {
    fakes
        .lines()
        .into_iter()
        .filter(|l| l.starts_with("juju deploy") || l.starts_with("juju relate"))
        .collect()
}

fn session_dir(s: &Setup) -> PathBuf {
    s.state.join("sessions").join(&s.session)
}

#[test]
fn the_whole_deploy_runs_each_command_once_and_finds_the_dashboard() {
    let s = setup("run = true\n");
    s.fakes.set_scenario(&scenario(18, None));
    let (code, out) = run_headless(&s);
    assert_eq!(code, 0, "{out}");
    let deploys = deploys(&s.fakes);
    assert_eq!(
        deploys[0],
        format!(
            "juju deploy {} --trust --model kubeflow",
            s.bundle.display()
        )
    );
    let apps = deploys.iter().filter(|l| l.contains(".charm ")).count();
    let relations = deploys
        .iter()
        .filter(|l| l.starts_with("juju relate"))
        .count();
    assert_eq!((apps, relations), (16, 14), "{deploys:#?}");
    let katib = deploys
        .iter()
        .find(|l| l.contains("katib-controller_"))
        .unwrap();
    let config = katib
        .split("--config ")
        .nth(1)
        .unwrap()
        .split(' ')
        .next()
        .unwrap();
    let config = std::fs::read_to_string(config).unwrap();
    assert!(
        config.starts_with("katib-controller:\n  custom_images: \""),
        "{config}"
    );
    assert!(out.contains("[done] the install is complete"), "{out}");

    let store = SessionStore::open(&s.state).unwrap();
    let file = store.list().unwrap()[0].file.clone().unwrap();
    let url = &file
        .wizard
        .record(ckf_airgap::wizard::Step::JujuDeploy)
        .ledger["dashboard"]["url"];
    assert_eq!(
        url.as_str().map(|u| u.starts_with("http://")),
        Some(true),
        "{url}"
    );
}

#[test]
fn a_failure_in_the_middle_then_a_retry_runs_only_the_rest() {
    let s = setup("run = true\n");
    s.fakes.set_scenario(&scenario(
        18,
        Some(json!({"tool": "juju", "call": 13, "exit": 1, "stderr": "ERROR connection is shut down\n"})),
    ));
    let (code, out) = run_headless(&s);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("failed: "), "{out}");
    assert!(out.contains("Retry runs it again"), "{out}");
    let before = deploys(&s.fakes);

    // The same call number would fail again: the retry gets a scenario without the fault. It
    // reads the status once before the first unfinished command and once after each of the 12
    // charm deploys still to do; the next read is the watch's.
    std::fs::remove_file(&s.fakes.log).unwrap();
    s.fakes.set_scenario(&scenario(13, None));
    let (code, out) = run_headless(&s);
    assert_eq!(code, 0, "{out}");
    let after = deploys(&s.fakes);
    for line in &after {
        let earlier = before.iter().filter(|b| *b == line).count();
        assert!(
            earlier == 0 || before.last() == Some(line),
            "{line} ran again after it had succeeded"
        );
    }
    assert_eq!(
        before.len() - 1 + after.len(),
        1 + 16 + 14,
        "{before:#?}\n{after:#?}"
    );
}

#[test]
fn a_dry_run_shows_the_plan_and_runs_nothing() {
    let s = setup("dry_run = true\n");
    s.fakes.set_scenario(&scenario(1, None));
    let (code, out) = run_headless(&s);
    assert_eq!(code, 0, "{out}");
    assert!(deploys(&s.fakes).is_empty(), "{:?}", s.fakes.lines());
    assert!(out.contains("Deploy plan: 31 commands"), "{out}");
    assert!(out.contains("dry run"), "{out}");
    assert!(session_dir(&s).join("deploy-config").exists() || out.contains("katib-controller"));
}

#[test]
fn without_consent_a_headless_run_stops_before_running_anything() {
    let s = setup("");
    s.fakes.set_scenario(&scenario(1, None));
    let (code, out) = run_headless(&s);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("deploy.run"), "{out}");
    assert!(deploys(&s.fakes).is_empty());
}

#[test]
fn without_a_controller_the_bootstrap_checks_jujus_images_in_the_registry_first() {
    use crate::registry_support::registry::{PASS, TestRegistry, USER};
    let reg = TestRegistry::start();
    let s = setup(&format!(
        "run = true\n\n[registry]\ntarget = \"{}/ckf\"\nusername = \"{USER}\"\npassword_env = \"CKF_TEST_PW\"\nca_file = {:?}\n\n[cluster]\nbootstrap = true\n",
        reg.addr(),
        reg.ca_file
    ));
    let mut scenario = scenario(18, None);
    for rule in scenario["rules"].as_array_mut().unwrap() {
        if rule["args"] == json!(["show-controller", "--format=json"]) {
            *rule = answer(
                "juju",
                &["show-controller", "--format=json"],
                "",
                "ERROR No controllers registered.\n",
                1,
            );
        }
    }
    scenario["rules"].as_array_mut().unwrap().push(answer(
        "microk8s",
        &["config"],
        "apiVersion: v1\nkind: Config\n",
        "",
        0,
    ));
    s.fakes.set_scenario(&scenario);
    let (code, out) = run_headless_with(&s, &[("CKF_TEST_PW", PASS)]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("Juju's images are missing from the registry"),
        "{out}"
    );
    assert!(
        out.contains("ckf/jujusolutions/jujud-operator:2.9.45"),
        "{out}"
    );
    assert!(out.contains("ckf/jujusolutions/juju-db:4.4"), "{out}");
    let lines = s.fakes.lines();
    assert!(
        lines.iter().any(|l| l.starts_with("juju add-k8s ckf-k8s")),
        "{lines:?}"
    );
    assert!(
        !lines.iter().any(|l| l.starts_with("juju bootstrap")),
        "bootstrapped without images: {lines:?}"
    );
    // The password never appears in what was shown or recorded.
    assert!(!out.contains(PASS));
}
