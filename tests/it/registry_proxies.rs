//! Any registry in between: a reverse proxy with a body limit (413), one that refuses chunked
//! request bodies (411), and a connection cut in the middle of a large layer. The real
//! registry sits behind the proxy; skopeo checks what arrived.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Read;
use std::path::Path;
use std::sync::Arc;

use crate::registry_support::images::{
    Kind, bytes, image, layer, sha, skopeo_verify, standard_set,
};
use crate::registry_support::proxy::{BodyRules, Fault, HttpProxy, PatchSeen};
use crate::registry_support::registry::{RegistryOptions, TestRegistry};
use crate::registry_support::{Recorder, config_for};
use ckf_airgap::registry::{
    LayerState, MemoryLedger, PushImage, PushOptions, Pusher, RegistryClient, RegistryError,
    UploadFormChange, UploadMode,
};

const MIB: u64 = 1 << 20;

fn plain_registry() -> TestRegistry {
    // The proxy reads HTTP, so the registry behind it serves plain HTTP on loopback.
    TestRegistry::start_with(RegistryOptions {
        sans: None,
        ..RegistryOptions::default()
    })
}

/// A 6 MiB incompressible layer first (so the first upload meets the proxy's rule), then the
/// standard pair.
fn images_with_a_big_layer(dir: &Path) -> Vec<PushImage> {
    let big = layer(dir, "big", &bytes(40, 6 * MIB as usize, false), Kind::Plain);
    let mut images = vec![image(dir, "team/big", "v1", vec![big])];
    images.extend(standard_set(dir));
    images
}

fn one_at_a_time() -> PushOptions {
    PushOptions {
        image_concurrency: 1,
        blob_concurrency: 1,
        ..PushOptions::default()
    }
}

fn pusher_through(
    reg: &TestRegistry,
    proxy: &HttpProxy,
    options: PushOptions,
) -> (Pusher, Arc<Recorder>) {
    let client =
        RegistryClient::new(config_for(reg, &format!("127.0.0.1:{}", proxy.port))).unwrap();
    let rec = Recorder::new();
    let pusher = Pusher::new(client, options, Arc::new(MemoryLedger::new()), rec.clone());
    (pusher, rec)
}

fn retry_reasons(rec: &Recorder) -> Vec<String> {
    rec.layer_states()
        .into_iter()
        .filter_map(|(_, s)| match s {
            LayerState::Retrying { reason, .. } => Some(reason),
            _ => None,
        })
        .collect()
}

/// After the first refusal, no streamed (chunked-encoded) body is sent again.
fn streamed_after_first_refusal(patches: &[PatchSeen]) -> usize {
    let first = patches.iter().position(|p| p.refused.is_some()).unwrap();
    patches[first + 1..].iter().filter(|p| p.chunked).count()
}

/// Pushes the big-layer set through a proxy with these rules, one blob at a time, and checks
/// what every fall-back must give: the whole set in the registry (read back by skopeo), and no
/// streamed body after the first refusal. Returns what the proxy saw.
async fn push_through_rules(rules: BodyRules) -> (Pusher, Arc<Recorder>, Vec<PatchSeen>) {
    let reg = plain_registry();
    let proxy = HttpProxy::start_rules(reg.port, rules);
    let work = tempfile::tempdir().unwrap();
    let images = images_with_a_big_layer(work.path());
    let (pusher, rec) = pusher_through(&reg, &proxy, one_at_a_time());
    let report = pusher.push(&images).await.unwrap();
    assert_eq!(report.images.len(), 3);
    let patches = proxy.patches();
    assert_eq!(streamed_after_first_refusal(&patches), 0, "{patches:?}");
    for img in &images {
        skopeo_verify(&reg, img, "");
    }
    (pusher, rec, patches)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn body_limit_413_falls_back_to_chunks_that_fit() {
    let (pusher, rec, patches) = push_through_rules(BodyRules {
        max_body: Some(2 * MIB),
        ..BodyRules::default()
    })
    .await;
    assert_eq!(patches[0].refused, Some(413), "{patches:?}");
    assert!(patches[0].chunked, "the first upload was streamed");
    // The 12 MiB default chunk was halved on each 413 until it fit under the 2 MiB limit.
    assert!(
        patches.iter().any(|p| p.refused == Some(413) && !p.chunked),
        "{patches:?}"
    );
    assert!(
        patches
            .iter()
            .filter(|p| p.refused.is_none())
            .all(|p| p.received <= 2 * MIB),
        "{patches:?}"
    );
    let since = pusher.chunked_since().expect("the push went chunked");
    assert!(
        since.chunk_size <= 2 * MIB && since.chunk_size > MIB,
        "{since:?}"
    );
    let since_size = since.chunk_size;
    assert!(since.reason.unwrap().contains("413"));
    let reasons = retry_reasons(&rec);
    assert!(
        reasons
            .iter()
            .any(|r| r.contains("refused a streamed upload") && r.contains("413")),
        "{reasons:?}"
    );
    // Every change of form was said once, as it happened: chunked, then each halving, down
    // to the size the push kept.
    let forms = rec.upload_forms.lock().unwrap().clone();
    assert!(
        matches!(&forms[0], UploadFormChange::Chunked { reason, .. } if reason.contains("413")),
        "{forms:?}"
    );
    let sizes: Vec<u64> = forms
        .iter()
        .filter_map(|f| match f {
            UploadFormChange::Smaller { to, .. } => Some(*to),
            _ => None,
        })
        .collect();
    assert_eq!(sizes, vec![6 * MIB, 3 * MIB, 3 * MIB / 2], "{forms:?}");
    assert_eq!(sizes.last(), Some(&since_size), "{forms:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_refusing_chunked_bodies_411_gets_chunks_with_a_length() {
    let (pusher, rec, patches) = push_through_rules(BodyRules {
        refuse_chunked: true,
        ..BodyRules::default()
    })
    .await;
    assert_eq!(patches[0].refused, Some(411), "{patches:?}");
    assert_eq!(
        patches.iter().filter(|p| p.refused.is_some()).count(),
        1,
        "one refusal, remembered for the rest of the push: {patches:?}"
    );
    let since = pusher.chunked_since().unwrap();
    assert!(since.reason.unwrap().contains("411"));
    assert!(
        retry_reasons(&rec).iter().any(|r| r.contains("411")),
        "{:?}",
        retry_reasons(&rec)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_dropping_a_large_streamed_body_gets_chunks() {
    let (pusher, rec, patches) = push_through_rules(BodyRules {
        drop_streamed_over: Some(2 * MIB),
        ..BodyRules::default()
    })
    .await;
    assert_eq!(patches[0].refused, Some(0), "{patches:?}");
    let since = pusher.chunked_since().unwrap();
    assert!(since.reason.unwrap().contains("reset"));
    assert!(
        retry_reasons(&rec)
            .iter()
            .any(|r| r.contains("refused a streamed upload")),
        "{:?}",
        retry_reasons(&rec)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cut_in_the_middle_of_a_layer_resumes_from_the_registry_offset() {
    let reg = plain_registry();
    let chunk = MIB;
    // The third chunk of the 6 MiB layer is cut half-way.
    let proxy = HttpProxy::start_rules(
        reg.port,
        BodyRules {
            cut_patch_after: Some(2 * chunk + chunk / 2),
            ..BodyRules::default()
        },
    );
    let work = tempfile::tempdir().unwrap();
    let images = images_with_a_big_layer(work.path());
    let options = PushOptions {
        upload_mode: UploadMode::Chunked,
        chunk_size: chunk,
        ..one_at_a_time()
    };
    let (pusher, rec) = pusher_through(&reg, &proxy, options);
    let report = pusher.push(&images[..1]).await.unwrap();
    assert_eq!(report.images.len(), 1);

    let patches = proxy.patches();
    let cut: Vec<&PatchSeen> = patches.iter().filter(|p| p.refused == Some(0)).collect();
    assert_eq!(cut.len(), 1, "{patches:?}");
    let received: u64 = patches.iter().map(|p| p.received).sum();
    let forwarded: u64 = patches
        .iter()
        .filter(|p| p.refused.is_none())
        .map(|p| p.received)
        .sum();
    // Bytes that went through the proxy twice: only the part of the chunk that was cut.
    assert!(received - forwarded < chunk, "{patches:?}");
    // And nothing reached the registry twice: what it got is exactly the layers it holds (the
    // config goes in the body of its closing PUT, not in a PATCH).
    let config = &images[0].config.digest;
    let uploaded: u64 = rec
        .layer_states()
        .into_iter()
        .filter(|(d, _)| d != config)
        .filter_map(|(_, s)| match s {
            LayerState::Uploaded { size, .. } => Some(size),
            _ => None,
        })
        .sum();
    assert_eq!(forwarded, uploaded, "{patches:?}");
    assert!(
        proxy
            .requests()
            .iter()
            .any(|r| r.starts_with("GET ") && r.contains("/blobs/uploads/")),
        "the retry asked the registry for the upload's offset: {:?}",
        proxy.requests()
    );
    assert!(!retry_reasons(&rec).is_empty());
    skopeo_verify(&reg, &images[0], "");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chunked_upload_of_a_damaged_layer_is_never_committed() {
    let reg = TestRegistry::start();
    let work = tempfile::tempdir().unwrap();
    let images = images_with_a_big_layer(work.path());
    let path = &images[0].layers[0].path;
    let mut damaged = std::fs::read(path).unwrap();
    damaged[3 * MIB as usize] ^= 0xff;
    std::fs::write(path, &damaged).unwrap();
    let options = PushOptions {
        upload_mode: UploadMode::Chunked,
        chunk_size: MIB,
        ..one_at_a_time()
    };
    let client = crate::registry_support::client_for(&reg);
    let pusher = Pusher::new(
        client,
        options,
        Arc::new(MemoryLedger::new()),
        Recorder::new(),
    );
    let failure = pusher.push(&images[..1]).await.unwrap_err();
    let err = failure.first_error().unwrap();
    assert!(matches!(err, RegistryError::LayerCorrupt { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains(&path.display().to_string()), "{msg}");
    assert!(
        msg.contains(&images[0].layers[0].diff_id.to_string()),
        "{msg}"
    );
    // No blob in the registry's store holds the damaged bytes, compressed or not.
    let damaged_id = sha(&damaged);
    let blobs = reg.storage().join("docker/registry/v2/blobs/sha256");
    for data in files_named(&blobs, "data") {
        let raw = std::fs::read(&data).unwrap();
        let mut inflated = Vec::new();
        let _ = flate2::read::MultiGzDecoder::new(&raw[..]).read_to_end(&mut inflated);
        assert_ne!(sha(&raw), damaged_id, "{}", data.display());
        assert_ne!(
            sha(&inflated),
            damaged_id,
            "{} was committed",
            data.display()
        );
    }
}

fn files_named(dir: &Path, name: &str) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(files_named(&p, name));
        } else if p.file_name().is_some_and(|n| n == name) {
            out.push(p);
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redirected_chunk_of_several_pieces_is_sent_again_to_the_new_location() {
    let reg = plain_registry();
    // The big layer's first chunk is made of several compressed pieces, so it goes as a stream
    // body that reqwest cannot replay on a 307 itself.
    let proxy = HttpProxy::start(
        reg.port,
        vec![Fault {
            method: "PATCH",
            path_contains: "team/big/blobs/uploads",
            status: 307,
            retry_after: None,
            body: "",
            times: 1,
        }],
    );
    let work = tempfile::tempdir().unwrap();
    let images = images_with_a_big_layer(work.path());
    let (pusher, _rec) = pusher_through(
        &reg,
        &proxy,
        PushOptions {
            upload_mode: UploadMode::Chunked,
            ..one_at_a_time()
        },
    );
    let report = pusher.push(&images).await.unwrap();
    assert_eq!(report.images.len(), 3);
    let injected = proxy.injected();
    assert!(
        injected
            .iter()
            .any(|i| i.starts_with("PATCH") && i.ends_with("-> 307")),
        "{injected:?}"
    );
    for img in &images {
        skopeo_verify(&reg, img, "");
    }
}
