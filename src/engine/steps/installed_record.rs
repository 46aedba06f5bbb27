//! The record of an install (`InstalledModel`) from the plan that ran: each application with
//! its charm's origin (from the inventory), what it was deployed with, the `--config` file its
//! command read and what that command did.

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::artifacts::Inventory;
use crate::ckf_release::CkfRelease;
use crate::cluster::deploy::ActionOutcome;
use crate::cluster::plan::{ActionKind, AppDeploy, DeployPlan};
use crate::engine::outputs::{InstalledApp, InstalledModel, InstalledOutcome};
use crate::version::Version;

/// What the record is made from, besides the plan and its applications.
pub struct RecordContext<'a> {
    pub juju: Version,
    pub ckf_release: Option<CkfRelease>,
    pub bundle: PathBuf,
    pub registry: Option<String>,
    /// None when the Artifacts step was skipped: the charms' origin is then unknown.
    pub inventory: Option<&'a Inventory>,
}

/// Every application of `apps` whose command ran, found the application there, or was
/// skipped; one whose command has no recorded outcome (not reached) is left out.
pub fn installed_model(
    plan: &DeployPlan,
    apps: &[AppDeploy],
    context: RecordContext<'_>,
    outcome_of: impl Fn(&str) -> Option<ActionOutcome>,
) -> InstalledModel {
    let applications = apps
        .iter()
        .filter_map(|app| {
            let action = plan.steps.iter().find(|a| match &a.kind {
                ActionKind::App { application } => application == &app.application,
                ActionKind::Bundle { applications } => applications.contains(&app.application),
                _ => false,
            })?;
            let outcome = match outcome_of(&action.id)? {
                ActionOutcome::Done => InstalledOutcome::Deployed,
                ActionOutcome::AlreadyPresent => InstalledOutcome::AlreadyPresent,
                ActionOutcome::Skipped { reason } => InstalledOutcome::Skipped { reason },
                ActionOutcome::Failed { .. } => return None,
            };
            Some(app_record(
                app,
                context.inventory,
                action.file.as_ref().map(|f| f.path.clone()),
                outcome,
            ))
        })
        .collect();
    InstalledModel {
        model: plan.model.clone(),
        juju_version: context.juju.to_string(),
        ckf_release: context.ckf_release,
        bundle: context.bundle,
        registry: context.registry,
        applications,
    }
}

/// One application as deployed with `app`, its charm's origin from the inventory (the charm
/// file deployed, found by its path in the spool).
fn app_record(
    app: &AppDeploy,
    inventory: Option<&Inventory>,
    config_file: Option<PathBuf>,
    outcome: InstalledOutcome,
) -> InstalledApp {
    let charm = inventory.and_then(|i| {
        i.charms
            .iter()
            .find(|c| app.charm.ends_with(&c.spool_path))
            .or_else(|| i.charms.iter().find(|c| c.name == app.charm_name))
    });
    InstalledApp {
        application: app.application.clone(),
        charm: app.charm_name.clone(),
        charm_file: app.charm.clone(),
        charm_sha256: charm.map(|c| c.sha256.clone()),
        kind: charm.map(|c| c.kind),
        charmhub_revision: charm.and_then(|c| c.version.revision()),
        channel: app.channel.clone(),
        resources: app.resources.iter().cloned().collect(),
        config: app.config.iter().cloned().collect::<BTreeMap<_, _>>(),
        config_file,
        trust: app.trust,
        base: app.base.clone(),
        scale: app.scale,
        outcome,
    }
}

/// The model as an upgrade left it: the installed record with every application whose
/// refresh (or deploy) finished moved to what the target gave it, every one taken back or not
/// reached as it was, and every removed one gone. The next upgrade starts from it.
pub fn upgraded_model(
    before: &InstalledModel,
    plan: &DeployPlan,
    targets: &[AppDeploy],
    context: RecordContext<'_>,
    outcome_of: impl Fn(&str) -> Option<ActionOutcome>,
) -> InstalledModel {
    let finished = |id: &str| {
        matches!(
            outcome_of(id),
            Some(ActionOutcome::Done | ActionOutcome::AlreadyPresent)
        )
    };
    let mut applications: Vec<InstalledApp> = before
        .applications
        .iter()
        .filter(|a| !finished(&format!("remove:{}", a.application)))
        .cloned()
        .collect();
    for app in targets {
        let name = &app.application;
        let taken_back = finished(&format!(
            "{}back:{name}",
            crate::cluster::upgrade_plan::WAY_BACK_PREFIX
        ));
        let moved = plan.steps.iter().find(|a| match &a.kind {
            ActionKind::Refresh { application } => {
                application == name && a.id == format!("refresh:{name}")
            }
            ActionKind::App { application } => application == name,
            _ => false,
        });
        let Some(action) = moved.filter(|a| finished(&a.id) && !taken_back) else {
            continue;
        };
        let record = app_record(
            app,
            context.inventory,
            action.file.as_ref().map(|f| f.path.clone()),
            InstalledOutcome::Deployed,
        );
        match applications.iter_mut().find(|a| &a.application == name) {
            Some(entry) => {
                let scale = entry.scale;
                *entry = record;
                // The refresh kept the application's units.
                entry.scale = entry.scale.or(scale);
            }
            None => applications.push(record),
        }
    }
    InstalledModel {
        model: before.model.clone(),
        juju_version: context.juju.to_string(),
        ckf_release: context.ckf_release.or(before.ckf_release),
        bundle: context.bundle,
        registry: context.registry.or(before.registry.clone()),
        applications,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::Cmd;
    use crate::cluster::plan::{PlanAction, PlannedFile};
    use crate::cluster::yaml_out::ConfigValue;

    fn app(name: &str) -> AppDeploy {
        AppDeploy {
            application: name.into(),
            charm_name: name.into(),
            channel: Some("1.10/stable".into()),
            charm: PathBuf::from(format!("/w/charms/{name}_r7.charm")),
            resources: vec![("oci-image".into(), format!("reg:5000/ckf/{name}:1"))],
            config: vec![("opt".into(), ConfigValue::Int(3))],
            trust: true,
            constraints: None,
            scale: None,
            base: None,
        }
    }

    fn action(id: &str, kind: ActionKind, file: Option<&str>) -> PlanAction {
        PlanAction {
            id: id.into(),
            kind,
            cmd: Cmd::juju(["deploy"]),
            file: file.map(|p| PlannedFile {
                path: PathBuf::from(p),
                contents: String::new(),
            }),
        }
    }

    #[test]
    fn each_application_takes_its_commands_outcome_and_a_failed_or_unreached_one_is_left_out() {
        let plan = DeployPlan {
            model: "kubeflow".into(),
            steps: vec![
                action(
                    "deploy-bundle",
                    ActionKind::Bundle {
                        applications: vec!["a".into(), "b".into()],
                    },
                    None,
                ),
                action(
                    "deploy:c",
                    ActionKind::App {
                        application: "c".into(),
                    },
                    Some("/s/c-config.yaml"),
                ),
                action(
                    "deploy:d",
                    ActionKind::App {
                        application: "d".into(),
                    },
                    None,
                ),
                action(
                    "deploy:e",
                    ActionKind::App {
                        application: "e".into(),
                    },
                    None,
                ),
            ],
            warnings: vec![],
        };
        let apps: Vec<AppDeploy> = ["a", "b", "c", "d", "e"].map(app).to_vec();
        let record = installed_model(
            &plan,
            &apps,
            RecordContext {
                juju: Version::new(3, 6, 4),
                ckf_release: Some(CkfRelease::V1_10),
                bundle: PathBuf::from("/b/bundle.yaml"),
                registry: Some("reg:5000/ckf".into()),
                inventory: None,
            },
            |id| match id {
                "deploy-bundle" => Some(ActionOutcome::Done),
                "deploy:c" => Some(ActionOutcome::Skipped {
                    reason: "deployed by hand".into(),
                }),
                "deploy:d" => Some(ActionOutcome::Failed {
                    code: Some(1),
                    message: "no".into(),
                }),
                _ => None,
            },
        );
        let names: Vec<&str> = record
            .applications
            .iter()
            .map(|a| a.application.as_str())
            .collect();
        assert_eq!(names, ["a", "b", "c"]);
        assert_eq!(record.applications[0].outcome, InstalledOutcome::Deployed);
        assert_eq!(
            record.applications[2].outcome,
            InstalledOutcome::Skipped {
                reason: "deployed by hand".into()
            }
        );
        assert_eq!(
            record.applications[2].config_file,
            Some(PathBuf::from("/s/c-config.yaml"))
        );
        assert_eq!(record.applications[0].config_file, None);
        // Without the inventory the charm's origin is unknown, not guessed.
        assert_eq!(record.applications[0].charm_sha256, None);
        assert_eq!(record.applications[0].charmhub_revision, None);
        assert_eq!(record.juju_version, "3.6.4");
        let json = serde_json::to_value(&record.applications[0]).unwrap();
        assert_eq!(json["config"]["opt"], 3, "{json}");
        assert_eq!(json["resources"]["oci-image"], "reg:5000/ckf/a:1");
    }
}
