//! The environment checks step as the operator runs it: the real binary, headless, with fake
//! juju, kubectl and microk8s first on PATH.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use crate::cluster_support::{Fakes, answer, answer_file, scenario};
use crate::support::answers::{self, skip, skip_all_but};
use crate::support::run_headless;
use ckf_airgap::answers::{Answers, ClusterAnswers, RegistryAnswers};
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

/// `answers` with every step but the checks skipped, and the checks that cannot pass here.
fn only_the_checks(mut answers: Answers) -> Answers {
    skip(
        &mut answers,
        "check:inotify",
        "this machine's limits are not under test",
    );
    skip(
        &mut answers,
        "check:registry",
        "no registry listens in these tests",
    );
    skip_all_but(&mut answers, &["environment-checks"], "t");
    answers
}

/// Writes `answers` as `<dir>/answers.toml`.
fn write_answers(dir: &Path, answers: &Answers) -> PathBuf {
    let path = dir.join("answers.toml");
    answers::write(&path, answers);
    path
}

#[test]
fn a_healthy_cluster_passes_and_the_checks_ran_the_real_commands() {
    let dir = tempfile::tempdir().unwrap();
    let fakes = Fakes::all();
    fakes.set_scenario(&scenario(healthy("coredns-local.json")));
    let answers = write_answers(dir.path(), &only_the_checks(Answers::default()));
    let (code, out) = run_headless(&dir.path().join("state"), &answers, &[], &fakes.env());
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
    let mut spec = only_the_checks(Answers::default());
    let answers_path = write_answers(dir.path(), &spec);
    let (code, out) = run_headless(&state, &answers_path, &[], &fakes.env());
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("[environment-checks] failed: 1 check(s) failed"),
        "{out}"
    );
    assert!(out.contains("microk8s enable dns:"), "{out}");
    assert!(out.contains("\"check:<id>\""), "{out}");

    skip(
        &mut spec,
        "check:dns-forward",
        "the site resolver is 8.8.8.8 on purpose",
    );
    answers::write(&answers_path, &spec);
    let (code, out) = run_headless(&state, &answers_path, &[], &fakes.env());
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("notice: check skips changed"), "{out}");
}

/// Answers naming the registry at 127.0.0.1:5443 with its CA and where containerd's trust
/// goes (`write`: consent to write it).
fn trust_answers(ca: &Path, certs: &Path, write: bool) -> Answers {
    only_the_checks(Answers {
        registry: Some(RegistryAnswers {
            ca_file: Some(ca.into()),
            ..answers::registry("127.0.0.1:5443/ckf")
        }),
        cluster: Some(ClusterAnswers {
            containerd_certs_dir: Some(certs.into()),
            write_containerd_trust: write,
            ..ClusterAnswers::default()
        }),
        ..Answers::default()
    })
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
    let answers = write_answers(dir.path(), &trust_answers(&ca, &certs, true));
    let (code, out) = run_headless(&dir.path().join("state"), &answers, &[], &fakes.env());
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
    let answers = write_answers(dir.path(), &trust_answers(&ca, &certs, false));
    let (code, out) = run_headless(&dir.path().join("state"), &answers, &[], &fakes.env());
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("[environment-checks] containerd trust for 127.0.0.1:5443:"),
        "{out}"
    );
    assert!(out.contains("hosts.toml"), "{out}");
    assert!(!certs.join("127.0.0.1:5443/hosts.toml").exists());
}
