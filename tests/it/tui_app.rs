//! The wizard screen driven in-process: keys and engine events go in, engine commands come
//! out. No terminal is involved.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use ckf_airgap::bundle::gateway::GatewayServiceType;
use ckf_airgap::engine::step_data::{MappingRowView, MappingState, StepData};
use ckf_airgap::engine::{Answer, Command, EngineEvent, InputKind, InputRequest};
use ckf_airgap::frontend::tui::app::{App, Overlay};
use ckf_airgap::frontend::tui::theme::Theme;
use ckf_airgap::frontend::view::View;
use ckf_airgap::secret::Secret;
use ckf_airgap::wizard::state::RegistryChoice;
use ckf_airgap::wizard::{RegistryForm, Step, StepStatus, WizardState};

fn key(code: KeyCode) -> KeyEvent {
    KeyEvent::new(code, KeyModifiers::NONE)
}

fn app_at(step: Step, status: StepStatus) -> App {
    let mut state = WizardState::default();
    for earlier in ckf_airgap::wizard::Flow::Install
        .steps()
        .take_while(|s| *s != step)
    {
        state.record_mut(earlier).status = StepStatus::Done;
    }
    state.current = step;
    state.record_mut(step).status = status;
    state.choices.registry = Some(RegistryChoice {
        target: "registry.example.com:5443/ckf".into(),
        ..RegistryChoice::default()
    });
    let mut app = App::new(
        View::new("s"),
        Theme {
            color: false,
            ascii: false,
        },
    );
    app.on_event(&EngineEvent::State(Box::new(state.into())));
    app
}

fn type_text(app: &mut App, text: &str) -> Vec<Command> {
    text.chars()
        .flat_map(|c| app.on_key(key(KeyCode::Char(c))))
        .collect()
}

#[test]
fn enter_asks_the_engine_to_proceed_whatever_the_status_and_r_retries() {
    // What "proceed" means for each status is the engine's rule (tests/it/engine_protocol.rs).
    for status in [
        StepStatus::Pending,
        StepStatus::Failed { reason: "x".into() },
        StepStatus::Done,
    ] {
        let mut app = app_at(Step::Artifacts, status);
        assert_eq!(app.on_key(key(KeyCode::Enter)), vec![Command::Proceed]);
    }
    let mut app = app_at(Step::Artifacts, StepStatus::Failed { reason: "x".into() });
    assert_eq!(app.on_key(key(KeyCode::Char('r'))), vec![Command::Retry]);
    let mut app = app_at(Step::Artifacts, StepStatus::Done);
    assert_eq!(app.on_key(key(KeyCode::Char('b'))), vec![Command::Back]);
}

#[test]
fn keys_do_nothing_to_the_steps_while_one_runs_except_quit() {
    let mut app = app_at(Step::Artifacts, StepStatus::Pending);
    app.on_event(&EngineEvent::StepStarted(Step::Artifacts));
    assert!(app.on_key(key(KeyCode::Enter)).is_empty());
    assert!(app.on_key(key(KeyCode::Char('b'))).is_empty());
    let ctrl_c = KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL);
    assert_eq!(app.on_key(ctrl_c), vec![Command::Quit]);
}

#[test]
fn quitting_asks_first_and_a_skip_records_its_reason() {
    let mut app = app_at(Step::EnvironmentChecks, StepStatus::Pending);
    assert!(app.on_key(key(KeyCode::Char('q'))).is_empty());
    assert_eq!(app.overlay, Overlay::ConfirmQuit);
    assert!(app.on_key(key(KeyCode::Char('n'))).is_empty());
    assert_eq!(app.overlay, Overlay::None);
    app.on_key(key(KeyCode::Char('q')));
    assert_eq!(app.on_key(key(KeyCode::Char('y'))), vec![Command::Quit]);

    let mut app = app_at(Step::EnvironmentChecks, StepStatus::Pending);
    app.on_key(key(KeyCode::Char('s')));
    assert!(
        app.on_key(key(KeyCode::Enter)).is_empty(),
        "an empty reason is not accepted"
    );
    type_text(&mut app, "checked by hand");
    assert_eq!(
        app.on_key(key(KeyCode::Enter)),
        vec![Command::Skip {
            reason: "checked by hand".into()
        }]
    );
}

#[test]
fn the_registry_form_takes_letters_as_text_and_submits_choices_and_password() {
    let mut app = app_at(Step::RegistryLogin, StepStatus::Pending);
    // Clear the seeded target, then type a new one: 'b' and 's' are text here, not keys.
    app.on_key(key(KeyCode::Tab));
    app.on_key(key(KeyCode::BackTab));
    for _ in 0.."registry.example.com:5443/ckf".len() {
        app.on_key(key(KeyCode::Backspace));
    }
    assert!(type_text(&mut app, "reg.lab:5000/bits").is_empty());
    app.on_key(key(KeyCode::Tab));
    type_text(&mut app, "admin");
    app.on_key(key(KeyCode::Tab));
    type_text(&mut app, "s3cret");
    let commands = app.on_key(key(KeyCode::Enter));
    assert_eq!(
        commands,
        vec![Command::SetRegistry {
            form: RegistryForm {
                target: "reg.lab:5000/bits".into(),
                username: Some("admin".into()),
                password_typed: true,
                ca_file: None,
            },
            password: Some(Secret::new("s3cret")),
        }]
    );
}

fn mapping_rows() -> Vec<MappingRowView> {
    ["katib-ui:v0.15.0", "dex:v2.31.2", "minio:RELEASE"]
        .iter()
        .map(|name| MappingRowView {
            source: format!("172.17.0.2:5000/x/{name}"),
            target: format!("registry.example.com:5443/ckf/x/{name}"),
            state: MappingState::Missing,
            detail: None,
            overridden: false,
        })
        .collect()
}

#[test]
fn the_mapping_table_filters_edits_a_row_and_rewrites_a_prefix() {
    let mut app = app_at(
        Step::PlaceholderMapping,
        StepStatus::Failed {
            reason: "missing".into(),
        },
    );
    app.on_event(&EngineEvent::StepData {
        step: Step::PlaceholderMapping,
        data: StepData::Mapping(mapping_rows()),
    });
    app.on_key(key(KeyCode::Char('/')));
    type_text(&mut app, "dex");
    app.on_key(key(KeyCode::Enter));
    app.on_key(key(KeyCode::Char('e')));
    for _ in 0..80 {
        app.on_key(key(KeyCode::Backspace));
    }
    type_text(&mut app, "reg.lab/dex:v2.31.2");
    assert_eq!(
        app.on_key(key(KeyCode::Enter)),
        vec![Command::OverrideTarget {
            source: "172.17.0.2:5000/x/dex:v2.31.2".into(),
            target: "reg.lab/dex:v2.31.2".into(),
        }],
        "the filtered row was edited"
    );

    let mut app = app_at(
        Step::PlaceholderMapping,
        StepStatus::Failed {
            reason: "missing".into(),
        },
    );
    app.on_event(&EngineEvent::StepData {
        step: Step::PlaceholderMapping,
        data: StepData::Mapping(mapping_rows()),
    });
    app.on_key(key(KeyCode::Char('p')));
    type_text(&mut app, "mirror.lab/ckf");
    assert_eq!(
        app.on_key(key(KeyCode::Enter)),
        vec![Command::RewritePrefix {
            old: "registry.example.com:5443/ckf".into(),
            new: "mirror.lab/ckf".into(),
        }]
    );
}

#[test]
fn the_gateway_choice_is_saved_then_the_step_runs() {
    let mut app = app_at(Step::GatewayType, StepStatus::Pending);
    app.on_key(key(KeyCode::Down));
    assert_eq!(
        app.on_key(key(KeyCode::Enter)),
        vec![Command::SetGateway(GatewayServiceType::LoadBalancer)]
    );
}

#[test]
fn the_preview_scrolls_by_hunk_and_confirms_with_y() {
    let mut app = app_at(Step::BundlePreview, StepStatus::Running);
    app.on_event(&EngineEvent::StepStarted(Step::BundlePreview));
    app.on_event(&EngineEvent::Document {
        step: Step::BundlePreview,
        title: "Edits".into(),
        text: "--- a\n+++ b\n@@ -1 +1 @@\n-x\n+y\n@@ -9 +9 @@\n-p\n+q\n".into(),
    });
    app.on_event(&EngineEvent::NeedsInput(InputRequest {
        step: Step::BundlePreview,
        prompt: "Write?".into(),
        kind: InputKind::Confirm,
        answers_key: "bundle.write",
    }));
    assert_eq!(
        app.overlay,
        Overlay::None,
        "the confirm bar sits under the diff"
    );
    app.on_key(key(KeyCode::Char(']')));
    assert_eq!(app.screen.scroll, 2);
    app.on_key(key(KeyCode::Char(']')));
    assert_eq!(app.screen.scroll, 5);
    app.on_key(key(KeyCode::Char('[')));
    assert_eq!(app.screen.scroll, 2);
    assert_eq!(
        app.on_key(key(KeyCode::Char('y'))),
        vec![Command::Answer(Answer::Confirm(true))]
    );
}

#[test]
fn a_password_question_is_answered_in_a_masked_popup() {
    let mut app = app_at(Step::RegistryLogin, StepStatus::Running);
    app.on_event(&EngineEvent::StepStarted(Step::RegistryLogin));
    app.on_event(&EngineEvent::NeedsInput(InputRequest {
        step: Step::RegistryLogin,
        prompt: "Password for admin".into(),
        kind: InputKind::Password,
        answers_key: "registry.password_env",
    }));
    assert!(matches!(app.overlay, Overlay::Answer { .. }));
    type_text(&mut app, "pw");
    assert_eq!(
        app.on_key(key(KeyCode::Enter)),
        vec![Command::Answer(Answer::Password(Secret::new("pw")))]
    );
}

#[test]
fn a_new_step_starts_with_a_fresh_screen() {
    let mut app = app_at(Step::PlaceholderMapping, StepStatus::Done);
    app.on_event(&EngineEvent::StepData {
        step: Step::PlaceholderMapping,
        data: StepData::Mapping(mapping_rows()),
    });
    app.on_key(key(KeyCode::Down));
    assert_eq!(app.screen.selected, 1);
    let mut next = app.view.state.clone();
    next.current = Step::GatewayType;
    app.on_event(&EngineEvent::State(Box::new(next.into())));
    assert_eq!(app.screen.selected, 0);
}

#[test]
fn a_missing_item_of_a_release_bundle_is_skipped_with_x_and_a_reason() {
    use ckf_airgap::engine::step_data::{InventoryView, SkippableItem};
    use ckf_airgap::wizard::ItemKind;
    let mut app = app_at(
        Step::Artifacts,
        StepStatus::Failed {
            reason: "missing".into(),
        },
    );
    let line = "image kfp-api: resource oci-image needs charmedkubeflow/api-server:2.15.0";
    app.on_event(&EngineEvent::StepData {
        step: Step::Artifacts,
        data: StepData::Inventory(InventoryView {
            missing: vec![line.into()],
            skippable: vec![SkippableItem {
                id: "kfp-api/resource oci-image".into(),
                line: line.into(),
            }],
            ..InventoryView::default()
        }),
    });
    app.on_key(key(KeyCode::Char('x')));
    type_text(&mut app, "pulled from a mirror");
    assert_eq!(
        app.on_key(key(KeyCode::Enter)),
        vec![Command::SkipItem {
            kind: ItemKind::Need,
            id: "kfp-api/resource oci-image".into(),
            reason: "pulled from a mirror".into(),
        }]
    );
}

#[test]
fn a_finished_install_quits_on_q_at_once() {
    let mut app = app_at(Step::Done, StepStatus::Done);
    assert_eq!(app.on_key(key(KeyCode::Char('q'))), vec![Command::Quit]);
    assert_eq!(app.overlay, Overlay::None);
}
