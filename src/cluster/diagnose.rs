//! Known failures of an air-gapped CKF deploy, recognised from Juju's errors, `juju status` and
//! pod container statuses, each with what to do about it.

use serde::Serialize;

use super::juju_status::ModelStatus;
use crate::bundle::podspec::ISSUE as PODSPEC_ISSUE;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum PullCause {
    /// The image is not in the registry.
    Missing,
    /// containerd does not trust the registry's CA.
    UntrustedCa,
    /// The registry answered in plain HTTP.
    PlainHttp,
    /// The registry refused containerd's (missing) credentials.
    Unauthorized,
    /// `ImagePullBackOff` only says "Back-off pulling image"; the cause is in the events.
    Unknown,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum KnownFailure {
    /// `Bundle cannot be deployed without trusting applications`.
    NeedsTrust,
    /// A PodSpec charm inside a local bundle (canonical/bundle-kubeflow#693).
    PodSpecInBundle,
    /// PodSpec charm blocked on `Missing resource: oci-image` (canonical/bundle-kubeflow#790).
    MissingOciResource { application: String },
    ImagePull {
        pod: String,
        container: String,
        image: String,
        reason: String,
        cause: PullCause,
    },
}

impl KnownFailure {
    /// What to do, with the exact command where there is one.
    pub fn advice(&self, model: &str) -> String {
        match self {
            Self::NeedsTrust => "The charm needs cluster-wide permissions: run the same `juju deploy` again with `--trust`".to_owned(),
            Self::PodSpecInBundle => format!(
                "A PodSpec charm is in the local bundle ({PODSPEC_ISSUE}): move it out and deploy it separately"
            ),
            Self::MissingOciResource { application } => format!(
                "Known Juju issue with PodSpec charms: restart the operator pod: `kubectl -n {model} delete pod {application}-operator-0`"
            ),
            Self::ImagePull { pod, image, cause, .. } => match cause {
                PullCause::Missing => format!("{image} is not in the registry: push it, then the pod retries by itself"),
                PullCause::UntrustedCa => "containerd does not trust the registry CA: write certs.d/<registry>/hosts.toml with the CA (containerd trust check) on every node".to_owned(),
                PullCause::PlainHttp => "The registry answered in plain HTTP: containerd needs HTTPS (or a hosts.toml for an HTTP registry)".to_owned(),
                PullCause::Unauthorized => "The registry refused the pull: allow anonymous pulls or give containerd credentials in hosts.toml".to_owned(),
                PullCause::Unknown => format!("See the pull error: `kubectl -n {model} describe pod {pod}`"),
            },
        }
    }
}

/// Failures recognisable in a `juju deploy`'s error output.
pub fn from_deploy_stderr(stderr: &str) -> Vec<KnownFailure> {
    let mut found = Vec::new();
    if stderr.contains("cannot be deployed without trusting applications") {
        found.push(KnownFailure::NeedsTrust);
    }
    if stderr.contains("series \"kubernetes\"") && stderr.contains("not supported") {
        found.push(KnownFailure::PodSpecInBundle);
    }
    found
}

/// Failures visible in `juju status`.
pub fn from_status(status: &ModelStatus) -> Vec<KnownFailure> {
    status
        .applications
        .iter()
        .filter(|(_, app)| {
            std::iter::once(&app.message)
                .chain(app.units.iter().map(|u| &u.message))
                .any(|m| m.contains("Missing resource: oci-image"))
        })
        .map(|(name, _)| KnownFailure::MissingOciResource {
            application: name.clone(),
        })
        .collect()
}

/// Image pull failures in `kubectl get pods -o json`.
pub fn from_pods(pods: &serde_json::Value) -> Vec<KnownFailure> {
    let mut found = Vec::new();
    for pod in pods
        .get("items")
        .and_then(|i| i.as_array())
        .into_iter()
        .flatten()
    {
        let name = pod
            .pointer("/metadata/name")
            .and_then(|n| n.as_str())
            .unwrap_or("?");
        for key in ["initContainerStatuses", "containerStatuses"] {
            let statuses = pod
                .pointer(&format!("/status/{key}"))
                .and_then(|s| s.as_array());
            for cs in statuses.into_iter().flatten() {
                let Some(waiting) = cs.pointer("/state/waiting") else {
                    continue;
                };
                let reason = waiting.get("reason").and_then(|r| r.as_str()).unwrap_or("");
                if reason != "ImagePullBackOff" && reason != "ErrImagePull" {
                    continue;
                }
                let message = waiting
                    .get("message")
                    .and_then(|m| m.as_str())
                    .unwrap_or("");
                let field = |k: &str| cs.get(k).and_then(|v| v.as_str()).unwrap_or("?").to_owned();
                found.push(KnownFailure::ImagePull {
                    pod: name.to_owned(),
                    container: field("name"),
                    image: field("image"),
                    reason: reason.to_owned(),
                    cause: pull_cause(message),
                });
            }
        }
    }
    found
}

fn pull_cause(message: &str) -> PullCause {
    let m = message.to_ascii_lowercase();
    if m.contains("x509:") || m.contains("certificate signed by unknown authority") {
        PullCause::UntrustedCa
    } else if m.contains("http response to https client") {
        PullCause::PlainHttp
    } else if m.contains("401 unauthorized")
        || m.contains("authorization failed")
        || m.contains("403 forbidden")
    {
        PullCause::Unauthorized
    } else if m.contains("not found") || m.contains("manifest unknown") {
        PullCause::Missing
    } else {
        PullCause::Unknown
    }
}
