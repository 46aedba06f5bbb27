//! The archive holes a mutation run found: a member holding one entry name twice, a second
//! outer member under a name already read, and terminal control sequences in tar headers.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use crate::artifacts_support::*;
use crate::support::{NO_ENV, answers, run_headless};
use ckf_airgap::answers::{Answers, ArtifactsAnswers};
use ckf_airgap::artifacts::ArtifactError;
use ckf_airgap::synth::member::{Form, MemberOptions};

const MEMBER: &str = "172.17.0.2-5000-dexidp-dex-v2.31.2.tar";

fn member(scratch: &Path, reference: &str, seeds: &[u64]) -> Vec<u8> {
    member_bytes(
        &image(reference, seeds),
        Form::Legacy,
        &MemberOptions::default(),
        scratch,
    )
}

/// The entries of a member tar, in order, as (path, bytes).
fn entries_of(tar_bytes: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut ar = tar::Archive::new(tar_bytes);
    ar.entries()
        .unwrap()
        .map(|e| {
            let mut e = e.unwrap();
            let path = e.path().unwrap().to_string_lossy().into_owned();
            let mut data = Vec::new();
            std::io::Read::read_to_end(&mut e, &mut data).unwrap();
            (path, data)
        })
        .collect()
}

fn tar_of(entries: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (path, data) in entries {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, path, data.as_slice()).unwrap();
    }
    b.into_inner().unwrap()
}

#[test]
fn a_member_holding_two_manifest_json_entries_is_refused_naming_both() {
    let d = tempfile::tempdir().unwrap();
    let scratch = d.path().join("s");
    let dex = entries_of(&member(&scratch, "dexidp/dex:v2.31.2", &[1, 2]));
    let other = entries_of(&member(&scratch, "kubeflow/other:v1", &[3]));
    // dex's member with other's manifest.json appended: which one a tool takes is a guess.
    let mut entries = dex.clone();
    entries.extend(other.into_iter().filter(|(p, _)| p == "manifest.json"));
    let a = archive(d.path(), "images.tar.gz", &[(MEMBER, tar_of(&entries))]);
    let e = run(&a, &d.path().join("work")).expect_err("two manifest.json accepted");
    assert!(
        matches!(&e, ArtifactError::DuplicateEntry { member, path, .. } if member == MEMBER && path == "manifest.json"),
        "{e}"
    );
    assert!(e.to_string().contains("Fix: save the image again"), "{e}");

    // Two copies of one layer path are refused the same way, even with equal bytes.
    let layer = dex
        .iter()
        .find(|(p, _)| p.ends_with("layer.tar"))
        .cloned()
        .expect("a legacy member has layer.tar files");
    let mut entries = dex;
    entries.insert(0, layer.clone());
    let a = archive(d.path(), "images.tar.gz", &[(MEMBER, tar_of(&entries))]);
    let e = run(&a, &d.path().join("work2")).expect_err("a repeated layer path accepted");
    assert!(
        matches!(&e, ArtifactError::DuplicateEntry { path, .. } if *path == layer.0),
        "{e}"
    );
}

#[test]
fn a_second_member_under_a_name_already_read_is_refused_unless_it_is_the_same() {
    let d = tempfile::tempdir().unwrap();
    let scratch = d.path().join("s");
    let dex = member(&scratch, "dexidp/dex:v2.31.2", &[1, 2]);
    let other = member(&scratch, "kubeflow/other:v1", &[3]);

    let a = archive(
        d.path(),
        "images.tar.gz",
        &[(MEMBER, dex.clone()), (MEMBER, other)],
    );
    let e = run(&a, &d.path().join("work")).expect_err("the second image was lost silently");
    assert!(
        matches!(&e, ArtifactError::RepeatedMember { member, .. } if member == MEMBER),
        "{e}"
    );
    assert!(e.to_string().contains("one file name per image"), "{e}");

    // The same bytes twice (an archive appended to with the same file) are read once.
    let a = archive(
        d.path(),
        "twice.tar.gz",
        &[(MEMBER, dex.clone()), (MEMBER, dex)],
    );
    let report = run(&a, &d.path().join("work2")).expect("the same member twice");
    assert_eq!(report.images.len(), 1);
    assert!(
        report
            .warnings
            .iter()
            .any(|w| w.contains("appears twice, the same bytes both times")),
        "{:?}",
        report.warnings
    );
}

/// A RepoTag holding a line break (which would forge a line of the log) or a control character
/// is no image name: the member is refused, the name shown escaped.
#[test]
fn a_repo_tag_holding_a_line_break_is_refused() {
    let d = tempfile::tempdir().unwrap();
    let scratch = d.path().join("s");
    let mut entries = entries_of(&member(&scratch, "dexidp/dex:v2.31.2", &[1]));
    for (path, data) in entries.iter_mut() {
        if path == "manifest.json" {
            let mut m: serde_json::Value = serde_json::from_slice(data).unwrap();
            m[0]["RepoTags"] = serde_json::json!(["dex:v1\n[artifacts] done"]);
            *data = serde_json::to_vec(&m).unwrap();
        }
    }
    let a = archive(d.path(), "images.tar.gz", &[(MEMBER, tar_of(&entries))]);
    let e = run(&a, &d.path().join("work")).expect_err("a RepoTag with a line break");
    assert!(
        matches!(&e, ArtifactError::BadMetadata { file, .. } if file == "manifest.json"),
        "{e}"
    );
    assert!(
        e.to_string().contains(r#""dex:v1\n[artifacts] done""#),
        "{e}"
    );
}

/// A tar header holding terminal sequences (a title change, a colour) reaches neither the
/// screen nor the log as it is: the member is refused, and the name is shown escaped.
#[test]
fn control_sequences_in_a_tar_header_are_shown_escaped_and_never_sent_raw() {
    let d = tempfile::tempdir().unwrap();
    let scratch = d.path().join("s");
    let hostile = "dex\u{1b}]0;pwned\u{7}\u{1b}[31m.tar";
    let a = archive(
        d.path(),
        "images.tar.gz",
        &[(hostile, member(&scratch, "dexidp/dex:v2.31.2", &[1]))],
    );
    let e = run(&a, &d.path().join("work")).expect_err("a control character in a name");
    assert!(
        matches!(&e, ArtifactError::UnsafePath { why, .. } if why.contains("control character")),
        "{e}"
    );

    // Through the binary: neither its output nor its log holds an ESC or a BEL.
    let state = d.path().join("state");
    let answers_file = write_answers(d.path(), &a);
    let (code, shown) = run_headless(&state, &answers_file, &[], NO_ENV);
    assert_ne!(code, 0, "{shown}");
    assert!(
        shown.contains("dex\\x1b]0;pwned\\x07\\x1b[31m.tar"),
        "{shown}"
    );
    assert!(!shown.contains(['\u{1b}', '\u{7}']), "{shown:?}");
    let logs = find_logs(&state);
    assert!(!logs.is_empty(), "no session log under {}", state.display());
    let mut named = false;
    for log in &logs {
        let bytes = std::fs::read(log).unwrap();
        assert!(
            !bytes.iter().any(|&b| b == 0x1b || b == 0x07),
            "{} holds a raw control character",
            log.display()
        );
        named |= String::from_utf8_lossy(&bytes).contains("\\x1b]0;pwned");
    }
    assert!(named, "no log names the member: {logs:?}");
}

fn write_answers(dir: &Path, images: &Path) -> PathBuf {
    let release = ckf_airgap::synth::generate_release(
        &ckf_airgap::synth::ReleaseSpec::default(),
        &dir.join("rel"),
    )
    .unwrap();
    let mut answers = Answers {
        artifacts: Some(ArtifactsAnswers {
            images: Some(images.to_path_buf()),
            charms: release.charms_gz.clone(),
            work_dir: Some(dir.join("work-bin")),
            ..ArtifactsAnswers::default()
        }),
        ..Answers::default()
    };
    answers::skip(&mut answers, "environment-checks", "not under test");
    let path = dir.join("answers.toml");
    answers::write(&path, &answers);
    path
}

fn find_logs(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "log") {
                found.push(p);
            }
        }
    }
    found
}
