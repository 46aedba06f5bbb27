//! Every docker save flavour the reader supports, on generated data.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashSet;

use crate::artifacts_support::*;
use ckf_airgap::artifacts::{
    NoHooks, ProcessOptions, ProgressEvent, load_image_records, process_images,
};
use ckf_airgap::synth::member::{ALL_FORMS, Form, MemberOptions};
use ckf_airgap::synth::{ReleaseSpec, generate_release, member_file_name};

/// Each form alone: the record names the image from RepoTags, its diff_ids
/// match what the generator wrote, and every stored blob hashes to its name.
#[test]
fn each_form_is_read_and_verified() -> TestResult {
    for &form in ALL_FORMS {
        let d = tempfile::tempdir()?;
        let spec = ReleaseSpec {
            images: 1,
            forms: vec![form],
            charms: false,
            ..ReleaseSpec::default()
        };
        let rel = generate_release(&spec, &d.path().join("out"))?;
        let work = d.path().join("work");
        let rep = run(&rel.images_gz, &work)?;
        assert_eq!(rep.images.len(), 1, "{form:?}");
        let rec = &rep.images[0];
        let want = &rel.images[0];
        assert_eq!(rec.reference, want.reference, "{form:?}");
        assert_eq!(rec.member, want.member);
        let got: Vec<String> = rec.layers.iter().map(|l| l.diff_id.to_string()).collect();
        let exp: Vec<String> = want
            .diff_ids
            .iter()
            .map(|h| format!("sha256:{h}"))
            .collect();
        assert_eq!(got, exp, "{form:?}");
        assert_eq!(rec.config_digest, format!("sha256:{}", want.config_hex));
        for hex in blob_names(&work) {
            assert_eq!(
                sha256_hex(&work.join("blobs/sha256").join(&hex)),
                hex,
                "{form:?}"
            );
        }
        let compressed = matches!(form, Form::CompressedOci | Form::CompressedLegacy);
        for l in &rec.layers {
            assert_eq!(l.compressed_digest.is_some(), compressed, "{form:?}");
            assert_eq!(l.uncompressed_size.is_some(), compressed, "{form:?}");
            assert!(work.join(&l.spool_path).is_file());
            if !compressed {
                assert_eq!(l.blob_digest, l.diff_id);
            }
        }
        let oci = matches!(form, Form::Docker25 | Form::CompressedOci);
        assert_eq!(rec.manifest.is_some(), oci, "{form:?}");
        assert!(temp_files(&work).is_empty());
        assert!(rep.uncompressed_bytes > rep.compressed_bytes);
    }
    Ok(())
}

/// A release mixing all forms: shared base layers are stored once, and the
/// records on disk equal the report.
#[test]
fn mixed_release_stores_shared_layers_once() -> TestResult {
    let d = tempfile::tempdir()?;
    let spec = ReleaseSpec {
        images: 10,
        charms: false,
        ..ReleaseSpec::default()
    };
    let rel = generate_release(&spec, &d.path().join("out"))?;
    let work = d.path().join("work");
    let rep = run(&rel.images_gz, &work)?;
    assert_eq!(rep.images.len(), 10);
    let mut refs = 0;
    let mut unique = HashSet::new();
    for r in &rep.images {
        for b in r.blob_digests() {
            refs += 1;
            unique.insert(b);
        }
    }
    assert!(unique.len() < refs, "base layers must be shared");
    assert_eq!(blob_names(&work).len(), unique.len());
    assert_eq!(rep.blobs_written as usize, unique.len());
    let mut on_disk = load_image_records(&work)?;
    let mut reported = rep.images.clone();
    on_disk.sort_by(|a, b| a.reference.cmp(&b.reference));
    reported.sort_by(|a, b| a.reference.cmp(&b.reference));
    assert_eq!(on_disk, reported);
    Ok(())
}

/// `./` prefixes, metadata before layers, and RepoTags null (name taken from
/// the index.json annotation) are all accepted.
#[test]
fn dot_prefix_metadata_first_and_null_repo_tags() -> TestResult {
    let d = tempfile::tempdir()?;
    let scratch = d.path().join("scratch");
    let mut members = Vec::new();
    let cases = [
        (
            "kubeflownotebookswg/jupyter-web-app:v1.7.0",
            Form::Legacy,
            true,
            false,
            true,
        ),
        (
            "argoproj/argocli:v3.3.9",
            Form::LegacySymlinks,
            true,
            false,
            false,
        ),
        ("dexidp/dex:v2.31.2", Form::Docker25, false, true, true),
        (
            "istio/proxyv2:1.16.2",
            Form::CompressedOci,
            true,
            true,
            false,
        ),
    ];
    let mut names = Vec::new();
    for (i, (path, form, dot, null_tags, meta_first)) in cases.iter().enumerate() {
        let spec = image(path, &[100, 200 + i as u64]);
        let opts = MemberOptions {
            dot_prefix: *dot,
            null_repo_tags: *null_tags,
            metadata_first: *meta_first,
        };
        let name = format!("./{}", member_file_name(&spec.reference));
        names.push(spec.reference.clone());
        members.push((name, member_bytes(&spec, *form, &opts, &scratch)));
    }
    let m: Vec<(&str, Vec<u8>)> = members
        .iter()
        .map(|(n, b)| (n.as_str(), b.clone()))
        .collect();
    let a = archive(d.path(), "images.tar.gz", &m);
    let rep = run(&a, &d.path().join("work"))?;
    let mut got: Vec<String> = rep.images.iter().map(|r| r.reference.clone()).collect();
    got.sort();
    names.sort();
    assert_eq!(got, names);
    assert!(rep.images.iter().all(|r| !r.member.starts_with("./")));
    Ok(())
}

/// Progress: start, one member event per image, bytes reaching the archive
/// size, a phase text while verifying, and a finish event.
#[test]
fn progress_reports_bytes_members_and_phases() -> TestResult {
    let d = tempfile::tempdir()?;
    let spec = ReleaseSpec {
        images: 3,
        charms: false,
        ..ReleaseSpec::default()
    };
    let rel = generate_release(&spec, &d.path().join("out"))?;
    let total = std::fs::metadata(&rel.images_gz)?.len();
    let mut events = Vec::new();
    let mut sink = |e: &ProgressEvent| events.push(e.clone());
    process_images(
        &rel.images_gz,
        &d.path().join("work"),
        &ProcessOptions::default(),
        &mut NoHooks,
        &mut sink,
    )?;
    assert!(matches!(events.first(), Some(ProgressEvent::Started { total: t, .. }) if *t == total));
    let members: Vec<&String> = events
        .iter()
        .filter_map(|e| match e {
            ProgressEvent::Member { name, .. } => Some(name),
            _ => None,
        })
        .collect();
    assert_eq!(members.len(), 3);
    assert!(events.iter().any(
        |e| matches!(e, ProgressEvent::Phase(p) if p.starts_with("verifying layers of 172.17.0.2:5000/"))
    ));
    let last_bytes = events.iter().rev().find_map(|e| match e {
        ProgressEvent::Bytes {
            read,
            total,
            bytes_per_sec,
            ..
        } => Some((*read, *total, *bytes_per_sec)),
        _ => None,
    });
    let (read, t, rate) = last_bytes.ok_or("no Bytes event")?;
    assert_eq!((read, t), (total, total));
    assert!(rate > 0.0);
    assert!(matches!(events.last(), Some(ProgressEvent::Finished { read, .. }) if *read == total));
    Ok(())
}

/// Without the inflate thread and without inflating gzip layers (checked
/// against the OCI manifest digests only) the result is the same for OCI forms.
#[test]
fn options_without_thread_or_inflate() -> TestResult {
    let d = tempfile::tempdir()?;
    let spec = ReleaseSpec {
        images: 2,
        forms: vec![Form::CompressedOci, Form::Docker25],
        charms: false,
        ..ReleaseSpec::default()
    };
    let rel = generate_release(&spec, &d.path().join("out"))?;
    let opts = ProcessOptions {
        background_inflate: false,
        inflate_gzip_layers: false,
        ..ProcessOptions::default()
    };
    let rep = process_images(
        &rel.images_gz,
        &d.path().join("work"),
        &opts,
        &mut NoHooks,
        &mut ckf_airgap::artifacts::NoProgress,
    )?;
    assert_eq!(rep.images.len(), 2);
    let compressed = rep
        .images
        .iter()
        .find(|r| r.layers[0].compressed_digest.is_some());
    let compressed = compressed.ok_or("compressed image missing")?;
    assert!(
        compressed
            .layers
            .iter()
            .all(|l| l.uncompressed_size.is_none())
    );
    Ok(())
}

/// The generator really writes `./` names (the tar crate would strip them).
#[test]
fn generator_keeps_dot_prefix() -> TestResult {
    let d = tempfile::tempdir()?;
    let spec = image("dexidp/dex:v2.31.2", &[1]);
    let opts = MemberOptions {
        dot_prefix: true,
        ..MemberOptions::default()
    };
    let bytes = member_bytes(&spec, Form::Docker25, &opts, d.path());
    let mut ar = tar::Archive::new(bytes.as_slice());
    for e in ar.entries()? {
        let e = e?;
        assert!(e.path_bytes().starts_with(b"./"));
    }
    Ok(())
}
