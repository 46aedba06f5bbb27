//! `charm:` paths rewritten to the extracted files, matched by charm name.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use ckf_airgap::bundle::charms::{charm_files_by_name, plan_charm_paths};
use ckf_airgap::bundle::model::Bundle;

const BUNDLES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/bundles/");

#[test]
fn charm_paths_point_to_extracted_files_and_missing_ones_are_reported() {
    let text =
        std::fs::read_to_string(format!("{BUNDLES}ckf-1.7-edge-airgap-bundle.yaml")).unwrap();
    let bundle = Bundle::parse("b.yaml", &text).unwrap();
    // Every charm the bundle needs, as a newer Juju client names them, except seldon-core.
    let mut files: Vec<String> = bundle
        .applications
        .iter()
        .map(|a| a.charm_name())
        .filter(|c| c != "seldon-core")
        .map(|c| format!("./charms/{c}_r99.charm"))
        .collect();
    files.push("./charms/resource-dispatcher_r93.charm".into());
    files.push("./charms/README.txt".into());
    let extracted = charm_files_by_name(files);
    let rewrite = plan_charm_paths(&bundle, &extracted).unwrap();

    assert_eq!(rewrite.missing.len(), 1);
    assert_eq!(rewrite.missing[0].application, "seldon-controller-manager");
    assert!(rewrite.missing[0].message().contains("seldon-core_*.charm"));

    let edited = rewrite.plan.apply(&bundle.doc).unwrap();
    let after = Bundle::parse("after", &edited.text).unwrap();
    let charm = |app: &str| after.application(app).unwrap().charm.clone();
    assert_eq!(
        charm("istio-ingressgateway"),
        "./charms/istio-gateway_r99.charm"
    );
    assert_eq!(charm("katib-db"), "./charms/mysql-k8s_r99.charm");
    assert_eq!(charm("kfp-db"), "./charms/mysql-k8s_r99.charm");
    assert_eq!(charm("dex-auth"), "./charms/dex-auth_r99.charm");
    assert_eq!(
        charm("seldon-controller-manager"),
        "./seldon-core_35e93d4.charm"
    );

    // Only `charm:` lines changed.
    let changed: Vec<_> = text
        .lines()
        .zip(edited.text.lines())
        .filter(|(a, b)| a != b)
        .collect();
    assert_eq!(changed.len(), bundle.applications.len() - 1);
    assert!(
        changed
            .iter()
            .all(|(a, b)| a.starts_with("    charm: ./") && b.starts_with("    charm: ./charms/"))
    );
}

#[test]
fn quoted_charm_value_keeps_its_quotes() {
    let text = "applications:\n  a:\n    charm: \"./a_1.charm\" # local\n";
    let bundle = Bundle::parse("b.yaml", text).unwrap();
    let extracted = charm_files_by_name(["/opt/charms/a_r2.charm"]);
    let out = plan_charm_paths(&bundle, &extracted)
        .unwrap()
        .plan
        .apply(&bundle.doc)
        .unwrap()
        .text;
    assert_eq!(
        out,
        "applications:\n  a:\n    charm: \"/opt/charms/a_r2.charm\" # local\n"
    );
}
