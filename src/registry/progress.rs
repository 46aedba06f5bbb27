//! Progress reporting. Events go to a [`PushProgress`] implementation; overall byte counts are
//! atomics in [`PushStats`] that a UI samples on its own tick, so drawing never blocks I/O.

use std::sync::atomic::{AtomicU64, Ordering};

/// The state of one image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ImageState {
    Pending,
    /// Bytes of this image's layer files read from disk so far (skipped layers count as done).
    Uploading {
        done: u64,
        total: u64,
        percent: u8,
    },
    /// No layer had to be uploaded: every blob was mounted from another repository or present.
    Mounted {
        mounted: usize,
        present: usize,
    },
    /// The ledger said the image is complete and the registry confirmed the manifest digest.
    AlreadyPresent {
        digest: String,
    },
    Done {
        digest: String,
    },
    Failed {
        reason: String,
    },
}

/// What happened to one layer (or the config blob, then `diff_id` is the config digest).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LayerState {
    /// Already in the target repository (HEAD).
    Present {
        digest: String,
    },
    /// Cross-repository mounted from `from`.
    Mounted {
        digest: String,
        from: String,
    },
    Uploading,
    Uploaded {
        digest: String,
        size: u64,
    },
    /// A transient failure; the transfer starts again after `delay_ms`.
    Retrying {
        attempt: u32,
        delay_ms: u64,
        reason: String,
    },
}

/// Receives push events. Called from async tasks and from the blocking compression threads:
/// implementations must be quick and must not block.
pub trait PushProgress: Send + Sync {
    fn image(&self, _source: &str, _state: &ImageState) {}
    fn layer(&self, _source: &str, _diff_id: &str, _state: &LayerState) {}
    /// The way uploads go changed for the rest of the push: said once per change, as it
    /// happens, so the operator sees why the push slowed down.
    fn upload_form(&self, _change: &UploadFormChange) {}
}

/// A change of how the push sends bodies, after a refusal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UploadFormChange {
    /// A streamed body was refused: uploads go in chunks of `chunk_size` from now on.
    Chunked { chunk_size: u64, reason: String },
    /// A chunk of `refused` bytes was refused (413): chunks are `to` bytes from now on.
    Smaller { from: u64, to: u64, refused: u64 },
}

impl std::fmt::Display for UploadFormChange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            UploadFormChange::Chunked { chunk_size, reason } => write!(
                f,
                "the registry or a proxy refused a streamed upload ({reason}): uploads go in \
                 chunks of {} KiB from now on",
                chunk_size >> 10
            ),
            UploadFormChange::Smaller { from, to, refused } => write!(
                f,
                "a chunk of {} KiB was refused as too large (413): chunks go from {} KiB to {} \
                 KiB from now on",
                refused >> 10,
                from >> 10,
                to >> 10
            ),
        }
    }
}

/// A progress sink that ignores everything.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoProgress;

impl PushProgress for NoProgress {}

/// Counters for the whole push; read them with [`PushStats::snapshot`] on a UI tick.
#[derive(Debug, Default)]
pub struct PushStats {
    pub bytes_read: AtomicU64,
    pub bytes_sent: AtomicU64,
    pub bytes_total: AtomicU64,
    pub bytes_reused: AtomicU64,
    pub blobs_uploaded: AtomicU64,
    pub blobs_mounted: AtomicU64,
    pub blobs_present: AtomicU64,
    pub retries: AtomicU64,
    pub images_done: AtomicU64,
}

/// A copy of the counters at one moment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StatsSnapshot {
    /// Layer and config bytes read from disk (uncompressed domain).
    pub bytes_read: u64,
    /// Blob body bytes handed to the network (after compression), including aborted attempts.
    pub bytes_sent: u64,
    /// Sum of the sizes of all layer and config files of the push, for an ETA.
    pub bytes_total: u64,
    /// Layer bytes the registry already held or mounted: done without being read or sent.
    pub bytes_reused: u64,
    pub blobs_uploaded: u64,
    pub blobs_mounted: u64,
    pub blobs_present: u64,
    pub retries: u64,
    pub images_done: u64,
}

impl StatsSnapshot {
    /// Bytes done: read and pushed, or reused; what a progress bar shows.
    pub fn bytes_done(&self) -> u64 {
        self.bytes_read + self.bytes_reused
    }
}

impl PushStats {
    pub fn snapshot(&self) -> StatsSnapshot {
        let l = |a: &AtomicU64| a.load(Ordering::Relaxed);
        StatsSnapshot {
            bytes_read: l(&self.bytes_read),
            bytes_sent: l(&self.bytes_sent),
            bytes_total: l(&self.bytes_total),
            bytes_reused: l(&self.bytes_reused),
            blobs_uploaded: l(&self.blobs_uploaded),
            blobs_mounted: l(&self.blobs_mounted),
            blobs_present: l(&self.blobs_present),
            retries: l(&self.retries),
            images_done: l(&self.images_done),
        }
    }

    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }
}
