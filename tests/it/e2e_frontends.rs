//! The real binary in a pseudo-terminal, driven by keys and read from the screen: a whole
//! install of a synthetic release against a real TLS registry and a fake juju, the same install
//! quit in the middle of the push and resumed by a new process, and a failing deploy command
//! retried.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use crate::cluster_support::{Fakes, answer, answer_file};
use crate::registry_support::proxy::TcpProxy;
use crate::registry_support::registry::{PASS, TestRegistry, USER};
use crate::support::answers::{self, registry_mut, skip};
use crate::support::pty::Pty;
use ckf_airgap::answers::{Answers, ClusterAnswers, DeployAnswers, RegistryAnswers};
use ckf_airgap::session::SessionStore;
use ckf_airgap::synth::{ReleaseSpec, SynthRelease, generate_release};
use ckf_airgap::wizard::{Msg, Step};
use serde_json::{Value, json};

const SIZE: (u16, u16) = (120, 40);

/// These tests each run a registry, the wizard and its tools; one at a time keeps a 2-core
/// machine responsive enough for the screen waits.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner())
}
const PASSWORD_ENV: &str = "CKF_TEST_TUI_PASSWORD";
const STATUS: [&str; 4] = ["status", "--model", "kubeflow", "--format=json"];
const COREDNS: [&str; 7] = [
    "-n",
    "kube-system",
    "get",
    "configmap",
    "coredns",
    "-o",
    "json",
];

/// The demo's bundle: the synthetic release's images and charms; kubeflow-volumes is a PodSpec
/// charm, so the preview moves it out and the deploy runs it separately.
const BUNDLE: &str = ckf_airgap::demo::DEMO_BUNDLE;

pub(crate) fn cluster(registry: &str) -> Value {
    json!({"rules": [
        answer_file("kubectl", &["version", "-o", "json"], "kubectl-version-1.24.json"),
        answer_file("kubectl", &["get", "storageclass", "-o", "json"], "storageclass-default.json"),
        answer_file("kubectl", &COREDNS, "coredns-local.json"),
        answer_file("resolvectl", &["status"], "resolvectl-status.txt"),
        answer_file("microk8s", &["status", "--format", "yaml"], "microk8s-status-metallb.yaml"),
        answer_file("kubectl", &["get", "svc", "-A", "-o", "json"], "svc-all-clusterip.json"),
        answer_file("kubectl", &["get", "ipaddresspools.metallb.io", "-A", "-o", "json"], "ipaddresspools.json"),
        answer("microk8s", &["version"], "MicroK8s v1.24.17 revision 5000\n", "", 0),
        {"tool": "df", "args_prefix": ["-B1"], "responses": [{"stdout": "      Avail\n107374182400\n"}]},
        answer("juju", &["version"], "2.9.45-ubuntu-amd64\n", "", 0),
        answer_file("juju", &["show-controller", "--format=json"], "juju-show-controller.json"),
        answer("juju", &["controller-config", "caas-image-repo"],
            &format!("{{\"repository\":\"{registry}/ckf/jujusolutions\",\"serveraddress\":\"{registry}\"}}\n"), "", 0),
        answer_file("juju", &["models", "--format=json"], "juju-models.json"),
        // The model reports active once the relations are in; before that it is empty.
        {"tool": "juju", "args": STATUS, "when_logged": {"tool": "juju", "args_prefix": ["relate"], "at_least": 1},
         "responses": [{"stdout_file": "status-active.json"}]},
        {"tool": "juju", "args": STATUS, "responses": [{"stdout_file": "status-empty.json"}]},
        answer_file("kubectl", &["-n", "kubeflow", "get", "svc", "istio-ingressgateway-workload", "-o", "json"], "svc-gateway-nodeport.json"),
        answer_file("kubectl", &["get", "nodes", "-o", "json"], "nodes.json"),
    ]})
}

struct World {
    dir: tempfile::TempDir,
    release: SynthRelease,
    fakes: Fakes,
    state: PathBuf,
    answers: PathBuf,
    /// What `answers` holds.
    spec: Answers,
}

impl World {
    /// Changes the answers and writes the file again.
    fn edit(&mut self, change: impl FnOnce(&mut Answers)) {
        change(&mut self.spec);
        answers::write(&self.answers, &self.spec);
    }
}

fn world(registry_addr: &str, ca: &Path) -> World {
    world_with(registry_addr, ca, |_| {})
}

/// `more`: the test's own answers.
fn world_with(registry_addr: &str, ca: &Path, more: impl FnOnce(&mut Answers)) -> World {
    let dir = tempfile::tempdir().unwrap();
    let release = generate_release(&ReleaseSpec::default(), &dir.path().join("rel")).unwrap();
    let bundle = dir.path().join("bundle.yaml");
    std::fs::write(&bundle, BUNDLE).unwrap();
    let fakes = Fakes::all();
    fakes.set_scenario(&cluster(registry_addr));
    let mut spec = Answers {
        artifacts: Some(answers::artifacts(
            &release.images_gz,
            release.charms_gz.as_ref().unwrap(),
        )),
        registry: Some(RegistryAnswers {
            ca_file: Some(ca.into()),
            ..answers::registry_login(format!("{registry_addr}/ckf"), USER, PASSWORD_ENV)
        }),
        bundle: Some(answers::bundle(&bundle)),
        gateway: Some(answers::node_port()),
        deploy: Some(DeployAnswers {
            separate_plan: Some("none".into()),
            watch_minutes: Some(1),
            ..answers::deploy("kubeflow")
        }),
        cluster: Some(ClusterAnswers {
            containerd_certs_dir: Some(dir.path().join("certs.d")),
            write_containerd_trust: true,
            registry_mirrors: Some(true),
            ..ClusterAnswers::default()
        }),
        ..Answers::default()
    };
    skip(
        &mut spec,
        "check:inotify",
        "this machine's limits are not under test",
    );
    more(&mut spec);
    let answers = dir.path().join("answers.toml");
    answers::write(&answers, &spec);
    World {
        state: dir.path().join("state"),
        answers,
        spec,
        dir,
        release,
        fakes,
    }
}

fn start(w: &World, extra: &[&str]) -> Pty {
    let env = w.fakes.env();
    let mut env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    env.push((PASSWORD_ENV, PASS));
    let state = w.state.display().to_string();
    let mut args = vec![
        "--state-dir",
        state.as_str(),
        "--answers",
        w.answers.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    Pty::spawn(&args, &env, w.dir.path(), SIZE)
}

/// Runs the current step with Enter and waits until it is done.
fn run_step(pty: &mut Pty, number: usize) {
    pty.wait_for_all(&[&format!("step {number}/9"), "Enter runs this step."]);
    pty.enter();
    pty.wait_for_all(&[&format!("step {number}/9"), "Enter moves to the next step."]);
}

fn next(pty: &mut Pty) {
    pty.enter();
}

#[test]
fn a_whole_install_in_the_full_screen_wizard() {
    let _serial = serial();
    let reg = TestRegistry::start();
    let w = world(&reg.addr(), &reg.ca_file);
    let mut pty = start(&w, &[]);

    run_step(&mut pty, 1); // environment checks against the fakes and the real registry
    pty.wait_for("containerd trusts the registry");
    next(&mut pty);
    run_step(&mut pty, 2); // artifacts
    pty.wait_for_all(&["Inventory: 4 images (", "of unique layers), 8 charms"]);
    next(&mut pty);
    run_step(&mut pty, 3); // registry login: the form is already filled in; Enter tests it
    next(&mut pty);
    run_step(&mut pty, 4); // push
    pty.wait_for("Images: 4 of 4 finished");
    next(&mut pty);
    run_step(&mut pty, 5); // mapping
    pty.wait_for("4 references: 4 matched");
    next(&mut pty);
    run_step(&mut pty, 6); // gateway (NodePort from the answers)
    next(&mut pty);
    pty.wait_for_all(&["step 7/9", "Enter runs this step."]);
    pty.enter();
    pty.wait_for("y write / n do not write");
    pty.send("y");
    pty.wait_for_all(&["step 7/9", "Enter moves to the next step."]);
    next(&mut pty);
    pty.wait_for_all(&["step 8/9", "Enter runs this step."]);
    pty.enter();
    pty.wait_for("Run 3 juju commands now?");
    pty.send("y");
    pty.wait_for_all(&["step 8/9", "Enter moves to the next step."]);
    next(&mut pty);
    pty.wait_for_all(&["step 9/9", "Enter runs this step."]);
    pty.enter();
    pty.wait_for_all(&["Dashboard: http://", "The install is complete. q quits."]);
    // Finished: q quits at once, without asking.
    pty.send("q");
    assert_eq!(pty.wait_exit(), 0);

    let deploys: Vec<String> = w
        .fakes
        .lines()
        .into_iter()
        .filter(|l| l.starts_with("juju deploy") || l.starts_with("juju relate"))
        .collect();
    assert_eq!(deploys.len(), 3, "{deploys:#?}");
    assert!(
        deploys[1].contains("kubeflow-volumes --resource oci-image=")
            && deploys[1].contains("/ckf/kubeflownotebookswg/volumes-web-app:v1.7.0"),
        "{deploys:#?}"
    );
    let edited = std::fs::read_to_string(w.dir.path().join("bundle.airgap.yaml")).unwrap();
    assert!(!edited.contains("172.17.0.2:5000"), "{edited}");
    assert!(
        !edited.contains("kubeflow-volumes:"),
        "the PodSpec app was moved out:\n{edited}"
    );
    assert_eq!(w.release.images.len(), 4);
}

#[test]
fn quitting_in_the_middle_of_the_push_and_resuming_in_a_new_process() {
    let _serial = serial();
    let reg = TestRegistry::start();
    let proxy = TcpProxy::start(reg.port);
    let addr = format!("127.0.0.1:{}", proxy.port);
    // The spooled path, so the upload happens in the push step.
    let w = world_with(&addr, &reg.ca_file, |a| {
        registry_mut(a).spool_before_push = true
    });
    let mut pty = start(&w, &[]);
    for n in 1..=3 {
        run_step(&mut pty, n);
        next(&mut pty);
    }
    // The push stalls once, after the first bytes of layer data went up.
    proxy.stall_once_after(proxy.up_bytes() + 64 * 1024);
    pty.wait_for_all(&["step 4/9", "Enter runs this step."]);
    pty.enter();
    assert!(
        proxy.wait_stalled(std::time::Duration::from_secs(30)),
        "the push never stalled"
    );
    pty.wait_for("Working. q stops and saves");
    pty.send("q");
    pty.wait_for("Quit ckf-airgap?");
    pty.send("y");
    assert_eq!(pty.wait_exit(), 130);

    let store = SessionStore::open(&w.state).unwrap();
    let summary = store.list().unwrap().remove(0);
    let file = summary.file.unwrap();
    assert_eq!(file.wizard.current, Step::ImagePush);
    assert!(!file.wizard.status(Step::ImagePush).is_settled());

    let mut pty = start(&w, &[]);
    pty.wait_for("Unfinished sessions were found");
    pty.wait_for("at Push images");
    pty.enter();
    pty.wait_for_all(&["step 4/9", "interrupted"]);
    pty.enter();
    pty.wait_for_all(&["step 4/9", "Enter moves to the next step."]);
    pty.wait_for("Images: 4 of 4 finished");
    pty.send("q");
    pty.send("y");
    assert_eq!(pty.wait_exit(), 130);
}

#[test]
fn a_failing_deploy_command_is_retried_from_the_screen() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let fakes = Fakes::all();
    let mut scenario = cluster("127.0.0.1:1");
    // Without the preview the bundle is deployed whole: the model settles after that deploy.
    for rule in scenario["rules"].as_array_mut().unwrap() {
        if rule.get("when_logged").is_some() {
            rule["when_logged"] = json!({"tool": "juju", "args_prefix": ["deploy"], "at_least": 2});
        }
    }
    // The fourth juju call of the deploy step is the bundle deploy: version, show-controller,
    // models, status, deploy.
    scenario["fail_at"] = json!({"tool": "juju", "call": 5, "exit": 1, "stderr": "ERROR cannot connect to the controller\n"});
    fakes.set_scenario(&scenario);
    let bundle = dir.path().join("bundle.yaml");
    std::fs::write(&bundle, BUNDLE).unwrap();
    let state = dir.path().join("state");
    let store = SessionStore::open(&state).unwrap();
    let mut session = store.create().unwrap();
    let mut choices = session.state().choices.clone();
    choices.bundle = Some(bundle.clone());
    choices.separate_plan = Some("none".into());
    choices.watch_minutes = Some(1);
    session.apply(Msg::SetChoices(Box::new(choices))).unwrap();
    for step in ckf_airgap::wizard::Flow::Install
        .steps()
        .take_while(|s| *s != Step::JujuDeploy)
    {
        session
            .apply(Msg::Skip {
                step,
                reason: "done by hand".into(),
            })
            .unwrap();
        session.apply(Msg::Next).unwrap();
    }
    let id = session.id().to_string();
    drop(session);

    let env = fakes.env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let state_arg = state.display().to_string();
    let mut pty = Pty::spawn(
        &["--state-dir", &state_arg, "--session", &id],
        &env,
        dir.path(),
        SIZE,
    );
    pty.wait_for_all(&["step 8/9", "Enter runs this step."]);
    pty.enter();
    pty.wait_for("Run 1 juju command now?");
    pty.send("y");
    pty.wait_for_all(&["ERROR cannot connect to the controller", "Enter retries"]);
    pty.enter();
    pty.wait_for("Run 1 juju command now?");
    pty.send("y");
    pty.wait_for_all(&["step 8/9", "Enter moves to the next step."]);
    pty.send("q");
    pty.send("y");
    // Every step before the last is done or skipped: quitting now is a finished install.
    assert_eq!(pty.wait_exit(), 0);
    let deploys = fakes
        .lines()
        .into_iter()
        .filter(|l| l.starts_with("juju deploy"))
        .count();
    assert_eq!(
        deploys, 2,
        "the failed deploy was tried once more and succeeded"
    );
}

type LineSession = expectrl::session::Session<
    expectrl::session::OsProcess,
    expectrl::stream::log::LogStream<expectrl::session::OsStream, std::io::Stderr>,
>;

/// The real binary in line mode with no password source, so it asks; everything it prints is
/// echoed to the test's output for the failure report.
fn spawn_line_mode_without_password(w: &mut World) -> LineSession {
    w.edit(|a| registry_mut(a).password_env = None);
    let mut cmd = std::process::Command::new(crate::support::BIN);
    cmd.arg("--state-dir")
        .arg(&w.state)
        .args(["--mode", "line", "--answers"])
        .arg(&w.answers)
        .env("TERM", "xterm-256color")
        .env("NO_COLOR", "1");
    for (k, v) in w.fakes.env() {
        cmd.env(k, v);
    }
    let mut p =
        expectrl::session::log(expectrl::Session::spawn(cmd).unwrap(), std::io::stderr()).unwrap();
    p.set_expect_timeout(Some(std::time::Duration::from_secs(30)));
    p
}

/// dialoguer reads a password only after flushing the terminal's pending input (TCSAFLUSH)
/// and turning echo off, so anything typed before that is lost: wait until echo is off.
fn wait_for_password_read(p: &LineSession) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while p.get_process().get_echo().unwrap() {
        assert!(
            std::time::Instant::now() < deadline,
            "the password prompt never turned echo off"
        );
        std::thread::yield_now();
    }
}

/// Line mode through its prompts: the checks and the artifacts run, the password is typed at a
/// masked prompt and tested against the registry, then the operator quits and the session keeps
/// where it stands (without the password).
#[test]
fn line_mode_prompts_run_steps_ask_the_password_and_quit() {
    let _serial = serial();
    use expectrl::Expect;
    let reg = TestRegistry::start();
    let mut w = world(&reg.addr(), &reg.ca_file);
    let mut p = spawn_line_mode_without_password(&mut w);
    p.expect("Run Environment checks").unwrap();
    p.send("\r").unwrap();
    p.expect("[environment-checks] done").unwrap();
    p.expect("Next step").unwrap();
    p.send("\r").unwrap();
    p.expect("Run Artifacts").unwrap();
    p.send("\r").unwrap();
    p.expect("[artifacts] done").unwrap();
    p.expect("Next step").unwrap();
    p.send("\r").unwrap();
    p.expect("Run Registry login").unwrap();
    p.send("\r").unwrap();
    // The prompt itself ("Password for <user> at <target>: "), so the password is typed only
    // once the prompt reads it.
    p.expect(format!("Password for {USER} at {}/ckf: ", reg.addr()).as_str())
        .unwrap();
    wait_for_password_read(&p);
    p.send_line(PASS).unwrap();
    p.expect("[registry-login] done").unwrap();
    p.expect("Quit (progress is saved)").unwrap();
    // Next step, Run again, Back, Quit: three down and Enter.
    for _ in 0..3 {
        p.send("\x1b[B").unwrap();
    }
    p.send("\r").unwrap();
    p.expect("interrupted: the session is saved").unwrap();
    p.expect(expectrl::Eof).unwrap();

    let store = SessionStore::open(&w.state).unwrap();
    let summary = store.list().unwrap().remove(0);
    let file = summary.file.unwrap();
    assert!(file.wizard.status(Step::RegistryLogin).is_settled());
    assert_eq!(file.wizard.current, Step::RegistryLogin);
    let session_json = std::fs::read_to_string(summary.dir.join("session.json")).unwrap();
    assert!(
        !session_json.contains(PASS),
        "the typed password reached the session file"
    );
    assert!(
        session_json.contains("\"prompt\""),
        "the password source is recorded as typed"
    );
}

/// Line mode offers what the full-screen screens offer: the registry form (with a typed,
/// masked password) and a prefix rewrite over every mapping row.
#[test]
fn line_mode_fills_the_registry_form_and_rewrites_a_mapping_prefix() {
    let _serial = serial();
    use expectrl::Expect;
    let reg = TestRegistry::start();
    let mut w = world(&reg.addr(), &reg.ca_file);
    let mut p = spawn_line_mode_without_password(&mut w);
    let down = |p: &mut dyn FnMut(&str), n: usize| {
        for _ in 0..n {
            p("\x1b[B");
        }
        p("\r");
    };
    for (run, done) in [
        ("Run Environment checks", "[environment-checks] done"),
        ("Run Artifacts", "[artifacts] done"),
    ] {
        p.expect(run).unwrap();
        p.send("\r").unwrap();
        p.expect(done).unwrap();
        p.expect("Next step").unwrap();
        p.send("\r").unwrap();
    }
    // Run, Enter the registry, Skip, Back, Quit.
    p.expect("Enter the registry").unwrap();
    down(&mut |k| p.send(k).unwrap(), 1);
    p.expect("Registry (host[:port][/prefix])").unwrap();
    p.send("\r").unwrap();
    p.expect("Username").unwrap();
    p.send("\r").unwrap();
    // The whole prompt: the password is read (and earlier input flushed) right after it.
    p.expect("Password (empty to keep the configured source): ")
        .unwrap();
    wait_for_password_read(&p);
    p.send_line(PASS).unwrap();
    p.expect("CA file").unwrap();
    p.send("\r").unwrap();
    p.expect("[registry-login] done").unwrap();
    p.expect("Next step").unwrap();
    p.send("\r").unwrap();
    p.expect("Run Push images").unwrap();
    p.send("\r").unwrap();
    p.expect("[image-push] done").unwrap();
    p.expect("Next step").unwrap();
    p.send("\r").unwrap();
    p.expect("Run Map placeholders").unwrap();
    p.send("\r").unwrap();
    p.expect("[placeholder-mapping] done").unwrap();
    // Next step, Run again, Map one by hand, Rewrite a target prefix, Leave one reference as
    // written, Back, Quit.
    p.expect("Rewrite a target prefix").unwrap();
    down(&mut |k| p.send(k).unwrap(), 3);
    p.expect("Prefix to replace").unwrap();
    p.send("\r").unwrap();
    p.expect("Replace it with").unwrap();
    p.send_line(format!("{}/elsewhere", reg.addr())).unwrap();
    p.expect("4 target(s) rewritten").unwrap();
    p.expect("[placeholder-mapping] failed").unwrap();
    // Retry, Map one by hand, Rewrite a target prefix, Leave one reference as written, Skip,
    // Back, Quit.
    p.expect("Quit (progress is saved)").unwrap();
    down(&mut |k| p.send(k).unwrap(), 6);
    p.expect("interrupted: the session is saved").unwrap();
    p.expect(expectrl::Eof).unwrap();

    let store = SessionStore::open(&w.state).unwrap();
    let file = store.list().unwrap().remove(0).file.unwrap();
    let registry = file.wizard.choices.registry.clone().unwrap();
    assert_eq!(registry.target, format!("{}/ckf", reg.addr()));
    assert_eq!(
        registry.password_source,
        Some(ckf_airgap::wizard::state::PasswordSource::Prompt)
    );
    assert!(file.wizard.status(Step::RegistryLogin).is_settled());
    let overrides = &file.wizard.choices.mapping_overrides;
    assert_eq!(overrides.len(), 4, "{overrides:?}");
    assert!(
        overrides
            .values()
            .all(|t| t.starts_with(&format!("{}/elsewhere/", reg.addr()))),
        "{overrides:?}"
    );
    assert!(matches!(
        file.wizard.status(Step::PlaceholderMapping),
        ckf_airgap::wizard::StepStatus::Failed { .. }
    ));
}

/// A dropped SSH link sends SIGHUP: the full-screen wizard saves and ends instead of lingering.
#[test]
fn a_hang_up_ends_the_full_screen_wizard_with_the_session_saved() {
    let _serial = serial();
    let reg = TestRegistry::start();
    let w = world(&reg.addr(), &reg.ca_file);
    let pty = start(&w, &[]);
    pty.wait_for_all(&["step 1/9", "Enter runs this step."]);
    let code = pty.hang_up();
    assert_eq!(code, Some(130), "the wizard did not end on SIGHUP");
    let store = SessionStore::open(&w.state).unwrap();
    assert!(
        store.list().unwrap()[0].file.is_some(),
        "the session is readable"
    );
}

/// A world whose session file turns into a directory while the environment checks run (the
/// fake kubectl does it), so the engine can no longer save the session: root cannot write
/// through that either.
fn world_whose_session_cannot_be_saved(reg: &TestRegistry) -> World {
    let w = world(&reg.addr(), &reg.ca_file);
    let mut scenario = cluster(&reg.addr());
    let session_file = format!("{}/sessions/*/session.json", w.state.display());
    scenario["rules"].as_array_mut().unwrap().insert(
        0,
        json!({"tool": "kubectl", "args": ["version", "-o", "json"], "responses": [
            {"stdout_file": "kubectl-version-1.24.json", "sabotage": session_file}]}),
    );
    w.fakes.set_scenario(&scenario);
    w
}

const CANNOT_GO_ON: &str = "the wizard cannot go on";

/// An engine error in the middle of a step ends each front end with the cause and exit 1,
/// and the full-screen wizard gives the terminal back first.
#[test]
fn an_engine_error_mid_step_ends_every_front_end_with_the_cause_and_exit_1() {
    let _serial = serial();
    let reg = TestRegistry::start();

    let w = world_whose_session_cannot_be_saved(&reg);
    let env = w.fakes.env();
    let mut env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    env.push((PASSWORD_ENV, PASS));
    let out = crate::support::run(
        &w.state,
        &[
            "--mode",
            "headless",
            "--answers",
            w.answers.to_str().unwrap(),
        ],
        &env,
    );
    let stdout = crate::support::text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains(&format!(
            "error: {CANNOT_GO_ON}: cannot save the session to"
        )),
        "{stdout}"
    );

    let w = world_whose_session_cannot_be_saved(&reg);
    let mut pty = start(&w, &["--mode", "line"]);
    pty.wait_for("Run Environment checks");
    pty.enter();
    assert_eq!(pty.wait_exit(), 1, "{}", pty.contents());
    assert!(pty.contents().contains(CANNOT_GO_ON), "{}", pty.contents());

    let w = world_whose_session_cannot_be_saved(&reg);
    let mut pty = start(&w, &[]);
    pty.wait_for_all(&["step 1/9", "Enter runs this step."]);
    pty.enter();
    assert_eq!(pty.wait_exit(), 1, "{}", pty.contents());
    let screen = pty.contents();
    assert!(screen.contains(CANNOT_GO_ON), "{screen}");
    assert!(
        !screen.contains("Enter runs this step."),
        "the terminal was given back before the message:\n{screen}"
    );
}
