//! Helpers shared by the artifacts integration tests.
#![allow(clippy::unwrap_used, clippy::expect_used)]
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use ckf_airgap::artifacts::error::ArtifactError;
use ckf_airgap::artifacts::{ImagesReport, NoHooks, NoProgress, ProcessOptions, process_images};
use ckf_airgap::synth::member::{Form, ImageSpec, LayerSpec, MemberOptions, write_member};
use ckf_airgap::synth::names::placeholder_ref;

pub type TestResult = Result<(), Box<dyn std::error::Error>>;

pub fn image(path: &str, seeds: &[u64]) -> ImageSpec {
    ImageSpec {
        reference: placeholder_ref(path),
        layers: seeds
            .iter()
            .map(|&s| LayerSpec {
                seed: s,
                size: 20_000 + (s % 7) * 3000,
            })
            .collect(),
    }
}

pub fn member_bytes(spec: &ImageSpec, form: Form, opts: &MemberOptions, scratch: &Path) -> Vec<u8> {
    let (bytes, _) = write_member(Vec::new(), spec, form, opts, scratch).expect("write member");
    bytes
}

/// A flat gzip tar of in-memory members.
pub fn archive(dir: &Path, file: &str, members: &[(&str, Vec<u8>)]) -> PathBuf {
    let path = dir.join(file);
    let f = fs::File::create(&path).expect("create archive");
    let mut b = tar::Builder::new(flate2::write::GzEncoder::new(
        f,
        flate2::Compression::fast(),
    ));
    for (name, data) in members {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_entry_type(tar::EntryType::Regular);
        // Raw name copy: the tar crate would drop a leading `./`.
        let field = &mut h.as_old_mut().name;
        field.fill(0);
        field[..name.len()].copy_from_slice(name.as_bytes());
        h.set_cksum();
        b.append(&h, data.as_slice()).expect("append");
    }
    b.into_inner()
        .expect("tar")
        .finish()
        .expect("gz")
        .flush()
        .expect("flush");
    path
}

pub fn gz_raw(dir: &Path, file: &str, tar_bytes: &[u8]) -> PathBuf {
    let path = dir.join(file);
    ckf_airgap::synth::gzip_file(&path, tar_bytes).expect("gzip");
    path
}

pub fn run(archive: &Path, work: &Path) -> Result<ImagesReport, ArtifactError> {
    process_images(
        archive,
        work,
        &ProcessOptions::default(),
        &mut NoHooks,
        &mut NoProgress,
    )
}

/// Every file under `dir` with (size, inode, mtime).
pub fn snapshot(dir: &Path) -> BTreeMap<PathBuf, (u64, u64, i64, i64)> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = fs::read_dir(&d) else { continue };
        for e in rd.flatten() {
            let p = e.path();
            let Ok(m) = fs::symlink_metadata(&p) else {
                continue;
            };
            if m.is_dir() {
                stack.push(p.clone());
            }
            out.insert(p, (m.len(), m.ino(), m.mtime(), m.mtime_nsec()));
        }
    }
    out
}

pub fn temp_files(work: &Path) -> Vec<PathBuf> {
    snapshot(work)
        .into_keys()
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with(".tmp-"))
        })
        .collect()
}

pub fn sha256_hex(p: &Path) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(fs::read(p).expect("read")))
}

/// The blob files in the store, by hex name.
pub fn blob_names(work: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(work.join("blobs/sha256"))
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}
