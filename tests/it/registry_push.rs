//! Pushes synthetic images to a real registry (docker-registry with TLS and htpasswd) and reads
//! them back with skopeo.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use crate::registry_support::images::{skopeo_verify, standard_set};
use crate::registry_support::registry::{PASS, TestRegistry, USER};
use crate::registry_support::{Recorder, client_for, config_for};
use ckf_airgap::oci::MediaType;
use ckf_airgap::registry::{
    Credentials, ImageState, JsonFileLedger, LayerCompression, LayerState, MemoryLedger,
    PushOptions, Pusher, RegistryClient, RegistryTarget,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pushes_images_verifies_with_skopeo_and_a_repeat_sends_nothing() {
    let reg = TestRegistry::start();
    let work = tempfile::tempdir().unwrap();
    let images = standard_set(work.path());
    let client = client_for(&reg);
    assert!(client.warnings().is_empty());
    let pre = client.preflight(&images[0].repository).await.unwrap();
    assert_eq!(pre.auth, "basic");

    let ledger_path = work.path().join("ledger.json");
    let ledger = Arc::new(JsonFileLedger::open(&ledger_path).unwrap());
    let rec = Recorder::new();
    let pusher = Pusher::new(
        client.clone(),
        PushOptions::default(),
        ledger.clone(),
        rec.clone(),
    );
    let report = pusher.push(&images).await.unwrap();
    let stats = pusher.stats().snapshot();

    assert_eq!(report.images.len(), 2);
    for (r, img) in report.images.iter().zip(&images) {
        assert_eq!(r.source, img.source);
        assert_eq!(
            r.target,
            format!("{}/{}:{}", reg.addr(), img.repository, img.tag)
        );
        assert_eq!(r.media_type, MediaType::DockerManifest);
        assert!(r.manifest_digest.to_string().starts_with("sha256:"));
    }
    // 4 distinct layers + 2 configs uploaded once each; the shared base reached the second
    // repository without a second upload.
    assert_eq!(stats.blobs_uploaded, 6, "{stats:?}");
    assert_eq!(stats.blobs_mounted + stats.blobs_present, 1, "{stats:?}");
    let base = &images[0].layers[0].diff_id;
    let uploads_of_base = rec
        .layer_states()
        .iter()
        .filter(|(d, s)| d == base && matches!(s, LayerState::Uploaded { .. }))
        .count();
    assert_eq!(uploads_of_base, 1);
    // Everything is read from disk once, except the shared layer's second use.
    assert_eq!(
        stats.bytes_read,
        stats.bytes_total - images[1].layers[0].size,
        "{stats:?}"
    );
    assert!(stats.bytes_sent > 0);

    let report_path = work.path().join("report.json");
    report.write_json(&report_path).unwrap();
    let written: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&report_path).unwrap()).unwrap();
    assert_eq!(
        written["images"][1]["manifest_digest"],
        report.images[1].manifest_digest.to_string()
    );

    for img in &images {
        skopeo_verify(&reg, img, "");
    }

    // Same ledger: nothing is compressed or uploaded again.
    let rec2 = Recorder::new();
    let again = Pusher::new(
        client.clone(),
        PushOptions::default(),
        ledger.clone(),
        rec2.clone(),
    );
    let report2 = again.push(&images).await.unwrap();
    let s2 = again.stats().snapshot();
    assert_eq!(s2.bytes_sent, 0, "{s2:?}");
    assert_eq!(s2.bytes_read, 0, "{s2:?}");
    assert_eq!(s2.blobs_uploaded, 0);
    assert!(
        rec2.final_states()
            .iter()
            .all(|(_, s)| matches!(s, ImageState::AlreadyPresent { .. }))
    );
    assert_eq!(
        report2.images[0].manifest_digest,
        report.images[0].manifest_digest
    );

    // Without a ledger (a new session), the images already under their tags are recognised
    // by their config and adopted: nothing is compressed or sent.
    let fresh = Pusher::new(
        client,
        PushOptions::default(),
        Arc::new(MemoryLedger::new()),
        Recorder::new(),
    );
    let report3 = fresh.push(&images).await.unwrap();
    let s3 = fresh.stats().snapshot();
    assert_eq!((s3.bytes_sent, s3.blobs_uploaded), (0, 0));
    for (again, first) in report3.images.iter().zip(&report.images) {
        assert_eq!(again.manifest_digest, first.manifest_digest);
        assert_eq!(
            again.status,
            ckf_airgap::registry::PushOutcome::AlreadyPresent
        );
    }

    // Elsewhere in the registry the layers are compressed again; the gzip stream is
    // deterministic, so the manifests come out identical.
    let elsewhere = Pusher::new(
        RegistryClient::new(config_for(&reg, &format!("{}/elsewhere", reg.addr()))).unwrap(),
        PushOptions::default(),
        Arc::new(MemoryLedger::new()),
        Recorder::new(),
    );
    let report4 = elsewhere.push(&images).await.unwrap();
    for (other, first) in report4.images.iter().zip(&report.images) {
        assert_eq!(other.manifest_digest, first.manifest_digest);
        assert_eq!(other.status, ckf_airgap::registry::PushOutcome::Pushed);
    }
}

/// Pushes the standard pair one image at a time with `compression`; each image must go up
/// with an OCI manifest, and skopeo reads every layer back (the archive's gzip layer as gzip)
/// and checks its uncompressed digest.
async fn push_as_oci(compression: LayerCompression) -> Pusher {
    let reg = TestRegistry::start();
    let work = tempfile::tempdir().unwrap();
    let images = standard_set(work.path());
    let options = PushOptions {
        compression,
        image_concurrency: 1,
        ..PushOptions::default()
    };
    let pusher = Pusher::new(
        client_for(&reg),
        options,
        Arc::new(MemoryLedger::new()),
        Recorder::new(),
    );
    let report = pusher.push(&images).await.unwrap();
    for (r, img) in report.images.iter().zip(&images) {
        assert_eq!(r.media_type, MediaType::OciManifest);
        skopeo_verify(&reg, img, "");
    }
    pusher
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uncompressed_push_uses_an_oci_manifest() {
    let pusher = push_as_oci(LayerCompression::None).await;
    // Sequential images: the shared base layer is mounted into the second repository.
    assert_eq!(pusher.stats().snapshot().blobs_mounted, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zstd_push_uses_an_oci_manifest_and_keeps_gzip_layers_as_they_are() {
    let pusher = push_as_oci(LayerCompression::Zstd).await;
    assert!(pusher.target_key().ends_with("#zstd1"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prefix_certs_d_and_docker_config_credentials() {
    let reg = TestRegistry::start();
    let work = tempfile::tempdir().unwrap();
    let images = standard_set(work.path());

    // Docker-style certs.d/<host:port>/ca.crt and config.json with an inline auth entry.
    let certs_d = work.path().join("certs.d");
    std::fs::create_dir_all(certs_d.join(reg.addr())).unwrap();
    std::fs::copy(&reg.ca_file, certs_d.join(reg.addr()).join("ca.crt")).unwrap();
    let docker_config = work.path().join("config.json");
    use base64::Engine;
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASS}"));
    std::fs::write(
        &docker_config,
        format!(
            r#"{{"auths":{{"https://{}":{{"auth":"{auth}"}}}}}}"#,
            reg.addr()
        ),
    )
    .unwrap();

    let mut cfg = config_for(&reg, &format!("{}/ckf/mirror", reg.addr()));
    cfg.tls.ca_file = None;
    cfg.tls.certs_dir = Some(certs_d);
    cfg.credentials = Credentials::DockerConfig {
        path: Some(docker_config),
    };
    assert_eq!(
        cfg.target,
        RegistryTarget::parse(&format!("{}/ckf/mirror", reg.addr())).unwrap()
    );
    let client = RegistryClient::new(cfg).unwrap();
    client.preflight(&images[1].repository).await.unwrap();
    let pusher = Pusher::new(
        client,
        PushOptions::default(),
        Arc::new(MemoryLedger::new()),
        Recorder::new(),
    );
    let report = pusher.push(&images).await.unwrap();
    assert_eq!(
        report.images[1].target,
        format!("{}/ckf/mirror/team/app-two:v2", reg.addr())
    );
    for img in &images {
        skopeo_verify(&reg, img, "ckf/mirror");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bearer_token_auth_with_a_token_cache_per_scope() {
    use crate::registry_support::proxy::{BearerFront, HttpProxy};
    use crate::registry_support::registry::RegistryOptions;
    // The registry speaks Basic on plain HTTP; the proxy in front demands Bearer tokens from its
    // own token endpoint, like Harbor or a distribution registry with token auth.
    let reg = TestRegistry::start_with(RegistryOptions {
        sans: None,
        ..RegistryOptions::default()
    });
    let proxy = HttpProxy::start_with(
        reg.port,
        vec![],
        Some(BearerFront {
            user: USER,
            pass: PASS,
        }),
    );
    let work = tempfile::tempdir().unwrap();
    let images = standard_set(work.path());
    let client =
        RegistryClient::new(config_for(&reg, &format!("127.0.0.1:{}", proxy.port))).unwrap();
    assert_eq!(
        client.preflight(&images[0].repository).await.unwrap().auth,
        "bearer"
    );
    let pusher = Pusher::new(
        client,
        PushOptions::default(),
        Arc::new(MemoryLedger::new()),
        Recorder::new(),
    );
    pusher.push(&images).await.unwrap();
    let tokens = proxy.token_requests();
    assert!(
        tokens
            .iter()
            .any(|q| q.contains("scope=repository%3Ateam%2Fapp-two%3Apull%2Cpush")),
        "{tokens:?}"
    );
    assert!(
        tokens.iter().all(|q| q.contains("service=test-registry")),
        "{tokens:?}"
    );
    let mut distinct = tokens.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(
        distinct.len(),
        tokens.len(),
        "each scope's token is fetched once: {tokens:?}"
    );
    for img in &images {
        skopeo_verify(&reg, img, "");
    }

    let mut cfg = config_for(&reg, &format!("127.0.0.1:{}", proxy.port));
    cfg.credentials = Credentials::basic(USER, "wrong");
    let err = RegistryClient::new(cfg)
        .unwrap()
        .preflight("team/app-one")
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("rejected the credentials"),
        "{err}"
    );
}

/// A push where a shared layer is mounted rather than sent still ends at 100%: mounted and
/// present layers count as done.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn progress_reaches_the_whole_when_layers_are_mounted() {
    let reg = TestRegistry::start();
    let work = tempfile::tempdir().unwrap();
    let images = standard_set(work.path());
    let pusher = Pusher::new(
        client_for(&reg),
        PushOptions {
            image_concurrency: 1,
            blob_concurrency: 1,
            ..PushOptions::default()
        },
        Arc::new(MemoryLedger::new()),
        Recorder::new(),
    );
    pusher.push(&images).await.unwrap();
    let s = pusher.stats().snapshot();
    assert!(
        s.blobs_mounted + s.blobs_present >= 1,
        "the shared base layer is reused: {s:?}"
    );
    assert_eq!(
        s.bytes_done(),
        s.bytes_total,
        "reused layers count as done: {s:?}"
    );
}

/// Ten names for one image (the same config and layer: a release names some images twice,
/// the demo seeds a tiny image under every name), two tags in each of five repositories,
/// pushed in one call, three times over: each name is whole in the registry, and the shared
/// blobs went up once per round.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_image_under_ten_names_in_one_push_lands_under_every_name() {
    use crate::registry_support::images::{Kind, bytes, image, layer};
    let reg = TestRegistry::start();
    let work = tempfile::tempdir().unwrap();
    for round in 0..3 {
        let shared = layer(
            work.path(),
            &format!("shared-{round}"),
            &bytes(40 + round, 64 << 10, true),
            Kind::Plain,
        );
        // Five repositories with two tags each: tags of one repository go up together too
        // (istio/pilot:1.25.5 and istio/pilot:1.26.8 of an upgrade's set).
        let images: Vec<_> = (0..10)
            .map(|i| {
                image(
                    work.path(),
                    &format!("round{round}/name{}", i / 2),
                    &format!("v{}", i % 2),
                    vec![shared.clone()],
                )
            })
            .collect();
        assert!(
            images
                .iter()
                .all(|i| i.config.digest == images[0].config.digest)
        );
        let pusher = Pusher::new(
            client_for(&reg),
            PushOptions::default(),
            Arc::new(MemoryLedger::new()),
            Recorder::new(),
        );
        let report = pusher
            .push(&images)
            .await
            .unwrap_or_else(|e| panic!("round {round}: {e}"));
        assert_eq!(report.images.len(), 10);
        let stats = pusher.stats().snapshot();
        assert_eq!(stats.blobs_uploaded, 2, "round {round}: {stats:?}");
        for img in &images {
            skopeo_verify(&reg, img, "");
        }
    }
}
