//! The registry check itself lives in the registry module; here its outcome becomes a `Check`
//! like the others, so the front end lists it with the rest.

use serde::Serialize;

use super::{Check, CheckStatus};

pub const ID: &str = "registry";

/// What the registry module found when it probed `https://<registry>/v2/` from this host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum RegistryOutcome {
    /// Answered over HTTPS with a certificate this host trusts (200, or 401 with a challenge).
    Trusted { evidence: String },
    /// Answered, but the certificate is not trusted here (or does not name the host).
    CaNotTrusted { evidence: String },
    /// Answered in plain HTTP: Juju and containerd need HTTPS.
    NotHttps { evidence: String },
    /// The credentials were refused.
    Unauthorized { evidence: String },
    /// No answer (DNS, routing, firewall, registry down).
    Unreachable { evidence: String },
}

pub fn check_registry(registry: &str, outcome: &RegistryOutcome) -> Check {
    let title = format!("Registry {registry} reachable over HTTPS and trusted");
    let (status, evidence, fix) = match outcome {
        RegistryOutcome::Trusted { evidence } => (CheckStatus::Pass, evidence, None),
        RegistryOutcome::CaNotTrusted { evidence } => (
            CheckStatus::Fail,
            evidence,
            Some(format!(
                "Add the registry's CA to this host's trust store: `sudo cp ca.crt /usr/local/share/ca-certificates/{}.crt && sudo update-ca-certificates`; the certificate must name `{}` in its subjectAltName",
                registry.replace(':', "_"),
                registry.split(':').next().unwrap_or(registry)
            )),
        ),
        RegistryOutcome::NotHttps { evidence } => (
            CheckStatus::Fail,
            evidence,
            Some(
                "Serve the registry over HTTPS: Juju and containerd refuse plain HTTP registries"
                    .to_owned(),
            ),
        ),
        RegistryOutcome::Unauthorized { evidence } => (
            CheckStatus::Fail,
            evidence,
            Some("Check the registry user name and password".to_owned()),
        ),
        RegistryOutcome::Unreachable { evidence } => (
            CheckStatus::Fail,
            evidence,
            Some(format!(
                "Make `https://{registry}/v2/` reachable from this host (name resolution, route, firewall)"
            )),
        ),
    };
    Check {
        id: ID,
        title,
        status,
        evidence: evidence.clone(),
        fix,
    }
}
