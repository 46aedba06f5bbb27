//! Istio gateway service type choices on the real 1.7 bundle.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use ckf_airgap::bundle::gateway::{
    GatewayServiceType, current_service_type, gateway_app, plan_gateway,
};
use ckf_airgap::bundle::model::Bundle;

const BUNDLES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/bundles/");
const LINE: &str = "      gateway_service_type: NodePort\n";

fn original() -> String {
    std::fs::read_to_string(format!("{BUNDLES}ckf-1.7-edge-airgap-bundle.yaml")).unwrap()
}

fn apply(text: &str, choice: GatewayServiceType) -> String {
    let bundle = Bundle::parse("b.yaml", text).unwrap();
    plan_gateway(&bundle, choice)
        .unwrap()
        .apply(&bundle.doc)
        .unwrap()
        .text
}

#[test]
fn gateway_app_is_found_by_charm_not_app_name() {
    let bundle = Bundle::parse("b.yaml", &original()).unwrap();
    assert_eq!(gateway_app(&bundle).unwrap().name, "istio-ingressgateway");
    assert_eq!(
        current_service_type(&bundle),
        Some(GatewayServiceType::NodePort)
    );
}

#[test]
fn nodeport_kept_when_already_set() {
    let text = original();
    assert_eq!(apply(&text, GatewayServiceType::NodePort), text);
}

#[test]
fn loadbalancer_deletes_exactly_the_option_line() {
    let text = original();
    let out = apply(&text, GatewayServiceType::LoadBalancer);
    assert_eq!(out, text.replacen(LINE, "", 1));
    let after = Bundle::parse("b.yaml", &out).unwrap();
    assert_eq!(
        current_service_type(&after),
        Some(GatewayServiceType::LoadBalancer)
    );
    assert_eq!(
        apply(&out, GatewayServiceType::LoadBalancer),
        out,
        "already default: no edit"
    );
}

#[test]
fn clusterip_replaces_the_value_only() {
    let text = original();
    let out = apply(&text, GatewayServiceType::ClusterIP);
    assert_eq!(
        out,
        text.replacen(LINE, "      gateway_service_type: ClusterIP\n", 1)
    );
}

#[test]
fn setting_when_absent_inserts_one_line_in_options() {
    let without = original().replacen(LINE, "", 1);
    let out = apply(&without, GatewayServiceType::NodePort);
    assert_eq!(out, original());
}

#[test]
fn setting_without_options_creates_the_mapping() {
    let text = "applications:\n  istio-ingressgateway:\n    charm: ./istio-gateway_r1.charm\n    scale: 1\n  other:\n    charm: ./x_1.charm\n";
    let out = apply(text, GatewayServiceType::ClusterIP);
    assert_eq!(
        out,
        "applications:\n  istio-ingressgateway:\n    charm: ./istio-gateway_r1.charm\n    scale: 1\n    options:\n      gateway_service_type: ClusterIP\n  other:\n    charm: ./x_1.charm\n"
    );
}

#[test]
fn each_choice_has_a_one_line_explanation() {
    for c in GatewayServiceType::ALL {
        let e = c.explanation();
        assert!(e.starts_with(c.as_str()) && !e.contains('\n'), "{e}");
    }
}

#[test]
fn bundle_without_gateway_is_an_error() {
    let bundle = Bundle::parse("b.yaml", "applications:\n  a:\n    charm: a\n").unwrap();
    let err = plan_gateway(&bundle, GatewayServiceType::NodePort).unwrap_err();
    assert!(err.to_string().contains("istio-gateway"), "{err}");
}
