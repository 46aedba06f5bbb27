//! containerd trust: the check on a MicroK8s certs.d tree (a tempdir here), the files proposed
//! for the operator to read, and writing them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::os::unix::fs::PermissionsExt;

use crate::cluster_support::{Fakes, answer, scenario};
use ckf_airgap::cluster::checks::{self, CheckStatus};
use ckf_airgap::cluster::trust::TrustFiles;

const CA: &[u8] =
    b"-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIUZ2Fw\n-----END CERTIFICATE-----\n";
const REGISTRY: &str = "registry.dc.example:5000";

fn microk8s(version: &str) -> Fakes {
    let fakes = Fakes::all();
    fakes.set_scenario(&scenario(vec![answer(
        "microk8s",
        &["version"],
        version,
        "",
        0,
    )]));
    fakes
}

#[tokio::test]
async fn missing_hosts_toml_fails_then_written_files_pass() {
    let fakes = microk8s("MicroK8s v1.24.17 revision 5923\n");
    let root = fakes.path_in("certs.d");
    let check = checks::check_containerd_trust(&fakes.runner(), &root, REGISTRY, CA).await;
    assert_eq!(check.status, CheckStatus::Fail);
    assert!(check.evidence.contains("MicroK8s 1.24.17"));

    let files = TrustFiles::new(&root, REGISTRY, CA);
    let dir = root.join(REGISTRY);
    let expected = format!(
        "server = \"https://{REGISTRY}\"\n\n[host.\"https://{REGISTRY}\"]\n  capabilities = [\"pull\", \"resolve\"]\n  ca = \"{}\"\n",
        dir.join("ca.crt").display()
    );
    assert_eq!(files.hosts_toml, expected);
    assert_eq!(files.hosts_toml_path, dir.join("hosts.toml"));
    // The fix shows exactly what would be written.
    assert!(check.fix.unwrap().contains(&expected));

    files.write().unwrap();
    assert_eq!(
        std::fs::read_to_string(dir.join("hosts.toml")).unwrap(),
        expected
    );
    assert_eq!(std::fs::read(dir.join("ca.crt")).unwrap(), CA);
    let mode = std::fs::metadata(dir.join("hosts.toml"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o644);
    let leftovers: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(leftovers.len(), 2, "{leftovers:?}");

    let check = checks::check_containerd_trust(&fakes.runner(), &root, REGISTRY, CA).await;
    assert_eq!(check.status, CheckStatus::Pass, "{check:?}");
}

#[tokio::test]
async fn hosts_toml_with_another_ca_fails() {
    let fakes = microk8s("MicroK8s v1.28.3 revision 6089\n");
    let root = fakes.path_in("certs.d");
    TrustFiles::new(
        &root,
        REGISTRY,
        b"-----BEGIN CERTIFICATE-----\nOTHER\n-----END CERTIFICATE-----\n",
    )
    .write()
    .unwrap();
    let check = checks::check_containerd_trust(&fakes.runner(), &root, REGISTRY, CA).await;
    assert_eq!(check.status, CheckStatus::Fail);
    assert!(
        check.evidence.contains("missing or not the registry CA"),
        "{}",
        check.evidence
    );
}

#[tokio::test]
async fn old_microk8s_is_told_about_the_containerd_template() {
    let fakes = microk8s("MicroK8s v1.22.17 revision 4814\n");
    let check =
        checks::check_containerd_trust(&fakes.runner(), &fakes.path_in("c"), REGISTRY, CA).await;
    assert_eq!(check.status, CheckStatus::Warn);
    assert!(check.fix.unwrap().contains("containerd-template.toml"));
}
