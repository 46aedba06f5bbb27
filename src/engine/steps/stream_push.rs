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
use sha2::{Digest, Sha256};
use tokio::runtime::Handle;
use tokio::task::JoinHandle;

use super::push_ledger::{SessionLedger, push_image};
use crate::artifacts::ImageRecord;
use crate::artifacts::images::sink::{FileSink, SentBlob, SentFile};
use crate::engine::context::StepContext;
use crate::engine::events::Level;
use crate::registry::block_gzip::BlockGzip;
use crate::registry::{
    DOCKER_LAYER_GZIP, ImageState, OCI_LAYER_TAR, OCI_LAYER_ZSTD, PushProgress, PushedBlob, Pusher,
    RegistryError, StagedUpload,
};
use crate::wizard::state::PasswordSource;

/// Compressed pieces in flight between a reader and its upload (each about half a block).
const QUEUE: usize = 8;

/// Blobs committed in the staging repository during this run, by the sha256 of the file they
/// came from (a layer shared by several images is uploaded once).
type Staged = Arc<Mutex<HashMap<String, PushedBlob>>>;

pub struct StreamPush {
    pusher: Arc<Pusher>,
    handle: Handle,
    staged: Staged,
    work: PathBuf,
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
    let authority = client.target().authority().to_string();
    let options = super::push::options(ctx, &choice);
    let pusher = Pusher::new(
        client,
        options,
        Arc::new(SessionLedger { ctx: ctx.clone() }),
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
        staged: Arc::default(),
        work,
    }))
}

impl StreamPush {
    pub fn sink(self: &Arc<Self>) -> Arc<dyn FileSink> {
        Arc::new(StreamSink { push: self.clone() })
    }

    /// Pushes one verified image (from the artifacts step's hook, on its blocking thread):
    /// its staged layers are mounted, small ones and the config come from the spool.
    pub fn push(&self, record: &ImageRecord) -> Result<(), String> {
        {
            let staged = self.staged.lock().map_err(|e| e.to_string())?;
            for layer in &record.layers {
                let hex = layer.blob_digest.trim_start_matches("sha256:");
                if let Some(blob) = staged.get(hex) {
                    self.pusher
                        .record_layer(&layer.diff_id, blob)
                        .map_err(|e| e.to_string())?;
                }
            }
        }
        let image = push_image(record, &self.work);
        self.handle
            .block_on(self.pusher.push(std::slice::from_ref(&image)))
            .map_err(|f| f.to_string())?;
        Ok(())
    }
}

/// `<hex>.tar` (skopeo's docker-archive) or `blobs/sha256/<hex>` (OCI layout): a name that
/// promises the content's digest (the reader checks the promise).
fn named_digest(path: &str) -> Option<&str> {
    let name = path
        .strip_prefix("blobs/sha256/")
        .or_else(|| path.strip_suffix(".tar").filter(|p| !p.contains('/')))?;
    (name.len() == 64 && name.bytes().all(|b| b.is_ascii_hexdigit())).then_some(name)
}

struct StreamSink {
    push: Arc<StreamPush>,
}

impl FileSink for StreamSink {
    fn open(
        &self,
        _member: &str,
        path: &str,
        _size: u64,
        head: &[u8],
    ) -> io::Result<Option<Box<dyn SentFile>>> {
        // Metadata (a config over 1 MiB) is spooled: the reader parses it.
        if head.first() == Some(&b'{') {
            return Ok(None);
        }
        let p = &self.push;
        let gzip = head.starts_with(&[0x1f, 0x8b]);
        let zstd = head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]);
        if let Some(hex) = named_digest(path) {
            let known = p
                .staged
                .lock()
                .map(|s| s.contains_key(hex))
                .unwrap_or(false)
                || p.pusher.pushed_layer(&format!("sha256:{hex}")).is_some();
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
        }
        let (media_type, compressor) = match (gzip, zstd, p.pusher.gzip_level()) {
            (true, _, _) => (DOCKER_LAYER_GZIP, None),
            (_, true, _) => (OCI_LAYER_ZSTD, None),
            (_, _, Some(level)) => (DOCKER_LAYER_GZIP, Some(BlockGzip::new(level))),
            (_, _, None) => (OCI_LAYER_TAR, None),
        };
        let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(QUEUE);
        let pusher = p.pusher.clone();
        let task = p.handle.spawn(async move { pusher.stage_stream(rx).await });
        Ok(Some(Box::new(Sending {
            push: p.clone(),
            media_type,
            raw: compressor.is_none(),
            compressor,
            tx: Some(tx),
            task: Some(task),
            out_hash: Sha256::new(),
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
    push: Arc<StreamPush>,
    media_type: &'static str,
    /// Sent as it is (already compressed in the archive).
    raw: bool,
    compressor: Option<BlockGzip>,
    tx: Option<tokio::sync::mpsc::Sender<Bytes>>,
    task: Option<JoinHandle<Result<StagedUpload, RegistryError>>>,
    out_hash: Sha256,
}

impl Sending {
    /// The upload's own error when it stopped taking bytes.
    fn upload_error(&mut self) -> io::Error {
        let detail = match self.task.take() {
            Some(task) => match self.push.handle.block_on(task) {
                Ok(Err(e)) => e.to_string(),
                Ok(Ok(_)) => "the upload ended early".to_string(),
                Err(e) => e.to_string(),
            },
            None => "the upload ended".to_string(),
        };
        io::Error::other(detail)
    }

    fn send(&mut self, out: Vec<u8>) -> io::Result<()> {
        if out.is_empty() {
            return Ok(());
        }
        self.out_hash.update(&out);
        let sent = match &self.tx {
            Some(tx) => tx.blocking_send(Bytes::from(out)).is_ok(),
            None => false,
        };
        if sent {
            Ok(())
        } else {
            Err(self.upload_error())
        }
    }
}

impl SentFile for Sending {
    fn write(&mut self, chunk: &[u8]) -> io::Result<()> {
        match self.compressor.take() {
            Some(mut gz) => {
                let mut pieces = Vec::new();
                let r = gz.write(chunk, &mut |b| {
                    pieces.push(b);
                    Ok(())
                });
                self.compressor = Some(gz);
                r?;
                for p in pieces {
                    self.send(p)?;
                }
                Ok(())
            }
            None => self.send(chunk.to_vec()),
        }
    }

    fn finish(mut self: Box<Self>, sha256_hex: &str) -> io::Result<Box<dyn SentBlob>> {
        if let Some(gz) = self.compressor.take() {
            let mut pieces = Vec::new();
            gz.finish(&mut |b| {
                pieces.push(b);
                Ok(())
            })?;
            for p in pieces {
                self.send(p)?;
            }
        }
        drop(self.tx.take());
        let staged = match self.task.take() {
            Some(task) => self
                .push
                .handle
                .block_on(task)
                .map_err(io::Error::other)?
                .map_err(io::Error::other)?,
            None => return Err(io::Error::other("the upload ended")),
        };
        // A layer without a name that promises its digest (`<id>/layer.tar`) may turn out to
        // be one that is already there: drop the upload rather than commit it twice.
        let p = &self.push;
        let known = p
            .staged
            .lock()
            .map(|s| s.contains_key(sha256_hex))
            .unwrap_or(false)
            || p.pusher
                .pushed_layer(&format!("sha256:{sha256_hex}"))
                .is_some();
        if known {
            let pusher = p.pusher.clone();
            p.handle
                .spawn(async move { pusher.discard_staged(&staged).await });
            return Ok(Box::new(AlreadyThere));
        }
        let digest = format!(
            "sha256:{}",
            hex::encode(std::mem::take(&mut self.out_hash).finalize())
        );
        let compressed = self.media_type == DOCKER_LAYER_GZIP && !self.raw;
        Ok(Box::new(Uncommitted {
            push: self.push.clone(),
            staged: Some(staged),
            digest,
            media_type: self.media_type,
            file_hex: sha256_hex.to_string(),
            compressed,
        }))
    }
}

impl Drop for Sending {
    fn drop(&mut self) {
        // An abandoned file (the member failed): its upload is cancelled when it ends.
        if let Some(task) = self.task.take() {
            let pusher = self.push.pusher.clone();
            drop(self.tx.take());
            self.push.handle.spawn(async move {
                if let Ok(Ok(staged)) = task.await {
                    pusher.discard_staged(&staged).await;
                }
            });
        }
    }
}

struct Uncommitted {
    push: Arc<StreamPush>,
    staged: Option<StagedUpload>,
    digest: String,
    media_type: &'static str,
    file_hex: String,
    compressed: bool,
}

impl SentBlob for Uncommitted {
    fn commit(mut self: Box<Self>) -> io::Result<()> {
        let Some(staged) = self.staged.take() else {
            return Ok(());
        };
        let p = &self.push;
        p.handle
            .block_on(p.pusher.commit_staged(&staged, &self.digest))
            .map_err(io::Error::other)?;
        let blob = PushedBlob {
            digest: self.digest.clone(),
            size: staged.size,
            media_type: self.media_type.to_string(),
            repository: p.pusher.staging_repository(),
        };
        // A layer this push compressed is the plain tar, so its file digest is its diff_id:
        // recorded now, a kill before the image is pushed does not send it again.
        if self.compressed {
            let diff_id = format!("sha256:{}", self.file_hex);
            p.pusher
                .record_layer(&diff_id, &blob)
                .map_err(io::Error::other)?;
            p.handle.block_on(p.pusher.index_layer(&diff_id, &blob));
        }
        p.staged
            .lock()
            .map_err(|e| io::Error::other(e.to_string()))?
            .insert(self.file_hex.clone(), blob);
        Ok(())
    }
}

impl Drop for Uncommitted {
    fn drop(&mut self) {
        if let Some(staged) = self.staged.take() {
            let pusher = self.push.pusher.clone();
            self.push.handle.spawn(async move {
                pusher.discard_staged(&staged).await;
            });
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
