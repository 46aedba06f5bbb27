//! Kubernetes API reachable and its server version inside the release's supported range.

use super::{Check, CheckStatus, Probe};
use crate::ckf_release::CkfRelease;
use crate::cluster::cmd::Cmd;
use crate::cluster::runner::Runner;
use crate::version::Version;

pub const ID: &str = "kubernetes";

/// Also returns the server version so later steps (containerd trust) can use it.
pub async fn check_kubernetes(runner: &Runner, release: CkfRelease) -> (Check, Option<Version>) {
    let title = format!(
        "Kubernetes reachable, version {} (CKF {})",
        release.kubernetes_text(),
        release.name()
    );
    let probe = Probe::run(runner, Cmd::kubectl(["version", "-o", "json"])).await;
    let server = probe.json().and_then(|j| server_version(&j));
    let Some(version) = server else {
        let check = Check::new(ID, title, CheckStatus::Fail)
            .evidence(probe.evidence_problem())
            .fix("Start the cluster and make sure this user's kubeconfig points at it: `microk8s status --wait-ready` (MicroK8s), then `kubectl cluster-info`");
        return (check, None);
    };
    let seen = format!("server version {version}");
    let check = if release.kubernetes_fits(version) {
        Check::new(ID, title, CheckStatus::Pass).evidence(probe.evidence(&seen))
    } else {
        let (_, hi) = release.kubernetes_minors();
        Check::new(ID, title, CheckStatus::Fail)
            .evidence(probe.evidence(&seen))
            .fix(format!(
                "Use Kubernetes {} for CKF {}; on MicroK8s: `sudo snap refresh microk8s --channel=1.{hi}/stable`",
                release.kubernetes_text(),
                release.name()
            ))
    };
    (check, Some(version))
}

fn server_version(json: &serde_json::Value) -> Option<Version> {
    let server = json.get("serverVersion")?;
    if let Some(v) = server
        .get("gitVersion")
        .and_then(|v| v.as_str())
        .and_then(Version::parse)
    {
        return Some(v);
    }
    let text = format!(
        "{}.{}",
        server.get("major")?.as_str()?,
        server.get("minor")?.as_str()?
    );
    Version::parse(&text)
}
