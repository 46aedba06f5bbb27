//! Crossing a Juju minor version (CKF 1.9 on Juju 3.4 to 1.10 on 3.6): Juju upgrades a
//! controller only within its minor version, so the model moves to a new controller of the
//! target version, bootstrapped with `caas-image-repo` at the private registry, by
//! `juju migrate`, and its agents follow with `juju upgrade-model` (Juju 3.6's "Upgrading
//! things"). These are the upgrade plan's first actions; the bootstrap runs only once every
//! image it names is in the registry, as an install's does.

use super::cmd::Cmd;
use super::juju_setup::{ImageRepo, JujuImage, bootstrap_cmd};
use super::plan::{ActionKind, PlanAction};

/// How long a migration or an agent upgrade may take before the plan stops.
const MODEL_TIMEOUT: &str = "30m";

pub struct Crossing<'a> {
    /// The Kubernetes cloud the new controller is bootstrapped on (the current one's).
    pub cloud: &'a str,
    pub controller: &'a str,
    pub model: &'a str,
    /// The client's Juju version, which the new controller gets and the model's agents follow.
    pub agent: String,
    pub repo: &'a ImageRepo,
    pub images: Vec<JujuImage>,
}

/// The model as later commands name it, on the new controller.
pub fn migrated_model(c: &Crossing<'_>) -> String {
    format!("{}:{}", c.controller, c.model)
}

pub fn crossing_actions(c: &Crossing<'_>) -> Vec<PlanAction> {
    let migrated = migrated_model(c);
    let ready = |id: &str, model: &str| PlanAction {
        id: id.to_owned(),
        kind: ActionKind::ModelReady {
            model: model.to_owned(),
        },
        // Bootstrap leaves the new controller current, where the migrated model appears.
        cmd: Cmd::juju([
            "wait-for",
            "model",
            c.model,
            "--query",
            "life==\"alive\" && status==\"available\"",
            "--timeout",
            MODEL_TIMEOUT,
        ]),
        file: None,
    };
    vec![
        PlanAction {
            id: format!("juju:bootstrap:{}", c.controller),
            kind: ActionKind::Bootstrap {
                controller: c.controller.to_owned(),
                images: c.images.clone(),
            },
            cmd: bootstrap_cmd(c.cloud, c.controller, c.repo),
            file: None,
        },
        PlanAction {
            id: format!("juju:migrate:{}", c.model),
            kind: ActionKind::Migrate {
                model: c.model.to_owned(),
                controller: c.controller.to_owned(),
            },
            cmd: Cmd::juju(["migrate", c.model, c.controller]),
            file: None,
        },
        ready("juju:migrated", &migrated),
        PlanAction {
            id: format!("juju:upgrade-model:{}", c.agent),
            kind: ActionKind::UpgradeModel {
                model: migrated.clone(),
                version: c.agent.clone(),
            },
            cmd: Cmd::juju([
                "upgrade-model",
                "--model",
                &migrated,
                "--agent-version",
                &c.agent,
            ]),
            file: None,
        },
        ready("juju:upgraded", &migrated),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_controller_then_migrate_then_upgrade_model_each_waited_for() {
        let repo = ImageRepo::new("registry.lab:5443", "ckf");
        let images = vec![JujuImage {
            path: "ckf/jujusolutions/jujud-operator".into(),
            tag: "3.6.4".into(),
        }];
        let c = Crossing {
            cloud: "ckf-k8s",
            controller: "ckf-36",
            model: "kubeflow",
            agent: "3.6.4".into(),
            repo: &repo,
            images: images.clone(),
        };
        let actions = crossing_actions(&c);
        let lines: Vec<String> = actions
            .iter()
            .map(|a| a.cmd.shown_args().join(" "))
            .collect();
        assert!(
            lines[0].starts_with("bootstrap ckf-k8s ckf-36 --config caas-image-repo="),
            "{lines:#?}"
        );
        assert!(lines[0].contains("registry.lab:5443/ckf"), "{}", lines[0]);
        assert_eq!(lines[1], "migrate kubeflow ckf-36");
        assert!(
            lines[2].starts_with("wait-for model kubeflow --query"),
            "{}",
            lines[2]
        );
        assert_eq!(
            lines[3],
            "upgrade-model --model ckf-36:kubeflow --agent-version 3.6.4"
        );
        assert!(lines[4].starts_with("wait-for model kubeflow"));
        assert!(
            matches!(&actions[0].kind, ActionKind::Bootstrap { images: i, .. } if *i == images),
            "the bootstrap names the images it needs, checked before it runs"
        );
        let mut ids: Vec<&str> = actions.iter().map(|a| a.id.as_str()).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), 5, "unique ids: the ledger resumes by them");
        assert_eq!(migrated_model(&c), "ckf-36:kubeflow");
    }
}
