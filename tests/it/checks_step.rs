//! The environment checks step as the operator runs it: the real binary, headless, with fake
//! juju, kubectl and microk8s first on PATH.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use crate::cluster_support::{Fakes, answer, answer_file, scenario};
use crate::support::{run, text};
use serde_json::Value;

const COREDNS: [&str; 7] = [
    "-n",
    "kube-system",
    "get",
    "configmap",
    "coredns",
    "-o",
    "json",
];

fn healthy(coredns: &str) -> Vec<Value> {
    vec![
        answer_file(
            "kubectl",
            &["version", "-o", "json"],
            "kubectl-version-1.24.json",
        ),
        answer_file(
            "kubectl",
            &["get", "storageclass", "-o", "json"],
            "storageclass-default.json",
        ),
        answer_file("kubectl", &COREDNS, coredns),
        answer_file("resolvectl", &["status"], "resolvectl-status.txt"),
        answer_file(
            "microk8s",
            &["status", "--format", "yaml"],
            "microk8s-status-metallb.yaml",
        ),
        answer_file(
            "kubectl",
            &["get", "svc", "-A", "-o", "json"],
            "svc-all-clusterip.json",
        ),
        answer_file(
            "kubectl",
            &["get", "ipaddresspools.metallb.io", "-A", "-o", "json"],
            "ipaddresspools.json",
        ),
        answer(
            "microk8s",
            &["version"],
            "MicroK8s v1.24.17 revision 5000\n",
            "",
            0,
        ),
        answer("juju", &["version"], "2.9.45-ubuntu-amd64\n", "", 0),
        answer_file(
            "juju",
            &["show-controller", "--format=json"],
            "juju-show-controller.json",
        ),
        answer(
            "juju",
            &["controller-config", "caas-image-repo"],
            "{\"repository\":\"127.0.0.1:5443/ckf/jujusolutions\",\"serveraddress\":\"127.0.0.1:5443\"}\n",
            "",
            0,
        ),
        answer_file("juju", &["models", "--format=json"], "juju-models.json"),
    ]
}

fn answers(dir: &Path, body: &str) -> String {
    let path = dir.join("answers.toml");
    std::fs::write(
        &path,
        format!(
            "{body}\n[skip]\n\"check:inotify\" = \"this machine's limits are not under test\"\n\
             \"check:registry\" = \"no registry listens in these tests\"\n\
             artifacts = \"t\"\nregistry-login = \"t\"\nimage-push = \"t\"\nplaceholder-mapping = \"t\"\n\
             gateway-type = \"t\"\nbundle-preview = \"t\"\njuju-deploy = \"t\"\n"
        ),
    )
    .unwrap();
    path.display().to_string()
}

fn run_with(fakes: &Fakes, state: &Path, answers: &str) -> (i32, String) {
    let env = fakes.env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let out = run(state, &["--mode", "headless", "--answers", answers], &env);
    (
        out.status.code().unwrap_or(-1),
        text(&out.stdout) + &text(&out.stderr),
    )
}

#[test]
fn a_healthy_cluster_passes_and_the_checks_ran_the_real_commands() {
    let dir = tempfile::tempdir().unwrap();
    let fakes = Fakes::all();
    fakes.set_scenario(&scenario(healthy("coredns-local.json")));
    let answers = answers(dir.path(), "");
    let (code, out) = run_with(&fakes, &dir.path().join("state"), &answers);
    assert!(out.contains("[environment-checks] done"), "{out}");
    assert_eq!(code, 0, "{out}");
    let lines = fakes.lines();
    for expected in [
        "kubectl version -o json",
        "kubectl get storageclass -o json",
        "juju version",
        "juju show-controller --format=json",
        "juju models --format=json",
    ] {
        assert!(
            lines.iter().any(|l| l == expected),
            "{expected} not run: {lines:?}"
        );
    }
}

#[test]
fn a_public_dns_forwarder_fails_with_the_fix_and_a_recorded_skip_lets_it_pass() {
    let dir = tempfile::tempdir().unwrap();
    let fakes = Fakes::all();
    fakes.set_scenario(&scenario(healthy("coredns-public.json")));
    let state = dir.path().join("state");
    let answers_path = answers(dir.path(), "");
    let (code, out) = run_with(&fakes, &state, &answers_path);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("[environment-checks] failed: 1 check(s) failed"),
        "{out}"
    );
    assert!(out.contains("microk8s enable dns:"), "{out}");
    assert!(out.contains("\"check:<id>\""), "{out}");

    let text = std::fs::read_to_string(&answers_path).unwrap().replace(
        "[skip]\n",
        "[skip]\n\"check:dns-forward\" = \"the site resolver is 8.8.8.8 on purpose\"\n",
    );
    std::fs::write(&answers_path, text).unwrap();
    let (code, out) = run_with(&fakes, &state, &answers_path);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("notice: check skips changed"), "{out}");
}

/// A healthy cluster, a registry CA file and where containerd's trust would go.
fn trust_world(dir: &Path) -> (Fakes, PathBuf, PathBuf) {
    let fakes = Fakes::all();
    fakes.set_scenario(&scenario(healthy("coredns-local.json")));
    let ca = dir.join("ca.crt");
    std::fs::write(
        &ca,
        "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    (fakes, ca, dir.join("certs.d"))
}

#[test]
fn containerd_trust_is_written_with_consent_and_then_passes() {
    let dir = tempfile::tempdir().unwrap();
    let (fakes, ca, certs) = trust_world(dir.path());
    let body = format!(
        "[registry]\ntarget = \"127.0.0.1:5443/ckf\"\nca_file = {ca:?}\n\n\
         [cluster]\ncontainerd_certs_dir = {certs:?}\nwrite_containerd_trust = true\n"
    );
    let answers = answers(dir.path(), &body);
    let (code, out) = run_with(&fakes, &dir.path().join("state"), &answers);
    assert_eq!(code, 0, "{out}");
    let hosts = std::fs::read_to_string(certs.join("127.0.0.1:5443/hosts.toml")).unwrap();
    assert!(
        hosts.contains("server = \"https://127.0.0.1:5443\""),
        "{hosts}"
    );
    assert_eq!(
        std::fs::read(certs.join("127.0.0.1:5443/ca.crt")).unwrap(),
        std::fs::read(&ca).unwrap()
    );
    assert!(out.contains("wrote "), "{out}");
}

#[test]
fn without_consent_a_headless_run_shows_the_file_and_fails_the_check() {
    let dir = tempfile::tempdir().unwrap();
    let (fakes, ca, certs) = trust_world(dir.path());
    let body = format!(
        "[registry]\ntarget = \"127.0.0.1:5443/ckf\"\nca_file = {ca:?}\n\n[cluster]\ncontainerd_certs_dir = {certs:?}\n"
    );
    let answers = answers(dir.path(), &body);
    let (code, out) = run_with(&fakes, &dir.path().join("state"), &answers);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("[environment-checks] containerd trust for 127.0.0.1:5443:"),
        "{out}"
    );
    assert!(out.contains("hosts.toml"), "{out}");
    assert!(!certs.join("127.0.0.1:5443/hosts.toml").exists());
}
