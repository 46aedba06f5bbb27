//! The registry-mirror safety net against a real registry and containerd's own resolver: an
//! image pushed from the archives is pulled by its public name (`docker.io/library/alpine`,
//! the form containerd asks a mirror for) through nothing but the `hosts.toml` files the
//! environment step writes. `ctr content fetch-object --hosts-dir` runs containerd's resolver
//! without a daemon.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

use crate::push_step::{PUSH_ENV, answers, trusting};
use crate::registry_support::registry::{PASS, TestRegistry, USER};
use crate::support::{run_headless, text};
use ckf_airgap::cluster::registry_mirrors::{MirrorPlan, MirrorTarget};
use ckf_airgap::engine::outputs::SessionPushReport;
use ckf_airgap::oci::Digest;
use ckf_airgap::session::SessionStore;
use ckf_airgap::synth::generate_named_release;

/// `ctr content fetch-object` of `reference` through the mirror files under `hosts_dir`: the
/// manifest bytes containerd resolved.
fn ctr_fetch(hosts_dir: &std::path::Path, reference: &str) -> Vec<u8> {
    let out = Command::new("ctr")
        .args(["content", "fetch-object", "--hosts-dir"])
        .arg(hosts_dir)
        .args(["--user", &format!("{USER}:{PASS}"), reference])
        .output()
        .expect("ctr (Debian's containerd) is installed by .ci/test.sh");
    assert!(
        out.status.success(),
        "ctr content fetch-object {reference}: {}",
        text(&out.stderr)
    );
    out.stdout
}

#[test]
fn containerd_resolves_images_by_their_public_names_through_the_written_mirrors() {
    let dir = tempfile::tempdir().unwrap();
    // alpine:3.10 is one of training-operator's built-in defaults that no charm file names.
    let release = generate_named_release(
        &[
            "docker.io/library/alpine:3.10".to_owned(),
            "quay.io/jetstack/cert-manager-webhook:v1.14.5".to_owned(),
        ],
        &[],
        &dir.path().join("rel"),
    )
    .unwrap();
    let reg = TestRegistry::start();
    let answers = answers(dir.path(), &release, &reg.addr(), |a| trusting(a, &reg));
    let state = dir.path().join("state");
    let (code, out) = run_headless(&state, &answers, &[], PUSH_ENV);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("under library/ too"), "{out}");
    let store = SessionStore::open(&state).unwrap();
    let session_dir = store.list().unwrap()[0].dir.clone();
    let report: SessionPushReport =
        serde_json::from_slice(&std::fs::read(session_dir.join("push-report.json")).unwrap())
            .unwrap();
    let digest_of = |name: &str| {
        report
            .images
            .iter()
            .find(|i| i.source.contains(name))
            .unwrap_or_else(|| panic!("{name} not in {report:?}"))
            .digest
            .clone()
    };

    let certs = dir.path().join("certs.d");
    let plan = MirrorPlan::new(
        &certs,
        [],
        MirrorTarget {
            registry: reg.addr(),
            prefix: "ckf".into(),
            plain_http: false,
            skip_verify: false,
            ca_pem: Some(std::fs::read(&reg.ca_file).unwrap()),
        },
    );
    assert!(plan.write().unwrap().is_empty());

    for (reference, name) in [
        ("docker.io/library/alpine:3.10", "alpine"),
        (
            "quay.io/jetstack/cert-manager-webhook:v1.14.5",
            "cert-manager-webhook",
        ),
    ] {
        let manifest = ctr_fetch(&certs, reference);
        assert_eq!(Digest::of(&manifest), digest_of(name), "{reference}");
    }
    // containerd asked the private registry for the Docker Hub path, under the push's prefix.
    assert!(
        reg.log().contains("/v2/ckf/library/alpine/manifests/3.10"),
        "{}",
        reg.log()
    );
}

/// Without a lock beside the archives, the known list alone must cover every registry the
/// real releases pull from: every image every 1.10 and 1.11 charm names, and every
/// runtime-table entry, comes from a host the safety net writes a file for.
#[test]
fn the_known_upstreams_cover_every_registry_of_the_real_releases() {
    use ckf_airgap::ckf_release::CkfRelease;
    use ckf_airgap::cluster::registry_mirrors::KNOWN_UPSTREAMS;
    use ckf_airgap::image_ref::ImageRef;
    let mut seen = std::collections::BTreeSet::new();
    for (version, release) in [("1.10", CkfRelease::V1_10), ("1.11", CkfRelease::V1_11)] {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/releases")
            .join(version)
            .join("charms");
        for entry in std::fs::read_dir(&root).unwrap() {
            let dir = entry.unwrap().path();
            let charm = dir.file_name().unwrap().to_string_lossy().into_owned();
            let mut images = crate::release_bundles::expected_images(&dir);
            images.extend(
                ckf_airgap::release::runtime_images::runtime_images(release, &charm)
                    .into_iter()
                    .map(|i| i.image),
            );
            for image in images {
                let host = ImageRef::split(&image)
                    .registry
                    .unwrap_or_else(|| "docker.io".into());
                assert!(
                    KNOWN_UPSTREAMS.contains(&host.as_str()),
                    "{version} {charm}: {image} comes from {host}, which has no mirror file"
                );
                seen.insert(host);
            }
        }
    }
    // The releases pull from several registries; a scan that found one would prove little.
    assert!(seen.len() >= 3, "{seen:?}");
}
