//! Registry login and push as the operator runs them: the real binary, headless, a synthetic
//! release, and Debian's docker-registry with TLS from a per-test CA and htpasswd auth. What
//! was pushed is read back with skopeo.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::registry_support::proxy::{BodyRules, Fault, HttpProxy};
use crate::registry_support::registry::{PASS, RegistryOptions, TestRegistry, USER};
use crate::support::answers::{self, registry_mut, skip_all};
use crate::support::{run, run_headless, text};
use ckf_airgap::answers::{Answers, ArtifactsAnswers};
use ckf_airgap::engine::outputs::SessionPushReport;
use ckf_airgap::session::SessionStore;
use ckf_airgap::synth::{ReleaseSpec, SynthRelease, generate_release};

pub(crate) const PASSWORD_ENV: &str = "CKF_TEST_PUSH_PASSWORD";
/// The environment of a push: the registry's password.
pub(crate) const PUSH_ENV: &[(&str, &str)] = &[(PASSWORD_ENV, PASS)];

/// Answers that read `release`, work in `<dir>/work` and push to `registry` (`more`: the
/// test's own answers, such as more `[registry]` ones), skipping the cluster steps. Shared
/// with `stream_push.rs`.
pub(crate) fn answers(
    dir: &Path,
    release: &SynthRelease,
    registry: &str,
    more: impl FnOnce(&mut Answers),
) -> PathBuf {
    let mut spec = Answers {
        artifacts: Some(ArtifactsAnswers {
            work_dir: Some(dir.join("work")),
            ..answers::artifacts(&release.images_gz, release.charms_gz.as_ref().unwrap())
        }),
        registry: Some(answers::registry_login(
            format!("{registry}/ckf"),
            USER,
            PASSWORD_ENV,
        )),
        ..Answers::default()
    };
    skip_all(
        &mut spec,
        &[
            "environment-checks",
            "placeholder-mapping",
            "gateway-type",
            "bundle-preview",
            "juju-deploy",
        ],
        "t",
    );
    more(&mut spec);
    let path = dir.join("answers.toml");
    answers::write(&path, &spec);
    path
}

/// `[registry] ca_file`: the test registry's CA.
pub(crate) fn trusting(a: &mut Answers, reg: &TestRegistry) {
    registry_mut(a).ca_file = Some(reg.ca_file.clone());
}

/// The first manifest upload of jupyter-web-app refused (not retryable), after its layers are
/// in: the push stops there, and a second run in the same session is a resume.
fn refused_first_manifest() -> Fault {
    Fault {
        method: "PUT",
        path_contains: "jupyter-web-app/manifests/",
        status: 400,
        retry_after: None,
        body: r#"{"errors":[{"code":"MANIFEST_INVALID","message":"injected"}]}"#,
        times: 1,
    }
}

fn skopeo_config(reg: &TestRegistry, reference: &str) -> serde_json::Value {
    let out = Command::new("skopeo")
        .args(["inspect", "--config", "--cert-dir"])
        .arg(&reg.cert_dir)
        .args(["--creds", &format!("{USER}:{PASS}")])
        .arg(format!("docker://{reference}"))
        .output()
        .expect("skopeo is installed by .ci/test.sh");
    assert!(
        out.status.success(),
        "skopeo inspect {reference}: {}",
        text(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn uploaded(out: &str) -> usize {
    let line = out
        .lines()
        .find(|l| l.contains("] pushed ") && l.contains("blobs uploaded"))
        .unwrap_or_else(|| panic!("no push summary: {out}"));
    line.split(": ")
        .nth(1)
        .unwrap()
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

#[test]
fn a_release_is_pushed_verified_by_skopeo_and_a_new_session_uploads_nothing_again() {
    let dir = tempfile::tempdir().unwrap();
    let release = generate_release(&ReleaseSpec::default(), &dir.path().join("rel")).unwrap();
    let reg = TestRegistry::start();
    // The spooled path: read and verify first, push after the login.
    let answers = answers(dir.path(), &release, &reg.addr(), |a| {
        trusting(a, &reg);
        registry_mut(a).spool_before_push = true;
    });
    let state = dir.path().join("state");

    let (code, out) = run_headless(&state, &answers, &[], PUSH_ENV);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("[registry-login] done"), "{out}");
    // The login names what it proved, including the certificate the registry showed.
    assert!(
        out.contains("[registry-login] proven: Trusted by the CA file"),
        "{out}"
    );
    assert!(
        out.contains("[registry-login] proven: Server certificate: "),
        "{out}"
    );
    // Its expiry as an operator reads it (`2027-12-03 16:34:58 UTC`), not `16:34:58.0 +00:00:00`.
    let cert_line = out
        .lines()
        .find(|l| l.contains("proven: Server certificate: "))
        .unwrap();
    assert!(
        cert_line.ends_with(" UTC") && !cert_line.contains("+00:00:00"),
        "{cert_line}"
    );
    assert!(out.contains("[image-push] done"), "{out}");
    assert!(uploaded(&out) > 0);

    let store = SessionStore::open(&state).unwrap();
    let session_dir = store.list().unwrap()[0].dir.clone();
    let report = serde_json::from_slice::<SessionPushReport>(
        &std::fs::read(session_dir.join("push-report.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(report.images.len(), release.images.len());
    for image in &release.images {
        let line = report
            .images
            .iter()
            .find(|l| l.source == image.reference)
            .unwrap();
        let path = image.reference.split_once('/').unwrap().1;
        assert_eq!(line.target, format!("{}/ckf/{path}", reg.addr()));
        assert!(line.digest.to_string().starts_with("sha256:"));
        // The registry holds the image's config, naming exactly the layers read from the archive.
        let config = skopeo_config(&reg, &line.target);
        let diff_ids: Vec<&str> = config["rootfs"]["diff_ids"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d.as_str().unwrap().trim_start_matches("sha256:"))
            .collect();
        assert_eq!(diff_ids, image.diff_ids, "{}", image.reference);
    }

    // A new session against a registry that holds everything uploads no blob.
    let (code, again) = run_headless(&state, &answers, &["--new"], PUSH_ENV);
    assert_eq!(code, 0, "{again}");
    assert_eq!(uploaded(&again), 0, "{again}");
}

#[test]
fn a_wrong_password_stops_at_login_with_the_cause() {
    let dir = tempfile::tempdir().unwrap();
    let release = generate_release(&ReleaseSpec::default(), &dir.path().join("rel")).unwrap();
    let reg = TestRegistry::start();
    let answers = answers(dir.path(), &release, &reg.addr(), |a| trusting(a, &reg));
    let out = run(
        &dir.path().join("state"),
        &["--mode", "headless", "--answers", answers.to_str().unwrap()],
        &[(PASSWORD_ENV, "not-the-password")],
    );
    let out = text(&out.stdout);
    let failure = out
        .lines()
        .find(|l| l.starts_with("[registry-login] failed"))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(failure.contains(&reg.addr()), "{failure}");
    assert!(
        failure.to_lowercase().contains("password") || failure.contains("401"),
        "{failure}"
    );
    assert!(!out.contains("[image-push] started"), "{out}");
}

#[test]
fn a_push_stopped_by_a_failure_resumes_without_sending_finished_layers_again() {
    let dir = tempfile::tempdir().unwrap();
    let release = generate_release(&ReleaseSpec::default(), &dir.path().join("rel")).unwrap();
    let reg = TestRegistry::start_with(RegistryOptions {
        sans: None,
        ..RegistryOptions::default()
    });
    // The first manifest upload of jupyter-web-app is refused (not retryable), after its
    // layers are in.
    let proxy = HttpProxy::start(reg.port, vec![refused_first_manifest()]);
    let answers = answers(
        dir.path(),
        &release,
        &format!("127.0.0.1:{}", proxy.port),
        |a| {
            let r = registry_mut(a);
            r.plain_http = true;
            r.spool_before_push = true;
        },
    );
    let state = dir.path().join("state");
    let (code, out) = run_headless(&state, &answers, &[], PUSH_ENV);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("[image-push] failed"), "{out}");
    assert!(
        out.contains("Retry continues where the push stopped"),
        "{out}"
    );
    let first_requests = proxy.requests().len();

    let (code, out) = run_headless(&state, &answers, &[], PUSH_ENV);
    assert_eq!(code, 0, "{out}");
    let second: Vec<String> = proxy.requests().into_iter().skip(first_requests).collect();
    let reuploads: Vec<&String> = second
        .iter()
        .filter(|r| r.starts_with("POST") && r.contains("jupyter-web-app/blobs/uploads"))
        .collect();
    assert!(
        reuploads.is_empty(),
        "finished layers sent again: {reuploads:?}"
    );
    assert!(
        second
            .iter()
            .any(|r| r.starts_with("PUT") && r.contains("jupyter-web-app/manifests/")),
        "{second:?}"
    );
}

#[test]
fn a_proxy_refusing_streamed_uploads_is_remembered_for_the_rest_of_the_session() {
    let dir = tempfile::tempdir().unwrap();
    let release = generate_release(&ReleaseSpec::default(), &dir.path().join("rel")).unwrap();
    let reg = TestRegistry::start_with(RegistryOptions {
        sans: None,
        ..RegistryOptions::default()
    });
    // A proxy that answers 411 to chunked request bodies, and one refused manifest so the
    // first run stops and the second run is a resume in the same session. One image at a time:
    // the first run stops at the first image, so the second still has layers to upload.
    let proxy = HttpProxy::start_full(
        reg.port,
        vec![refused_first_manifest()],
        None,
        BodyRules {
            refuse_chunked: true,
            ..BodyRules::default()
        },
    );
    let answers = answers(
        dir.path(),
        &release,
        &format!("127.0.0.1:{}", proxy.port),
        |a| {
            let r = registry_mut(a);
            r.plain_http = true;
            r.spool_before_push = true;
            r.image_concurrency = Some(1);
        },
    );
    let state = dir.path().join("state");
    let (code, out) = run_headless(&state, &answers, &[], PUSH_ENV);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("uploads go in chunks of 12288 KiB for the rest of this session")
            && out.contains("411"),
        "{out}"
    );
    let first = proxy.patches().len();
    assert!(proxy.patches().iter().any(|p| p.refused == Some(411)));

    let (code, out) = run_headless(&state, &answers, &[], PUSH_ENV);
    assert_eq!(code, 0, "{out}");
    let later: Vec<_> = proxy.patches().into_iter().skip(first).collect();
    assert!(!later.is_empty());
    assert!(
        later.iter().all(|p| !p.chunked && p.refused.is_none()),
        "the resumed run went chunked from its first upload: {later:?}"
    );
}

#[test]
fn one_image_at_a_time_verifies_then_pushes_each_image_from_the_archive_and_drops_its_spool() {
    let dir = tempfile::tempdir().unwrap();
    let release = generate_release(&ReleaseSpec::default(), &dir.path().join("rel")).unwrap();
    let reg = TestRegistry::start();
    let work = dir.path().join("work");
    let answers = answers(dir.path(), &release, &reg.addr(), |a| {
        trusting(a, &reg);
        a.artifacts.as_mut().unwrap().one_image_at_a_time = true;
    });
    let state = dir.path().join("state");
    let (code, out) = run_headless(&state, &answers, &[], PUSH_ENV);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("each image is verified and its spool deleted at once"),
        "{out}"
    );
    let store = SessionStore::open(&state).unwrap();
    let session_dir = store.list().unwrap()[0].dir.clone();
    let report = serde_json::from_slice::<SessionPushReport>(
        &std::fs::read(session_dir.join("push-report.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(report.images.len(), release.images.len());
    for line in &report.images {
        skopeo_config(&reg, &line.target);
    }
    let left: Vec<_> = std::fs::read_dir(work.join("blobs/sha256"))
        .map(|d| d.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "spooled blobs left behind: {left:?}");
}
