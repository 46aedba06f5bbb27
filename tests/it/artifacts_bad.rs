//! Every kind of bad input gives its own typed error naming the archive
//! member, leaves no temp file, and writes nothing outside the work dir.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::path::Path;

use crate::artifacts_support::*;
use ckf_airgap::artifacts::ArtifactError;
use ckf_airgap::synth::member::{Form, MemberOptions};
use ckf_airgap::synth::raw::{RawEntry, RawKind, raw_tar};

const MEMBER: &str = "172.17.0.2-5000-dexidp-dex-v2.31.2.tar";

/// Runs `archive` in `parent/work` and checks the invariants every failure
/// must keep: no temp files, nothing created next to the work dir.
fn fail(parent: &Path, archive: &Path) -> ArtifactError {
    let before = snapshot(parent);
    let work = parent.join("work");
    let err = match run(archive, &work) {
        Ok(r) => panic!("expected an error, got {} images", r.images.len()),
        Err(e) => e,
    };
    assert!(
        temp_files(&work).is_empty(),
        "temp files left: {:?}",
        temp_files(&work)
    );
    let after = snapshot(parent);
    for p in after.keys() {
        assert!(
            p.starts_with(&work) || before.contains_key(p),
            "written outside work dir: {}",
            p.display()
        );
    }
    let msg = err.to_string();
    assert!(
        msg.contains("Fix") || msg.contains("cancelled") || msg.contains("stopped"),
        "no fix in: {msg}"
    );
    err
}

fn raw_member_archive(dir: &Path, entries: &[RawEntry]) -> std::path::PathBuf {
    archive(
        dir,
        "images.tar.gz",
        &[(MEMBER, raw_tar(entries).expect("raw tar"))],
    )
}

#[test]
fn absolute_path_in_member() {
    let d = tempfile::tempdir().expect("tmp");
    let a = raw_member_archive(d.path(), &[RawEntry::file("/tmp/ckf-evil", "x")]);
    let e = fail(d.path(), &a);
    assert!(
        matches!(&e, ArtifactError::UnsafePath { member, why, .. } if member == MEMBER && why.contains("absolute")),
        "{e}"
    );
    assert!(!Path::new("/tmp/ckf-evil").exists());
}

#[test]
fn parent_dir_in_member_and_in_outer_name() {
    let d = tempfile::tempdir().expect("tmp");
    let a = raw_member_archive(d.path(), &[RawEntry::file("../../evil", "x")]);
    let e = fail(d.path(), &a);
    assert!(
        matches!(&e, ArtifactError::UnsafePath { why, .. } if why.contains("..")),
        "{e}"
    );

    let outer = raw_tar(&[RawEntry::file("../evil.tar", "x")]).expect("raw");
    let a = gz_raw(d.path(), "outer.tar.gz", &outer);
    let e = fail(d.path(), &a);
    assert!(
        matches!(&e, ArtifactError::UnsafePath { path, .. } if path == "../evil.tar"),
        "{e}"
    );
}

#[test]
fn links_leaving_the_member() {
    let d = tempfile::tempdir().expect("tmp");
    for link in [
        RawEntry::symlink("abc/layer.tar", "../../outside.tar"),
        RawEntry::symlink("abc/layer.tar", "/etc/passwd"),
        RawEntry {
            path: "abc/layer.tar".into(),
            kind: RawKind::HardLink("../x.tar".into()),
        },
    ] {
        let a = raw_member_archive(d.path(), &[link]);
        let e = fail(d.path(), &a);
        assert!(
            matches!(&e, ArtifactError::LinkEscapes { member, path, .. } if member == MEMBER && path == "abc/layer.tar"),
            "{e}"
        );
    }
}

#[test]
fn device_and_fifo_files() {
    let d = tempfile::tempdir().expect("tmp");
    for kind in [RawKind::Fifo, RawKind::CharDevice] {
        let a = raw_member_archive(
            d.path(),
            &[RawEntry {
                path: "dev/x".into(),
                kind,
            }],
        );
        let e = fail(d.path(), &a);
        assert!(
            matches!(&e, ArtifactError::SpecialFile { path, .. } if path == "dev/x"),
            "{e}"
        );
    }
}

#[test]
fn duplicate_image_across_members() {
    let d = tempfile::tempdir().expect("tmp");
    let s = image("dexidp/dex:v2.31.2", &[1, 2]);
    let m1 = member_bytes(
        &s,
        Form::Legacy,
        &MemberOptions::default(),
        &d.path().join("s"),
    );
    let m2 = member_bytes(
        &s,
        Form::Docker25,
        &MemberOptions::default(),
        &d.path().join("s"),
    );
    let a = archive(
        d.path(),
        "images.tar.gz",
        &[(MEMBER, m1), ("other-name.tar", m2)],
    );
    let e = fail(d.path(), &a);
    assert!(
        matches!(&e, ArtifactError::DuplicateImage { first, second, .. } if first == MEMBER && second == "other-name.tar"),
        "{e}"
    );
}

#[test]
fn empty_member() {
    let d = tempfile::tempdir().expect("tmp");
    let a = archive(d.path(), "images.tar.gz", &[(MEMBER, Vec::new())]);
    let e = fail(d.path(), &a);
    assert!(
        matches!(&e, ArtifactError::EmptyMember { member, .. } if member == MEMBER),
        "{e}"
    );
    assert!(e.to_string().contains("docker save"));
}

fn good_archive(dir: &Path) -> std::path::PathBuf {
    let s = image("dexidp/dex:v2.31.2", &[11, 12, 13]);
    let m = member_bytes(&s, Form::Legacy, &MemberOptions::default(), &dir.join("s"));
    archive(dir, "images.tar.gz", &[(MEMBER, m)])
}

#[test]
fn truncated_gzip_says_copy_is_incomplete() {
    let d = tempfile::tempdir().expect("tmp");
    let a = good_archive(d.path());
    let bytes = fs::read(&a).expect("read");
    for cut in [bytes.len() / 2, bytes.len() - 3] {
        fs::write(&a, &bytes[..cut]).expect("write");
        let e = fail(d.path(), &a);
        assert!(
            matches!(&e, ArtifactError::Truncated { archive, .. } if archive == "images.tar.gz"),
            "cut {cut}: {e}"
        );
        assert!(e.to_string().contains("incomplete"));
    }
}

#[test]
fn corrupt_gzip_is_reported() {
    let d = tempfile::tempdir().expect("tmp");
    let a = good_archive(d.path());
    let mut bytes = fs::read(&a).expect("read");
    let n = bytes.len();
    bytes[n - 6] ^= 0xff; // CRC trailer
    fs::write(&a, &bytes).expect("write");
    let e = fail(d.path(), &a);
    assert!(matches!(&e, ArtifactError::Corrupt { .. }), "{e}");
}

#[test]
fn truncated_member_tar() {
    let d = tempfile::tempdir().expect("tmp");
    let s = image("dexidp/dex:v2.31.2", &[11, 12]);
    let mut m = member_bytes(
        &s,
        Form::Legacy,
        &MemberOptions::default(),
        &d.path().join("s"),
    );
    m.truncate(m.len() / 2 + 100);
    let a = archive(d.path(), "images.tar.gz", &[(MEMBER, m)]);
    let e = fail(d.path(), &a);
    assert!(
        matches!(&e, ArtifactError::Truncated { member, .. } | ArtifactError::NotAnImage { member, .. } if member == MEMBER),
        "{e}"
    );
}

#[test]
fn manifest_names_missing_file() {
    let d = tempfile::tempdir().expect("tmp");
    let cfg_hex = "ab".repeat(32);
    let manifest = format!(
        r#"[{{"Config":"{cfg_hex}.json","RepoTags":["172.17.0.2:5000/dexidp/dex:v2.31.2"],"Layers":["abc/layer.tar"]}}]"#
    );
    let a = raw_member_archive(d.path(), &[RawEntry::file("manifest.json", manifest)]);
    let e = fail(d.path(), &a);
    assert!(
        matches!(&e, ArtifactError::MissingFile { path, member, .. } if path == &format!("{cfg_hex}.json") && member == MEMBER),
        "{e}"
    );
}

fn flip_after(bytes: &mut [u8], needle: &[u8], offset: usize) {
    let pos = bytes
        .windows(needle.len())
        .position(|w| w == needle)
        .expect("needle present");
    bytes[pos + offset] ^= 0x01;
}

#[test]
fn corrupted_layer_names_image_layer_and_digests() {
    let d = tempfile::tempdir().expect("tmp");
    let s = image("dexidp/dex:v2.31.2", &[21, 22]);
    let mut m = member_bytes(
        &s,
        Form::Legacy,
        &MemberOptions::default(),
        &d.path().join("s"),
    );
    // Inside the first layer: past its first file header, in file data.
    flip_after(&mut m, b"usr/lib/synth-", 2048);
    let a = archive(d.path(), "images.tar.gz", &[(MEMBER, m)]);
    let e = fail(d.path(), &a);
    match &e {
        ArtifactError::LayerDigestMismatch(m) => {
            let (image, layer, expected, actual) = (&m.image, &m.item, &m.expected, &m.actual);
            assert_eq!(image, "172.17.0.2:5000/dexidp/dex:v2.31.2");
            assert!(layer.ends_with("/layer.tar"));
            assert!(expected.starts_with("sha256:") && actual.starts_with("sha256:"));
            assert_ne!(expected, actual);
            let msg = e.to_string();
            assert!(
                msg.contains(expected.as_str())
                    && msg.contains(actual.as_str())
                    && msg.contains(layer.as_str())
            );
        }
        other => panic!("wrong error: {other}"),
    }
    assert!(
        blob_names(&d.path().join("work")).is_empty(),
        "nothing committed from a bad member"
    );
}

#[test]
fn corrupted_gzip_layer_is_caught() {
    let d = tempfile::tempdir().expect("tmp");
    let s = image("dexidp/dex:v2.31.2", &[21, 22]);
    let mut m = member_bytes(
        &s,
        Form::CompressedLegacy,
        &MemberOptions::default(),
        &d.path().join("s"),
    );
    // gzip member header of the first layer blob, then into its deflate data.
    flip_after(&mut m, &[0x1f, 0x8b, 0x08], 600);
    let a = archive(d.path(), "images.tar.gz", &[(MEMBER, m)]);
    let e = fail(d.path(), &a);
    assert!(
        matches!(
            &e,
            ArtifactError::LayerDigestMismatch(_) | ArtifactError::Corrupt { .. }
        ),
        "{e}"
    );
}

#[test]
fn corrupted_config_is_caught() {
    let d = tempfile::tempdir().expect("tmp");
    let s = image("dexidp/dex:v2.31.2", &[21]);
    for form in [Form::Legacy, Form::Docker25] {
        let mut m = member_bytes(&s, form, &MemberOptions::default(), &d.path().join("s"));
        flip_after(&mut m, b"\"architecture\":\"amd64\"", 20);
        let a = archive(d.path(), "images.tar.gz", &[(MEMBER, m)]);
        let e = fail(d.path(), &a);
        assert!(
            matches!(&e, ArtifactError::ConfigDigestMismatch(m) if m.image.ends_with("dex:v2.31.2")),
            "{form:?}: {e}"
        );
    }
}

#[test]
fn not_an_image_and_no_name() {
    let d = tempfile::tempdir().expect("tmp");
    let a = raw_member_archive(d.path(), &[RawEntry::file("hello.txt", "hi")]);
    let e = fail(d.path(), &a);
    assert!(matches!(&e, ArtifactError::NotAnImage { .. }), "{e}");

    let s = image("dexidp/dex:v2.31.2", &[1]);
    let opts = MemberOptions {
        null_repo_tags: true,
        ..MemberOptions::default()
    };
    let m = member_bytes(&s, Form::Legacy, &opts, &d.path().join("s"));
    let a = archive(d.path(), "images.tar.gz", &[(MEMBER, m)]);
    let e = fail(d.path(), &a);
    assert!(matches!(&e, ArtifactError::NoImageName { .. }), "{e}");
}

#[test]
fn oversized_metadata_is_refused() {
    let d = tempfile::tempdir().expect("tmp");
    let big = vec![b' '; (16 << 20) + 10];
    let a = raw_member_archive(d.path(), &[RawEntry::file("manifest.json", big)]);
    let e = fail(d.path(), &a);
    assert!(
        matches!(&e, ArtifactError::MetadataTooLarge { file, .. } if file == "manifest.json"),
        "{e}"
    );
}

#[test]
fn missing_archive_is_an_open_error() {
    let d = tempfile::tempdir().expect("tmp");
    let e = run(&d.path().join("nope.tar.gz"), &d.path().join("work")).err();
    assert!(matches!(e, Some(ArtifactError::Open { .. })));
}

#[test]
fn manifest_layer_path_with_parent_dir() {
    let d = tempfile::tempdir().expect("tmp");
    let cfg_hex = "ab".repeat(32);
    let manifest = format!(
        r#"[{{"Config":"{cfg_hex}.json","RepoTags":["172.17.0.2:5000/dexidp/dex:v2.31.2"],"Layers":["../../etc/shadow"]}}]"#
    );
    let a = raw_member_archive(d.path(), &[RawEntry::file("manifest.json", manifest)]);
    let e = fail(d.path(), &a);
    assert!(
        matches!(&e, ArtifactError::UnsafePath { path, .. } if path == "../../etc/shadow"),
        "{e}"
    );
}

/// zstd layers cannot be inflated here (no zstd dependency): without an OCI
/// manifest digest they cannot be verified, which is an explicit error.
#[test]
fn zstd_layer_without_oci_digest_is_unsupported() {
    use sha2::Digest;
    let d = tempfile::tempdir().expect("tmp");
    let layer = [0x28u8, 0xb5, 0x2f, 0xfd, 1, 2, 3, 4].to_vec();
    let config = format!(
        r#"{{"rootfs":{{"type":"layers","diff_ids":["sha256:{}"]}}}}"#,
        "cd".repeat(32)
    );
    let cfg_hex = hex::encode(sha2::Sha256::digest(config.as_bytes()));
    let manifest = format!(
        r#"[{{"Config":"{cfg_hex}.json","RepoTags":["172.17.0.2:5000/dexidp/dex:v2.31.2"],"Layers":["l/layer.tar"]}}]"#
    );
    let a = raw_member_archive(
        d.path(),
        &[
            RawEntry::file("l/layer.tar", layer),
            RawEntry::file(&format!("{cfg_hex}.json"), config),
            RawEntry::file("manifest.json", manifest),
        ],
    );
    let e = fail(d.path(), &a);
    assert!(
        matches!(&e, ArtifactError::UnsupportedCompression { compression: "zstd", layer, .. } if layer == "l/layer.tar"),
        "{e}"
    );
}

#[test]
fn outer_members_that_are_not_files_are_refused_with_their_kind() {
    for (entry, kind) in [
        (RawEntry::symlink("link.tar", "other.tar"), "symbolic link"),
        (
            RawEntry {
                path: "hard.tar".into(),
                kind: RawKind::HardLink("other.tar".into()),
            },
            "hard link",
        ),
        (
            RawEntry {
                path: "dev.tar".into(),
                kind: RawKind::CharDevice,
            },
            "character device",
        ),
        (
            RawEntry {
                path: "pipe.tar".into(),
                kind: RawKind::Fifo,
            },
            "FIFO",
        ),
    ] {
        let d = tempfile::tempdir().expect("tmp");
        let gz = d.path().join("images.tar.gz");
        ckf_airgap::synth::gzip_file(&gz, &raw_tar(&[entry]).expect("raw")).expect("gz");
        let e = fail(d.path(), &gz);
        assert!(
            matches!(&e, ArtifactError::UnsupportedMember { member, .. } if member.ends_with(".tar")),
            "{e}"
        );
        assert!(e.to_string().contains(kind), "{e}");
    }
}

#[test]
fn an_archive_with_no_image_is_refused() {
    for entries in [vec![], vec![RawEntry::file("README.txt", "release notes")]] {
        let d = tempfile::tempdir().expect("tmp");
        let gz = d.path().join("images.tar.gz");
        ckf_airgap::synth::gzip_file(&gz, &raw_tar(&entries).expect("raw")).expect("gz");
        let e = fail(d.path(), &gz);
        assert!(matches!(&e, ArtifactError::NoImages { .. }), "{e}");
        assert!(e.to_string().contains("holds no image"), "{e}");
    }
}

#[test]
fn a_member_that_is_not_a_tar_is_named_and_the_outer_archive_is_not_blamed() {
    let d = tempfile::tempdir().expect("tmp");
    let junk = "this member is a text file, not the output of docker save\n".repeat(40);
    let a = archive(d.path(), "images.tar.gz", &[(MEMBER, junk.into_bytes())]);
    let e = fail(d.path(), &a);
    assert!(
        matches!(&e, ArtifactError::MemberNotTar { member, .. } if member == MEMBER),
        "{e}"
    );
    assert!(e.to_string().contains("the outer archive is intact"), "{e}");
}
