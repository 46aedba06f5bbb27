//! CKF 1.10 and 1.11 from their real release bundles and the real charm files
//! (`tests/fixtures/releases/`): `.charm` files built from the charm folders, an
//! `images.tar.gz` holding a tiny image under every name the charms need (retagged as
//! Canonical's script does), a real registry, and the fake `juju`. The expected images are
//! read from the charm files by this test independently of the product.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use ckf_airgap::synth::{charm_zip_from_dir, generate_named_release};
use serde_json::{Value, json};

use crate::cluster_support::{Fakes, answer};
use crate::registry_support::registry::{PASS, TestRegistry, USER};
use crate::support::answers::{self, skip};
use crate::support::run_headless;
use ckf_airgap::answers::{Answers, BundleAnswers, DeployAnswers, RegistryAnswers};

const PLACEHOLDER: &str = "172.17.0.2:5000";
const PASSWORD_ENV: &str = "CKF_TEST_RELEASE_PASSWORD";
const PUBLIC: [&str; 6] = [
    "docker.io",
    "ghcr.io",
    "gcr.io",
    "nvcr.io",
    "quay.io",
    "registry.k8s.io",
];

pub(crate) fn release_dir(version: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("tests/fixtures/releases/{version}"))
}

/// Canonical's retag rule (`retag-images-to-cache.py`), written out here on its own.
fn ckf_retag(upstream: &str) -> String {
    let name = upstream.replace("@sha256", "");
    let parts: Vec<&str> = name.split('/').collect();
    if parts.len() <= 2 {
        format!("{PLACEHOLDER}/{name}")
    } else {
        format!("{PLACEHOLDER}/{}", parts[1..].join("/"))
    }
}

/// A value that names an image: a slash or a `name:tag`, no URL, no spaces.
fn looks_like_image(v: &str) -> bool {
    !v.is_empty()
        && !v.contains("://")
        && !v.contains(' ')
        && (v.contains('/') || v.contains(':'))
        && v.rsplit('/')
            .next()
            .is_some_and(|last| last.contains(':') || last.contains('@'))
        && v.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
}

fn unquote(v: &str) -> &str {
    v.trim().trim_matches(['"', '\'', ',']).trim()
}

/// The images a charm folder names, read line by line: `upstream-source:` in metadata.yaml,
/// single-line `default:` values in config.yaml, every string value of its `src/default-*`
/// files, and istio's `image-configuration` composed from its hub, names and tag.
pub(crate) fn expected_images(charm_dir: &Path) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let read = |name: &str| std::fs::read_to_string(charm_dir.join(name)).unwrap_or_default();
    for line in read("metadata.yaml").lines() {
        if let Some(v) = line.trim().strip_prefix("upstream-source:") {
            out.insert(unquote(v).to_owned());
        }
    }
    let config = read("config.yaml");
    for line in config.lines() {
        let value = line
            .trim()
            .strip_prefix("default:")
            .or_else(|| line.trim().strip_prefix("- "));
        if let Some(v) = value
            && looks_like_image(unquote(v))
        {
            out.insert(unquote(v).to_owned());
        }
    }
    let field = |k: &str| {
        config
            .lines()
            .find_map(|l| l.trim().strip_prefix(&format!("{k}:")))
            .map(|v| unquote(v.split('#').next().unwrap_or(v)).to_owned())
    };
    if let (Some(hub), Some(tag)) = (field("global-hub"), field("global-tag")) {
        for name_key in [
            "pilot-image",
            "global-proxy-image",
            "global-proxy-init-image",
        ] {
            if let Some(name) = field(name_key) {
                out.insert(format!("{hub}/{name}:{tag}"));
            }
        }
        if let Some(init) = field("grpc-bootstrap-init") {
            out.insert(init);
        }
    }
    if let Ok(entries) = std::fs::read_dir(charm_dir.join("src")) {
        for e in entries.flatten() {
            for line in std::fs::read_to_string(e.path())
                .unwrap_or_default()
                .lines()
            {
                let value = line.rsplit_once("\": ").map_or(line, |(_, v)| v);
                let value = unquote(value.trim_start_matches("- "));
                if looks_like_image(value) {
                    out.insert(value.to_owned());
                }
            }
        }
    }
    out
}

/// The PodSpec charms of CKF 1.8 (no containers, `series: [kubernetes]`).
const PODSPEC_1_8: [&str; 5] = [
    "envoy",
    "katib-controller",
    "kubeflow-volumes",
    "mlmd",
    "minio",
];

/// Charm folders written here for a release whose charm files the fixtures do not hold
/// (1.8): each with one `oci-image` resource, PodSpec or sidecar as in that release.
fn minimal_charms(bundle: &str, root: &Path) -> PathBuf {
    for (_, charm, _) in bundle_apps(bundle) {
        let dir = root.join(&charm);
        std::fs::create_dir_all(&dir).unwrap();
        let kind = if PODSPEC_1_8.contains(&charm.as_str()) {
            "series: [kubernetes]\n".to_owned()
        } else {
            format!("containers:\n  {charm}:\n    resource: oci-image\n")
        };
        std::fs::write(
            dir.join("metadata.yaml"),
            format!(
                "name: {charm}\n{kind}resources:\n  oci-image:\n    type: oci-image\n    upstream-source: docker.io/charmedkubeflow/{charm}:1.8-test\n"
            ),
        )
        .unwrap();
        // A form the real charms lack: an option whose default is an inline YAML list of
        // images (a `|` block in config.yaml, no default file).
        if charm == "jupyter-ui" {
            std::fs::write(dir.join("config.yaml"), INLINE_LIST_CONFIG).unwrap();
        }
    }
    root.to_path_buf()
}

const INLINE_LIST_CONFIG: &str = "options:\n  jupyter-images:\n    type: string\n    default: |\n      - docker.io/kubeflownotebookswg/jupyter-scipy:v1.8.0-test\n      - docker.io/kubeflownotebookswg/jupyter-pytorch-full:v1.8.0-test\n    description: the notebook images a user may pick\n";

/// Application → charm folder name, from the bundle (`charm:` lines).
pub(crate) fn bundle_apps(bundle: &str) -> Vec<(String, String, bool)> {
    let doc = saphyr_to_json(bundle);
    doc["applications"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(app, v)| {
            (
                app.clone(),
                v["charm"].as_str().unwrap().to_owned(),
                v["trust"].as_bool().unwrap_or(false),
            )
        })
        .collect()
}

fn saphyr_to_json(text: &str) -> Value {
    use saphyr::{LoadableYamlNode, Yaml};
    fn conv(y: &Yaml) -> Value {
        if let Some(m) = y.as_mapping() {
            return Value::Object(
                m.iter()
                    .map(|(k, v)| (k.as_str().unwrap_or_default().to_owned(), conv(v)))
                    .collect(),
            );
        }
        if let Some(s) = y.as_sequence() {
            return Value::Array(s.iter().map(conv).collect());
        }
        if let Some(b) = y.as_bool() {
            return Value::Bool(b);
        }
        if let Some(i) = y.as_integer() {
            return json!(i);
        }
        y.as_str()
            .map_or(Value::Null, |s| Value::String(s.to_owned()))
    }
    conv(&Yaml::load_from_str(text).unwrap()[0])
}

struct World {
    dir: tempfile::TempDir,
    fakes: Fakes,
    state: PathBuf,
    answers: PathBuf,
    /// What `answers` holds.
    spec: Answers,
    /// Application → the images its charm names upstream.
    expected: BTreeMap<String, BTreeSet<String>>,
    bundle: Value,
}

/// `drop_image`: an upstream image left out of the archive; `drop_charm`: a charm left out.
fn world(
    version: &str,
    reg: &TestRegistry,
    drop_image: Option<&str>,
    drop_charm: Option<&str>,
) -> World {
    let dir = tempfile::tempdir().unwrap();
    let rel = release_dir(version);
    let bundle_text = std::fs::read_to_string(rel.join("bundle.yaml")).unwrap();
    let charms_root = if rel.join("charms").is_dir() {
        rel.join("charms")
    } else {
        minimal_charms(&bundle_text, &dir.path().join("charm-src"))
    };
    let mut charms = Vec::new();
    let mut expected = BTreeMap::new();
    let mut images = BTreeSet::new();
    let mut built = BTreeSet::new();
    for (app, charm, _) in bundle_apps(&bundle_text) {
        let charm_dir = charms_root.join(&charm);
        let mut wanted = expected_images(&charm_dir);
        // What the release's workloads pull though no charm file names it.
        if let Some(release) = ckf_airgap::ckf_release::CkfRelease::parse(version) {
            for runtime in ckf_airgap::release::runtime_images::runtime_images(release, &charm) {
                wanted.insert(runtime.image);
            }
        }
        images.extend(wanted.iter().cloned());
        expected.insert(app, wanted);
        if Some(charm.as_str()) != drop_charm && built.insert(charm.clone()) {
            charms.push(charm_zip_from_dir(&charm_dir, 1, "22.04").unwrap());
        }
    }
    let names: Vec<String> = images
        .iter()
        .filter(|i| Some(i.as_str()) != drop_image)
        .map(|i| ckf_retag(i))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let release = generate_named_release(&names, &charms, &dir.path().join("rel")).unwrap();
    let bundle = dir.path().join("bundle.yaml");
    std::fs::write(&bundle, &bundle_text).unwrap();
    let fakes = Fakes::all();
    fakes.set_scenario(
        &json!({"rules": [answer("juju", &["version"], "3.6.4-genericlinux-amd64\n", "", 0)]}),
    );
    let mut spec = Answers {
        artifacts: Some(answers::artifacts(
            &release.images_gz,
            release.charms_gz.as_ref().unwrap(),
        )),
        registry: Some(RegistryAnswers {
            ca_file: Some(reg.ca_file.clone()),
            ..answers::registry_login(format!("{}/ckf", reg.addr()), USER, PASSWORD_ENV)
        }),
        bundle: Some(BundleAnswers {
            write: true,
            ..answers::bundle(&bundle)
        }),
        gateway: Some(answers::node_port()),
        deploy: Some(DeployAnswers {
            dry_run: true,
            ..answers::deploy("kubeflow")
        }),
        ..Answers::default()
    };
    skip(
        &mut spec,
        "environment-checks",
        "the cluster is not under test here",
    );
    let answers = dir.path().join("answers.toml");
    answers::write(&answers, &spec);
    World {
        state: dir.path().join("state"),
        answers,
        spec,
        fakes,
        expected,
        bundle: saphyr_to_json(&bundle_text),
        dir,
    }
}

impl World {
    /// Changes the answers and writes the file again.
    fn edit(&mut self, change: impl FnOnce(&mut Answers)) {
        change(&mut self.spec);
        answers::write(&self.answers, &self.spec);
    }

    fn env(&self) -> Vec<(String, String)> {
        self.fakes.env_with(&[(PASSWORD_ENV, PASS)])
    }
}

/// The world's one session directory.
fn session_dir(w: &World) -> PathBuf {
    std::fs::read_dir(w.state.join("sessions"))
        .unwrap()
        .flatten()
        .next()
        .unwrap()
        .path()
}

fn session_file(w: &World, name: &str) -> Value {
    serde_json::from_slice(&std::fs::read(session_dir(w).join(name)).unwrap()).unwrap()
}

fn dry_run_plan_is_complete_and_private(version: &str) {
    let reg = TestRegistry::start();
    let w = world(version, &reg, None, None);
    let (code, out) = run_headless(&w.state, &w.answers, &[], &w.env());
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains(&format!("CKF {version}")),
        "the release is named: {out}"
    );
    // What the tests of an empty registry read is where the pushed images are.
    assert!(
        repositories(&reg).contains(&"ckf/charmedkubeflow/katib-controller".to_string()),
        "{:?}",
        repositories(&reg)
    );
    // Juju's own images, for every base the charms declare (24.04; 22.04 for mysql-k8s).
    for base in ["ubuntu-24.04", "ubuntu-22.04"] {
        assert!(
            out.contains(&format!("/ckf/jujusolutions/charm-base:{base}")),
            "{out}"
        );
    }
    assert!(out.contains("jujusolutions/jujud-operator:3.6.4"), "{out}");
    // The form is decided once, by the mapping step, and recorded for the steps after it.
    let form = session_file(&w, "bundle-form.json");
    assert_eq!(form["form"], "Release", "{form}");
    assert_eq!(form["ckf_release"], version, "{form}");
    assert_eq!(form["produced_by"], "placeholder-mapping", "{form}");
    let plan = session_file(&w, "deploy-plan.json");
    let report = session_file(&w, "push-report.json");
    let pushed: BTreeSet<String> = report["images"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["target"].as_str().unwrap().to_owned())
        .collect();
    let commands = plan["commands"].as_array().unwrap();
    let mirror_only: BTreeSet<String> = ckf_airgap::ckf_release::CkfRelease::parse(version)
        .into_iter()
        .flat_map(|r| {
            ["training-operator", "knative-eventing"]
                .into_iter()
                .flat_map(move |c| ckf_airgap::release::runtime_images::runtime_images(r, c))
        })
        .filter(|i| i.pointed_by == ckf_airgap::release::runtime_images::PointedBy::MirrorOnly)
        .map(|i| i.image)
        .collect();
    // The runtime table's images (named by no charm file): pushed, and the one an option can
    // set is set in that application's config file.
    if version != "1.8" {
        for image in ["alpine:3.10", "kubeflow/kubectl-delivery:latest"] {
            let target = format!("{}/ckf/{image}", reg.addr());
            assert!(pushed.contains(&target), "{target} not pushed: {pushed:?}");
        }
        let eventing = commands
            .iter()
            .find(|c| c["argv"][1] == "deploy" && c["argv"][3] == "knative-eventing")
            .unwrap();
        let config = eventing["files"][0]["contents"].as_str().unwrap();
        assert!(
            config.contains(&format!(
                "\\\"job-sink/job-sink\\\":\\\"{}/ckf/knative-releases/knative.dev/eventing/cmd/jobsink:",
                reg.addr()
            )) || config.contains(&format!("job-sink/job-sink\":\"{}/ckf/", reg.addr())),
            "{config}"
        );
    }
    let apps = w.bundle["applications"].as_object().unwrap();
    let relations = w.bundle["relations"].as_array().unwrap();
    let deploys: Vec<&Value> = commands
        .iter()
        .filter(|c| c["argv"][1] == "deploy")
        .collect();
    assert_eq!(deploys.len(), apps.len(), "one deploy per application");
    let relates = commands
        .iter()
        .filter(|c| c["argv"][1] == "integrate")
        .count();
    assert_eq!(relates, relations.len(), "every relation of the bundle");
    let registry = format!("{}/ckf/", reg.addr());
    for (app, spec) in apps {
        let cmd = deploys
            .iter()
            .find(|c| c["argv"][3] == app.as_str())
            .unwrap_or_else(|| panic!("no deploy of {app}"));
        let argv: Vec<&str> = cmd["argv"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap())
            .collect();
        let files: String = cmd["files"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["contents"].as_str().unwrap().to_owned())
            .collect();
        let everything = format!("{} {files}", argv.join(" "));
        for public in PUBLIC {
            assert!(
                !everything.contains(public),
                "{app} still names {public}:\n{everything}"
            );
        }
        assert_eq!(
            argv.contains(&"--trust"),
            spec["trust"].as_bool().unwrap_or(false),
            "{app}: trust as the bundle says"
        );
        if let Some(c) = spec["constraints"].as_str() {
            let i = argv.iter().position(|a| *a == "--constraints").unwrap();
            assert_eq!(argv[i + 1], c, "{app}");
        }
        for pair in argv.windows(2).filter(|p| p[0] == "--resource") {
            let image = pair[1].split_once('=').unwrap().1;
            assert!(pushed.contains(image), "{app}: {image} was not pushed");
        }
        // Every image the charm names reaches the plan as the pushed copy of its archived
        // image (istio's composed ones through the hub).
        for upstream in &w.expected[app] {
            let retagged = ckf_retag(upstream);
            let path_tag = retagged.strip_prefix(&format!("{PLACEHOLDER}/")).unwrap();
            // The push drops a registry host the retag left in the path (two-part names).
            let path_tag = match path_tag.split_once('/') {
                Some((first, rest)) if first.contains('.') && rest.contains('/') => rest,
                Some((first, rest)) if first.contains('.') => {
                    rest.strip_prefix("library/").unwrap_or(rest)
                }
                _ => path_tag,
            };
            let target = format!("{registry}{path_tag}");
            assert!(
                pushed.contains(&target),
                "{app}: {target} is not in the push report"
            );
            // Nothing in the charm can point a mirror-only image at the registry.
            if mirror_only.contains(upstream) {
                continue;
            }
            let hub = target.rsplit_once('/').unwrap().0;
            assert!(
                everything.contains(&target) || everything.contains(hub),
                "{app}: {upstream} does not reach the plan as {target}:\n{everything}"
            );
        }
        for token in everything.split([' ', '"', '\'', '\n', ',', '[', ']', '{', '}', '=']) {
            if looks_like_image(token) && token.contains('/') && !token.starts_with('/') {
                assert!(
                    token.starts_with(&registry) || token.starts_with(&reg.addr()),
                    "{app}: {token} is not in the private registry"
                );
            }
        }
    }
    drop(w.dir);
}

#[test]
fn ckf_1_10_dry_run_plan_deploys_every_application_from_the_private_registry() {
    dry_run_plan_is_complete_and_private("1.10");
}

#[test]
fn ckf_1_11_dry_run_plan_deploys_every_application_from_the_private_registry() {
    dry_run_plan_is_complete_and_private("1.11");
}

#[test]
fn a_missing_image_or_charm_stops_before_the_push_naming_the_application() {
    let reg = TestRegistry::start();
    let darts = "docker.io/charmedkubeflow/suggestion-nas-darts:v0.19.0-aeb722e";
    let mut w = world("1.11", &reg, Some(darts), None);
    let (code, out) = run_headless(&w.state, &w.answers, &[], &w.env());
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(&format!(
            "katib-controller: option custom_images[suggestion__darts] needs {darts}"
        )),
        "{out}"
    );
    assert!(!out.contains("[image-push] started"), "{out}");
    // With nothing that says what the archive holds before it is read, no image is sent while
    // it is read: the registry holds nothing.
    assert!(out.contains("are not pushed while it is read"), "{out}");
    assert_eq!(repositories(&reg), Vec::<String>::new());
    // Skipped with a reason, the item no longer stops the archives' step; the mapping then
    // names it as an image the deployment still needs.
    w.edit(|a| {
        skip(
            a,
            "need:katib-controller/option custom_images[suggestion__darts]",
            "mirrored by hand",
        )
    });
    let (code, out) = run_headless(&w.state, &w.answers, &[], &w.env());
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("[artifacts] done"), "{out}");
    assert!(out.contains("skipped: mirrored by hand"), "{out}");
    assert!(
        out.contains(
            "katib-controller: option custom_images[suggestion__darts]; not in the archives"
        ),
        "{out}"
    );

    let w = world("1.11", &reg, None, Some("kfp-api"));
    let (code, out) = run_headless(&w.state, &w.answers, &[], &w.env());
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("kfp-api: charm kfp-api"), "{out}");
    assert!(!out.contains("[image-push] started"), "{out}");
}

/// The repositories the registry's storage holds (none before anything is pushed).
fn repositories(reg: &TestRegistry) -> Vec<String> {
    let root = reg.storage().join("docker/registry/v2/repositories");
    let mut found = Vec::new();
    let mut stack = vec![root.clone()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let p = e.path();
            if p.join("_manifests").is_dir() {
                found.push(p.strip_prefix(&root).unwrap().display().to_string());
            } else if p.is_dir() {
                stack.push(p);
            }
        }
    }
    found
}

/// With gather's lock beside the archive, the bundle's needs are checked against what the lock
/// promises before the archive is read: a missing image stops the run with nothing read or
/// sent, in the default mode that pushes while it reads.
#[test]
fn a_missing_need_stops_the_one_pass_read_before_any_image_is_sent() {
    use ckf_airgap::gather::lock::{LockedImage, ReleaseLock, beside};
    use ckf_airgap::oci::Digest;
    let reg = TestRegistry::start();
    let darts = "docker.io/charmedkubeflow/suggestion-nas-darts:v0.19.0-aeb722e";
    let w = world("1.11", &reg, Some(darts), None);
    let archived: BTreeSet<String> = w
        .expected
        .values()
        .flatten()
        .filter(|i| i.as_str() != darts)
        .map(|i| ckf_retag(i))
        .collect();
    let lock = ReleaseLock {
        images: archived
            .iter()
            .map(|name| LockedImage {
                upstream: name.clone(),
                index_digest: None,
                manifest_digest: Digest::of(name.as_bytes()),
                config_digest: Digest::of(name.as_bytes()),
                repo_tags: vec![name.clone()],
                member: format!("{name}.tar"),
                size: 1,
                needed_by: Vec::new(),
                seen_in: Vec::new(),
            })
            .collect(),
        ..ReleaseLock::default()
    };
    let images = w.spec.artifacts.as_ref().unwrap().images.clone().unwrap();
    std::fs::write(beside(&images), serde_json::to_vec(&lock).unwrap()).unwrap();
    let (code, out) = run_headless(&w.state, &w.answers, &[], &w.env());
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("stopped before reading images.tar.gz: by "),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "katib-controller: option custom_images[suggestion__darts] needs {darts}"
        )),
        "{out}"
    );
    assert!(!out.contains("verified "), "an image was read: {out}");
    assert_eq!(repositories(&reg), Vec::<String>::new());
}

/// A `[mapping]` target set by hand that the registry does not hold is refused at the mapping
/// step, with that cause, instead of reaching the plan.
#[test]
fn an_override_to_an_image_the_registry_lacks_is_refused_at_the_mapping() {
    let reg = TestRegistry::start();
    let mut w = world("1.11", &reg, None, None);
    let source = w
        .expected
        .get("kfp-api")
        .and_then(|images| images.iter().next())
        .cloned()
        .expect("kfp-api names an image");
    let absent = format!("{}/ckf/nowhere/absent:v1", reg.addr());
    w.edit(|a| {
        a.mapping.insert(source.clone(), absent.clone());
    });
    let (code, out) = run_headless(&w.state, &w.answers, &[], &w.env());
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(&format!(
            "set by hand to {absent}, but the registry holds no manifest under this name"
        )),
        "{out}"
    );
    assert!(!out.contains("[juju-deploy] started"), "{out}");
}

/// Every image the plan makes the cluster pull is looked up before the first juju command: one
/// gone from the registry after the push stops the deploy, named with who needs it.
#[test]
fn an_image_gone_from_the_registry_stops_the_deploy_before_any_juju_command() {
    let reg = TestRegistry::start();
    let mut w = world("1.11", &reg, None, None);
    let (code, out) = run_headless(&w.state, &w.answers, &[], &w.env());
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("every one of the plan's"), "{out}");
    let mapping = session_file(&w, "mapping.json");
    let row = mapping["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["application"] == "kfp-api")
        .unwrap()
        .clone();
    let target = row["target"].as_str().unwrap().to_owned();
    let (repo, tag) = target
        .strip_prefix(&format!("{}/", reg.addr()))
        .unwrap()
        .rsplit_once(':')
        .unwrap();
    let tag_dir = reg
        .storage()
        .join("docker/registry/v2/repositories")
        .join(repo)
        .join("_manifests/tags")
        .join(tag);
    assert!(tag_dir.is_dir(), "{}", tag_dir.display());
    std::fs::remove_dir_all(&tag_dir).unwrap();

    // For real this time: only the deploy runs again, and it stops before any juju command
    // (the dry run before ran none either).
    w.edit(|a| a.deploy.as_mut().unwrap().dry_run = false);
    let session = session_dir(&w)
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    let (code, out) = run_headless(&w.state, &w.answers, &["--session", &session], &w.env());
    assert_eq!(code, 1, "{out}");
    assert!(
        !out.contains("[image-push] started"),
        "the push ran again: {out}"
    );
    assert!(
        out.contains("of the plan's") && out.contains("images are not in the private registry"),
        "{out}"
    );
    assert!(
        out.contains(&format!("{target} (for kfp-api")),
        "the image and who needs it: {out}"
    );
    let ran: Vec<String> = w.fakes.lines();
    assert!(
        ran.iter()
            .all(|l| !l.starts_with("juju deploy") && !l.starts_with("juju bootstrap")),
        "{ran:?}"
    );
}

/// A real deploy against the fake juju: the chosen command fails, a new process resumes from
/// it without repeating the finished ones, and once the model settles a pod that pulls from
/// the internet is named with the option that set its image.
#[test]
fn a_failed_deploy_resumes_in_a_new_process_and_a_public_pod_image_is_named() {
    let reg = TestRegistry::start();
    let mut w = world("1.11", &reg, None, None);
    w.edit(|a| {
        let deploy = a.deploy.as_mut().unwrap();
        deploy.dry_run = false;
        deploy.run = true;
        deploy.watch_minutes = Some(1);
    });
    let mut scenario = crate::e2e_frontends::cluster(&reg.addr());
    let foreign = "docker.io/charmedkubeflow/visualization-server:2.15.0-e63a3fc";
    let pods = json!({"items": [
        {"metadata": {"name": "kfp-api-0"}, "spec": {"containers": [
            {"name": "ml-pipeline-api-server", "image": format!("{}/ckf/charmedkubeflow/api-server:2.15.0", reg.addr())}]}},
        {"metadata": {"name": "ml-pipeline-visualizationserver-abc"}, "spec": {"containers": [
            {"name": "server", "image": foreign}]}}
    ]});
    let rules = scenario["rules"].as_array_mut().unwrap();
    rules.insert(
        0,
        json!({"tool": "juju", "args_prefix": ["deploy"], "args_contains": ["kfp-api"],
        "responses": [{"exit": 1, "stderr": "ERROR scripted failure of kfp-api\n"}, {"exit": 0}]}),
    );
    rules.push(answer(
        "kubectl",
        &["get", "pods", "-n", "kubeflow", "-o", "json"],
        &pods.to_string(),
        "",
        0,
    ));
    w.fakes.set_scenario(&scenario);

    let (code, out) = run_headless(&w.state, &w.answers, &[], &w.env());
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("deploy:kfp-api failed"), "{out}");
    let deployed = |w: &World| -> Vec<String> {
        w.fakes
            .calls()
            .into_iter()
            .filter(|c| c.tool == "juju" && c.args.first().map(String::as_str) == Some("deploy"))
            .map(|c| c.args[2].clone())
            .collect()
    };
    let first = deployed(&w);
    assert_eq!(first.last().map(String::as_str), Some("kfp-api"));

    let (code, out) = run_headless(&w.state, &w.answers, &[], &w.env());
    assert_eq!(code, 1, "{out}");
    let all = deployed(&w);
    let apps = w.bundle["applications"].as_object().unwrap();
    for app in apps.keys() {
        let n = all.iter().filter(|a| *a == app).count();
        let want = if app == "kfp-api" { 2 } else { 1 };
        assert_eq!(n, want, "{app} deployed {n} times: {all:?}");
    }
    assert!(
        out.contains(&format!(
            "pod ml-pipeline-visualizationserver-abc container server: {foreign}"
        )),
        "{out}"
    );
    assert!(
        out.contains("set by kfp-profile-controller option custom_images[visualization_server]"),
        "{out}"
    );
}

/// CKF 1.8's release bundle (with minimal charms: the fixtures hold no 1.8 charm files) gives
/// a plan too: every application deployed on its own, PodSpec ones included, every relation,
/// and pvcviewer-operator on the base its `series: focal` names.
#[test]
fn ckf_1_8_release_bundle_gives_a_plan_with_its_podspec_charms() {
    let reg = TestRegistry::start();
    let w = world("1.8", &reg, None, None);
    let (code, out) = run_headless(&w.state, &w.answers, &[], &w.env());
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("CKF 1.8"), "{out}");
    let plan = session_file(&w, "deploy-plan.json");
    let commands = plan["commands"].as_array().unwrap();
    let apps = w.bundle["applications"].as_object().unwrap();
    let deploys: Vec<&Value> = commands
        .iter()
        .filter(|c| c["argv"][1] == "deploy")
        .collect();
    assert_eq!(deploys.len(), apps.len());
    let relations = w.bundle["relations"].as_array().unwrap().len();
    assert_eq!(commands.len(), apps.len() + relations);
    let text = plan.to_string();
    assert!(!text.contains("docker.io"), "{text}");
    // The inline list default is gathered from the archive and rewritten in the plan's config.
    let jupyter = deploys
        .iter()
        .find(|c| c["argv"][3] == "jupyter-ui")
        .unwrap();
    let config = jupyter["files"][0]["contents"].as_str().unwrap();
    for name in ["jupyter-scipy", "jupyter-pytorch-full"] {
        assert!(
            config.contains(&format!(
                "- {}/ckf/kubeflownotebookswg/{name}:v1.8.0-test",
                reg.addr()
            )),
            "{config}"
        );
    }
    let pvc = deploys
        .iter()
        .find(|c| c["argv"][3] == "pvcviewer-operator")
        .unwrap();
    assert!(
        pvc["argv"]
            .to_string()
            .contains(r#""--base","ubuntu@20.04""#),
        "{pvc}"
    );
}

/// Canonical's `retagged-images.txt`, when given, must be whole in the archive: a name its
/// script failed to save is named.
#[test]
fn a_name_of_retagged_images_txt_missing_from_the_archive_is_named() {
    let reg = TestRegistry::start();
    let darts = "docker.io/charmedkubeflow/suggestion-nas-darts:v0.19.0-aeb722e";
    let mut w = world("1.11", &reg, Some(darts), None);
    let all: BTreeSet<String> = w
        .expected
        .values()
        .flatten()
        .map(|i| ckf_retag(i))
        .collect();
    let list = w.dir.path().join("retagged-images.txt");
    std::fs::write(&list, all.into_iter().collect::<Vec<_>>().join("\n")).unwrap();
    w.edit(|a| a.artifacts.as_mut().unwrap().retagged_images = Some(list));
    let (code, out) = run_headless(&w.state, &w.answers, &[], &w.env());
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("lists 1 image(s) images.tar.gz does not hold"),
        "{out}"
    );
    assert!(out.contains(&ckf_retag(darts)), "{out}");
}

/// A release bundle's needs come from the charms in the inventory: with the Artifacts step
/// skipped, the first step that needs the inventory fails naming that step, never showing an
/// empty table. The push needs it first; with the push skipped too, the mapping does.
#[test]
fn a_skipped_artifacts_step_is_named_by_the_first_step_that_needs_the_inventory() {
    let reg = TestRegistry::start();
    let mut w = world("1.11", &reg, None, None);
    w.edit(|a| skip(a, "artifacts", "copied by hand"));
    let (code, out) = run_headless(&w.state, &w.answers, &[], &w.env());
    assert_eq!(code, 1, "{out}");
    let named = "the inventory of the archives is not there: the Artifacts step makes it, and \
                 it was skipped (copied by hand)";
    let failed = out
        .lines()
        .find(|l| l.starts_with("[image-push] failed"))
        .unwrap_or_else(|| panic!("the push did not fail: {out}"));
    assert!(failed.contains(named), "{failed}");
    assert!(out.contains("remove \"artifacts\" from [skip]"), "{out}");

    w.edit(|a| skip(a, "image-push", "pushed by hand"));
    let (code, out) = run_headless(&w.state, &w.answers, &[], &w.env());
    assert_eq!(code, 1, "{out}");
    let failed = out
        .lines()
        .find(|l| l.starts_with("[placeholder-mapping] failed"))
        .unwrap_or_else(|| panic!("the mapping did not fail: {out}"));
    assert!(failed.contains("is a release bundle"), "{failed}");
    assert!(failed.contains(named), "{failed}");
    assert!(
        !w.state.join("sessions").read_dir().unwrap().any(|d| d
            .unwrap()
            .path()
            .join("mapping.json")
            .exists())
    );
}

/// The deploy plan takes every image from the mapping step's output: an override set by hand
/// (here the pushed image pinned by its digest) reaches the plan exactly, and every row's
/// target is what its application is deployed with.
#[test]
fn the_deploy_takes_every_image_target_from_the_mapping_even_an_override() {
    let reg = TestRegistry::start();
    let mut w = world("1.11", &reg, None, None);
    let (code, out) = run_headless(&w.state, &w.answers, &[], &w.env());
    assert_eq!(code, 0, "{out}");
    let mapping = session_file(&w, "mapping.json");
    let report = session_file(&w, "push-report.json");
    let row = mapping["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| {
            r["application"] == "kfp-api" && r["site"].as_str().unwrap().starts_with("resource ")
        })
        .unwrap()
        .clone();
    let target = row["target"].as_str().unwrap();
    let digest = report["images"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["target"] == target)
        .unwrap()["digest"]
        .as_str()
        .unwrap()
        .to_owned();
    let pinned = format!("{}@{digest}", target.rsplit_once(':').unwrap().0);
    let source = row["source"].as_str().unwrap().to_owned();
    w.edit(|a| {
        a.mapping.insert(source, pinned.clone());
    });
    // A new session, so that the files read are this run's.
    w.state = w.dir.path().join("state-with-override");
    let (code, out) = run_headless(&w.state, &w.answers, &[], &w.env());
    assert_eq!(code, 0, "{out}");

    let mapping = session_file(&w, "mapping.json");
    let plan = session_file(&w, "deploy-plan.json");
    let commands = plan["commands"].as_array().unwrap();
    let mut overridden = 0;
    for row in mapping["rows"].as_array().unwrap() {
        let app = row["application"].as_str().unwrap();
        let site = row["site"].as_str().unwrap();
        let target = row["target"].as_str().unwrap();
        let cmd = commands
            .iter()
            .find(|c| c["argv"][1] == "deploy" && c["argv"][3] == app)
            .unwrap_or_else(|| panic!("no deploy of {app}"));
        let argv: Vec<&str> = cmd["argv"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap())
            .collect();
        if let Some(resource) = site.strip_prefix("resource ") {
            assert!(
                argv.windows(2)
                    .any(|p| p[0] == "--resource" && p[1] == format!("{resource}={target}")),
                "{app} {site}: not deployed with {target}: {argv:?}"
            );
        } else if site.starts_with("runtime image ") {
            // Named by no charm file and set by no option: in the plan only through the mirror.
            let files = cmd["files"].to_string();
            assert!(!files.contains(target), "{app} {site}: {files}");
        } else {
            let files = cmd["files"].to_string();
            let hub = target.rsplit_once('/').unwrap().0;
            assert!(
                files.contains(target) || files.contains(hub),
                "{app} {site}: {target} is not in its config: {files}"
            );
        }
        if target == pinned {
            overridden += 1;
        }
    }
    assert!(overridden >= 1, "the override is in the mapping");
    assert!(
        plan.to_string().contains(&pinned),
        "the override reaches the plan"
    );
}

/// A real install of CKF 1.10 records what each application runs: the charm's file, SHA-256
/// and Charmhub revision, the channel, every resource and option as the commands set them
/// and the `--config` file, all under the private registry.
#[test]
fn a_release_install_records_each_applications_charm_images_and_options() {
    use sha2::Digest;
    let reg = TestRegistry::start();
    let mut w = world("1.10", &reg, None, None);
    w.edit(|a| {
        let deploy = a.deploy.as_mut().unwrap();
        deploy.dry_run = false;
        deploy.run = true;
        deploy.watch_minutes = Some(1);
    });
    w.fakes
        .set_scenario(&crate::e2e_frontends::cluster(&reg.addr()));
    let (code, out) = run_headless(&w.state, &w.answers, &[], &w.env());
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("what was installed (37 applications) is recorded"),
        "{out}"
    );

    let record = session_file(&w, "deployed-state.json");
    assert_eq!(record["ckf_release"], "1.10");
    assert_eq!(record["juju_version"], "2.9.45");
    assert_eq!(record["registry"], format!("{}/ckf", reg.addr()));
    let plan = session_file(&w, "deploy-plan.json");
    let commands = plan["commands"].as_array().unwrap();
    let apps = w.bundle["applications"].as_object().unwrap();
    let recorded = record["applications"].as_array().unwrap();
    assert_eq!(recorded.len(), apps.len());
    for entry in recorded {
        let name = entry["application"].as_str().unwrap();
        let in_bundle = &apps[name];
        assert_eq!(entry["outcome"]["state"], "deployed", "{entry:#}");
        assert_eq!(entry["charm"], in_bundle["charm"], "{entry:#}");
        assert_eq!(entry["channel"], in_bundle["channel"], "{entry:#}");
        assert_eq!(entry["charmhub_revision"], 1, "{entry:#}");
        assert!(
            entry["kind"] == "Sidecar" || entry["kind"] == "PodSpec",
            "{entry:#}"
        );
        let file = entry["charm_file"].as_str().unwrap();
        let sha = hex::encode(sha2::Sha256::digest(std::fs::read(file).unwrap()));
        assert_eq!(entry["charm_sha256"], sha.as_str(), "{name}: {file}");
        let cmd = commands
            .iter()
            .find(|c| c["argv"][1] == "deploy" && c["argv"][3] == name)
            .unwrap();
        let argv: Vec<&str> = cmd["argv"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap())
            .collect();
        let resources: Vec<String> = argv
            .windows(2)
            .filter(|p| p[0] == "--resource")
            .map(|p| p[1].to_owned())
            .collect();
        let recorded_resources: Vec<String> = entry["resources"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| format!("{k}={}", v.as_str().unwrap()))
            .collect();
        assert_eq!(
            recorded_resources.iter().collect::<BTreeSet<_>>(),
            resources.iter().collect::<BTreeSet<_>>(),
            "{name}"
        );
        let config_arg = argv.windows(2).find(|p| p[0] == "--config").map(|p| p[1]);
        assert_eq!(entry["config_file"].as_str(), config_arg, "{name}");
        assert_eq!(
            entry["trust"],
            in_bundle.get("trust").cloned().unwrap_or(json!(false)),
            "{name}"
        );
        let text = entry["resources"].to_string() + &entry["config"].to_string();
        for public in PUBLIC {
            assert!(!text.contains(&format!("{public}/")), "{name}: {text}");
        }
    }
}
