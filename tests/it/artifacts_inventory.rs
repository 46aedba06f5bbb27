//! Inventory cross-check, serialisation and the disk budget.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use crate::artifacts_support::*;
use ckf_airgap::artifacts::{
    DeploymentNeeds, Inventory, NoProgress, SpoolMode, cross_check, estimate_space, free_space,
    plan_disk, process_charms,
};
use ckf_airgap::synth::{ReleaseSpec, generate_release};

#[test]
fn cross_check_reports_missing_and_unused() -> TestResult {
    let d = tempfile::tempdir()?;
    let rel = generate_release(
        &ReleaseSpec {
            images: 4,
            ..ReleaseSpec::default()
        },
        &d.path().join("out"),
    )?;
    let work = d.path().join("work");
    let images = run(&rel.images_gz, &work)?.images;
    let charms = process_charms(
        rel.charms_gz.as_deref().ok_or("charms")?,
        &work,
        &Arc::new(AtomicBool::new(false)),
        &mut NoProgress,
    )?;
    let inv = Inventory { images, charms };
    // Images named with another host, and without it: both must match.
    let needs = DeploymentNeeds {
        images: vec![
            "registry.local:5000/kubeflownotebookswg/jupyter-web-app:v1.7.0".into(),
            "kubeflownotebookswg/volumes-web-app:v1.7.0".into(),
            "172.17.0.2:5000/kubeflownotebookswg/tensorboards-web-app:v1.7.0".into(),
            "172.17.0.2:5000/google-containers/busybox".into(),
        ],
        charms: vec!["argo-controller".into(), "dex-auth".into(), "kfp-ui".into()],
    };
    let cc = cross_check(&inv, &needs);
    assert_eq!(
        cc.missing_images,
        vec!["172.17.0.2:5000/google-containers/busybox".to_string()]
    );
    assert_eq!(
        cc.unused_images,
        vec!["172.17.0.2:5000/kubeflownotebookswg/notebook-controller:v1.7.0".to_string()]
    );
    assert_eq!(cc.missing_charms, vec!["kfp-ui".to_string()]);
    assert!(cc.unused_charms.contains(&"minio".to_string()));
    assert!(!cc.unused_charms.contains(&"dex-auth".to_string()));
    assert!(!cc.is_complete());

    let json = serde_json::to_string(&inv)?;
    let back: Inventory = serde_json::from_str(&json)?;
    assert_eq!(back, inv);
    assert!(inv.unique_blob_bytes() < inv.total_image_bytes());
    Ok(())
}

#[test]
fn space_estimate_and_plan() -> TestResult {
    let d = tempfile::tempdir()?;
    let rel = generate_release(
        &ReleaseSpec {
            images: 3,
            ..ReleaseSpec::default()
        },
        &d.path().join("out"),
    )?;
    let est = estimate_space(&rel.images_gz)?;
    let rep = run(&rel.images_gz, &d.path().join("work"))?;
    // Small single-member gzip: the ISIZE trailer is exact.
    assert_eq!(est.uncompressed, rep.uncompressed_bytes);
    assert!(est.method.contains("ISIZE"));
    let free = free_space(&d.path().join("not/yet/there"))?;
    assert!(free > 0);
    let plan = plan_disk(
        &rel.images_gz,
        rel.charms_gz.as_deref(),
        &d.path().join("w2"),
    )?;
    assert_eq!(plan.mode, SpoolMode::ExtractAll);
    assert!(plan.needed_all >= est.uncompressed);
    Ok(())
}

#[test]
fn estimate_of_a_non_gzip_file_uses_the_ratio() -> TestResult {
    let d = tempfile::tempdir()?;
    let p = d.path().join("x.tar.gz");
    std::fs::write(&p, vec![0u8; 1000])?;
    let est = estimate_space(&p)?;
    assert_eq!(est.uncompressed, 2500);
    assert!(est.method.contains("ratio") || est.method.contains("×"));
    Ok(())
}
