//! Disk budget before reading ~100 GB: how much the spool will need, how much
//! the work dir's filesystem has, and whether to extract everything or keep
//! one image at a time.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::error::{ArtifactError, Result};
use super::volumes::open_archive;

/// Typical images.tar.gz expansion (measured 2.56 on a CKF-shaped set).
pub const DEFAULT_RATIO: f64 = 2.5;
/// Slack for filesystem overhead and records.
const MARGIN: f64 = 1.05;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum SpoolMode {
    /// Spool every image, then push.
    #[default]
    ExtractAll,
    /// The engine pushes each image and calls `remove_image_spool` before the
    /// next; the reader checks each member's size against free space first.
    OneImageAtATime,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SpaceEstimate {
    pub compressed: u64,
    /// Estimated size of the tar inside the gzip (always an estimate).
    pub uncompressed: u64,
    /// How the estimate was made, for the UI.
    pub method: String,
}

/// gzip keeps the input size modulo 2^32 in its last 4 bytes (ISIZE). For a
/// single-member file (pigz and gzip write one) the true size is ISIZE + k·2^32;
/// the k that brings it closest to compressed × ratio is picked, which is exact
/// below 4 GiB and a refinement of the ratio guess above.
/// Volumes (`images.tar.gz.001`, …) are one gzip stream cut in pieces: the magic is the first
/// volume's, ISIZE the last one's.
pub fn estimate_space(images_gz: &Path) -> Result<SpaceEstimate> {
    let set = open_archive(images_gz, &[])?;
    let compressed = set.total_size();
    let guess = (compressed as f64 * DEFAULT_RATIO) as u64;
    let ends = (compressed >= 18)
        .then(|| set.head_and_tail())
        .transpose()
        .map_err(|e| ArtifactError::io(images_gz, e))?;
    let Some(([0x1f, 0x8b], tail)) = ends else {
        return Ok(SpaceEstimate {
            compressed,
            uncompressed: guess,
            method: format!("not a gzip file: compressed size × {DEFAULT_RATIO}"),
        });
    };
    let isize = u32::from_le_bytes(tail) as u64;
    let step = 1u64 << 32;
    let mut best = isize;
    let mut k = 0u64;
    while k < 1 << 20 {
        let cand = isize + k * step;
        if cand.abs_diff(guess) < best.abs_diff(guess) {
            best = cand;
        }
        if cand > guess {
            break;
        }
        k += 1;
    }
    let best = best.max(compressed);
    Ok(SpaceEstimate {
        compressed,
        uncompressed: best,
        method: if compressed < step / 8 && best == isize {
            "gzip ISIZE trailer (exact for a single-member gzip under 4 GiB)".into()
        } else {
            format!("estimate: gzip ISIZE trailer mod 2^32 near compressed size × {DEFAULT_RATIO}")
        },
    })
}

/// Free bytes for an unprivileged writer on the filesystem of `dir` (or of
/// its nearest existing ancestor, since the work dir may not exist yet).
pub fn free_space(dir: &Path) -> Result<u64> {
    let mut p = dir;
    while !p.exists() {
        match p.parent() {
            Some(q) => p = q,
            None => break,
        }
    }
    let st = rustix::fs::statvfs(p).map_err(|e| ArtifactError::io(p, e.into()))?;
    let free = st.f_bavail.saturating_mul(st.f_frsize);
    Ok(free)
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DiskPlan {
    pub mode: SpoolMode,
    /// Bytes needed to spool everything (estimate).
    pub needed_all: u64,
    pub free: u64,
    pub estimate: SpaceEstimate,
    pub note: String,
}

pub fn plan_disk(images_gz: &Path, charms_gz: Option<&Path>, work_dir: &Path) -> Result<DiskPlan> {
    let estimate = estimate_space(images_gz)?;
    let charms = match charms_gz {
        Some(c) => estimate_space(c)?.uncompressed,
        None => 0,
    };
    let needed_all = ((estimate.uncompressed + charms) as f64 * MARGIN) as u64;
    let free = free_space(work_dir)?;
    let (mode, note) = if free >= needed_all {
        (
            SpoolMode::ExtractAll,
            format!("{free} bytes free, about {needed_all} needed: everything is spooled first"),
        )
    } else {
        (
            SpoolMode::OneImageAtATime,
            format!(
                "{free} bytes free but about {needed_all} needed ({}): images are spooled and pushed one at a time; \
                 the largest image must still fit",
                estimate.method
            ),
        )
    };
    Ok(DiskPlan {
        mode,
        needed_all,
        free,
        estimate,
        note,
    })
}
