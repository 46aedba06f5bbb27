//! The deployment as data, shown in full before anything runs: the Juju setup the cluster lacks
//! (`juju add-k8s`, `juju bootstrap`, `juju add-model`), the edited bundle, then each
//! separately deployed (PodSpec) charm with its resources and a `--config` YAML file, then the
//! relations. Big config values go through a file, never through shell quoting (the latest/edge
//! `podspec_script.sh` broke katib's `custom_images` exactly that way).

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::cmd::Cmd;
use super::image_map;
use super::juju_setup::{self, JujuImage};
use super::yaml_out::{self, ConfigValue};
use crate::bundle::error::BundleError;
use crate::bundle::model::{Bundle, charm_name_of};
use crate::bundle::podspec::{SeparateApp, SeparatelyDeployed};
use crate::version::Version;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum ActionKind {
    /// `microk8s config | juju add-k8s <cloud> --client`. The kubeconfig carries the cluster's
    /// admin credentials, so it is read when the action runs and never kept in the plan.
    AddK8s {
        cloud: String,
    },
    /// `juju bootstrap` with `caas-image-repo`; run only once every one of `images` is in the
    /// registry, since a missing one makes the bootstrap hang (canonical/microk8s#3956).
    Bootstrap {
        controller: String,
        images: Vec<JujuImage>,
    },
    AddModel {
        model: String,
    },
    /// `juju deploy <bundle>`; skipped when all these applications already exist.
    Bundle {
        applications: Vec<String>,
    },
    App {
        application: String,
    },
    Relation {
        a: String,
        b: String,
    },
    /// `juju refresh <app> --path …`: an upgrade's refresh (or its way back).
    Refresh {
        application: String,
    },
    /// `juju scale-application <app> <units>`.
    Scale {
        application: String,
        units: i64,
    },
    /// Waits until the application is active before the next action (`juju wait-for`).
    Settle {
        application: String,
    },
    /// Waits until a workload is gone from the cluster (`kubectl wait --for=delete`).
    Gone {
        resource: String,
    },
    /// `juju remove-application`: an application the new release no longer has, run only with
    /// the operator's consent.
    Remove {
        application: String,
    },
    /// `juju migrate <model> <controller>`: the model moved to a controller of a newer Juju.
    Migrate {
        model: String,
        controller: String,
    },
    /// Waits until the model is alive and available on the current controller (after a
    /// migration or an agent upgrade).
    ModelReady {
        model: String,
    },
    /// `juju upgrade-model --agent-version`: the migrated model's agents moved to the
    /// controller's Juju version.
    UpgradeModel {
        model: String,
        version: String,
    },
}

impl ActionKind {
    /// Setup acts on the client and the controller, before the model exists: the model's
    /// status says nothing about it.
    pub fn is_setup(&self) -> bool {
        matches!(
            self,
            Self::AddK8s { .. } | Self::Bootstrap { .. } | Self::AddModel { .. }
        )
    }
}

/// A file the step's command reads, written just before the step runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlannedFile {
    pub path: PathBuf,
    pub contents: String,
}

#[derive(Debug, Clone)]
pub struct PlanAction {
    /// Stable across runs, so a ledger can say which steps are finished.
    pub id: String,
    pub kind: ActionKind,
    pub cmd: Cmd,
    pub file: Option<PlannedFile>,
}

#[derive(Debug, Clone)]
pub struct DeployPlan {
    pub model: String,
    pub steps: Vec<PlanAction>,
    /// Things the operator should read before confirming (resources left unmapped, …).
    pub warnings: Vec<String>,
}

pub struct PlanInput<'a> {
    /// The edited bundle (sidecar charms, local `.charm` paths, pushed images).
    pub bundle_path: &'a Path,
    pub separate: &'a SeparatelyDeployed,
    /// Placeholder image → pushed image.
    pub images: &'a BTreeMap<String, String>,
    /// Charm files by charm name (`katib-controller`), by file name, or by the plan's
    /// `charm_file` text.
    pub charms: &'a BTreeMap<String, PathBuf>,
    pub juju: Version,
    /// Where the `--config` files go.
    pub config_dir: &'a Path,
    pub model: &'a str,
}

#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error(transparent)]
    Bundle(#[from] BundleError),
    #[error("no charm file for application {application:?} (plan says {charm_file:?})")]
    MissingCharm {
        application: String,
        charm_file: String,
    },
}

/// One application of a release bundle, deployed on its own from its local charm.
#[derive(Debug, Clone, PartialEq)]
pub struct AppDeploy {
    pub application: String,
    /// The charm's name (`kfp-api`).
    pub charm_name: String,
    /// The channel the bundle names for it.
    pub channel: Option<String>,
    pub charm: PathBuf,
    /// `--resource name=image` for every `oci-image` resource.
    pub resources: Vec<(String, String)>,
    /// The bundle's own options and every image option rewritten to the private registry.
    pub config: Vec<(String, ConfigValue)>,
    pub trust: bool,
    pub constraints: Option<String>,
    pub scale: Option<i64>,
    /// `ubuntu@22.04` when the bundle pins one.
    pub base: Option<String>,
}

/// A release bundle deployed application by application, then its relations.
pub struct ReleasePlanInput<'a> {
    pub apps: &'a [AppDeploy],
    /// The bundle's relations, as `app[:endpoint]` pairs.
    pub relations: &'a [[String; 2]],
    pub juju: Version,
    pub config_dir: &'a Path,
    pub model: &'a str,
}

impl DeployPlan {
    /// Each application from its local charm with `--resource` for every OCI image and one
    /// `--config` file, then every relation (`integrate` on Juju 3, `relate` on 2.9).
    pub fn for_release(input: &ReleasePlanInput<'_>) -> Self {
        let model = input.model;
        let mut steps = Vec::new();
        for app in input.apps {
            let mut args = vec![
                "deploy".to_owned(),
                app.charm.display().to_string(),
                app.application.clone(),
            ];
            for (name, image) in &app.resources {
                args.push("--resource".into());
                args.push(format!("{name}={image}"));
            }
            let file = (!app.config.is_empty()).then(|| PlannedFile {
                path: input
                    .config_dir
                    .join(format!("{}-config.yaml", app.application)),
                contents: yaml_out::typed_app_config(&app.application, &app.config),
            });
            if let Some(f) = &file {
                args.push("--config".into());
                args.push(f.path.display().to_string());
            }
            if let Some(c) = &app.constraints {
                args.push("--constraints".into());
                args.push(c.clone());
            }
            if let Some(n) = app.scale.filter(|n| *n != 1) {
                args.push("--num-units".into());
                args.push(n.to_string());
            }
            if let Some(b) = &app.base {
                args.push("--base".into());
                args.push(b.clone());
            }
            if app.trust {
                args.push("--trust".into());
            }
            args.extend(["--model".to_owned(), model.to_owned()]);
            steps.push(PlanAction {
                id: format!("deploy:{}", app.application),
                kind: ActionKind::App {
                    application: app.application.clone(),
                },
                cmd: Cmd::juju(args),
                file,
            });
        }
        steps.extend(relation_steps(input.relations, input.juju, model));
        Self {
            model: model.to_owned(),
            steps,
            warnings: Vec::new(),
        }
    }

    /// The plan as `deploy-plan.json`: every command in execution order with its argument
    /// vector and the files it reads.
    pub fn to_json(&self) -> serde_json::Value {
        let commands: Vec<serde_json::Value> = self
            .steps
            .iter()
            .map(|s| {
                // Redacted: the bootstrap's `caas-image-repo` carries the registry password.
                let mut argv = vec![s.cmd.tool.name().to_owned()];
                argv.extend(s.cmd.shown_args());
                let mut command = serde_json::json!({
                    "id": s.id,
                    "argv": argv,
                    "files": s.file.iter().map(|f| serde_json::json!({
                        "path": f.path,
                        "contents": f.contents,
                    })).collect::<Vec<_>>(),
                });
                if let Some(source) = s.stdin_source() {
                    let mut from = vec![source.tool.name().to_owned()];
                    from.extend(source.shown_args());
                    command["stdin_from"] = serde_json::json!(from);
                }
                command
            })
            .collect();
        serde_json::json!({
            "model": self.model,
            "commands": commands,
            "warnings": self.warnings,
        })
    }

    pub fn build(input: &PlanInput<'_>) -> Result<Self, PlanError> {
        let bundle = Bundle::load(input.bundle_path)?;
        let model = input.model;
        let mut warnings = Vec::new();
        let mut steps = vec![PlanAction {
            id: "deploy-bundle".into(),
            kind: ActionKind::Bundle {
                applications: bundle.applications.iter().map(|a| a.name.clone()).collect(),
            },
            cmd: Cmd::juju([
                "deploy".to_owned(),
                input.bundle_path.display().to_string(),
                "--trust".into(),
                "--model".into(),
                model.into(),
            ]),
            file: None,
        }];
        for app in &input.separate.apps {
            steps.push(app_step(input, app, &mut warnings)?);
        }
        steps.extend(relation_steps(&input.separate.relations, input.juju, model));
        Ok(Self {
            model: model.to_owned(),
            steps,
            warnings,
        })
    }

    /// What each application of the air-gapped plan is deployed with: the bundle's
    /// applications as the (edited) bundle sets them, then the separately deployed charms with
    /// their images mapped as `app_step` maps them. The record of an install is made from it.
    pub fn air_gapped_apps(input: &PlanInput<'_>) -> Result<Vec<AppDeploy>, PlanError> {
        let bundle = Bundle::load(input.bundle_path)?;
        let mapped = |v: &str| image_map::apply(v, input.images).0;
        let mut apps: Vec<AppDeploy> = bundle
            .applications
            .iter()
            .map(|app| AppDeploy {
                application: app.name.clone(),
                charm_name: app.charm_name(),
                channel: app.channel.clone(),
                charm: find_charm(input.charms, &app.charm)
                    .unwrap_or_else(|| PathBuf::from(&app.charm)),
                resources: app
                    .resources
                    .iter()
                    .map(|(k, v)| (k.clone(), mapped(&v.to_string())))
                    .collect(),
                config: app
                    .options
                    .iter()
                    .map(|(k, v)| (k.clone(), ConfigValue::from(v)))
                    .collect(),
                trust: app.trust.unwrap_or(false),
                constraints: app.constraints.clone(),
                scale: app.scale,
                base: app.base.clone(),
            })
            .collect();
        for app in &input.separate.apps {
            let charm = find_charm(input.charms, &app.charm_file).ok_or_else(|| {
                PlanError::MissingCharm {
                    application: app.application.clone(),
                    charm_file: app.charm_file.clone(),
                }
            })?;
            apps.push(AppDeploy {
                application: app.application.clone(),
                charm_name: charm_name_of(&app.charm_file),
                channel: None,
                charm,
                resources: app
                    .resources
                    .iter()
                    .map(|(k, v)| (k.clone(), mapped(v)))
                    .collect(),
                config: app
                    .config
                    .iter()
                    .map(|(k, v)| (k.clone(), ConfigValue::Text(mapped(v))))
                    .collect(),
                trust: app.trust,
                constraints: None,
                scale: None,
                base: None,
            });
        }
        Ok(apps)
    }

    /// Every command, and every file with its full contents, as the operator will confirm them.
    pub fn preview(&self) -> String {
        let mut out = String::new();
        for (i, step) in self.steps.iter().enumerate() {
            out.push_str(&format!("{:>2}. {}\n", i + 1, step.display()));
            if let Some(f) = &step.file {
                out.push_str(&format!("    with {}:\n", f.path.display()));
                for line in f.contents.lines() {
                    out.push_str(&format!("      {line}\n"));
                }
            }
        }
        for w in &self.warnings {
            out.push_str(&format!("warning: {w}\n"));
        }
        out
    }

    /// Puts the setup the cluster lacks before everything else, so it is shown, confirmed and
    /// run with the plan.
    pub fn prepend(&mut self, setup: Vec<PlanAction>) {
        self.steps.splice(0..0, setup);
    }

    pub fn step(&self, id: &str) -> Option<&PlanAction> {
        self.steps.iter().find(|s| s.id == id)
    }

    /// Adds `--trust` to a step, for when Juju answered that the charm needs it.
    pub fn add_trust(&mut self, id: &str) -> bool {
        let Some(step) = self.steps.iter_mut().find(|s| s.id == id) else {
            return false;
        };
        if !step.cmd.args().iter().any(|a| a == "--trust") {
            let mut args = step.cmd.args().to_vec();
            args.insert(args.len().saturating_sub(2), "--trust".into());
            step.cmd = Cmd::juju(args);
        }
        true
    }
}

impl PlanAction {
    /// The command as the operator reads it (redacted), with where its input comes from.
    pub fn display(&self) -> String {
        match self.stdin_source() {
            Some(source) => format!("{} | {}", source.display(), self.cmd.display()),
            None => self.cmd.display(),
        }
    }

    /// The command whose output this action's command reads on standard input, run just before
    /// it.
    pub fn stdin_source(&self) -> Option<Cmd> {
        matches!(self.kind, ActionKind::AddK8s { .. }).then(juju_setup::microk8s_config_cmd)
    }

    pub fn write_file(&self) -> io::Result<()> {
        if let Some(f) = &self.file {
            if let Some(dir) = f.path.parent() {
                fs::create_dir_all(dir)?;
            }
            fs::write(&f.path, &f.contents)?;
        }
        Ok(())
    }
}

pub(crate) fn relation_steps(
    relations: &[[String; 2]],
    juju: Version,
    model: &str,
) -> Vec<PlanAction> {
    // `relate` was renamed `integrate` in Juju 3.0; 2.9 knows only `relate`.
    let verb = if juju.major >= 3 {
        "integrate"
    } else {
        "relate"
    };
    relations
        .iter()
        .map(|[a, b]| PlanAction {
            id: format!("relate:{a}|{b}"),
            kind: ActionKind::Relation {
                a: a.clone(),
                b: b.clone(),
            },
            cmd: Cmd::juju([verb, a, b, "--model", model]),
            file: None,
        })
        .collect()
}

fn app_step(
    input: &PlanInput<'_>,
    app: &SeparateApp,
    warnings: &mut Vec<String>,
) -> Result<PlanAction, PlanError> {
    let charm =
        find_charm(input.charms, &app.charm_file).ok_or_else(|| PlanError::MissingCharm {
            application: app.application.clone(),
            charm_file: app.charm_file.clone(),
        })?;
    let mut args = vec![
        "deploy".to_owned(),
        charm.display().to_string(),
        app.application.clone(),
    ];
    for (name, image) in &app.resources {
        let (mapped, n) = image_map::apply(image, input.images);
        if n == 0 {
            warnings.push(format!(
                "{}: resource {name}={image} has no pushed image in the mapping",
                app.application
            ));
        }
        args.push("--resource".into());
        args.push(format!("{name}={mapped}"));
    }
    let file = (!app.config.is_empty()).then(|| {
        let options: Vec<(String, String)> = app
            .config
            .iter()
            .map(|(k, v)| (k.clone(), image_map::apply(v, input.images).0))
            .collect();
        PlannedFile {
            path: input
                .config_dir
                .join(format!("{}-config.yaml", app.application)),
            contents: yaml_out::app_config(&app.application, &options),
        }
    });
    if let Some(f) = &file {
        args.push("--config".into());
        args.push(f.path.display().to_string());
    }
    if app.trust {
        args.push("--trust".into());
    }
    args.extend(["--model".to_owned(), input.model.to_owned()]);
    Ok(PlanAction {
        id: format!("deploy:{}", app.application),
        kind: ActionKind::App {
            application: app.application.clone(),
        },
        cmd: Cmd::juju(args),
        file,
    })
}

fn find_charm(charms: &BTreeMap<String, PathBuf>, charm_file: &str) -> Option<PathBuf> {
    let file_name = charm_file.rsplit('/').next().unwrap_or(charm_file);
    [charm_file, file_name, &charm_name_of(charm_file)]
        .iter()
        .find_map(|k| charms.get(*k).cloned())
}
