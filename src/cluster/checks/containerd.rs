//! containerd on the nodes must trust the registry's CA, or every pod sits in ErrImagePull with
//! `x509: certificate signed by unknown authority`. Checked on this host's MicroK8s.

use std::path::Path;

use super::{Check, CheckStatus, Probe};
use crate::cluster::cmd::Cmd;
use crate::cluster::runner::Runner;
use crate::cluster::trust::{TrustFiles, ca_paths};
use crate::version::Version;

pub const ID: &str = "containerd-trust";

/// `certs_root` is `trust::MICROK8S_CERTS_D` in production.
pub async fn check_containerd_trust(
    runner: &Runner,
    certs_root: &Path,
    registry: &str,
    ca_pem: &[u8],
) -> Check {
    let title = format!("containerd trusts the registry {registry}");
    let probe = Probe::run(runner, Cmd::microk8s(["version"])).await;
    let Some(version) = probe.stdout().and_then(Version::parse) else {
        return Check::new(ID, title, CheckStatus::Warn)
            .evidence(probe.evidence_problem())
            .fix(format!(
                "Not MicroK8s (or not running): make the container runtime of every node trust the registry CA for {registry}"
            ));
    };
    let seen_version = probe.evidence(&format!("MicroK8s {version}"));
    if version < Version::new(1, 23, 0) {
        // certs.d is ignored before 1.23; registries are configured in the containerd template.
        return Check::new(ID, title, CheckStatus::Warn)
            .evidence(seen_version)
            .fix(format!(
                "MicroK8s {version} ignores certs.d: add the registry to /var/snap/microk8s/current/args/containerd-template.toml (`[plugins.\"io.containerd.grpc.v1.cri\".registry.configs.\"{registry}\".tls] ca_file = \"…/ca.crt\"`) and run `sudo snap restart microk8s`"
            ));
    }
    let want = TrustFiles::new(certs_root, registry, ca_pem);
    let problem = match std::fs::read_to_string(&want.hosts_toml_path) {
        Err(e) => Some(format!("{}: {e}", want.hosts_toml_path.display())),
        Ok(text) => trust_problem(&text, registry, ca_pem)
            .map(|p| format!("{}: {p}", want.hosts_toml_path.display())),
    };
    match problem {
        None => Check::new(ID, title, CheckStatus::Pass).evidence(format!(
            "{seen_version}\n{} names the registry CA",
            want.hosts_toml_path.display()
        )),
        Some(p) => Check::new(ID, title, CheckStatus::Fail)
            .evidence(format!("{seen_version}\n{p}"))
            .fix(format!(
                "Write these files (the wizard can do it; repeat on every node):\n{}",
                want.preview()
            )),
    }
}

/// What is wrong with an existing `hosts.toml`, if anything.
fn trust_problem(text: &str, registry: &str, ca_pem: &[u8]) -> Option<String> {
    if !text.contains(&format!("https://{registry}")) {
        return Some(format!("does not name https://{registry}"));
    }
    let paths = ca_paths(text);
    if paths.is_empty() {
        return Some("has no `ca =` line".to_owned());
    }
    let trimmed = |b: &[u8]| String::from_utf8_lossy(b).trim().to_owned();
    let matches = paths
        .iter()
        .any(|p| std::fs::read(Path::new(p)).is_ok_and(|bytes| trimmed(&bytes) == trimmed(ca_pem)));
    (!matches).then(|| {
        format!(
            "its `ca` ({}) is missing or not the registry CA",
            paths.join(", ")
        )
    })
}
