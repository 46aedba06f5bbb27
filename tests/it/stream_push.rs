//! The streaming push: the registry is reachable while the artifacts step reads
//! `images.tar.gz`, so each layer goes up as it is read, compressed in blocks and uploaded in
//! chunks to a staging repository, committed only once its image verifies. The real binary,
//! headless, against Debian's registry; skopeo checks what arrived.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::push_step::{PASSWORD_ENV, PUSH_ENV, answers, trusting};
use crate::registry_support::images::uncompressed;
use crate::registry_support::proxy::{BodyRules, Fault, HttpProxy};
use crate::registry_support::registry::{PASS, RegistryOptions, TestRegistry, USER};
use crate::support::answers::registry_mut;
use crate::support::{run_headless, text};
use ckf_airgap::answers::Answers;
use ckf_airgap::synth::{ReleaseSpec, SynthRelease, generate_release};

fn release(dir: &Path) -> SynthRelease {
    generate_release(&large_layers(), &dir.join("rel")).unwrap()
}

/// A plain-HTTP registry with a proxy in front (`proxy` starts it on the registry's port) and
/// answers that push through the proxy.
struct ProxiedRun {
    dir: tempfile::TempDir,
    release: SynthRelease,
    reg: TestRegistry,
    proxy: HttpProxy,
    answers: PathBuf,
}

fn proxied_run(spec: ReleaseSpec, proxy: impl FnOnce(u16) -> HttpProxy) -> ProxiedRun {
    let dir = tempfile::tempdir().unwrap();
    let release = generate_release(&spec, &dir.path().join("rel")).unwrap();
    let reg = TestRegistry::start_with(RegistryOptions {
        sans: None,
        ..RegistryOptions::default()
    });
    let proxy = proxy(reg.port);
    let answers = answers(
        dir.path(),
        &release,
        &format!("127.0.0.1:{}", proxy.port),
        |a| registry_mut(a).plain_http = true,
    );
    ProxiedRun {
        dir,
        release,
        reg,
        proxy,
        answers,
    }
}

/// Layers above the reader's 1 MiB in-memory limit, so they stream, in every archive form.
fn large_layers() -> ReleaseSpec {
    ReleaseSpec {
        base_layer_sizes: vec![3 << 20, 2 << 20],
        app_layer_size: 3 << 19,
        ..ReleaseSpec::default()
    }
}

/// skopeo finds every image of the release in the registry with the archive's layers.
fn every_image_arrived(reg: &TestRegistry, release: &SynthRelease, tls: bool) {
    for image in &release.images {
        skopeo_layers_match(
            reg,
            &target(&reg.addr(), &image.reference),
            &image.diff_ids,
            tls,
        );
    }
}

/// Every file under `dir` larger than `limit`.
fn large_files(dir: &Path, limit: u64) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in entries.flatten() {
        let p = e.path();
        let meta = std::fs::symlink_metadata(&p).unwrap();
        if meta.is_dir() {
            out.extend(large_files(&p, limit));
        } else if meta.len() > limit {
            out.push(p);
        }
    }
    out
}

fn sha(bytes: &[u8]) -> String {
    crate::registry_support::images::sha(bytes).to_string()
}

/// skopeo copies the image out; every layer inflates to the diff_id the archive's config names.
fn skopeo_layers_match(reg: &TestRegistry, reference: &str, diff_ids: &[String], tls: bool) {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new("skopeo")
        .args(["copy", "-q", "--insecure-policy"])
        .arg(format!("--src-tls-verify={tls}"))
        .arg("--src-cert-dir")
        .arg(&reg.cert_dir)
        .args(["--src-creds", &format!("{USER}:{PASS}")])
        .arg(format!("docker://{reference}"))
        .arg(format!("dir:{}", dir.path().display()))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "skopeo copy {reference}: {}",
        text(&out.stderr)
    );
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("manifest.json")).unwrap()).unwrap();
    let layers = manifest["layers"].as_array().unwrap();
    assert_eq!(layers.len(), diff_ids.len(), "{reference}");
    for (layer, diff_id) in layers.iter().zip(diff_ids) {
        let digest = layer["digest"].as_str().unwrap();
        let blob = std::fs::read(dir.path().join(digest.trim_start_matches("sha256:"))).unwrap();
        assert_eq!(sha(&blob), digest);
        let raw = uncompressed(layer["mediaType"].as_str().unwrap(), blob);
        assert_eq!(sha(&raw), format!("sha256:{diff_id}"), "{reference}");
    }
}

/// The digests committed in the staging repository by these requests.
fn staging_commits(requests: &[String]) -> Vec<String> {
    requests
        .iter()
        .filter(|r| r.starts_with("PUT ") && r.contains("ckf-airgap-staging"))
        .filter_map(|r| r.split("digest=sha256%3A").nth(1))
        .map(|d| d.chars().take(64).collect())
        .collect()
}

fn blob_size(reg: &TestRegistry, hex: &str) -> u64 {
    let path = reg
        .storage()
        .join("docker/registry/v2/blobs/sha256")
        .join(&hex[..2])
        .join(hex)
        .join("data");
    std::fs::metadata(&path).unwrap().len()
}

fn target(reg_addr: &str, reference: &str) -> String {
    format!("{reg_addr}/ckf/{}", reference.split_once('/').unwrap().1)
}

/// A release with large layers, a TLS registry and answers that push to it (`more`: the
/// test's own answers).
struct TlsRun {
    dir: tempfile::TempDir,
    release: SynthRelease,
    reg: TestRegistry,
    answers: PathBuf,
}

fn tls_run(more: impl FnOnce(&mut Answers)) -> TlsRun {
    let dir = tempfile::tempdir().unwrap();
    let release = release(dir.path());
    let reg = TestRegistry::start();
    let answers = answers(dir.path(), &release, &reg.addr(), |a| {
        trusting(a, &reg);
        more(a);
    });
    TlsRun {
        dir,
        release,
        reg,
        answers,
    }
}

#[test]
fn layers_go_to_the_registry_while_the_archive_is_read_and_none_is_spooled() {
    let TlsRun {
        dir,
        release,
        reg,
        answers,
    } = tls_run(|_| {});
    let state = dir.path().join("state");
    let (code, out) = run_headless(&state, &answers, &[], PUSH_ENV);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("while reading"), "{out}");
    assert!(out.contains("[image-push] done"), "{out}");
    // The push step found every image pushed: it uploaded nothing itself.
    assert!(out.contains(": 0 blobs uploaded"), "{out}");
    every_image_arrived(&reg, &release, true);
    // No layer reached the disk: the work directory holds only configs and small files.
    let big = large_files(&dir.path().join("work"), 1 << 20);
    assert!(big.is_empty(), "spooled: {big:?}");
}

#[test]
fn one_image_at_a_time_streams_and_leaves_no_spool() {
    let TlsRun {
        dir,
        release,
        reg,
        answers,
    } = tls_run(|a| a.artifacts.as_mut().unwrap().one_image_at_a_time = true);
    let (code, out) = run_headless(&dir.path().join("state"), &answers, &[], PUSH_ENV);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("pushed while the archive is read"), "{out}");
    every_image_arrived(&reg, &release, true);
    // Every image's small files were dropped once it was pushed.
    let left = large_files(&dir.path().join("work").join("blobs"), 0);
    assert!(left.is_empty(), "spool left behind: {left:?}");
}

#[test]
fn zstd_layers_when_asked_for_are_pushed_with_oci_media_types() {
    let TlsRun {
        dir,
        release,
        reg,
        answers,
    } = tls_run(|a| registry_mut(a).layer_compression = Some("zstd".into()));
    let (code, out) = run_headless(&dir.path().join("state"), &answers, &[], PUSH_ENV);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("while reading"), "{out}");
    let mut zstd_layers = 0;
    for image in &release.images {
        let reference = target(&reg.addr(), &image.reference);
        skopeo_layers_match(&reg, &reference, &image.diff_ids, true);
        let raw = Command::new("skopeo")
            .args(["inspect", "--raw", "--cert-dir"])
            .arg(&reg.cert_dir)
            .args(["--creds", &format!("{USER}:{PASS}")])
            .arg(format!("docker://{reference}"))
            .output()
            .unwrap();
        let manifest: serde_json::Value = serde_json::from_slice(&raw.stdout).unwrap();
        let layers = manifest["layers"].as_array().unwrap();
        if layers
            .iter()
            .any(|l| l["mediaType"] == "application/vnd.oci.image.layer.v1.tar+zstd")
        {
            zstd_layers += 1;
            assert_eq!(
                manifest["mediaType"], "application/vnd.oci.image.manifest.v1+json",
                "{reference}"
            );
        }
    }
    assert!(zstd_layers > 0, "no layer went up as zstd");
}

#[test]
fn a_registry_that_refuses_a_chunk_is_named_and_a_retry_goes_on() {
    // The first chunk sent to the staging repository is refused (not retryable).
    let ProxiedRun {
        dir,
        release,
        reg,
        proxy: _proxy,
        answers,
    } = proxied_run(large_layers(), |port| {
        HttpProxy::start(
            port,
            vec![Fault {
                method: "PATCH",
                path_contains: "ckf-airgap-staging/blobs/uploads",
                status: 400,
                retry_after: None,
                body: r#"{"errors":[{"code":"BLOB_UPLOAD_INVALID","message":"injected"}]}"#,
                times: 1,
            }],
        )
    });
    let state = dir.path().join("state");
    let (code, out) = run_headless(&state, &answers, &[], PUSH_ENV);
    assert_eq!(code, 1, "{out}");
    // Whether the refusal reaches the reader (a chunk in flight) or the image's push (the
    // commit), the message names the registry's answer and says the archive is fine.
    assert!(
        out.contains("injected") && out.contains("The archive itself is fine"),
        "{out}"
    );
    assert!(!out.contains("corrupt"), "the archive is not blamed: {out}");
    let (code, out) = run_headless(&state, &answers, &[], PUSH_ENV);
    assert_eq!(code, 0, "{out}");
    every_image_arrived(&reg, &release, false);
}

/// Rewrites `images.tar.gz` with one byte of the first member's largest file flipped.
fn damage_largest_layer(release: &SynthRelease) -> String {
    let raw = std::fs::read(&release.images_gz).unwrap();
    let mut tar_bytes = Vec::new();
    flate2::read::MultiGzDecoder::new(&raw[..])
        .read_to_end(&mut tar_bytes)
        .unwrap();
    let mut outer = tar::Archive::new(&tar_bytes[..]);
    let mut builder = tar::Builder::new(Vec::new());
    let mut damaged = None;
    for entry in outer.entries().unwrap() {
        let mut entry = entry.unwrap();
        let mut header = entry.header().clone();
        let mut body = Vec::new();
        entry.read_to_end(&mut body).unwrap();
        if damaged.is_none() {
            let mut inner = tar::Archive::new(&body[..]);
            let mut rebuilt = tar::Builder::new(Vec::new());
            let mut files: Vec<(tar::Header, Vec<u8>)> = Vec::new();
            for e in inner.entries().unwrap() {
                let mut e = e.unwrap();
                let h = e.header().clone();
                let mut b = Vec::new();
                e.read_to_end(&mut b).unwrap();
                files.push((h, b));
            }
            let largest = (0..files.len()).max_by_key(|i| files[*i].1.len()).unwrap();
            files[largest].1[1 << 20] ^= 0xff;
            damaged = Some(sha(&files[largest].1));
            for (h, b) in files {
                rebuilt.append(&h, &b[..]).unwrap();
            }
            body = rebuilt.into_inner().unwrap();
            header.set_size(body.len() as u64);
            header.set_cksum();
        }
        builder.append(&header, &body[..]).unwrap();
    }
    let tar_bytes = builder.into_inner().unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&tar_bytes).unwrap();
    std::fs::write(&release.images_gz, gz.finish().unwrap()).unwrap();
    damaged.unwrap()
}

#[test]
fn a_layer_that_does_not_match_its_diff_id_is_never_committed() {
    let TlsRun {
        dir,
        release,
        reg,
        answers,
    } = tls_run(|_| {});
    let damaged = damage_largest_layer(&release);
    let (code, out) = run_headless(&dir.path().join("state"), &answers, &[], PUSH_ENV);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("while reading"), "{out}");
    assert!(
        out.contains(&damaged) && out.contains(&release.images[0].member),
        "the message names the member and the layer's real digest: {out}"
    );
    // No blob in the registry holds the damaged bytes, compressed or not.
    let blobs = reg.storage().join("docker/registry/v2/blobs");
    for data in large_files(&blobs, 0) {
        let bytes = std::fs::read(&data).unwrap();
        let mut inflated = Vec::new();
        let _ = flate2::read::MultiGzDecoder::new(&bytes[..]).read_to_end(&mut inflated);
        assert_ne!(sha(&bytes), damaged, "{}", data.display());
        assert_ne!(sha(&inflated), damaged, "{} was committed", data.display());
    }
    // Nor is the image there under its tag.
    let first = target(&reg.addr(), &release.images[0].reference);
    let inspect = Command::new("skopeo")
        .args(["inspect", "--cert-dir"])
        .arg(&reg.cert_dir)
        .args(["--creds", &format!("{USER}:{PASS}")])
        .arg(format!("docker://{first}"))
        .output()
        .unwrap();
    assert!(!inspect.status.success(), "{first} must not exist");
}

#[test]
fn killed_in_the_middle_it_resumes_without_sending_a_finished_layer_again() {
    let ProxiedRun {
        dir,
        release,
        reg,
        proxy,
        answers,
    } = proxied_run(large_layers(), |port| HttpProxy::start(port, Vec::new()));
    let state = dir.path().join("state");
    // The first run is killed (SIGKILL) as soon as it says it pushed its second image: the
    // first member is then finished and recorded, the second perhaps not.
    let mut child = Command::new(crate::support::BIN)
        .arg("--state-dir")
        .arg(&state)
        .args(["--mode", "headless", "--answers", answers.to_str().unwrap()])
        .env(PASSWORD_ENV, PASS)
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut pushed = Vec::new();
    while pushed.len() < 2 {
        let line = lines.next().expect("the run ended before pushing").unwrap();
        if let Some(rest) = line.split_once("pushed ").map(|(_, r)| r.to_string())
            && line.contains("[artifacts]")
        {
            pushed.push(rest);
        }
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let before = proxy.requests().len();
    let patches_before = proxy.patches().len();
    let first_commits = staging_commits(&proxy.requests());
    assert!(!first_commits.is_empty(), "{pushed:?}");

    let (code, out) = run_headless(&state, &answers, &[], PUSH_ENV);
    assert_eq!(code, 0, "{out}");
    let second: Vec<String> = proxy.requests().into_iter().skip(before).collect();
    let second_commits = staging_commits(&second);
    // No blob committed in the first run is committed again…
    for d in &second_commits {
        assert!(
            !first_commits.contains(d),
            "{d} committed twice: {second:#?}"
        );
    }
    // …and every byte the second run uploaded belongs to a blob it committed: nothing
    // finished was sent again, not even to be thrown away.
    let sent: u64 = proxy
        .patches()
        .iter()
        .skip(patches_before)
        .map(|p| p.received)
        .sum();
    let committed: u64 = second_commits.iter().map(|d| blob_size(&reg, d)).sum();
    assert_eq!(sent, committed, "{second:#?}");
    assert!(
        out.contains("already read in an earlier run"),
        "finished members are read past: {out}"
    );
    every_image_arrived(&reg, &release, false);
    // The resumed run cancelled every upload the killed one left open. Those it could not were
    // moved on by a chunk the registry took after the kill (their state token is out of
    // date): each was tried, and the run says why it stays.
    let log = reg.log();
    // An empty one may stay: it was opened by a request the killed run never heard the answer
    // to, so it never learnt its id (nor can anyone but the registry's purge remove it).
    let left: Vec<PathBuf> = open_uploads(&reg)
        .into_iter()
        .filter(|u| std::fs::metadata(u.join("data")).is_ok_and(|m| m.len() > 0))
        .collect();
    for upload in &left {
        let id = upload.file_name().unwrap().to_string_lossy().to_string();
        assert!(
            log.lines().any(|l| l.contains("method=DELETE")
                && l.contains(&id)
                && l.contains("wrong offest")),
            "{id} was left without a try: {:?}",
            walk(upload)
        );
    }
    if !left.is_empty() {
        assert!(out.contains("could not be cancelled"), "{out}");
    }
}

fn walk(dir: &Path) -> Vec<(PathBuf, u64)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push((
                p.clone(),
                std::fs::metadata(&p).map(|m| m.len()).unwrap_or(0),
            ));
        }
    }
    out
}

/// The upload sessions the registry holds (`_uploads/<id>` in its storage).
fn open_uploads(reg: &TestRegistry) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![reg.storage()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if !path.is_dir() {
                continue;
            }
            if entry.file_name() == "_uploads" {
                // An upload the registry still holds has its data and start time. Distribution
                // 2.8 leaves a lone `hashstates/` behind when it cancels one (its close writes
                // a hash state after the removal): that is no upload of ours.
                out.extend(
                    std::fs::read_dir(&path)
                        .unwrap()
                        .flatten()
                        .map(|e| e.path())
                        .filter(|u| u.join("data").exists() || u.join("startedat").exists()),
                );
            } else {
                stack.push(path);
            }
        }
    }
    out
}

/// Requests of the form `METHOD /v2/…` as the proxy saw them, for the staging repository.
fn staging_requests<'a>(requests: &'a [String], method: &str, part: &str) -> Vec<&'a String> {
    requests
        .iter()
        .filter(|r| r.starts_with(method) && r.contains(&format!("/ckf-airgap-staging/{part}")))
        .collect()
}

#[test]
fn the_layer_index_is_listed_once_and_staged_layers_are_mounted_without_a_head_first() {
    // Docker 25's archive form names every layer by its digest, so a new session can look
    // each one up in the layer index instead of compressing it.
    let spec = ReleaseSpec {
        forms: vec![ckf_airgap::synth::Form::Docker25],
        ..large_layers()
    };
    let ProxiedRun {
        dir,
        release,
        reg,
        proxy,
        answers: first,
    } = proxied_run(spec, |port| HttpProxy::start(port, Vec::new()));
    let addr = format!("127.0.0.1:{}", proxy.port);
    let (code, out) = run_headless(&dir.path().join("state"), &first, &[], PUSH_ENV);
    assert_eq!(code, 0, "{out}");
    let cold = proxy.requests();
    // One listing of the index answers for every layer; no lookup tag by tag.
    assert_eq!(
        staging_requests(&cold, "GET", "tags/list").len(),
        1,
        "{cold:#?}"
    );
    assert!(
        staging_requests(&cold, "GET", "manifests/").is_empty(),
        "{cold:#?}"
    );
    // A staged layer is mounted into its image's repository straight away.
    let mounts: Vec<&String> = cold.iter().filter(|r| r.contains("?mount=")).collect();
    assert!(!mounts.is_empty(), "{cold:#?}");
    for m in mounts {
        let repo = m
            .trim_start_matches("POST /v2/")
            .split("/blobs/uploads")
            .next()
            .unwrap();
        let digest = m
            .split("mount=")
            .nth(1)
            .unwrap()
            .split('&')
            .next()
            .unwrap()
            .replace("%3A", ":");
        let head = format!("HEAD /v2/{repo}/blobs/{digest}");
        assert!(
            !cold.iter().any(|r| r.starts_with(&head)),
            "{head} before its mount"
        );
    }

    // A new session (another state and work directory) against the full registry finds every
    // layer through the listing and sends nothing.
    let other = tempfile::tempdir().unwrap();
    let second = answers(other.path(), &release, &addr, |a| {
        registry_mut(a).plain_http = true
    });
    let (before, patches_before) = (cold.len(), proxy.patches().len());
    let (code, out) = run_headless(&other.path().join("state"), &second, &[], PUSH_ENV);
    assert_eq!(code, 0, "{out}");
    let warm: Vec<String> = proxy.requests().into_iter().skip(before).collect();
    assert_eq!(
        staging_requests(&warm, "GET", "tags/list").len(),
        1,
        "{warm:#?}"
    );
    assert!(
        !staging_requests(&warm, "GET", "manifests/sha256-").is_empty(),
        "{warm:#?}"
    );
    assert_eq!(proxy.patches().len(), patches_before, "{warm:#?}");
    every_image_arrived(&reg, &release, false);
}

#[test]
fn a_proxy_body_limit_splits_the_staged_pieces_and_the_push_completes() {
    // nginx's client_max_body_size 512k in front of the registry: the 12 MiB pieces are refused
    // until they are halved to 512 KiB.
    let ProxiedRun {
        dir,
        release,
        reg,
        proxy,
        answers,
    } = proxied_run(large_layers(), |port| {
        HttpProxy::start_rules(
            port,
            BodyRules {
                max_body: Some(512 << 10),
                ..BodyRules::default()
            },
        )
    });
    let (code, out) = run_headless(&dir.path().join("state"), &answers, &[], PUSH_ENV);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("while reading"), "{out}");
    let patches = proxy.patches();
    assert!(
        patches.iter().any(|p| p.refused == Some(413)),
        "{patches:?}"
    );
    assert!(
        patches
            .iter()
            .filter(|p| p.refused.is_none())
            .all(|p| p.received <= 512 << 10),
        "{patches:?}"
    );
    every_image_arrived(&reg, &release, false);
}

/// The registry is killed and started again on the same storage in the middle of the one-pass
/// push, forgetting every upload it had begun (a registry without a fixed `http.secret`). The
/// push waits it out by itself: requests refused while it is down are retried, an upload it
/// forgot starts again (or, when its first bytes are gone, the archive is read again from the
/// first image not pushed), and the run finishes with every image verified by skopeo. No
/// message shows an upload's state token.
#[test]
fn a_registry_restarted_mid_push_is_waited_out_and_the_push_finishes_by_itself() {
    let dir = tempfile::tempdir().unwrap();
    let release = generate_release(
        &ReleaseSpec {
            images: 8,
            app_layer_size: 6 << 20,
            ..large_layers()
        },
        &dir.path().join("rel"),
    )
    .unwrap();
    let mut reg = TestRegistry::start();
    let answers = answers(dir.path(), &release, &reg.addr(), |a| trusting(a, &reg));
    let mut child = Command::new(crate::support::BIN)
        .arg("--state-dir")
        .arg(dir.path().join("state"))
        .args(["--mode", "headless", "--answers", answers.to_str().unwrap()])
        .env(PASSWORD_ENV, PASS)
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut out = String::new();
    for line in lines.by_ref() {
        let line = line.unwrap();
        out.push_str(&line);
        out.push('\n');
        if line.contains("[artifacts]") && line.contains("pushed ") {
            reg.restart_forgetting_uploads();
            break;
        }
    }
    for line in lines {
        out.push_str(&line.unwrap());
        out.push('\n');
    }
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0), "{out}{err}");
    assert!(out.contains("[image-push] done"), "{out}");
    assert!(!out.contains("_state="), "a state token was shown: {out}");
    every_image_arrived(&reg, &release, true);
}

/// A registry that forgot a staged upload when the layer is committed (404
/// `BLOB_UPLOAD_UNKNOWN`, as after a restart): the bytes sent are gone, so the step reads the
/// archive again by itself from the first image not pushed, and finishes. The answer is named
/// by its code, without the upload's state token.
#[test]
fn a_staged_upload_the_registry_forgot_is_read_again_without_the_operator() {
    let ProxiedRun {
        dir,
        release,
        reg,
        proxy,
        answers,
    } = proxied_run(large_layers(), |port| {
        HttpProxy::start(
            port,
            vec![Fault {
                method: "PUT",
                path_contains: "/ckf-airgap-staging/blobs/uploads/",
                status: 404,
                retry_after: None,
                body: "{\"errors\":[{\"code\":\"BLOB_UPLOAD_UNKNOWN\",\"message\":\"blob upload unknown to registry\"}]}",
                times: 1,
            }],
        )
    });
    let (code, out) = run_headless(&dir.path().join("state"), &answers, &[], PUSH_ENV);
    assert_eq!(code, 0, "{out}");
    assert_eq!(proxy.injected().len(), 1, "{:?}", proxy.injected());
    assert!(
        out.contains("the registry went away while the archive was read"),
        "{out}"
    );
    assert!(
        out.contains("BLOB_UPLOAD_UNKNOWN: blob upload unknown to registry"),
        "{out}"
    );
    assert!(out.contains("answers again"), "{out}");
    assert!(!out.contains("_state="), "a state token was shown: {out}");
    every_image_arrived(&reg, &release, false);
}

/// A one-pass push after the environment checks ran against a cluster whose two nodes run
/// `runtimes`: the layers' codec follows what the nodes can pull.
fn codec_run(runtimes: [&str; 2]) -> (TlsRun, i32, String) {
    use crate::cluster_support::{Fakes, answer, scenario};
    use crate::support::answers::skip;
    let fakes = Fakes::all();
    let nodes = serde_json::json!({"apiVersion": "v1", "kind": "List", "items": runtimes
        .iter()
        .enumerate()
        .map(|(i, r)| serde_json::json!({"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": format!("dc-node-{i}")},
            "status": {"nodeInfo": {"containerRuntimeVersion": r, "kubeletVersion": "v1.29.4"}}}))
        .collect::<Vec<_>>()});
    let mut rules = crate::checks_step::healthy("coredns-local.json");
    rules.push(answer(
        "kubectl",
        &["get", "nodes", "-o", "json"],
        &nodes.to_string(),
        "",
        0,
    ));
    fakes.set_scenario(&scenario(rules));
    let certs = tempfile::tempdir().unwrap();
    let certs_dir = certs.path().to_path_buf();
    let run = tls_run(|a| {
        a.skip.remove("environment-checks");
        skip(
            a,
            "check:inotify",
            "this machine's limits are not under test",
        );
        skip(a, "check:disk", "this machine's disk is not under test");
        skip(
            a,
            "check:caas-image-repo",
            "the fake controller names another registry",
        );
        a.cluster = Some(ckf_airgap::answers::ClusterAnswers {
            containerd_certs_dir: Some(certs_dir),
            write_containerd_trust: true,
            registry_mirrors: Some(false),
            ..Default::default()
        });
    });
    let (code, out) = run_headless(
        &run.dir.path().join("state"),
        &run.answers,
        &[],
        &fakes.env_with(PUSH_ENV),
    );
    drop(certs);
    (run, code, out)
}

/// The layers' media types in the registry, per image of the release.
fn layer_types(run: &TlsRun) -> Vec<String> {
    let mut types = Vec::new();
    for image in &run.release.images {
        let reference = target(&run.reg.addr(), &image.reference);
        // The uncompressed content is the archive's, whatever the codec.
        skopeo_layers_match(&run.reg, &reference, &image.diff_ids, true);
        let raw = Command::new("skopeo")
            .args(["inspect", "--raw", "--cert-dir"])
            .arg(&run.reg.cert_dir)
            .args(["--creds", &format!("{USER}:{PASS}")])
            .arg(format!("docker://{reference}"))
            .output()
            .unwrap();
        let manifest: serde_json::Value = serde_json::from_slice(&raw.stdout).unwrap();
        for layer in manifest["layers"].as_array().unwrap() {
            types.push(layer["mediaType"].as_str().unwrap().to_owned());
        }
    }
    types
}

#[test]
fn the_layer_codec_follows_the_nodes_container_runtimes() {
    let (run, code, out) = codec_run(["containerd://1.6.28", "containerd://1.7.13"]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains(
            "[registry-login] proven: Layers go up as zstd: every node pulls zstd layers (dc-node-0: containerd://1.6.28"
        ),
        "{out}"
    );
    let types = layer_types(&run);
    assert!(
        types
            .iter()
            .any(|t| t == "application/vnd.oci.image.layer.v1.tar+zstd"),
        "{types:?}"
    );
    // A layer the archive holds gzipped already goes up as it is (any runtime pulls gzip).

    // One node on containerd 1.4 cannot pull zstd: gzip, and the log says which node.
    let (run, code, out) = codec_run(["containerd://1.6.28", "containerd://1.4.13"]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("] Layers go up as gzip: not every node pulls zstd layers")
            && out.contains("dc-node-1: containerd://1.4.13"),
        "{out}"
    );
    let types = layer_types(&run);
    assert!(types.iter().all(|t| !t.ends_with("zstd")), "{types:?}");
}
