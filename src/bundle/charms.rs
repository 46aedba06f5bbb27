//! Pointing `charm:` entries at the charm files actually extracted from `charms.tar.gz`.
//! File names carry a hash or revision that differs from the repository's bundle, so the
//! match is by charm name (`istio-ingressgateway` uses `istio-gateway_*.charm`).

use std::collections::BTreeMap;

use serde::Serialize;

use super::edit::{Edit, EditPlan};
use super::error::Result;
use super::model::{Bundle, charm_name_of};
use super::yaml::PathSeg;

/// An application whose charm has no extracted file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MissingCharm {
    pub application: String,
    pub charm: String,
}

impl MissingCharm {
    pub fn message(&self) -> String {
        format!(
            "application {:?} needs charm {:?}, but no {}_*.charm file was extracted; add it to charms.tar.gz (juju download {}) or remove the application",
            self.application, self.charm, self.charm, self.charm
        )
    }
}

#[derive(Debug, Clone, Default)]
pub struct CharmRewrite {
    pub plan: EditPlan,
    /// `(application, old charm value, new charm value)` for each change.
    pub changes: Vec<(String, String, String)>,
    pub missing: Vec<MissingCharm>,
}

/// Charm name → file path, from the extracted file paths (`./charms/mysql-k8s_r99.charm`).
pub fn charm_files_by_name<I, S>(paths: I) -> BTreeMap<String, String>
where
    I: IntoIterator<Item = S>,
    S: Into<String>,
{
    paths
        .into_iter()
        .map(Into::into)
        .filter(|p| p.ends_with(".charm"))
        .map(|p| (charm_name_of(&p), p))
        .collect()
}

/// Edits setting each application's `charm:` to its extracted file (charm name → path).
pub fn plan_charm_paths(
    bundle: &Bundle,
    extracted: &BTreeMap<String, String>,
) -> Result<CharmRewrite> {
    let mut out = CharmRewrite::default();
    for app in &bundle.applications {
        let charm = app.charm_name();
        let Some(path) = extracted.get(&charm) else {
            out.missing.push(MissingCharm {
                application: app.name.clone(),
                charm,
            });
            continue;
        };
        if *path == app.charm {
            continue;
        }
        let at = [
            PathSeg::Key("applications".into()),
            PathSeg::Key(app.name.clone()),
            PathSeg::Key("charm".into()),
        ];
        out.plan.push(Edit::replace_scalar(&bundle.doc, &at, path)?);
        out.changes
            .push((app.name.clone(), app.charm.clone(), path.clone()));
    }
    Ok(out)
}
