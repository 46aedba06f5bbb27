//! The bundle holes a mutation run found, on the real 1.7 air-gapped bundle: a reference under
//! a misspelled section key was written out unchanged without a word, and tabs or control
//! characters that Juju's YAML parser refuses were accepted.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use crate::support::{NO_ENV, answers, run_headless};
use ckf_airgap::answers::{Answers, BundleAnswers, GatewayAnswers, RegistryAnswers};
use ckf_airgap::wizard::state::GatewayServiceType;

const DEX: &str = "172.17.0.2:5000/dexidp/dex:v2.31.2";

fn real_bundle() -> String {
    std::fs::read_to_string(format!(
        "{}/tests/fixtures/bundles/ckf-1.7-edge-airgap-bundle.yaml",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

struct Run {
    code: i32,
    out: String,
    written: Option<String>,
}

/// The bundle steps over `bundle_text`, headless, with the steps before them skipped.
fn run_bundle_steps(dir: &Path, bundle_text: &str, extra_skips: &[(&str, &str)]) -> Run {
    let bundle = dir.join("bundle.yaml");
    std::fs::write(&bundle, bundle_text).unwrap();
    let mut answers = Answers {
        registry: Some(RegistryAnswers {
            target: "registry.example.com:5443/ckf".into(),
            ..RegistryAnswers::default()
        }),
        gateway: Some(GatewayAnswers {
            service_type: GatewayServiceType::NodePort,
        }),
        bundle: Some(BundleAnswers {
            file: Some(bundle.clone()),
            write: true,
            ..BundleAnswers::default()
        }),
        ..Answers::default()
    };
    answers::skip_all_but(
        &mut answers,
        &["placeholder-mapping", "gateway-type", "bundle-preview"],
        "not under test",
    );
    for (key, reason) in extra_skips {
        answers::skip(&mut answers, key, reason);
    }
    let path = dir.join("answers.toml");
    answers::write(&path, &answers);
    let (code, out) = run_headless(&dir.join("state"), &path, &[], NO_ENV);
    Run {
        code,
        out,
        written: std::fs::read_to_string(dir.join("bundle.airgap.yaml")).ok(),
    }
}

#[test]
fn a_reference_under_a_misspelled_section_stops_the_preview_until_fixed_or_skipped() {
    let original = real_bundle();
    let misspelled = original.replacen(
        &format!("    resources:\n      oci-image: {DEX}"),
        &format!("    resourcées:\n      oci-image: {DEX}"),
        1,
    );
    assert_ne!(
        misspelled, original,
        "the fixture changed: dex-auth's resources moved"
    );

    let d = tempfile::tempdir().unwrap();
    let r = run_bundle_steps(d.path(), &misspelled, &[]);
    assert_ne!(r.code, 0, "{}", r.out);
    assert!(r.written.is_none(), "written with the placeholder left");
    assert!(
        r.out.contains(&format!(
            "bundle.yaml:14:18 applications.dex-auth.resourcées.oci-image: {DEX} is left as written"
        )),
        "{}",
        r.out
    );
    assert!(r.out.contains("a misspelling of `resources`"), "{}", r.out);
    assert!(r.out.contains("\"ref:<reference>\""), "{}", r.out);

    // Skipped with a reason, it is written as it is, and nothing else is left.
    let d = tempfile::tempdir().unwrap();
    let key = format!("ref:{DEX}");
    let r = run_bundle_steps(d.path(), &misspelled, &[(&key, "dex is pulled by hand")]);
    assert_eq!(r.code, 0, "{}", r.out);
    let written = r.written.expect("the edited bundle");
    assert_eq!(written.matches("172.17.0.2:5000").count(), 1, "{written}");
}

/// A reference skipped with a reason is left as written whatever its spelling: one written with
/// an escape (`\x2F`) is matched by the value that holds it.
#[test]
fn a_skipped_reference_written_with_an_escape_is_not_a_leftover() {
    let original = real_bundle();
    let escaped = original.replacen(
        &format!("oci-image: {DEX}"),
        "oci-image: \"172.17.0.2:5000\\x2Fdexidp\\x2Fdex:v2.31.2\"",
        1,
    );
    assert_ne!(escaped, original);
    let d = tempfile::tempdir().unwrap();
    let key = format!("ref:{DEX}");
    let r = run_bundle_steps(d.path(), &escaped, &[(&key, "pulled from the site mirror")]);
    assert_eq!(r.code, 0, "{}", r.out);
    assert!(r.written.unwrap().contains("172.17.0.2:5000\\x2Fdexidp"));
}

#[test]
fn tabs_and_control_characters_juju_refuses_are_refused_at_their_line_and_column() {
    let original = real_bundle();
    for (what, mutated, at) in [
        (
            "a tab after a sequence indicator",
            original.replacen(
                "  - [istio-pilot:ingress, dex-auth:ingress]",
                "  -\t[istio-pilot:ingress, dex-auth:ingress]",
                1,
            ),
            "bundle.yaml:148:4:",
        ),
        (
            "a line holding only a tab",
            original.replacen("  dex-auth:\n", "  dex-auth:\n\t\n", 1),
            "bundle.yaml:10:1:",
        ),
        (
            "an escape sequence",
            original.replacen("dexidp/dex:v2.31.2", "dexidp/dex:v2.31.2\u{1b}[31m", 1),
            "bundle.yaml:14:",
        ),
    ] {
        assert_ne!(mutated, original, "{what}: the fixture changed");
        let d = tempfile::tempdir().unwrap();
        let r = run_bundle_steps(d.path(), &mutated, &[]);
        assert_ne!(r.code, 0, "{what} accepted: {}", r.out);
        assert!(r.written.is_none(), "{what}: a bundle was written");
        assert!(r.out.contains(at), "{what}: not located at {at}: {}", r.out);
        assert!(r.out.contains("Juju refuses the file"), "{what}: {}", r.out);
        assert!(
            !r.out.contains('\u{1b}'),
            "{what}: a raw escape was printed"
        );
    }
}
