//! Every screen as the operator sees it, at 80x24 and 120x40, in its normal and its failure
//! state, drawn on ratatui's TestBackend and kept as snapshots.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use ratatui::Terminal;
use ratatui::backend::TestBackend;

use ckf_airgap::engine::events::{Progress, Quantity};
use ckf_airgap::engine::step_data::*;
use ckf_airgap::engine::{EngineEvent, InputKind, InputRequest, Level};
use ckf_airgap::frontend::tui::app::App;
use ckf_airgap::frontend::tui::render;
use ckf_airgap::frontend::tui::theme::Theme;
use ckf_airgap::frontend::view::View;
use ckf_airgap::wizard::state::RegistryChoice;
use ckf_airgap::wizard::{Step, StepStatus, WizardState};

const SIZES: [(u16, u16); 2] = [(80, 24), (120, 40)];

fn state_at(step: Step, status: StepStatus) -> WizardState {
    let mut s = WizardState::new(step.flow());
    for earlier in step.flow().steps().take_while(|s| *s != step) {
        s.record_mut(earlier).status = StepStatus::Done;
    }
    s.current = step;
    s.record_mut(step).status = status;
    s.choices.images_archive = Some("/srv/ckf/images.tar.gz".into());
    s.choices.charms_archive = Some("/srv/ckf/charms.tar.gz".into());
    s.choices.registry = Some(RegistryChoice {
        target: "registry.example.com:5443/ckf".into(),
        username: Some("admin".into()),
        ..RegistryChoice::default()
    });
    s
}

fn data_for(step: Step, failed: bool) -> Option<StepData> {
    Some(match step {
        Step::EnvironmentChecks => StepData::Checks(vec![
            CheckRow {
                id: "check".into(),
                title: "Kubernetes reachable, v1.24.17 (CKF 1.7 needs 1.22-1.24)".into(),
                verdict: Verdict::Pass,
                evidence: "kubectl version -o json: serverVersion v1.24.17".into(),
                fix: None,
            },
            CheckRow {
                id: "check".into(),
                title: "MicroK8s DNS forwards to a local nameserver".into(),
                verdict: if failed { Verdict::Fail } else { Verdict::Pass },
                evidence: if failed {
                    "coredns Corefile: forward . 8.8.8.8 8.8.4.4".into()
                } else {
                    "coredns Corefile: forward . 10.0.0.2".into()
                },
                fix: failed.then(|| "microk8s disable dns && microk8s enable dns:10.0.0.2".into()),
            },
            CheckRow {
                id: "check".into(),
                title: "Load balancer".into(),
                verdict: Verdict::Warn,
                evidence: "no MetalLB, no LoadBalancer service with an address".into(),
                fix: Some("keep gateway_service_type NodePort".into()),
            },
        ]),
        Step::Artifacts => StepData::Inventory(InventoryView {
            images: vec![
                ImageRow {
                    reference: "172.17.0.2:5000/kubeflownotebookswg/jupyter-web-app:v1.7.0".into(),
                    layers: 5,
                    bytes: 152 << 20,
                },
                ImageRow {
                    reference: "172.17.0.2:5000/argoproj/workflow-controller:v3.3.9".into(),
                    layers: 3,
                    bytes: 41 << 20,
                },
            ],
            charms: vec![CharmRow {
                name: "argo-controller".into(),
                kind: "PodSpec".into(),
                version: "r424".into(),
            }],
            missing: if failed {
                vec!["image 172.17.0.2:5000/dexidp/dex:v2.31.2".into()]
            } else {
                vec![]
            },
            unused: vec![],
            bundle: None,
            skippable: vec![],
            total_bytes: 13 << 30,
            unique_bytes: 9 << 30,
        }),
        Step::RegistryLogin => return None,
        Step::ImagePush => StepData::Push(vec![
            PushRow {
                target: "registry.example.com:5443/ckf/kubeflownotebookswg/jupyter-web-app:v1.7.0".into(),
                state: PushState::Done,
                done: 152 << 20,
                total: 152 << 20,
            },
            PushRow {
                target: "registry.example.com:5443/ckf/argoproj/workflow-controller:v3.3.9".into(),
                state: if failed {
                    PushState::Failed("registry.example.com:5443 refused the connection".into())
                } else {
                    PushState::Uploading
                },
                done: 20 << 20,
                total: 41 << 20,
            },
            PushRow {
                target: "registry.example.com:5443/ckf/argoproj/argoexec:v3.3.9".into(),
                state: PushState::Pending,
                done: 0,
                total: 30 << 20,
            },
        ]),
        Step::PlaceholderMapping => StepData::Mapping(vec![
            MappingRowView {
                source: "172.17.0.2:5000/kubeflowkatib/katib-ui:v0.15.0".into(),
                target: "registry.example.com:5443/ckf/kubeflowkatib/katib-ui:v0.15.0".into(),
                state: if failed { MappingState::Missing } else { MappingState::Matched },
                detail: None,
                overridden: false,
            },
            MappingRowView {
                source: "172.17.0.2:5000/dexidp/dex:v2.31.2".into(),
                target: "registry.example.com:5443/ckf/dexidp/dex:v2.31.2".into(),
                state: MappingState::Matched,
                detail: Some("sha256:0f3b".into()),
                overridden: false,
            },
            MappingRowView {
                source: "busybox:1.28".into(),
                target: "busybox:1.28".into(),
                state: MappingState::Kept,
                detail: None,
                overridden: false,
            },
        ]),
        Step::GatewayType => return None,
        Step::BundlePreview => return None,
        Step::JujuDeploy => StepData::Deploy(DeployView {
            commands: vec![
                CommandRow {
                    id: "cmd".into(),
                    display: "juju deploy ./bundle.airgap.yaml --trust".into(),
                    state: CommandState::Done,
                },
                CommandRow {
                    id: "cmd".into(),
                    display: "juju deploy ./charms/minio_r186.charm minio --resource oci-image=registry.example.com:5443/ckf/minio/minio:RELEASE".into(),
                    state: if failed {
                        CommandState::Failed("ERROR cannot add application \"minio\": application already exists".into())
                    } else {
                        CommandState::Running
                    },
                },
                CommandRow {
                    id: "cmd".into(),
                    display: "juju integrate kfp-api:object-storage minio:object-storage".into(),
                    state: CommandState::Pending,
                },
            ],
            status: vec![AppStatusRow {
                application: "dex-auth".into(),
                status: "active".into(),
                message: String::new(),
            }],
            diagnoses: vec![],
            dry_run: false,
        }),
        Step::Done => StepData::Finish(FinishView {
            dashboard: Some("http://10.0.0.5:31380".into()),
            next_steps: vec![
                "Set the login: juju config dex-auth static-username=<user> static-password=<password>".into(),
            ],
            dry_run_plan: None,
        }),
        Step::UpgradeModel => StepData::Checks(vec![
            CheckRow {
                id: "check".into(),
                title: "kubeflow: every application active and idle".into(),
                verdict: Verdict::Pass,
                evidence: "juju status: 37 applications settled".into(),
                fix: None,
            },
            CheckRow {
                id: "check".into(),
                title: "katib-controller runs the charm the record names".into(),
                verdict: if failed { Verdict::Fail } else { Verdict::Pass },
                evidence: if failed {
                    "record: katib-controller 0.18/stable; juju status: katib-ui".into()
                } else {
                    "record: katib-controller 0.18/stable".into()
                },
                fix: failed.then(|| {
                    "give the record this model was installed with ([upgrade] installed)".into()
                }),
            },
        ]),
        Step::UpgradePlan | Step::UpgradeBackups | Step::UpgradeRun => {
            StepData::Deploy(DeployView {
                commands: vec![
                    CommandRow {
                        id: "cmd".into(),
                        display: "juju scale-application istio-ingressgateway 0".into(),
                        state: CommandState::Done,
                    },
                    CommandRow {
                        id: "cmd".into(),
                        display: "juju refresh istio-pilot --path ./charms/istio-pilot_1.26.charm --config ./istio-hop-1.26.yaml".into(),
                        state: if failed {
                            CommandState::Failed(
                                "ERROR istio-pilot did not settle: blocked".into(),
                            )
                        } else {
                            CommandState::Running
                        },
                    },
                    CommandRow {
                        id: "cmd".into(),
                        display: "juju refresh katib-controller --path ./charms/katib-controller_r813.charm --resource oci-image=registry.example.com:5443/ckf/charmedkubeflow/katib-controller:0.19.0".into(),
                        state: CommandState::Pending,
                    },
                ],
                status: vec![AppStatusRow {
                    application: "istio-pilot".into(),
                    status: "maintenance".into(),
                    message: "upgrading".into(),
                }],
                diagnoses: vec![],
                dry_run: step == Step::UpgradePlan,
            })
        }
        Step::UpgradeDone => StepData::Finish(FinishView {
            dashboard: None,
            next_steps: vec![
                "The upgraded model's record: /srv/session/upgraded-state.json".into(),
                "Keep the installed release's images in the registry until the upgrade is accepted".into(),
            ],
            dry_run_plan: None,
        }),
        // The gather screens show the step's log; `app_for` gives them some.
        Step::GatherSource
        | Step::GatherCharms
        | Step::GatherImages
        | Step::GatherPull
        | Step::GatherWrite
        | Step::GatherDone => return None,
    })
}

fn failure_reason(step: Step) -> &'static str {
    match step {
        Step::EnvironmentChecks => "1 check(s) failed: MicroK8s DNS forwards to a public resolver",
        Step::Artifacts => {
            "bundle.yaml needs what the archives do not hold: image 172.17.0.2:5000/dexidp/dex:v2.31.2"
        }
        Step::RegistryLogin => {
            "registry.example.com:5443 refused the credentials of admin (401): check the password"
        }
        Step::ImagePush => {
            "1 image(s) could not be pushed: registry.example.com:5443 refused the connection"
        }
        Step::PlaceholderMapping => {
            "the mapping cannot be written yet: 172.17.0.2:5000/kubeflowkatib/katib-ui:v0.15.0: no pushed image matches"
        }
        Step::GatewayType => "needs an answer the run cannot ask for (set `gateway.service_type`)",
        Step::BundlePreview => "the edit was not confirmed; nothing was written",
        Step::JujuDeploy => "deploy-app:minio failed: application already exists",
        Step::Done | Step::GatherDone => "",
        Step::GatherSource => "nothing to gather: give a release bundle ([gather] bundle)",
        Step::GatherCharms => "Charmhub has no charm kfp-api on channel 2.15/stable",
        Step::GatherImages => "cannot read images.txt: No such file or directory",
        Step::GatherPull => {
            "1 image(s) could not be pulled:\n  docker.io/charmedkubeflow/suggestion-pbt:v0.19.0 (needed by katib-controller option custom_images[suggestion__pbt]): registry-1.docker.io answered 429"
        }
        Step::GatherWrite => "cannot create /srv/out: Permission denied",
        Step::UpgradeModel => {
            "1 check(s) failed: katib-controller runs another charm than the record names"
        }
        Step::UpgradePlan => "the target release 1.10 is not newer than the installed 1.10",
        Step::UpgradeBackups => "backup of kfp-db failed: mysqldump: Got error: 1045",
        Step::UpgradeRun => "refresh:istio-pilot failed: istio-pilot did not settle: blocked",
        Step::UpgradeDone => "",
    }
}

fn app_for(step: Step, failed: bool) -> App {
    let status = if failed {
        StepStatus::Failed {
            reason: failure_reason(step).into(),
        }
    } else if matches!(step, Step::Done | Step::UpgradeDone) {
        StepStatus::Done
    } else {
        StepStatus::Pending
    };
    let mut view = View::new("20261124-120000-abcd");
    view.apply(&EngineEvent::State(Box::new(state_at(step, status).into())));
    if let Some(data) = data_for(step, failed) {
        view.apply(&EngineEvent::StepData { step, data });
    }
    if step == Step::GatherImages {
        for line in [
            "[gather-images] 97 images to pull:",
            "[gather-images]   83 from docker.io",
            "[gather-images]   13 from ghcr.io",
            "[gather-images]   1 from nvcr.io",
            "[gather-images] Docker Hub allows 10 anonymous pulls an hour: log in first",
        ] {
            view.apply(&EngineEvent::Log {
                step: Some(step),
                level: Level::Info,
                line: line.into(),
            });
        }
    }
    if step == Step::Artifacts && !failed {
        view.apply(&EngineEvent::StepStarted(step));
        view.apply(&EngineEvent::Progress(Progress {
            step,
            done: 3 << 30,
            total: Some(12 << 30),
            quantity: Quantity::Bytes,
            item: Some("172.17.0.2-5000-argoproj-workflow-controller-v3.3.9.tar".into()),
            rate_per_sec: Some(95.0 * 1024.0 * 1024.0),
            eta_secs: Some(97),
        }));
    }
    if step == Step::BundlePreview {
        view.apply(&EngineEvent::Document {
            step,
            title: "Edits to write to /srv/ckf/bundle.airgap.yaml".into(),
            text: "--- /srv/ckf/bundle.yaml\n+++ /srv/ckf/bundle.airgap.yaml\n@@ -11,7 +11,7 @@\n     trust: true\n     resources:\n-      oci-image: 172.17.0.2:5000/dexidp/dex:v2.31.2\n+      oci-image: registry.example.com:5443/ckf/dexidp/dex:v2.31.2\n   istio-ingressgateway:\n".into(),
        });
        if !failed {
            view.apply(&EngineEvent::NeedsInput(InputRequest {
                step,
                prompt: "Write the edited bundle to /srv/ckf/bundle.airgap.yaml?".into(),
                kind: InputKind::Confirm,
                answers_key: "bundle.write",
            }));
        }
    }
    let mut app = App::new(
        View::default(),
        Theme {
            color: false,
            ascii: false,
        },
    );
    app.view = view;
    app.on_event(&EngineEvent::Notice("resumed session".into()));
    app.view.notices.clear();
    app
}

fn draw(app: &App, (w, h): (u16, u16)) -> String {
    let mut terminal = Terminal::new(TestBackend::new(w, h)).unwrap();
    terminal.draw(|f| render::draw(f, app)).unwrap();
    terminal.backend().to_string()
}

#[test]
fn every_screen_in_its_normal_and_failure_state_at_both_sizes() {
    let mut settings = insta::Settings::clone_current();
    settings.set_prepend_module_to_snapshot(false);
    settings.set_snapshot_path("snapshots/screens");
    settings.bind(|| {
        for step in Step::ALL {
            for failed in [false, true] {
                if step.is_end() && failed {
                    continue;
                }
                let app = app_for(step, failed);
                for size in SIZES {
                    let name = format!(
                        "{}_{}_{}x{}",
                        step.id(),
                        if failed { "failed" } else { "normal" },
                        size.0,
                        size.1
                    );
                    insta::assert_snapshot!(name, draw(&app, size));
                }
            }
        }
    });
}

#[test]
fn a_small_terminal_is_told_the_minimum_size() {
    let app = app_for(Step::Artifacts, false);
    let text = draw(&app, (60, 20));
    assert!(text.contains("needs at least 80x24"), "{text}");
}

#[test]
fn ascii_mode_draws_no_box_or_symbol_characters() {
    let mut app = app_for(Step::EnvironmentChecks, true);
    app.theme = Theme {
        color: false,
        ascii: true,
    };
    let text = draw(&app, (120, 40));
    assert!(text.is_ascii(), "{text}");
}

#[test]
fn colours_mark_failures_and_diff_lines_unless_no_color() {
    use ratatui::style::Color;
    let mut app = app_for(Step::BundlePreview, false);
    app.theme = Theme {
        color: true,
        ascii: false,
    };
    let mut terminal = Terminal::new(TestBackend::new(120, 40)).unwrap();
    terminal.draw(|f| render::draw(f, &app)).unwrap();
    let buffer = terminal.backend().buffer().clone();
    let fg_of_line_starting = |prefix: &str| {
        (0..buffer.area.height).find_map(|y| {
            let line: String = (0..buffer.area.width)
                .map(|x| buffer[(x, y)].symbol().to_string())
                .collect();
            let x = line.find(prefix)?;
            Some(buffer[(x as u16, y)].fg)
        })
    };
    assert_eq!(fg_of_line_starting("+      oci-image"), Some(Color::Green));
    assert_eq!(fg_of_line_starting("-      oci-image"), Some(Color::Red));
    app.theme = Theme {
        color: false,
        ascii: false,
    };
    terminal.draw(|f| render::draw(f, &app)).unwrap();
    let plain = terminal.backend().buffer().clone();
    assert!(plain.content.iter().all(|c| c.fg == Color::Reset));
}

/// A deploy command too long for its row is shown whole under the list when selected.
#[test]
fn the_selected_deploy_command_is_shown_whole() {
    let mut app = app_for(Step::JujuDeploy, true);
    app.screen.step = Some(Step::JujuDeploy);
    app.screen.selected = 1;
    let screen = draw(&app, (80, 24));
    assert!(screen.contains("Selected command"), "{screen}");
    let compact = |s: &str| -> String {
        s.chars()
            .filter(|c| !c.is_whitespace() && !"│─┌┐└┘\"".contains(*c))
            .collect()
    };
    let whole = "juju deploy ./charms/minio_r186.charm minio --resource oci-image=registry.example.com:5443/ckf/minio/minio:RELEASE";
    assert!(compact(&screen).contains(&compact(whole)), "{screen}");
}

/// After a login the registry screen shows what it proved, and an empty password field names
/// where the password comes from instead of looking blank.
#[test]
fn the_registry_screen_shows_what_the_login_proved_and_the_password_source() {
    use ckf_airgap::wizard::state::PasswordSource;
    let mut app = app_for(Step::RegistryLogin, false);
    let mut state = app.view.state.clone();
    state.record_mut(Step::RegistryLogin).status = StepStatus::Done;
    if let Some(r) = state.choices.registry.as_mut() {
        r.password_source = Some(PasswordSource::Env("CKF_REGISTRY_PASSWORD".into()));
    }
    app.view.apply(&EngineEvent::State(Box::new(state.into())));
    app.view.apply(&EngineEvent::StepData {
        step: Step::RegistryLogin,
        data: StepData::Login(vec![
            "API: registry/2.0 at registry.example.com:5443".into(),
            "Server certificate: CN=registry.example.com, issued by CN=ckf test CA, valid until 2027-11-29".into(),
            // The engine's line for a cluster with one node on containerd 1.4 (stream_push's
            // the_layer_codec_follows_the_nodes_container_runtimes checks the engine says it).
            "Layers go up as gzip: not every node pulls zstd layers (containerd 1.5, CRI-O 1.23 or Docker 23 needed; dc-node-1: containerd://1.4.13)".into(),
        ]),
    });
    app.screen.step = Some(Step::RegistryLogin);
    let screen = draw(&app, (120, 40));
    snapshot("registry-login_proven_120x40", screen.clone());
    assert!(screen.contains("What the login proved"), "{screen}");
    assert!(
        screen.contains("API: registry/2.0 at registry.example.com:5443"),
        "{screen}"
    );
    assert!(screen.contains("issued by CN=ckf test CA"), "{screen}");
    assert!(screen.contains("(from $CKF_REGISTRY_PASSWORD)"), "{screen}");
    // The codec and why, whole though it wraps.
    let compact = |s: &str| -> String {
        s.chars()
            .filter(|c| !c.is_whitespace() && !"│─┌┐└┘\"".contains(*c))
            .collect()
    };
    assert!(
        compact(&screen).contains(&compact(
            "Layers go up as gzip: not every node pulls zstd layers (containerd 1.5, CRI-O 1.23 or Docker 23 needed; dc-node-1: containerd://1.4.13)"
        )),
        "{screen}"
    );
}

fn snapshot(name: &str, screen: String) {
    let mut settings = insta::Settings::clone_current();
    settings.set_prepend_module_to_snapshot(false);
    settings.set_snapshot_path("snapshots/screens");
    settings.bind(|| insta::assert_snapshot!(name, screen));
}

/// `v` on a list shows the selected row whole: the push row whose name is cut with `~` is
/// readable in full in the detail view, at 80x24.
#[test]
fn the_detail_view_shows_the_selected_row_whole_at_80x24() {
    use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
    let mut app = app_for(Step::ImagePush, true);
    app.screen.step = Some(Step::ImagePush);
    let key = |c| KeyEvent::new(c, KeyModifiers::NONE);
    app.on_key(key(KeyCode::Down));
    let list = draw(&app, (80, 24));
    let whole = "registry.example.com:5443/ckf/argoproj/workflow-controller:v3.3.9";
    assert!(!list.contains(whole), "the row is cut on the list: {list}");
    app.on_key(key(KeyCode::Char('v')));
    let screen = draw(&app, (80, 24));
    assert!(screen.contains("Selected row"), "{screen}");
    assert!(screen.contains(whole), "{screen}");
    assert!(
        screen.contains("Failed: registry.example.com:5443 refused the connection"),
        "{screen}"
    );
    snapshot("detail_push_failed_80x24", screen);
    // Any key closes it and does nothing else.
    assert!(app.on_key(key(KeyCode::Enter)).is_empty());
    assert!(!draw(&app, (80, 24)).contains("Selected row"));
}

/// A finished push whose layers were partly mounted or already present reads 100%.
#[test]
fn a_finished_push_with_mounted_and_present_layers_reads_100_percent() {
    let mut app = app_for(Step::ImagePush, false);
    let mut state = app.view.state.clone();
    state.record_mut(Step::ImagePush).status = StepStatus::Done;
    app.view.apply(&EngineEvent::State(Box::new(state.into())));
    let rows = vec![
        PushRow {
            target: "registry.example.com:5443/ckf/kubeflownotebookswg/jupyter-web-app:v1.7.0"
                .into(),
            state: PushState::Done,
            done: 152 << 20,
            total: 152 << 20,
        },
        PushRow {
            target: "registry.example.com:5443/ckf/argoproj/workflow-controller:v3.3.9".into(),
            state: PushState::Mounted,
            done: 41 << 20,
            total: 41 << 20,
        },
        PushRow {
            target: "registry.example.com:5443/ckf/argoproj/argoexec:v3.3.9".into(),
            state: PushState::Skipped,
            done: 30 << 20,
            total: 30 << 20,
        },
    ];
    app.view.apply(&EngineEvent::StepData {
        step: Step::ImagePush,
        data: StepData::Push(rows),
    });
    app.view.apply(&EngineEvent::Progress(Progress {
        step: Step::ImagePush,
        done: 223 << 20,
        total: Some(223 << 20),
        quantity: Quantity::Bytes,
        item: None,
        rate_per_sec: None,
        eta_secs: None,
    }));
    let screen = draw(&app, (80, 24));
    assert!(screen.contains("Images: 3 of 3 finished"), "{screen}");
    assert!(!screen.contains("FAILED"), "{screen}");
    snapshot("image-push_finished_80x24", screen);
}

/// `x` on the mapping screen leaves the selected reference as written, after a reason.
#[test]
fn x_on_the_mapping_screen_skips_the_selected_reference_with_a_reason() {
    use ckf_airgap::engine::Command;
    use ckf_airgap::wizard::ItemKind;
    use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
    let mut app = app_for(Step::PlaceholderMapping, true);
    app.screen.step = Some(Step::PlaceholderMapping);
    let key = |c| KeyEvent::new(c, KeyModifiers::NONE);
    assert!(app.on_key(key(KeyCode::Char('x'))).is_empty());
    let screen = draw(&app, (80, 24));
    assert!(screen.contains("Why is ref:172.17.0.2:5000/"), "{screen}");
    for c in "mirror".chars() {
        app.on_key(key(KeyCode::Char(c)));
    }
    let sent = app.on_key(key(KeyCode::Enter));
    assert!(
        matches!(&sent[..], [Command::SkipItem { kind: ItemKind::Reference, id, reason }]
            if id.starts_with("172.17.0.2:5000/") && reason == "mirror"),
        "{sent:?}"
    );
}

#[test]
fn a_dry_run_ends_saying_nothing_was_deployed_and_where_the_plan_is() {
    let mut app = app_for(Step::Done, false);
    app.view.apply(&EngineEvent::StepData {
        step: Step::Done,
        data: StepData::Finish(FinishView {
            dashboard: None,
            next_steps: vec![],
            dry_run_plan: Some("/root/.local/state/ckf-airgap/sessions/s/deploy-plan.json".into()),
        }),
    });
    let text = draw(&app, (120, 40));
    assert!(text.contains("Dry run: nothing was deployed"), "{text}");
    assert!(text.contains("sessions/s/deploy-plan.json"), "{text}");
    assert!(
        text.contains("Dry run finished: nothing was deployed. q quits."),
        "{text}"
    );
    assert!(!text.contains("install is complete"), "{text}");
    assert!(!text.contains("Dashboard"), "{text}");
    let mut settings = insta::Settings::clone_current();
    settings.set_prepend_module_to_snapshot(false);
    settings.set_snapshot_path("snapshots/screens");
    settings.bind(|| insta::assert_snapshot!("done_dry_run_120x40", text));
}
