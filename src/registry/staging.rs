//! The streaming push's transfer policy: each layer the archive reader meets goes to the
//! staging repository as it is read (compressed in blocks on the way when it is a plain tar),
//! and its upload stays open until the image it belongs to verifies. Then it is committed in
//! the background; every image that uses the layer awaits the same commit before its manifest
//! goes up. A layer this push, an earlier session or the layer index already put in the
//! registry is not sent again. The engine only feeds bytes in and says which images verified.

use std::collections::HashMap;
use std::io;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures_util::FutureExt;
use futures_util::future::{BoxFuture, Shared};
use sha2::{Digest as _, Sha256};
use tokio::runtime::Handle;
use tokio::task::JoinHandle;

use super::block_compress::BlockCompressor;
use super::error::RegistryError;
use super::ledger::PushedBlob;
use super::push::Pusher;
use super::upload_chunks::StagedUpload;
use crate::oci::{Digest, LayerEncoding, MediaType};

/// Compressed pieces in flight between a reader and its upload (each about half a block).
const QUEUE: usize = 4;

/// A verified layer's commit in the staging repository, started in the background.
pub type Commit = Shared<BoxFuture<'static, Result<PushedBlob, String>>>;

/// The layers staged by one streaming push.
pub struct StagingArea {
    pusher: Arc<Pusher>,
    handle: Handle,
    /// By the digest of the file each blob came from (a layer shared by several images is
    /// uploaded once).
    commits: Mutex<HashMap<Digest, Commit>>,
    /// Set when an upload or a push failed because the registry went away or forgot our
    /// uploads (a restart), not because it refused.
    outage: Mutex<Option<String>>,
}

/// What becomes of a file the reader is about to read.
pub enum Opened {
    /// The registry has it already: the reader only hashes it (so its name is checked).
    AlreadyThere,
    Sending(Box<StagedFile>),
}

/// What becomes of a file once read.
pub enum Finished {
    /// It turned out to be a layer already there: its upload is dropped.
    AlreadyThere,
    Uncommitted(UncommittedBlob),
}

impl StagingArea {
    /// `handle` runs the uploads; the methods that block are called from the reader's thread.
    pub fn new(pusher: Arc<Pusher>, handle: Handle) -> Arc<StagingArea> {
        Arc::new(StagingArea {
            pusher,
            handle,
            commits: Mutex::default(),
            outage: Mutex::default(),
        })
    }

    pub fn pusher(&self) -> &Arc<Pusher> {
        &self.pusher
    }

    /// The commit of the blob read from the file with this digest, when it was staged.
    pub fn commit_of(&self, file: &Digest) -> Option<Commit> {
        self.commits.lock().ok()?.get(file).cloned()
    }

    /// Why the registry went away during this push, when it did.
    pub fn outage(&self) -> Option<String> {
        self.outage.lock().ok().and_then(|o| o.clone())
    }

    /// Notes `e` when it is an outage (the first one is kept).
    pub fn note(&self, e: &RegistryError) {
        if e.is_outage()
            && let Ok(mut o) = self.outage.lock()
            && o.is_none()
        {
            *o = Some(e.to_string());
        }
    }

    /// Staged or committed here, or pushed earlier in this session.
    fn known(&self, file: &Digest) -> bool {
        self.commits
            .lock()
            .map(|c| c.contains_key(file))
            .unwrap_or(false)
            || self.pusher.pushed_layer(file).is_some()
    }

    /// Starts a file of `stored` encoding whose name promises the digest `named` (when it
    /// does): nothing is sent when the registry already holds it, else its upload opens.
    pub fn open(self: &Arc<Self>, named: Option<&Digest>, stored: LayerEncoding) -> Opened {
        if let Some(digest) = named {
            // A new session against a registry that has the layer: its index says so. Only a
            // plain tar's name is its diff_id, which the index is keyed by.
            let indexed = || {
                stored == LayerEncoding::Tar
                    && self
                        .handle
                        .block_on(self.pusher.indexed_layer(digest))
                        .is_some()
            };
            if self.known(digest) || indexed() {
                return Opened::AlreadyThere;
            }
            // A blob kept compressed is sent as it is, so its name is its digest in the
            // registry too: one that a killed run (or another session) committed is reused.
            if stored != LayerEncoding::Tar
                && let Some(size) = self.handle.block_on(self.pusher.staged_blob(digest))
            {
                let blob = PushedBlob {
                    digest: digest.clone(),
                    size,
                    media_type: MediaType::layer(stored, true),
                    repository: Some(self.pusher.staging_repository()),
                };
                let ready: BoxFuture<'static, Result<PushedBlob, String>> =
                    Box::pin(futures_util::future::ready(Ok(blob)));
                if let Ok(mut c) = self.commits.lock() {
                    c.insert(digest.clone(), ready.shared());
                }
                return Opened::AlreadyThere;
            }
        }
        let (codec, media_type) = self.pusher.options().layer_encoding(stored, true);
        let (tx, rx) = tokio::sync::mpsc::channel(QUEUE);
        let pusher = self.pusher.clone();
        let task = self
            .handle
            .spawn(async move { pusher.stage_stream(rx).await });
        let compressor = codec.map(BlockCompressor::new);
        Opened::Sending(Box::new(StagedFile {
            media_type,
            out: Outlet {
                area: self.clone(),
                tx: Some(tx),
                task: Some(task),
                // A blob sent as it is has the digest the reader computes.
                hash: compressor.is_some().then(Sha256::new),
            },
            compressor,
        }))
    }

    fn discard_when_done(&self, task: JoinHandle<Result<StagedUpload, RegistryError>>) {
        let pusher = self.pusher.clone();
        self.handle.spawn(async move {
            if let Ok(Ok(staged)) = task.await {
                pusher.discard_staged(&staged).await;
            }
        });
    }
}

/// A file being read and sent to its upload.
pub struct StagedFile {
    media_type: MediaType,
    /// `None` for a blob sent as it is (already compressed in the archive).
    compressor: Option<BlockCompressor>,
    out: Outlet,
}

/// The channel to a file's upload task, and the digest of what went into it when that is not
/// the file itself (compressed on the way).
struct Outlet {
    area: Arc<StagingArea>,
    tx: Option<tokio::sync::mpsc::Sender<Result<Bytes, io::Error>>>,
    task: Option<JoinHandle<Result<StagedUpload, RegistryError>>>,
    hash: Option<Sha256>,
}

impl Outlet {
    fn send(&mut self, out: Vec<u8>) -> io::Result<()> {
        if out.is_empty() {
            return Ok(());
        }
        if let Some(h) = &mut self.hash {
            h.update(&out);
        }
        let sent = match &self.tx {
            Some(tx) => tx.blocking_send(Ok(Bytes::from(out))).is_ok(),
            None => false,
        };
        if sent {
            Ok(())
        } else {
            Err(self.upload_error())
        }
    }

    /// The upload's own error when it stopped taking bytes.
    fn upload_error(&mut self) -> io::Error {
        let detail = match self.task.take() {
            Some(task) => match self.area.handle.block_on(task) {
                Ok(Err(e)) => {
                    self.area.note(&e);
                    e.to_string()
                }
                Ok(Ok(_)) => "the upload ended early".to_string(),
                Err(e) => e.to_string(),
            },
            None => "the upload ended".to_string(),
        };
        io::Error::other(detail)
    }
}

impl Drop for Outlet {
    fn drop(&mut self) {
        // An abandoned file (the member failed): its upload is cancelled when it ends.
        drop(self.tx.take());
        if let Some(task) = self.task.take() {
            self.area.discard_when_done(task);
        }
    }
}

impl StagedFile {
    pub fn write(&mut self, chunk: &[u8]) -> io::Result<()> {
        match &mut self.compressor {
            Some(c) => c.write(chunk, &mut |b| self.out.send(b)),
            None => self.out.send(chunk.to_vec()),
        }
    }

    /// Every byte is written; `file` is their digest, computed by the reader.
    pub fn finish(mut self, file: &Digest) -> io::Result<Finished> {
        let compressed = self.compressor.is_some();
        if let Some(c) = self.compressor.take() {
            c.finish(&mut |b| self.out.send(b))?;
        }
        // The upload finishes in the background; the reader goes on to the next entry.
        drop(self.out.tx.take());
        let Some(task) = self.out.task.take() else {
            return Err(io::Error::other("the upload ended"));
        };
        let area = self.out.area.clone();
        // A layer without a name that promises its digest (`<id>/layer.tar`) may turn out to
        // be one that is already there: drop the upload rather than commit it twice.
        if area.known(file) {
            area.discard_when_done(task);
            return Ok(Finished::AlreadyThere);
        }
        let digest = match self.out.hash.take() {
            Some(h) => Digest::from_hasher(h),
            None => file.clone(),
        };
        Ok(Finished::Uncommitted(UncommittedBlob {
            area,
            task: Some(task),
            digest,
            media_type: self.media_type.clone(),
            file: file.clone(),
            compressed,
        }))
    }
}

/// A file read whole and uploaded, not yet committed: its image has not verified yet.
pub struct UncommittedBlob {
    area: Arc<StagingArea>,
    task: Option<JoinHandle<Result<StagedUpload, RegistryError>>>,
    digest: Digest,
    media_type: MediaType,
    file: Digest,
    compressed: bool,
}

impl UncommittedBlob {
    /// Verified: the commit starts in the background and every image using the layer awaits
    /// it before its manifest goes up.
    pub fn commit(mut self) -> io::Result<()> {
        let Some(task) = self.task.take() else {
            return Ok(());
        };
        let area = self.area.clone();
        let pusher = area.pusher.clone();
        let (digest, media_type, file, compressed) = (
            self.digest.clone(),
            self.media_type.clone(),
            self.file.clone(),
            self.compressed,
        );
        let noted_in = area.clone();
        let commit = async move {
            let noted = |e: RegistryError| {
                noted_in.note(&e);
                e.to_string()
            };
            let staged = task.await.map_err(|e| e.to_string())?.map_err(noted)?;
            pusher
                .commit_staged(&staged, &digest)
                .await
                .map_err(noted)?;
            let blob = PushedBlob {
                digest,
                size: staged.size,
                media_type,
                repository: Some(pusher.staging_repository()),
            };
            // A layer this push compressed is the plain tar, so its file digest is its
            // diff_id: recorded now, a kill before the image is pushed does not send it again.
            if compressed {
                pusher
                    .record_layer(&file, &blob)
                    .map_err(|e| e.to_string())?;
                pusher.index_layer(&file, &blob).await;
            }
            Ok(blob)
        }
        .boxed()
        .shared();
        // Driven to the end even before an image awaits it.
        area.handle.spawn(commit.clone());
        area.commits
            .lock()
            .map_err(|e| io::Error::other(e.to_string()))?
            .insert(self.file.clone(), commit);
        Ok(())
    }
}

impl Drop for UncommittedBlob {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            self.area.discard_when_done(task);
        }
    }
}
