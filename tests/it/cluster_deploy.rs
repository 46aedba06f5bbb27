//! The whole CKF 1.7 deploy (real bundle and PodSpec plan from tests/fixtures/bundles) against the fake
//! juju: the exact argv sequence, the katib-controller config file byte for byte, a failure in
//! the middle and a resume from a ledger reloaded from disk, and skipping what already exists.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::cluster_support::{Fakes, answer_file, manifest_dir, scenario};
use ckf_airgap::bundle::podspec::SeparatelyDeployed;
use ckf_airgap::cluster::Version;
use ckf_airgap::cluster::deploy::{self, ActionOutcome, CommandLedger, DeployError, ImageLookup};
use ckf_airgap::cluster::diagnose::KnownFailure;
use ckf_airgap::cluster::plan::{ActionKind, DeployPlan, PlanError, PlanInput};
use saphyr::{LoadableYamlNode, Yaml};
use serde_json::json;

const PLACEHOLDER: &str = "172.17.0.2:5000";
const PUSHED: &str = "registry.dc.example:5000/ckf";
const S: &str = "juju status --model kubeflow --format=json";

fn shared(name: &str) -> PathBuf {
    manifest_dir().join("tests/fixtures/bundles").join(name)
}

/// A ledger persisted as a JSON file, as the engine's would be.
struct FileLedger {
    path: PathBuf,
    steps: BTreeMap<String, ActionOutcome>,
}

impl FileLedger {
    fn load(path: &Path) -> Self {
        let steps = std::fs::read(path)
            .map(|b| serde_json::from_slice(&b).unwrap())
            .unwrap_or_default();
        Self {
            path: path.to_owned(),
            steps,
        }
    }
}

impl CommandLedger for FileLedger {
    fn is_done(&self, id: &str) -> bool {
        self.steps.get(id).is_some_and(ActionOutcome::finishes)
    }
    fn record(&mut self, id: &str, outcome: &ActionOutcome) -> Result<(), String> {
        self.steps.insert(id.to_owned(), outcome.clone());
        std::fs::write(&self.path, serde_json::to_vec(&self.steps).unwrap())
            .map_err(|e| e.to_string())
    }
}

/// These plans have no bootstrap, so nothing asks; one that did would find no image.
struct NoRegistry;

impl ImageLookup for NoRegistry {
    fn has_image(&self, _: String, _: String) -> futures_util::future::BoxFuture<'static, bool> {
        Box::pin(async { false })
    }
}

struct Setup {
    fakes: Fakes,
    bundle: PathBuf,
    separate: SeparatelyDeployed,
    images: BTreeMap<String, String>,
    charms: BTreeMap<String, PathBuf>,
}

impl Setup {
    fn new() -> Self {
        let fakes = Fakes::all();
        let separate =
            SeparatelyDeployed::load(&shared("ckf-1.7-edge-airgap-podspec-apps.yaml")).unwrap();
        let mut images = BTreeMap::new();
        let charms_dir = fakes.path_in("charms");
        let mut charms = BTreeMap::new();
        for app in &separate.apps {
            let file = app.charm_file.trim_start_matches("./");
            let name = file.rsplit_once('_').unwrap().0;
            charms.insert(name.to_owned(), charms_dir.join(file));
            let values = app
                .resources
                .iter()
                .chain(&app.config)
                .map(|(_, v)| v.as_str());
            for v in values {
                for (i, _) in v.match_indices(PLACEHOLDER) {
                    let r: String = v[i..]
                        .chars()
                        .take_while(|c| !"\"', ]}".contains(*c))
                        .collect();
                    images.insert(r.clone(), r.replace(PLACEHOLDER, PUSHED));
                }
            }
        }
        Self {
            fakes,
            bundle: shared("ckf-1.7-edge-airgap-bundle.yaml"),
            separate,
            images,
            charms,
        }
    }

    fn plan(&self) -> DeployPlan {
        let config_dir = self.fakes.path_in("config");
        DeployPlan::build(&PlanInput {
            bundle_path: &self.bundle,
            separate: &self.separate,
            images: &self.images,
            charms: &self.charms,
            juju: Version::new(2, 9, 44),
            config_dir: &config_dir,
            model: "kubeflow",
        })
        .unwrap()
    }

    fn expected(&self) -> Vec<String> {
        let (b, c, k) = (
            self.bundle.display().to_string(),
            self.fakes.path_in("charms").display().to_string(),
            self.fakes.path_in("config").display().to_string(),
        );
        [
        S,
        "juju deploy {B} --trust --model kubeflow",
        S,
        "juju deploy {C}/admission-webhook_a9c1b1d.charm admission-webhook --resource oci-image=registry.dc.example:5000/ckf/kubeflownotebookswg/poddefaults-webhook:v1.7.0 --model kubeflow",
        S,
        "juju deploy {C}/argo-controller_1b8dd06.charm argo-controller --resource oci-image=registry.dc.example:5000/ckf/argoproj/workflow-controller:v3.3.9 --config {K}/argo-controller-config.yaml --model kubeflow",
        S,
        "juju deploy {C}/argo-server_08faf05.charm argo-server --resource oci-image=registry.dc.example:5000/ckf/argoproj/argocli:v3.3.9 --model kubeflow",
        S,
        "juju deploy {C}/jupyter-controller_a870440.charm jupyter-controller --resource oci-image=registry.dc.example:5000/ckf/kubeflownotebookswg/notebook-controller:v1.7.0 --model kubeflow",
        S,
        "juju deploy {C}/katib-controller_564a127.charm katib-controller --resource oci-image=registry.dc.example:5000/ckf/kubeflowkatib/katib-controller:v0.15.0 --config {K}/katib-controller-config.yaml --model kubeflow",
        S,
        "juju deploy {C}/kfp-persistence_1b2dc2e.charm kfp-persistence --resource oci-image=registry.dc.example:5000/ckf/charmedkubeflow/persistenceagent:2.0.0-alpha.7_22.04_1 --model kubeflow",
        S,
        "juju deploy {C}/kfp-profile-controller_a050a69.charm kfp-profile-controller --resource oci-image=registry.dc.example:5000/ckf/python:3.7 --model kubeflow",
        S,
        "juju deploy {C}/kfp-schedwf_15ed6ef.charm kfp-schedwf --resource oci-image=registry.dc.example:5000/ckf/charmedkubeflow/scheduledworkflow:2.0.0-alpha.7_22.04_1 --model kubeflow",
        S,
        "juju deploy {C}/kfp-ui_f6f6fe4.charm kfp-ui --resource oci-image=registry.dc.example:5000/ckf/ml-pipeline/frontend:2.0.0-alpha.7 --model kubeflow",
        S,
        "juju deploy {C}/kfp-viewer_07fd1d4.charm kfp-viewer --resource oci-image=registry.dc.example:5000/ckf/charmedkubeflow/viewer-crd-controller:2.0.0-alpha.7_22.04_1 --model kubeflow",
        S,
        "juju deploy {C}/kfp-viz_755ec1c.charm kfp-viz --resource oci-image=registry.dc.example:5000/ckf/charmedkubeflow/visualization-server:2.0.0-alpha.7_20.04_1 --model kubeflow",
        S,
        "juju deploy {C}/kubeflow-volumes_641d23c.charm kubeflow-volumes --resource oci-image=registry.dc.example:5000/ckf/kubeflownotebookswg/volumes-web-app:v1.7.0 --model kubeflow",
        S,
        "juju deploy {C}/minio_eede92d.charm minio --resource oci-image=registry.dc.example:5000/ckf/minio/minio:RELEASE.2021-09-03T03-56-13Z --model kubeflow",
        S,
        "juju deploy {C}/oidc-gatekeeper_29d375d.charm oidc-gatekeeper --resource oci-image=registry.dc.example:5000/ckf/arrikto/kubeflow/oidc-authservice:e236439 --model kubeflow",
        S,
        "juju deploy {C}/tensorboard-controller_63d7cbb.charm tensorboard-controller --resource oci-image=registry.dc.example:5000/ckf/kubeflownotebookswg/tensorboard-controller:v1.7.0 --model kubeflow",
        S,
        "juju deploy {C}/tensorboards-web-app_0faec72.charm tensorboards-web-app --resource oci-image=registry.dc.example:5000/ckf/kubeflownotebookswg/tensorboards-web-app:v1.7.0 --model kubeflow",
        S,
        "juju relate argo-controller minio --model kubeflow",
        "juju relate dex-auth:oidc-client oidc-gatekeeper:oidc-client --model kubeflow",
        "juju relate istio-pilot:ingress kfp-ui:ingress --model kubeflow",
        "juju relate istio-pilot:ingress kubeflow-volumes:ingress --model kubeflow",
        "juju relate istio-pilot:ingress oidc-gatekeeper:ingress --model kubeflow",
        "juju relate istio-pilot:ingress-auth oidc-gatekeeper:ingress-auth --model kubeflow",
        "juju relate istio-pilot:ingress tensorboards-web-app:ingress --model kubeflow",
        "juju relate istio-pilot:gateway-info tensorboard-controller:gateway-info --model kubeflow",
        "juju relate kfp-profile-controller:object-storage minio:object-storage --model kubeflow",
        "juju relate kfp-api:object-storage minio:object-storage --model kubeflow",
        "juju relate kfp-ui:object-storage minio:object-storage --model kubeflow",
        "juju relate kfp-api:kfp-api kfp-persistence:kfp-api --model kubeflow",
        "juju relate kfp-api:kfp-api kfp-ui:kfp-api --model kubeflow",
        "juju relate kfp-api:kfp-viz kfp-viz:kfp-viz --model kubeflow",

        ]
        .iter()
        .map(|l| l.replace("{B}", &b).replace("{C}", &c).replace("{K}", &k))
        .collect()
    }

    fn status(&self, file: &str) -> serde_json::Value {
        scenario(vec![answer_file(
            "juju",
            &["status", "--model", "kubeflow", "--format=json"],
            file,
        )])
    }
}

#[tokio::test]
async fn whole_deploy_runs_the_exact_commands_and_writes_the_config_files() {
    let setup = Setup::new();
    setup.fakes.set_scenario(&setup.status("status-empty.json"));
    let plan = setup.plan();
    assert!(plan.warnings.is_empty(), "{:?}", plan.warnings);
    let preview = plan.preview();
    assert!(
        preview.contains("custom_images"),
        "the preview shows file contents"
    );
    let mut ledger = FileLedger::load(&setup.fakes.path_in("ledger.json"));
    let mut events = Vec::new();
    let report = deploy::execute(
        &setup.fakes.runner(),
        &plan,
        &mut ledger,
        &NoRegistry,
        &mut |e| events.push(e),
    )
    .await
    .unwrap();
    assert_eq!(setup.fakes.lines(), setup.expected());
    assert_eq!(report.outcomes.len(), 1 + 16 + 14);
    assert!(
        report
            .outcomes
            .iter()
            .all(|(_, o)| *o == ActionOutcome::Done)
    );

    // katib-controller's custom_images map survives byte for byte, trailing comma included.
    let original = &setup
        .separate
        .apps
        .iter()
        .find(|a| a.application == "katib-controller")
        .unwrap()
        .config[0]
        .1;
    let expected_value = original.replace(PLACEHOLDER, PUSHED);
    assert!(expected_value.ends_with("suggestion-pbt:v0.15.0\", }"));
    let katib = std::fs::read_to_string(setup.fakes.path_in("config/katib-controller-config.yaml"))
        .unwrap();
    assert_eq!(
        katib,
        format!(
            "katib-controller:\n  custom_images: \"{}\"\n",
            expected_value.replace('"', "\\\"")
        )
    );
    assert!(katib.starts_with(r#"katib-controller:
  custom_images: "{\"default_trial_template\": \"registry.dc.example:5000/ckf/kubeflowkatib/mxnet-mnist:v0.15.0\", \"early_stopping__medianstop\": "#));
    let docs = Yaml::load_from_str(&katib).unwrap();
    assert_eq!(
        docs[0]["katib-controller"]["custom_images"].as_str(),
        Some(expected_value.as_str())
    );
    let argo =
        std::fs::read_to_string(setup.fakes.path_in("config/argo-controller-config.yaml")).unwrap();
    assert_eq!(
        argo,
        "argo-controller:\n  executor-image: \"registry.dc.example:5000/ckf/charmedkubeflow/argoexec:v3.3.9_22.04_1\"\n"
    );
}

#[tokio::test]
async fn failure_in_the_middle_then_resume_runs_only_the_rest() {
    let setup = Setup::new();
    let mut failing = setup.status("status-empty.json");
    // The 10th juju call is `juju deploy … jupyter-controller`.
    failing["fail_at"] = json!({"tool": "juju", "call": 10, "exit": 1,
        "stderr": "ERROR cannot add application \"jupyter-controller\": connection is shut down\n"});
    setup.fakes.set_scenario(&failing);
    let ledger_path = setup.fakes.path_in("ledger.json");
    let plan = setup.plan();
    let mut ledger = FileLedger::load(&ledger_path);
    let err = deploy::execute(
        &setup.fakes.runner(),
        &plan,
        &mut ledger,
        &NoRegistry,
        &mut |_| {},
    )
    .await
    .unwrap_err();
    match &err {
        DeployError::StepFailed {
            step_id,
            error,
            known,
        } => {
            assert_eq!(step_id, "deploy:jupyter-controller");
            assert!(error.stderr().contains("connection is shut down"));
            assert!(known.is_empty());
        }
        other => panic!("{other}"),
    }
    let expected = setup.expected();
    assert_eq!(setup.fakes.lines(), expected[..10]);
    drop(ledger);

    // A new process: fresh runner, ledger reloaded from its file, same plan rebuilt.
    let on_disk: BTreeMap<String, ActionOutcome> =
        serde_json::from_slice(&std::fs::read(&ledger_path).unwrap()).unwrap();
    assert_eq!(on_disk.len(), 5);
    assert!(matches!(
        on_disk["deploy:jupyter-controller"],
        ActionOutcome::Failed { code: Some(1), .. }
    ));
    std::fs::remove_file(&setup.fakes.log).unwrap();
    setup.fakes.set_scenario(&setup.status("status-empty.json"));
    let mut ledger = FileLedger::load(&ledger_path);
    let report = deploy::execute(
        &setup.fakes.runner(),
        &setup.plan(),
        &mut ledger,
        &NoRegistry,
        &mut |_| {},
    )
    .await
    .unwrap();
    assert_eq!(setup.fakes.lines(), expected[8..]);
    assert_eq!(report.outcomes[0].0, "deploy:jupyter-controller");
    assert_eq!(report.outcomes.len(), 31 - 4);
}

#[tokio::test]
async fn existing_applications_and_relations_are_not_redeployed() {
    let setup = Setup::new();
    // The bundle's applications, minio, argo-controller and their relation are in the model.
    setup
        .fakes
        .set_scenario(&setup.status("status-partial.json"));
    let plan = setup.plan();
    let mut ledger = FileLedger::load(&setup.fakes.path_in("ledger.json"));
    let report = deploy::execute(
        &setup.fakes.runner(),
        &plan,
        &mut ledger,
        &NoRegistry,
        &mut |_| {},
    )
    .await
    .unwrap();
    let outcome = |id: &str| {
        report
            .outcomes
            .iter()
            .find(|(i, _)| i == id)
            .unwrap()
            .1
            .clone()
    };
    assert_eq!(outcome("deploy-bundle"), ActionOutcome::AlreadyPresent);
    assert_eq!(outcome("deploy:minio"), ActionOutcome::AlreadyPresent);
    assert_eq!(
        outcome("deploy:argo-controller"),
        ActionOutcome::AlreadyPresent
    );
    assert_eq!(
        outcome("relate:argo-controller|minio"),
        ActionOutcome::AlreadyPresent
    );
    assert_eq!(outcome("deploy:katib-controller"), ActionOutcome::Done);
    let lines = setup.fakes.lines();
    let expected: Vec<String> = setup
        .expected()
        .into_iter()
        .filter(|l| {
            !(l.contains("--trust --model") // the bundle
                || l.contains(" argo-controller --resource")
                || l.contains(" minio --resource")
                || l == "juju relate argo-controller minio --model kubeflow")
        })
        .collect();
    // Skipping reads no new status: one status for the bundle, argo and minio checks in a row.
    let dedup = |v: &[String]| {
        let mut out: Vec<String> = Vec::new();
        for l in v {
            if !(l == S && out.last().is_some_and(|p| p == S)) {
                out.push(l.clone());
            }
        }
        out
    };
    assert_eq!(dedup(&lines), dedup(&expected));
    assert!(ledger.is_done("deploy:minio"));
}

#[tokio::test]
async fn missing_trust_is_recognised_and_the_step_can_be_retried_with_trust() {
    let setup = Setup::new();
    let mut s = setup.status("status-empty.json");
    s["rules"].as_array_mut().unwrap().push(json!({"tool": "juju", "args_prefix": ["deploy"],
        "responses": [{"exit": 1, "stderr": "ERROR Bundle cannot be deployed without trusting applications with your cloud credentials.\nPlease repeat the deploy command with the --trust argument if you consent to trust the following application(s):\n  - dex-auth\n"}]}));
    setup.fakes.set_scenario(&s);
    let mut plan = setup.plan();
    let mut ledger = FileLedger::load(&setup.fakes.path_in("ledger.json"));
    let err = deploy::execute(
        &setup.fakes.runner(),
        &plan,
        &mut ledger,
        &NoRegistry,
        &mut |_| {},
    )
    .await
    .unwrap_err();
    let DeployError::StepFailed { known, .. } = err else {
        panic!("{err}")
    };
    assert_eq!(known, [KnownFailure::NeedsTrust]);
    assert!(
        KnownFailure::NeedsTrust
            .advice("kubeflow")
            .contains("--trust")
    );
    assert!(plan.add_trust("deploy:minio"));
    let minio = plan.step("deploy:minio").unwrap().cmd.args().to_vec();
    assert_eq!(
        &minio[minio.len() - 3..],
        ["--trust", "--model", "kubeflow"]
    );

    // The operator skips the failing bundle step with a reason; the run goes on after it.
    ledger
        .record(
            "deploy-bundle",
            &ActionOutcome::Skipped {
                reason: "deployed by hand".into(),
            },
        )
        .unwrap();
    setup.fakes.set_scenario(&setup.status("status-empty.json"));
    std::fs::remove_file(&setup.fakes.log).unwrap();
    deploy::execute(
        &setup.fakes.runner(),
        &plan,
        &mut ledger,
        &NoRegistry,
        &mut |_| {},
    )
    .await
    .unwrap();
    assert_eq!(setup.fakes.lines()[..2], setup.expected()[2..4]);
}

#[test]
fn juju_3_integrates_and_plan_problems_are_reported() {
    let setup = Setup::new();
    let config_dir = setup.fakes.path_in("config");
    let mut separate = setup.separate.clone();
    separate.apps[0].trust = true;
    separate.apps[1].resources[0].1 = "elsewhere.example/unmapped:1".into();
    let input = PlanInput {
        bundle_path: &setup.bundle,
        separate: &separate,
        images: &setup.images,
        charms: &setup.charms,
        juju: Version::new(3, 4, 6),
        config_dir: &config_dir,
        model: "kubeflow",
    };
    let plan = DeployPlan::build(&input).unwrap();
    let relation = plan
        .steps
        .iter()
        .find(|s| matches!(s.kind, ActionKind::Relation { .. }))
        .unwrap();
    assert_eq!(
        relation.cmd.args()[..3],
        ["integrate", "argo-controller", "minio"]
    );
    let first = plan
        .step("deploy:admission-webhook")
        .unwrap()
        .cmd
        .args()
        .to_vec();
    assert_eq!(first[first.len() - 3..], ["--trust", "--model", "kubeflow"]);
    assert_eq!(
        plan.warnings,
        [
            "argo-controller: resource oci-image=elsewhere.example/unmapped:1 has no pushed image in the mapping"
        ]
    );
    let no_charms = BTreeMap::new();
    let err = DeployPlan::build(&PlanInput {
        charms: &no_charms,
        ..input
    })
    .unwrap_err();
    assert!(
        matches!(err, PlanError::MissingCharm { ref application, .. } if application == "admission-webhook"),
        "{err}"
    );
}

/// Finds every image: the registry holds Juju's own.
struct AllThere;

impl ImageLookup for AllThere {
    fn has_image(&self, _: String, _: String) -> futures_util::future::BoxFuture<'static, bool> {
        Box::pin(async { true })
    }
}

#[tokio::test]
async fn the_juju_setup_heads_the_plan_and_bootstraps_only_with_jujus_images() {
    use ckf_airgap::cluster::juju_setup::{self, ClusterLacks, ImageRepo, SetupError};
    let setup = Setup::new();
    let kubeconfig = "apiVersion: v1\nusers:\n- name: admin\n  user:\n    token: c2VjcmV0\n";
    let mut s = setup.status("status-empty.json");
    s["rules"]
        .as_array_mut()
        .unwrap()
        .push(crate::cluster_support::answer(
            "microk8s",
            &["config"],
            kubeconfig,
            "",
            0,
        ));
    setup.fakes.set_scenario(&s);
    let repo =
        ImageRepo::new("registry.dc.example:5000", "ckf").with_credentials("bot", "pw-secret");
    let images = juju_setup::juju_images(&repo, Version::new(2, 9, 44), &[]);
    let mut plan = setup.plan();
    plan.prepend(juju_setup::setup_actions(
        ClusterLacks::Controller,
        "uk8s",
        "ckf",
        "kubeflow",
        &repo,
        images,
    ));
    assert!(!plan.to_json().to_string().contains("pw-secret"));
    assert!(!plan.preview().contains("pw-secret"));
    assert!(
        plan.preview().starts_with(
            " 1. microk8s config | juju add-k8s uk8s --client\n 2. juju bootstrap uk8s ckf"
        ),
        "{}",
        plan.preview()
    );

    // A registry without them: the loop stops before the bootstrap, reading no status.
    let ledger_path = setup.fakes.path_in("ledger.json");
    let mut ledger = FileLedger::load(&ledger_path);
    let err = deploy::execute(
        &setup.fakes.runner(),
        &plan,
        &mut ledger,
        &NoRegistry,
        &mut |_| {},
    )
    .await
    .unwrap_err();
    assert!(
        matches!(&err, DeployError::NotReady { step_id, error: SetupError::MissingImages(m) }
            if step_id == "bootstrap" && m.len() == 2),
        "{err}"
    );
    assert_eq!(
        setup.fakes.lines(),
        ["microk8s config", "juju add-k8s uk8s --client"]
    );
    assert_eq!(
        setup.fakes.calls()[1].stdin.as_deref(),
        Some(kubeconfig),
        "the kubeconfig reaches add-k8s on its standard input"
    );

    // With them, the rest: the bootstrap with the real credentials, the model, then the deploy.
    std::fs::remove_file(&setup.fakes.log).unwrap();
    let mut ledger = FileLedger::load(&ledger_path);
    deploy::execute(
        &setup.fakes.runner(),
        &plan,
        &mut ledger,
        &AllThere,
        &mut |_| {},
    )
    .await
    .unwrap();
    let calls = setup.fakes.calls();
    assert_eq!(calls[0].args[..3], ["bootstrap", "uk8s", "ckf"]);
    assert!(calls[0].args[4].contains(r#""password":"pw-secret""#));
    assert_eq!(calls[1].line(), "juju add-model kubeflow");
    assert_eq!(setup.fakes.lines()[2..], setup.expected());
}

/// The engine may run these on a multi-threaded runtime.
#[test]
fn futures_are_send() {
    fn assert_send<T: Send>(_: &T) {}
    let setup = Setup::new();
    let plan = setup.plan();
    let runner = setup.fakes.runner();
    let mut ledger = FileLedger::load(&setup.fakes.path_in("l.json"));
    let mut on_event = |_| {};
    assert_send(&deploy::execute(
        &runner,
        &plan,
        &mut ledger,
        &NoRegistry,
        &mut on_event,
    ));
    let options = ckf_airgap::cluster::watch::WatchOptions::new("kubeflow");
    let mut on_round = |_: &_| {};
    assert_send(&ckf_airgap::cluster::watch::watch(
        &runner,
        &options,
        &mut on_round,
    ));
    assert_send(&ckf_airgap::cluster::checks::check_dns(&runner));
}
