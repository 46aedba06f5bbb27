//! The outer loop over `images.tar.gz` and the engine-facing API.

use std::collections::HashMap;
use std::io::{self, BufReader, Read};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64};

use serde::{Deserialize, Serialize};

use super::context::Ctx;
use super::layout::plan_images;
use super::member::{MemberOptions, MemberPrint, ProvenFiles, peek_member, read_member};
use super::pipe::PipeReader;
use super::verify::{Verified, commit_files, verify_image};
use crate::artifacts::disk::{SpoolMode, estimate_space, free_space};
use crate::artifacts::error::{ArtifactError, Result};
use crate::artifacts::inventory::{ImageRecord, save_image_record};
use crate::artifacts::progress::{CountingReader, ProgressEvent, ProgressSink, Reporter};
use crate::artifacts::safety::normalize_entry_path;
use crate::artifacts::spool::BlobStore;
use crate::artifacts::volumes::{ExpectedVolume, VolumeReader, VolumeSet, open_archive};
use crate::image_ref::normalize_reference;

#[derive(Clone)]
pub struct ProcessOptions {
    /// Set from any thread to stop; checked between entries and every few MB.
    pub cancel: Arc<AtomicBool>,
    /// Inflate gzip layer blobs while reading to check them against the
    /// config's diff_ids (costs CPU; without it, compressed blobs are checked
    /// only against the OCI manifest digest when there is one).
    pub inflate_gzip_layers: bool,
    /// In `OneImageAtATime`, each member's size is checked against free space
    /// before it is read, so the run fails early instead of on ENOSPC.
    pub mode: SpoolMode,
    /// Inflate on a second thread (overlaps with hashing and writing).
    pub background_inflate: bool,
    /// Large files go here instead of the spool (the streaming push).
    pub sink: Option<Arc<dyn super::sink::FileSink>>,
    /// The volumes the lock lists, each checked as the stream passes it (empty: no lock, or
    /// one file).
    pub volumes: Vec<ExpectedVolume>,
}

impl Default for ProcessOptions {
    fn default() -> Self {
        ProcessOptions {
            cancel: Arc::new(AtomicBool::new(false)),
            inflate_gzip_layers: true,
            mode: SpoolMode::ExtractAll,
            background_inflate: true,
            sink: None,
            volumes: Vec::new(),
        }
    }
}

/// The engine's resume ledger plugs in here.
pub trait ImageHooks {
    /// True if this outer member (file name inside images.tar.gz) was fully
    /// handled in an earlier run: it is then read past without writing.
    fn is_done(&mut self, _member: &str) -> bool {
        false
    }
    /// Called after each image is spooled, verified and its record saved.
    /// Returning an error stops the run with `ArtifactError::Stopped`.
    fn image_ready(&mut self, _record: &ImageRecord) -> std::result::Result<(), String> {
        Ok(())
    }
}

pub struct NoHooks;
impl ImageHooks for NoHooks {}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SkippedMember {
    pub member: String,
    pub references: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ImagesReport {
    pub images: Vec<ImageRecord>,
    pub skipped: Vec<SkippedMember>,
    pub blobs_written: u64,
    pub blobs_reused: u64,
    pub compressed_bytes: u64,
    /// Exact size of the tar inside the gzip (known only after the pass).
    pub uncompressed_bytes: u64,
    pub elapsed_secs: f64,
    pub warnings: Vec<String>,
}

/// Reads `archive` (images.tar.gz, or its volumes) once, spooling verified images into
/// `work_dir`. Nothing is written outside `work_dir`.
pub fn process_images(
    archive: &Path,
    work_dir: &Path,
    opts: &ProcessOptions,
    hooks: &mut dyn ImageHooks,
    progress: &mut dyn ProgressSink,
) -> Result<ImagesReport> {
    let volume_error = |why: String| ArtifactError::Volume {
        archive: archive.display().to_string(),
        why,
    };
    let set = open_archive(archive, &opts.volumes)?;
    let (stream, watch) = set.reader().map_err(|e| ArtifactError::Open {
        path: archive.to_path_buf(),
        source: e,
    })?;
    match read_archive(archive, &set, stream, work_dir, opts, hooks, progress) {
        // A stream that broke inside a volume the lock says is not what it holds: that
        // volume is the cause, and the fix is to copy it, not the whole archive.
        Err(e) if !matches!(e, ArtifactError::Cancelled | ArtifactError::Stopped { .. }) => {
            Err(watch.diagnose().map(volume_error).unwrap_or(e))
        }
        done => done,
    }
}

fn read_archive(
    archive: &Path,
    set: &VolumeSet,
    stream: VolumeReader,
    work_dir: &Path,
    opts: &ProcessOptions,
    hooks: &mut dyn ImageHooks,
    progress: &mut dyn ProgressSink,
) -> Result<ImagesReport> {
    let started = std::time::Instant::now();
    let label = set.label.clone();
    let total = set.total_size();
    // Only for the disk-full message: how much the rest of the run may need.
    let estimated_tar_bytes = estimate_space(archive).map(|e| e.uncompressed).unwrap_or(0);
    let mut store = BlobStore::open(work_dir)?;
    store.sweep_temps();

    let compressed = Arc::new(AtomicU64::new(0));
    let uncompressed = Arc::new(AtomicU64::new(0));
    let counting = CountingReader::new(
        BufReader::with_capacity(1 << 20, stream),
        compressed.clone(),
        opts.cancel.clone(),
    );
    let gz = flate2::read::MultiGzDecoder::new(counting);
    let inner: Box<dyn Read> = if opts.background_inflate {
        Box::new(PipeReader::spawn(gz).map_err(|e| ArtifactError::io(archive, e))?)
    } else {
        Box::new(gz)
    };
    let tar_stream = CountingReader::new(inner, uncompressed.clone(), opts.cancel.clone());

    let mut reporter = Reporter::new(progress, compressed.clone(), total);
    reporter.emit(ProgressEvent::Started {
        archive: label.clone(),
        total,
    });
    let mut report = ImagesReport::default();
    let mut seen: HashMap<String, String> = HashMap::new();
    // Every member name read in this pass and what it held: a second member under a name
    // already read is refused unless it holds the same bytes, or its image would be lost.
    let mut printed: HashMap<String, MemberPrint> = HashMap::new();
    let proven = std::cell::RefCell::new(ProvenFiles::default());

    let outer_ctx = Ctx {
        archive: &label,
        member: "(archive)",
        work_dir,
        cancel: &opts.cancel,
        needed_hint: 0,
    };
    let mut outer = tar::Archive::new(tar_stream);
    let entries = outer
        .entries()
        .map_err(|e| outer_ctx.read_error(e, "reading the archive"))?;
    let mut index = 0usize;
    for entry in entries {
        if outer_ctx.cancelled() {
            return Err(ArtifactError::Cancelled);
        }
        let entry = entry.map_err(|e| outer_ctx.read_error(e, "reading a member header"))?;
        let raw = entry.path_bytes().into_owned();
        let name = normalize_entry_path(&raw).map_err(|why| ArtifactError::UnsafePath {
            archive: label.clone(),
            member: String::from_utf8_lossy(&raw).into_owned(),
            path: String::from_utf8_lossy(&raw).into_owned(),
            why: why.describe(),
        })?;
        let kind = entry.header().entry_type();
        if name.is_empty() || kind.is_dir() {
            continue;
        }
        if !(kind.is_file() || kind.is_contiguous()) {
            return Err(ArtifactError::UnsupportedMember {
                archive: label.clone(),
                member: name.clone(),
                kind: entry_kind(kind),
            });
        }
        if !name.ends_with(".tar") {
            let w = format!("{label}: ignored {name}: not a docker save .tar member");
            reporter.emit(ProgressEvent::Warning(w.clone()));
            report.warnings.push(w);
            continue;
        }
        let size = entry.size();
        let read_so_far = uncompressed.load(std::sync::atomic::Ordering::Relaxed);
        let needed_hint = match opts.mode {
            SpoolMode::ExtractAll => estimated_tar_bytes.saturating_sub(read_so_far).max(size),
            SpoolMode::OneImageAtATime => size,
        };
        let ctx = Ctx {
            archive: &label,
            member: &name,
            work_dir,
            cancel: &opts.cancel,
            needed_hint,
        };
        if size == 0 {
            return Err(ArtifactError::EmptyMember {
                archive: label.clone(),
                member: name.clone(),
            });
        }
        reporter.emit(ProgressEvent::Member {
            name: name.clone(),
            index,
        });
        reporter.tick(true);
        index += 1;

        if let Some(first) = printed.get(&name) {
            let (_, print) = peek_member(entry, &ctx)?;
            if let Some(difference) = first.difference(&print) {
                return Err(ArtifactError::RepeatedMember {
                    archive: label.clone(),
                    member: name.clone(),
                    difference,
                });
            }
            let w = format!("{label}: {name} appears twice, the same bytes both times: read once");
            reporter.emit(ProgressEvent::Warning(w.clone()));
            report.warnings.push(w);
            continue;
        }

        if hooks.is_done(&name) {
            let (references, print) = peek_member(entry, &ctx)?;
            printed.insert(name.clone(), print);
            for r in &references {
                check_duplicate(&mut seen, &label, r, &name)?;
            }
            reporter.emit(ProgressEvent::Skipped {
                member: name.clone(),
            });
            report.skipped.push(SkippedMember {
                member: name.clone(),
                references,
            });
            continue;
        }

        // With a sink the layers never reach the disk: only small files are spooled.
        if opts.mode == SpoolMode::OneImageAtATime && opts.sink.is_none() {
            let free = free_space(work_dir)?;
            if free < size {
                return Err(ArtifactError::DiskFull {
                    work_dir: work_dir.to_path_buf(),
                    needed: size - free,
                    context: format!("member {name} is {size} bytes, {free} free"),
                });
            }
        }

        let member_opts = MemberOptions {
            inflate_gzip: opts.inflate_gzip_layers,
            sink: opts.sink.as_deref(),
            proven: &proven,
        };
        let mut contents = {
            let rep = &mut reporter;
            read_member(entry, &ctx, &mut store, &member_opts, &mut || {
                rep.tick(false)
            })?
        };
        printed.insert(name.clone(), contents.print());
        let plans = plan_images(&ctx, &contents)?;
        let mut verified: Vec<Verified> = Vec::new();
        for plan in &plans {
            let who = plan.references.first().cloned().unwrap_or_default();
            reporter.emit(ProgressEvent::Phase(format!("verifying layers of {who}")));
            verified.push(verify_image(&ctx, &contents, plan)?);
        }
        for v in &verified {
            for r in &v.record.references {
                check_duplicate(&mut seen, &label, r, &name)?;
            }
        }
        reporter.emit(ProgressEvent::Phase(format!("storing {name}")));
        commit_files(&mut contents, &mut store, &verified)?;
        drop(contents);
        for v in verified {
            save_image_record(work_dir, &v.record)?;
            reporter.emit(ProgressEvent::ImageReady {
                reference: v.record.reference.clone(),
            });
            if let Err(reason) = hooks.image_ready(&v.record) {
                return Err(ArtifactError::Stopped {
                    image: v.record.reference.clone(),
                    reason,
                });
            }
            report.images.push(v.record);
        }
    }
    if report.images.is_empty() && report.skipped.is_empty() {
        return Err(ArtifactError::NoImages {
            archive: label.clone(),
        });
    }
    // Read to the real end so the gzip trailer (CRC, length) is checked: a
    // copy cut inside the final padding would otherwise pass.
    let mut rest = outer.into_inner();
    io::copy(&mut rest, &mut io::sink())
        .map_err(|e| outer_ctx.read_error(e, "reading the end of the archive"))?;

    reporter.finish();
    report.blobs_written = store.written;
    report.blobs_reused = store.reused;
    report.compressed_bytes = compressed.load(std::sync::atomic::Ordering::Relaxed);
    report.uncompressed_bytes = uncompressed.load(std::sync::atomic::Ordering::Relaxed);
    report.elapsed_secs = started.elapsed().as_secs_f64();
    Ok(report)
}

fn check_duplicate(
    seen: &mut HashMap<String, String>,
    archive: &str,
    reference: &str,
    member: &str,
) -> Result<()> {
    let key = normalize_reference(reference);
    if let Some(first) = seen.get(&key)
        && first != member
    {
        return Err(ArtifactError::DuplicateImage {
            archive: archive.to_string(),
            reference: reference.to_string(),
            first: first.clone(),
            second: member.to_string(),
        });
    }
    seen.insert(key, member.to_string());
    Ok(())
}

/// What a tar entry that is not a file is, in the operator's words.
fn entry_kind(kind: tar::EntryType) -> &'static str {
    if kind.is_symlink() {
        "symbolic link"
    } else if kind.is_hard_link() {
        "hard link"
    } else if kind.is_character_special() {
        "character device"
    } else if kind.is_block_special() {
        "block device"
    } else if kind.is_fifo() {
        "FIFO (named pipe)"
    } else {
        "special entry"
    }
}
