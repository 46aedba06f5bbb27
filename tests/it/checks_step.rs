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

pub(crate) fn healthy(coredns: &str) -> Vec<Value> {
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

/// A lock file naming an image from `nvcr.io` (a host the known list has too) and one from a
/// registry only this release uses, beside a tiny images archive.
fn archive_with_lock(dir: &Path) -> PathBuf {
    let release = ckf_airgap::synth::generate_named_release(
        &["docker.io/library/alpine:3.10".to_owned()],
        &[],
        &dir.join("rel"),
    )
    .unwrap();
    let digest = format!("sha256:{}", "a".repeat(64));
    let lock = serde_json::json!({
        "tool_version": "t", "release": "1.10", "bundle_sha256": null, "charms": [],
        "images": [
            {"upstream": "registry.example.org/team/tool:1.0", "index_digest": null,
             "manifest_digest": digest, "config_digest": digest, "repo_tags": ["x/tool:1.0"],
             "member": "m", "size": 1, "needed_by": ["tool"]},
            {"upstream": "alpine:3.10", "index_digest": null, "manifest_digest": digest,
             "config_digest": digest, "repo_tags": ["x/alpine:3.10"], "member": "n", "size": 1,
             "needed_by": ["training-operator"]}
        ],
        "juju_images": []
    });
    std::fs::write(
        ckf_airgap::gather::lock::beside(&release.images_gz),
        serde_json::to_vec(&lock).unwrap(),
    )
    .unwrap();
    release.images_gz
}

/// This host's node and another on containerd 1.6, a third on CRI-O: real `kubectl get nodes`
/// shape (`status.nodeInfo.containerRuntimeVersion`).
fn three_nodes() -> Value {
    let this_host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    let node = |name: &str, runtime: &str| {
        serde_json::json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": name},
          "status": {"nodeInfo": {"containerRuntimeVersion": runtime, "kubeletVersion": "v1.29.4",
            "osImage": "Ubuntu 22.04.4 LTS", "architecture": "amd64"}}})
    };
    let list = serde_json::json!({"apiVersion": "v1", "kind": "List", "items": [
        node(this_host.trim(), "containerd://1.6.28"),
        node("dc-node-2", "containerd://1.6.28"),
        node("dc-node-3", "cri-o://1.28.1"),
    ]});
    answer(
        "kubectl",
        &["get", "nodes", "-o", "json"],
        &list.to_string(),
        "",
        0,
    )
}

fn mirror_answers(dir: &Path, ca: &Path, certs: &Path, consent: Option<bool>) -> PathBuf {
    let images = archive_with_lock(dir);
    let mut spec = trust_answers(ca, certs, true);
    spec.cluster.as_mut().unwrap().registry_mirrors = consent;
    spec.artifacts = Some(answers::artifacts(&images, &dir.join("rel/charms.tar.gz")));
    skip(
        &mut spec,
        "check:disk",
        "this machine's disk is not under test",
    );
    write_answers(dir, &spec)
}

#[test]
fn registry_mirrors_are_written_for_every_upstream_host_checked_per_node_and_undone() {
    let dir = tempfile::tempdir().unwrap();
    let (fakes, ca, certs) = trust_world(dir.path());
    let mut rules = healthy("coredns-local.json");
    rules.push(three_nodes());
    fakes.set_scenario(&scenario(rules));
    // The operator's own quay.io settings: never overwritten.
    let theirs = certs.join("quay.io/hosts.toml");
    std::fs::create_dir_all(theirs.parent().unwrap()).unwrap();
    std::fs::write(&theirs, "server = \"https://quay.io\"\n").unwrap();
    let answers = mirror_answers(dir.path(), &ca, &certs, Some(true));

    let (code, out) = run_headless(&dir.path().join("state"), &answers, &[], &fakes.env());
    assert_eq!(code, 0, "{out}");
    for host in [
        "docker.io",
        "gcr.io",
        "ghcr.io",
        "registry.k8s.io",
        "nvcr.io",
    ] {
        let text = std::fs::read_to_string(certs.join(host).join("hosts.toml")).unwrap();
        assert!(
            text.contains("[host.\"https://127.0.0.1:5443/v2/ckf\"]"),
            "{host}: {text}"
        );
        assert!(text.contains("override_path = true"), "{host}: {text}");
        assert_eq!(
            std::fs::read(certs.join(host).join("ckf-airgap-mirror-ca.crt")).unwrap(),
            std::fs::read(&ca).unwrap()
        );
    }
    // The host only the lock names is mirrored too; the private registry is not.
    assert!(certs.join("registry.example.org/hosts.toml").exists());
    let trust = std::fs::read_to_string(certs.join("127.0.0.1:5443/hosts.toml")).unwrap();
    assert!(!trust.contains("registry-mirror"), "{trust}");
    assert_eq!(
        std::fs::read_to_string(&theirs).unwrap(),
        "server = \"https://quay.io\"\n"
    );
    // The check names what it could not prove on this host: the merge for the operator's
    // file, the other containerd node to copy to, the node that is not containerd.
    let warning = out
        .lines()
        .skip_while(|l| !l.contains("(registry-mirror safety net): Warn"))
        .take(40)
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        warning.contains("quay.io/hosts.toml: the operator's own"),
        "{out}"
    );
    assert!(warning.contains("containerd 1.6.28 (this host)"), "{out}");
    assert!(warning.contains("cri-o://1.28.1"), "{out}");
    assert!(out.contains("to the same path on dc-node-2"), "{out}");
    assert!(
        out.contains("Add to ") && out.contains("quay.io/hosts.toml"),
        "{out}"
    );

    // Undo removes ours, keeps the operator's and the registry trust.
    let undo = crate::support::run(
        &dir.path().join("state"),
        &["mirrors", "undo", "--certs-dir", certs.to_str().unwrap()],
        &[],
    );
    let said = crate::support::text(&undo.stdout);
    assert!(undo.status.success(), "{said}");
    assert!(
        said.contains("kept ") && said.contains("quay.io/hosts.toml"),
        "{said}"
    );
    assert!(!certs.join("docker.io").exists(), "{said}");
    assert!(!certs.join("registry.example.org").exists(), "{said}");
    assert!(theirs.exists());
    assert!(certs.join("127.0.0.1:5443/hosts.toml").exists());
}

#[test]
fn registry_mirrors_without_a_word_are_shown_and_warned_and_declined_is_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let (fakes, ca, certs) = trust_world(dir.path());
    let mut rules = healthy("coredns-local.json");
    rules.push(three_nodes());
    fakes.set_scenario(&scenario(rules));
    let answers = mirror_answers(dir.path(), &ca, &certs, None);
    let (code, out) = run_headless(&dir.path().join("state"), &answers, &[], &fakes.env());
    assert_eq!(code, 0, "a safety net not written warns: {out}");
    assert!(
        out.contains("registry mirrors to 127.0.0.1:5443:"),
        "the files are shown: {out}"
    );
    assert!(out.contains("registry_mirrors = true"), "{out}");
    assert!(!certs.join("docker.io").exists());

    let answers = mirror_answers(dir.path(), &ca, &certs, Some(false));
    let (code, out) = run_headless(
        &dir.path().join("state"),
        &answers,
        &["--new"],
        &fakes.env(),
    );
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("declined ([cluster] registry_mirrors = false)"),
        "{out}"
    );
    assert!(!certs.join("docker.io").exists());
}
