//! The Juju deploy step as the operator runs it: the real binary, headless, against a fake
//! juju and kubectl, with the real CKF 1.7 bundle and its PodSpec plan.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;

use crate::cluster_support::{Fakes, answer, answer_file};
use crate::support::answers::{self, skip_all_but};
use crate::support::{run_headless, text};
use ckf_airgap::answers::{Answers, DeployAnswers};
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
    answers: PathBuf,
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

/// A session whose steps before the deploy are skipped, the charms of the 1.7 plan in its
/// inventory, and answers deploying into `kubeflow` (`more`: the test's own answers).
fn setup(more: impl FnOnce(&mut Answers)) -> Setup {
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
    let mut spec = Answers {
        bundle: Some(answers::bundle(&bundle)),
        deploy: Some(DeployAnswers {
            watch_minutes: Some(0),
            ..answers::deploy("kubeflow")
        }),
        ..Answers::default()
    };
    skip_all_but(&mut spec, &["juju-deploy"], "t");
    more(&mut spec);
    let answers = dir.path().join("answers.toml");
    answers::write(&answers, &spec);
    Setup {
        dir,
        fakes,
        state,
        session: id,
        bundle,
        answers,
    }
}

/// `[deploy]` of the setup's answers.
fn deploy(a: &mut Answers) -> &mut DeployAnswers {
    a.deploy.as_mut().unwrap()
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

/// `deployed-state.json`: what the deploy recorded as installed.
fn installed(s: &Setup) -> Value {
    serde_json::from_slice(&std::fs::read(session_dir(s).join("deployed-state.json")).unwrap())
        .unwrap()
}

#[test]
fn the_whole_deploy_runs_each_command_once_and_finds_the_dashboard() {
    let s = setup(|a| deploy(a).run = true);
    s.fakes.set_scenario(&scenario(18, None));
    let (code, out) = run_headless(
        &s.state,
        &s.answers,
        &["--session", &s.session],
        &s.fakes.env(),
    );
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
    let katib_deploy = deploys
        .iter()
        .find(|l| l.contains("katib-controller_"))
        .unwrap();
    let config = katib_deploy
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

    // The record of what runs: the bundle's applications and each separately deployed charm
    // with the file, images and options its command used.
    let record = installed(&s);
    assert_eq!(record["ckf_release"], "1.7", "{record:#}");
    assert_eq!(record["model"], "kubeflow");
    let apps = record["applications"].as_array().unwrap();
    let bundle = ckf_airgap::bundle::model::Bundle::load(&s.bundle).unwrap();
    assert_eq!(apps.len(), bundle.applications.len() + 16, "{record:#}");
    assert!(
        apps.iter().all(|a| a["outcome"]["state"] == "deployed"),
        "{record:#}"
    );
    let katib = apps
        .iter()
        .find(|a| a["application"] == "katib-controller")
        .unwrap();
    assert_eq!(katib["charm"], "katib-controller");
    assert_eq!(katib["charmhub_revision"], 1);
    let katib_file = katib["config_file"].as_str().unwrap();
    assert!(
        katib_deploy.contains(&format!("--config {katib_file}")),
        "{katib_deploy}"
    );
    assert!(
        katib["config"]["custom_images"].as_str().is_some(),
        "{katib:#}"
    );
    let first = &bundle.applications[0];
    let recorded = apps
        .iter()
        .find(|a| a["application"] == first.name.as_str())
        .unwrap();
    assert_eq!(
        recorded["charm"],
        first.charm_name().as_str(),
        "{recorded:#}"
    );
    assert_eq!(
        recorded["resources"].as_object().unwrap().len(),
        first.resources.len(),
        "{recorded:#}"
    );

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
    let s = setup(|a| deploy(a).run = true);
    s.fakes.set_scenario(&scenario(
        18,
        Some(json!({"tool": "juju", "call": 13, "exit": 1, "stderr": "ERROR connection is shut down\n"})),
    ));
    let (code, out) = run_headless(
        &s.state,
        &s.answers,
        &["--session", &s.session],
        &s.fakes.env(),
    );
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("failed: "), "{out}");
    assert!(out.contains("Retry runs it again"), "{out}");
    let before = deploys(&s.fakes);
    // What ran before the failure is recorded; the failed command's application and those
    // after it are not.
    let record = installed(&s);
    let recorded: Vec<&str> = record["applications"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["application"].as_str().unwrap())
        .collect();
    let failed = before.last().unwrap();
    let bundle_apps = ckf_airgap::bundle::model::Bundle::load(&s.bundle)
        .unwrap()
        .applications
        .len();
    // The bundle, then every charm deploy but the failed one.
    let charms_ran = before.iter().filter(|l| l.contains(".charm ")).count() - 1;
    assert_eq!(recorded.len(), bundle_apps + charms_ran, "{recorded:?}");
    assert!(
        !recorded
            .iter()
            .any(|a| failed.contains(&format!(".charm {a} "))),
        "{failed} is recorded: {recorded:?}"
    );

    // The same call number would fail again: the retry gets a scenario without the fault. It
    // reads the status once before the first unfinished command and once after each of the 12
    // charm deploys still to do; the next read is the watch's.
    std::fs::remove_file(&s.fakes.log).unwrap();
    s.fakes.set_scenario(&scenario(13, None));
    let (code, out) = run_headless(
        &s.state,
        &s.answers,
        &["--session", &s.session],
        &s.fakes.env(),
    );
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
    let s = setup(|a| deploy(a).dry_run = true);
    s.fakes.set_scenario(&scenario(1, None));
    let (code, out) = run_headless(
        &s.state,
        &s.answers,
        &["--session", &s.session],
        &s.fakes.env(),
    );
    assert_eq!(code, 0, "{out}");
    assert!(deploys(&s.fakes).is_empty(), "{:?}", s.fakes.lines());
    assert!(out.contains("Deploy plan: 31 commands"), "{out}");
    assert!(out.contains("dry run"), "{out}");
    assert!(session_dir(&s).join("deploy-config").exists() || out.contains("katib-controller"));
}

#[test]
fn without_consent_a_headless_run_stops_before_running_anything() {
    let s = setup(|_| {});
    s.fakes.set_scenario(&scenario(1, None));
    let (code, out) = run_headless(
        &s.state,
        &s.answers,
        &["--session", &s.session],
        &s.fakes.env(),
    );
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("deploy.run"), "{out}");
    assert!(deploys(&s.fakes).is_empty());
}

#[test]
fn without_a_controller_the_bootstrap_checks_jujus_images_in_the_registry_first() {
    use crate::registry_support::registry::{PASS, TestRegistry};
    let reg = TestRegistry::start();
    let s = setup(|a| {
        deploy(a).run = true;
        with_registry(a, &reg);
        a.cluster.get_or_insert_default().bootstrap = true;
    });
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
    let (code, out) = run_headless(
        &s.state,
        &s.answers,
        &["--session", &s.session],
        &s.fakes.env_with(&[("CKF_TEST_PW", PASS)]),
    );
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
    // The images are looked up before the plan runs: nothing changed in the cluster.
    assert_eq!(
        s.fakes.lines(),
        ["juju version", "juju show-controller --format=json"]
    );
    // The password never appears in what was shown or recorded.
    assert!(!out.contains(PASS));
}

// The Juju setup as the first actions of the plan: no controller, so `juju add-k8s`,
// `juju bootstrap` and `juju add-model` are shown, written and confirmed with the deploy.

const PW_ENV: &str = "CKF_TEST_PW";

/// The fake says there is no controller at every look, so only the session can tell that a
/// bootstrap already happened.
fn without_controller(mut scenario: Value) -> Value {
    let rules = scenario["rules"].as_array_mut().unwrap();
    rules.retain(|r| r["args"] != json!(["show-controller", "--format=json"]));
    rules.insert(
        0,
        answer(
            "juju",
            &["show-controller", "--format=json"],
            "",
            "ERROR No controllers registered.\n",
            1,
        ),
    );
    rules.push(answer(
        "microk8s",
        &["config"],
        "apiVersion: v1\nkind: Config\n",
        "",
        0,
    ));
    scenario
}

/// `add-model`'s answer, put before the catch-all so it wins.
fn with_add_model(mut scenario: Value, response: Value) -> Value {
    scenario["rules"].as_array_mut().unwrap().insert(
        0,
        json!({"tool": "juju", "args": ["add-model", "kubeflow"], "responses": [response]}),
    );
    scenario
}

/// The answers' registry: the test registry, its password from the environment.
fn with_registry(a: &mut Answers, reg: &crate::registry_support::registry::TestRegistry) {
    use crate::registry_support::registry::USER;
    a.registry = Some(ckf_airgap::answers::RegistryAnswers {
        ca_file: Some(reg.ca_file.clone()),
        ..answers::registry_login(format!("{}/ckf", reg.addr()), USER, PW_ENV)
    });
}

/// Juju's own images for a 2.9.45 controller (the charms declare no base), pushed with skopeo.
fn push_juju_images(reg: &crate::registry_support::registry::TestRegistry) {
    use crate::registry_support::registry::{PASS, USER};
    use ckf_airgap::synth::{ImageSpec, LayerSpec, write_oci_layout};
    let work = tempfile::tempdir().unwrap();
    let layout = work.path().join("layout");
    let spec = ImageSpec {
        reference: "juju".into(),
        layers: vec![LayerSpec { seed: 7, size: 64 }],
    };
    write_oci_layout(&layout, &[("juju".into(), spec)], true).unwrap();
    for name in ["jujud-operator:2.9.45", "juju-db:4.4"] {
        let out = std::process::Command::new("skopeo")
            .args(["copy", "-q", "--insecure-policy", "--dest-cert-dir"])
            .arg(&reg.cert_dir)
            .args(["--dest-creds", &format!("{USER}:{PASS}")])
            .arg(format!("oci:{}:juju", layout.display()))
            .arg(format!("docker://{}/ckf/jujusolutions/{name}", reg.addr()))
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", text(&out.stderr));
    }
}

fn plan_file(s: &Setup) -> Value {
    serde_json::from_slice(&std::fs::read(session_dir(s).join("deploy-plan.json")).unwrap())
        .unwrap()
}

fn ran(fakes: &Fakes, prefix: &str) -> bool {
    fakes.lines().iter().any(|l| l.starts_with(prefix))
}

const SETUP_COMMANDS: [&str; 4] = [
    "microk8s config",
    "juju add-k8s",
    "juju bootstrap",
    "juju add-model",
];

#[test]
fn without_a_controller_the_setup_heads_the_plan_and_nothing_runs_without_consent() {
    use crate::registry_support::registry::{PASS, TestRegistry};
    let reg = TestRegistry::start();
    // `[deploy] run` is given, `[cluster] bootstrap` is not: the run consents to a deploy,
    // never to a bootstrap.
    let s = setup(|a| {
        with_registry(a, &reg);
        deploy(a).run = true;
    });
    s.fakes
        .set_scenario(&without_controller(scenario(18, None)));
    let (code, out) = run_headless(
        &s.state,
        &s.answers,
        &["--session", &s.session],
        &s.fakes.env_with(&[(PW_ENV, PASS)]),
    );
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("[cluster] bootstrap = true"), "{out}");
    assert!(out.contains("Nothing was run"), "{out}");
    // Only the read-only look at the controller ran.
    assert_eq!(
        s.fakes.lines(),
        ["juju version", "juju show-controller --format=json"]
    );

    let plan = plan_file(&s);
    let commands = plan["commands"].as_array().unwrap();
    let ids: Vec<&str> = commands.iter().map(|c| c["id"].as_str().unwrap()).collect();
    assert_eq!(
        ids[..4],
        ["add-k8s", "bootstrap", "add-model", "deploy-bundle"]
    );
    assert_eq!(commands.len(), 3 + 31);
    assert_eq!(
        commands[0]["argv"],
        json!(["juju", "add-k8s", "ckf-k8s", "--client"])
    );
    assert_eq!(commands[0]["stdin_from"], json!(["microk8s", "config"]));
    let bootstrap = commands[1]["argv"].to_string();
    assert!(
        bootstrap.contains(r#"\"username\":\"tester\",\"password\":\"***\""#),
        "the credentials are in the command, the password redacted: {bootstrap}"
    );
    assert_eq!(
        commands[2]["argv"],
        json!(["juju", "add-model", "kubeflow"])
    );
    assert!(!plan.to_string().contains(PASS));

    // The preview lists them before the first deploy, as the plan runs them.
    assert!(out.contains("Deploy plan: 34 commands"), "{out}");
    let at = |needle: &str| {
        out.find(needle)
            .unwrap_or_else(|| panic!("{needle:?} is not shown: {out}"))
    };
    let order = [
        at(" 1. microk8s config | juju add-k8s ckf-k8s --client"),
        at(" 2. juju bootstrap ckf-k8s ckf --config 'caas-image-repo="),
        at(" 3. juju add-model kubeflow"),
        at(&format!(" 4. juju deploy {}", s.bundle.display())),
    ];
    assert!(order.is_sorted(), "{out}");
    assert!(!out.contains(PASS));
}

#[test]
fn refusing_the_plan_in_the_full_screen_wizard_sets_nothing_up() {
    use crate::registry_support::registry::{PASS, TestRegistry};
    use crate::support::pty::Pty;
    use ckf_airgap::wizard::{Msg, Step};
    let reg = TestRegistry::start();
    push_juju_images(&reg);
    let s = setup(|a| with_registry(a, &reg));
    s.fakes
        .set_scenario(&without_controller(scenario(18, None)));
    // The steps before the deploy are settled, as the answers' skips leave them.
    let store = SessionStore::open(&s.state).unwrap();
    let mut session = store.open_session(&s.session).unwrap();
    for step in ckf_airgap::wizard::Flow::Install
        .steps()
        .take_while(|s| *s != Step::JujuDeploy)
    {
        session
            .apply(Msg::Skip {
                step,
                reason: "t".into(),
            })
            .unwrap();
        session.apply(Msg::Next).unwrap();
    }
    drop(session);
    let env = s.fakes.env();
    let mut env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    env.push((PW_ENV, PASS));
    let state = s.state.display().to_string();
    let mut pty = Pty::spawn(
        &[
            "--state-dir",
            &state,
            "--answers",
            s.answers.to_str().unwrap(),
            "--session",
            &s.session,
        ],
        &env,
        s.dir.path(),
        (120, 40),
    );
    pty.wait_for_all(&["step 8/9", "Enter runs this step."]);
    pty.enter();
    // One question for the whole plan, bootstrap included.
    pty.wait_for_all(&[
        "microk8s config | juju add-k8s ckf-k8s --client",
        "Bootstrap one on MicroK8s and run",
        "34 juju commands now, as shown?",
    ]);
    let asked = s.fakes.lines();
    assert_eq!(
        asked,
        ["juju version", "juju show-controller --format=json"],
        "something ran before the consent"
    );
    pty.send("n");
    pty.wait_for("not confirmed");
    pty.send("q");
    pty.wait_for("Quit ckf-airgap?");
    pty.send("y");
    pty.wait_exit();
    for command in SETUP_COMMANDS {
        assert!(
            !ran(&s.fakes, command),
            "{command} ran: {:?}",
            s.fakes.lines()
        );
    }
    assert!(deploys(&s.fakes).is_empty());
}

/// The binary, headless, until the fake `juju add-model` says it started (it then hangs), then
/// SIGKILL: the bootstrap before it is finished and recorded, the add-model is not.
fn run_until_add_model_then_kill(s: &Setup) {
    use crate::registry_support::registry::PASS;
    use std::io::BufRead;
    let mut cmd = std::process::Command::new(crate::support::BIN);
    cmd.arg("--state-dir")
        .arg(&s.state)
        .args(["--mode", "headless", "--answers"])
        .arg(&s.answers)
        .args(["--session", &s.session])
        .env_remove("CKF_AIRGAP_STATE_DIR")
        .env("NO_COLOR", "1")
        .env(PW_ENV, PASS)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null());
    for (k, v) in s.fakes.env() {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    let lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let mut seen = Vec::new();
    for line in lines {
        let line = line.unwrap();
        if line.contains("adding the model now") {
            break;
        }
        seen.push(line);
    }
    assert!(
        ran(&s.fakes, "juju add-model"),
        "the run ended before add-model: {seen:#?}"
    );
    child.kill().unwrap();
    child.wait().unwrap();
    // The hanging fake outlives its parent: end it too.
    for call in std::fs::read_to_string(&s.fakes.log).unwrap().lines() {
        let call: Value = serde_json::from_str(call).unwrap();
        if call["args"] == json!(["add-model", "kubeflow"]) {
            let pid = call["pid"].to_string();
            let _ = std::process::Command::new("kill")
                .args(["-KILL", &pid])
                .status();
        }
    }
}

#[test]
fn a_run_killed_after_the_bootstrap_does_not_bootstrap_again() {
    use crate::registry_support::registry::{PASS, TestRegistry};
    let reg = TestRegistry::start();
    push_juju_images(&reg);
    let s = setup(|a| {
        with_registry(a, &reg);
        deploy(a).run = true;
        a.cluster.get_or_insert_default().bootstrap = true;
    });
    s.fakes.set_scenario(&with_add_model(
        without_controller(scenario(18, None)),
        json!({"stdout": "adding the model now\n", "hang": true}),
    ));
    run_until_add_model_then_kill(&s);
    let first = s.fakes.lines();
    let setup_calls: Vec<&String> = first
        .iter()
        .filter(|l| SETUP_COMMANDS.iter().any(|c| l.starts_with(c)))
        .collect();
    assert_eq!(setup_calls.len(), 4, "{first:#?}");
    for (call, command) in setup_calls.iter().zip(SETUP_COMMANDS) {
        assert!(call.starts_with(command), "{first:#?}");
    }
    // The bootstrap used the registry's credentials from the in-memory password...
    let bootstrap = first
        .iter()
        .find(|l| l.starts_with("juju bootstrap"))
        .unwrap();
    assert!(
        bootstrap.contains(&format!(r#""password":"{PASS}""#)),
        "{bootstrap}"
    );
    // ...which neither the plan file nor the session's log holds.
    assert!(!plan_file(&s).to_string().contains(PASS));
    let log = std::fs::read_to_string(session_dir(&s).join("ckf-airgap.log")).unwrap();
    assert!(!log.contains(PASS));
    assert!(log.contains(r#""password":"***""#), "{log}");

    // A new process resumes the session; the fake still says there is no controller.
    std::fs::remove_file(&s.fakes.log).unwrap();
    s.fakes
        .set_scenario(&without_controller(scenario(18, None)));
    let (code, out) = run_headless(
        &s.state,
        &s.answers,
        &["--session", &s.session],
        &s.fakes.env_with(&[(PW_ENV, PASS)]),
    );
    assert_eq!(code, 0, "{out}");
    for command in ["microk8s config", "juju add-k8s", "juju bootstrap"] {
        assert!(!ran(&s.fakes, command), "{command} ran again: {out}");
    }
    assert!(ran(&s.fakes, "juju add-model kubeflow"));
    assert_eq!(deploys(&s.fakes).len(), 1 + 16 + 14);
}

/// Renames every key `from` in the session's files (state and journals) to `to` with `detail`,
/// as a session recorded by an earlier version holds it; returns how many it renamed.
fn rename_unit(dir: &std::path::Path, from: &str, to: &str, detail: Value) -> usize {
    fn walk(v: &mut Value, from: &str, to: &str, detail: &Value) -> usize {
        let mut n = 0;
        if let Some(o) = v.as_object_mut() {
            if o.remove(from).is_some() {
                o.insert(to.to_owned(), detail.clone());
                n += 1;
            }
            if o.get("unit").and_then(Value::as_str) == Some(from) {
                o.insert("unit".into(), json!(to));
                o.insert("detail".into(), detail.clone());
                n += 1;
            }
            for child in o.values_mut() {
                n += walk(child, from, to, detail);
            }
        } else if let Some(a) = v.as_array_mut() {
            for child in a {
                n += walk(child, from, to, detail);
            }
        }
        n
    }
    let mut renamed = 0;
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name == "session.json" {
            let mut v: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
            renamed += walk(&mut v, from, to, &detail);
            std::fs::write(&path, serde_json::to_vec_pretty(&v).unwrap()).unwrap();
        } else if name.starts_with("journal-") && name.ends_with(".jsonl") {
            let text = std::fs::read_to_string(&path).unwrap();
            let mut out = String::new();
            for line in text.lines() {
                let mut v: Value = serde_json::from_str(line).unwrap();
                renamed += walk(&mut v, from, to, &detail);
                out.push_str(&v.to_string());
                out.push('\n');
            }
            std::fs::write(&path, out).unwrap();
        }
    }
    renamed
}

#[test]
fn a_session_an_earlier_version_bootstrapped_does_not_bootstrap_again() {
    use crate::registry_support::registry::{PASS, TestRegistry};
    let reg = TestRegistry::start();
    push_juju_images(&reg);
    let s = setup(|a| {
        with_registry(a, &reg);
        deploy(a).run = true;
        a.cluster.get_or_insert_default().bootstrap = true;
    });
    s.fakes.set_scenario(&with_add_model(
        without_controller(scenario(18, None)),
        json!({"exit": 1, "stderr": "ERROR connection is shut down\n"}),
    ));
    let (code, out) = run_headless(
        &s.state,
        &s.answers,
        &["--session", &s.session],
        &s.fakes.env_with(&[(PW_ENV, PASS)]),
    );
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("add-model failed"), "{out}");
    assert!(ran(&s.fakes, "juju bootstrap"), "{out}");
    // Earlier versions recorded the setup as units of its own, without `cmd:`.
    let dir = session_dir(&s);
    assert_eq!(
        rename_unit(&dir, "cmd:add-k8s", "add-k8s", json!({"cloud": "ckf-k8s"})),
        1
    );
    assert_eq!(
        rename_unit(
            &dir,
            "cmd:bootstrap",
            "bootstrap",
            json!({"controller": "ckf"})
        ),
        1
    );

    std::fs::remove_file(&s.fakes.log).unwrap();
    s.fakes
        .set_scenario(&without_controller(scenario(18, None)));
    let (code, out) = run_headless(
        &s.state,
        &s.answers,
        &["--session", &s.session],
        &s.fakes.env_with(&[(PW_ENV, PASS)]),
    );
    assert_eq!(code, 0, "{out}");
    for command in ["microk8s config", "juju add-k8s", "juju bootstrap"] {
        assert!(!ran(&s.fakes, command), "{command} ran again: {out}");
    }
    assert_eq!(deploys(&s.fakes).len(), 1 + 16 + 14);
}
