//! The mapping, gateway and preview steps as the operator runs them: the real binary, headless,
//! over the real CKF bundles, with the push report a push step would have written.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use crate::support::answers::{self, skip, skip_all_but};
use crate::support::{NO_ENV, run_headless};
use ckf_airgap::answers::{Answers, DeployAnswers};
use ckf_airgap::artifacts::charms::CharmVersion;
use ckf_airgap::artifacts::{CharmInfo, CharmKind, Inventory};
use ckf_airgap::engine::outputs::{self, ReportedImage, SessionPushReport};
use ckf_airgap::session::SessionStore;

const TARGET: &str = "registry.example.com:5443/ckf";
const PLACEHOLDER: &str = "172.17.0.2:5000/";

fn shared(name: &str) -> String {
    std::fs::read_to_string(format!(
        "{}/tests/fixtures/bundles/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

struct Setup {
    _dir: tempfile::TempDir,
    state: PathBuf,
    session: String,
    session_dir: PathBuf,
    bundle: PathBuf,
    answers: PathBuf,
}

/// A session with the earlier steps skipped, a copy of `bundle_name`, and an answers file
/// (`more`: the test's own answers).
fn setup(bundle_name: &str, more: impl FnOnce(&mut Answers)) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let bundle = dir.path().join("bundle.yaml");
    std::fs::write(&bundle, shared(bundle_name)).unwrap();
    let store = SessionStore::open(&state).unwrap();
    let session = store.create().unwrap();
    let (id, session_dir) = (session.id().to_string(), session.dir().to_path_buf());
    drop(session);
    let mut spec = Answers {
        registry: Some(answers::registry(TARGET)),
        gateway: Some(answers::node_port()),
        bundle: Some(answers::bundle(&bundle)),
        ..Answers::default()
    };
    skip_all_but(
        &mut spec,
        &["placeholder-mapping", "gateway-type", "bundle-preview"],
        "test",
    );
    more(&mut spec);
    let answers = dir.path().join("answers.toml");
    answers::write(&answers, &spec);
    Setup {
        _dir: dir,
        state,
        session: id,
        session_dir,
        bundle,
        answers,
    }
}

/// `[bundle] write = true`: consent to write the edited bundle.
fn consent_to_write(a: &mut Answers) {
    a.bundle.as_mut().unwrap().write = true;
}

/// The placeholder references of a bundle, by the independent rule "what follows the
/// placeholder host up to a quote, comma, space or bracket".
fn placeholder_refs(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find(PLACEHOLDER) {
        let tail = &rest[i..];
        let end = tail
            .find(|c: char| c == '\'' || c == '"' || c == ',' || c.is_whitespace() || c == ']')
            .unwrap_or(tail.len());
        out.push(tail[..end].to_string());
        rest = &tail[end..];
    }
    out
}

fn write_push_report(s: &Setup, skip: &[&str]) {
    let mut images = Vec::new();
    // The 1.7 bundle's PodSpec charms are deployed separately; their images were pushed too.
    let mut refs = placeholder_refs(&shared_text(&s.bundle));
    refs.extend(placeholder_refs(&shared(
        "ckf-1.7-edge-airgap-podspec-apps.yaml",
    )));
    for source in refs {
        let path = &source[PLACEHOLDER.len()..];
        // `global-hub` names a namespace, not an image; nothing is pushed under it.
        if path == "istio" || skip.iter().any(|k| source.contains(k)) {
            continue;
        }
        // An untagged reference is pulled as :latest, so that is what was pushed.
        let tagged = if path.contains(':') {
            path.to_string()
        } else {
            format!("{path}:latest")
        };
        let target = format!("{TARGET}/{tagged}");
        if images.iter().any(|i: &ReportedImage| i.target == target) {
            continue;
        }
        images.push(ReportedImage {
            source: source.clone(),
            target,
            digest: format!("sha256:{:064x}", images.len() + 1).parse().unwrap(),
        });
    }
    // istio's images under the namespace the bundle names as global-hub.
    images.push(ReportedImage {
        source: format!("{PLACEHOLDER}istio/pilot:1.16.2"),
        target: format!("{TARGET}/istio/pilot:1.16.2"),
        digest: format!("sha256:{:064x}", 999).parse().unwrap(),
    });
    // As the push step leaves it.
    outputs::write(&s.session_dir, &SessionPushReport { images }).unwrap();
}

fn shared_text(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap()
}

#[test]
fn the_whole_bundle_path_maps_checks_previews_and_writes_a_new_file() {
    let s = setup("ckf-1.7-edge-airgap-bundle.yaml", consent_to_write);
    write_push_report(&s, &[]);
    let original = std::fs::read(&s.bundle).unwrap();
    let (code, out) = run_headless(&s.state, &s.answers, &["--session", &s.session], NO_ENV);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("[placeholder-mapping] done"), "{out}");
    assert!(!out.contains("MISSING"), "{out}");
    assert!(
        out.contains(
            "[bundle-preview] | +      oci-image: registry.example.com:5443/ckf/dexidp/dex:v2.31.2"
        ),
        "{out}"
    );

    assert_eq!(
        std::fs::read(&s.bundle).unwrap(),
        original,
        "the original is untouched"
    );
    let written = std::fs::read_to_string(s.bundle.with_file_name("bundle.airgap.yaml")).unwrap();
    assert!(!written.contains("172.17.0.2:5000"), "placeholder left");
    // Only lines holding a placeholder changed.
    let before = String::from_utf8(original).unwrap();
    for (old, new) in before.lines().zip(written.lines()) {
        if old != new {
            assert!(old.contains(PLACEHOLDER), "{old:?} changed to {new:?}");
            assert_eq!(old.replace("172.17.0.2:5000", TARGET), new);
        }
    }
    assert_eq!(before.lines().count(), written.lines().count());
    let mapping: serde_json::Value =
        serde_json::from_slice(&std::fs::read(s.session_dir.join("mapping.json")).unwrap())
            .unwrap();
    let rows = mapping["rows"].as_array().unwrap();
    assert!(rows.len() > 70);
    let form: serde_json::Value =
        serde_json::from_slice(&std::fs::read(s.session_dir.join("bundle-form.json")).unwrap())
            .unwrap();
    assert_eq!(
        form["form"]["AirGapped"]["placeholder"],
        PLACEHOLDER.trim_end_matches('/'),
        "the air-gapped form is decided once, with its placeholder: {form}"
    );
    // argo-server is only in the separately deployed plan: its image is mapped all the same.
    assert!(
        rows.iter()
            .any(|r| r["source"] == "172.17.0.2:5000/argoproj/argocli:v3.3.9"
                && r["target"] == "registry.example.com:5443/ckf/argoproj/argocli:v3.3.9"),
        "{mapping}"
    );
    assert!(
        s.bundle
            .with_file_name("bundle.airgap.mapping.json")
            .exists()
    );
}

#[test]
fn a_missing_image_stops_the_mapping_with_the_reference_and_the_fix() {
    let s = setup("ckf-1.7-edge-airgap-bundle.yaml", consent_to_write);
    write_push_report(&s, &["katib-ui"]);
    let (code, out) = run_headless(&s.state, &s.answers, &["--session", &s.session], NO_ENV);
    assert_eq!(code, 1, "{out}");
    let failure = out
        .lines()
        .skip_while(|l| !l.starts_with("[placeholder-mapping] failed"))
        .take(4)
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        failure.contains("172.17.0.2:5000/kubeflowkatib/katib-ui:v0.15.0: no pushed image matches"),
        "{out}"
    );
    assert!(failure.contains("[mapping]"), "{failure}");
    assert!(!s.bundle.with_file_name("bundle.airgap.yaml").exists());
}

#[test]
fn an_override_in_the_answers_file_maps_a_reference_by_hand() {
    let s = setup("ckf-1.7-edge-airgap-bundle.yaml", |a| {
        consent_to_write(a);
        a.mapping.insert(
            "172.17.0.2:5000/kubeflowkatib/katib-ui:v0.15.0".into(),
            "registry.example.com:5443/ckf/katib/ui:v0.15.0".into(),
        );
    });
    write_push_report(&s, &["katib-ui"]);
    let report_path = s.session_dir.join("push-report.json");
    let mut report: SessionPushReport =
        serde_json::from_slice(&std::fs::read(&report_path).unwrap()).unwrap();
    report.images.push(ReportedImage {
        source: "elsewhere/katib-ui".into(),
        target: "registry.example.com:5443/ckf/katib/ui:v0.15.0".into(),
        digest: format!("sha256:{:064x}", 4242).parse().unwrap(),
    });
    outputs::write(&s.session_dir, &report).unwrap();
    let (code, out) = run_headless(&s.state, &s.answers, &["--session", &s.session], NO_ENV);
    assert_eq!(code, 0, "{out}");
    let written = std::fs::read_to_string(s.bundle.with_file_name("bundle.airgap.yaml")).unwrap();
    assert!(written.contains("oci-image: registry.example.com:5443/ckf/katib/ui:v0.15.0"));
}

#[test]
fn headless_without_consent_to_write_stops_at_the_preview_naming_the_answers_key() {
    let s = setup("ckf-1.7-edge-airgap-bundle.yaml", |_| {});
    write_push_report(&s, &[]);
    let (code, out) = run_headless(&s.state, &s.answers, &["--session", &s.session], NO_ENV);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("[bundle-preview] failed: needs an answer"),
        "{out}"
    );
    assert!(out.contains("bundle.write"), "{out}");
    assert!(!s.bundle.with_file_name("bundle.airgap.yaml").exists());
}

#[test]
fn podspec_charms_in_a_bundle_are_warned_about_and_moved_out() {
    let s = setup(
        "ckf-latest-edge-2023-09-airgap-bundle-with-podspec-FAILS.yaml",
        |a| {
            consent_to_write(a);
            a.deploy = Some(DeployAnswers {
                separate_plan: Some("none".into()),
                ..DeployAnswers::default()
            });
        },
    );
    write_push_report(&s, &[]);
    // What the artifacts step would have read from charms.tar.gz.
    let podspec = [
        "argo-controller",
        "argo-server",
        "katib-controller",
        "kubeflow-volumes",
        "minio",
    ];
    let charms = podspec
        .iter()
        .map(|name| CharmInfo {
            name: name.to_string(),
            file_name: format!("{name}_r1.charm"),
            version: CharmVersion::Revision(1),
            kind: CharmKind::PodSpec,
            resources: vec![],
            options: vec![],
            bases: vec![],
            base_images: vec![],
            sha256: String::new(),
            size: 0,
            spool_path: format!("charms/{name}_r1.charm"),
            default_files: Default::default(),
        })
        .collect();
    let inventory = Inventory {
        images: vec![],
        charms,
    };
    outputs::write(&s.session_dir, &inventory).unwrap();
    let (code, out) = run_headless(&s.state, &s.answers, &["--session", &s.session], NO_ENV);
    assert_eq!(code, 0, "{out}");
    for name in podspec {
        assert!(
            out.contains(&format!(
                "warning: application \"{name}\" uses the PodSpec charm"
            )),
            "{name}: {out}"
        );
    }
    assert!(
        out.contains("series \\\"kubernetes\\\" not supported by charm")
            || out.contains("series \"kubernetes\" not supported by charm")
    );
    let written = std::fs::read_to_string(s.bundle.with_file_name("bundle.airgap.yaml")).unwrap();
    for name in podspec {
        assert!(
            !written.contains(&format!("\n  {name}:\n")),
            "{name} still in the bundle"
        );
    }
    let plan =
        std::fs::read_to_string(s.bundle.with_file_name("separately-deployed.yaml")).unwrap();
    for name in podspec {
        assert!(
            plan.contains(&format!("application: {name}")),
            "{name} not in the plan:\n{plan}"
        );
    }
}

/// A reference skipped with a reason (`ref:<reference>`) is left as written in the bundle, the
/// reason is in the log, and the rest of the bundle is edited.
#[test]
fn a_reference_skipped_with_a_reason_is_left_as_written() {
    let katib = "172.17.0.2:5000/kubeflowkatib/katib-ui:v0.15.0";
    let s = setup("ckf-1.7-edge-airgap-bundle.yaml", |a| {
        consent_to_write(a);
        skip(a, &format!("ref:{katib}"), "served by the site mirror");
    });
    write_push_report(&s, &["katib-ui"]);
    let (code, out) = run_headless(&s.state, &s.answers, &["--session", &s.session], NO_ENV);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains(&format!(
            "{katib} is left as written in the bundle (skipped: served by the site mirror)"
        )),
        "{out}"
    );
    let written = std::fs::read_to_string(s.bundle.with_file_name("bundle.airgap.yaml")).unwrap();
    assert!(
        written.contains(&format!("oci-image: {katib}")),
        "{written}"
    );
    assert_eq!(placeholder_refs(&written), [katib]);
}
