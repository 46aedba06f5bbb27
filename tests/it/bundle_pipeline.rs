//! All edits together on the FAILS bundle, the diff, and the verifier refusing bad plans.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;

use ckf_airgap::bundle::charms::{charm_files_by_name, plan_charm_paths};
use ckf_airgap::bundle::diff::unified_diff;
use ckf_airgap::bundle::edit::{Edit, EditKind, EditPlan};
use ckf_airgap::bundle::error::BundleError;
use ckf_airgap::bundle::gateway::{GatewayServiceType, plan_gateway};
use ckf_airgap::bundle::mapping::MappingTable;
use ckf_airgap::bundle::model::Bundle;
use ckf_airgap::bundle::podspec::{CharmKind, detect_podspec, plan_podspec_move};
use ckf_airgap::bundle::rewrite::plan_image_edits;
use ckf_airgap::bundle::scan::{detect_placeholder, scan_document};
use ckf_airgap::bundle::yaml::{Document, PathSeg};

const BUNDLES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/bundles/");

#[test]
fn podspec_move_images_charms_and_gateway_in_one_verified_edit() {
    let text = std::fs::read_to_string(format!(
        "{BUNDLES}ckf-latest-edge-2023-09-airgap-bundle-with-podspec-FAILS.yaml"
    ))
    .unwrap();
    let bundle = Bundle::parse("fails.yaml", &text).unwrap();
    let kinds: BTreeMap<_, _> = [
        "argo-controller",
        "argo-server",
        "katib-controller",
        "kubeflow-volumes",
        "minio",
    ]
    .into_iter()
    .map(|c| (c.to_owned(), CharmKind::PodSpec))
    .collect();
    let moved = plan_podspec_move(&bundle, &detect_podspec(&bundle, &kinds)).unwrap();

    let sites = scan_document(&bundle.doc);
    let table = MappingTable::build(
        &sites,
        detect_placeholder(&sites).as_deref(),
        "registry.example.com:5443/ckf",
    )
    .unwrap();
    let files: Vec<String> = bundle
        .applications
        .iter()
        .map(|a| format!("./charms/{}_r1.charm", a.charm_name()))
        .collect();
    let charms = plan_charm_paths(&bundle, &charm_files_by_name(files)).unwrap();

    let mut plan = moved.edit;
    plan.merge(plan_image_edits(&bundle.doc, &sites, &table).unwrap());
    plan.merge(charms.plan);
    plan.merge(plan_gateway(&bundle, GatewayServiceType::LoadBalancer).unwrap());
    let edited = plan.apply(&bundle.doc).unwrap();

    assert!(!edited.text.contains("172.17.0.2:5000"));
    assert!(!edited.text.contains("gateway_service_type"));
    assert!(!edited.text.contains("\n  argo-controller:"), "moved out");
    let diff = unified_diff(&text, &edited.text, "a/fails.yaml", "b/fails.airgap.yaml");
    assert!(diff.starts_with("--- a/fails.yaml\n+++ b/fails.airgap.yaml\n"));
    let removed = diff
        .lines()
        .filter(|l| l.starts_with('-') && !l.starts_with("---"))
        .count();
    let added = diff
        .lines()
        .filter(|l| l.starts_with('+') && !l.starts_with("+++"))
        .count();
    // Every kept application changes its charm line; image lines change in place;
    // moved applications, their relations and the gateway line are only removed.
    assert!(removed > added, "{removed} {added}");
    assert!(
        diff.lines()
            .filter(|l| l.starts_with('+'))
            .skip(1)
            .all(|l| !l.contains("172.17.0.2"))
    );
}

#[test]
fn verifier_refuses_an_edit_that_does_something_else() {
    let doc = Document::parse(
        "v.yaml",
        "applications:\n  a:\n    charm: a\n    scale: 1\n",
    )
    .unwrap();
    let charm = vec![
        PathSeg::Key("applications".into()),
        PathSeg::Key("a".into()),
        PathSeg::Key("charm".into()),
    ];
    let at = doc.text().find("scale: 1").unwrap() + 7;
    let mut plan = EditPlan::new();
    // Claims to rewrite `charm` but actually changes `scale`.
    plan.push(Edit {
        range: at..at + 1,
        replacement: "2".into(),
        kind: EditKind::Token {
            value_path: charm,
            value_range: 0..1,
            replacement: "b".into(),
        },
    });
    let err = plan.apply(&doc).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, BundleError::Verification { .. }));
    assert!(
        msg.contains("applications.a.charm is")
            && msg.contains("applications.a.scale changed unexpectedly"),
        "{msg}"
    );
}

#[test]
fn verifier_refuses_a_placeholder_left_where_mapping_was_requested() {
    let doc = Document::parse(
        "v.yaml",
        "applications:\n  a:\n    charm: a\n    resources:\n      img: 10.0.0.1:5000/x/y:1\n",
    )
    .unwrap();
    let img = ["applications", "a", "resources", "img"]
        .map(|k| PathSeg::Key(k.into()))
        .to_vec();
    let mut plan = EditPlan::new();
    plan.placeholder_free.push(("10.0.0.1:5000".into(), img));
    let err = plan.apply(&doc).unwrap_err();
    assert!(
        err.to_string()
            .contains("still refers to 10.0.0.1:5000/x/y:1"),
        "{err}"
    );
}

#[test]
fn edit_that_breaks_yaml_is_refused() {
    let doc = Document::parse("v.yaml", "a:\n  b: c\n").unwrap();
    let mut plan = EditPlan::new();
    plan.push(Edit {
        range: 5..6,
        replacement: "b: [".into(),
        kind: EditKind::Delete { path: vec![] },
    });
    let err = plan.apply(&doc).unwrap_err();
    assert!(err.to_string().contains("no longer parses"), "{err}");
}
