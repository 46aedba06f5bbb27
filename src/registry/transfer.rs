//! How blob bytes travel, decided once per push and shared by every upload: one streamed
//! `PATCH` per blob (fastest, no buffering) until the registry or a proxy in front of it
//! refuses that, then bounded `PATCH` chunks with `Content-Range` for the rest of the push.
//! The engine persists the switch in the session, so a resumed run starts chunked.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use super::progress::{PushProgress, UploadFormChange};

/// Chunks are never made smaller than this on a 413: a proxy refusing 256 KiB bodies is
/// misconfigured, and smaller requests would only add round trips.
pub const MIN_CHUNK: u64 = 256 * 1024;
/// 12 MiB: few requests (each one a password check on an htpasswd registry; 12 MiB pieces
/// push the benchmark release about 3 % faster than 8 MiB ones), small enough that a resumed
/// upload re-sends little and four blobs in flight hold 48 MiB.
pub const DEFAULT_CHUNK: u64 = 12 * 1024 * 1024;

/// The operator's choice of upload form.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum UploadMode {
    /// Streamed, falling back to chunked on 413, 411 or a reset during a large body.
    #[default]
    Auto,
    /// Chunked from the start (a proxy known to limit bodies, or a resumed session that
    /// already learned it).
    Chunked,
}

/// What the push decided; the push step records it in the session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChunkedSince {
    pub chunk_size: u64,
    /// Why the push went chunked (the refusal it saw), or `None` when asked for.
    pub reason: Option<String>,
}

pub(crate) struct TransferPolicy {
    chunked: AtomicBool,
    chunk: AtomicU64,
    reason: Mutex<Option<String>>,
    progress: Arc<dyn PushProgress>,
}

impl TransferPolicy {
    pub(crate) fn new(
        mode: UploadMode,
        chunk_size: u64,
        progress: Arc<dyn PushProgress>,
    ) -> TransferPolicy {
        TransferPolicy {
            chunked: AtomicBool::new(mode == UploadMode::Chunked),
            chunk: AtomicU64::new(chunk_size.max(MIN_CHUNK)),
            reason: Mutex::new(None),
            progress,
        }
    }

    /// The chunk size when uploads go chunked.
    pub(crate) fn chunked(&self) -> Option<u64> {
        self.chunked
            .load(Ordering::Acquire)
            .then(|| self.chunk.load(Ordering::Acquire))
    }

    /// The chunk size chunked uploads use (now or after a fall-back).
    pub(crate) fn chunk_size(&self) -> u64 {
        self.chunk.load(Ordering::Acquire)
    }

    /// Switches to chunked uploads; true for the caller that made the switch.
    pub(crate) fn fall_back(&self, reason: &str) -> bool {
        let first = !self.chunked.swap(true, Ordering::AcqRel);
        if first {
            if let Ok(mut r) = self.reason.lock() {
                *r = Some(reason.to_string());
            }
            self.progress.upload_form(&UploadFormChange::Chunked {
                chunk_size: self.chunk_size(),
                reason: reason.to_string(),
            });
        }
        first
    }

    /// After a 413 on a chunk of `refused` bytes: halves the chunk size until it is below
    /// that (several uploads refused at the same size halve it once) and returns the size to
    /// use, or `None` when the chunks are already as small as they go.
    pub(crate) fn shrink(&self, refused: u64) -> Option<u64> {
        let mut next = self.chunk_size();
        while next >= refused && next > MIN_CHUNK {
            next = (next / 2).max(MIN_CHUNK);
        }
        if next >= refused {
            return None;
        }
        let before = self.chunk.fetch_min(next, Ordering::AcqRel);
        // Only the upload that lowered the size says so: the others refused at the same size.
        if before > next {
            self.progress.upload_form(&UploadFormChange::Smaller {
                from: before,
                to: next,
                refused,
            });
        }
        Some(before.min(next))
    }

    pub(crate) fn state(&self) -> Option<ChunkedSince> {
        let chunk_size = self.chunked()?;
        let reason = self.reason.lock().ok().and_then(|r| r.clone());
        Some(ChunkedSince { chunk_size, reason })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Default)]
    struct Said(Mutex<Vec<UploadFormChange>>);

    impl PushProgress for Said {
        fn upload_form(&self, change: &UploadFormChange) {
            self.0.lock().unwrap().push(change.clone());
        }
    }

    #[test]
    fn falls_back_once_and_shrinks_to_a_floor_saying_each_change_once() {
        let said = Arc::new(Said::default());
        let p = TransferPolicy::new(UploadMode::Auto, DEFAULT_CHUNK, said.clone());
        assert_eq!(p.chunked(), None);
        assert!(p.fall_back("413 Payload Too Large"));
        assert!(!p.fall_back("411 Length Required"));
        assert_eq!(
            p.state(),
            Some(ChunkedSince {
                chunk_size: DEFAULT_CHUNK,
                reason: Some("413 Payload Too Large".into())
            })
        );
        assert_eq!(p.shrink(DEFAULT_CHUNK), Some(DEFAULT_CHUNK / 2));
        // A second upload refused at the old size does not halve again.
        assert_eq!(p.shrink(DEFAULT_CHUNK), Some(DEFAULT_CHUNK / 2));
        assert_eq!(p.shrink(300 * 1024), Some(MIN_CHUNK));
        assert_eq!(p.shrink(MIN_CHUNK), None);
        assert_eq!(p.chunked(), Some(MIN_CHUNK));
        let said = said.0.lock().unwrap().clone();
        assert_eq!(
            said,
            vec![
                UploadFormChange::Chunked {
                    chunk_size: DEFAULT_CHUNK,
                    reason: "413 Payload Too Large".into()
                },
                UploadFormChange::Smaller {
                    from: DEFAULT_CHUNK,
                    to: DEFAULT_CHUNK / 2,
                    refused: DEFAULT_CHUNK
                },
                UploadFormChange::Smaller {
                    from: DEFAULT_CHUNK / 2,
                    to: MIN_CHUNK,
                    refused: 300 * 1024
                },
            ]
        );
        assert!(
            said[2].to_string().contains("from 6144 KiB to 256 KiB"),
            "{}",
            said[2]
        );
    }

    #[test]
    fn chunked_mode_starts_chunked_with_a_floor() {
        let p = TransferPolicy::new(UploadMode::Chunked, 1, Arc::new(super::super::NoProgress));
        assert_eq!(p.chunked(), Some(MIN_CHUNK));
        assert_eq!(p.state().and_then(|s| s.reason), None);
    }
}
