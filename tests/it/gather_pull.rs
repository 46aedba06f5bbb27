//! The connected side's building blocks against a real registry playing the upstream: images
//! resolved and pulled without a daemon (every blob verified while it streams, a finished blob
//! never fetched again), written as `images.tar.gz` in Docker 25's `docker save` form with the
//! retagged name as RepoTag, and read back by the air-gapped side's own archive reader.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use ckf_airgap::artifacts::{self, NoHooks, ProcessOptions};
use ckf_airgap::gather::{ImagesArchive, retag_name};
use ckf_airgap::registry::{MemoryLedger, Platform, PushOptions, Pusher};

use crate::registry_support::images::standard_set;
use crate::registry_support::registry::TestRegistry;
use crate::registry_support::{Recorder, client_for};

/// The standard image set written under `dir` and pushed to `upstream`, which then plays the
/// upstream registry a gather pulls from.
pub(crate) async fn seed_upstream(
    upstream: &TestRegistry,
    dir: &std::path::Path,
) -> Vec<ckf_airgap::registry::PushImage> {
    let images = standard_set(dir);
    Pusher::new(
        client_for(upstream),
        PushOptions::default(),
        Arc::new(MemoryLedger::new()),
        Recorder::new(),
    )
    .push(&images)
    .await
    .unwrap();
    images
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pulled_images_become_an_archive_the_air_gapped_side_reads() {
    let upstream = TestRegistry::start();
    let work = tempfile::tempdir().unwrap();
    let images = seed_upstream(&upstream, work.path()).await;
    let client = client_for(&upstream);

    let blobs = work.path().join("pulled");
    let archive_path = work.path().join("out").join("images.tar.gz");
    std::fs::create_dir_all(archive_path.parent().unwrap()).unwrap();
    let mut archive = ImagesArchive::create(&archive_path, None).unwrap();
    let mut expected = Vec::new();
    for img in &images {
        let resolved = client
            .resolve_image(&img.repository, &img.tag, &Platform::default())
            .await
            .unwrap();
        for blob in std::iter::once(&resolved.config).chain(&resolved.layers) {
            client
                .pull_blob(&img.repository, blob, &blobs, &|_| {}, &|_| {})
                .await
                .unwrap();
        }
        let upstream_ref = format!("{}/{}:{}", upstream.addr(), img.repository, img.tag);
        let retagged = retag_name(&upstream_ref, "172.17.0.2:5000");
        archive
            .add(&resolved, &blobs, &[retagged.clone(), upstream_ref.clone()])
            .unwrap();
        expected.push((retagged, upstream_ref, resolved.config.digest.clone()));
    }
    assert!(archive.finish().unwrap().is_empty(), "one file, no volumes");
    let written = archive_path.clone();
    assert!(!work.path().join("out/images.tar.gz.part").exists());

    // A blob already pulled is not fetched again.
    let gets = |log: &str| {
        log.lines()
            .filter(|l| {
                l.contains("msg=\"response completed\"")
                    && l.contains("http.request.method=GET")
                    && l.contains("http.request.uri=\"/v2/team/app-one/blobs/")
            })
            .count()
    };
    let before = gets(&upstream.log());
    assert!(
        before > 0,
        "the access log shows the first pull:\n{}",
        upstream.log()
    );
    let resolved = client
        .resolve_image("team/app-one", "v1", &Platform::default())
        .await
        .unwrap();
    for blob in &resolved.layers {
        client
            .pull_blob("team/app-one", blob, &blobs, &|_| {}, &|_| {})
            .await
            .unwrap();
    }
    assert_eq!(
        gets(&upstream.log()),
        before,
        "finished blobs were fetched again"
    );

    let list = std::fs::read_to_string(work.path().join("out/retagged-images.txt")).unwrap();
    let retagged: Vec<&str> = expected.iter().map(|(r, _, _)| r.as_str()).collect();
    assert_eq!(list, retagged.join("\n"));

    let read = artifacts::process_images(
        &written,
        &work.path().join("airgap"),
        &ProcessOptions::default(),
        &mut NoHooks,
        &mut artifacts::NoProgress,
    )
    .unwrap();
    assert_eq!(read.images.len(), expected.len());
    for (retagged, upstream_ref, config) in &expected {
        let record = read
            .images
            .iter()
            .find(|r| &r.reference == retagged)
            .unwrap_or_else(|| panic!("{retagged} not read back"));
        assert!(record.references.contains(upstream_ref), "{record:?}");
        assert_eq!(
            &record.config_digest, config,
            "the upstream config, unchanged"
        );
    }

    // Independent readers: GNU tar inflates the archive (compressed layers in stored blocks,
    // the rest deflated), and skopeo reads every member as a `docker save` tar, its layers
    // those of the upstream config.
    let unpacked = work.path().join("unpacked");
    std::fs::create_dir_all(&unpacked).unwrap();
    let tar = std::process::Command::new("tar")
        .arg("-xzf")
        .arg(&written)
        .arg("-C")
        .arg(&unpacked)
        .output()
        .unwrap();
    assert!(
        tar.status.success(),
        "{}",
        String::from_utf8_lossy(&tar.stderr)
    );
    for (retagged, upstream_ref, config) in &expected {
        let member = unpacked.join(ckf_airgap::gather::member_name(retagged));
        let inspect = std::process::Command::new("skopeo")
            .arg("inspect")
            .arg(format!("docker-archive:{}", member.display()))
            .output()
            .unwrap();
        assert!(
            inspect.status.success(),
            "{retagged}: {}",
            String::from_utf8_lossy(&inspect.stderr)
        );
        let json: serde_json::Value = serde_json::from_slice(&inspect.stdout).unwrap();
        // A docker-archive's layers are named by their uncompressed digests: the config's.
        let config: serde_json::Value =
            serde_json::from_slice(&std::fs::read(blobs.join(config.hex())).unwrap()).unwrap();
        let strings = |v: &serde_json::Value| -> Vec<String> {
            let items = v.as_array().unwrap().iter();
            items.map(|l| l.as_str().unwrap().to_string()).collect()
        };
        assert_eq!(
            strings(&json["Layers"]),
            strings(&config["rootfs"]["diff_ids"]),
            "{retagged} ({upstream_ref})"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_image_missing_upstream_is_named() {
    let upstream = TestRegistry::start();
    let client = client_for(&upstream);
    let err = client
        .resolve_image("team/absent", "v9", &Platform::default())
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("has no image team/absent:v9"),
        "{err}"
    );
}

/// A two-platform image index, pushed with skopeo, resolves to the chosen platform's image.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_image_index_resolves_to_the_chosen_platform() {
    let upstream = TestRegistry::start();
    let work = tempfile::tempdir().unwrap();
    let images = seed_upstream(&upstream, work.path()).await;
    let client = client_for(&upstream);
    let configs =
        push_two_platform_index(&upstream, &client, &images, work.path(), "team/multi:v1").await;
    for (arch, config) in ["amd64", "arm64"].iter().zip(&configs) {
        let platform = Platform::parse(&format!("linux/{arch}")).unwrap();
        let r = client
            .resolve_image("team/multi", "v1", &platform)
            .await
            .unwrap();
        assert!(
            r.index_digest.is_some(),
            "{arch}: resolved through the index"
        );
        assert_eq!(&r.config.digest, config, "{arch}");
    }
    let err = client
        .resolve_image("team/multi", "v1", &Platform::parse("linux/s390x").unwrap())
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("(it has: linux/amd64, linux/arm64)"),
        "{err}"
    );
}

/// Pushes, with skopeo, an image index naming the first two images as linux/amd64 and
/// linux/arm64 under `name` (`repo:tag`); returns their config digests in that order.
pub(crate) async fn push_two_platform_index(
    upstream: &TestRegistry,
    client: &ckf_airgap::registry::RegistryClient,
    images: &[ckf_airgap::registry::PushImage],
    work: &std::path::Path,
    name: &str,
) -> Vec<String> {
    use crate::registry_support::registry::{PASS, USER};
    // An OCI layout holding both images and an index naming them by platform.
    let layout = work.join("layout");
    let blobs = layout.join("blobs/sha256");
    let mut entries = Vec::new();
    let mut configs = Vec::new();
    for (img, arch) in images.iter().zip(["amd64", "arm64"]) {
        let r = client
            .resolve_image(&img.repository, &img.tag, &Platform::default())
            .await
            .unwrap();
        for blob in std::iter::once(&r.config).chain(&r.layers) {
            client
                .pull_blob(&img.repository, blob, &blobs, &|_| {}, &|_| {})
                .await
                .unwrap();
        }
        std::fs::write(blobs.join(r.manifest_digest.hex()), &r.manifest).unwrap();
        entries.push(serde_json::json!({
            "mediaType": r.manifest_media_type,
            "digest": r.manifest_digest,
            "size": r.manifest.len(),
            "platform": {"os": "linux", "architecture": arch},
        }));
        configs.push(r.config.digest.to_string());
    }
    let index = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": entries,
    })
    .to_string();
    let index_digest = format!(
        "sha256:{}",
        hex::encode(<sha2::Sha256 as sha2::Digest>::digest(index.as_bytes()))
    );
    std::fs::write(
        blobs.join(index_digest.trim_start_matches("sha256:")),
        &index,
    )
    .unwrap();
    std::fs::write(
        layout.join("oci-layout"),
        r#"{"imageLayoutVersion":"1.0.0"}"#,
    )
    .unwrap();
    std::fs::write(
        layout.join("index.json"),
        serde_json::json!({"schemaVersion": 2, "manifests": [{
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "digest": index_digest,
            "size": index.len(),
            "annotations": {"org.opencontainers.image.ref.name": "v1"},
        }]})
        .to_string(),
    )
    .unwrap();
    let out = std::process::Command::new("skopeo")
        .args([
            "copy",
            "--all",
            "-q",
            "--insecure-policy",
            "--dest-cert-dir",
        ])
        .arg(&upstream.cert_dir)
        .args(["--dest-creds", &format!("{USER}:{PASS}")])
        .arg(format!("oci:{}:v1", layout.display()))
        .arg(format!("docker://{}/{name}", upstream.addr()))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    configs
}
