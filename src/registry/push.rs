//! Pushing images: per layer a HEAD/mount/upload decision driven by the ledger, then the config
//! blob, the manifest, and a HEAD that confirms the manifest digest.
//!
//! Manifest format, chosen per image from its layers so that it is always consistent:
//! - every layer gzip (compressed on the fly, or already gzip on disk) → Docker v2 schema 2
//!   (`application/vnd.docker.distribution.manifest.v2+json`), the format every registry and
//!   containerd version accepts;
//! - any layer uncompressed (`LayerCompression::None`) or zstd → OCI image manifest, because
//!   Docker schema 2 has no zstd type and its uncompressed type is poorly supported.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};

use crate::oci::{Descriptor, Digest, LayerEncoding, Manifest, MediaType};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use tokio::sync::Semaphore;

use super::block_compress::Codec;
use super::client::{MountOutcome, RegistryClient};
use super::error::RegistryError;
use super::ledger::{PushLedger, PushedBlob};
use super::progress::{ImageState, LayerState, PushProgress, PushStats};
use super::transfer::{ChunkedSince, DEFAULT_CHUNK, TransferPolicy, UploadMode};
use super::upload::{BlobSource, CancelCheck, Encoding, ResumeSlot, Uploader};
use super::upload_chunks::{StagedUpload, upload_open};

/// Under the target prefix, beside the release's repositories.
pub const STAGING_REPOSITORY: &str = "ckf-airgap-staging";

/// Configs up to this size are read whole and sent in one request.
const SMALL_BLOB: u64 = 1024 * 1024;

fn manifest_accept() -> String {
    MediaType::accept(&[MediaType::DockerManifest, MediaType::OciManifest])
}

/// One image to push (the engine adapts the artifacts module's output to this).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushImage {
    /// The reference in the release, e.g. `172.17.0.2:5000/kubeflownotebookswg/jupyter-web-app:v1.7.0`.
    pub source: String,
    /// The repository path without the original registry host.
    pub repository: String,
    pub tag: String,
    pub config: BlobFile,
    pub layers: Vec<LayerFile>,
}

/// A blob on disk whose digest is known.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlobFile {
    pub path: PathBuf,
    pub digest: Digest,
    pub size: u64,
}

/// A layer on disk.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayerFile {
    pub path: PathBuf,
    /// sha256 of the uncompressed layer (`rootfs.diff_ids` in the config).
    pub diff_id: Digest,
    /// Size of the file at `path`.
    pub size: u64,
    pub stored: StoredAs,
}

/// How the layer file is stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum StoredAs {
    /// A plain tar: the file hashes to `diff_id`.
    Uncompressed,
    /// Already gzip; `digest` is the sha256 of the file.
    Gzip { digest: Digest },
    /// Already zstd; `digest` is the sha256 of the file.
    Zstd { digest: Digest },
}

impl StoredAs {
    /// How the file is encoded.
    pub fn encoding(&self) -> LayerEncoding {
        match self {
            StoredAs::Uncompressed => LayerEncoding::Tar,
            StoredAs::Gzip { .. } => LayerEncoding::Gzip,
            StoredAs::Zstd { .. } => LayerEncoding::Zstd,
        }
    }
}

/// What to do with uncompressed layers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LayerCompression {
    /// Gzip on the fly (deterministic, so a repeat gives the same digest).
    #[default]
    Gzip,
    /// Zstd on the fly (OCI manifest, `application/vnd.oci.image.layer.v1.tar+zstd`): smaller
    /// and faster to unpack, but only containerd 1.5 and later (and Docker Engine 23 and
    /// later) pull it.
    Zstd,
    /// Push the tar as it is (OCI manifest, `application/vnd.oci.image.layer.v1.tar`).
    None,
}

#[derive(Clone, Debug)]
pub struct PushOptions {
    pub image_concurrency: usize,
    pub blob_concurrency: usize,
    pub compression: LayerCompression,
    /// libdeflate level (1-12) for on-the-fly gzip. 1 by default: on the benchmark release it
    /// stores 2 % more than skopeo's default gzip (zlib-rs level 1 stored 21 % more), and the
    /// 1 MiB blocks are compressed on every core.
    pub gzip_level: u32,
    /// zstd level (1-19) when `compression` is `Zstd`; 3, zstd's own default.
    pub zstd_level: i32,
    /// Keep pushing the other images after one fails (default: stop starting new ones).
    pub keep_going: bool,
    /// Lower the blob concurrency by one after this many retries (never below one).
    pub failures_per_slowdown: u32,
    /// Streamed with a fall-back to chunks, or chunked from the start.
    pub upload_mode: UploadMode,
    /// Bytes per chunked `PATCH` (halved on a 413, never below [`super::MIN_CHUNK`]).
    pub chunk_size: u64,
}

impl PushOptions {
    /// How uncompressed layers are compressed, or `None` when they are pushed as they are.
    pub fn codec(&self) -> Option<Codec> {
        match self.compression {
            LayerCompression::Gzip => Some(Codec::Gzip(self.gzip_level)),
            LayerCompression::Zstd => Some(Codec::Zstd(self.zstd_level)),
            LayerCompression::None => None,
        }
    }

    /// The encoding a plain tar is pushed in.
    pub fn plain_layer_encoding(&self) -> LayerEncoding {
        match self.compression {
            LayerCompression::Gzip => LayerEncoding::Gzip,
            LayerCompression::Zstd => LayerEncoding::Zstd,
            LayerCompression::None => LayerEncoding::Tar,
        }
    }

    /// The one choice of how a layer goes up, for the push from disk and the streaming push
    /// alike: a compressed file as it is, a plain tar compressed as these options say. The
    /// codec to compress with (`None`: the file's own bytes are sent) and the media type.
    pub fn layer_encoding(
        &self,
        stored: LayerEncoding,
        docker_manifest: bool,
    ) -> (Option<Codec>, MediaType) {
        match stored {
            LayerEncoding::Tar => (
                self.codec(),
                MediaType::layer(self.plain_layer_encoding(), docker_manifest),
            ),
            compressed => (None, MediaType::layer(compressed, docker_manifest)),
        }
    }
}

impl Default for PushOptions {
    fn default() -> PushOptions {
        PushOptions {
            image_concurrency: 3,
            blob_concurrency: 4,
            compression: LayerCompression::Gzip,
            gzip_level: 1,
            // Measured on the 20-image benchmark release (README, "zstd against gzip"): level 1
            // stores what skopeo's gzip does (1.00) for the least CPU; 2 and 3 store 5 and 8 %
            // less for 14 and 19 % more CPU.
            zstd_level: 1,
            keep_going: false,
            failures_per_slowdown: 3,
            upload_mode: UploadMode::Auto,
            chunk_size: DEFAULT_CHUNK,
        }
    }
}

/// One line of the push report.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushedImage {
    pub source: String,
    pub target: String,
    pub manifest_digest: Digest,
    pub media_type: MediaType,
    pub status: PushOutcome,
}

/// What the push did for one image (written as `pushed` / `already-present` in the report).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PushOutcome {
    Pushed,
    /// Complete under its tag already (a resumed or repeated push): nothing was sent.
    AlreadyPresent,
}

/// The push report, one entry per image, in input order.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushReport {
    pub registry: String,
    pub images: Vec<PushedImage>,
}

impl PushReport {
    /// Writes the report as JSON, atomically.
    pub fn write_json(&self, path: &Path) -> std::io::Result<()> {
        let bytes = serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?;
        crate::durable::write_file(path, &bytes)
    }
}

/// One image that failed.
#[derive(Debug)]
pub struct ImageFailure {
    pub source: String,
    pub error: RegistryError,
}

/// Some images could not be pushed; `report` lists the ones that were.
#[derive(Debug, thiserror::Error)]
#[error("{} of {total} images could not be pushed to {host}. First failure, for {}: {}", failures.len(), failures.first().map(|f| f.source.as_str()).unwrap_or("?"), failures.first().map(|f| f.error.to_string()).unwrap_or_default())]
pub struct PushFailure {
    pub host: String,
    pub total: usize,
    pub failures: Vec<ImageFailure>,
    pub report: PushReport,
}

impl PushFailure {
    /// The first error, for callers that only show one.
    pub fn first_error(&self) -> Option<&RegistryError> {
        self.failures.first().map(|f| &f.error)
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum LayerOutcome {
    Present,
    Mounted,
    Uploaded,
}

type Slot = Arc<tokio::sync::Mutex<Option<PushedBlob>>>;

/// Pushes images to one registry. Drop the `push` future to cancel, or give a cancel check.
pub struct Pusher {
    client: RegistryClient,
    options: PushOptions,
    ledger: Arc<dyn PushLedger>,
    progress: Arc<dyn PushProgress>,
    stats: Arc<PushStats>,
    cancel: Option<CancelCheck>,
    transfer: TransferPolicy,
    /// Set once the layer index's shared config is in place.
    index_ready: tokio::sync::OnceCell<()>,
    /// The layer index's tags when this push first looked, `None` when the registry lists none.
    index_tags: tokio::sync::OnceCell<Option<std::collections::HashSet<String>>>,
    blob_permits: Arc<Semaphore>,
    blob_limit: AtomicU32,
    failures: AtomicU32,
    // One slot per diff_id: the first image to need a shared layer uploads it, the others wait
    // and then mount it, so a shared layer is uploaded once even when images run in parallel.
    slots: Mutex<HashMap<(Digest, LayerEncoding), Slot>>,
    // One slot per config digest, holding the repository it first went to: one image under
    // several names shares its config, which then goes up once and is mounted for the others.
    config_slots: Mutex<HashMap<Digest, ConfigSlot>>,
    // One image of a repository at a time. Distribution's filesystem storage rewrites a
    // repository's blob link in place (truncate, then write) on every mount or upload of a
    // blob the repository already links, so a manifest PUT of another tag checking that blob
    // at the same moment reads an empty link and is refused with DIGEST_INVALID and
    // MANIFEST_BLOB_UNKNOWN. Tags of one repository are few in a release.
    repo_locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

type ConfigSlot = Arc<tokio::sync::Mutex<Option<String>>>;

struct ImageProgress {
    source: String,
    done: AtomicU64,
    total: u64,
    last_emit: AtomicU64,
    progress: Arc<dyn PushProgress>,
}

impl ImageProgress {
    fn add(&self, n: u64) {
        let done = self.done.fetch_add(n, Ordering::Relaxed) + n;
        let step = (self.total / 100).max(1 << 20);
        let last = self.last_emit.load(Ordering::Relaxed);
        if done >= last + step || done >= self.total {
            self.last_emit.store(done, Ordering::Relaxed);
            self.emit(done);
        }
    }

    fn sub(&self, n: u64) {
        self.done.fetch_sub(n, Ordering::Relaxed);
    }

    fn emit(&self, done: u64) {
        let percent = (done.min(self.total) * 100)
            .checked_div(self.total)
            .unwrap_or(100) as u8;
        self.progress.image(
            &self.source,
            &ImageState::Uploading {
                done,
                total: self.total,
                percent,
            },
        );
    }
}

impl Pusher {
    pub fn new(
        client: RegistryClient,
        options: PushOptions,
        ledger: Arc<dyn PushLedger>,
        progress: Arc<dyn PushProgress>,
    ) -> Pusher {
        let blobs = options.blob_concurrency.max(1);
        Pusher {
            client,
            blob_permits: Arc::new(Semaphore::new(blobs)),
            blob_limit: AtomicU32::new(blobs as u32),
            transfer: TransferPolicy::new(
                options.upload_mode,
                options.chunk_size,
                progress.clone(),
            ),
            index_ready: tokio::sync::OnceCell::new(),
            index_tags: tokio::sync::OnceCell::new(),
            options,
            ledger,
            progress,
            stats: Arc::new(PushStats::default()),
            cancel: None,
            failures: AtomicU32::new(0),
            slots: Mutex::new(HashMap::new()),
            config_slots: Mutex::new(HashMap::new()),
            repo_locks: Mutex::new(HashMap::new()),
        }
    }

    /// A check consulted between chunks and steps; `true` stops the push with `Cancelled`.
    pub fn with_cancel(mut self, cancel: CancelCheck) -> Pusher {
        self.cancel = Some(cancel);
        self
    }

    /// Live counters (bytes read and sent, blobs uploaded, mounted, present…).
    pub fn stats(&self) -> Arc<PushStats> {
        self.stats.clone()
    }

    /// Whether uploads went chunked (asked for, or after a refused streamed upload), and
    /// at what chunk size: the push step keeps it for the rest of the session.
    pub fn chunked_since(&self) -> Option<ChunkedSince> {
        self.transfer.state()
    }

    /// The repository blobs of the streaming push are uploaded to before the image that
    /// uses them is known (`docker save` writes the image's names after its layers).
    pub fn staging_repository(&self) -> String {
        self.client.target().repository(STAGING_REPOSITORY)
    }

    fn uploader(&self) -> Uploader<'_> {
        Uploader {
            client: &self.client,
            stats: self.stats.clone(),
            cancel: self.cancel.clone(),
            policy: &self.transfer,
        }
    }

    /// Uploads a stream of blob bytes to the staging repository and leaves the upload open.
    pub async fn stage_stream(
        &self,
        rx: tokio::sync::mpsc::Receiver<Result<bytes::Bytes, std::io::Error>>,
    ) -> Result<StagedUpload, RegistryError> {
        upload_open(&self.uploader(), &self.staging_repository(), rx).await
    }

    /// Commits a staged upload under its digest, once the layer verified.
    pub async fn commit_staged(
        &self,
        staged: &StagedUpload,
        digest: &Digest,
    ) -> Result<(), RegistryError> {
        let done = self
            .client
            .retrying(
                |_| async {
                    match self
                        .client
                        .finish_upload(&staged.repo, &staged.location, digest)
                        .await
                    {
                        // The registry forgot the upload (a restart): its bytes are gone, and
                        // asking again cannot bring them back.
                        Err(RegistryError::UploadLost { host, detail, .. }) => {
                            Err(RegistryError::StagedUploadLost {
                                host,
                                bytes: staged.size,
                                detail,
                            })
                        }
                        other => other,
                    }
                },
                |_, _, _| self.note_failure(),
            )
            .await;
        if let Err(e) = done {
            // A commit whose answer was lost fails its retry (the upload is gone): the blob
            // being there is what counts.
            if self.staged_blob(digest).await.is_none() {
                return Err(e);
            }
        }
        PushStats::add(&self.stats.blobs_uploaded, 1);
        Ok(())
    }

    /// Records a blob committed for `diff_id`, so the image push mounts it instead of
    /// uploading it.
    pub fn record_layer(&self, diff_id: &Digest, blob: &PushedBlob) -> Result<(), RegistryError> {
        self.remember(&self.target_key(), diff_id, blob)
    }

    pub fn options(&self) -> &PushOptions {
        &self.options
    }

    /// Notes in the registry (the staging repository's layer index) which blob holds
    /// `diff_id`, so a later session can skip compressing it. Best effort: a registry that
    /// refuses the index only loses that shortcut.
    pub async fn index_layer(&self, diff_id: &Digest, blob: &PushedBlob) {
        let repo = self.staging_repository();
        // Once per push, however many layers reach this at the same time; a failure is not
        // kept, so the next layer tries again.
        let ready = self
            .index_ready
            .get_or_try_init(|| super::layer_index::prepare(&self.client, &repo))
            .await;
        if let Err(e) = ready {
            tracing::debug!("layer index not written: {e}");
            return;
        }
        if let Err(e) = super::layer_index::record(&self.client, &repo, diff_id, blob).await {
            tracing::debug!("layer index for {diff_id} not written: {e}");
        }
    }

    /// The blob the registry's layer index names for `diff_id`, recorded in the ledger when
    /// found.
    pub async fn indexed_layer(&self, diff_id: &Digest) -> Option<PushedBlob> {
        let repo = self.staging_repository();
        // One listing of the index's tags answers for every layer it does not name, instead of
        // a request per layer (all of them in a first push).
        let listed = self
            .index_tags
            .get_or_init(|| async {
                self.client
                    .list_tags(&repo)
                    .await
                    .map(|t| t.into_iter().collect())
            })
            .await;
        if let Some(listed) = listed
            && !listed.contains(&diff_id.as_tag())
        {
            return None;
        }
        let blob = super::layer_index::lookup(&self.client, &repo, diff_id)
            .await
            .ok()
            .flatten()
            .filter(|b| self.same_family(b))?;
        self.record_layer(diff_id, &blob).ok()?;
        Some(blob)
    }

    /// The size of a blob the staging repository already holds.
    pub async fn staged_blob(&self, digest: &Digest) -> Option<u64> {
        let repo = self.staging_repository();
        self.client.head_blob(&repo, digest).await.ok().flatten()
    }

    /// Drops an upload whose content turned out not to be needed or not to verify.
    pub async fn discard_staged(&self, staged: &StagedUpload) {
        self.client
            .cancel_upload(&staged.repo, &staged.location)
            .await;
    }

    /// The blob already pushed for `diff_id` (this session's ledger) in the encoding this
    /// push gives plain layers, if any.
    pub fn pushed_layer(&self, diff_id: &Digest) -> Option<PushedBlob> {
        self.ledger
            .layer(&self.target_key(), diff_id)
            .filter(|b| self.same_family(b))
    }

    /// Whether a blob is in the encoding this push gives plain layers.
    fn same_family(&self, b: &PushedBlob) -> bool {
        b.media_type.encoding() == self.options.plain_layer_encoding()
    }

    /// The ledger key for this registry and layer encoding.
    pub fn target_key(&self) -> String {
        let enc = match self.options.compression {
            LayerCompression::Gzip => format!("gzip{}", self.options.gzip_level),
            LayerCompression::Zstd => format!("zstd{}", self.options.zstd_level),
            LayerCompression::None => "none".into(),
        };
        format!("{}#{enc}", self.client.authority())
    }

    fn host(&self) -> String {
        self.client.authority().to_string()
    }

    fn cancelled(&self) -> Result<(), RegistryError> {
        if self.cancel.as_ref().is_some_and(|c| c()) {
            Err(RegistryError::Cancelled { host: self.host() })
        } else {
            Ok(())
        }
    }

    fn config_slot(&self, digest: &Digest) -> ConfigSlot {
        let mut g = match self.config_slots.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        g.entry(digest.clone()).or_default().clone()
    }

    fn slot(&self, diff_id: &Digest, encoding: LayerEncoding) -> Slot {
        let mut g = match self.slots.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        g.entry((diff_id.clone(), encoding)).or_default().clone()
    }

    /// After repeated failures, take one blob permit out of circulation (never the last).
    fn note_failure(&self) {
        PushStats::add(&self.stats.retries, 1);
        let n = self.failures.fetch_add(1, Ordering::Relaxed) + 1;
        if !n.is_multiple_of(self.options.failures_per_slowdown.max(1)) {
            return;
        }
        let lowered = self
            .blob_limit
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |l| {
                (l > 1).then(|| l - 1)
            });
        if lowered.is_ok() {
            let permits = self.blob_permits.clone();
            tokio::spawn(async move {
                if let Ok(p) = permits.acquire_owned().await {
                    p.forget();
                }
            });
        }
    }

    /// Pushes all images; returns the report, or the failures with the partial report.
    pub async fn push(&self, images: &[PushImage]) -> Result<PushReport, PushFailure> {
        self.push_owned(images.to_vec()).await
    }

    /// The stream below owns its items: with borrowed ones the future would not be `Send`
    /// (the closure would have to work for every lifetime), and the engine runs it on a
    /// multi-threaded runtime.
    async fn push_owned(&self, images: Vec<PushImage>) -> Result<PushReport, PushFailure> {
        let total: u64 = images
            .iter()
            .map(|i| i.config.size + i.layers.iter().map(|l| l.size).sum::<u64>())
            .sum();
        PushStats::add(&self.stats.bytes_total, total);
        for img in &images {
            self.progress.image(&img.source, &ImageState::Pending);
        }
        let stop = AtomicBool::new(false);
        let results: Vec<(usize, Result<PushedImage, RegistryError>)> =
            futures_util::stream::iter(images.clone().into_iter().enumerate())
                .map(|(i, img)| {
                    let stop = &stop;
                    async move {
                        if stop.load(Ordering::Relaxed) {
                            return (i, None);
                        }
                        let r = self.push_image(&img).await;
                        match &r {
                            Ok(p) => {
                                PushStats::add(&self.stats.images_done, 1);
                                let state = if p.status == PushOutcome::AlreadyPresent {
                                    ImageState::AlreadyPresent {
                                        digest: p.manifest_digest.to_string(),
                                    }
                                } else {
                                    ImageState::Done {
                                        digest: p.manifest_digest.to_string(),
                                    }
                                };
                                self.progress.image(&img.source, &state);
                            }
                            Err(e) => {
                                if !self.options.keep_going
                                    || matches!(e, RegistryError::Cancelled { .. })
                                {
                                    stop.store(true, Ordering::Relaxed);
                                }
                                self.progress.image(
                                    &img.source,
                                    &ImageState::Failed {
                                        reason: e.to_string(),
                                    },
                                );
                            }
                        }
                        (i, Some(r))
                    }
                })
                .buffer_unordered(self.options.image_concurrency.max(1))
                .filter_map(|(i, r)| async move { r.map(|r| (i, r)) })
                .collect()
                .await;
        let mut results = results;
        results.sort_by_key(|(i, _)| *i);
        let mut report = PushReport {
            registry: self.client.target().to_string(),
            images: Vec::new(),
        };
        let mut failures = Vec::new();
        for (i, r) in results {
            match r {
                Ok(p) => report.images.push(p),
                Err(error) => failures.push(ImageFailure {
                    source: images[i].source.clone(),
                    error,
                }),
            }
        }
        if failures.is_empty() && report.images.len() == images.len() {
            Ok(report)
        } else {
            Err(PushFailure {
                host: self.host(),
                total: images.len(),
                failures,
                report,
            })
        }
    }

    /// An image the registry already holds under its tag with the same config (the config
    /// names every layer by its uncompressed digest, so equal configs mean equal images) needs
    /// no upload. Its layers are recorded in the ledger as the manifest lists them, so a new
    /// session sends nothing and compresses nothing, where skopeo without its cache would
    /// compress everything again to learn the digests.
    async fn adopt_existing(
        &self,
        img: &PushImage,
        repo: &str,
        target_ref: &str,
    ) -> Result<Option<PushedImage>, RegistryError> {
        let accept = manifest_accept();
        let Some((digest, body)) = self
            .client
            .retrying(
                |_| self.client.get_manifest(repo, &img.tag, &accept),
                |_, _, _| self.note_failure(),
            )
            .await?
        else {
            return Ok(None);
        };
        let Ok(manifest) = serde_json::from_slice::<Manifest>(&body) else {
            return Ok(None);
        };
        if manifest.config.digest != img.config.digest || manifest.layers.len() != img.layers.len()
        {
            return Ok(None);
        }
        let key = self.target_key();
        for (layer, described) in img.layers.iter().zip(&manifest.layers) {
            let blob = PushedBlob {
                digest: described.digest.clone(),
                size: described.size,
                media_type: described.media_type.clone(),
                repository: Some(repo.to_string()),
            };
            self.ledger
                .record_layer(&key, &layer.diff_id, &blob)
                .map_err(|detail| RegistryError::Ledger {
                    host: self.host(),
                    detail,
                })?;
            PushStats::add(&self.stats.bytes_read, layer.size);
        }
        PushStats::add(&self.stats.bytes_read, img.config.size);
        self.ledger
            .record_image(target_ref, &digest)
            .map_err(|detail| RegistryError::Ledger {
                host: self.host(),
                detail,
            })?;
        Ok(Some(PushedImage {
            source: img.source.clone(),
            target: target_ref.to_string(),
            manifest_digest: digest,
            media_type: manifest.media_type.unwrap_or_default(),
            status: PushOutcome::AlreadyPresent,
        }))
    }

    async fn push_image(&self, img: &PushImage) -> Result<PushedImage, RegistryError> {
        self.cancelled()?;
        let target = self.client.target().clone();
        let repo = target.repository(&img.repository);
        let repo_lock = {
            let mut g = match self.repo_locks.lock() {
                Ok(g) => g,
                Err(p) => p.into_inner(),
            };
            g.entry(repo.clone()).or_default().clone()
        };
        let _one_image_of_this_repository = repo_lock.lock().await;
        let target_ref = target.reference(&img.repository, &img.tag);
        let image_bytes = img.config.size + img.layers.iter().map(|l| l.size).sum::<u64>();
        let accept = manifest_accept();

        if let Some(recorded) = self.ledger.image(&target_ref) {
            let found = self
                .client
                .retrying(
                    |_| self.client.head_manifest(&repo, &img.tag, &accept),
                    |_, _, _| self.note_failure(),
                )
                .await?;
            if found.as_ref() == Some(&recorded) {
                // Pushed earlier (while the archive was read, or by an earlier run): done, so
                // the bar counts it as done rather than at 0 %.
                PushStats::add(&self.stats.bytes_reused, image_bytes);
                return Ok(PushedImage {
                    source: img.source.clone(),
                    target: target_ref,
                    manifest_digest: recorded,
                    media_type: MediaType::Unspecified,
                    status: PushOutcome::AlreadyPresent,
                });
            }
        }

        if let Some(found) = self.adopt_existing(img, &repo, &target_ref).await? {
            return Ok(found);
        }

        // Docker's manifest when every layer goes up gzipped: it has no type for the others.
        let docker_format = img.layers.iter().all(|l| {
            self.options
                .layer_encoding(l.stored.encoding(), true)
                .1
                .encoding()
                == LayerEncoding::Gzip
        });
        let prog = Arc::new(ImageProgress {
            source: img.source.clone(),
            done: AtomicU64::new(0),
            total: image_bytes,
            last_emit: AtomicU64::new(0),
            progress: self.progress.clone(),
        });
        prog.emit(0);

        let layer_results = futures_util::future::try_join_all(
            img.layers
                .iter()
                .map(|l| self.push_layer(img, &repo, l, docker_format, prog.clone())),
        )
        .await?;
        let uploaded = layer_results
            .iter()
            .filter(|(_, o)| *o == LayerOutcome::Uploaded)
            .count();
        let mounted = layer_results
            .iter()
            .filter(|(_, o)| *o == LayerOutcome::Mounted)
            .count();
        let present = layer_results
            .iter()
            .filter(|(_, o)| *o == LayerOutcome::Present)
            .count();
        if uploaded == 0 && mounted > 0 {
            self.progress
                .image(&img.source, &ImageState::Mounted { mounted, present });
        }

        self.push_config(img, &repo, prog.clone()).await?;
        self.cancelled()?;

        let media_type = if docker_format {
            MediaType::DockerManifest
        } else {
            MediaType::OciManifest
        };
        let manifest = Manifest::new(
            media_type.clone(),
            Descriptor::new(
                MediaType::config_for(&media_type),
                img.config.digest.clone(),
                img.config.size,
            ),
            layer_results.into_iter().map(|(d, _)| d).collect(),
        );
        let body = bytes::Bytes::from(manifest.to_bytes());
        let digest = Digest::of(&body);
        let stored = self
            .client
            .retrying(
                |_| {
                    self.client
                        .put_manifest(&repo, &img.tag, &media_type, body.clone())
                },
                |_, _, _| self.note_failure(),
            )
            .await?;
        // A registry that names our digest in its answer holds the manifest under the tag; one
        // that names none, or another, is asked what the tag resolves to.
        let found = if stored.as_ref() == Some(&digest) {
            stored
        } else {
            self.client
                .retrying(
                    |_| {
                        self.client
                            .head_manifest(&repo, &img.tag, media_type.as_str())
                    },
                    |_, _, _| self.note_failure(),
                )
                .await?
        };
        if found.as_ref() != Some(&digest) {
            return Err(RegistryError::ManifestMismatch {
                host: self.host(),
                reference: target_ref,
                expected: digest.to_string(),
                actual: found.map_or_else(|| "(no manifest)".into(), |d| d.to_string()),
            });
        }
        self.ledger
            .record_image(&target_ref, &digest)
            .map_err(|detail| RegistryError::Ledger {
                host: self.host(),
                detail,
            })?;
        Ok(PushedImage {
            source: img.source.clone(),
            target: target_ref,
            manifest_digest: digest,
            media_type,
            status: PushOutcome::Pushed,
        })
    }

    /// A config the repository lacks goes up in a POST and one PUT with its body: it is small,
    /// and a PATCH would only add a request.
    async fn push_config(
        &self,
        img: &PushImage,
        repo: &str,
        prog: Arc<ImageProgress>,
    ) -> Result<(), RegistryError> {
        let c = &img.config;
        // Held until the config is in `repo`, so another image with this config waits and
        // mounts it rather than uploading the same blob at the same moment.
        let slot = self.config_slot(&c.digest);
        let mut held = slot.lock().await;
        if let Some(from) = held.clone().filter(|from| from != repo) {
            let outcome = self
                .client
                .retrying(
                    |_| self.client.mount_blob(repo, &c.digest, &from),
                    |_, _, _| self.note_failure(),
                )
                .await?;
            if let MountOutcome::Mounted = outcome {
                PushStats::add(&self.stats.blobs_mounted, 1);
                prog.add(c.size);
                return Ok(());
            }
        }
        let present = self
            .client
            .retrying(
                |_| self.client.head_blob(repo, &c.digest),
                |_, _, _| self.note_failure(),
            )
            .await?;
        if present.is_some() {
            PushStats::add(&self.stats.blobs_present, 1);
            prog.add(c.size);
            *held = Some(repo.to_string());
            return Ok(());
        }
        // Chunked uploads mean a proxy limits bodies: then the config goes in one body only
        // when it fits in a chunk.
        let one_body =
            c.size <= SMALL_BLOB && self.transfer.chunked().is_none_or(|chunk| c.size <= chunk);
        if !one_body || !self.put_small_config(img, repo, &prog).await? {
            let src = BlobSource {
                path: c.path.clone(),
                encoding: Encoding::Raw,
                expect_file_digest: c.digest.clone(),
            };
            self.upload_with_retry(img, &c.digest.to_string(), repo, &src, prog)
                .await?;
        }
        *held = Some(repo.to_string());
        Ok(())
    }

    /// Sends a small config in the body of its upload's closing PUT. `false` when a proxy
    /// refuses the body (411, 413): the caller then uploads it as the upload policy says.
    async fn put_small_config(
        &self,
        img: &PushImage,
        repo: &str,
        prog: &ImageProgress,
    ) -> Result<bool, RegistryError> {
        let c = &img.config;
        let body = tokio::fs::read(&c.path)
            .await
            .map_err(|source| RegistryError::Io {
                host: self.host(),
                path: c.path.clone(),
                source,
            })?;
        let actual = Digest::of(&body);
        if actual != c.digest {
            return Err(RegistryError::LayerCorrupt {
                host: self.host(),
                path: c.path.clone(),
                expected: c.digest.to_string(),
                actual: actual.to_string(),
            });
        }
        let body = bytes::Bytes::from(body);
        let put = self
            .client
            .retrying(
                |_| self.client.put_blob(repo, &c.digest, body.clone()),
                |_, _, _| self.note_failure(),
            )
            .await;
        match put {
            Err(RegistryError::Http {
                status: 411 | 413, ..
            }) => return Ok(false),
            other => other?,
        }
        PushStats::add(&self.stats.blobs_uploaded, 1);
        PushStats::add(&self.stats.bytes_read, c.size);
        PushStats::add(&self.stats.bytes_sent, c.size);
        prog.add(c.size);
        let shown = c.digest.to_string();
        self.progress.layer(
            &img.source,
            &shown,
            &LayerState::Uploaded {
                digest: shown.clone(),
                size: c.size,
            },
        );
        Ok(true)
    }

    async fn upload_with_retry(
        &self,
        img: &PushImage,
        diff_id: &str,
        repo: &str,
        src: &BlobSource,
        prog: Arc<ImageProgress>,
    ) -> Result<super::upload::Uploaded, RegistryError> {
        let _permit = self
            .blob_permits
            .acquire()
            .await
            .map_err(|_| RegistryError::Cancelled { host: self.host() })?;
        self.progress
            .layer(&img.source, diff_id, &LayerState::Uploading);
        let consumed = Arc::new(AtomicU64::new(0));
        let resume: ResumeSlot = Arc::default();
        let uploader = self.uploader();
        let up = self
            .client
            .retrying(
                |_| {
                    // A new attempt reads the file again: take back what the last one counted.
                    prog.sub(consumed.swap(0, Ordering::Relaxed));
                    let prog = prog.clone();
                    let consumed = consumed.clone();
                    let on_read: Arc<dyn Fn(u64) + Send + Sync> = Arc::new(move |n| {
                        consumed.fetch_add(n, Ordering::Relaxed);
                        prog.add(n);
                    });
                    uploader.upload_blob(repo, src, on_read, &resume)
                },
                |attempt, delay, e| {
                    // A switch to chunked uploads is not a sign of an overloaded registry.
                    if !matches!(e, RegistryError::StreamRefused { .. }) {
                        self.note_failure();
                    }
                    self.progress.layer(
                        &img.source,
                        diff_id,
                        &LayerState::Retrying {
                            attempt,
                            delay_ms: delay.as_millis() as u64,
                            reason: e.to_string(),
                        },
                    );
                },
            )
            .await?;
        PushStats::add(&self.stats.blobs_uploaded, 1);
        self.progress.layer(
            &img.source,
            diff_id,
            &LayerState::Uploaded {
                digest: up.digest.to_string(),
                size: up.size,
            },
        );
        Ok(up)
    }

    async fn push_layer(
        &self,
        img: &PushImage,
        repo: &str,
        layer: &LayerFile,
        docker_format: bool,
        prog: Arc<ImageProgress>,
    ) -> Result<(Descriptor, LayerOutcome), RegistryError> {
        self.cancelled()?;
        let (codec, media_type) = self
            .options
            .layer_encoding(layer.stored.encoding(), docker_format);
        // The digest of the file's bytes, which the push checks; when they are sent as they
        // are, it is also the blob's digest in the registry.
        let file_digest = match &layer.stored {
            StoredAs::Uncompressed => layer.diff_id.clone(),
            StoredAs::Gzip { digest } | StoredAs::Zstd { digest } => digest.clone(),
        };
        let known_digest = codec.is_none().then(|| file_digest.clone());
        let encoding = codec.map_or(Encoding::Raw, Encoding::Block);
        let key = self.target_key();
        // The same diff_id may exist as gzip in one image and as a plain tar in another: only a
        // blob of the same encoding can stand in for this layer.
        let family = media_type.encoding();
        let slot = self.slot(&layer.diff_id, family);
        let mut guard = slot.lock().await;

        let mut candidates: Vec<PushedBlob> = Vec::new();
        if let Some(b) = guard.clone() {
            candidates.push(b);
        }
        if let Some(b) = self.ledger.layer(&key, &layer.diff_id)
            && b.media_type.encoding() == family
            && !candidates
                .iter()
                .any(|c| c.digest == b.digest && c.repository == b.repository)
        {
            candidates.push(b);
        }
        if let Some(d) = &known_digest
            && candidates.is_empty()
        {
            candidates.push(PushedBlob {
                digest: d.clone(),
                size: layer.size,
                media_type: media_type.clone(),
                repository: None,
            });
        }
        let descriptor =
            |b: &PushedBlob| Descriptor::new(media_type.clone(), b.digest.clone(), b.size);

        // A blob the streaming push staged is mounted at once: the image's repository cannot
        // hold it yet unless an earlier mount put it there, and a mount answers 201 either way,
        // so a HEAD first would only add a request per layer (each one a password check on an
        // htpasswd registry).
        // A failed mount here is not the end: the HEADs below may find the layer in place.
        match self
            .mount_candidates(true, img, repo, layer, &candidates, &key, &mut guard, &prog)
            .await
        {
            Ok(Some(done)) => return Ok((descriptor(&done), LayerOutcome::Mounted)),
            Ok(None) => {}
            Err(e @ RegistryError::Cancelled { .. }) => return Err(e),
            Err(e) => tracing::debug!("mounting {:?} from staging: {e}", layer.diff_id),
        }
        // A ledger entry gives the compressed digest, so a HEAD replaces re-compressing.
        for c in &candidates {
            let found = self
                .client
                .retrying(
                    |_| self.client.head_blob(repo, &c.digest),
                    |_, _, _| self.note_failure(),
                )
                .await?;
            if let Some(size) = found {
                let b = PushedBlob {
                    size: if size > 0 { size } else { c.size },
                    repository: Some(c.repository.clone().unwrap_or_else(|| repo.to_string())),
                    ..c.clone()
                };
                let state = LayerState::Present {
                    digest: b.digest.to_string(),
                };
                self.reused(img, layer, &key, &b, &mut guard, &prog, state)?;
                return Ok((descriptor(&b), LayerOutcome::Present));
            }
        }

        if let Some(done) = self
            .mount_candidates(
                false,
                img,
                repo,
                layer,
                &candidates,
                &key,
                &mut guard,
                &prog,
            )
            .await?
        {
            return Ok((descriptor(&done), LayerOutcome::Mounted));
        }

        if !layer.path.exists()
            && let Some((c, from)) = candidates
                .iter()
                .find_map(|c| Some((c, c.repository.as_ref()?)))
        {
            // A layer the streaming push sent is only in the registry: without a mount there
            // is nothing to upload it from.
            return Err(RegistryError::MountRefused {
                host: self.host(),
                digest: c.digest.to_string(),
                from: from.clone(),
                to: repo.to_string(),
            });
        }
        let src = BlobSource {
            path: layer.path.clone(),
            encoding,
            expect_file_digest: file_digest,
        };
        let up = self
            .upload_with_retry(img, &layer.diff_id.to_string(), repo, &src, prog)
            .await?;
        let b = PushedBlob {
            digest: up.digest,
            size: up.size,
            media_type: media_type.clone(),
            repository: Some(repo.to_string()),
        };
        self.ledger
            .record_layer(&key, &layer.diff_id, &b)
            .map_err(|detail| RegistryError::Ledger {
                host: self.host(),
                detail,
            })?;
        *guard = Some(b.clone());
        Ok((descriptor(&b), LayerOutcome::Uploaded))
    }

    /// Mounts the first candidate held in another repository (the staging repository when
    /// `staged`, any other otherwise) that the registry agrees to mount; `None` when there is
    /// none.
    #[allow(clippy::too_many_arguments)]
    async fn mount_candidates(
        &self,
        staged: bool,
        img: &PushImage,
        repo: &str,
        layer: &LayerFile,
        candidates: &[PushedBlob],
        key: &str,
        guard: &mut Option<PushedBlob>,
        prog: &ImageProgress,
    ) -> Result<Option<PushedBlob>, RegistryError> {
        let staging = self.staging_repository();
        for c in candidates {
            let Some(from) = &c.repository else {
                continue;
            };
            if from == repo || (*from == staging) != staged {
                continue;
            }
            let outcome = self
                .client
                .retrying(
                    |_| self.client.mount_blob(repo, &c.digest, from),
                    |_, _, _| self.note_failure(),
                )
                .await?;
            if let MountOutcome::Mounted = outcome {
                let state = LayerState::Mounted {
                    digest: c.digest.to_string(),
                    from: from.clone(),
                };
                self.reused(img, layer, key, c, guard, prog, state)?;
                return Ok(Some(c.clone()));
            }
        }
        Ok(None)
    }

    /// Books a layer the registry already holds (found, or mounted): nothing is sent, but the
    /// layer is done and the overall progress counts it.
    #[allow(clippy::too_many_arguments)]
    fn reused(
        &self,
        img: &PushImage,
        layer: &LayerFile,
        key: &str,
        blob: &PushedBlob,
        guard: &mut Option<PushedBlob>,
        prog: &ImageProgress,
        state: LayerState,
    ) -> Result<(), RegistryError> {
        self.remember(key, &layer.diff_id, blob)?;
        *guard = Some(blob.clone());
        let counter = match state {
            LayerState::Mounted { .. } => &self.stats.blobs_mounted,
            _ => &self.stats.blobs_present,
        };
        PushStats::add(counter, 1);
        PushStats::add(&self.stats.bytes_reused, layer.size);
        prog.add(layer.size);
        self.progress
            .layer(&img.source, &layer.diff_id.to_string(), &state);
        Ok(())
    }

    /// Records a layer found or mounted, unless the ledger already knows that digest.
    fn remember(&self, key: &str, diff_id: &Digest, b: &PushedBlob) -> Result<(), RegistryError> {
        if self
            .ledger
            .layer(key, diff_id)
            .is_some_and(|l| l.digest == b.digest)
        {
            return Ok(());
        }
        self.ledger
            .record_layer(key, diff_id, b)
            .map_err(|detail| RegistryError::Ledger {
                host: self.host(),
                detail,
            })
    }
}
