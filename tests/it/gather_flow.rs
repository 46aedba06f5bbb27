//! `ckf-airgap gather` end to end with real components: a TLS `docker-registry` plays the
//! upstream (credentials from a Docker `config.json`), a local HTTP server answers the Charmhub
//! API calls gather makes, and the real binary gathers a release bundle's charms and images
//! into archives; the air-gapped flow then reads them, verifies the lock file and pushes them
//! to a second registry, where `skopeo` sees the upstream config digests.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use ckf_airgap::synth::charm_zip_from_dir;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::cluster_support::{Fakes, answer};
use crate::registry_support::client_for;
use crate::registry_support::registry::{PASS, TestRegistry, USER};
use crate::support::answers::{self, skip};
use crate::support::{run, run_headless, text};
use ckf_airgap::answers::{Answers, RegistryAnswers};
use ckf_airgap::wizard::state::GatherChoice;

/// Answers `GET /v2/charms/info/<name>` and `GET /download/<file>` as Charmhub documents
/// them, for the charms it holds; anything else is a 404.
pub(crate) struct FakeCharmhub {
    port: u16,
    stop: Arc<AtomicBool>,
}

impl FakeCharmhub {
    pub(crate) fn start(charms: Vec<(String, Vec<u8>)>) -> FakeCharmhub {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().take(500) {
                if stopping.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(mut stream) = stream else { continue };
                let mut line = String::new();
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                if reader.read_line(&mut line).is_err() {
                    continue;
                }
                loop {
                    let mut h = String::new();
                    if reader.read_line(&mut h).is_err() || h.trim().is_empty() {
                        break;
                    }
                }
                let path = line.split_whitespace().nth(1).unwrap_or("/").to_owned();
                let (status, body) = respond(&path, &charms, port);
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status}\r\nContent-Length: {}\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = stream.write_all(&body);
            }
        });
        FakeCharmhub { port, stop }
    }

    pub(crate) fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for FakeCharmhub {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = std::net::TcpStream::connect(("127.0.0.1", self.port));
    }
}

/// The base a test charm file is built for, when its name says so (`x_r22.charm`: 22.04).
fn base_of_file(file: &str) -> Option<&'static str> {
    if file.ends_with("_r22.charm") {
        Some("22.04")
    } else if file.ends_with("_r24.charm") {
        Some("24.04")
    } else {
        None
    }
}

fn respond(path: &str, charms: &[(String, Vec<u8>)], port: u16) -> (&'static str, Vec<u8>) {
    let (route, query) = path.split_once('?').unwrap_or((path, ""));
    if let Some(name) = route.strip_prefix("/v2/charms/info/")
        && charms
            .iter()
            .any(|(f, _)| f.starts_with(&format!("{name}_r")) && base_of_file(f).is_some())
    {
        // A channel that holds one revision per base: the documented channel-map form.
        let channel = query
            .split('&')
            .find_map(|kv| kv.strip_prefix("channel="))
            .unwrap_or_default()
            .replace("%2F", "/");
        let map: Vec<Value> = charms
            .iter()
            .filter(|(f, _)| f.starts_with(&format!("{name}_r")))
            .map(|(file, bytes)| {
                let revision: u64 = file.trim_end_matches(".charm").rsplit("_r").next().unwrap().parse().unwrap();
                json!({
                    "channel": {"name": channel, "base": {"name": "ubuntu", "channel": base_of_file(file), "architecture": "amd64"}},
                    "revision": {"revision": revision, "download": {
                        "url": format!("http://127.0.0.1:{port}/download/{file}"),
                        "hash-sha-256": hex::encode(Sha256::digest(bytes)),
                        "size": bytes.len(),
                    }},
                })
            })
            .collect();
        return (
            "200 OK",
            json!({"channel-map": map}).to_string().into_bytes(),
        );
    }
    if let Some(name) = route.strip_prefix("/v2/charms/info/") {
        let Some((file, bytes)) = charms
            .iter()
            .find(|(f, _)| f.starts_with(&format!("{name}_r")))
        else {
            return (
                "404 Not Found",
                br#"{"error-list":[{"code":"not-found"}]}"#.to_vec(),
            );
        };
        assert!(
            query.contains("channel="),
            "gather names the channel: {path}"
        );
        let revision: u64 = file
            .trim_end_matches(".charm")
            .rsplit("_r")
            .next()
            .unwrap()
            .parse()
            .unwrap();
        let body = json!({"default-release": {"revision": {
        "revision": revision,
        "download": {
            "url": format!("http://127.0.0.1:{port}/download/{file}"),
            "hash-sha-256": hex::encode(Sha256::digest(bytes)),
            "size": bytes.len(),
        }}}});
        return ("200 OK", body.to_string().into_bytes());
    }
    if let Some(file) = route.strip_prefix("/download/")
        && let Some((_, bytes)) = charms.iter().find(|(f, _)| f == file)
    {
        return ("200 OK", bytes.clone());
    }
    ("404 Not Found", Vec::new())
}

/// A charm folder with one OCI resource naming `image`.
fn charm(dir: &Path, name: &str, image: &str) -> (String, Vec<u8>) {
    let folder = dir.join(name);
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::write(
        folder.join("metadata.yaml"),
        format!(
            "name: {name}\ncontainers:\n  {name}:\n    resource: oci-image\nresources:\n  oci-image:\n    type: oci-image\n    upstream-source: {image}\n"
        ),
    )
    .unwrap();
    charm_zip_from_dir(&folder, 7, "24.04").unwrap()
}

pub(crate) fn docker_config(dir: &Path, reg: &TestRegistry) -> PathBuf {
    use base64::Engine;
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASS}"));
    let config_dir = dir.join("docker");
    std::fs::create_dir_all(&config_dir).unwrap();
    std::fs::write(
        config_dir.join("config.json"),
        json!({"auths": {reg.addr(): {"auth": auth}}}).to_string(),
    )
    .unwrap();
    config_dir
}

/// Answers with only `[gather]`, written to `path`.
pub(crate) fn write_gather(path: &Path, gather: GatherChoice) {
    let spec = Answers {
        gather: Some(gather),
        ..Answers::default()
    };
    answers::write(path, &spec);
}

/// `DOCKER_CONFIG` for [`run_headless`].
pub(crate) fn docker_env(docker: &Path) -> [(&'static str, &str); 1] {
    [("DOCKER_CONFIG", docker.to_str().unwrap())]
}

pub(crate) fn config_digest(reg: &TestRegistry, reference: &str) -> String {
    let out = Command::new("skopeo")
        .args(["inspect", "--raw", "--tls-verify=true", "--cert-dir"])
        .arg(&reg.cert_dir)
        .args(["--creds", &format!("{USER}:{PASS}")])
        .arg(format!("docker://{reference}"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let manifest: Value = serde_json::from_slice(&out.stdout).unwrap();
    manifest["config"]["digest"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gather_builds_archives_the_air_gapped_side_verifies_and_pushes() {
    // The upstream asks for Bearer tokens from an issuer, like Docker Hub or GHCR.
    let upstream = TestRegistry::start_with(crate::registry_support::registry::RegistryOptions {
        token_auth: true,
        ..Default::default()
    });
    let work = tempfile::tempdir().unwrap();
    let images = crate::gather_pull::seed_upstream(&upstream, work.path()).await;
    let up = upstream.addr();
    // And a two-platform index pushed with skopeo: gather takes its linux/amd64 image.
    let platform_configs = crate::gather_pull::push_two_platform_index(
        &upstream,
        &client_for(&upstream),
        &images,
        work.path(),
        "team/multi:v1",
    )
    .await;
    let charms = vec![
        charm(work.path(), "app-one", &format!("{up}/team/app-one:v1")),
        charm(work.path(), "app-two", &format!("{up}/team/app-two:v2")),
        charm(work.path(), "app-three", &format!("{up}/team/absent:v0")),
        charm(work.path(), "app-multi", &format!("{up}/team/multi:v1")),
    ];
    // app-one from a folder, as `<name>_r<revision>.charm`: its revision comes from the name.
    let charms_dir = work.path().join("charms-dir");
    std::fs::create_dir_all(&charms_dir).unwrap();
    std::fs::write(charms_dir.join("app-one_r77.charm"), &charms[0].1).unwrap();
    let hub = FakeCharmhub::start(charms);
    let bundle = work.path().join("bundle.yaml");
    std::fs::write(
        &bundle,
        "bundle: kubernetes\napplications:\n  one:\n    charm: app-one\n    channel: 1.0/stable\n    scale: 1\n    trust: true\n  two:\n    charm: app-two\n    channel: 2.0/stable\n    scale: 1\n  three:\n    charm: app-three\n    channel: 3.0/stable\n    scale: 1\n  four:\n    charm: app-multi\n    channel: 4.0/stable\n    scale: 1\nrelations:\n- [one, two]\n",
    )
    .unwrap();
    let out_dir = work.path().join("carry");
    let answers = work.path().join("gather.toml");
    let gather_answers = |accept_missing: bool| GatherChoice {
        bundle: Some(bundle.clone()),
        charms_dir: Some(charms_dir.clone()),
        charmhub_url: Some(hub.url()),
        ca_file: Some(upstream.ca_file.clone()),
        output_dir: Some(out_dir.clone()),
        accept_missing,
        ..GatherChoice::default()
    };
    write_gather(&answers, gather_answers(false));
    let docker = docker_config(work.path(), &upstream);
    let gather_state = work.path().join("gather-state");

    // An image missing upstream is named with its application; the run stops before writing.
    let (code, out) = run_headless(&gather_state, &answers, &["gather"], &docker_env(&docker));
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(&format!(
            "{up}/team/absent:v0 (needed by three resource oci-image)"
        )),
        "{out}"
    );
    assert!(!out_dir.join("images.tar.gz").exists());

    // Accepted as missing, the rest is written; the pulled images are not pulled again.
    write_gather(&answers, gather_answers(true));
    let (code, out) = run_headless(&gather_state, &answers, &["gather"], &docker_env(&docker));
    assert_eq!(code, 0, "{out}");
    for f in [
        "images.tar.gz",
        "charms.tar.gz",
        "retagged-images.txt",
        "ckf-release.lock.json",
    ] {
        assert!(out_dir.join(f).exists(), "{f} missing:\n{out}");
    }
    let retagged = std::fs::read_to_string(out_dir.join("retagged-images.txt")).unwrap();
    assert_eq!(
        retagged,
        "172.17.0.2:5000/team/app-one:v1\n172.17.0.2:5000/team/app-two:v2\n172.17.0.2:5000/team/multi:v1"
    );
    // The tool crosses with the archives: a copy of this very binary, executable, named in
    // the lock by its version and SHA-256, and it runs.
    let lock: ckf_airgap::gather::lock::ReleaseLock =
        serde_json::from_slice(&std::fs::read(out_dir.join("ckf-release.lock.json")).unwrap())
            .unwrap();
    let tool = lock.tool.expect("the lock names the copied tool");
    let copy = out_dir.join(&tool.file);
    let bytes = std::fs::read(&copy).unwrap();
    assert_eq!(bytes, std::fs::read(crate::support::BIN).unwrap());
    assert_eq!(tool.sha256, ckf_airgap::oci::Digest::of(&bytes).hex());
    assert_eq!(tool.size, bytes.len() as u64);
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&copy).unwrap().permissions().mode() & 0o777,
        0o755
    );
    let version = Command::new(&copy).arg("--version").output().unwrap();
    assert_eq!(
        text(&version.stdout).trim(),
        format!("ckf-airgap {}", tool.version)
    );
    // Every pulled blob was dropped once written into the archive.
    let session = std::fs::read_dir(gather_state.join("sessions"))
        .unwrap()
        .flatten()
        .next()
        .unwrap()
        .path();
    let left: Vec<_> = std::fs::read_dir(session.join("gather/blobs"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert!(left.is_empty(), "blobs left after writing: {left:?}");
    let lock: Value =
        serde_json::from_slice(&std::fs::read(out_dir.join("ckf-release.lock.json")).unwrap())
            .unwrap();
    let issued = upstream
        .token
        .as_ref()
        .unwrap()
        .requests
        .lock()
        .unwrap()
        .clone();
    assert!(
        issued
            .iter()
            .any(|q| q.contains("scope=repository%3Ateam%2Fmulti%3Apull") && !q.contains("push")),
        "gather asks for pull-only tokens: {issued:?}"
    );
    assert_eq!(lock["images"].as_array().unwrap().len(), 3);
    assert_eq!(lock["charms"].as_array().unwrap().len(), 4);
    let from_folder = lock["charms"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "app-one")
        .unwrap();
    assert_eq!(from_folder["revision"], 77, "{from_folder}");
    let multi = &lock["images"][2];
    assert!(multi["index_digest"].is_string(), "{multi}");
    assert_eq!(multi["config_digest"], platform_configs[0].as_str());
    assert_eq!(lock["missing"][0]["image"], format!("{up}/team/absent:v0"));
    assert_eq!(
        lock["missing"][0]["needed_by"],
        json!(["three resource oci-image"]),
        "{}",
        lock["missing"]
    );

    // The air-gapped side: the lock file verified, the images pushed to a second registry.
    let target = TestRegistry::start();
    let fakes = Fakes::all();
    fakes.set_scenario(
        &json!({"rules": [answer("juju", &["version"], "3.6.4-genericlinux-amd64\n", "", 0)]}),
    );
    let install = work.path().join("install.toml");
    let mut spec = Answers {
        artifacts: Some(answers::artifacts(
            &out_dir.join("images.tar.gz"),
            &out_dir.join("charms.tar.gz"),
        )),
        registry: Some(RegistryAnswers {
            ca_file: Some(target.ca_file.clone()),
            ..answers::registry_login(
                format!("{}/ckf", target.addr()),
                USER,
                "CKF_GATHER_TEST_PASSWORD",
            )
        }),
        ..Answers::default()
    };
    for (step, reason) in [
        ("environment-checks", "the cluster is not under test here"),
        (
            "placeholder-mapping",
            "app-three's image was accepted as missing",
        ),
        ("gateway-type", "no gateway"),
        ("bundle-preview", "nothing to preview"),
        ("juju-deploy", "no cluster here"),
    ] {
        skip(&mut spec, step, reason);
    }
    answers::write(&install, &spec);
    let env = fakes.env();
    let mut env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    env.push(("CKF_GATHER_TEST_PASSWORD", PASS));
    let out = run(
        &work.path().join("install-state"),
        &["--mode", "headless", "--answers", install.to_str().unwrap()],
        &env,
    );
    let printed = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{printed}{}", text(&out.stderr));
    assert!(
        printed.contains("every one of its 3 images and 4 charms is in the archives"),
        "{printed}"
    );
    // The air-gapped side repeats who needs what was accepted as missing.
    assert!(
        printed.contains(&format!(
            "{up}/team/absent:v0 (needed by three resource oci-image) was accepted as missing"
        )),
        "{printed}"
    );
    assert_eq!(
        config_digest(&target, &format!("{}/ckf/team/multi:v1", target.addr())),
        platform_configs[0]
    );
    for img in &images {
        assert_eq!(
            config_digest(
                &target,
                &format!("{}/ckf/{}:{}", target.addr(), img.repository, img.tag)
            ),
            config_digest(&upstream, &format!("{up}/{}:{}", img.repository, img.tag)),
            "{}",
            img.repository
        );
    }
}

/// Docker Hub names pulled through a mirror that demands Bearer tokens (pull-only scopes)
/// and answers one blob with 429 and `Retry-After`, which is waited out and said.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gather_pulls_through_a_token_mirror_and_waits_out_a_429() {
    use crate::registry_support::proxy::{BearerFront, Fault, HttpProxy};
    use crate::registry_support::registry::RegistryOptions;
    let upstream = TestRegistry::start_with(RegistryOptions {
        sans: None,
        ..RegistryOptions::default()
    });
    let work = tempfile::tempdir().unwrap();
    crate::gather_pull::seed_upstream(&upstream, work.path()).await;
    let mirror = HttpProxy::start_with(
        upstream.port,
        vec![Fault {
            method: "GET",
            path_contains: "/blobs/",
            status: 429,
            retry_after: Some(1),
            body: "{\"errors\":[{\"code\":\"TOOMANYREQUESTS\"}]}",
            times: 1,
        }],
        Some(BearerFront {
            user: USER,
            pass: PASS,
        }),
    );
    let mirror_addr = format!("127.0.0.1:{}", mirror.port);
    let hub = FakeCharmhub::start(vec![charm(
        work.path(),
        "app-one",
        "docker.io/team/app-one:v1",
    )]);
    let bundle = work.path().join("bundle.yaml");
    std::fs::write(
        &bundle,
        "bundle: kubernetes\napplications:\n  one:\n    charm: app-one\n    channel: 1.0/stable\n    scale: 1\n",
    )
    .unwrap();
    let out_dir = work.path().join("carry");
    let answers = work.path().join("gather.toml");
    write_gather(
        &answers,
        GatherChoice {
            bundle: Some(bundle),
            charmhub_url: Some(hub.url()),
            output_dir: Some(out_dir.clone()),
            plain_http: vec![mirror_addr.clone()],
            mirrors: [("docker.io".to_string(), mirror_addr.clone())].into(),
            ..GatherChoice::default()
        },
    );
    let docker = work.path().join("docker");
    std::fs::create_dir_all(&docker).unwrap();
    {
        use base64::Engine;
        let auth = base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASS}"));
        std::fs::write(
            docker.join("config.json"),
            json!({"auths": {mirror_addr.clone(): {"auth": auth}}}).to_string(),
        )
        .unwrap();
    }
    let (code, out) = run_headless(
        &work.path().join("state"),
        &answers,
        &["gather"],
        &docker_env(&docker),
    );
    assert_eq!(code, 0, "{out}");
    assert_eq!(
        mirror.injected().len(),
        1,
        "the 429 was answered once: {:?}\n{out}",
        mirror.requests()
    );
    assert!(out.contains("waiting") && out.contains("429"), "{out}");
    let tokens = mirror.token_requests();
    assert!(
        tokens
            .iter()
            .any(|q| q.contains("scope=repository%3Ateam%2Fapp-one%3Apull") && !q.contains("push")),
        "pull-only scopes: {tokens:?}"
    );
    let retagged = std::fs::read_to_string(out_dir.join("retagged-images.txt")).unwrap();
    assert_eq!(retagged, "172.17.0.2:5000/team/app-one:v1");
}

/// Killed with SIGKILL in the middle of a blob and run again: no blob finished before the
/// kill is fetched twice (the upstream's own access log says so).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gather_killed_mid_pull_resumes_without_fetching_a_finished_blob_again() {
    use crate::registry_support::proxy::TcpProxy;
    let upstream = TestRegistry::start();
    let work = tempfile::tempdir().unwrap();
    crate::gather_pull::seed_upstream(&upstream, work.path()).await;
    let proxy = TcpProxy::start(upstream.port);
    let up = upstream.addr();
    let hub = FakeCharmhub::start(vec![
        charm(work.path(), "app-one", &format!("{up}/team/app-one:v1")),
        charm(work.path(), "app-two", &format!("{up}/team/app-two:v2")),
    ]);
    let bundle = work.path().join("bundle.yaml");
    std::fs::write(
        &bundle,
        "bundle: kubernetes\napplications:\n  one:\n    charm: app-one\n    channel: 1.0/stable\n  two:\n    charm: app-two\n    channel: 2.0/stable\n",
    )
    .unwrap();
    let answers = work.path().join("gather.toml");
    write_gather(
        &answers,
        GatherChoice {
            bundle: Some(bundle),
            charmhub_url: Some(hub.url()),
            ca_file: Some(upstream.ca_file.clone()),
            output_dir: Some(work.path().join("carry")),
            mirrors: [(up.clone(), format!("127.0.0.1:{}", proxy.port))].into(),
            ..GatherChoice::default()
        },
    );
    let docker = docker_config(work.path(), &upstream);
    {
        // The proxy's address needs the same credentials as the registry behind it.
        use base64::Engine;
        let auth = base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASS}"));
        std::fs::write(
            docker.join("config.json"),
            json!({"auths": {format!("127.0.0.1:{}", proxy.port): {"auth": auth}}}).to_string(),
        )
        .unwrap();
    }
    let state = work.path().join("state");
    // The first layers pass; the transfer freezes inside the 1 MiB random layer.
    proxy.stall_download_once_after(900 << 10);
    let mut child = Command::new(crate::support::BIN)
        .arg("--state-dir")
        .arg(&state)
        .args(["gather", "--mode", "headless", "--answers"])
        .arg(&answers)
        .env("DOCKER_CONFIG", &docker)
        .env("NO_COLOR", "1")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    assert!(
        proxy.wait_stalled(std::time::Duration::from_secs(60)),
        "the pull reached the stall"
    );
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let session = std::fs::read_dir(state.join("sessions"))
        .unwrap()
        .flatten()
        .next()
        .unwrap()
        .path();
    let finished: Vec<String> = std::fs::read_dir(session.join("gather/blobs"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with('.'))
        .collect();
    assert!(!finished.is_empty(), "some blobs finished before the kill");

    let (code, out) = run_headless(&state, &answers, &["gather"], &docker_env(&docker));
    assert_eq!(code, 0, "{out}");
    let log = upstream.log();
    for hex in &finished {
        let fetched = log
            .lines()
            .filter(|l| {
                l.contains("msg=\"response completed\"")
                    && l.contains("http.request.method=GET")
                    && l.contains(&format!("/blobs/sha256:{hex}\""))
            })
            .count();
        assert_eq!(fetched, 1, "blob {hex} was fetched {fetched} times");
    }
    assert!(work.path().join("carry/images.tar.gz").exists(), "{out}");
}

/// The upstream seeded with the standard images, and a release of one application (app-one,
/// its charm served by a fake Charmhub): the hub and the bundle's path.
pub(crate) async fn one_app_release(
    upstream: &TestRegistry,
    work: &Path,
) -> (FakeCharmhub, PathBuf) {
    crate::gather_pull::seed_upstream(upstream, work).await;
    let hub = FakeCharmhub::start(vec![charm(
        work,
        "app-one",
        &format!("{}/team/app-one:v1", upstream.addr()),
    )]);
    let bundle = work.join("bundle.yaml");
    std::fs::write(
        &bundle,
        "bundle: kubernetes\napplications:\n  one:\n    charm: app-one\n    channel: 1.0/stable\n    scale: 1\n",
    )
    .unwrap();
    (hub, bundle)
}

/// The full-screen wizard runs the gather flow: its six steps, Enter by Enter, to the end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gather_in_the_full_screen_wizard() {
    use crate::support::pty::Pty;
    let upstream = TestRegistry::start();
    let work = tempfile::tempdir().unwrap();
    let (hub, bundle) = one_app_release(&upstream, work.path()).await;
    let out_dir = work.path().join("carry");
    let answers = work.path().join("gather.toml");
    write_gather(
        &answers,
        GatherChoice {
            bundle: Some(bundle),
            charmhub_url: Some(hub.url()),
            ca_file: Some(upstream.ca_file.clone()),
            output_dir: Some(out_dir.clone()),
            ..GatherChoice::default()
        },
    );
    let docker = docker_config(work.path(), &upstream);
    let state = work.path().join("state");
    let docker = docker.display().to_string();
    let mut pty = Pty::spawn(
        &[
            "--state-dir",
            state.to_str().unwrap(),
            "gather",
            "--answers",
            answers.to_str().unwrap(),
        ],
        &[("DOCKER_CONFIG", docker.as_str())],
        work.path(),
        (120, 40),
    );
    for (n, title) in [
        (1, "What to gather"),
        (2, "Charms"),
        (3, "Images list"),
        (4, "Pull images"),
        (5, "Write archives"),
    ] {
        pty.wait_for_all(&[&format!("step {n}/6: {title}"), "Enter runs this step."]);
        pty.enter();
        pty.wait_for_all(&[&format!("step {n}/6"), "Enter moves to the next step."]);
        pty.enter();
    }
    pty.wait_for_all(&["step 6/6: Done", "Enter runs this step."]);
    pty.enter();
    pty.wait_for_all(&["carry", "The archives are ready. q quits."]);
    // Finished: q quits at once, without asking.
    pty.send("q");
    assert_eq!(pty.wait_exit(), 0);
    assert!(out_dir.join("images.tar.gz").exists());
    assert!(out_dir.join("ckf-release.lock.json").exists());
}

/// Where a channel holds one revision per base, the bundle's base picks it, else the newest.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn charmhub_picks_the_revision_for_the_bundles_base() {
    use ckf_airgap::gather::charmhub::Charmhub;
    use ckf_airgap::registry::TlsOptions;
    let hub = FakeCharmhub::start(vec![
        ("mysql-k8s_r22.charm".into(), b"built for 22.04".to_vec()),
        ("mysql-k8s_r24.charm".into(), b"built for 24.04".to_vec()),
    ]);
    let client = Charmhub::new(&hub.url(), &TlsOptions::default()).unwrap();
    let pinned = client
        .info("mysql-k8s", "8.0/stable", Some("ubuntu@22.04"))
        .await
        .unwrap();
    assert_eq!(pinned.revision, 22);
    let newest = client.info("mysql-k8s", "8.0/stable", None).await.unwrap();
    assert_eq!(newest.revision, 24);
    let dir = tempfile::tempdir().unwrap();
    let file = client.download(&pinned, dir.path()).await.unwrap();
    assert_eq!(std::fs::read(file).unwrap(), b"built for 22.04");
    let err = client.info("absent", "1.0/stable", None).await.unwrap_err();
    assert!(
        err.to_string()
            .contains("has no charm absent on channel 1.0/stable"),
        "{err}"
    );
}

/// Record mode: a staging cluster running the same release (a fake `kubectl` answering with
/// real-shaped workload JSON, init containers included) shows an image no charm names; gather
/// pulls it too, shows it apart, and the lock says where it was seen.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn record_mode_gathers_what_the_staging_cluster_runs_and_no_charm_names() {
    let upstream = TestRegistry::start();
    let work = tempfile::tempdir().unwrap();
    let (hub, bundle) = one_app_release(&upstream, work.path()).await;
    let up = upstream.addr();
    let kubeconfig = work.path().join("staging.kubeconfig");
    std::fs::write(&kubeconfig, "apiVersion: v1\nkind: Config\n").unwrap();
    let workloads = json!({"apiVersion": "v1", "kind": "List", "items": [
        {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "one", "namespace": "kubeflow"},
         "spec": {"template": {"spec": {
            "initContainers": [{"name": "charm-init", "image": format!("{up}/team/app-two:v2")}],
            "containers": [{"name": "one", "image": format!("{up}/team/app-one:v1")}]}}}},
        {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "one-0", "namespace": "kubeflow"},
         "spec": {"containers": [{"name": "one", "image": format!("{up}/team/app-one:v1")}],
                  "initContainers": [{"name": "charm-init", "image": format!("{up}/team/app-two:v2")}]}}
    ]});
    let fakes = Fakes::all();
    let kube = kubeconfig.display().to_string();
    fakes.set_scenario(&json!({"rules": [answer(
        "kubectl",
        &["--kubeconfig", &kube, "get", "pods,deployments,statefulsets,daemonsets,jobs,cronjobs",
          "-n", "kubeflow", "-o", "json"],
        &workloads.to_string(),
        "",
        0,
    )]}));
    let out_dir = work.path().join("carry");
    let answers = work.path().join("gather.toml");
    write_gather(
        &answers,
        GatherChoice {
            bundle: Some(bundle),
            charmhub_url: Some(hub.url()),
            ca_file: Some(upstream.ca_file.clone()),
            output_dir: Some(out_dir.clone()),
            record_kubeconfig: Some(kubeconfig),
            ..GatherChoice::default()
        },
    );
    let docker = docker_config(work.path(), &upstream);
    let env = fakes.env_with(&docker_env(&docker));
    let (code, out) = run_headless(&work.path().join("state"), &answers, &["gather"], &env);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("record mode: 1 image(s) the workloads of kubeflow run that no charm names"),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "{up}/team/app-two:v2 (seen in StatefulSet/one container charm-init, Pod/one-0 container charm-init)"
        )),
        "{out}"
    );
    let lock: Value =
        serde_json::from_slice(&std::fs::read(out_dir.join("ckf-release.lock.json")).unwrap())
            .unwrap();
    let images = lock["images"].as_array().unwrap();
    assert_eq!(images.len(), 2, "{lock}");
    let recorded = images
        .iter()
        .find(|i| i["upstream"] == format!("{up}/team/app-two:v2"))
        .unwrap();
    assert_eq!(
        recorded["seen_in"],
        json!([
            "StatefulSet/one container charm-init",
            "Pod/one-0 container charm-init"
        ])
    );
    let named = images
        .iter()
        .find(|i| i["upstream"] == format!("{up}/team/app-one:v1"))
        .unwrap();
    assert!(named.get("seen_in").is_none(), "{named}");
}

/// CKF 1.11's real bundle and charm files, gathered through mirrors that stand for every
/// public registry the charms name: every tag-named image the charms name (by the test's own
/// reading of their files) and every image of the release's runtime table is in the lock, and
/// the digest-pinned ones, which no local registry can hold under their upstream digest, are
/// the only ones missing, each with who needs it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gather_of_the_real_1_11_release_through_mirrors_archives_every_image_it_needs() {
    use crate::registry_support::images::{Kind, bytes, image, layer};
    use ckf_airgap::gather::images::pull_source;
    use ckf_airgap::registry::{MemoryLedger, PushOptions, Pusher};
    use std::collections::BTreeSet;

    let upstream = TestRegistry::start();
    let work = tempfile::tempdir().unwrap();
    let rel = crate::release_bundles::release_dir("1.11");
    let bundle_text = std::fs::read_to_string(rel.join("bundle.yaml")).unwrap();
    let mut charms = Vec::new();
    let mut wanted: BTreeSet<String> = BTreeSet::new();
    let release = ckf_airgap::ckf_release::CkfRelease::V1_11;
    for (_, charm, _) in crate::release_bundles::bundle_apps(&bundle_text) {
        if charms
            .iter()
            .any(|(f, _): &(String, Vec<u8>)| f.starts_with(&format!("{charm}_r")))
        {
            continue;
        }
        let dir = rel.join("charms").join(&charm);
        wanted.extend(crate::release_bundles::expected_images(&dir));
        for runtime in ckf_airgap::release::runtime_images::runtime_images(release, &charm) {
            wanted.insert(runtime.image);
        }
        charms.push(charm_zip_from_dir(&dir, 1, "22.04").unwrap());
    }
    assert!(wanted.contains("alpine:3.10"), "{wanted:?}");
    // One tiny image under every tag-named upstream name, at the path gather asks for.
    let scratch = work.path().join("layers");
    std::fs::create_dir_all(&scratch).unwrap();
    let base = layer(&scratch, "base", &bytes(7, 4096, true), Kind::Plain);
    let (pinned, tagged): (Vec<&String>, Vec<&String>) =
        wanted.iter().partition(|u| u.contains("@sha256:"));
    let mut seeds = Vec::new();
    let mut registries = BTreeSet::new();
    for upstream_name in &tagged {
        let src = pull_source(upstream_name);
        registries.insert(src.registry.clone());
        seeds.push(image(
            &scratch,
            &src.repository,
            &src.reference,
            vec![base.clone()],
        ));
    }
    for upstream_name in &pinned {
        registries.insert(pull_source(upstream_name).registry);
    }
    Pusher::new(
        client_for(&upstream),
        PushOptions::default(),
        std::sync::Arc::new(MemoryLedger::new()),
        crate::registry_support::Recorder::new(),
    )
    .push(&seeds)
    .await
    .unwrap();
    let hub = FakeCharmhub::start(charms);
    let bundle = work.path().join("bundle.yaml");
    std::fs::write(&bundle, &bundle_text).unwrap();
    let out_dir = work.path().join("carry");
    let answers = work.path().join("gather.toml");
    write_gather(
        &answers,
        GatherChoice {
            bundle: Some(bundle),
            charmhub_url: Some(hub.url()),
            ca_file: Some(upstream.ca_file.clone()),
            output_dir: Some(out_dir.clone()),
            accept_missing: true,
            mirrors: registries
                .iter()
                .map(|r| (r.clone(), upstream.addr()))
                .collect(),
            ..GatherChoice::default()
        },
    );
    let docker = docker_config(work.path(), &upstream);
    let (code, out) = run_headless(
        &work.path().join("state"),
        &answers,
        &["gather"],
        &docker_env(&docker),
    );
    assert_eq!(code, 0, "{out}");
    let lock: Value =
        serde_json::from_slice(&std::fs::read(out_dir.join("ckf-release.lock.json")).unwrap())
            .unwrap();
    let locked: BTreeSet<String> = lock["images"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["upstream"].as_str().unwrap().to_owned())
        .collect();
    let tagged: BTreeSet<String> = tagged.into_iter().cloned().collect();
    assert_eq!(
        locked.difference(&tagged).collect::<Vec<_>>(),
        Vec::<&String>::new(),
        "gathered, not wanted"
    );
    assert_eq!(
        tagged.difference(&locked).collect::<Vec<_>>(),
        Vec::<&String>::new(),
        "wanted, not gathered"
    );
    let missing: BTreeSet<String> = lock["missing"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            assert!(
                !m["needed_by"].as_array().unwrap().is_empty(),
                "{m}: who needs it"
            );
            m["image"].as_str().unwrap().to_owned()
        })
        .collect();
    let pinned: BTreeSet<String> = pinned.into_iter().cloned().collect();
    assert_eq!(missing, pinned);
    assert!(
        pinned
            .iter()
            .any(|p| p.contains("/eventing/cmd/jobsink@sha256:")),
        "the runtime table's job-sink is wanted: {pinned:?}"
    );
}

/// istio-pilot as its charm files name it: its `image-configuration` default installs Istio
/// `tag` from `hub` (the real charm's form, `tests/fixtures/releases/1.11/charms/istio-pilot`).
pub(crate) fn istio_pilot(dir: &Path, tag: &str, hub: &str, revision: u64) -> (String, Vec<u8>) {
    let folder = dir.join(format!("istio-pilot-{tag}"));
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::write(folder.join("metadata.yaml"), "name: istio-pilot\n").unwrap();
    std::fs::write(
        folder.join("config.yaml"),
        format!(
            "options:\n  image-configuration:\n    default: |\n      pilot-image: 'pilot'  # values.pilot.image\n      global-tag: '{tag}'  # values.global.tag\n      global-hub: '{hub}' # values.global.hub\n      global-proxy-image: 'proxyv2'\n      global-proxy-init-image: 'proxyv2'\n    type: string\n"
        ),
    )
    .unwrap();
    charm_zip_from_dir(&folder, revision, "24.04").unwrap()
}

/// The upgrade's differential set: only what the installed release's lock lacks is carried
/// (the new image, the changed charm), plus istio-pilot for every minor version between the
/// installed 1.24 and the target 1.28, each with its own images; the lock names its base.
/// When the target needs nothing new, no image is archived.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upgrade_gather_carries_only_what_the_installed_release_lacks_and_every_istio_hop() {
    use crate::registry_support::images::{Kind, bytes, image, layer};
    use ckf_airgap::gather::lock::{LockedCharm, LockedImage, ReleaseLock};
    let upstream = TestRegistry::start();
    let up = upstream.addr();
    let work = tempfile::tempdir().unwrap();
    let shared = layer(
        work.path(),
        "shared",
        &bytes(9, 64 << 10, true),
        Kind::Plain,
    );
    let tags = ["1.25.5", "1.26.8", "1.27.5", "1.28.0"];
    let mut seeded = vec![
        image(work.path(), "team/app-one", "v1", vec![shared.clone()]),
        image(work.path(), "team/app-two", "v2", vec![shared.clone()]),
    ];
    for tag in tags {
        for name in ["istio/pilot", "istio/proxyv2"] {
            seeded.push(image(work.path(), name, tag, vec![shared.clone()]));
        }
    }
    // Ten names for one image (the same config and layer) in one push.
    ckf_airgap::registry::Pusher::new(
        client_for(&upstream),
        ckf_airgap::registry::PushOptions::default(),
        Arc::new(ckf_airgap::registry::MemoryLedger::new()),
        crate::registry_support::Recorder::new(),
    )
    .push(&seeded)
    .await
    .unwrap();
    let hub_path = format!("{up}/istio");
    let one = charm(work.path(), "app-one", &format!("{up}/team/app-one:v1"));
    let two = charm(work.path(), "app-two", &format!("{up}/team/app-two:v2"));
    let target_istio = istio_pilot(work.path(), "1.28.0", &hub_path, 9);
    // The installed release ran app-one in this very file and istio-pilot on 1.24.
    let base_lock = ReleaseLock {
        release: Some("1.10".into()),
        charms: vec![
            LockedCharm {
                name: "app-one".into(),
                file: one.0.clone(),
                channel: Some("1.0/stable".into()),
                revision: Some(7),
                sha256: hex::encode(Sha256::digest(&one.1)),
                bases: vec!["ubuntu@24.04".into()],
                upgrade_hop: None,
            },
            LockedCharm {
                name: "istio-pilot".into(),
                file: "istio-pilot_r1.charm".into(),
                channel: Some("1.24/stable".into()),
                revision: Some(1),
                sha256: "0".repeat(64),
                bases: vec!["ubuntu@24.04".into()],
                upgrade_hop: None,
            },
        ],
        images: vec![LockedImage {
            upstream: format!("{up}/team/app-one:v1"),
            index_digest: None,
            manifest_digest: ckf_airgap::oci::Digest::of(b"m"),
            config_digest: ckf_airgap::oci::Digest::of(b"c"),
            repo_tags: vec![format!("172.17.0.2:5000/team/app-one:v1")],
            member: "app-one.tar".into(),
            size: 1,
            needed_by: vec!["one resource oci-image".into()],
            seen_in: vec![],
        }],
        ..ReleaseLock::default()
    };
    let base_path = work.path().join("installed").join("ckf-release.lock.json");
    std::fs::create_dir_all(base_path.parent().unwrap()).unwrap();
    std::fs::write(&base_path, serde_json::to_vec(&base_lock).unwrap()).unwrap();
    // The intermediate istio-pilot charms are in the folder; the target's comes from Charmhub.
    let charms_dir = work.path().join("charms-dir");
    std::fs::create_dir_all(&charms_dir).unwrap();
    for (i, tag) in tags[..3].iter().enumerate() {
        let (_, bytes) = istio_pilot(work.path(), tag, &hub_path, 20 + i as u64);
        std::fs::write(
            charms_dir.join(format!("istio-pilot_r{}.charm", 20 + i)),
            bytes,
        )
        .unwrap();
    }
    let hub = FakeCharmhub::start(vec![one.clone(), two.clone(), target_istio]);
    let bundle = work.path().join("bundle.yaml");
    std::fs::write(
        &bundle,
        "bundle: kubernetes\napplications:\n  one:\n    charm: app-one\n    channel: 1.0/stable\n    scale: 1\n  two:\n    charm: app-two\n    channel: 2.0/stable\n    scale: 1\n  istio-pilot:\n    charm: istio-pilot\n    channel: 1.28/stable\n    scale: 1\n    trust: true\n",
    )
    .unwrap();
    let docker = docker_config(work.path(), &upstream);
    let out_dir = work.path().join("carry");
    let answers = work.path().join("gather.toml");
    write_gather(
        &answers,
        GatherChoice {
            bundle: Some(bundle.clone()),
            charms_dir: Some(charms_dir.clone()),
            charmhub_url: Some(hub.url()),
            ca_file: Some(upstream.ca_file.clone()),
            output_dir: Some(out_dir.clone()),
            upgrade_from: Some(base_path.clone()),
            ..GatherChoice::default()
        },
    );
    let (code, out) = run_headless(
        &work.path().join("state"),
        &answers,
        &["gather"],
        &docker_env(&docker),
    );
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("3 intermediate charm(s) gathered (1.25, 1.26, 1.27)"),
        "{out}"
    );
    let lock: ReleaseLock =
        serde_json::from_slice(&std::fs::read(out_dir.join("ckf-release.lock.json")).unwrap())
            .unwrap();
    let mut archived: Vec<String> = lock.images.iter().map(|i| i.upstream.clone()).collect();
    archived.sort();
    let mut want = vec![format!("{up}/team/app-two:v2")];
    for tag in tags {
        want.push(format!("{up}/istio/pilot:{tag}"));
        want.push(format!("{up}/istio/proxyv2:{tag}"));
    }
    want.sort();
    assert_eq!(archived, want);
    let hops: Vec<(Option<String>, Option<String>)> = lock
        .charms
        .iter()
        .filter(|c| c.name == "istio-pilot")
        .map(|c| (c.channel.clone(), c.upgrade_hop.clone()))
        .collect();
    assert_eq!(
        hops,
        [
            (Some("1.28/stable".into()), None),
            (Some("1.25/stable".into()), Some("1.25".into())),
            (Some("1.26/stable".into()), Some("1.26".into())),
            (Some("1.27/stable".into()), Some("1.27".into())),
        ]
    );
    assert!(
        !lock.charms.iter().any(|c| c.name == "app-one"),
        "{:?}",
        lock.charms
    );
    let base = lock.base.expect("the lock names its base");
    assert_eq!(base.release.as_deref(), Some("1.10"));
    assert_eq!(
        base.sha256,
        hex::encode(Sha256::digest(std::fs::read(&base_path).unwrap()))
    );
    assert_eq!(base.images, [format!("{up}/team/app-one:v1")]);
    assert_eq!(base.charms, ["app-one"]);
    // The archives hold what the lock says, read by an independent reader: tar.
    let listing = Command::new("tar")
        .arg("-tzf")
        .arg(out_dir.join("charms.tar.gz"))
        .output()
        .unwrap();
    let listing = text(&listing.stdout);
    assert!(!listing.contains("app-one"), "{listing}");
    assert_eq!(listing.matches("istio-pilot_r").count(), 4, "{listing}");

    // A hop missing from the folder is asked of Charmhub; a charm there that installs another
    // Istio version is refused, naming what to do.
    let hop_126 = charms_dir.join("istio-pilot_r21.charm");
    let kept = std::fs::read(&hop_126).unwrap();
    std::fs::remove_file(&hop_126).unwrap();
    let (code, out) = run_headless(
        &work.path().join("state-no-hop"),
        &answers,
        &["gather"],
        &docker_env(&docker),
    );
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("is istio-pilot for 1.26/stable, but it installs Istio 1.28.0: put the 1.26 charm in the charms folder"),
        "{out}"
    );
    std::fs::write(&hop_126, kept).unwrap();

    // A target that needs nothing the installed release lacks archives no image.
    let mut all = base_lock.clone();
    all.images.extend(lock.images.iter().cloned());
    all.charms.retain(|c| c.name == "app-one");
    all.charms.extend(
        lock.charms
            .iter()
            .filter(|c| c.upgrade_hop.is_none())
            .cloned(),
    );
    std::fs::write(&base_path, serde_json::to_vec(&all).unwrap()).unwrap();
    let same_dir = work.path().join("carry-same");
    write_gather(
        &answers,
        GatherChoice {
            bundle: Some(bundle),
            charms_dir: Some(charms_dir),
            charmhub_url: Some(hub.url()),
            ca_file: Some(upstream.ca_file.clone()),
            output_dir: Some(same_dir.clone()),
            upgrade_from: Some(base_path),
            ..GatherChoice::default()
        },
    );
    let (code, out) = run_headless(
        &work.path().join("state-same"),
        &answers,
        &["gather"],
        &docker_env(&docker),
    );
    assert_eq!(code, 0, "{out}");
    let lock: ReleaseLock =
        serde_json::from_slice(&std::fs::read(same_dir.join("ckf-release.lock.json")).unwrap())
            .unwrap();
    assert!(lock.images.is_empty(), "{:?}", lock.images);
    assert!(
        out.contains("4 image(s) the installed release already has are not pulled"),
        "{out}"
    );
    assert!(
        out.contains("3 charm(s) the installed release runs in the same file are not carried"),
        "{out}"
    );
    let listing = Command::new("tar")
        .arg("-tzf")
        .arg(same_dir.join("images.tar.gz"))
        .output()
        .unwrap();
    assert!(listing.status.success(), "{}", text(&listing.stderr));
}
