//! The streaming push: when the registry is reachable while the artifacts step reads
//! `images.tar.gz`, each layer goes to the registry as it is read instead of being written to
//! the spool and read back. The transfer itself (staging, compression, commits, the layer
//! index) is `registry::StagingArea`'s; this module adapts it to the reader's `FileSink` and
//! pushes each image once its member verified.
//!
//! Nothing unverified is committed: the uploads stay open until the member's metadata (which
//! `docker save` writes after the layers) has verified every layer against the image's config;
//! then they are committed in the staging repository, mounted into the image's repository,
//! and the config and manifest are pushed. Layers and images are units of the artifacts
//! step's ledger, which the push step reads, so it finds these images done.

use super::inputs::RegistryInput;
use std::io;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use tokio::runtime::Handle;
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;

use super::push_ledger::{SessionPushLedger, push_image, push_options};
use crate::artifacts::ImageRecord;
use crate::artifacts::images::member::Compression;
use crate::artifacts::images::sink::{FileSink, SentBlob, SentFile};
use crate::engine::context::StepContext;
use crate::engine::events::Level;
use crate::oci::{Digest, LayerEncoding};
use crate::registry::{
    Finished, ImageState, Opened, PushProgress, Pusher, StagedFile, StagingArea, UncommittedBlob,
    UploadFormChange,
};
use crate::wizard::state::PasswordSource;

/// Verified images pushed at once while the reader goes on: enough to hide the round trips of
/// commits, mounts and manifests behind the reading of the next member.
const PUSHES_IN_FLIGHT: usize = 2;

pub struct StreamPush {
    staging: Arc<StagingArea>,
    handle: Handle,
    pushes: Mutex<Vec<JoinHandle<Result<(), String>>>>,
    /// Images pushed since the reader last asked (to drop their spool on its thread).
    pushed: Arc<Mutex<Vec<ImageRecord>>>,
    slots: Arc<Semaphore>,
    work: PathBuf,
}

/// The streaming push, when the registry can be reached now without asking the operator
/// anything; `None` (with the reason logged) means the archive is spooled as before.
pub async fn start(ctx: &StepContext, work: PathBuf) -> Option<Arc<StreamPush>> {
    let choice = ctx.input::<RegistryInput>().registry?;
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
    super::push_ledger::say_layer_codec(ctx, &choice);
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
        staging: StagingArea::new(Arc::new(pusher), Handle::current()),
        handle: Handle::current(),
        pushes: Mutex::default(),
        pushed: Arc::default(),
        slots: Arc::new(Semaphore::new(PUSHES_IN_FLIGHT)),
        work,
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
        let layers: Vec<_> = record
            .layers
            .iter()
            .map(|l| (l.diff_id.clone(), self.staging.commit_of(&l.blob_digest)))
            .collect();
        let image = push_image(record, &self.work);
        let staging = self.staging.clone();
        let pushed_list = self.pushed.clone();
        let record = record.clone();
        let task = self.handle.spawn(async move {
            let _permit = permit;
            let pusher = staging.pusher();
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
                            staging.note(e);
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
        self.staging.outage()
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
        let stored = match compression {
            Compression::None => LayerEncoding::Tar,
            Compression::Gzip => LayerEncoding::Gzip,
            Compression::Zstd => LayerEncoding::Zstd,
        };
        Ok(Some(
            match self
                .push
                .staging
                .open(Digest::promised_by_name(path).as_ref(), stored)
            {
                Opened::AlreadyThere => Box::new(AlreadyThere),
                Opened::Sending(file) => Box::new(Sending(file)),
            },
        ))
    }
}

struct AlreadyThere;

impl SentFile for AlreadyThere {
    fn write(&mut self, _chunk: &[u8]) -> io::Result<()> {
        Ok(())
    }
    fn discards(&self) -> bool {
        true
    }
    fn finish(self: Box<Self>, _digest: &Digest) -> io::Result<Box<dyn SentBlob>> {
        Ok(Box::new(AlreadyThere))
    }
}

impl SentBlob for AlreadyThere {
    fn commit(self: Box<Self>) -> io::Result<()> {
        Ok(())
    }
}

struct Sending(Box<StagedFile>);

impl SentFile for Sending {
    fn write(&mut self, chunk: &[u8]) -> io::Result<()> {
        self.0.write(chunk)
    }

    fn finish(self: Box<Self>, digest: &Digest) -> io::Result<Box<dyn SentBlob>> {
        Ok(match self.0.finish(digest)? {
            Finished::AlreadyThere => Box::new(AlreadyThere),
            Finished::Uncommitted(blob) => Box::new(Pending(blob)),
        })
    }
}

struct Pending(UncommittedBlob);

impl SentBlob for Pending {
    fn commit(self: Box<Self>) -> io::Result<()> {
        self.0.commit()
    }
}

/// The streaming push has no rows of its own: it says what it pushed in the log.
struct LogProgress {
    ctx: StepContext,
}

impl PushProgress for LogProgress {
    fn upload_form(&self, change: &UploadFormChange) {
        self.ctx.log(Level::Warn, change.to_string());
    }

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
