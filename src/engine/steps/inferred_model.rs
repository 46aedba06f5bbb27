//! A model ckf-airgap did not install has no record: what runs is read from `juju status`
//! instead (each application's charm, channel, revision where Charmhub's, scale and base) and
//! the release from the channels, or from `[upgrade] installed_release` when the charms were
//! deployed from local files and show none. The operator confirms what was inferred before the upgrade
//! uses it. Such a record holds no previous `.charm` file, images or options, so its
//! applications get no way back, and the plan says so.

use std::path::PathBuf;

use crate::ckf_release::CkfRelease;
use crate::cluster::juju_status::ModelStatus;
use crate::engine::outputs::{InstalledApp, InstalledModel, InstalledOutcome};
use crate::engine::step_data::{CheckRow, Verdict};

/// The record a model's status gives, and one row per application saying what was read.
#[derive(Debug, Clone, PartialEq)]
pub struct Inferred {
    pub record: InstalledModel,
    pub rows: Vec<CheckRow>,
    /// How the release was told (`kfp-api is on channel 2.5/stable`, or the answers file).
    pub release_evidence: String,
}

/// `status` of `model` as a record. `named` is the operator's `[upgrade] installed_release`;
/// it must agree with the channels when they name a release.
pub fn infer(
    status: &ModelStatus,
    model: &str,
    juju_version: &str,
    named: Option<CkfRelease>,
) -> Result<Inferred, String> {
    if status.applications.is_empty() {
        return Err(format!(
            "the {model} model holds no application: there is nothing to upgrade"
        ));
    }
    let detected = crate::release::release_of_channels(
        status
            .applications
            .iter()
            .filter(|(_, a)| !a.charm_channel.is_empty())
            .map(|(name, a)| (name.clone(), a.charm.clone(), a.charm_channel.clone())),
    );
    let (release, release_evidence) = match (detected, named) {
        (Some(d), Some(n)) if d.release != n => {
            return Err(format!(
                "the model runs CKF {} ({}), but [upgrade] installed_release names {n}: remove \
                 it or correct it",
                d.release, d.evidence
            ));
        }
        (Some(d), _) => (d.release, d.evidence),
        (None, Some(n)) => (n, "named by [upgrade] installed_release".to_owned()),
        (None, None) => {
            return Err(format!(
                "cannot tell which CKF release the {model} model runs: no application shows a \
                 channel of a release (charms deployed from local files show none). Name it \
                 in the answers file ([upgrade] installed_release = \"1.10\"), then retry."
            ));
        }
    };
    let mut applications = Vec::new();
    let mut rows = Vec::new();
    for (name, app) in &status.applications {
        let charmhub_revision = (app.charm_origin == "charmhub")
            .then_some(app.charm_rev)
            .flatten()
            .and_then(|r| u64::try_from(r).ok());
        let channel = (!app.charm_channel.is_empty()).then(|| app.charm_channel.clone());
        let scale = app.units.len() as i64;
        rows.push(CheckRow {
            id: name.clone(),
            title: name.clone(),
            verdict: Verdict::Warn,
            evidence: format!(
                "inferred: charm {}{}{}, {scale} unit(s){}; no previous .charm file, images or \
                 options are known, so it has no way back",
                app.charm,
                channel
                    .as_deref()
                    .map(|c| format!(" on {c}"))
                    .unwrap_or_else(|| " (a local charm: no channel)".into()),
                charmhub_revision
                    .map(|r| format!(", Charmhub revision {r}"))
                    .unwrap_or_default(),
                app.base
                    .as_deref()
                    .map(|b| format!(", base {b}"))
                    .unwrap_or_default(),
            ),
            fix: None,
        });
        applications.push(InstalledApp {
            application: name.clone(),
            charm: app.charm.clone(),
            charm_file: PathBuf::new(),
            charm_sha256: None,
            kind: None,
            charmhub_revision,
            channel,
            resources: Default::default(),
            config: Default::default(),
            config_file: None,
            trust: false,
            base: app.base.clone(),
            scale: Some(scale),
            // What runs was found, not put there by ckf-airgap.
            outcome: InstalledOutcome::AlreadyPresent,
        });
    }
    Ok(Inferred {
        record: InstalledModel {
            model: model.to_owned(),
            juju_version: juju_version.to_owned(),
            ckf_release: Some(release),
            bundle: PathBuf::new(),
            registry: None,
            applications,
        },
        rows,
        release_evidence,
    })
}

#[cfg(test)]
mod tests {
    use super::infer;
    use crate::ckf_release::CkfRelease;
    use crate::cluster::juju_status::ModelStatus;

    /// `juju status --format=json` of a model installed from Charmhub (kfp-api, istio-pilot)
    /// and one local charm, in the shape Juju 3.6 prints.
    const STATUS: &str = r#"{"model":{"name":"kubeflow"},"applications":{
        "kfp-api":{"charm":"kfp-api","charm-origin":"charmhub","charm-name":"kfp-api",
            "charm-rev":1755,"charm-channel":"2.5/stable","base":{"name":"ubuntu","channel":"22.04"},
            "application-status":{"current":"active"},
            "units":{"kfp-api/0":{"workload-status":{"current":"active"}}}},
        "istio-pilot":{"charm":"istio-pilot","charm-origin":"charmhub","charm-name":"istio-pilot",
            "charm-rev":1375,"charm-channel":"1.24/stable",
            "application-status":{"current":"active"},
            "units":{"istio-pilot/0":{"workload-status":{"current":"active"}}}},
        "minio":{"charm":"local:minio-0","charm-origin":"local","charm-rev":0,
            "application-status":{"current":"active"},
            "units":{"minio/0":{"workload-status":{"current":"active"}},
                     "minio/1":{"workload-status":{"current":"active"}}}}}}"#;

    #[test]
    fn a_model_is_read_as_a_record_with_the_release_its_channels_name() {
        let status = ModelStatus::parse(STATUS).unwrap_or_else(|e| panic!("{e}"));
        let inferred = infer(&status, "kubeflow", "3.6.4", None).unwrap_or_else(|e| panic!("{e}"));
        let r = &inferred.record;
        assert_eq!(r.ckf_release, Some(CkfRelease::V1_10));
        assert_eq!(
            inferred.release_evidence,
            "kfp-api is on channel 2.5/stable"
        );
        let kfp = r.applications.iter().find(|a| a.application == "kfp-api");
        let kfp = kfp.unwrap_or_else(|| panic!("kfp-api"));
        assert_eq!(kfp.charmhub_revision, Some(1755));
        assert_eq!(kfp.channel.as_deref(), Some("2.5/stable"));
        assert_eq!(kfp.base.as_deref(), Some("ubuntu@22.04"));
        assert!(
            kfp.charm_file.as_os_str().is_empty(),
            "no way back without a file"
        );
        let minio = r.applications.iter().find(|a| a.application == "minio");
        let minio = minio.unwrap_or_else(|| panic!("minio"));
        assert_eq!(minio.charm, "minio");
        assert_eq!(
            minio.charmhub_revision, None,
            "a local revision is not Charmhub's"
        );
        assert_eq!(minio.channel, None);
        assert_eq!(minio.scale, Some(2));
        assert_eq!(inferred.rows.len(), 3);
        assert!(
            inferred
                .rows
                .iter()
                .any(|row| row.evidence.contains("a local charm: no channel")),
            "{:?}",
            inferred.rows
        );
        // The operator's release must agree with the channels.
        let e = infer(&status, "kubeflow", "3.6.4", Some(CkfRelease::V1_9)).err();
        assert!(e.is_some_and(|e| e.contains("[upgrade] installed_release names 1.9")));
    }

    #[test]
    fn local_charms_need_the_release_named_and_an_empty_model_is_refused() {
        let local = r#"{"applications":{"minio":{"charm":"local:minio-0","charm-origin":"local",
            "application-status":{"current":"active"}}}}"#;
        let status = ModelStatus::parse(local).unwrap_or_else(|e| panic!("{e}"));
        let e = infer(&status, "kubeflow", "3.6.4", None)
            .err()
            .unwrap_or_default();
        assert!(e.contains("[upgrade] installed_release = \"1.10\""), "{e}");
        let named = infer(&status, "kubeflow", "3.6.4", Some(CkfRelease::V1_10));
        let named = named.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            named.release_evidence,
            "named by [upgrade] installed_release"
        );
        let empty = ModelStatus::parse(r#"{"applications":{}}"#).unwrap_or_else(|e| panic!("{e}"));
        assert!(infer(&empty, "kubeflow", "3.6.4", None).is_err());
    }
}
