//! Resume, stop and cancel behaviour the engine relies on.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashSet;
use std::sync::atomic::Ordering;

use crate::artifacts_support::*;
use ckf_airgap::artifacts::{
    ArtifactError, ImageHooks, ImageRecord, NoHooks, NoProgress, ProcessOptions, ProgressEvent,
    load_image_records, process_images, remove_image_spool,
};
use ckf_airgap::oci::Digest;
use ckf_airgap::synth::{ReleaseSpec, generate_release};

/// The engine's ledger, in memory.
#[derive(Default)]
struct Ledger {
    done: HashSet<String>,
    ready_calls: usize,
    stop_after: Option<usize>,
}

impl ImageHooks for Ledger {
    fn is_done(&mut self, member: &str) -> bool {
        self.done.contains(member)
    }
    fn image_ready(&mut self, record: &ImageRecord) -> Result<(), String> {
        self.ready_calls += 1;
        self.done.insert(record.member.clone());
        if self.stop_after == Some(self.ready_calls) {
            return Err("ledger disk full".into());
        }
        Ok(())
    }
}

fn release(dir: &std::path::Path, images: usize) -> std::path::PathBuf {
    let spec = ReleaseSpec {
        images,
        charms: false,
        ..ReleaseSpec::default()
    };
    generate_release(&spec, &dir.join("out"))
        .expect("generate")
        .images_gz
}

/// Second run with every member marked done: nothing is written (write
/// counter 0, every blob keeps inode and mtime), no callback, and the
/// skipped members still report their image names.
#[test]
fn second_run_with_done_predicate_rewrites_nothing() -> TestResult {
    let d = tempfile::tempdir()?;
    let a = release(d.path(), 5);
    let work = d.path().join("work");
    let mut ledger = Ledger::default();
    let first = process_images(
        &a,
        &work,
        &ProcessOptions::default(),
        &mut ledger,
        &mut NoProgress,
    )?;
    assert_eq!(ledger.ready_calls, 5);
    assert!(first.blobs_written > 0);
    let before = snapshot(&work);

    let mut ledger2 = Ledger {
        done: ledger.done.clone(),
        ..Ledger::default()
    };
    let second = process_images(
        &a,
        &work,
        &ProcessOptions::default(),
        &mut ledger2,
        &mut NoProgress,
    )?;
    assert_eq!(second.blobs_written, 0);
    assert_eq!(second.blobs_reused, 0);
    assert_eq!(ledger2.ready_calls, 0);
    assert!(second.images.is_empty());
    assert_eq!(second.skipped.len(), 5);
    let mut skipped: Vec<String> = second
        .skipped
        .iter()
        .flat_map(|s| s.references.clone())
        .collect();
    let mut first_refs: Vec<String> = first.images.iter().map(|r| r.reference.clone()).collect();
    skipped.sort();
    first_refs.sort();
    assert_eq!(skipped, first_refs);
    assert_eq!(snapshot(&work), before, "no file touched");
    Ok(())
}

/// Without a predicate a rerun still never rewrites a blob: every digest
/// already present is reused.
#[test]
fn rerun_without_predicate_reuses_blobs() -> TestResult {
    let d = tempfile::tempdir()?;
    let a = release(d.path(), 3);
    let work = d.path().join("work");
    run(&a, &work)?;
    let blobs_before: Vec<_> = snapshot(&work.join("blobs")).into_iter().collect();
    let rep = run(&a, &work)?;
    assert_eq!(rep.blobs_written, 0);
    assert!(rep.blobs_reused > 0);
    let blobs_after: Vec<_> = snapshot(&work.join("blobs")).into_iter().collect();
    assert_eq!(blobs_before, blobs_after);
    Ok(())
}

/// The callback's error stops the run; the ledger then resumes after the
/// images already handled, without touching their blobs.
#[test]
fn callback_stop_then_resume() -> TestResult {
    let d = tempfile::tempdir()?;
    let a = release(d.path(), 4);
    let work = d.path().join("work");
    let mut ledger = Ledger {
        stop_after: Some(2),
        ..Ledger::default()
    };
    let e = process_images(
        &a,
        &work,
        &ProcessOptions::default(),
        &mut ledger,
        &mut NoProgress,
    );
    assert!(
        matches!(&e, Err(ArtifactError::Stopped { reason, .. }) if reason == "ledger disk full"),
        "{e:?}"
    );
    assert_eq!(load_image_records(&work)?.len(), 2);
    let kept = snapshot(&work.join("blobs"));

    let mut resume = Ledger {
        done: ledger.done.clone(),
        ..Ledger::default()
    };
    let rep = process_images(
        &a,
        &work,
        &ProcessOptions::default(),
        &mut resume,
        &mut NoProgress,
    )?;
    assert_eq!(rep.skipped.len(), 2);
    assert_eq!(rep.images.len(), 2);
    assert_eq!(load_image_records(&work)?.len(), 4);
    let now = snapshot(&work.join("blobs"));
    for (p, meta) in kept.iter().filter(|(p, _)| p.is_file()) {
        assert_eq!(now.get(p), Some(meta), "{} was rewritten", p.display());
    }
    Ok(())
}

/// Cancel from another party (here the progress sink) stops the run with
/// `Cancelled`, leaving no temp file.
#[test]
fn cancel_flag_stops_the_run() -> TestResult {
    let d = tempfile::tempdir()?;
    let a = release(d.path(), 4);
    let work = d.path().join("work");
    let opts = ProcessOptions::default();
    let flag = opts.cancel.clone();
    let mut members = 0;
    let mut sink = |e: &ProgressEvent| {
        if let ProgressEvent::Member { .. } = e {
            members += 1;
            if members == 2 {
                flag.store(true, Ordering::Relaxed);
            }
        }
    };
    let e = process_images(&a, &work, &opts, &mut NoHooks, &mut sink);
    assert!(matches!(e, Err(ArtifactError::Cancelled)), "{e:?}");
    assert!(temp_files(&work).is_empty());
    assert_eq!(load_image_records(&work)?.len(), 1);
    Ok(())
}

/// One-image-at-a-time: removing an image's spool keeps blobs other
/// recorded images share, and removing all leaves the store empty.
#[test]
fn remove_image_spool_keeps_shared_blobs() -> TestResult {
    let d = tempfile::tempdir()?;
    let a = release(d.path(), 4);
    let work = d.path().join("work");
    let rep = run(&a, &work)?;
    let first = &rep.images[0];
    let others: HashSet<_> = rep.images[1..]
        .iter()
        .flat_map(|r| r.blob_digests())
        .collect();
    let shared: Vec<_> = first
        .blob_digests()
        .into_iter()
        .filter(|b| others.contains(b))
        .collect();
    assert!(!shared.is_empty(), "the generator shares base layers");
    let freed = remove_image_spool(&work, first)?;
    assert!(freed > 0);
    let left: HashSet<Digest> = blob_names(&work)
        .into_iter()
        .map(|h| Digest::from_hex(&h).unwrap())
        .collect();
    for s in &shared {
        assert!(left.contains(s), "shared blob {s} was removed");
    }
    for b in first.blob_digests() {
        if !others.contains(&b) {
            assert!(!left.contains(&b), "unique blob {b} kept");
        }
    }
    for r in load_image_records(&work)? {
        remove_image_spool(&work, &r)?;
    }
    assert!(blob_names(&work).is_empty());
    assert!(load_image_records(&work)?.is_empty());
    Ok(())
}

/// The engine can push and drop each image from inside the callback, so the
/// spool never holds more than one image's unique blobs plus shared ones.
#[test]
fn one_image_at_a_time_from_the_callback() -> TestResult {
    struct PushAndDrop {
        work: std::path::PathBuf,
        max_blobs: usize,
    }
    impl ImageHooks for PushAndDrop {
        fn image_ready(&mut self, r: &ImageRecord) -> Result<(), String> {
            self.max_blobs = self.max_blobs.max(blob_names(&self.work).len());
            remove_image_spool(&self.work, r)
                .map(|_| ())
                .map_err(|e| e.to_string())
        }
    }
    let d = tempfile::tempdir()?;
    let a = release(d.path(), 5);
    let work = d.path().join("work");
    let opts = ProcessOptions {
        mode: ckf_airgap::artifacts::SpoolMode::OneImageAtATime,
        ..ProcessOptions::default()
    };
    let mut hooks = PushAndDrop {
        work: work.clone(),
        max_blobs: 0,
    };
    let rep = process_images(&a, &work, &opts, &mut hooks, &mut NoProgress)?;
    assert_eq!(rep.images.len(), 5);
    assert!(
        hooks.max_blobs <= 5,
        "at most one image's blobs at a time, saw {}",
        hooks.max_blobs
    );
    assert!(blob_names(&work).is_empty());
    Ok(())
}
