//! A registry that throttles (429 + Retry-After) or stalls mid-upload, then recovers.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::registry_support::images::{skopeo_verify, standard_set};
use crate::registry_support::proxy::{Fault, HttpProxy, TcpProxy};
use crate::registry_support::registry::{RegistryOptions, TestRegistry};
use crate::registry_support::{Recorder, config_for};
use ckf_airgap::registry::{LayerState, MemoryLedger, PushOptions, Pusher, RegistryClient};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttled_registry_is_retried_honouring_retry_after() {
    // HTTP-level injection needs to see requests, so the registry runs plain HTTP on loopback.
    let reg = TestRegistry::start_with(RegistryOptions {
        sans: None,
        ..RegistryOptions::default()
    });
    let throttle = |method, path_contains, times| Fault {
        method,
        path_contains,
        status: 429,
        retry_after: Some(1),
        body: r#"{"errors":[{"code":"TOOMANYREQUESTS","message":"slow down"}]}"#,
        times,
    };
    let proxy = HttpProxy::start(
        reg.port,
        vec![
            throttle("POST", "/blobs/uploads/", 2),
            throttle("PUT", "/manifests/", 1),
            Fault {
                method: "PATCH",
                path_contains: "/blobs/uploads/",
                status: 503,
                retry_after: None,
                body: "",
                times: 1,
            },
        ],
    );
    let work = tempfile::tempdir().unwrap();
    let images = standard_set(work.path());
    let client =
        RegistryClient::new(config_for(&reg, &format!("127.0.0.1:{}", proxy.port))).unwrap();
    let rec = Recorder::new();
    let pusher = Pusher::new(
        client,
        PushOptions::default(),
        Arc::new(MemoryLedger::new()),
        rec.clone(),
    );
    let started = Instant::now();
    let report = pusher.push(&images).await.unwrap();
    assert_eq!(report.images.len(), 2);
    let injected = proxy.injected();
    assert_eq!(injected.len(), 4, "{injected:?}");
    assert!(
        injected
            .iter()
            .any(|i| i.starts_with("PUT") && i.contains("/manifests/"))
    );
    let stats = pusher.stats().snapshot();
    assert!(stats.retries >= 4, "{stats:?}");
    // The back-off base is 50 ms in tests: waiting a second proves Retry-After was honoured.
    assert!(started.elapsed() >= Duration::from_secs(1));
    let retry_reasons: Vec<String> = rec
        .layer_states()
        .into_iter()
        .filter_map(|(_, s)| match s {
            LayerState::Retrying { reason, .. } => Some(reason),
            _ => None,
        })
        .collect();
    assert!(
        retry_reasons
            .iter()
            .any(|r| r.contains("429") && r.contains("slow down")),
        "{retry_reasons:?}"
    );
    assert!(
        retry_reasons.iter().any(|r| r.contains("503")),
        "{retry_reasons:?}"
    );
    for img in &images {
        skopeo_verify(&reg, img, "");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_upload_is_aborted_by_the_watchdog_and_retried() {
    let reg = TestRegistry::start();
    let proxy = TcpProxy::start(reg.port);
    let work = tempfile::tempdir().unwrap();
    let images = standard_set(work.path());
    let mut cfg = config_for(&reg, &format!("127.0.0.1:{}", proxy.port));
    cfg.stall_timeout = Duration::from_millis(800);
    let client = RegistryClient::new(cfg).unwrap();
    client.preflight("team/app-one").await.unwrap();
    // Freeze the connection carrying the upload once ~400 KiB more have passed.
    proxy.stall_once_after(400 << 10);
    let rec = Recorder::new();
    let options = PushOptions {
        image_concurrency: 1,
        blob_concurrency: 1,
        ..PushOptions::default()
    };
    let pusher = Pusher::new(client, options, Arc::new(MemoryLedger::new()), rec.clone());
    let report = pusher.push(&images).await.unwrap();
    assert!(
        proxy.wait_stalled(Duration::ZERO),
        "the proxy did stall a connection"
    );
    assert_eq!(report.images.len(), 2);
    let stalls = rec
        .layer_states()
        .into_iter()
        .filter(|(_, s)| matches!(s, LayerState::Retrying { reason, .. } if reason.contains("made no progress")))
        .count();
    assert_eq!(stalls, 1);
    for img in &images {
        skopeo_verify(&reg, img, "");
    }
}

/// An upload the registry no longer knows (404 `BLOB_UPLOAD_UNKNOWN` on its location, as after
/// a restart) starts again from the layer's beginning in the same push, and the retry says so
/// by the registry's code, without the upload's state token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_the_registry_forgot_starts_again_from_the_beginning() {
    let reg = TestRegistry::start_with(RegistryOptions {
        sans: None,
        ..RegistryOptions::default()
    });
    let proxy = HttpProxy::start(
        reg.port,
        vec![Fault {
            method: "PATCH",
            path_contains: "/blobs/uploads/",
            status: 404,
            retry_after: None,
            body: r#"{"errors":[{"code":"BLOB_UPLOAD_UNKNOWN","message":"blob upload unknown to registry"}]}"#,
            times: 1,
        }],
    );
    let work = tempfile::tempdir().unwrap();
    let images = standard_set(work.path());
    let client =
        RegistryClient::new(config_for(&reg, &format!("127.0.0.1:{}", proxy.port))).unwrap();
    let rec = Recorder::new();
    let pusher = Pusher::new(
        client,
        PushOptions::default(),
        Arc::new(MemoryLedger::new()),
        rec.clone(),
    );
    let report = pusher.push(&images).await.unwrap();
    assert_eq!(report.images.len(), 2);
    assert_eq!(proxy.injected().len(), 1, "{:?}", proxy.injected());
    let reasons: Vec<String> = rec
        .layer_states()
        .into_iter()
        .filter_map(|(_, s)| match s {
            LayerState::Retrying { reason, .. } => Some(reason),
            _ => None,
        })
        .collect();
    assert!(
        reasons
            .iter()
            .any(|r| r.contains("no longer knows an upload")
                && r.contains("BLOB_UPLOAD_UNKNOWN: blob upload unknown to registry")
                && !r.contains("_state=")),
        "{reasons:?}"
    );
    for img in &images {
        skopeo_verify(&reg, img, "");
    }
}
