//! Resume after interruption: the registry killed mid-push, and the pushing process itself
//! killed with SIGKILL. The resumed push must complete without re-uploading finished layers.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use crate::registry_support::images::{Kind, bytes, image, layer, skopeo_verify};
use crate::registry_support::proxy::TcpProxy;
use crate::registry_support::registry::TestRegistry;
use crate::registry_support::{Recorder, client_for, config_for};
use ckf_airgap::registry::{
    ImageState, JsonFileLedger, LayerState, PushImage, PushLedger, PushOptions, Pusher,
    RegistryClient,
};

/// One image: a small finished-first layer, a big one to interrupt, a small last one.
/// Random bytes, so gzip barely shrinks them and byte counts are predictable.
fn resume_image(dir: &Path) -> PushImage {
    let a = layer(dir, "a", &bytes(11, 1 << 20, false), Kind::Plain);
    let b = layer(dir, "b", &bytes(12, 12 << 20, false), Kind::Plain);
    let c = layer(dir, "c", &bytes(13, 1 << 20, false), Kind::Plain);
    image(dir, "resume/app", "v1", vec![a, b, c])
}

fn sequential() -> PushOptions {
    PushOptions {
        image_concurrency: 1,
        blob_concurrency: 1,
        ..PushOptions::default()
    }
}

/// Pushes again from the ledger and checks that only unfinished blobs were sent.
async fn resume_and_check(client: RegistryClient, ledger_path: &Path, img: &PushImage) {
    let ledger = Arc::new(JsonFileLedger::open(ledger_path).unwrap());
    let rec = Recorder::new();
    let pusher = Pusher::new(client, sequential(), ledger.clone(), rec.clone());
    let key = pusher.target_key();
    let finished_before = ledger
        .layer(&key, &img.layers[0].diff_id)
        .expect("layer a was recorded");
    assert!(
        ledger.layer(&key, &img.layers[1].diff_id).is_none(),
        "layer b was not finished"
    );

    pusher.push(std::slice::from_ref(img)).await.unwrap();
    let stats = pusher.stats().snapshot();
    let a = &img.layers[0].diff_id;
    let a_states: Vec<LayerState> = rec
        .layer_states()
        .into_iter()
        .filter(|(d, _)| d == a)
        .map(|(_, s)| s)
        .collect();
    assert_eq!(
        a_states,
        vec![LayerState::Present {
            digest: finished_before.digest.to_string()
        }],
        "the finished layer is only checked with a HEAD"
    );
    // Exactly the blobs that were not finished went over the wire: b, c and the config.
    let b = ledger.layer(&key, &img.layers[1].diff_id).unwrap();
    let c = ledger.layer(&key, &img.layers[2].diff_id).unwrap();
    assert_eq!(
        stats.bytes_sent,
        b.size + c.size + img.config.size,
        "{stats:?}"
    );
    assert_eq!(stats.blobs_uploaded, 3);
    // Layer a was not read (no re-compression).
    assert_eq!(
        stats.bytes_read,
        img.layers[1].size + img.layers[2].size + img.config.size
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registry_killed_mid_push_then_restarted_resumes_without_resending() {
    let mut reg = TestRegistry::start();
    let work = tempfile::tempdir().unwrap();
    let img = resume_image(work.path());
    let ledger_path = work.path().join("ledger.json");

    // Kill the registry when layer b is a few MiB in: a is finished by then.
    let rec = Recorder::new();
    let kill = reg.killer();
    let a_size = img.layers[0].size;
    *rec.image_hook.lock().unwrap() = Some(Box::new(move |s| {
        if let ImageState::Uploading { done, .. } = s
            && *done > a_size + (4 << 20)
        {
            kill();
        }
    }));
    let mut cfg = config_for(&reg, &reg.addr());
    cfg.retry.max_attempts = 2;
    let pusher = Pusher::new(
        RegistryClient::new(cfg).unwrap(),
        sequential(),
        Arc::new(JsonFileLedger::open(&ledger_path).unwrap()),
        rec.clone(),
    );
    let failure = pusher.push(std::slice::from_ref(&img)).await.unwrap_err();
    let err = failure.first_error().unwrap();
    assert!(
        err.is_retryable(),
        "a dead registry is a transient failure: {err:?}"
    );

    reg.start_again();
    resume_and_check(client_for(&reg), &ledger_path, &img).await;
    skopeo_verify(&reg, &img, "");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn process_killed_mid_push_resumes_from_the_json_ledger() {
    let reg = TestRegistry::start();
    let proxy = TcpProxy::start(reg.port);
    let work = tempfile::tempdir().unwrap();
    let img = resume_image(work.path());
    let ledger_path = work.path().join("ledger.json");
    let addr = format!("127.0.0.1:{}", proxy.port);

    // Layer a (1 MiB) passes; the connection freezes a few MiB into layer b.
    proxy.stall_once_after(4 << 20);
    let spec = serde_json::json!({
        "addr": addr, "ca": reg.ca_file, "ledger": ledger_path,
        "user": crate::registry_support::registry::USER,
        "pass": crate::registry_support::registry::PASS,
        "image": img,
    });
    let mut child = Command::new(crate::support::test_child())
        .arg("push")
        .arg(spec.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    assert!(
        proxy.wait_stalled(Duration::from_secs(60)),
        "the child reached the stall"
    );

    // The child announces each layer once its ledger record is durable: layer a precedes b.
    let a = img.layers[0].diff_id.to_string();
    let stdout = child.stdout.take().unwrap();
    let recorded = BufReader::new(stdout)
        .lines()
        .map_while(Result::ok)
        .any(|line| line == format!("recorded {a}"));
    assert!(recorded, "layer a never reached the ledger");
    assert!(std::fs::read_to_string(&ledger_path).unwrap().contains(&a));
    child.kill().unwrap(); // SIGKILL
    let status = child.wait().unwrap();
    assert!(!status.success());

    // Resume in this process, through the same address (the ledger is keyed by it).
    let client = RegistryClient::new(config_for(&reg, &addr)).unwrap();
    resume_and_check(client, &ledger_path, &img).await;
    skopeo_verify(&reg, &img, "");
}

/// An image the ledger holds as pushed (the streaming push sent it while the archive was
/// read) is done without a byte read or sent, and counts as done: the push screen's bar is at
/// 100 %, not at 0 % under a "done".
#[tokio::test]
async fn an_image_the_ledger_holds_counts_as_done_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let reg = TestRegistry::start();
    let img = resume_image(dir.path());
    let ledger = Arc::new(ckf_airgap::registry::MemoryLedger::new());
    let first = Pusher::new(
        client_for(&reg),
        sequential(),
        ledger.clone(),
        Recorder::new(),
    );
    first.push(std::slice::from_ref(&img)).await.unwrap();

    let again = Pusher::new(client_for(&reg), sequential(), ledger, Recorder::new());
    let report = again.push(std::slice::from_ref(&img)).await.unwrap();
    assert_eq!(
        report.images[0].status,
        ckf_airgap::registry::PushOutcome::AlreadyPresent
    );
    let stats = again.stats().snapshot();
    assert_eq!(stats.bytes_sent, 0, "{stats:?}");
    assert_eq!(stats.bytes_done(), stats.bytes_total, "{stats:?}");
    assert!(stats.bytes_total > 0, "{stats:?}");
}
