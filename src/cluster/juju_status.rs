//! The parts of `juju status --format=json` the deploy and the watch need: applications, their
//! status and units, and which applications each one is related to (both the Juju 2.9 form
//! `{"endpoint": ["app"]}` and the 3.x form `{"endpoint": [{"related-application": "app"}]}`).

use std::collections::BTreeMap;

use serde::Serialize;

use super::cmd::Cmd;
use crate::bundle::model::Endpoint;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ModelStatus {
    pub applications: BTreeMap<String, AppStatus>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct AppStatus {
    /// The charm's name (`charm-name`; `charm` where only that is given).
    pub charm: String,
    /// The channel and revision Juju shows (a local charm has a small local revision).
    pub charm_channel: String,
    pub charm_rev: Option<i64>,
    /// `charmhub` or `local`: only a Charmhub charm's revision is Charmhub's.
    pub charm_origin: String,
    /// `ubuntu@22.04`, from the `base` Juju 3 shows.
    pub base: Option<String>,
    pub status: String,
    pub message: String,
    pub units: Vec<UnitStatus>,
    /// Local endpoint → related applications.
    pub relations: BTreeMap<String, Vec<String>>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct UnitStatus {
    pub name: String,
    pub workload: String,
    pub message: String,
    pub agent: String,
}

/// `juju status --model <model> --format=json`; its output is data, not shown line by line.
pub fn status_cmd(model: &str) -> Cmd {
    Cmd::juju(["status", "--model", model, "--format=json"]).quiet_stdout()
}

impl ModelStatus {
    pub fn parse(json: &str) -> Result<Self, serde_json::Error> {
        let value: serde_json::Value = serde_json::from_str(json)?;
        let applications = value
            .get("applications")
            .and_then(|a| a.as_object())
            .map(|apps| {
                apps.iter()
                    .map(|(name, app)| (name.clone(), read_app(app)))
                    .collect()
            })
            .unwrap_or_default();
        Ok(Self { applications })
    }

    pub fn has_app(&self, name: &str) -> bool {
        self.applications.contains_key(name)
    }

    /// Whether the relation `a` — `b` (each `app` or `app:endpoint`) exists, seen from either side.
    pub fn has_relation(&self, a: &str, b: &str) -> bool {
        let (a, b) = (Endpoint::parse(a), Endpoint::parse(b));
        self.relates(&a, &b) || self.relates(&b, &a)
    }

    fn relates(&self, from: &Endpoint, to: &Endpoint) -> bool {
        self.applications.get(&from.application).is_some_and(|app| {
            app.relations.iter().any(|(endpoint, others)| {
                from.relation.as_ref().is_none_or(|r| r == endpoint)
                    && others.contains(&to.application)
            })
        })
    }

    /// Every application and every unit active; an empty model is not.
    pub fn all_active(&self) -> bool {
        !self.applications.is_empty()
            && self
                .applications
                .values()
                .all(|a| a.status == "active" && a.units.iter().all(|u| u.workload == "active"))
    }
}

fn text(v: &serde_json::Value, pointer: &str) -> String {
    v.pointer(pointer)
        .and_then(|s| s.as_str())
        .unwrap_or_default()
        .to_owned()
}

fn read_app(app: &serde_json::Value) -> AppStatus {
    let units = app
        .get("units")
        .and_then(|u| u.as_object())
        .map(|units| {
            units
                .iter()
                .map(|(name, u)| UnitStatus {
                    name: name.clone(),
                    workload: text(u, "/workload-status/current"),
                    message: text(u, "/workload-status/message"),
                    agent: text(u, "/juju-status/current"),
                })
                .collect()
        })
        .unwrap_or_default();
    let relations = app
        .get("relations")
        .and_then(|r| r.as_object())
        .map(|rels| {
            rels.iter()
                .map(|(endpoint, list)| {
                    let others = list
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|o| {
                            o.as_str()
                                .or_else(|| o.get("related-application")?.as_str())
                                .map(str::to_owned)
                        })
                        .collect();
                    (endpoint.clone(), others)
                })
                .collect()
        })
        .unwrap_or_default();
    let charm = match text(app, "/charm-name") {
        name if !name.is_empty() => name,
        // `local:kfp-api-0`, `ch:amd64/kfp-api-12` or the bare name.
        _ => {
            let raw = text(app, "/charm");
            let name = raw.rsplit(['/', ':']).next().unwrap_or_default();
            match name.rsplit_once('-') {
                Some((n, rev)) if rev.chars().all(|c| c.is_ascii_digit()) && raw.contains(':') => {
                    n.to_owned()
                }
                _ => name.to_owned(),
            }
        }
    };
    AppStatus {
        charm,
        charm_channel: text(app, "/charm-channel"),
        charm_rev: app.get("charm-rev").and_then(|r| r.as_i64()),
        charm_origin: text(app, "/charm-origin"),
        base: match (text(app, "/base/name"), text(app, "/base/channel")) {
            (name, channel) if !name.is_empty() && !channel.is_empty() => {
                Some(format!("{name}@{channel}"))
            }
            _ => None,
        },
        status: text(app, "/application-status/current"),
        message: text(app, "/application-status/message"),
        units,
        relations,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relations_in_both_formats() {
        let json = r#"{"applications":{
            "minio":{"application-status":{"current":"active"},"relations":{"object-storage":["kfp-api"]}},
            "istio-pilot":{"application-status":{"current":"active"},
                "relations":{"ingress":[{"related-application":"kfp-ui","interface":"ingress","scope":"global"}]}},
            "kfp-ui":{"application-status":{"current":"waiting"},"units":{"kfp-ui/0":{"workload-status":{"current":"waiting"}}}}}}"#;
        let s = ModelStatus::parse(json).unwrap();
        assert!(s.has_relation("kfp-api:object-storage", "minio:object-storage"));
        assert!(s.has_relation("istio-pilot:ingress", "kfp-ui:ingress"));
        assert!(s.has_relation("kfp-ui", "istio-pilot"));
        assert!(!s.has_relation("istio-pilot:gateway-info", "kfp-ui"));
        let charms = r#"{"applications":{
            "a":{"charm":"kfp-api","charm-name":"kfp-api","charm-rev":3,"charm-channel":"2.15/stable"},
            "b":{"charm":"local:mysql-k8s-0"},
            "c":{"charm":"ch:amd64/focal/istio-pilot-12"},
            "d":{"charm":"oidc-gatekeeper"}}}"#;
        let c = ModelStatus::parse(charms).unwrap();
        let names: Vec<&str> = c.applications.values().map(|a| a.charm.as_str()).collect();
        assert_eq!(
            names,
            ["kfp-api", "mysql-k8s", "istio-pilot", "oidc-gatekeeper"]
        );
        assert_eq!(c.applications["a"].charm_rev, Some(3));
        assert_eq!(c.applications["a"].charm_channel, "2.15/stable");
        assert!(!s.all_active());
    }
}
