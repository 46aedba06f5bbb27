//! An upgrade as data: the commands that move a running model from the installed release to
//! the target's, in the same shape as the deploy plan, with each application's way back.
//!
//! What Juju and the charms require, and the plan therefore does (domain research 3, §1.2):
//! a local charm is refreshed only with `--path`; a resource not named on `--resource` keeps
//! its old image and a new one not named is refused, so **every** OCI resource of the new
//! charm is named; options set at install stay pinned, so every image option goes in the same
//! refresh's `--config`; istio-pilot moves one minor version at a time with the gateway scaled
//! to 0 and gone (the CKF upgrade guides); a PodSpec charm becomes a sidecar charm only at 0
//! units (juju/juju#15701). Each refresh is followed by a wait for the application to settle.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::cmd::Cmd;
use super::plan::{ActionKind, AppDeploy, DeployPlan, PlanAction, PlannedFile, relation_steps};
use super::yaml_out::{self, ConfigValue};
use crate::charm_kind::CharmKind;
use crate::version::Version;

const ISTIO_PILOT: &str = "istio-pilot";
const ISTIO_GATEWAY_CHARM: &str = "istio-gateway";
/// How long one application may take to settle before the plan stops (Juju's `wait-for`).
const SETTLE_TIMEOUT: &str = "30m";

/// An application as the installed release runs it (from the record of the install).
#[derive(Debug, Clone, PartialEq)]
pub struct RunningApp {
    pub application: String,
    pub charm_name: String,
    pub charm_file: PathBuf,
    pub resources: Vec<(String, String)>,
    pub config: Vec<(String, ConfigValue)>,
    pub trust: bool,
    pub scale: i64,
    pub kind: Option<CharmKind>,
}

/// An application of the target release: what its deploy would be, and its charm's kind.
#[derive(Debug, Clone, PartialEq)]
pub struct TargetApp {
    pub deploy: AppDeploy,
    pub kind: CharmKind,
}

/// istio-pilot for one intermediate track, with its `image-configuration` pointed at the
/// private registry.
#[derive(Debug, Clone, PartialEq)]
pub struct IstioHop {
    pub track: String,
    pub charm: PathBuf,
    pub config: Vec<(String, ConfigValue)>,
}

pub struct UpgradeInput<'a> {
    pub model: &'a str,
    pub juju: Version,
    /// Where the `--config` files go.
    pub config_dir: &'a Path,
    pub running: &'a [RunningApp],
    /// In the target bundle's order.
    pub target: &'a [TargetApp],
    pub istio_hops: &'a [IstioHop],
    /// The target bundle's relations (those of new applications are added).
    pub relations: &'a [[String; 2]],
    /// Relations the release pair's table adds between applications that stay.
    pub relations_added: &'a [[String; 2]],
    /// Applications the release pair's guide removes with their storage and deploys again.
    pub redeploy: &'a [String],
}

/// The application an action of the plan moves (a gateway's wait names its workload).
pub fn action_application(action: &PlanAction) -> Option<&str> {
    match &action.kind {
        ActionKind::Refresh { application }
        | ActionKind::Scale { application, .. }
        | ActionKind::Settle { application }
        | ActionKind::Remove { application }
        | ActionKind::App { application } => Some(application),
        ActionKind::Gone { resource } => resource
            .strip_prefix("deploy/")
            .and_then(|r| r.strip_suffix("-workload")),
        _ => None,
    }
}

/// The way back's ids stand apart from the plan's, so a ledger that holds both never takes
/// one for the other (`way-back/scale:minio:0` is not the upgrade's `scale:minio:0`).
pub const WAY_BACK_PREFIX: &str = "way-back/";

/// The plan, and per application the actions that return it to what ran before.
pub struct UpgradePlan {
    pub plan: DeployPlan,
    pub way_back: BTreeMap<String, Vec<PlanAction>>,
    /// Applications the target release drops: their removal is in the plan, run only with
    /// the operator's consent.
    pub removals: Vec<String>,
}

struct Builder<'a> {
    input: &'a UpgradeInput<'a>,
    steps: Vec<PlanAction>,
    seen: BTreeMap<String, usize>,
}

impl Builder<'_> {
    /// A unique, stable id: the same plan gives the same ids, so a resumed run finds its place.
    fn id(&mut self, base: String) -> String {
        let n = self.seen.entry(base.clone()).or_default();
        *n += 1;
        if *n == 1 { base } else { format!("{base}#{n}") }
    }

    fn push(&mut self, id: String, kind: ActionKind, cmd: Cmd, file: Option<PlannedFile>) {
        let id = self.id(id);
        self.steps.push(PlanAction {
            id,
            kind,
            cmd,
            file,
        });
    }

    fn scale(&mut self, app: &str, units: i64) {
        let model = self.input.model;
        self.push(
            format!("scale:{app}:{units}"),
            ActionKind::Scale {
                application: app.into(),
                units,
            },
            Cmd::juju([
                "scale-application",
                app,
                &units.to_string(),
                "--model",
                model,
            ]),
            None,
        );
    }

    fn settle(&mut self, app: &str) {
        let model = self.input.model;
        self.push(
            format!("settle:{app}"),
            ActionKind::Settle {
                application: app.into(),
            },
            Cmd::juju([
                "wait-for",
                "application",
                app,
                "--query",
                "status==\"active\"",
                "--timeout",
                SETTLE_TIMEOUT,
                "--model",
                model,
            ]),
            None,
        );
    }

    /// Waits until `resource` of `app` is deleted from the model's namespace.
    fn gone(&mut self, app: &str, resource: &str) {
        // The model is the namespace; a migrated model is named `controller:model`.
        let namespace = self
            .input
            .model
            .rsplit(':')
            .next()
            .unwrap_or(self.input.model);
        self.push(
            format!("gone:{app}"),
            ActionKind::Gone {
                resource: resource.to_owned(),
            },
            Cmd::kubectl([
                "wait",
                "--for=delete",
                resource,
                "-n",
                namespace,
                "--timeout=10m",
            ]),
            None,
        );
    }

    /// A new application (or one deployed again) as an install deploys it, then waited for.
    fn deploy_new(&mut self, d: &AppDeploy) {
        let input = self.input;
        let deploy = DeployPlan::for_release(&super::plan::ReleasePlanInput {
            apps: std::slice::from_ref(d),
            relations: &[],
            juju: input.juju,
            config_dir: input.config_dir,
            model: input.model,
        });
        for step in deploy.steps {
            self.push(step.id, step.kind, step.cmd, step.file);
        }
        self.settle(&d.application);
    }

    fn refresh(&mut self, id: String, app: &str, to: &RefreshTo<'_>, config_name: &str) {
        let action = refresh_action(self.input, app, to, config_name);
        self.push(id, action.kind, action.cmd, action.file);
    }
}

/// What a refresh moves an application to.
struct RefreshTo<'a> {
    charm: &'a Path,
    resources: &'a [(String, String)],
    config: &'a [(String, ConfigValue)],
    trust: bool,
}

impl<'a> RefreshTo<'a> {
    fn target(d: &'a AppDeploy) -> Self {
        RefreshTo {
            charm: &d.charm,
            resources: &d.resources,
            config: &d.config,
            trust: d.trust,
        }
    }

    fn hop(h: &'a IstioHop) -> Self {
        RefreshTo {
            charm: &h.charm,
            resources: &[],
            config: &h.config,
            trust: true,
        }
    }

    fn previous(r: &'a RunningApp) -> Self {
        RefreshTo {
            charm: &r.charm_file,
            resources: &r.resources,
            config: &r.config,
            trust: r.trust,
        }
    }
}

/// `juju refresh <app> --path <charm>` with every resource, one `--config` file and trust.
fn refresh_action(
    input: &UpgradeInput<'_>,
    app: &str,
    to: &RefreshTo<'_>,
    config_name: &str,
) -> PlanAction {
    let RefreshTo {
        charm,
        resources,
        config,
        trust,
    } = *to;
    let mut args = vec![
        "refresh".to_owned(),
        app.to_owned(),
        "--path".into(),
        charm.display().to_string(),
    ];
    for (name, image) in resources {
        args.push("--resource".into());
        args.push(format!("{name}={image}"));
    }
    let file = (!config.is_empty()).then(|| PlannedFile {
        path: input.config_dir.join(format!("{app}-{config_name}.yaml")),
        contents: yaml_out::typed_app_config(app, config),
    });
    if let Some(f) = &file {
        args.push("--config".into());
        args.push(f.path.display().to_string());
    }
    if trust {
        args.push("--trust".into());
    }
    args.extend(["--model".to_owned(), input.model.to_owned()]);
    PlanAction {
        id: format!("refresh:{app}"),
        kind: ActionKind::Refresh {
            application: app.into(),
        },
        cmd: Cmd::juju(args),
        file,
    }
}

/// Goes from PodSpec to sidecar (or back): Juju refuses it while the application has units.
fn changes_kind(from: Option<CharmKind>, to: CharmKind) -> bool {
    from.is_some_and(|k| k != to)
}

pub fn build(input: &UpgradeInput<'_>) -> UpgradePlan {
    let running: BTreeMap<&str, &RunningApp> = input
        .running
        .iter()
        .map(|r| (r.application.as_str(), r))
        .collect();
    let mut b = Builder {
        input,
        steps: Vec::new(),
        seen: BTreeMap::new(),
    };
    let mut warnings = Vec::new();
    let target_apps: Vec<&TargetApp> = input.target.iter().collect();
    let pilot = target_apps.iter().find(|t| {
        t.deploy.charm_name == ISTIO_PILOT && running.contains_key(t.deploy.application.as_str())
    });
    let gateways: Vec<&&TargetApp> = target_apps
        .iter()
        .filter(|t| {
            t.deploy.charm_name == ISTIO_GATEWAY_CHARM
                && running.contains_key(t.deploy.application.as_str())
        })
        .collect();
    let mut done: Vec<&str> = Vec::new();

    // Istio first, as the guides do: the gateways scaled to 0 and gone, istio-pilot through
    // every minor version to the target's, then the gateways on the new charm and scaled back.
    if let Some(pilot) = pilot {
        for gateway in &gateways {
            let app = gateway.deploy.application.as_str();
            b.scale(app, 0);
            b.gone(app, &format!("deploy/{app}-workload"));
        }
        let app = pilot.deploy.application.as_str();
        for hop in input.istio_hops {
            b.refresh(
                format!("refresh:{app}@{}", hop.track),
                app,
                &RefreshTo::hop(hop),
                &format!("upgrade-{}", hop.track),
            );
            b.settle(app);
        }
        let d = &pilot.deploy;
        b.refresh(
            format!("refresh:{app}"),
            app,
            &RefreshTo::target(d),
            "upgrade",
        );
        b.settle(app);
        done.push(app);
        for gateway in &gateways {
            let d = &gateway.deploy;
            let app = d.application.as_str();
            b.refresh(
                format!("refresh:{app}"),
                app,
                &RefreshTo::target(d),
                "upgrade",
            );
            let units = running.get(app).map(|r| r.scale).unwrap_or(1).max(1);
            b.scale(app, units);
            b.settle(app);
            done.push(app);
        }
    } else if !input.istio_hops.is_empty() {
        warnings.push(
            "istio-pilot is not running under the target's name: its intermediate versions are \
             not used"
                .to_owned(),
        );
    }

    let mut new_apps = Vec::new();
    for t in &target_apps {
        let d = &t.deploy;
        let app = d.application.as_str();
        if done.contains(&app) {
            continue;
        }
        match running.get(app) {
            // Removed with its storage (with the operator's consent, as every removal), gone,
            // then deployed as a new application, its relations made again.
            Some(_) if input.redeploy.iter().any(|a| a == app) => {
                b.push(
                    format!("remove:{app}"),
                    ActionKind::Remove {
                        application: app.into(),
                    },
                    Cmd::juju([
                        "remove-application",
                        app,
                        "--destroy-storage",
                        "--model",
                        input.model,
                    ]),
                    None,
                );
                b.gone(app, &format!("statefulset/{app}"));
                new_apps.push(app.to_owned());
                b.deploy_new(d);
            }
            Some(r) => {
                let rescale = changes_kind(r.kind, t.kind) && r.scale > 0;
                if rescale {
                    b.scale(app, 0);
                }
                b.refresh(
                    format!("refresh:{app}"),
                    app,
                    &RefreshTo::target(d),
                    "upgrade",
                );
                if rescale {
                    b.scale(app, r.scale);
                }
                b.settle(app);
            }
            None => {
                new_apps.push(app.to_owned());
                b.deploy_new(d);
            }
        }
    }
    let new_relations: Vec<[String; 2]> = input
        .relations
        .iter()
        .filter(|[a, c]| {
            let app = |e: &str| e.split(':').next().unwrap_or(e).to_owned();
            new_apps.contains(&app(a)) || new_apps.contains(&app(c))
        })
        .cloned()
        .collect();
    let mut new_relations = new_relations;
    for added in input.relations_added {
        if !new_relations.contains(added) {
            new_relations.push(added.clone());
        }
    }
    for step in relation_steps(&new_relations, input.juju, input.model) {
        b.push(step.id, step.kind, step.cmd, step.file);
    }
    // The consent to remove covers both: what the target drops and what is deployed again.
    let redeployed: Vec<String> = input
        .running
        .iter()
        .filter(|r| input.redeploy.contains(&r.application))
        .filter(|r| {
            target_apps
                .iter()
                .any(|t| t.deploy.application == r.application)
        })
        .map(|r| r.application.clone())
        .collect();
    if !redeployed.is_empty() {
        warnings.push(format!(
            "{} is removed with its storage and deployed again, as the upgrade guide says: its \
             data comes back only from the backup, and it has no way back",
            redeployed.join(", ")
        ));
    }
    let mut removals = Vec::new();
    for r in input.running {
        if !target_apps
            .iter()
            .any(|t| t.deploy.application == r.application)
        {
            let app = r.application.as_str();
            removals.push(app.to_owned());
            b.push(
                format!("remove:{app}"),
                ActionKind::Remove {
                    application: app.into(),
                },
                Cmd::juju(["remove-application", app, "--model", input.model]),
                None,
            );
        }
    }
    if !removals.is_empty() {
        warnings.push(format!(
            "the target release has no {}: removing them destroys their units (and storage \
             they own) and is not undone by the way back",
            removals.join(", ")
        ));
    }
    removals.extend(redeployed);
    // istio-pilot cannot go back: the charm refuses to move its control plane to an older
    // version (canonical/istio-operators charms/istio-pilot README, "Downgrades are not
    // supported by this charm"), so it has no way back, and the plan says so.
    if pilot.is_some() {
        warnings.push(
            "istio-pilot has no way back: its charm does not downgrade the Istio control plane"
                .to_owned(),
        );
    }
    // A record inferred from the model holds no previous charm file to go back to.
    let without: Vec<&str> = input
        .running
        .iter()
        .filter(|r| r.charm_file.as_os_str().is_empty())
        .map(|r| r.application.as_str())
        .collect();
    if !without.is_empty() {
        warnings.push(format!(
            "no way back for {} (read from the model as it stands: no previous charm file, \
             images or options are known)",
            without.join(", ")
        ));
    }
    let way_back = input
        .running
        .iter()
        .filter(|r| r.charm_name != ISTIO_PILOT && !r.charm_file.as_os_str().is_empty())
        .filter(|r| !input.redeploy.contains(&r.application))
        .filter(|r| {
            target_apps
                .iter()
                .any(|t| t.deploy.application == r.application)
        })
        .map(|r| (r.application.clone(), way_back_of(input, r, &target_apps)))
        .collect();
    UpgradePlan {
        plan: DeployPlan {
            model: input.model.to_owned(),
            steps: b.steps,
            warnings,
        },
        way_back,
        removals,
    }
}

/// The previous charm with the previous images and options (from the record of the install),
/// at 0 units when the refresh changed the charm's kind.
fn way_back_of(input: &UpgradeInput<'_>, r: &RunningApp, target: &[&TargetApp]) -> Vec<PlanAction> {
    let app = r.application.as_str();
    let new_kind = target
        .iter()
        .find(|t| t.deploy.application == r.application)
        .map(|t| t.kind);
    let rescale = new_kind.is_some_and(|k| changes_kind(r.kind, k)) && r.scale > 0;
    let mut b = Builder {
        input,
        steps: Vec::new(),
        seen: BTreeMap::new(),
    };
    if rescale {
        b.scale(app, 0);
    }
    let back = refresh_action(input, app, &RefreshTo::previous(r), "way-back");
    b.push(format!("back:{app}"), back.kind, back.cmd, back.file);
    if rescale {
        b.scale(app, r.scale);
    }
    b.settle(app);
    for step in &mut b.steps {
        step.id = format!("{WAY_BACK_PREFIX}{}", step.id);
    }
    b.steps
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deploy(app: &str, charm: &str, resources: &[(&str, &str)]) -> AppDeploy {
        AppDeploy {
            application: app.into(),
            charm_name: charm.into(),
            channel: None,
            charm: PathBuf::from(format!("/w/new/{charm}.charm")),
            resources: resources
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            config: vec![],
            trust: true,
            constraints: None,
            scale: None,
            base: None,
        }
    }

    fn running(app: &str, charm: &str, kind: CharmKind) -> RunningApp {
        RunningApp {
            application: app.into(),
            charm_name: charm.into(),
            charm_file: PathBuf::from(format!("/w/old/{charm}.charm")),
            resources: vec![("oci-image".into(), format!("reg/{charm}:old"))],
            config: vec![("opt".into(), ConfigValue::Text("old".into()))],
            trust: true,
            scale: 1,
            kind: Some(kind),
        }
    }

    fn argv(a: &PlanAction) -> String {
        a.cmd.shown_args().join(" ")
    }

    #[test]
    fn a_redeploy_removes_with_storage_waits_deploys_and_relates_again_with_consent() {
        let target = vec![
            TargetApp {
                deploy: deploy("mlmd", "mlmd", &[("oci-image", "reg/mlmd:new")]),
                kind: CharmKind::Sidecar,
            },
            TargetApp {
                deploy: deploy("envoy", "envoy", &[("oci-image", "reg/envoy:new")]),
                kind: CharmKind::Sidecar,
            },
        ];
        let plan = build(&UpgradeInput {
            model: "kubeflow",
            juju: Version::new(3, 4, 5),
            config_dir: &PathBuf::from("/s/cfg"),
            running: &[
                running("mlmd", "mlmd", CharmKind::PodSpec),
                running("envoy", "envoy", CharmKind::Sidecar),
            ],
            target: &target,
            istio_hops: &[],
            relations: &[["mlmd:grpc".into(), "envoy:grpc".into()]],
            relations_added: &[],
            redeploy: &["mlmd".into()],
        });
        let lines: Vec<String> = plan.plan.steps.iter().map(argv).collect();
        let at = |needle: &str| {
            lines
                .iter()
                .position(|l| l.starts_with(needle))
                .unwrap_or_else(|| panic!("{needle} not in {lines:#?}"))
        };
        let removed = at("remove-application mlmd --destroy-storage --model kubeflow");
        let gone = at("wait --for=delete statefulset/mlmd -n kubeflow");
        let deployed = at("deploy /w/new/mlmd.charm mlmd");
        let related = at("integrate mlmd:grpc envoy:grpc");
        assert!(
            removed < gone && gone < deployed && deployed < related,
            "{lines:#?}"
        );
        assert!(!lines.iter().any(|l| l.starts_with("refresh mlmd")));
        assert!(lines.iter().any(|l| l.starts_with("refresh envoy")));
        assert_eq!(plan.removals, ["mlmd"], "the removal asks for consent");
        assert!(!plan.way_back.contains_key("mlmd"));
        assert!(plan.way_back.contains_key("envoy"));
        assert!(
            plan.plan
                .warnings
                .iter()
                .any(|w| w.starts_with("mlmd is removed with its storage and deployed again")),
            "{:?}",
            plan.plan.warnings
        );
        assert!(
            !plan.plan.warnings.iter().any(|w| w.contains("has no mlmd")),
            "the target keeps mlmd: {:?}",
            plan.plan.warnings
        );
    }

    #[test]
    fn an_application_read_from_the_model_is_refreshed_but_has_no_way_back() {
        let inferred = RunningApp {
            charm_file: PathBuf::new(),
            resources: vec![],
            config: vec![],
            ..running("minio", "minio", CharmKind::Sidecar)
        };
        let target = vec![TargetApp {
            deploy: deploy("minio", "minio", &[("oci-image", "reg/minio:new")]),
            kind: CharmKind::Sidecar,
        }];
        let plan = build(&UpgradeInput {
            model: "kubeflow",
            juju: Version::new(3, 6, 4),
            config_dir: &PathBuf::from("/s/cfg"),
            running: &[inferred],
            target: &target,
            istio_hops: &[],
            relations: &[],
            relations_added: &[],
            redeploy: &[],
        });
        assert!(
            plan.plan
                .steps
                .iter()
                .any(|a| argv(a).starts_with("refresh minio --path /w/new/minio.charm")),
            "{:#?}",
            plan.plan.steps
        );
        assert!(plan.way_back.is_empty());
        assert!(
            plan.plan
                .warnings
                .iter()
                .any(|w| w.starts_with("no way back for minio (read from the model")),
            "{:?}",
            plan.plan.warnings
        );
    }

    #[test]
    fn istio_goes_hop_by_hop_with_the_gateway_gone_and_podspec_apps_go_to_sidecar_at_zero() {
        let dir = PathBuf::from("/s/cfg");
        let running_apps = vec![
            running("istio-pilot", "istio-pilot", CharmKind::Sidecar),
            running("istio-ingressgateway", "istio-gateway", CharmKind::Sidecar),
            running("minio", "minio", CharmKind::PodSpec),
            running("seldon", "seldon-core", CharmKind::Sidecar),
        ];
        let target = vec![
            TargetApp {
                deploy: deploy("istio-ingressgateway", "istio-gateway", &[]),
                kind: CharmKind::Sidecar,
            },
            TargetApp {
                deploy: deploy("istio-pilot", "istio-pilot", &[]),
                kind: CharmKind::Sidecar,
            },
            TargetApp {
                deploy: deploy("minio", "minio", &[("oci-image", "reg/minio:new")]),
                kind: CharmKind::Sidecar,
            },
            TargetApp {
                deploy: deploy("kfp-api", "kfp-api", &[("oci-image", "reg/api:new")]),
                kind: CharmKind::Sidecar,
            },
        ];
        let hops: Vec<IstioHop> = ["1.25", "1.26", "1.27"]
            .iter()
            .map(|t| IstioHop {
                track: t.to_string(),
                charm: PathBuf::from(format!("/w/hops/istio-pilot-{t}.charm")),
                config: vec![(
                    "image-configuration".into(),
                    ConfigValue::Text(format!("global-hub: reg/istio\nglobal-tag: {t}.0\n")),
                )],
            })
            .collect();
        let plan = build(&UpgradeInput {
            model: "kubeflow",
            juju: Version::new(3, 6, 4),
            config_dir: &dir,
            running: &running_apps,
            target: &target,
            istio_hops: &hops,
            relations: &[["kfp-api:db".into(), "minio:x".into()]],
            relations_added: &[["minio:y".into(), "istio-pilot:y".into()]],
            redeploy: &[],
        });
        let lines: Vec<String> = plan.plan.steps.iter().map(argv).collect();
        let at = |needle: &str| {
            lines
                .iter()
                .position(|l| l.starts_with(needle))
                .unwrap_or_else(|| panic!("{needle} not in {lines:#?}"))
        };
        assert!(
            at("scale-application istio-ingressgateway 0")
                < at("wait --for=delete deploy/istio-ingressgateway-workload")
        );
        let hop_1 = at("refresh istio-pilot --path /w/hops/istio-pilot-1.25.charm");
        let hop_3 = at("refresh istio-pilot --path /w/hops/istio-pilot-1.27.charm");
        let target_pilot = at("refresh istio-pilot --path /w/new/istio-pilot.charm");
        assert!(at("wait --for=delete") < hop_1 && hop_1 < hop_3 && hop_3 < target_pilot);
        assert!(
            lines[hop_1 + 1].starts_with("wait-for application istio-pilot"),
            "{lines:#?}"
        );
        assert!(target_pilot < at("refresh istio-ingressgateway"));
        assert!(
            at("refresh istio-ingressgateway") < at("scale-application istio-ingressgateway 1")
        );
        let hop_file = &plan.plan.steps[hop_1].file.as_ref().unwrap().contents;
        assert!(hop_file.contains("global-tag: 1.25.0"), "{hop_file}");
        // PodSpec to sidecar: 0 units, refresh with every resource, back to its scale.
        let minio = at("refresh minio");
        assert_eq!(
            lines[minio - 1],
            "scale-application minio 0 --model kubeflow"
        );
        assert!(
            lines[minio].contains("--resource oci-image=reg/minio:new"),
            "{}",
            lines[minio]
        );
        assert_eq!(
            lines[minio + 1],
            "scale-application minio 1 --model kubeflow"
        );
        // A new application is deployed and related; a dropped one is listed for removal.
        assert!(at("deploy /w/new/kfp-api.charm kfp-api") < at("integrate kfp-api:db minio:x"));
        assert_eq!(plan.removals, ["seldon"]);
        assert!(
            lines
                .last()
                .unwrap()
                .starts_with("remove-application seldon")
        );
        assert!(plan.plan.warnings.iter().any(|w| w.contains("seldon")));
        assert!(at("integrate minio:y istio-pilot:y") > at("refresh minio"));
        // Every id is unique: the ledger resumes by them.
        let mut ids: Vec<&str> = plan.plan.steps.iter().map(|s| s.id.as_str()).collect();
        let n = ids.len();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), n);
        // The way back: the old charm with its old images and options, at 0 units for minio.
        assert!(
            plan.way_back["minio"]
                .iter()
                .all(|a| a.id.starts_with(WAY_BACK_PREFIX))
        );
        assert_eq!(
            plan.plan
                .steps
                .iter()
                .filter(|a| action_application(a) == Some("istio-ingressgateway"))
                .count(),
            5,
            "scale 0, gone, refresh, scale back, settle"
        );
        let back: Vec<String> = plan.way_back["minio"].iter().map(argv).collect();
        assert_eq!(back[0], "scale-application minio 0 --model kubeflow");
        assert!(back[1].starts_with("refresh minio --path /w/old/minio.charm --resource oci-image=reg/minio:old --config /s/cfg/minio-way-back.yaml --trust"), "{back:#?}");
        assert_eq!(back[2], "scale-application minio 1 --model kubeflow");
        assert!(
            !plan.way_back.contains_key("kfp-api"),
            "a new application has no way back"
        );
        assert!(!plan.way_back.contains_key("istio-pilot"));
        assert!(
            plan.plan
                .warnings
                .iter()
                .any(|w| w.starts_with("istio-pilot has no way back"))
        );
    }
}
