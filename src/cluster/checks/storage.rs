//! A default storage class: Juju's bootstrap and every charm's storage need one.

use super::{Check, CheckStatus, Probe};
use crate::cluster::cmd::Cmd;
use crate::cluster::runner::Runner;

pub const ID: &str = "storage-class";
const TITLE: &str = "Default storage class";
const DEFAULT_ANNOTATIONS: [&str; 2] = [
    "storageclass.kubernetes.io/is-default-class",
    "storageclass.beta.kubernetes.io/is-default-class",
];

pub async fn check_storage_class(runner: &Runner) -> Check {
    let probe = Probe::run(runner, Cmd::kubectl(["get", "storageclass", "-o", "json"])).await;
    let Some(json) = probe.json() else {
        return Check::new(ID, TITLE, CheckStatus::Fail)
            .evidence(probe.evidence_problem())
            .fix("Make the Kubernetes API reachable first (see the Kubernetes check)");
    };
    let classes: Vec<(String, bool)> = json
        .get("items")
        .and_then(|i| i.as_array())
        .map(|items| {
            items
                .iter()
                .map(|sc| {
                    let name = sc
                        .pointer("/metadata/name")
                        .and_then(|n| n.as_str())
                        .unwrap_or("?")
                        .to_owned();
                    let default = DEFAULT_ANNOTATIONS.iter().any(|a| {
                        sc.pointer("/metadata/annotations")
                            .and_then(|m| m.get(*a))
                            .and_then(|v| v.as_str())
                            == Some("true")
                    });
                    (name, default)
                })
                .collect()
        })
        .unwrap_or_default();
    let seen = if classes.is_empty() {
        "no storage classes".to_owned()
    } else {
        classes
            .iter()
            .map(|(n, d)| {
                if *d {
                    format!("{n} (default)")
                } else {
                    n.clone()
                }
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    let evidence = probe.evidence(&seen);
    if classes.iter().any(|(_, d)| *d) {
        return Check::new(ID, TITLE, CheckStatus::Pass).evidence(evidence);
    }
    let fix = match classes.first() {
        Some((name, _)) => format!(
            "kubectl patch storageclass {name} -p '{{\"metadata\":{{\"annotations\":{{\"storageclass.kubernetes.io/is-default-class\":\"true\"}}}}}}'"
        ),
        None => "microk8s enable hostpath-storage".to_owned(),
    };
    Check::new(ID, TITLE, CheckStatus::Fail)
        .evidence(evidence)
        .fix(fix)
}
