//! charms.tar.gz: safe extraction and what is read from each charm.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use crate::artifacts_support::*;
use ckf_airgap::artifacts::charms::{CharmVersion, parse_charm_file_name};
use ckf_airgap::artifacts::{ArtifactError, CharmKind, NoProgress, process_charms};
use ckf_airgap::synth::raw::{RawEntry, raw_tar};
use ckf_airgap::synth::{ReleaseSpec, generate_release};

fn no_cancel() -> Arc<AtomicBool> {
    Arc::new(AtomicBool::new(false))
}

#[test]
fn file_names_split_on_last_underscore() {
    assert_eq!(
        parse_charm_file_name("argo-controller_r424.charm"),
        Some(("argo-controller".into(), CharmVersion::Revision(424)))
    );
    assert_eq!(
        parse_charm_file_name("mysql-k8s_9ec3b26.charm"),
        Some(("mysql-k8s".into(), CharmVersion::Hash("9ec3b26".into())))
    );
    assert_eq!(
        parse_charm_file_name("my_odd_charm_r7.charm"),
        Some(("my_odd_charm".into(), CharmVersion::Revision(7)))
    );
    assert_eq!(parse_charm_file_name("argo-controller.charm"), None);
    assert_eq!(parse_charm_file_name("x_r.charm"), None);
    assert_eq!(parse_charm_file_name("x_zzzzzzz.charm"), None);
}

#[test]
fn charms_are_extracted_and_read() -> TestResult {
    let d = tempfile::tempdir()?;
    let rel = generate_release(
        &ReleaseSpec {
            images: 1,
            ..ReleaseSpec::default()
        },
        &d.path().join("out"),
    )?;
    let work = d.path().join("work");
    let charms = process_charms(
        rel.charms_gz.as_deref().ok_or("no charms")?,
        &work,
        &no_cancel(),
        &mut NoProgress,
    )?;
    assert_eq!(charms.len(), rel.charm_files.len());
    let by = |n: &str| charms.iter().find(|c| c.name == n).ok_or(format!("no {n}"));

    let argo = by("argo-controller")?;
    assert_eq!(argo.kind, CharmKind::PodSpec);
    assert_eq!(argo.version, CharmVersion::Revision(424));
    assert_eq!(argo.file_name, "argo-controller_r424.charm");
    let res: Vec<_> = argo.oci_resources().collect();
    assert_eq!(res.len(), 1);
    assert_eq!(res[0].name, "oci-image");
    assert_eq!(
        res[0].upstream_source.as_deref(),
        Some("argoproj/workflow-controller:v3.3.9")
    );
    assert!(
        argo.base_images.is_empty(),
        "PodSpec charms need no charm-base"
    );
    let exec = argo
        .options
        .iter()
        .find(|o| o.name == "executor-image")
        .ok_or("option")?;
    assert_eq!(exec.kind, "string");
    assert_eq!(
        exec.default.as_deref(),
        Some("charmedkubeflow/argoexec:v3.3.9_22.04_1")
    );
    let ki = argo
        .options
        .iter()
        .find(|o| o.name == "kubelet-insecure")
        .ok_or("option")?;
    assert_eq!(
        (ki.kind.as_str(), ki.default.as_deref()),
        ("boolean", Some("true"))
    );

    let mysql = by("mysql-k8s")?;
    assert_eq!(mysql.kind, CharmKind::Sidecar);
    assert!(matches!(&mysql.version, CharmVersion::Hash(h) if h.len() == 7));
    assert_eq!(mysql.bases, vec!["ubuntu@22.04".to_string()]);
    assert_eq!(
        mysql.base_images,
        vec!["charm-base:ubuntu-22.04".to_string()]
    );
    assert_eq!(
        mysql.oci_resources().next().map(|r| r.name.as_str()),
        Some("mysql-image")
    );

    let gw = by("istio-gateway")?;
    assert_eq!(gw.kind, CharmKind::Sidecar);
    assert_eq!(gw.oci_resources().count(), 0);
    let gst = gw
        .options
        .iter()
        .find(|o| o.name == "gateway_service_type")
        .ok_or("option")?;
    assert_eq!(gst.default.as_deref(), Some("LoadBalancer"));

    for c in &charms {
        let p = work.join(&c.spool_path);
        assert!(p.is_file());
        assert_eq!(sha256_hex(&p), c.sha256);
    }
    assert!(temp_files(&work).is_empty());
    Ok(())
}

fn charms_fail(entries: &[RawEntry]) -> ArtifactError {
    let d = tempfile::tempdir().expect("tmp");
    let a = gz_raw(d.path(), "charms.tar.gz", &raw_tar(entries).expect("raw"));
    let work = d.path().join("work");
    let before = snapshot(d.path());
    let e = process_charms(&a, &work, &no_cancel(), &mut NoProgress).expect_err("must fail");
    for p in snapshot(d.path()).keys() {
        assert!(
            p.starts_with(&work) || before.contains_key(p),
            "outside work dir: {}",
            p.display()
        );
    }
    assert!(temp_files(&work).is_empty());
    let charms_dir = work.join("charms");
    let left = fs::read_dir(&charms_dir).map(|r| r.count()).unwrap_or(0);
    assert_eq!(left, 0, "a bad charm must not stay under its name");
    e
}

#[test]
fn bad_charm_archives() {
    let e = charms_fail(&[RawEntry::file("../evil_r1.charm", "x")]);
    assert!(matches!(e, ArtifactError::UnsafePath { .. }), "{e}");
    let e = charms_fail(&[RawEntry::file("/abs_r1.charm", "x")]);
    assert!(matches!(e, ArtifactError::UnsafePath { .. }), "{e}");
    let e = charms_fail(&[RawEntry::file("sub/dir_r1.charm", "x")]);
    assert!(matches!(e, ArtifactError::BadCharmName { .. }), "{e}");
    let e = charms_fail(&[RawEntry::file("argo-controller.charm", "x")]);
    assert!(matches!(e, ArtifactError::BadCharmName { .. }), "{e}");
    let e = charms_fail(&[RawEntry::file("argo-controller_r1.charm", "not a zip")]);
    assert!(
        matches!(&e, ArtifactError::BadCharm { member, .. } if member == "argo-controller_r1.charm"),
        "{e}"
    );
}

#[test]
fn truncated_charms_archive() -> TestResult {
    let d = tempfile::tempdir()?;
    let rel = generate_release(
        &ReleaseSpec {
            images: 1,
            ..ReleaseSpec::default()
        },
        &d.path().join("out"),
    )?;
    let p = rel.charms_gz.ok_or("no charms")?;
    let b = fs::read(&p)?;
    fs::write(&p, &b[..b.len() * 2 / 3])?;
    let e = process_charms(&p, &d.path().join("work"), &no_cancel(), &mut NoProgress).err();
    assert!(matches!(e, Some(ArtifactError::Truncated { .. })), "{e:?}");
    Ok(())
}
