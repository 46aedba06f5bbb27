//! `ckf-airgap upgrade` end to end on the real CKF 1.10 and 1.11 release bundles and charm
//! files (`tests/fixtures/releases/`): a TLS `docker-registry` plays the upstream (one tiny
//! image under every name the charms and the runtime table name, and under every intermediate
//! istio version), two local Charmhubs serve the two releases' charms, and the real binary
//! gathers 1.10, installs it into a second registry and a stateful fake Juju, gathers 1.11 as
//! an upgrade from the 1.10 lock (the intermediate istio-pilot charms from a folder), then
//! upgrades: a dry run that writes the plan, a run killed in the middle and resumed, a failed
//! application taken back to 1.10, and a base image gone from the registry.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use ckf_airgap::answers::{Answers, BundleAnswers, DeployAnswers, RegistryAnswers};
use ckf_airgap::synth::charm_zip_from_dir;
use ckf_airgap::wizard::state::{GatherChoice, UpgradeChoice};
use serde_json::{Value, json};

use crate::cluster_support::{Fakes, answer, answer_file};
use crate::gather_flow::{FakeCharmhub, docker_config, docker_env, istio_pilot, write_gather};
use crate::registry_support::client_for;
use crate::registry_support::images::{Kind, bytes, image, layer};
use crate::registry_support::registry::{PASS, TestRegistry, USER};
use crate::release_bundles::{bundle_apps, expected_images, release_dir};
use crate::support::answers::{self, skip};
use crate::support::{BIN, run_headless, text};

/// The Juju both releases run on (1.10 supports 3.6; 1.11 requires it).
const JUJU: &str = "3.6.4";
const PASSWORD_ENV: &str = "CKF_TEST_UPGRADE_PASSWORD";
const PUBLIC: [&str; 6] = [
    "docker.io",
    "ghcr.io",
    "gcr.io",
    "nvcr.io",
    "quay.io",
    "registry.k8s.io",
];
/// The Istio versions between 1.10's istio-pilot (1.24) and 1.11's (1.28), as the hop charms
/// install them.
const HOPS: [&str; 3] = ["1.25.5", "1.26.8", "1.27.5"];

/// One release's charm files (one per charm name) and every image its charms and its runtime
/// table name upstream, read by this test from the charm folders.
struct Release {
    bundle: PathBuf,
    charms: Vec<(String, Vec<u8>)>,
    wanted: BTreeSet<String>,
    /// Application → its charm folder.
    apps: BTreeMap<String, PathBuf>,
}

/// `revision`: the Charmhub revision of a charm folder (same folder, same file).
fn release(version: &str, dir: &Path, revision: impl Fn(&str) -> u64) -> Release {
    let rel = release_dir(version);
    let text = std::fs::read_to_string(rel.join("bundle.yaml")).unwrap();
    let bundle = dir.join(format!("bundle-{version}.yaml"));
    std::fs::write(&bundle, &text).unwrap();
    let parsed = ckf_airgap::ckf_release::CkfRelease::parse(version).unwrap();
    let mut charms: Vec<(String, Vec<u8>)> = Vec::new();
    let mut wanted = BTreeSet::new();
    let mut apps = BTreeMap::new();
    for (app, charm, _) in bundle_apps(&text) {
        let folder = rel.join("charms").join(&charm);
        apps.insert(app, folder.clone());
        if charms
            .iter()
            .any(|(f, _)| f.starts_with(&format!("{charm}_r")))
        {
            continue;
        }
        wanted.extend(expected_images(&folder));
        for runtime in ckf_airgap::release::runtime_images::runtime_images(parsed, &charm) {
            wanted.insert(runtime.image);
        }
        charms.push(charm_zip_from_dir(&folder, revision(&charm), "22.04").unwrap());
    }
    Release {
        bundle,
        charms,
        wanted,
        apps,
    }
}

fn same_folder(a: &Path, b: &Path) -> bool {
    Command::new("diff")
        .arg("-rq")
        .arg(a)
        .arg(b)
        .output()
        .unwrap()
        .status
        .success()
}

/// Digest-pinned images: no local registry holds them under their upstream digest, so gather
/// accepts them as missing and the site serves them from a mirror it filled by hand (here: an
/// image pushed into the private registry, named by `[mapping]`).
fn pinned(wanted: &BTreeSet<String>) -> Vec<String> {
    wanted
        .iter()
        .filter(|u| u.contains("@sha256:"))
        .cloned()
        .collect()
}

struct Site {
    dir: tempfile::TempDir,
    upstream: TestRegistry,
    private: TestRegistry,
    fakes: Fakes,
    model: PathBuf,
    docker: PathBuf,
    r10: Release,
    r11: Release,
    hub10: FakeCharmhub,
    hub11: FakeCharmhub,
    /// The intermediate istio-pilot charms, as the operator downloads them by hand.
    hops: PathBuf,
    /// Upstream pinned image → the private registry's image standing in for it.
    overrides: BTreeMap<String, String>,
}

async fn push_one(reg: &TestRegistry, one: ckf_airgap::registry::PushImage) {
    ckf_airgap::registry::Pusher::new(
        client_for(reg),
        ckf_airgap::registry::PushOptions::default(),
        std::sync::Arc::new(ckf_airgap::registry::MemoryLedger::new()),
        crate::registry_support::Recorder::new(),
    )
    .push(std::slice::from_ref(&one))
    .await
    .unwrap();
}

async fn site() -> Site {
    use ckf_airgap::gather::images::pull_source;
    let dir = tempfile::tempdir().unwrap();
    let upstream = TestRegistry::start();
    let private = TestRegistry::start();
    let r10 = release("1.10", dir.path(), |_| 1);
    let r11 = release("1.11", dir.path(), |charm| {
        let old = release_dir("1.10").join("charms").join(charm);
        let new = release_dir("1.11").join("charms").join(charm);
        if old.is_dir() && same_folder(&old, &new) {
            1
        } else {
            2
        }
    });
    let hub = "docker.io/istio";
    let hops = dir.path().join("hop-charms");
    std::fs::create_dir_all(&hops).unwrap();
    let mut hop_images = BTreeSet::new();
    for (i, tag) in HOPS.iter().enumerate() {
        let (_, bytes) = istio_pilot(dir.path(), tag, hub, 30 + i as u64);
        std::fs::write(hops.join(format!("istio-pilot_r{}.charm", 30 + i)), bytes).unwrap();
        hop_images.insert(format!("{hub}/pilot:{tag}"));
        hop_images.insert(format!("{hub}/proxyv2:{tag}"));
    }
    // One tiny image under every tag-named upstream name, one push at a time (they share their
    // blobs, and the upstream here is only a source).
    let scratch = dir.path().join("layers");
    std::fs::create_dir_all(&scratch).unwrap();
    let base = layer(&scratch, "base", &bytes(7, 4096, true), Kind::Plain);
    let bases = ["ubuntu@20.04", "ubuntu@22.04", "ubuntu@24.04"].map(String::from);
    let juju_images = ckf_airgap::gather::images::juju_images(JUJU, &bases);
    let all: BTreeSet<&String> = r10
        .wanted
        .iter()
        .chain(&r11.wanted)
        .chain(&hop_images)
        .chain(&juju_images)
        .collect();
    for name in all.iter().filter(|u| !u.contains("@sha256:")) {
        let src = pull_source(name);
        push_one(
            &upstream,
            image(
                &scratch,
                &src.repository,
                &src.reference,
                vec![base.clone()],
            ),
        )
        .await;
    }
    let mut overrides = BTreeMap::new();
    for (i, name) in pinned(&r10.wanted)
        .into_iter()
        .chain(pinned(&r11.wanted))
        .enumerate()
    {
        let repository = format!("ckf/site-mirror/pinned-{i}");
        push_one(
            &private,
            image(&scratch, &repository, "v1", vec![base.clone()]),
        )
        .await;
        overrides.insert(name, format!("{}/{repository}:v1", private.addr()));
    }
    let model = dir.path().join("model.json");
    std::fs::write(
        &model,
        json!({"name": "kubeflow", "settle_after": 1, "applications": {}}).to_string(),
    )
    .unwrap();
    let fakes = Fakes::all();
    let docker = docker_config(dir.path(), &upstream);
    let hub10 = FakeCharmhub::start(r10.charms.clone());
    let hub11 = FakeCharmhub::start(r11.charms.clone());
    let s = Site {
        dir,
        upstream,
        private,
        fakes,
        model,
        docker,
        r10,
        r11,
        hub10,
        hub11,
        hops,
        overrides,
    };
    s.set_rules(vec![]);
    s
}

impl Site {
    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The cluster's answers (as the install's tests script them) with `extra` first; every
    /// `juju status`, deploy, refresh and wait goes to the stateful model.
    fn set_rules(&self, extra: Vec<Value>) {
        let mut rules = extra;
        rules.push(answer(
            "juju",
            &["version"],
            &format!("{JUJU}-genericlinux-amd64\n"),
            "",
            0,
        ));
        // A cluster 1.11 runs on (the install's scripted answers say 1.24).
        rules.push(answer_file(
            "kubectl",
            &["version", "-o", "json"],
            "kubectl-version-1.32.json",
        ));
        let cluster = crate::e2e_frontends::cluster(&self.private.addr());
        for rule in cluster["rules"].as_array().unwrap() {
            let args = rule.get("args").or(rule.get("args_prefix"));
            let first = args.and_then(|a| a.get(0)).and_then(Value::as_str);
            if rule["tool"] == "juju" && matches!(first, Some("status" | "version")) {
                continue;
            }
            rules.push(rule.clone());
        }
        self.fakes
            .set_scenario(&json!({"rules": rules, "juju_model": self.model}));
    }

    fn mirrors(&self) -> BTreeMap<String, String> {
        PUBLIC
            .iter()
            .map(|r| (r.to_string(), self.upstream.addr()))
            .collect()
    }

    fn gather(&self, name: &str, gather: GatherChoice) -> (i32, String) {
        let answers = self.path(&format!("{name}.toml"));
        write_gather(
            &answers,
            GatherChoice {
                ca_file: Some(self.upstream.ca_file.clone()),
                accept_missing: true,
                mirrors: self.mirrors(),
                juju_version: Some(JUJU.into()),
                ..gather
            },
        );
        run_headless(
            &self.path(&format!("state-{name}")),
            &answers,
            &["gather"],
            &docker_env(&self.docker),
        )
    }

    fn env(&self) -> Vec<(String, String)> {
        self.fakes.env_with(&[(PASSWORD_ENV, PASS)])
    }

    /// Answers for the air-gapped side reading the archives in `carry`.
    fn air_gapped(&self, carry: &Path, bundle: &Path, wanted: &BTreeSet<String>) -> Answers {
        let mut spec = Answers {
            artifacts: Some(answers::artifacts(
                &carry.join("images.tar.gz"),
                &carry.join("charms.tar.gz"),
            )),
            registry: Some(RegistryAnswers {
                ca_file: Some(self.private.ca_file.clone()),
                ..answers::registry_login(
                    format!("{}/ckf", self.private.addr()),
                    USER,
                    PASSWORD_ENV,
                )
            }),
            bundle: Some(BundleAnswers {
                write: true,
                ..answers::bundle(bundle)
            }),
            gateway: Some(answers::node_port()),
            deploy: Some(DeployAnswers {
                run: true,
                watch_minutes: Some(1),
                ..answers::deploy("kubeflow")
            }),
            ..Answers::default()
        };
        for p in pinned(wanted) {
            spec.mapping.insert(p.clone(), self.overrides[&p].clone());
        }
        skip(
            &mut spec,
            "environment-checks",
            "the cluster is not under test here",
        );
        spec
    }

    fn model(&self) -> Value {
        serde_json::from_slice(&std::fs::read(&self.model).unwrap()).unwrap()
    }
}

/// The newest session under `state` (their ids start with the time).
fn session_dir(state: &Path) -> PathBuf {
    std::fs::read_dir(state.join("sessions"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .max()
        .unwrap()
}

fn json_file(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap())
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The `need:` skip ids the Artifacts step named for what the lock accepted as missing.
fn need_skips(out: &str) -> Vec<String> {
    out.lines()
        .filter_map(|l| l.trim().strip_prefix("image "))
        .filter_map(|rest| rest.split_once(" needs "))
        .map(|(need, _)| format!("need:{}", need.replacen(": ", "/", 1)))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect()
}

/// Runs the air-gapped side; when the Artifacts step stops on images the lock accepted as
/// missing (the pinned ones), skips exactly those, with a reason, and runs again.
fn run_with_pinned_skipped(
    s: &Site,
    state: &Path,
    answers_file: &Path,
    spec: &mut Answers,
    args: &[&str],
) -> (i32, String) {
    answers::write(answers_file, spec);
    let (code, out) = run_headless(state, answers_file, args, &s.env());
    let needs = need_skips(&out);
    if code == 0 || needs.is_empty() {
        return (code, out);
    }
    for id in &needs {
        assert!(
            s.overrides.keys().any(|p| out.contains(p.as_str())),
            "only the pinned images are missing: {out}"
        );
        skip(
            spec,
            id,
            "digest-pinned; served by the site mirror ([mapping])",
        );
    }
    answers::write(answers_file, spec);
    run_headless(state, answers_file, args, &s.env())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ckf_1_10_upgrades_to_1_11_resumes_after_a_kill_and_takes_a_failed_application_back() {
    let s = site().await;

    // The connected side, for the install: 1.10 whole.
    let carry10 = s.path("carry-1.10");
    let (code, out) = s.gather(
        "gather-1.10",
        GatherChoice {
            bundle: Some(s.r10.bundle.clone()),
            charmhub_url: Some(s.hub10.url()),
            output_dir: Some(carry10.clone()),
            ..GatherChoice::default()
        },
    );
    assert_eq!(code, 0, "{out}");

    // The install of 1.10 writes what was installed.
    let state10 = s.path("state-install");
    let mut spec10 = s.air_gapped(&carry10, &s.r10.bundle, &s.r10.wanted);
    let (code, out) =
        run_with_pinned_skipped(&s, &state10, &s.path("install.toml"), &mut spec10, &[]);
    assert_eq!(code, 0, "{out}");
    let installed = session_dir(&state10).join("deployed-state.json");
    let record = json_file(&installed);
    assert_eq!(record["ckf_release"], "1.10");
    let model = s.model();
    assert_eq!(
        model["applications"].as_object().unwrap().len(),
        s.r10.apps.len()
    );

    // The connected side, for the upgrade: what 1.10 lacks, and every istio hop.
    let carry11 = s.path("carry-1.11");
    let (code, out) = s.gather(
        "gather-1.11",
        GatherChoice {
            bundle: Some(s.r11.bundle.clone()),
            charmhub_url: Some(s.hub11.url()),
            charms_dir: Some(s.hops.clone()),
            output_dir: Some(carry11.clone()),
            upgrade_from: Some(carry10.join("ckf-release.lock.json")),
            ..GatherChoice::default()
        },
    );
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("3 intermediate charm(s) gathered (1.25, 1.26, 1.27)"),
        "{out}"
    );
    let lock10 = json_file(&carry10.join("ckf-release.lock.json"));
    let lock11 = json_file(&carry11.join("ckf-release.lock.json"));
    let had: BTreeSet<&str> = lock10["images"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["upstream"].as_str().unwrap())
        .collect();
    for image in lock11["images"].as_array().unwrap() {
        let upstream = image["upstream"].as_str().unwrap();
        assert!(!had.contains(upstream), "{upstream} is carried again");
    }

    // The upgrade's dry run: the plan, nothing changed.
    let state_up = s.path("state-upgrade");
    let answers_up = s.path("upgrade.toml");
    let mut spec_up = s.air_gapped(&carry11, &s.r11.bundle, &s.r11.wanted);
    spec_up.deploy.as_mut().unwrap().dry_run = true;
    spec_up.upgrade = Some(UpgradeChoice {
        installed: Some(installed.clone()),
        run: true,
        backups: Some(true),
        ..UpgradeChoice::default()
    });
    let before = s.model();
    let (code, out) =
        run_with_pinned_skipped(&s, &state_up, &answers_up, &mut spec_up, &["upgrade"]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(s.model(), before, "a dry run changes nothing");
    let session_up = session_dir(&state_up);
    let plan = json_file(&session_up.join("upgrade-plan.json"));
    check_plan(&s, &plan, &session_up);

    // Without the record, as for a model something else installed: what runs is read from
    // `juju status` (local charms show no channel, so the release is named), every
    // application is still refreshed by the same plan, and none has a way back.
    let mut spec_inferred = spec_up.clone();
    spec_inferred.upgrade = Some(UpgradeChoice {
        from_model: true,
        installed_release: Some(ckf_airgap::ckf_release::CkfRelease::V1_10),
        run: true,
        backups: Some(true),
        ..UpgradeChoice::default()
    });
    let state_inferred = s.path("state-inferred");
    let (code, out) = run_with_pinned_skipped(
        &s,
        &state_inferred,
        &s.path("upgrade-inferred.toml"),
        &mut spec_inferred,
        &["upgrade"],
    );
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("no record of the install: the kubeflow model is read as it stands, CKF 1.10 (named by [upgrade] installed_release)"),
        "{out}"
    );
    assert_eq!(s.model(), before, "a dry run changes nothing");
    let inferred_plan = json_file(&session_dir(&state_inferred).join("upgrade-plan.json"));
    assert_eq!(
        inferred_plan["way_back"],
        json!({}),
        "no way back without the record"
    );
    assert!(
        inferred_plan["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w.as_str().unwrap().starts_with("no way back for ")),
        "{}",
        inferred_plan["warnings"]
    );
    let refreshed = |p: &Value| -> BTreeSet<String> {
        p["commands"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["argv"][1] == "refresh")
            .map(|c| c["argv"][2].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(refreshed(&inferred_plan), refreshed(&plan));

    // A cluster too old for the target release: refused at the plan, before anything changes.
    s.set_rules(vec![answer_file(
        "kubectl",
        &["version", "-o", "json"],
        "kubectl-version-1.28.json",
    )]);
    let (code, out) = run_with_pinned_skipped(
        &s,
        &s.path("state-old-k8s"),
        &s.path("upgrade-old-k8s.toml"),
        &mut spec_up.clone(),
        &["upgrade"],
    );
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("Kubernetes reachable, version 1.32") && out.contains("server version 1.28.3"),
        "{out}"
    );
    assert!(!out.contains("[upgrade-backups] started"), "{out}");
    assert_eq!(s.model(), before, "nothing changed");
    s.set_rules(vec![]);

    // The model on Juju 3.4 and the target on 3.6: refused until the new controller is named,
    // then planned as a new controller (with Juju's images looked up first), the migration
    // and the agents' upgrade, before every refresh, which then names the migrated model.
    let mut on_34 = json_file(&installed);
    on_34["juju_version"] = json!("3.4.5");
    let installed_34 = s.path("deployed-state-3.4.json");
    std::fs::write(&installed_34, on_34.to_string()).unwrap();
    let mut spec_34 = spec_up.clone();
    spec_34.upgrade.as_mut().unwrap().installed = Some(installed_34);
    let (code, out) = run_with_pinned_skipped(
        &s,
        &s.path("state-34"),
        &s.path("upgrade-34.toml"),
        &mut spec_34,
        &["upgrade"],
    );
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("the model on Juju 3.4.5: Juju moves a model across a minor version only to a new controller")
            && out.contains("[upgrade] new_controller"),
        "{out}"
    );
    spec_34.upgrade.as_mut().unwrap().new_controller = Some("ckf-36".into());
    let (code, out) = run_with_pinned_skipped(
        &s,
        &s.path("state-34"),
        &s.path("upgrade-34.toml"),
        &mut spec_34,
        &["upgrade"],
    );
    assert_eq!(code, 0, "{out}");
    assert_eq!(s.model(), before, "a dry run changes nothing");
    let crossing_plan = json_file(&session_dir(&s.path("state-34")).join("upgrade-plan.json"));
    let lines: Vec<String> = crossing_plan["commands"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            c["argv"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a.as_str().unwrap())
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect();
    assert!(
        lines[0].starts_with("juju bootstrap ckf-k8s ckf-36 --config caas-image-repo="),
        "{lines:#?}"
    );
    assert!(
        !lines[0].contains(PASS),
        "the registry password is never shown"
    );
    assert_eq!(lines[1], "juju migrate kubeflow ckf-36");
    assert!(
        lines[2].starts_with("juju wait-for model kubeflow"),
        "{}",
        lines[2]
    );
    assert_eq!(
        lines[3],
        format!("juju upgrade-model --model ckf-36:kubeflow --agent-version {JUJU}")
    );
    let refreshes: Vec<&String> = lines
        .iter()
        .filter(|l| l.starts_with("juju refresh"))
        .collect();
    assert!(!refreshes.is_empty());
    assert!(
        refreshes
            .iter()
            .all(|l| l.contains("--model ckf-36:kubeflow")),
        "{refreshes:#?}"
    );

    // A base image gone from the registry: the upgrade stops before anything changes, naming
    // it; pushed again, the upgrade goes on.
    let carried = lock11["base"]["images"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i.as_str().unwrap().to_owned())
        .filter(|i| s.r11.wanted.contains(i) && !i.contains("@sha256:"))
        .min()
        .expect("the target needs an image the installed release carried");
    // Canonical's retag rule: the registry host dropped when the name has one.
    let parts: Vec<&str> = carried.split('/').collect();
    let path = if parts.len() <= 2 {
        carried.clone()
    } else {
        parts[1..].join("/")
    };
    let pushed = format!("{}/ckf/{path}", s.private.addr());
    skopeo(&s.private, &["delete"], &[&format!("docker://{pushed}")]);
    let (code, out) = run_with_pinned_skipped(
        &s,
        &s.path("state-gone"),
        &answers_up,
        &mut spec_up,
        &["upgrade"],
    );
    assert_eq!(code, 1, "{out}");
    assert!(out.contains(&pushed), "names the image gone: {out}");
    assert!(
        !out.contains("[upgrade-plan] started"),
        "stops before the plan: {out}"
    );
    assert_eq!(s.model(), before, "nothing changed");
    let src = ckf_airgap::gather::images::pull_source(&carried);
    skopeo_copy(
        &s,
        &format!(
            "docker://{}/{}:{}",
            s.upstream.addr(),
            src.repository,
            src.reference
        ),
        &format!("docker://{pushed}"),
    );

    // The run, killed in the middle of kfp-api's refresh.
    spec_up.deploy.as_mut().unwrap().dry_run = false;
    answers::write(&answers_up, &spec_up);
    s.set_rules(vec![
        json!({"tool": "juju", "args_prefix": ["refresh", "kfp-api"],
        "responses": [{"stdout": "refreshing kfp-api now\n", "hang": true}, {"to_model": true}]}),
    ]);
    run_until_then_kill(&s, &state_up, &answers_up, "refreshing kfp-api now");
    let killed_at = s.fakes.lines().len();
    // Resumed in a new process, it goes on from kfp-api's refresh; kfp-ui fails to settle.
    s.set_rules(vec![
        json!({"tool": "juju", "args_prefix": ["refresh", "kfp-api"],
            "responses": [{"stdout": "refreshing kfp-api now\n", "hang": true}, {"to_model": true}]}),
        json!({"tool": "juju", "args_prefix": ["wait-for", "application", "kfp-ui"],
            "responses": [{"stderr": "ERROR timed out waiting for \"kfp-ui\" to reach goal state\n", "exit": 1},
                          {"to_model": true}]}),
    ]);
    let (code, out) = run_headless(&state_up, &answers_up, &["upgrade"], &s.env());
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("[upgrade] way_back = [\"kfp-ui\"]"),
        "offers the way back: {out}"
    );
    let resumed: Vec<String> = s.fakes.lines()[killed_at..].to_vec();
    let refreshes: Vec<&String> = resumed
        .iter()
        .filter(|l| l.starts_with("juju refresh "))
        .collect();
    assert!(
        refreshes[0].starts_with("juju refresh kfp-api "),
        "resumes at the first unfinished command: {resumed:#?}"
    );
    assert!(
        !resumed
            .iter()
            .any(|l| l.starts_with("juju refresh istio-pilot")
                || l.starts_with("juju refresh katib-ui")),
        "no finished command runs again: {resumed:#?}"
    );

    // Taken back: kfp-ui runs 1.10's charm, images and options again; the rest goes on.
    spec_up.upgrade.as_mut().unwrap().way_back = vec!["kfp-ui".into()];
    answers::write(&answers_up, &spec_up);
    let (code, out) = run_headless(&state_up, &answers_up, &["upgrade"], &s.env());
    assert_eq!(code, 0, "{out}");
    // A finished dry run is not resumed: the run is a session of its own.
    check_upgraded(&s, &record, &session_dir(&state_up));
}

/// The upgrade plan: istio-pilot through every minor version, every refresh from a local file
/// with every resource of the new charm, options recomputed under the private registry, katib
/// on the 1.11 bundle's 0.19, the unchanged charms left alone, a way back per application.
fn check_plan(s: &Site, plan: &Value, session: &Path) {
    let commands = plan["commands"].as_array().unwrap();
    let argv = |c: &Value| -> Vec<String> {
        c["argv"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap().to_owned())
            .collect()
    };
    let istio_tags: Vec<String> = commands
        .iter()
        .filter(|c| argv(c)[1..3] == ["refresh", "istio-pilot"])
        .map(|c| {
            let files = c["files"].to_string();
            let tag = files.split("global-tag: ").nth(1).unwrap_or_default();
            tag.trim_start_matches(['\'', '"', '\\'])
                .split(['\'', '"', '\\'])
                .next()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(istio_tags, ["1.25.5", "1.26.8", "1.27.5", "1.28.0"]);
    let unchanged: BTreeSet<String> = plan["unchanged"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().to_owned())
        .collect();
    let mut refreshed = BTreeSet::new();
    for c in commands {
        let a = argv(c);
        if a[1] != "refresh" {
            continue;
        }
        let app = a[2].clone();
        let path = a
            .windows(2)
            .find(|p| p[0] == "--path")
            .map(|p| p[1].clone());
        let path = path.unwrap_or_else(|| panic!("{app}: no --path: {a:?}"));
        assert!(
            path.starts_with(&session.display().to_string()),
            "{app}: {path}"
        );
        if app == "istio-pilot" && !path.contains("istio-pilot_r2.") {
            continue; // a hop: its own charm, no resource
        }
        refreshed.insert(app.clone());
        let named: BTreeSet<String> = a
            .windows(2)
            .filter(|p| p[0] == "--resource")
            .map(|p| p[1].split_once('=').unwrap().0.to_owned())
            .collect();
        assert_eq!(
            named,
            oci_resources(&s.r11.apps[&app]),
            "{app}: every resource of the new metadata.yaml"
        );
    }
    for (app, folder) in &s.r11.apps {
        let old = release_dir("1.10")
            .join("charms")
            .join(folder.file_name().unwrap());
        let same = same_folder(&old, folder);
        assert_eq!(unchanged.contains(app), same, "{app}");
        assert_eq!(refreshed.contains(app), !same, "{app}");
    }
    let katib = commands
        .iter()
        .find(|c| argv(c)[1..3] == ["refresh", "katib-controller"])
        .unwrap();
    assert!(katib.to_string().contains(":v0.19."), "{katib}");
    assert!(
        plan["warnings"].to_string().contains("0.18/stable"),
        "the guide's katib channel is named where the bundle wins: {}",
        plan["warnings"]
    );
    let way_back = plan["way_back"].as_object().unwrap();
    for app in refreshed.iter().filter(|a| *a != "istio-pilot") {
        assert!(way_back.contains_key(app), "{app} has a way back");
    }
    let text = plan["commands"].to_string() + &plan["way_back"].to_string();
    for public in PUBLIC {
        assert!(
            !text.contains(&format!("{public}/")),
            "{public} in the plan"
        );
    }
}

/// An upgraded model: every changed application on its 1.11 charm (kfp-ui, taken back, on its
/// 1.10 charm with the images and options the install set), istio on 1.28, all active.
fn check_upgraded(s: &Site, record: &Value, session: &Path) {
    let model = s.model();
    let apps = model["applications"].as_object().unwrap();
    assert_eq!(apps.len(), s.r11.apps.len());
    let installed = |name: &str| {
        record["applications"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["application"] == name)
            .unwrap()
            .clone()
    };
    for (name, app) in apps {
        assert_eq!(app["status"], "active", "{name}: {app:#}");
        let was = installed(name);
        let path = app["charm_path"].as_str().unwrap();
        let old = release_dir("1.10")
            .join("charms")
            .join(s.r11.apps[name].file_name().unwrap());
        if name == "kfp-ui" || same_folder(&old, &s.r11.apps[name]) {
            assert_eq!(path, was["charm_file"].as_str().unwrap(), "{name}");
            assert_eq!(app["resources"], was["resources"], "{name}");
        } else {
            assert!(
                path.starts_with(&session.display().to_string()),
                "{name} runs {path}, not a charm of {}",
                session.display()
            );
        }
        let text = app["resources"].to_string() + &app["config"].to_string();
        for public in PUBLIC {
            assert!(!text.contains(&format!("{public}/")), "{name}: {text}");
        }
    }
    for (key, value) in installed("kfp-ui")["config"].as_object().unwrap() {
        assert_eq!(
            apps["kfp-ui"]["config"][key].to_string(),
            value.to_string(),
            "kfp-ui option {key} is back"
        );
    }
    assert_eq!(apps["istio-pilot"]["istio"], "1.28.0");
    // The databases were copied out before the first refresh, each with its digest.
    let backups = json_file(&session.join("upgrade-backups.json"));
    let mut what: Vec<String> = Vec::new();
    for file in backups["files"].as_array().unwrap() {
        use sha2::Digest;
        use std::os::unix::fs::PermissionsExt;
        let path = Path::new(file["path"].as_str().unwrap());
        let bytes = std::fs::read(path).unwrap();
        assert_eq!(file["sha256"], hex::encode(sha2::Sha256::digest(&bytes)));
        assert_eq!(file["size"], bytes.len());
        let mode = std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{}", path.display());
        what.push(file["what"].as_str().unwrap().to_owned());
    }
    for app in ["mlmd", "katib-db", "kfp-db"] {
        assert!(what.iter().any(|w| w.contains(app)), "{app}: {what:?}");
    }
    let upgraded = json_file(&session.join("upgraded-state.json"));
    assert_eq!(upgraded["ckf_release"], "1.11");
    let entry = |doc: &Value, name: &str| {
        doc["applications"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["application"] == name)
            .unwrap()["charm_file"]
            .clone()
    };
    assert_eq!(
        entry(&upgraded, "kfp-ui"),
        entry(record, "kfp-ui"),
        "the record says kfp-ui runs 1.10's charm again"
    );
    assert_eq!(
        entry(&upgraded, "kfp-api").as_str(),
        apps["kfp-api"]["charm_path"].as_str()
    );
}

/// The `oci-image` resources a charm folder's metadata.yaml declares.
fn oci_resources(folder: &Path) -> BTreeSet<String> {
    use saphyr::{LoadableYamlNode, Yaml};
    let text = std::fs::read_to_string(folder.join("metadata.yaml")).unwrap();
    let doc = &Yaml::load_from_str(&text).unwrap()[0];
    let mut out = BTreeSet::new();
    if let Some(resources) = doc.as_mapping_get("resources").and_then(Yaml::as_mapping) {
        for (name, r) in resources {
            if r.as_mapping_get("type").and_then(Yaml::as_str) == Some("oci-image") {
                out.insert(name.as_str().unwrap().to_owned());
            }
        }
    }
    out
}

fn skopeo(reg: &TestRegistry, verb: &[&str], args: &[&str]) {
    let out = Command::new("skopeo")
        .args(verb)
        .arg("--cert-dir")
        .arg(&reg.cert_dir)
        .args(["--creds", &format!("{USER}:{PASS}")])
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "skopeo {verb:?} {args:?}: {}",
        text(&out.stderr)
    );
}

fn skopeo_copy(s: &Site, from: &str, to: &str) {
    let creds = format!("{USER}:{PASS}");
    let out = Command::new("skopeo")
        .args(["copy", "-q", "--insecure-policy", "--src-cert-dir"])
        .arg(&s.upstream.cert_dir)
        .args(["--src-creds", &creds, "--dest-cert-dir"])
        .arg(&s.private.cert_dir)
        .args(["--dest-creds", &creds, from, to])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "skopeo copy {from} {to}: {}",
        text(&out.stderr)
    );
}

/// The binary, headless, until a line of its output says `marker` (a fake command that then
/// hangs), then SIGKILL, and the hanging fake too.
fn run_until_then_kill(s: &Site, state: &Path, answers_file: &Path, marker: &str) {
    use std::io::BufRead;
    let mut cmd = Command::new(BIN);
    cmd.arg("--state-dir")
        .arg(state)
        .args(["--mode", "headless", "--answers"])
        .arg(answers_file)
        .arg("upgrade")
        .env_remove("CKF_AIRGAP_STATE_DIR")
        .env("NO_COLOR", "1")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null());
    for (k, v) in s.env() {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    let lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let mut seen = Vec::new();
    for line in lines {
        let line = line.unwrap();
        if line.contains(marker) {
            break;
        }
        seen.push(line);
    }
    assert!(
        s.fakes
            .lines()
            .iter()
            .any(|l| l.starts_with("juju refresh kfp-api")),
        "the run ended before the marker: {seen:#?}"
    );
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    for call in std::fs::read_to_string(&s.fakes.log).unwrap().lines() {
        let call: Value = serde_json::from_str(call).unwrap();
        if call["args"][0] == "refresh" && call["args"][1] == "kfp-api" {
            let _ = Command::new("kill")
                .args(["-KILL", &call["pid"].to_string()])
                .status();
        }
    }
}
