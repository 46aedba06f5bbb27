//! The streaming push: when the registry is reachable while the artifacts step reads
//! `images.tar.gz`, each layer goes to the registry as it is read — hashed for its diff_id by
//! the reader, gzipped in blocks on every core, uploaded in chunks to a staging repository —
//! instead of being written to the spool and read back. The outer gzip is inflated once and no
//! layer touches the disk.
//!
//! Nothing unverified is committed: the uploads stay open until the member's metadata (which
//! `docker save` writes after the layers) has verified every layer against the image's config;
//! then they are committed in the staging repository, mounted into the image's repository,
//! and the config and manifest are pushed. A layer that does not verify is never committed and
//! its upload is cancelled. Layers and images are units of the artifacts step's ledger, which
//! the push step reads, so it finds these images done.

use std::collections::HashMap;
use std::io;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures_util::FutureExt;
use futures_util::future::{BoxFuture, Shared};
use sha2::{Digest, Sha256};
use tokio::runtime::Handle;
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;

use super::push_ledger::{SessionPushLedger, push_image, push_options};
use crate::artifacts::ImageRecord;
use crate::artifacts::images::member::Compression;
use crate::artifacts::images::sink::{FileSink, SentBlob, SentFile};
use crate::engine::context::StepContext;
use crate::engine::events::Level;
use crate::registry::block_compress::{BlockCompressor, Codec};
use crate::registry::{
    DOCKER_LAYER_GZIP, ImageState, OCI_LAYER_TAR, OCI_LAYER_ZSTD, PushProgress, PushedBlob, Pusher,
    RegistryError, StagedUpload,
};
use crate::wizard::state::PasswordSource;

/// Compressed pieces in flight between a reader and its upload (each about half a block).
const QUEUE: usize = 4;

/// Verified images pushed at once while the reader goes on: enough to hide the round trips of
/// commits, mounts and manifests behind the reading of the next member.
const PUSHES_IN_FLIGHT: usize = 2;

/// A verified layer's commit in the staging repository, started in the background; every
/// image that uses the layer awaits the same one.
type Commit = Shared<BoxFuture<'static, Result<PushedBlob, String>>>;

pub struct StreamPush {
    pusher: Arc<Pusher>,
    handle: Handle,
    /// By the sha256 of the file each blob came from (a layer shared by several images is
    /// uploaded once).
    commits: Mutex<HashMap<String, Commit>>,
    pushes: Mutex<Vec<JoinHandle<Result<(), String>>>>,
    /// Images pushed since the reader last asked (to drop their spool on its thread).
    pushed: Arc<Mutex<Vec<ImageRecord>>>,
    slots: Arc<Semaphore>,
    work: PathBuf,
    /// Set when an upload or a push failed because the registry went away or forgot our
    /// uploads (a restart), not because it refused: the step reads the archive again once the
    /// registry answers.
    outage: Arc<Mutex<Option<String>>>,
}

/// The streaming push, when the registry can be reached now without asking the operator
/// anything; `None` (with the reason logged) means the archive is spooled as before.
pub async fn start(ctx: &StepContext, work: PathBuf) -> Option<Arc<StreamPush>> {
    let choice = ctx.choices().registry?;
    if choice.spool_before_push {
        return None;
    }
    let silent = choice.username.is_none()
        || ctx.password().is_some()
        || matches!(
            choice.password_source,
            Some(PasswordSource::DockerConfig(_))
        );
    if !silent {
        return None;
    }
    let client = super::registry_client::client(ctx).await.ok()?;
    if let Err(e) = client.preflight(crate::registry::STAGING_REPOSITORY).await {
        ctx.log(
            Level::Info,
            format!(
                "the registry is not reachable yet ({e}); the images are spooled and pushed \
                 after the login"
            ),
        );
        return None;
    }
    super::open_uploads::SessionUploadJournal::new(&ctx.session_dir())
        .cancel_left(ctx, &client)
        .await;
    let authority = client.target().authority().to_string();
    let options = push_options(ctx, &choice);
    let pusher = Pusher::new(
        client,
        options,
        Arc::new(SessionPushLedger { ctx: ctx.clone() }),
        Arc::new(LogProgress { ctx: ctx.clone() }),
    );
    ctx.log(
        Level::Info,
        format!(
            "pushing to {} while reading: layers go through {} and are committed once their \
             image verifies",
            authority,
            pusher.staging_repository()
        ),
    );
    Some(Arc::new(StreamPush {
        pusher: Arc::new(pusher),
        handle: Handle::current(),
        commits: Mutex::default(),
        pushes: Mutex::default(),
        pushed: Arc::default(),
        slots: Arc::new(Semaphore::new(PUSHES_IN_FLIGHT)),
        work,
        outage: Arc::default(),
    }))
}

impl StreamPush {
    pub fn sink(self: &Arc<Self>) -> Arc<dyn FileSink> {
        Arc::new(StreamSink { push: self.clone() })
    }

    /// Starts pushing one verified image (from the artifacts step's hook, on its blocking
    /// thread) and returns while it goes on: its layers' commits are awaited, the staged blobs
    /// mounted, small layers and the config read from the spool. `done` runs after the image
    /// is pushed (it records the member). An earlier image's failure is returned here, so the
    /// reading stops at the next member.
    pub fn push(
        &self,
        record: &ImageRecord,
        done: impl FnOnce() -> Result<(), String> + Send + 'static,
    ) -> Result<(), String> {
        self.failed_so_far()?;
        let permit = self
            .handle
            .block_on(self.slots.clone().acquire_owned())
            .map_err(|e| e.to_string())?;
        let layers: Vec<(String, Option<Commit>)> = {
            let commits = self.commits.lock().map_err(|e| e.to_string())?;
            record
                .layers
                .iter()
                .map(|l| {
                    let hex = l.blob_digest.trim_start_matches("sha256:");
                    (l.diff_id.clone(), commits.get(hex).cloned())
                })
                .collect()
        };
        let image = push_image(record, &self.work);
        let pusher = self.pusher.clone();
        let pushed_list = self.pushed.clone();
        let outage = self.outage.clone();
        let record = record.clone();
        let task = self.handle.spawn(async move {
            let _permit = permit;
            let pushed = async {
                for (diff_id, commit) in layers {
                    if let Some(commit) = commit {
                        let blob = commit.await?;
                        pusher
                            .record_layer(&diff_id, &blob)
                            .map_err(|e| e.to_string())?;
                    }
                }
                pusher
                    .push(std::slice::from_ref(&image))
                    .await
                    .map_err(|f| {
                        if let Some(e) = f.first_error() {
                            StreamPush::note(&outage, e);
                        }
                        f.to_string()
                    })
            };
            pushed.await.map_err(|e| {
                format!(
                    "pushing {} failed: {e}. The archive itself is fine: fix the registry and \
                     retry, the step resumes at the first image not pushed (or set \
                     spool_before_push to push after the login)",
                    image.source
                )
            })?;
            if let Ok(mut list) = pushed_list.lock() {
                list.push(record);
            }
            done()
        });
        self.pushes.lock().map_err(|e| e.to_string())?.push(task);
        Ok(())
    }

    /// Why the registry went away during this push, when it did.
    pub fn outage(&self) -> Option<String> {
        self.outage.lock().ok().and_then(|o| o.clone())
    }

    fn note(outage: &Mutex<Option<String>>, e: &RegistryError) {
        if e.is_outage()
            && let Ok(mut o) = outage.lock()
            && o.is_none()
        {
            *o = Some(e.to_string());
        }
    }

    /// The images pushed since the last call.
    pub fn take_pushed(&self) -> Vec<ImageRecord> {
        self.pushed
            .lock()
            .map(|mut l| std::mem::take(&mut *l))
            .unwrap_or_default()
    }

    /// The first failure among the pushes that have ended.
    fn failed_so_far(&self) -> Result<(), String> {
        let finished: Vec<JoinHandle<Result<(), String>>> = {
            let mut pushes = self.pushes.lock().map_err(|e| e.to_string())?;
            let (done, running): (Vec<_>, Vec<_>) = pushes.drain(..).partition(|t| t.is_finished());
            *pushes = running;
            done
        };
        for task in finished {
            self.handle.block_on(task).map_err(|e| e.to_string())??;
        }
        Ok(())
    }

    /// Waits for every image push started; the first failure, if any.
    pub async fn finish(&self) -> Result<(), String> {
        let tasks: Vec<_> = match self.pushes.lock() {
            Ok(mut p) => p.drain(..).collect(),
            Err(e) => return Err(e.to_string()),
        };
        let mut first = Ok(());
        for task in tasks {
            let r = task.await.map_err(|e| e.to_string()).and_then(|r| r);
            if first.is_ok() {
                first = r;
            }
        }
        first
    }

    fn known(&self, hex: &str) -> bool {
        self.commits
            .lock()
            .map(|c| c.contains_key(hex))
            .unwrap_or(false)
            || self.pusher.pushed_layer(&format!("sha256:{hex}")).is_some()
    }
}

/// `<hex>.tar` (skopeo's docker-archive) or `blobs/sha256/<hex>` (OCI layout): a name that
/// promises the content's digest (the reader checks the promise).
fn named_digest(path: &str) -> Option<&str> {
    let name = path
        .strip_prefix("blobs/sha256/")
        .or_else(|| path.strip_suffix(".tar").filter(|p| !p.contains('/')))?;
    crate::image_ref::is_hex64(name).then_some(name)
}

struct StreamSink {
    push: Arc<StreamPush>,
}

impl FileSink for StreamSink {
    fn open(
        &self,
        path: &str,
        head: &[u8],
        compression: Compression,
    ) -> io::Result<Option<Box<dyn SentFile>>> {
        // Metadata (a config over 1 MiB) is spooled: the reader parses it.
        if matches!(
            head.iter().find(|b| !b.is_ascii_whitespace()),
            Some(b'{' | b'[')
        ) {
            return Ok(None);
        }
        let p = &self.push;
        let gzip = compression == Compression::Gzip;
        let zstd = compression == Compression::Zstd;
        if let Some(hex) = named_digest(path) {
            let known = p.known(hex);
            // A new session against a registry that has the layer: its index says so.
            // Only a plain tar's name is its diff_id, which the index is keyed by.
            let indexed = || {
                !gzip
                    && !zstd
                    && p.handle
                        .block_on(p.pusher.indexed_layer(&format!("sha256:{hex}")))
                        .is_some()
            };
            if known || indexed() {
                // Read and hashed by the reader (so the name is checked), nothing sent.
                return Ok(Some(Box::new(AlreadyThere)));
            }
            // A blob kept compressed is sent as it is, so its name is its digest in the
            // registry too: one that a killed run (or another session) committed is reused.
            if gzip || zstd {
                let digest = format!("sha256:{hex}");
                if let Some(size) = p.handle.block_on(p.pusher.staged_blob(&digest)) {
                    let blob = PushedBlob {
                        digest,
                        size,
                        media_type: if gzip {
                            DOCKER_LAYER_GZIP
                        } else {
                            OCI_LAYER_ZSTD
                        }
                        .to_string(),
                        repository: p.pusher.staging_repository(),
                    };
                    let ready: BoxFuture<'static, Result<PushedBlob, String>> =
                        Box::pin(futures_util::future::ready(Ok(blob)));
                    if let Ok(mut c) = p.commits.lock() {
                        c.insert(hex.to_string(), ready.shared());
                    }
                    return Ok(Some(Box::new(AlreadyThere)));
                }
            }
        }
        let (media_type, compressor) = match (gzip, zstd, p.pusher.codec()) {
            (true, _, _) => (DOCKER_LAYER_GZIP, None),
            (_, true, _) => (OCI_LAYER_ZSTD, None),
            (_, _, Some(codec @ Codec::Gzip(_))) => {
                (DOCKER_LAYER_GZIP, Some(BlockCompressor::new(codec)))
            }
            (_, _, Some(codec @ Codec::Zstd(_))) => {
                (OCI_LAYER_ZSTD, Some(BlockCompressor::new(codec)))
            }
            (_, _, None) => (OCI_LAYER_TAR, None),
        };
        let (tx, rx) = tokio::sync::mpsc::channel(QUEUE);
        let pusher = p.pusher.clone();
        let task = p.handle.spawn(async move { pusher.stage_stream(rx).await });
        Ok(Some(Box::new(Sending {
            media_type,
            out: Outlet {
                push: p.clone(),
                tx: Some(tx),
                task: Some(task),
                // A blob sent as it is has the digest the reader computes.
                hash: compressor.is_some().then(Sha256::new),
            },
            compressor,
        })))
    }
}

struct AlreadyThere;

impl SentFile for AlreadyThere {
    fn write(&mut self, _chunk: &[u8]) -> io::Result<()> {
        Ok(())
    }
    fn finish(self: Box<Self>, _sha256_hex: &str) -> io::Result<Box<dyn SentBlob>> {
        Ok(Box::new(AlreadyThere))
    }
}

impl SentBlob for AlreadyThere {
    fn commit(self: Box<Self>) -> io::Result<()> {
        Ok(())
    }
}

struct Sending {
    media_type: &'static str,
    /// `None` for a blob sent as it is (already compressed in the archive).
    compressor: Option<BlockCompressor>,
    out: Outlet,
}

/// The channel to a file's upload task, and the digest of what went into it when that is not
/// the file itself (compressed on the way).
struct Outlet {
    push: Arc<StreamPush>,
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
            Some(task) => match self.push.handle.block_on(task) {
                Ok(Err(e)) => {
                    StreamPush::note(&self.push.outage, &e);
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
            discard_when_done(&self.push, task);
        }
    }
}

impl SentFile for Sending {
    fn write(&mut self, chunk: &[u8]) -> io::Result<()> {
        match &mut self.compressor {
            Some(c) => c.write(chunk, &mut |b| self.out.send(b)),
            None => self.out.send(chunk.to_vec()),
        }
    }

    fn finish(mut self: Box<Self>, sha256_hex: &str) -> io::Result<Box<dyn SentBlob>> {
        let compressed = self.compressor.is_some();
        if let Some(c) = self.compressor.take() {
            c.finish(&mut |b| self.out.send(b))?;
        }
        // The upload finishes in the background; the reader goes on to the next entry.
        drop(self.out.tx.take());
        let Some(task) = self.out.task.take() else {
            return Err(io::Error::other("the upload ended"));
        };
        let p = self.out.push.clone();
        // A layer without a name that promises its digest (`<id>/layer.tar`) may turn out to
        // be one that is already there: drop the upload rather than commit it twice.
        if p.known(sha256_hex) {
            discard_when_done(&p, task);
            return Ok(Box::new(AlreadyThere));
        }
        let digest = match self.out.hash.take() {
            Some(h) => format!("sha256:{}", hex::encode(h.finalize())),
            None => format!("sha256:{sha256_hex}"),
        };
        Ok(Box::new(Uncommitted {
            push: p,
            task: Some(task),
            digest,
            media_type: self.media_type,
            file_hex: sha256_hex.to_string(),
            compressed,
        }))
    }
}

fn discard_when_done(p: &Arc<StreamPush>, task: JoinHandle<Result<StagedUpload, RegistryError>>) {
    let pusher = p.pusher.clone();
    p.handle.spawn(async move {
        if let Ok(Ok(staged)) = task.await {
            pusher.discard_staged(&staged).await;
        }
    });
}

struct Uncommitted {
    push: Arc<StreamPush>,
    task: Option<JoinHandle<Result<StagedUpload, RegistryError>>>,
    digest: String,
    media_type: &'static str,
    file_hex: String,
    compressed: bool,
}

impl SentBlob for Uncommitted {
    /// Verified: the commit starts in the background and every image using the layer awaits
    /// it before its manifest goes up.
    fn commit(mut self: Box<Self>) -> io::Result<()> {
        let Some(task) = self.task.take() else {
            return Ok(());
        };
        let p = self.push.clone();
        let pusher = p.pusher.clone();
        let (digest, media_type, file_hex, compressed) = (
            self.digest.clone(),
            self.media_type,
            self.file_hex.clone(),
            self.compressed,
        );
        let outage = p.outage.clone();
        let commit = async move {
            let noted = |e: RegistryError| {
                StreamPush::note(&outage, &e);
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
                media_type: media_type.to_string(),
                repository: pusher.staging_repository(),
            };
            // A layer this push compressed is the plain tar, so its file digest is its
            // diff_id: recorded now, a kill before the image is pushed does not send it again.
            if compressed {
                let diff_id = format!("sha256:{file_hex}");
                pusher
                    .record_layer(&diff_id, &blob)
                    .map_err(|e| e.to_string())?;
                pusher.index_layer(&diff_id, &blob).await;
            }
            Ok(blob)
        }
        .boxed()
        .shared();
        // Driven to the end even before an image awaits it.
        p.handle.spawn(commit.clone());
        p.commits
            .lock()
            .map_err(|e| io::Error::other(e.to_string()))?
            .insert(self.file_hex.clone(), commit);
        Ok(())
    }
}

impl Drop for Uncommitted {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            discard_when_done(&self.push, task);
        }
    }
}

/// The streaming push has no rows of its own: it says what it pushed in the log.
struct LogProgress {
    ctx: StepContext,
}

impl PushProgress for LogProgress {
    fn image(&self, source: &str, state: &ImageState) {
        match state {
            ImageState::Done { digest } | ImageState::AlreadyPresent { digest } => self
                .ctx
                .log(Level::Info, format!("pushed {source} ({digest})")),
            ImageState::Failed { reason } => self
                .ctx
                .log(Level::Warn, format!("pushing {source} failed: {reason}")),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_that_promise_a_digest() {
        let hex = "a".repeat(64);
        assert_eq!(named_digest(&format!("{hex}.tar")), Some(hex.as_str()));
        assert_eq!(
            named_digest(&format!("blobs/sha256/{hex}")),
            Some(hex.as_str())
        );
        assert_eq!(named_digest("0123/layer.tar"), None);
        assert_eq!(named_digest(&format!("x/{hex}.tar")), None);
    }
}
