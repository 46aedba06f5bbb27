//! The Juju client, the controller (agent version, `caas-image-repo`) and the `kubeflow` model.

use serde::Serialize;

use super::{Check, CheckStatus, Probe};
use crate::ckf_release::CkfRelease;
use crate::cluster::cmd::Cmd;
use crate::cluster::runner::Runner;
use crate::version::Version;

pub const CLIENT_ID: &str = "juju-client";
pub const CONTROLLER_ID: &str = "juju-controller";
pub const IMAGE_REPO_ID: &str = "caas-image-repo";
pub const MODEL_ID: &str = "juju-model";

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ControllerInfo {
    pub name: String,
    pub agent_version: Version,
    pub cloud: Option<String>,
}

pub async fn check_juju_client(runner: &Runner, release: CkfRelease) -> (Check, Option<Version>) {
    let title = format!(
        "Juju client {} (CKF {})",
        release.juju_text(),
        release.name()
    );
    let probe = Probe::run(runner, Cmd::juju(["version"])).await;
    let Some(version) = probe.stdout().and_then(Version::parse) else {
        let check = Check::new(CLIENT_ID, title, CheckStatus::Fail)
            .evidence(probe.evidence_problem())
            .fix(install_juju(release));
        return (check, None);
    };
    let evidence = probe.evidence(probe.stdout().unwrap_or_default());
    let check = if release.juju_fits(version) {
        Check::new(CLIENT_ID, title, CheckStatus::Pass).evidence(evidence)
    } else {
        Check::new(CLIENT_ID, title, CheckStatus::Fail)
            .evidence(evidence)
            .fix(install_juju(release))
    };
    (check, Some(version))
}

fn install_juju(release: CkfRelease) -> String {
    format!(
        "Install a fitting Juju offline (`snap download juju --channel={ch}` on the connected side, then `sudo snap ack juju_*.assert && sudo snap install juju_*.snap`), or `sudo snap refresh juju --channel={ch}` where a snap proxy is available",
        ch = release.juju_channel()
    )
}

/// The current controller from `juju show-controller --format=json`.
pub async fn check_controller(
    runner: &Runner,
    release: CkfRelease,
    client: Option<Version>,
) -> (Check, Option<ControllerInfo>) {
    let title = "Juju controller";
    let probe = Probe::run(runner, Cmd::juju(["show-controller", "--format=json"])).await;
    let Some(info) = probe.json().as_ref().and_then(controller_info) else {
        let check = Check::new(CONTROLLER_ID, title, CheckStatus::Fail)
            .evidence(probe.evidence_problem())
            .fix("No controller: run the Juju setup step (`microk8s config | juju add-k8s <cloud> --client`, then `juju bootstrap <cloud> <controller> --config caas-image-repo=…`)");
        return (check, None);
    };
    let seen = format!(
        "controller {} on cloud {}, agent version {}",
        info.name,
        info.cloud.as_deref().unwrap_or("?"),
        info.agent_version
    );
    let evidence = probe.evidence(&seen);
    let check = if !release.juju_fits(info.agent_version) {
        Check::new(CONTROLLER_ID, title, CheckStatus::Fail)
            .evidence(evidence)
            .fix(format!(
                "CKF {} needs a controller running Juju {}: bootstrap a new controller with a fitting client (the agent version is the client's)",
                release.name(),
                release.juju_text()
            ))
    } else if client.is_some_and(|c| !c.same_minor(&info.agent_version)) {
        Check::new(CONTROLLER_ID, title, CheckStatus::Warn)
            .evidence(format!(
                "{evidence}\nclient {} and controller {} differ",
                client.map(|c| c.to_string()).unwrap_or_default(),
                info.agent_version
            ))
            .fix("Use a client of the controller's minor version")
    } else {
        Check::new(CONTROLLER_ID, title, CheckStatus::Pass).evidence(evidence)
    };
    (check, Some(info))
}

fn controller_info(json: &serde_json::Value) -> Option<ControllerInfo> {
    let (name, body) = json.as_object()?.iter().next()?;
    let details = body.get("details")?;
    let agent_version = details
        .get("agent-version")
        .and_then(|v| v.as_str())
        .and_then(Version::parse)?;
    Some(ControllerInfo {
        name: name.clone(),
        agent_version,
        cloud: details
            .get("cloud")
            .and_then(|c| c.as_str())
            .map(str::to_owned),
    })
}

/// `caas-image-repo` must point at the private registry: Juju pulls its own operator, database
/// and charm-base images from there.
pub async fn check_caas_image_repo(
    runner: &Runner,
    controller: Option<&ControllerInfo>,
    registry: &str,
) -> Check {
    let title = format!("Controller pulls Juju images from {registry}");
    if controller.is_none() {
        return Check::new(IMAGE_REPO_ID, title, CheckStatus::Fail)
            .evidence("no controller")
            .fix("Bootstrap a controller first (Juju setup step)");
    }
    let probe = Probe::run(runner, Cmd::juju(["controller-config", "caas-image-repo"])).await;
    let Some(out) = probe.stdout() else {
        return Check::new(IMAGE_REPO_ID, title, CheckStatus::Fail)
            .evidence(probe.evidence_problem())
            .fix("Check that the controller is reachable: `juju status -m controller`");
    };
    let repository = image_repository(out);
    // The raw value may carry a password: only the repository is shown.
    let evidence = probe.evidence(&format!(
        "repository: {}",
        repository
            .as_deref()
            .unwrap_or("(not set: docker.io/jujusolutions)")
    ));
    match repository {
        Some(r) if r.starts_with(&format!("{registry}/")) => {
            Check::new(IMAGE_REPO_ID, title, CheckStatus::Pass).evidence(evidence)
        }
        _ => Check::new(IMAGE_REPO_ID, title, CheckStatus::Fail)
            .evidence(evidence)
            .fix(format!(
                "The repository can only be set at bootstrap (juju/juju#16374): bootstrap a new controller with `--config caas-image-repo='{{\"repository\":\"{registry}/…/jujusolutions\",\"serveraddress\":\"{registry}\",…}}'` (Juju setup step)"
            )),
    }
}

/// The repository of a `caas-image-repo` value, plain or JSON.
pub fn image_repository(value: &str) -> Option<String> {
    let value = value.trim().trim_matches(['"', '\'']);
    if value.is_empty() {
        return None;
    }
    if value.starts_with('{') {
        let json: serde_json::Value = serde_json::from_str(value).ok()?;
        return json
            .get("repository")
            .and_then(|r| r.as_str())
            .map(str::to_owned);
    }
    Some(value.to_owned())
}

pub async fn check_model(runner: &Runner, model: &str) -> Check {
    let title = format!("Juju model `{model}`");
    let probe = Probe::run(runner, Cmd::juju(["models", "--format=json"])).await;
    let Some(json) = probe.json() else {
        return Check::new(MODEL_ID, title, CheckStatus::Fail)
            .evidence(probe.evidence_problem())
            .fix("Bootstrap a controller first (Juju setup step)");
    };
    let names: Vec<String> = json
        .get("models")
        .and_then(|m| m.as_array())
        .into_iter()
        .flatten()
        .filter_map(|m| {
            m.get("short-name")
                .or_else(|| m.get("name"))
                .and_then(|n| n.as_str())
                .map(|n| n.rsplit('/').next().unwrap_or(n).to_owned())
        })
        .collect();
    let evidence = probe.evidence(&format!("models: {}", names.join(", ")));
    if names.iter().any(|n| n == model) {
        Check::new(MODEL_ID, title, CheckStatus::Pass).evidence(evidence)
    } else {
        // Kubeflow's charms assume the namespace (= model) is called kubeflow.
        Check::new(MODEL_ID, title, CheckStatus::Fail)
            .evidence(evidence)
            .fix(format!("juju add-model {model}"))
    }
}
