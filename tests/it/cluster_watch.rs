//! Watching the model: known failures recognised with their fixes, all-active reached, and the
//! dashboard address and login command at the end.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use crate::cluster_support::{Fakes, answer_file, scenario};
use ckf_airgap::cluster::diagnose::{KnownFailure, PullCause};
use ckf_airgap::cluster::finish::{self, GatewayAccess};
use ckf_airgap::cluster::watch::{self, WatchOptions, WatchOutcome, render_table};
use serde_json::json;

const STATUS: [&str; 4] = ["status", "--model", "kubeflow", "--format=json"];
const PODS: [&str; 6] = ["get", "pods", "-n", "kubeflow", "-o", "json"];

fn options(timeout: Duration) -> WatchOptions {
    WatchOptions {
        timeout,
        poll_initial: Duration::ZERO,
        poll_max: Duration::ZERO,
        ..WatchOptions::new("kubeflow")
    }
}

#[tokio::test]
async fn recognises_each_known_failure_with_its_fix() {
    let fakes = Fakes::all();
    fakes.set_scenario(&scenario(vec![
        answer_file("juju", &STATUS, "status-settling.json"),
        answer_file("kubectl", &PODS, "pods-imagepull.json"),
    ]));
    let mut rounds = 0;
    let outcome = watch::watch(&fakes.runner(), &options(Duration::ZERO), &mut |_| {
        rounds += 1
    })
    .await
    .unwrap();
    let WatchOutcome::TimedOut(round) = outcome else {
        panic!("{outcome:?}")
    };
    assert_eq!(rounds, 1);
    assert_eq!(
        fakes.lines(),
        [
            "juju status --model kubeflow --format=json",
            "kubectl get pods -n kubeflow -o json"
        ]
    );
    let f = &round.findings;
    assert_eq!(
        f[0],
        KnownFailure::MissingOciResource {
            application: "minio".into()
        }
    );
    assert_eq!(
        f[0].advice("kubeflow"),
        "Known Juju issue with PodSpec charms: restart the operator pod: `kubectl -n kubeflow delete pod minio-operator-0`"
    );
    let pull = |i: usize| match &f[i] {
        KnownFailure::ImagePull {
            pod,
            image,
            cause,
            reason,
            ..
        } => (pod.clone(), image.clone(), cause.clone(), reason.clone()),
        other => panic!("{other:?}"),
    };
    let missing = "registry.dc.example:5000/ckf/kubeflownotebookswg/volumes-web-app:v1.7.0";
    assert_eq!(
        pull(1),
        (
            "kubeflow-volumes-5d8f7c9b6-x2kqp".into(),
            missing.into(),
            PullCause::Missing,
            "ErrImagePull".into()
        )
    );
    assert_eq!(
        f[1].advice("kubeflow"),
        format!("{missing} is not in the registry: push it, then the pod retries by itself")
    );
    assert_eq!(pull(2).2, PullCause::UntrustedCa);
    assert!(f[2].advice("kubeflow").contains("hosts.toml"));
    assert_eq!(
        (pull(3).2, pull(3).3),
        (PullCause::Unknown, "ImagePullBackOff".into())
    );
    assert!(
        f[3].advice("kubeflow")
            .contains("kubectl -n kubeflow describe pod kfp-schedwf-6c7d8e9f0-aa2bc")
    );
    assert_eq!(f.len(), 4);
    let table = render_table(&round.rows);
    assert_eq!(
        table,
        "APP       STATUS   UNITS  MESSAGE\n\
         dex-auth  active   1/1\n\
         kfp-ui    waiting  0/1    waiting for pod\n\
         minio     blocked  0/1    Missing resource: oci-image\n"
    );
}

#[tokio::test]
async fn polls_until_all_active() {
    let fakes = Fakes::all();
    fakes.set_scenario(&json!({"rules": [
        {"tool": "juju", "args": STATUS, "responses": [
            {"stdout_file": "status-empty.json"},
            {"stdout": "", "stderr": "ERROR connection is shut down\n", "exit": 1},
            {"stdout_file": "status-settling.json"},
            {"stdout_file": "status-active.json"}]},
        answer_file("kubectl", &PODS, "empty-list.json"),
    ]}));
    let mut seen = Vec::new();
    let outcome = watch::watch(
        &fakes.runner(),
        &options(Duration::from_secs(600)),
        &mut |r| seen.push(r.clone()),
    )
    .await
    .unwrap();
    let WatchOutcome::AllActive(round) = outcome else {
        panic!("{outcome:?}")
    };
    assert_eq!(round.rows.len(), 3);
    assert!(round.findings.is_empty());
    assert_eq!(seen.len(), 4);
    assert!(
        seen[1]
            .note
            .as_deref()
            .unwrap()
            .contains("connection is shut down")
    );
    // The pods are only listed while something is not active.
    let statuses = fakes
        .lines()
        .iter()
        .filter(|l| l.starts_with("juju status"))
        .count();
    assert_eq!(statuses, 4);
    assert_eq!(
        fakes.lines().last().unwrap(),
        "juju status --model kubeflow --format=json"
    );
}

#[tokio::test]
async fn dashboard_through_node_port_or_load_balancer() {
    let svc = [
        "-n",
        "kubeflow",
        "get",
        "svc",
        "istio-ingressgateway-workload",
        "-o",
        "json",
    ];
    let fakes = Fakes::all();
    fakes.set_scenario(&scenario(vec![
        answer_file("kubectl", &svc, "svc-gateway-nodeport.json"),
        answer_file("kubectl", &["get", "nodes", "-o", "json"], "nodes.json"),
    ]));
    let d = finish::dashboard(&fakes.runner(), "kubeflow")
        .await
        .unwrap();
    assert_eq!(d.url, "http://10.20.0.11:30412");
    assert_eq!(
        d.access,
        GatewayAccess::NodePort {
            node_ip: "10.20.0.11".into(),
            port: 30412
        }
    );

    fakes.set_scenario(&scenario(vec![answer_file(
        "kubectl",
        &svc,
        "svc-gateway-lb.json",
    )]));
    let d = finish::dashboard(&fakes.runner(), "kubeflow")
        .await
        .unwrap();
    assert_eq!(d.url, "http://10.20.0.240");
    assert_eq!(
        d.access,
        GatewayAccess::LoadBalancer {
            ip: "10.20.0.240".into()
        }
    );
    assert_eq!(
        finish::login_command("admin@dc.example"),
        "juju config dex-auth static-username=admin@dc.example static-password=<password>"
    );
}
