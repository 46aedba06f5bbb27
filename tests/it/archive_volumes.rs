//! `images.tar.gz` cut into volumes end to end: gather with a tiny `max_volume_size` writes at
//! least three volumes listed in the lock, `cat` of them equals the single file the same gather
//! writes without the limit, the air-gapped side reads them from the base name (and pushes
//! every image into a real registry, checked by skopeo) and from the first volume, and a
//! missing or reordered volume is refused by name.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use crate::gather_flow::{config_digest, docker_config, docker_env, one_app_release, write_gather};
use crate::registry_support::registry::{PASS, TestRegistry, USER};
use crate::support::answers::{self, skip_all_but};
use crate::support::run_headless;
use ckf_airgap::answers::{Answers, RegistryAnswers};
use ckf_airgap::gather::lock::ReleaseLock;
use ckf_airgap::wizard::state::GatherChoice;

/// The air-gapped side on `images`: the Artifacts step, and with `target` the login and the
/// push into it too.
fn install(work: &Path, images: &Path, target: Option<&TestRegistry>, name: &str) -> (i32, String) {
    let carry = images.parent().unwrap();
    let mut spec = Answers {
        artifacts: Some(answers::artifacts(images, &carry.join("charms.tar.gz"))),
        registry: target.map(|t| RegistryAnswers {
            ca_file: Some(t.ca_file.clone()),
            ..answers::registry_login(format!("{}/ckf", t.addr()), USER, "CKF_VOLUMES_PASSWORD")
        }),
        ..Answers::default()
    };
    let run: &[&str] = if target.is_some() {
        &["artifacts", "registry-login", "image-push"]
    } else {
        &["artifacts"]
    };
    skip_all_but(
        &mut spec,
        run,
        "only the archives and the push are under test",
    );
    let file = work.join(format!("{name}.toml"));
    answers::write(&file, &spec);
    run_headless(
        &work.join(format!("{name}-state")),
        &file,
        &[],
        &[("CKF_VOLUMES_PASSWORD", PASS)],
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gather_cut_into_volumes_installs_from_them_and_a_missing_or_reordered_one_is_named() {
    let upstream = TestRegistry::start();
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let (hub, bundle) = one_app_release(&upstream, w).await;
    let docker = docker_config(w, &upstream);
    let gather = |out: &str, max: Option<&str>| {
        let answers = w.join(format!("{out}.toml"));
        write_gather(
            &answers,
            GatherChoice {
                bundle: Some(bundle.clone()),
                charmhub_url: Some(hub.url()),
                ca_file: Some(upstream.ca_file.clone()),
                output_dir: Some(w.join(out)),
                max_volume_size: max.map(str::to_owned),
                ..GatherChoice::default()
            },
        );
        let (code, printed) = run_headless(
            &w.join(format!("{out}-state")),
            &answers,
            &["gather"],
            &docker_env(&docker),
        );
        assert_eq!(code, 0, "{printed}");
        printed
    };

    let printed = gather("whole", None);
    let whole = std::fs::read(w.join("whole/images.tar.gz")).unwrap();
    // A third of the archive a volume: at least three of them.
    let max = whole.len() / 3;
    let printed_cut = gather("cut", Some(&max.to_string()));
    assert!(
        printed_cut.contains("images.tar.gz is cut into"),
        "{printed}{printed_cut}"
    );
    let carry = w.join("cut");
    assert!(!carry.join("images.tar.gz").exists());
    let lock: ReleaseLock =
        serde_json::from_slice(&std::fs::read(carry.join("ckf-release.lock.json")).unwrap())
            .unwrap();
    assert!(lock.volumes.len() >= 3, "{:?}", lock.volumes);
    let mut joined = Vec::new();
    for (i, v) in lock.volumes.iter().enumerate() {
        assert_eq!(v.file, format!("images.tar.gz.{:03}", i + 1));
        let bytes = std::fs::read(carry.join(&v.file)).unwrap();
        assert!(bytes.len() <= max, "{} is {} bytes", v.file, bytes.len());
        assert_eq!(v.size, bytes.len() as u64);
        assert_eq!(v.sha256, ckf_airgap::oci::Digest::of(&bytes).hex());
        joined.extend(bytes);
    }
    assert_eq!(
        joined, whole,
        "cat of the volumes is the archive written whole"
    );

    // Read from the base name and pushed; read from the first volume; each checked against
    // the lock. skopeo finds every image in the registry with the upstream's config.
    let target = TestRegistry::start();
    let (code, out) = install(w, &carry.join("images.tar.gz"), Some(&target), "base");
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("every one of its"), "{out}");
    for image in &lock.images {
        let path = image.upstream.split_once('/').unwrap().1;
        assert_eq!(
            config_digest(&target, &format!("{}/ckf/{path}", target.addr())),
            image.config_digest.to_string(),
            "{}",
            image.upstream
        );
    }
    let (code, out) = install(w, &carry.join("images.tar.gz.001"), None, "first");
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("every one of its"), "{out}");

    // Two volumes swapped: named as out of order, not as a corrupt gzip stream.
    let (one, two) = (
        carry.join("images.tar.gz.001"),
        carry.join("images.tar.gz.002"),
    );
    let swap = |a: &Path, b: &Path| {
        let t = carry.join("swap");
        std::fs::rename(a, &t).unwrap();
        std::fs::rename(b, a).unwrap();
        std::fs::rename(&t, b).unwrap();
    };
    swap(&one, &two);
    let (code, out) = install(w, &carry.join("images.tar.gz"), None, "reordered");
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("images.tar.gz.001 holds what the lock lists as images.tar.gz.002"),
        "{out}"
    );
    swap(&one, &two);

    // One missing: named before anything is read.
    std::fs::remove_file(&two).unwrap();
    let (code, out) = install(w, &carry.join("images.tar.gz"), None, "missing");
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(&format!(
            "images.tar.gz.002 is missing (the lock lists {} volumes)",
            lock.volumes.len()
        )),
        "{out}"
    );
}
