//! PodSpec charms inside a bundle: warning, moving them out, and the shipped plans.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};

use ckf_airgap::bundle::model::Bundle;
use ckf_airgap::bundle::podspec::{
    CharmKind, PodspecRelease, SeparatelyDeployed, detect_podspec, plan_podspec_move,
};
use ckf_airgap::bundle::scan::scan_document;
use ckf_airgap::bundle::yaml::Document;

const BUNDLES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/bundles/");

fn load(name: &str) -> Bundle {
    Bundle::load(std::path::Path::new(&format!("{BUNDLES}{name}"))).unwrap()
}

/// Charm kinds as the artifacts step would report them for the FAILS bundle.
fn kinds(bundle: &Bundle, podspec: &[&str]) -> BTreeMap<String, CharmKind> {
    bundle
        .applications
        .iter()
        .map(|a| {
            let kind = if podspec.contains(&a.charm_name().as_str()) {
                CharmKind::PodSpec
            } else {
                CharmKind::Sidecar
            };
            (a.charm_name(), kind)
        })
        .collect()
}

fn pair_set(pairs: impl IntoIterator<Item = [String; 2]>) -> BTreeSet<[String; 2]> {
    pairs
        .into_iter()
        .map(|mut p| {
            p.sort();
            p
        })
        .collect()
}

#[test]
fn fails_bundle_warns_for_each_podspec_charm_and_moves_them_out() {
    let bundle = load("ckf-latest-edge-2023-09-airgap-bundle-with-podspec-FAILS.yaml");
    assert_eq!(bundle.applications.len(), 35);
    let podspec = [
        "argo-controller",
        "argo-server",
        "katib-controller",
        "kubeflow-volumes",
        "minio",
    ];
    let warnings = detect_podspec(&bundle, &kinds(&bundle, &podspec));
    let names: Vec<_> = warnings.iter().map(|w| w.application.as_str()).collect();
    assert_eq!(names, podspec);
    for w in &warnings {
        assert!(
            w.message.contains(&format!("{:?}", w.application)),
            "{}",
            w.message
        );
        assert!(
            w.message
                .contains("series \"kubernetes\" not supported by charm")
        );
        assert!(w.message.contains("canonical/bundle-kubeflow#693"));
    }

    let moved = plan_podspec_move(&bundle, &warnings).unwrap();
    let edited = moved.edit.apply(&bundle.doc).unwrap();
    let after = Bundle::parse("after", &edited.text).unwrap();

    // The result has exactly the application set of the later, working bundle.
    let working = load("ckf-latest-edge-2023-10-airgap-bundle.yaml");
    let set = |b: &Bundle| {
        b.applications
            .iter()
            .map(|a| a.name.clone())
            .collect::<BTreeSet<_>>()
    };
    assert_eq!(set(&after), set(&working));
    assert!(
        after
            .relations
            .iter()
            .all(|r| podspec.iter().all(|p| !r.mentions(p)))
    );
    assert_eq!(after.relations.len(), bundle.relations.len() - 6);

    // The moved relations are those Canonical's script adds (by application pair).
    let script = PodspecRelease::LatestEdge20230918.plan().unwrap();
    let strip = |e: &String| e.split(':').next().unwrap_or_default().to_owned();
    let by_app = |rels: &[[String; 2]]| pair_set(rels.iter().map(|[a, b]| [strip(a), strip(b)]));
    assert_eq!(by_app(&moved.plan.relations), by_app(&script.relations));
    let moved_apps: Vec<_> = moved
        .plan
        .apps
        .iter()
        .map(|a| a.application.as_str())
        .collect();
    assert_eq!(moved_apps, podspec);

    // Resources and options travel as resources and config.
    let argo = &moved.plan.apps[0];
    assert_eq!(
        argo.resources,
        vec![(
            "oci-image".into(),
            "172.17.0.2:5000/argoproj/workflow-controller:v3.3.8".into()
        )]
    );
    assert_eq!(
        argo.config,
        vec![(
            "executor-image".into(),
            "172.17.0.2:5000/argoproj/argoexec:v3.3.8".into()
        )]
    );
    assert!(argo.trust);
    assert!(
        !moved.plan.apps[1].trust,
        "argo-server has no trust: in the bundle"
    );

    // Every image left the bundle with its application: none is lost.
    let refs = |d: &Document| {
        scan_document(d)
            .into_iter()
            .map(|s| s.text)
            .collect::<Vec<_>>()
    };
    let plan_text = moved.plan.to_yaml("generated");
    let plan_doc = Document::parse("plan", &plan_text).unwrap();
    assert_eq!(
        refs(&edited.doc).len() + refs(&plan_doc).len(),
        refs(&bundle.doc).len()
    );
    assert_eq!(
        SeparatelyDeployed::parse("plan", &plan_text).unwrap(),
        moved.plan
    );
}

#[test]
fn shipped_plans_parse_with_their_source_comments() {
    let expected = [
        (PodspecRelease::Ckf17Edge, 16, 14),
        (PodspecRelease::LatestEdge20230918, 5, 6),
        (PodspecRelease::LatestEdge202310, 4, 6),
    ];
    for (release, apps, relations) in expected {
        let plan = release.plan().unwrap();
        assert_eq!(
            (plan.apps.len(), plan.relations.len()),
            (apps, relations),
            "{release:?}"
        );
        assert!(release.text().starts_with("# DERIVED DATA"));
        assert!(plan.source_comment_lines[0].contains("issues/693"));
        let same = std::fs::read_to_string(format!("{BUNDLES}{}", release.file_name())).unwrap();
        assert_eq!(release.text(), same);
    }
    let katib = &PodspecRelease::LatestEdge202310.plan().unwrap().apps[1];
    assert_eq!(katib.application, "katib-controller");
    assert!(katib.notes[0].contains("NOT parseable"));
}

#[test]
fn user_supplied_plan_is_read_and_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mine.yaml");
    std::fs::write(
        &path,
        "separately_deployed:\n- charm_file: ./minio_r1.charm\n  application: minio\n  trust: true\n  resources:\n    oci-image: reg.io:5000/minio/minio:x\n  config:\n    k: 'a: b'\nrelations:\n- [kfp-api:object-storage, minio:object-storage]\n",
    )
    .unwrap();
    let plan = SeparatelyDeployed::load(&path).unwrap();
    assert!(plan.apps[0].trust);
    assert_eq!(plan.apps[0].config, vec![("k".into(), "a: b".into())]);
    assert_eq!(
        SeparatelyDeployed::parse("x", &plan.to_yaml("")).unwrap(),
        plan
    );
    let err = SeparatelyDeployed::parse("bad.yaml", "separately_deployed:\n- application: x\n")
        .unwrap_err();
    assert!(err.to_string().contains("charm_file"), "{err}");
}

/// Moving out the only application a bundle relates removes the `relations` key instead of
/// leaving it null, and the edit verifies.
#[test]
fn moving_every_related_application_removes_the_relations_key() {
    use ckf_airgap::bundle::model::Bundle;
    use ckf_airgap::bundle::podspec::{CharmKind, detect_podspec, plan_podspec_move};
    let text = "bundle: kubernetes\napplications:\n  a:\n    charm: ./a_r1.charm\n  b:\n    charm: ./b_r1.charm\nrelations:\n  - [a, b]\n";
    let bundle = Bundle::parse("b.yaml", text).unwrap();
    let kinds = [("b".to_string(), CharmKind::PodSpec)]
        .into_iter()
        .collect();
    let warnings = detect_podspec(&bundle, &kinds);
    let moved = plan_podspec_move(&bundle, &warnings).unwrap();
    let edited = moved.edit.apply(&bundle.doc).unwrap();
    assert_eq!(
        edited.text,
        "bundle: kubernetes\napplications:\n  a:\n    charm: ./a_r1.charm\n"
    );
    assert_eq!(
        moved.plan.relations,
        vec![["a".to_string(), "b".to_string()]]
    );
}
