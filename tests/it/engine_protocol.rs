//! The engine's protocol, with the real driver and session store over a scripted step work:
//! the engine alone decides what "proceed" means, carries out the effects of its transitions
//! (a retry runs the step), and applies typed choice changes one field at a time.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ckf_airgap::engine::events::{Answer, InputKind, InputRequest};
use ckf_airgap::engine::fingerprint::describe_change;
use ckf_airgap::engine::steps::Builtin;
use ckf_airgap::engine::{
    Cancel, Command, Engine, EngineEvent, EngineOptions, StepContext, StepError, StepFuture,
    StepWork,
};
use ckf_airgap::session::SessionStore;
use ckf_airgap::wizard::state::RegistryChoice;
use ckf_airgap::wizard::{Choices, ItemKind, RegistryForm, Step, StepStatus, WizardState};
use tokio::sync::mpsc;

#[derive(Default)]
struct Scripted {
    failing: Mutex<BTreeSet<Step>>,
    runs: Mutex<Vec<Step>>,
    /// A question every step asks first (a prompt quoting what a file held).
    asking: Mutex<Option<String>>,
}

impl StepWork for Scripted {
    fn inputs(&self, _: Step, _: &Choices) -> String {
        "scripted".into()
    }

    fn run(&self, step: Step, ctx: StepContext) -> StepFuture {
        self.runs.lock().unwrap().push(step);
        let fail = self.failing.lock().unwrap().contains(&step);
        let asking = self.asking.lock().unwrap().clone();
        Box::pin(async move {
            if let Some(prompt) = asking {
                ctx.ask(InputRequest {
                    step,
                    prompt,
                    kind: InputKind::Confirm,
                    answers_key: "t.asked",
                })
                .await?;
            }
            if fail {
                Err(StepError::failed("scripted failure"))
            } else {
                Ok(())
            }
        })
    }
}

struct Harness {
    work: Arc<Scripted>,
    commands: mpsc::UnboundedSender<Command>,
    events: mpsc::UnboundedReceiver<EngineEvent>,
    session_dir: PathBuf,
    _dir: tempfile::TempDir,
}

impl Harness {
    fn start() -> Harness {
        let dir = tempfile::tempdir().unwrap();
        let store = SessionStore::open(dir.path()).unwrap();
        let session = store.create().unwrap();
        let session_dir = session.dir().to_path_buf();
        let work = Arc::new(Scripted::default());
        let (tx, events) = mpsc::unbounded_channel();
        let engine = Engine::new(
            session,
            work.clone(),
            tx,
            EngineOptions {
                auto: false,
                interactive: true,
            },
        );
        let (commands, rx) = mpsc::unbounded_channel();
        tokio::spawn(engine.run(rx, Cancel::new()));
        Harness {
            work,
            commands,
            events,
            session_dir,
            _dir: dir,
        }
    }

    fn send(&self, command: Command) {
        self.commands.send(command).unwrap();
    }

    /// Waits (with a deadline) for an event the predicate picks.
    async fn until<T>(&mut self, mut pick: impl FnMut(&EngineEvent) -> Option<T>) -> T {
        let wait = async {
            loop {
                let event = self.events.recv().await.expect("the engine stopped");
                if let Some(found) = pick(&event) {
                    return found;
                }
            }
        };
        tokio::time::timeout(Duration::from_secs(20), wait)
            .await
            .expect("the event never came")
    }

    async fn finished(&mut self, step: Step) -> StepStatus {
        self.until(|e| match e {
            EngineEvent::StepFinished { step: s, status } if *s == step => Some(status.clone()),
            _ => None,
        })
        .await
    }

    /// The state the engine sends when it waits for the next command.
    async fn idle_state(&mut self) -> WizardState {
        self.until(|e| match e {
            EngineEvent::State(s) if !s.steps.values().any(|r| r.status == StepStatus::Running) => {
                Some(s.wizard.clone())
            }
            _ => None,
        })
        .await
    }

    fn runs(&self) -> Vec<Step> {
        self.work.runs.lock().unwrap().clone()
    }
}

#[tokio::test]
async fn proceed_runs_a_pending_step_retries_a_failed_one_and_moves_past_a_done_one() {
    let mut h = Harness::start();
    h.work
        .failing
        .lock()
        .unwrap()
        .insert(Step::EnvironmentChecks);
    h.send(Command::Proceed);
    assert!(matches!(
        h.finished(Step::EnvironmentChecks).await,
        StepStatus::Failed { .. }
    ));
    h.work.failing.lock().unwrap().clear();
    h.send(Command::Proceed);
    assert_eq!(h.finished(Step::EnvironmentChecks).await, StepStatus::Done);
    h.send(Command::Proceed);
    let mut state = h.idle_state().await;
    while state.current != Step::Artifacts {
        state = h.idle_state().await;
    }
    assert_eq!(h.runs(), [Step::EnvironmentChecks, Step::EnvironmentChecks]);

    // A retry alone runs the step: the driver carries out the transition's effect.
    h.send(Command::Back);
    h.send(Command::Retry);
    assert_eq!(h.finished(Step::EnvironmentChecks).await, StepStatus::Done);
    assert_eq!(h.runs().len(), 3);
    h.send(Command::Quit);
}

#[tokio::test]
async fn typed_choice_changes_touch_one_field_and_run_the_step_again() {
    let mut h = Harness::start();
    h.send(Command::SetRegistry {
        form: RegistryForm {
            target: "reg.lab:5000/ckf".into(),
            username: Some("admin".into()),
            password_typed: false,
            ca_file: None,
        },
        password: None,
    });
    assert_eq!(h.finished(Step::EnvironmentChecks).await, StepStatus::Done);
    h.send(Command::SkipItem {
        kind: ItemKind::Check,
        id: "dns-forward".into(),
        reason: "resolver checked by hand".into(),
    });
    assert_eq!(h.finished(Step::EnvironmentChecks).await, StepStatus::Done);

    // The mapping step publishes its rows in the session; a prefix rewrite works on them.
    let rows = serde_json::json!([
        {"source": "172.17.0.2:5000/a:1", "target": "reg.lab:5000/ckf/a:1",
         "state": "Missing", "detail": null, "overridden": false},
        {"source": "172.17.0.2:5000/b:2", "target": "other.lab/b:2",
         "state": "Matched", "detail": null, "overridden": false},
    ]);
    std::fs::write(
        h.session_dir.join("mapping-rows.json"),
        serde_json::to_vec(&rows).unwrap(),
    )
    .unwrap();
    h.send(Command::RewritePrefix {
        old: "reg.lab:5000/ckf".into(),
        new: "mirror.lab/ckf".into(),
    });
    // Commands sent while a step runs are refused with a notice: wait for the rerun.
    assert_eq!(h.finished(Step::EnvironmentChecks).await, StepStatus::Done);
    h.send(Command::OverrideTarget {
        source: "172.17.0.2:5000/b:2".into(),
        target: "mirror.lab/ckf/b:2".into(),
    });
    let mut state = h.idle_state().await;
    while state.choices.mapping_overrides.len() < 2 {
        state = h.idle_state().await;
    }
    let c = &state.choices;
    let registry = c.registry.as_ref().unwrap();
    assert_eq!(registry.target, "reg.lab:5000/ckf");
    assert_eq!(registry.username.as_deref(), Some("admin"));
    assert_eq!(
        c.skips.get("check:dns-forward").map(String::as_str),
        Some("resolver checked by hand")
    );
    assert_eq!(
        c.mapping_overrides
            .get("172.17.0.2:5000/a:1")
            .map(String::as_str),
        Some("mirror.lab/ckf/a:1")
    );
    assert_eq!(
        c.mapping_overrides
            .get("172.17.0.2:5000/b:2")
            .map(String::as_str),
        Some("mirror.lab/ckf/b:2")
    );
    h.send(Command::Quit);
}

/// The fingerprints come from what each step reads: a client certificate whose content
/// changes makes every step that connects with it run again (the checks, whose preflight
/// presents it, login, push, and the mapping and deploy, which look images up), while the
/// archives' step keeps its work.
#[test]
fn a_changed_client_certificate_reruns_login_and_push() {
    let dir = tempfile::tempdir().unwrap();
    let cert = dir.path().join("client.crt");
    std::fs::write(&cert, "-----BEGIN CERTIFICATE-----\nA\n").unwrap();
    let choices = Choices {
        registry: Some(RegistryChoice {
            target: "reg.lab:5000/ckf".into(),
            client_cert: Some(cert.clone()),
            ..RegistryChoice::default()
        }),
        ..Choices::default()
    };
    let before: Vec<String> = ckf_airgap::wizard::Flow::Install
        .steps()
        .map(|s| Builtin.inputs(s, &choices))
        .collect();
    std::fs::write(&cert, "-----BEGIN CERTIFICATE-----\nBB, renewed\n").unwrap();
    let changed: Vec<Step> = ckf_airgap::wizard::Flow::Install
        .steps()
        .zip(&before)
        .filter(|(s, old)| Builtin.inputs(*s, &choices) != **old)
        .map(|(s, _)| s)
        .collect();
    assert_eq!(
        changed,
        [
            Step::EnvironmentChecks,
            Step::RegistryLogin,
            Step::ImagePush,
            Step::PlaceholderMapping,
            Step::JujuDeploy
        ],
        "the mapping and the deploy look images up with the client; the archives' step pushes \
         while it reads only as a head start, so it is not among them"
    );
    let login = ckf_airgap::wizard::Flow::Install
        .steps()
        .position(|s| s == Step::RegistryLogin)
        .unwrap();
    assert_eq!(
        describe_change(
            &before[login],
            &Builtin.inputs(Step::RegistryLogin, &choices)
        ),
        "client cert"
    );
}

#[tokio::test]
async fn a_prompt_quoting_terminal_controls_reaches_the_front_end_escaped() {
    let mut h = Harness::start();
    *h.work.asking.lock().unwrap() = Some("Use \u{1b}]0;owned\u{7} images.tar.gz?".into());
    h.send(Command::Proceed);
    let prompt = h
        .until(|e| match e {
            EngineEvent::NeedsInput(r) => Some(r.prompt.clone()),
            _ => None,
        })
        .await;
    assert_eq!(prompt, "Use \\x1b]0;owned\\x07 images.tar.gz?");
    h.send(Command::Answer(Answer::Confirm(true)));
    assert_eq!(h.finished(Step::EnvironmentChecks).await, StepStatus::Done);
    h.send(Command::Quit);
}
