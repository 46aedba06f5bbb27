//! Is there a load balancer for the Istio gateway? Without one a `LoadBalancer` service stays
//! `<pending>` forever, so the gateway must stay `NodePort`.

use serde::Serialize;

use super::{Check, CheckStatus, Probe};
use crate::cluster::cmd::Cmd;
use crate::cluster::runner::Runner;
use saphyr::{LoadableYamlNode, Yaml};

pub const ID: &str = "load-balancer";
const TITLE: &str = "Load balancer for the Kubeflow gateway";

/// Feeds the gateway choice (`gateway_service_type` of istio-gateway).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum LoadBalancerHint {
    /// MetalLB or another provider hands out addresses: `LoadBalancer` works.
    Available,
    /// Nothing hands out addresses: keep `NodePort`.
    NodePortOnly,
}

pub async fn check_load_balancer(runner: &Runner) -> (Check, LoadBalancerHint) {
    let mut seen = Vec::new();
    let status = Probe::run(runner, Cmd::microk8s(["status", "--format", "yaml"])).await;
    let metallb = status.stdout().and_then(metallb_enabled);
    match metallb {
        Some(on) => seen.push(status.evidence(&format!(
            "metallb: {}",
            if on { "enabled" } else { "disabled" }
        ))),
        None => seen.push(status.evidence_problem()),
    }
    let svcs = Probe::run(runner, Cmd::kubectl(["get", "svc", "-A", "-o", "json"])).await;
    let with_ip = svcs
        .json()
        .map(|j| load_balancer_ips(&j))
        .unwrap_or_default();
    match svcs.stdout() {
        Some(_) if with_ip.is_empty() => {
            seen.push(svcs.evidence("no LoadBalancer service has an address"))
        }
        Some(_) => seen.push(svcs.evidence(&with_ip.join("\n"))),
        None => seen.push(svcs.evidence_problem()),
    }
    let pools = Probe::run(
        runner,
        Cmd::kubectl(["get", "ipaddresspools.metallb.io", "-A", "-o", "json"]),
    )
    .await;
    let pool_names = pools.json().map(|j| names(&j)).unwrap_or_default();
    match pools.stdout() {
        Some(_) if pool_names.is_empty() => seen.push(pools.evidence("no address pools")),
        Some(_) => seen.push(pools.evidence(&format!("pools: {}", pool_names.join(", ")))),
        None => seen.push(pools.evidence_problem()),
    }
    let evidence = seen.join("\n");
    if metallb == Some(true) || !with_ip.is_empty() || !pool_names.is_empty() {
        let check = Check::new(ID, TITLE, CheckStatus::Pass).evidence(evidence);
        return (check, LoadBalancerHint::Available);
    }
    let check = Check::new(ID, TITLE, CheckStatus::Warn)
        .evidence(evidence)
        .fix("Keep `gateway_service_type: NodePort` for istio-ingressgateway (the dashboard is then reached on a node port), or give MetalLB a free address range: `microk8s enable metallb:<first-ip>-<last-ip>`");
    (check, LoadBalancerHint::NodePortOnly)
}

/// Whether `microk8s status --format yaml` lists the metallb add-on as enabled.
pub fn metallb_enabled(yaml: &str) -> Option<bool> {
    let docs = Yaml::load_from_str(yaml).ok()?;
    let addons = docs.first()?.as_mapping_get("addons")?.as_sequence()?;
    Some(addons.iter().any(|a| {
        let field = |k: &str| a.as_mapping_get(k).and_then(Yaml::as_str);
        field("name") == Some("metallb") && field("status") == Some("enabled")
    }))
}

fn load_balancer_ips(json: &serde_json::Value) -> Vec<String> {
    items(json)
        .filter(|s| s.pointer("/spec/type").and_then(|t| t.as_str()) == Some("LoadBalancer"))
        .filter_map(|s| {
            let ingress = s.pointer("/status/loadBalancer/ingress/0")?;
            let addr = ingress
                .get("ip")
                .or_else(|| ingress.get("hostname"))?
                .as_str()?;
            let name = s.pointer("/metadata/name")?.as_str()?;
            let ns = s.pointer("/metadata/namespace")?.as_str()?;
            Some(format!("{ns}/{name}: {addr}"))
        })
        .collect()
}

fn names(json: &serde_json::Value) -> Vec<String> {
    items(json)
        .filter_map(|i| i.pointer("/metadata/name")?.as_str().map(str::to_owned))
        .collect()
}

fn items(json: &serde_json::Value) -> impl Iterator<Item = &serde_json::Value> {
    json.get("items")
        .and_then(|i| i.as_array())
        .into_iter()
        .flatten()
}
