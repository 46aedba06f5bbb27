//! The stateful fake Juju (`tests/fakes/fake_juju_model.py`) that the upgrade's tests run
//! against: each of the refusals real Juju makes is provoked here by a deliberately wrong
//! command, with Juju's own message, and a refresh moves the application through maintenance
//! to active over the status calls, with its charm, resources and config changed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

use ckf_airgap::synth::charm_zip_from_dir;
use serde_json::{Value, json};

use crate::cluster_support::Fakes;
use crate::support::text;

struct Model {
    fakes: Fakes,
    state: PathBuf,
    dir: tempfile::TempDir,
}

impl Model {
    fn new() -> Model {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("model.json");
        std::fs::write(
            &state,
            json!({"name": "kubeflow", "settle_after": 2, "applications": {}}).to_string(),
        )
        .unwrap();
        let fakes = Fakes::all();
        fakes.set_scenario(&json!({"rules": [], "juju_model": state}));
        Model { fakes, state, dir }
    }

    /// `juju <args>`: the exit code, standard output and standard error.
    fn juju(&self, args: &[&str]) -> (i32, String, String) {
        let out = Command::new(self.fakes.bin.join("juju"))
            .args(args)
            .envs(self.fakes.env())
            .output()
            .unwrap();
        (
            out.status.code().unwrap(),
            text(&out.stdout),
            text(&out.stderr),
        )
    }

    fn ok(&self, args: &[&str]) -> String {
        let (code, out, err) = self.juju(args);
        assert_eq!(code, 0, "juju {args:?}: {err}");
        out
    }

    fn status(&self) -> Value {
        serde_json::from_str(&self.ok(&["status", "--format=json"])).unwrap()
    }

    fn app(&self, name: &str) -> Value {
        let model: Value = serde_json::from_slice(&std::fs::read(&self.state).unwrap()).unwrap();
        model["applications"][name].clone()
    }

    /// A `.charm` file: `metadata.yaml` as given and, for istio-pilot, its Istio version in
    /// the `image-configuration` default.
    fn charm(&self, file: &str, metadata: &str, istio: Option<&str>) -> String {
        let folder = self.dir.path().join(file.trim_end_matches(".charm"));
        std::fs::create_dir_all(&folder).unwrap();
        std::fs::write(folder.join("metadata.yaml"), metadata).unwrap();
        if let Some(tag) = istio {
            std::fs::write(
                folder.join("config.yaml"),
                format!("options:\n  image-configuration:\n    default: |\n      global-tag: '{tag}'  # values.global.tag\n      global-hub: 'docker.io/istio'\n    type: string\n"),
            )
            .unwrap();
        }
        let (_, bytes) = charm_zip_from_dir(&folder, 1, "22.04").unwrap();
        let path = self.dir.path().join(file);
        std::fs::write(&path, bytes).unwrap();
        path.display().to_string()
    }
}

const SIDECAR_V1: &str = "name: kfp-api\ncontainers:\n  ml-pipeline-api-server:\n    resource: oci-image\nresources:\n  oci-image:\n    type: oci-image\n    upstream-source: charmedkubeflow/api-server:2.5.0\n";
const SIDECAR_V2: &str = "name: kfp-api\ncontainers:\n  ml-pipeline-api-server:\n    resource: oci-image\nresources:\n  oci-image:\n    type: oci-image\n    upstream-source: charmedkubeflow/api-server:2.15.0\n  launcher-image:\n    type: oci-image\n    upstream-source: charmedkubeflow/launcher:2.15.0\n";

/// Settles every application (the fake's `settle_after` status calls).
fn settled(m: &Model) -> Value {
    let mut status = m.status();
    for _ in 0..5 {
        if status["applications"]
            .as_object()
            .unwrap()
            .values()
            .all(|a| a["application-status"]["current"] != "maintenance")
        {
            break;
        }
        status = m.status();
    }
    status
}

#[test]
fn a_local_charm_refreshed_without_path_is_refused_with_jujus_message() {
    let m = Model::new();
    let v1 = m.charm("kfp-api_r1.charm", SIDECAR_V1, None);
    m.ok(&[
        "deploy",
        &v1,
        "kfp-api",
        "--resource",
        "oci-image=reg/api:2.5.0",
        "--model",
        "kubeflow",
    ]);
    let (code, _, err) = m.juju(&["refresh", "kfp-api", "--channel", "2.15/stable"]);
    assert_eq!(code, 1);
    assert_eq!(
        err,
        "ERROR upgrading a local charm requires either --path or --switch\n"
    );
    assert_eq!(m.app("kfp-api")["revision"], 0, "nothing changed");
}

#[test]
fn a_new_resource_not_named_is_refused_and_an_old_one_not_named_stays_pinned() {
    let m = Model::new();
    let v1 = m.charm("kfp-api_r1.charm", SIDECAR_V1, None);
    let v2 = m.charm("kfp-api_r2.charm", SIDECAR_V2, None);
    m.ok(&[
        "deploy",
        &v1,
        "kfp-api",
        "--resource",
        "oci-image=reg/api:2.5.0",
    ]);
    let (code, _, err) = m.juju(&["refresh", "kfp-api", "--path", &v2]);
    assert_eq!(code, 1);
    assert_eq!(
        err,
        "ERROR new resource \"launcher-image\" was missing, please provide it via --resource\n"
    );
    m.ok(&[
        "refresh",
        "kfp-api",
        "--path",
        &v2,
        "--resource",
        "launcher-image=reg/launcher:2.15.0",
    ]);
    let app = m.app("kfp-api");
    // The image of the resource not named is the old one: what an upgrade must not leave.
    assert_eq!(app["resources"]["oci-image"], "reg/api:2.5.0");
    assert_eq!(app["resources"]["launcher-image"], "reg/launcher:2.15.0");
    assert_eq!(app["revision"], 1);
}

#[test]
fn a_podspec_charm_goes_to_sidecar_only_when_scaled_to_zero() {
    let m = Model::new();
    let podspec = m.charm(
        "minio_r1.charm",
        "name: minio\nresources:\n  oci-image:\n    type: oci-image\n    upstream-source: minio/minio:1\n",
        None,
    );
    let sidecar = m.charm(
        "minio_r2.charm",
        "name: minio\ncontainers:\n  minio:\n    resource: oci-image\nresources:\n  oci-image:\n    type: oci-image\n    upstream-source: minio/minio:2\n",
        None,
    );
    m.ok(&[
        "deploy",
        &podspec,
        "minio",
        "--resource",
        "oci-image=reg/minio:1",
    ]);
    let (code, _, err) = m.juju(&[
        "refresh",
        "minio",
        "--path",
        &sidecar,
        "--resource",
        "oci-image=reg/minio:2",
    ]);
    assert_eq!(code, 1);
    assert_eq!(
        err,
        "ERROR Upgrading from an older PodSpec style charm to a newer Sidecar charm requires that the application be scaled down to 0 units.\n"
    );
    m.ok(&["scale-application", "minio", "0"]);
    m.ok(&[
        "refresh",
        "minio",
        "--path",
        &sidecar,
        "--resource",
        "oci-image=reg/minio:2",
    ]);
    m.ok(&["scale-application", "minio", "1"]);
    let status = settled(&m);
    assert_eq!(
        status["applications"]["minio"]["application-status"]["current"],
        "active"
    );
    assert_eq!(m.app("minio")["kind"], "sidecar");
}

#[test]
fn istio_pilot_jumping_two_minor_versions_fails_its_hook_and_one_at_a_time_settles() {
    let m = Model::new();
    let meta = "name: istio-pilot\ncontainers:\n  discovery:\n    resource: none\n";
    let v124 = m.charm("istio-pilot_r1.charm", meta, Some("1.24.2"));
    let v125 = m.charm("istio-pilot_r2.charm", meta, Some("1.25.5"));
    let v126 = m.charm("istio-pilot_r3.charm", meta, Some("1.26.8"));
    m.ok(&["deploy", &v124, "istio-pilot", "--trust"]);
    settled(&m);
    m.ok(&["refresh", "istio-pilot", "--path", &v126, "--trust"]);
    let status = m.status();
    let app = &status["applications"]["istio-pilot"];
    assert_eq!(app["application-status"]["current"], "error", "{app}");
    assert_eq!(
        app["units"]["istio-pilot/0"]["workload-status"]["message"],
        "hook failed: \"upgrade-charm\""
    );

    // One minor version at a time, each settling before the next.
    let m = Model::new();
    let v124 = m.charm("istio-pilot_r1.charm", meta, Some("1.24.2"));
    m.ok(&["deploy", &v124, "istio-pilot", "--trust"]);
    settled(&m);
    for (path, version) in [(&v125, "1.25.5"), (&v126, "1.26.8")] {
        m.ok(&["refresh", "istio-pilot", "--path", path, "--trust"]);
        // The option set at refresh is what the hook reads (here equal to the default).
        let first = m.status();
        assert_eq!(
            first["applications"]["istio-pilot"]["application-status"]["current"],
            "maintenance"
        );
        let status = settled(&m);
        assert_eq!(
            status["applications"]["istio-pilot"]["application-status"]["current"],
            "active"
        );
        assert_eq!(m.app("istio-pilot")["istio"], version);
    }
}

#[test]
fn the_way_back_restores_the_previous_charm_resources_and_config() {
    let m = Model::new();
    let v1 = m.charm("kfp-api_r1.charm", SIDECAR_V1, None);
    let v2 = m.charm("kfp-api_r2.charm", SIDECAR_V2, None);
    let config = |name: &str, value: &str| -> String {
        let path = m.dir.path().join(name);
        std::fs::write(
            &path,
            format!("kfp-api:\n  launcher-image: \"{value}\"\n  replicas: 2\n"),
        )
        .unwrap();
        path.display().to_string()
    };
    let old = config("old.yaml", "reg/launcher:2.5.0");
    let new = config("new.yaml", "reg/launcher:2.15.0");
    m.ok(&[
        "deploy",
        &v1,
        "kfp-api",
        "--resource",
        "oci-image=reg/api:2.5.0",
        "--config",
        &old,
    ]);
    m.ok(&[
        "refresh",
        "kfp-api",
        "--path",
        &v2,
        "--resource",
        "oci-image=reg/api:2.15.0",
        "--resource",
        "launcher-image=reg/launcher:2.15.0",
        "--config",
        &new,
    ]);
    assert_eq!(
        m.app("kfp-api")["config"]["launcher-image"],
        "reg/launcher:2.15.0"
    );
    m.ok(&[
        "refresh",
        "kfp-api",
        "--path",
        &v1,
        "--resource",
        "oci-image=reg/api:2.5.0",
        "--config",
        &old,
    ]);
    let app = m.app("kfp-api");
    assert_eq!(
        app["charm_path"].as_str().map(Path::new),
        Some(Path::new(&v1))
    );
    assert_eq!(app["resources"], json!({"oci-image": "reg/api:2.5.0"}));
    assert_eq!(
        app["config"],
        json!({"launcher-image": "reg/launcher:2.5.0", "replicas": 2})
    );
    let config: Value =
        serde_json::from_str(&m.ok(&["config", "kfp-api", "--format=json"])).unwrap();
    assert_eq!(config["settings"]["replicas"]["value"], 2);
}

/// Runs each action of `actions` against the fake as the plan writes it (its file first);
/// stops at the first that fails, returning its stderr.
fn run_actions(m: &Model, actions: &[ckf_airgap::cluster::plan::PlanAction]) -> Result<(), String> {
    for action in actions {
        if let Some(f) = &action.file {
            std::fs::create_dir_all(f.path.parent().unwrap()).unwrap();
            std::fs::write(&f.path, &f.contents).unwrap();
        }
        let out = Command::new(m.fakes.bin.join(action.cmd.tool.name()))
            .args(action.cmd.shown_args())
            .envs(m.fakes.env())
            .output()
            .unwrap();
        if !out.status.success() {
            return Err(format!("{}: {}", action.id, text(&out.stderr)));
        }
    }
    Ok(())
}

/// The upgrade plan, run against the stateful fake from a model as an install left it, hits
/// none of Juju's refusals and ends with every application on its new charm, every resource
/// of the new charms set and istio-pilot on the target's Istio; each application's way back
/// then restores its previous charm, images and options.
#[test]
fn the_upgrade_plan_hits_no_refusal_and_its_way_back_restores_each_application() {
    use ckf_airgap::charm_kind::CharmKind;
    use ckf_airgap::cluster::plan::AppDeploy;
    use ckf_airgap::cluster::upgrade_plan::{IstioHop, RunningApp, TargetApp, UpgradeInput, build};
    use ckf_airgap::cluster::yaml_out::ConfigValue;
    let m = Model::new();
    let pilot_meta = "name: istio-pilot\ncontainers:\n  discovery:\n    resource: none\n";
    let gateway_meta = "name: istio-gateway\ncontainers:\n  gw:\n    resource: none\n";
    let minio_podspec = "name: minio\nresources:\n  oci-image:\n    type: oci-image\n";
    let minio_sidecar = "name: minio\ncontainers:\n  minio:\n    resource: oci-image\nresources:\n  oci-image:\n    type: oci-image\n";
    let old = [
        (
            "istio-pilot",
            m.charm("istio-pilot_r1.charm", pilot_meta, Some("1.24.2")),
            vec![],
        ),
        (
            "istio-ingressgateway",
            m.charm("istio-gateway_r1.charm", gateway_meta, None),
            vec![],
        ),
        (
            "minio",
            m.charm("minio_r1.charm", minio_podspec, None),
            vec![("oci-image", "reg/minio:1.9")],
        ),
        (
            "kfp-api",
            m.charm("kfp-api_r1.charm", SIDECAR_V1, None),
            vec![("oci-image", "reg/api:2.5.0")],
        ),
    ];
    let mut running = Vec::new();
    for (app, charm, resources) in &old {
        let mut args = vec![
            "deploy".to_string(),
            charm.clone(),
            app.to_string(),
            "--trust".into(),
        ];
        for (k, v) in resources {
            args.extend(["--resource".into(), format!("{k}={v}")]);
        }
        m.ok(&args.iter().map(String::as_str).collect::<Vec<_>>());
        running.push(RunningApp {
            application: app.to_string(),
            charm_name: m.app(app)["charm"].as_str().unwrap().to_owned(),
            charm_file: PathBuf::from(charm),
            resources: resources
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            config: vec![],
            trust: true,
            scale: 1,
            kind: Some(if *app == "minio" {
                CharmKind::PodSpec
            } else {
                CharmKind::Sidecar
            }),
        });
    }
    settled(&m);
    let new = |app: &str,
               charm: String,
               name: &str,
               resources: &[(&str, &str)],
               config: Vec<(String, ConfigValue)>| TargetApp {
        deploy: AppDeploy {
            application: app.into(),
            charm_name: name.into(),
            channel: None,
            charm: PathBuf::from(charm),
            resources: resources
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            config,
            trust: true,
            constraints: None,
            scale: None,
            base: None,
        },
        kind: CharmKind::Sidecar,
    };
    let image_configuration = |tag: &str| {
        vec![(
            "image-configuration".to_string(),
            ConfigValue::Text(format!("global-hub: 'reg/istio'\nglobal-tag: '{tag}'\n")),
        )]
    };
    let target = vec![
        new(
            "istio-pilot",
            m.charm("istio-pilot_r9.charm", pilot_meta, Some("1.28.0")),
            "istio-pilot",
            &[],
            image_configuration("1.28.0"),
        ),
        new(
            "istio-ingressgateway",
            m.charm("istio-gateway_r9.charm", gateway_meta, None),
            "istio-gateway",
            &[],
            vec![],
        ),
        new(
            "minio",
            m.charm("minio_r9.charm", minio_sidecar, None),
            "minio",
            &[("oci-image", "reg/minio:1.10")],
            vec![],
        ),
        new(
            "kfp-api",
            m.charm("kfp-api_r9.charm", SIDECAR_V2, None),
            "kfp-api",
            &[
                ("oci-image", "reg/api:2.15.0"),
                ("launcher-image", "reg/launcher:2.15.0"),
            ],
            vec![],
        ),
    ];
    let hops: Vec<IstioHop> = [
        ("1.25", "1.25.5", 5),
        ("1.26", "1.26.8", 6),
        ("1.27", "1.27.5", 7),
    ]
    .iter()
    .map(|(track, tag, rev)| IstioHop {
        track: track.to_string(),
        charm: PathBuf::from(m.charm(&format!("istio-pilot_r{rev}.charm"), pilot_meta, Some(tag))),
        config: image_configuration(tag),
    })
    .collect();
    let config_dir = m.dir.path().join("upgrade-config");
    let plan = build(&UpgradeInput {
        model: "kubeflow",
        juju: ckf_airgap::version::Version::new(3, 6, 4),
        config_dir: &config_dir,
        running: &running,
        target: &target,
        istio_hops: &hops,
        relations: &[],
        relations_added: &[],
        redeploy: &[],
    });
    run_actions(&m, &plan.plan.steps).unwrap();
    for t in &target {
        let app = m.app(&t.deploy.application);
        assert_eq!(
            app["charm_path"].as_str().map(PathBuf::from),
            Some(t.deploy.charm.clone()),
            "{app}"
        );
        for (k, v) in &t.deploy.resources {
            assert_eq!(app["resources"][k], v.as_str(), "{app}");
        }
        assert_eq!(app["status"], "active", "{app}");
    }
    assert_eq!(m.app("istio-pilot")["istio"], "1.28.0");
    assert_eq!(m.app("minio")["kind"], "sidecar");
    assert_eq!(m.app("istio-ingressgateway")["scale"], 1);

    // Without its hops the same plan fails at istio-pilot's settle, as the charm's hook does.
    let m2 = Model::new();
    std::fs::copy(&m.state, &m2.state).unwrap();
    let mut model: Value = serde_json::from_slice(&std::fs::read(&m2.state).unwrap()).unwrap();
    model["applications"]["istio-pilot"]["istio"] = json!("1.24.2");
    std::fs::write(&m2.state, model.to_string()).unwrap();
    let no_hops = build(&UpgradeInput {
        model: "kubeflow",
        juju: ckf_airgap::version::Version::new(3, 6, 4),
        config_dir: &config_dir,
        running: &running,
        target: &target,
        istio_hops: &[],
        relations: &[],
        relations_added: &[],
        redeploy: &[],
    });
    let err = run_actions(&m2, &no_hops.plan.steps).unwrap_err();
    assert!(err.starts_with("settle:istio-pilot"), "{err}");
    assert!(err.contains("hook failed"), "{err}");

    // Each way back restores what ran before (istio-pilot has none: its charm does not
    // downgrade).
    assert!(!plan.way_back.contains_key("istio-pilot"));
    for r in running.iter().filter(|r| r.application != "istio-pilot") {
        run_actions(&m, &plan.way_back[&r.application]).unwrap();
        let app = m.app(&r.application);
        assert_eq!(
            app["charm_path"].as_str().map(PathBuf::from),
            Some(r.charm_file.clone()),
            "{app}"
        );
        for (k, v) in &r.resources {
            assert_eq!(app["resources"][k], v.as_str(), "{app}");
        }
    }
    assert_eq!(m.app("minio")["kind"], "podspec");
}
