//! Each environment check, passing and failing with its fix, against scripted fakes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use crate::cluster_support::{Fakes, answer, answer_file, scenario};
use ckf_airgap::cluster::CkfRelease;
use ckf_airgap::cluster::checks::{self, CheckStatus, LoadBalancerHint, RegistryOutcome};

const KUBECTL_VERSION: [&str; 3] = ["version", "-o", "json"];
const COREDNS: [&str; 7] = [
    "-n",
    "kube-system",
    "get",
    "configmap",
    "coredns",
    "-o",
    "json",
];

#[tokio::test]
async fn kubernetes_version_fits_or_not() {
    let fakes = Fakes::all();
    fakes.set_scenario(&scenario(vec![answer_file(
        "kubectl",
        &KUBECTL_VERSION,
        "kubectl-version-1.24.json",
    )]));
    let (check, version) = checks::check_kubernetes(&fakes.runner(), CkfRelease::V1_7).await;
    assert_eq!(check.status, CheckStatus::Pass, "{check:?}");
    assert_eq!(version.map(|v| v.to_string()).as_deref(), Some("1.24.17"));
    assert!(
        check
            .evidence
            .starts_with("$ kubectl version -o json\nserver version 1.24.17")
    );

    fakes.set_scenario(&scenario(vec![answer_file(
        "kubectl",
        &KUBECTL_VERSION,
        "kubectl-version-1.28.json",
    )]));
    let (check, _) = checks::check_kubernetes(&fakes.runner(), CkfRelease::V1_7).await;
    assert_eq!(check.status, CheckStatus::Fail);
    assert_eq!(
        check.fix.as_deref(),
        Some(
            "Use Kubernetes 1.22–1.24 for CKF 1.7; on MicroK8s: `sudo snap refresh microk8s --channel=1.24/stable`"
        )
    );
    let (check, _) = checks::check_kubernetes(&fakes.runner(), CkfRelease::V1_8).await;
    assert_eq!(check.status, CheckStatus::Pass);
}

#[tokio::test]
async fn kubernetes_unreachable_through_microk8s_kubectl() {
    let fakes = Fakes::new(&["microk8s"]);
    fakes.set_scenario(&scenario(vec![answer(
        "microk8s",
        &["kubectl", "version", "-o", "json"],
        "{\"clientVersion\": {\"gitVersion\": \"v1.24.17\"}}",
        "The connection to the server 127.0.0.1:16443 was refused - did you specify the right host or port?\n",
        1,
    )]));
    let runner = fakes.runner().with_kubectl_fallback();
    let (check, version) = checks::check_kubernetes(&runner, CkfRelease::V1_7).await;
    assert_eq!(fakes.lines(), ["microk8s kubectl version -o json"]);
    assert_eq!(check.status, CheckStatus::Fail);
    assert_eq!(version, None);
    assert!(
        check.evidence.starts_with(
            "$ microk8s kubectl version -o json\nexit 1: The connection to the server 127.0.0.1:16443 was refused"
        ),
        "{}",
        check.evidence
    );
    assert!(check.fix.unwrap().contains("microk8s status --wait-ready"));
}

#[tokio::test]
async fn default_storage_class_or_not() {
    let args = ["get", "storageclass", "-o", "json"];
    let fakes = Fakes::all();
    fakes.set_scenario(&scenario(vec![answer_file(
        "kubectl",
        &args,
        "storageclass-default.json",
    )]));
    let check = checks::check_storage_class(&fakes.runner()).await;
    assert_eq!(check.status, CheckStatus::Pass);
    assert!(check.evidence.ends_with("microk8s-hostpath (default)"));

    fakes.set_scenario(&scenario(vec![answer_file(
        "kubectl",
        &args,
        "storageclass-nodefault.json",
    )]));
    let check = checks::check_storage_class(&fakes.runner()).await;
    assert_eq!(check.status, CheckStatus::Fail);
    assert!(
        check
            .fix
            .unwrap()
            .starts_with("kubectl patch storageclass microk8s-hostpath")
    );

    fakes.set_scenario(&scenario(vec![answer_file(
        "kubectl",
        &args,
        "empty-list.json",
    )]));
    let check = checks::check_storage_class(&fakes.runner()).await;
    assert_eq!(
        check.fix.as_deref(),
        Some("microk8s enable hostpath-storage")
    );
}

#[tokio::test]
async fn dns_forwarding_public_resolver_fails_with_local_ip_fix() {
    let fakes = Fakes::all();
    fakes.set_scenario(&scenario(vec![
        answer_file("kubectl", &COREDNS, "coredns-public.json"),
        answer_file("resolvectl", &["status"], "resolvectl-status.txt"),
    ]));
    let check = checks::check_dns(&fakes.runner()).await;
    assert_eq!(check.status, CheckStatus::Fail);
    assert!(check.evidence.contains("forward . 8.8.8.8 8.8.4.4"));
    assert_eq!(
        check.fix.as_deref(),
        Some("microk8s disable dns && microk8s enable dns:10.20.0.2")
    );
    assert_eq!(
        fakes.lines(),
        [
            "kubectl -n kube-system get configmap coredns -o json",
            "resolvectl status"
        ]
    );

    fakes.set_scenario(&scenario(vec![answer_file(
        "kubectl",
        &COREDNS,
        "coredns-local.json",
    )]));
    let check = checks::check_dns(&fakes.runner()).await;
    assert_eq!(check.status, CheckStatus::Pass, "{check:?}");
    assert_eq!(check.fix, None);
}

#[tokio::test]
async fn dns_fix_without_resolvectl_answer_names_a_placeholder() {
    let fakes = Fakes::all();
    fakes.set_scenario(&scenario(vec![
        answer(
            "kubectl",
            &COREDNS,
            "",
            "Error from server (NotFound): configmaps \"coredns\" not found\n",
            1,
        ),
        answer(
            "resolvectl",
            &["status"],
            "",
            "Failed to get global data: Unit dbus-org.freedesktop.resolve1.service not found.\n",
            1,
        ),
    ]));
    let check = checks::check_dns(&fakes.runner()).await;
    assert_eq!(check.status, CheckStatus::Fail);
    assert!(check.evidence.contains("configmaps \"coredns\" not found"));
    assert!(
        check
            .fix
            .unwrap()
            .starts_with("microk8s disable dns && microk8s enable dns:<IP of a nameserver")
    );
}

fn lb_rules(status: &str, svcs: &str, pools: &str) -> serde_json::Value {
    scenario(vec![
        answer_file("microk8s", &["status", "--format", "yaml"], status),
        answer_file("kubectl", &["get", "svc", "-A", "-o", "json"], svcs),
        answer_file(
            "kubectl",
            &["get", "ipaddresspools.metallb.io", "-A", "-o", "json"],
            pools,
        ),
    ])
}

#[tokio::test]
async fn load_balancer_present_or_not() {
    let fakes = Fakes::all();
    fakes.set_scenario(&lb_rules(
        "microk8s-status-metallb.yaml",
        "svc-all-clusterip.json",
        "empty-list.json",
    ));
    let (check, hint) = checks::check_load_balancer(&fakes.runner()).await;
    assert_eq!(
        (check.status.clone(), hint),
        (CheckStatus::Pass, LoadBalancerHint::Available),
        "{check:?}"
    );
    assert!(check.evidence.contains("metallb: enabled"));

    fakes.set_scenario(&lb_rules(
        "microk8s-status-nometallb.yaml",
        "svc-all-clusterip.json",
        "ipaddresspools.json",
    ));
    let (check, hint) = checks::check_load_balancer(&fakes.runner()).await;
    assert_eq!(
        (check.status.clone(), hint),
        (CheckStatus::Pass, LoadBalancerHint::Available)
    );
    assert!(check.evidence.contains("pools: default-addresspool"));

    fakes.set_scenario(&lb_rules(
        "microk8s-status-nometallb.yaml",
        "svc-all-clusterip.json",
        "empty-list.json",
    ));
    let (check, hint) = checks::check_load_balancer(&fakes.runner()).await;
    assert_eq!(
        (check.status.clone(), hint),
        (CheckStatus::Warn, LoadBalancerHint::NodePortOnly)
    );
    assert!(
        check
            .evidence
            .contains("no LoadBalancer service has an address")
    );
    assert!(
        check
            .fix
            .unwrap()
            .contains("gateway_service_type: NodePort")
    );
}

#[test]
fn registry_outcome_becomes_a_check() {
    let ok = checks::check_registry(
        "registry.dc.example:5000",
        &RegistryOutcome::Trusted {
            evidence: "GET https://registry.dc.example:5000/v2/ → 401 with Bearer challenge".into(),
        },
    );
    assert_eq!(ok.status, CheckStatus::Pass);
    let bad = checks::check_registry(
        "registry.dc.example:5000",
        &RegistryOutcome::CaNotTrusted {
            evidence: "x509: certificate signed by unknown authority".into(),
        },
    );
    assert_eq!(bad.status, CheckStatus::Fail);
    assert!(bad.fix.unwrap().contains("update-ca-certificates"));
    let skipped = checks::check_registry(
        "r:1",
        &RegistryOutcome::Unreachable {
            evidence: "timeout".into(),
        },
    )
    .skip("registry is behind a proxy the wizard cannot use");
    assert_eq!(
        skipped.status,
        CheckStatus::Skipped {
            reason: "registry is behind a proxy the wizard cannot use".into()
        }
    );
    assert!(skipped.fix.is_some());
}

#[tokio::test]
async fn juju_client_version_against_release() {
    let fakes = Fakes::all();
    fakes.set_scenario(&scenario(vec![answer(
        "juju",
        &["version"],
        "2.9.44-ubuntu-amd64\n",
        "",
        0,
    )]));
    let (check, v) = checks::check_juju_client(&fakes.runner(), CkfRelease::V1_7).await;
    assert_eq!(check.status, CheckStatus::Pass);
    assert_eq!(v.map(|v| v.to_string()).as_deref(), Some("2.9.44"));
    let (check, _) = checks::check_juju_client(&fakes.runner(), CkfRelease::V1_9).await;
    assert_eq!(check.status, CheckStatus::Fail);
    assert!(check.fix.unwrap().contains("--channel=3.4/stable"));

    fakes.set_scenario(&scenario(vec![answer(
        "juju",
        &["version"],
        "3.5.1-genericlinux-amd64\n",
        "",
        0,
    )]));
    let (check, _) = checks::check_juju_client(&fakes.runner(), CkfRelease::V1_8).await;
    assert_eq!(check.status, CheckStatus::Fail);
}

#[tokio::test]
async fn controller_and_its_image_repo() {
    let fakes = Fakes::all();
    fakes.set_scenario(&scenario(vec![
        answer_file("juju", &["show-controller", "--format=json"], "juju-show-controller.json"),
        answer("juju", &["controller-config", "caas-image-repo"],
            "{\"repository\":\"registry.dc.example:5000/ckf/jujusolutions\",\"serveraddress\":\"registry.dc.example:5000\",\"username\":\"ckf\",\"password\":\"hunter2\"}\n", "", 0),
    ]));
    let runner = fakes.runner();
    let (check, info) = checks::check_controller(&runner, CkfRelease::V1_7, None).await;
    assert_eq!(check.status, CheckStatus::Pass, "{check:?}");
    let info = info.unwrap();
    assert_eq!(
        (info.name.as_str(), info.agent_version.to_string()),
        ("uk8s", "2.9.44".into())
    );
    let repo =
        checks::check_caas_image_repo(&runner, Some(&info), "registry.dc.example:5000").await;
    assert_eq!(repo.status, CheckStatus::Pass);
    assert!(!repo.evidence.contains("hunter2"), "{}", repo.evidence);
    let other = checks::check_caas_image_repo(&runner, Some(&info), "other.example:443").await;
    assert_eq!(other.status, CheckStatus::Fail);
    assert!(other.fix.unwrap().contains("juju/juju#16374"));
    let (check, _) = checks::check_controller(&runner, CkfRelease::V1_10, None).await;
    assert_eq!(check.status, CheckStatus::Fail);
}

#[tokio::test]
async fn no_controller_fails_and_guides_to_bootstrap() {
    let fakes = Fakes::all();
    fakes.set_scenario(&scenario(vec![
        answer("juju", &["show-controller", "--format=json"], "",
            "ERROR No controllers registered.\n\nPlease either create a new controller using \"juju bootstrap\" or connect to\nanother controller that you have been given access to using \"juju register\".\n", 1),
        answer("juju", &["controller-config", "caas-image-repo"], "\n", "", 0),
    ]));
    let (check, info) = checks::check_controller(&fakes.runner(), CkfRelease::V1_7, None).await;
    assert_eq!(check.status, CheckStatus::Fail);
    assert!(info.is_none());
    assert!(check.evidence.contains("No controllers registered"));
    assert!(check.fix.unwrap().contains("juju add-k8s"));
    let repo = checks::check_caas_image_repo(&fakes.runner(), None, "r:5000").await;
    assert_eq!(repo.status, CheckStatus::Fail);
}

#[tokio::test]
async fn kubeflow_model_exists_or_not() {
    let fakes = Fakes::all();
    fakes.set_scenario(&scenario(vec![answer_file(
        "juju",
        &["models", "--format=json"],
        "juju-models.json",
    )]));
    let check = checks::check_model(&fakes.runner(), "kubeflow").await;
    assert_eq!(check.status, CheckStatus::Pass);
    fakes.set_scenario(&scenario(vec![answer_file(
        "juju",
        &["models", "--format=json"],
        "juju-models-no-kubeflow.json",
    )]));
    let check = checks::check_model(&fakes.runner(), "kubeflow").await;
    assert_eq!(check.status, CheckStatus::Fail);
    assert_eq!(check.fix.as_deref(), Some("juju add-model kubeflow"));
}

#[tokio::test]
async fn free_disk_enough_or_not() {
    let fakes = Fakes::all();
    fakes.set_scenario(&scenario(vec![answer(
        "df",
        &["-B1", "--output=avail", "/srv/ckf"],
        "      Avail\n107374182400\n",
        "",
        0,
    )]));
    let check = checks::check_disk(&fakes.runner(), Path::new("/srv/ckf"), 50 << 30).await;
    assert_eq!(check.status, CheckStatus::Pass);
    assert!(
        check
            .evidence
            .contains("107374182400 bytes available (100.0 GiB)")
    );
    let check = checks::check_disk(&fakes.runner(), Path::new("/srv/ckf"), 150 << 30).await;
    assert_eq!(check.status, CheckStatus::Fail);
    assert!(
        check
            .fix
            .unwrap()
            .starts_with("Free 50.0 GiB more under /srv/ckf")
    );
}

#[test]
fn inotify_limits_enough_or_not() {
    let proc_root = tempfile::tempdir().unwrap();
    let dir = proc_root.path().join("sys/fs/inotify");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("max_user_instances"), "128\n").unwrap();
    std::fs::write(dir.join("max_user_watches"), "1048576\n").unwrap();
    let check = checks::check_inotify(proc_root.path());
    assert_eq!(check.status, CheckStatus::Fail);
    assert_eq!(
        check.fix.as_deref(),
        Some(
            "sudo sysctl -w fs.inotify.max_user_instances=1280 fs.inotify.max_user_watches=1048576\nprintf 'fs.inotify.max_user_instances = 1280\\nfs.inotify.max_user_watches = 1048576\\n' | sudo tee /etc/sysctl.d/60-ckf-inotify.conf"
        )
    );
    std::fs::write(dir.join("max_user_instances"), "1280\n").unwrap();
    assert_eq!(
        checks::check_inotify(proc_root.path()).status,
        CheckStatus::Pass
    );
}
