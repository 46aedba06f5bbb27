//! Uploading one blob: a blocking thread reads the file in fixed chunks, hashes it, gzips it
//! when asked and hands the output to the network through a small bounded channel, so memory
//! stays constant whatever the layer size. The compressed digest is only known at the end, so
//! the upload is POST → PATCH… → PUT `?digest=`, the PATCH either one streamed body or, once
//! the [`TransferPolicy`] says so, bounded chunks with `Content-Range` that resume from the
//! offset the registry reports after a cut.

use std::io::Read;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::StreamExt;
use reqwest::{Method, StatusCode};
use sha2::{Digest as _, Sha256};

use crate::oci::Digest;
use tokio::sync::mpsc;

use super::block_compress::{BlockCompressor, Codec};
use super::client::RegistryClient;
use super::error::RegistryError;
use super::progress::PushStats;
use super::transfer::TransferPolicy;

const READ_CHUNK: usize = 256 * 1024;
/// Chunks in flight between the compressor and the socket: bounds memory per transfer to about
/// `CHANNEL_DEPTH * READ_CHUNK` plus the TLS buffers.
const CHANNEL_DEPTH: usize = 4;
/// A streamed body reset after this many bytes is taken as a proxy refusing large bodies.
const RESET_IS_REFUSAL: u64 = 1024 * 1024;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Encoding {
    /// Compressed on the fly, in blocks on every core.
    Block(Codec),
    Raw,
}

/// A cancellation check the blocking reader can call between chunks.
pub type CancelCheck = Arc<dyn Fn() -> bool + Send + Sync>;

pub(crate) struct BlobSource {
    pub path: PathBuf,
    pub encoding: Encoding,
    /// The digest the file's bytes must have (the diff_id of an uncompressed layer, or the
    /// digest of an already-compressed file or config).
    pub expect_file_digest: Digest,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Uploaded {
    pub digest: Digest,
    pub size: u64,
}

pub(crate) enum ProduceError {
    Io(std::io::Error),
    Aborted,
    Cancelled,
}

pub(crate) struct Produced {
    pub file_digest: Digest,
    pub out_digest: Digest,
    pub out_size: u64,
}

/// Runs on a blocking thread. `on_read` hears how many file bytes were consumed. The first
/// `skip` output bytes are hashed but not sent: a resumed chunked upload re-derives the
/// (deterministic) stream up to the offset the registry already holds.
fn produce(
    path: &std::path::Path,
    encoding: Encoding,
    skip: u64,
    tx: &mpsc::Sender<Result<Bytes, std::io::Error>>,
    stats: &PushStats,
    on_read: &(dyn Fn(u64) + Send + Sync),
    cancel: Option<&CancelCheck>,
) -> Result<Produced, ProduceError> {
    let mut file = std::fs::File::open(path).map_err(ProduceError::Io)?;
    let mut buf = vec![0u8; READ_CHUNK];
    let mut file_hash = Sha256::new();
    let mut out_hash = Sha256::new();
    let mut out_size = 0u64;
    let mut aborted = false;
    let mut emit = |out: Vec<u8>| -> std::io::Result<()> {
        if out.is_empty() {
            return Ok(());
        }
        out_hash.update(&out);
        let before = out_size;
        out_size += out.len() as u64;
        if out_size <= skip {
            return Ok(());
        }
        let from = skip.saturating_sub(before) as usize;
        let mut out = Bytes::from(out);
        let out = out.split_off(from);
        tx.blocking_send(Ok(out)).map_err(|_| {
            aborted = true;
            std::io::Error::other("the upload stopped")
        })
    };
    // Deterministic (no name, mtime 0, fixed blocks), so the same file always gives the same
    // compressed digest: a repeat push finds the blob already there.
    let mut gz = match encoding {
        Encoding::Block(codec) => Some(BlockCompressor::new(codec)),
        Encoding::Raw => None,
    };
    let result = (|| -> std::io::Result<bool> {
        loop {
            if cancel.is_some_and(|c| c()) {
                return Ok(false);
            }
            let n = match file.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            file_hash.update(&buf[..n]);
            PushStats::add(&stats.bytes_read, n as u64);
            on_read(n as u64);
            match gz.as_mut() {
                Some(enc) => enc.write(&buf[..n], &mut emit)?,
                None => emit(buf[..n].to_vec())?,
            }
        }
        if let Some(enc) = gz.take() {
            enc.finish(&mut emit)?;
        }
        Ok(true)
    })();
    match result {
        Ok(true) => {}
        Ok(false) => return Err(ProduceError::Cancelled),
        Err(_) if aborted => return Err(ProduceError::Aborted),
        Err(e) => return Err(ProduceError::Io(e)),
    }
    let file_digest = Digest::from_hasher(file_hash);
    let out_digest = match encoding {
        Encoding::Raw => file_digest.clone(),
        Encoding::Block(_) => Digest::from_hasher(out_hash),
    };
    Ok(Produced {
        file_digest,
        out_digest,
        out_size,
    })
}

/// What one push shares between its uploads.
pub(crate) struct Uploader<'a> {
    pub client: &'a RegistryClient,
    pub stats: Arc<PushStats>,
    pub cancel: Option<CancelCheck>,
    pub policy: &'a TransferPolicy,
}

/// The upload session an interrupted chunked attempt left, kept between attempts of one blob
/// so the next attempt asks the registry how far it got instead of starting again.
pub(crate) type ResumeSlot = Arc<std::sync::Mutex<Option<String>>>;

pub(crate) type OnRead = Arc<dyn Fn(u64) + Send + Sync>;

type Chunks = mpsc::Receiver<Result<Bytes, std::io::Error>>;
type Producer = tokio::task::JoinHandle<Result<Produced, ProduceError>>;

impl Uploader<'_> {
    /// Uploads one blob from a file. One attempt: the caller retries. A streamed attempt that
    /// the registry or a proxy refuses switches the policy to chunked and fails retryably, so
    /// the retry goes chunked.
    pub(crate) async fn upload_blob(
        &self,
        repo: &str,
        src: &BlobSource,
        on_read: OnRead,
        resume: &ResumeSlot,
    ) -> Result<Uploaded, RegistryError> {
        if let Some(chunk) = self.policy.chunked() {
            return super::upload_chunks::upload(self, repo, src, on_read, resume, chunk).await;
        }
        self.streamed(repo, src, on_read).await
    }

    pub(crate) fn spawn_producer(
        &self,
        src: &BlobSource,
        skip: u64,
        on_read: OnRead,
    ) -> (Chunks, Producer) {
        let (tx, rx) = mpsc::channel::<Result<Bytes, std::io::Error>>(CHANNEL_DEPTH);
        let path = src.path.clone();
        let encoding = src.encoding;
        let stats = self.stats.clone();
        let cancel = self.cancel.clone();
        let handle = tokio::task::spawn_blocking(move || {
            let r = produce(
                &path,
                encoding,
                skip,
                &tx,
                &stats,
                on_read.as_ref(),
                cancel.as_ref(),
            );
            if let Err(ProduceError::Io(e)) = &r {
                // Makes the HTTP body fail too, so the request ends at once.
                let _ = tx.blocking_send(Err(std::io::Error::new(e.kind(), e.to_string())));
            }
            r
        });
        (rx, handle)
    }

    /// The producer's result: `Ok(None)` when it stopped because the receiver went away.
    pub(crate) async fn produced(
        &self,
        repo: &str,
        location: &str,
        src: &BlobSource,
        producer: Producer,
    ) -> Result<Option<Produced>, RegistryError> {
        let host = self.client.authority().to_string();
        match producer.await {
            Ok(Ok(p)) => Ok(Some(p)),
            Ok(Err(ProduceError::Io(e))) => {
                self.client.cancel_upload(repo, location).await;
                Err(RegistryError::Io {
                    host,
                    path: src.path.clone(),
                    source: e,
                })
            }
            Ok(Err(ProduceError::Cancelled)) => {
                self.client.cancel_upload(repo, location).await;
                Err(RegistryError::Cancelled { host })
            }
            Ok(Err(ProduceError::Aborted)) | Err(_) => Ok(None),
        }
    }

    /// Commits the upload only when the file's bytes are what the image says they are.
    pub(crate) async fn commit(
        &self,
        repo: &str,
        location: &str,
        src: &BlobSource,
        produced: Produced,
    ) -> Result<Uploaded, RegistryError> {
        if produced.file_digest != src.expect_file_digest {
            self.client.cancel_upload(repo, location).await;
            return Err(RegistryError::LayerCorrupt {
                host: self.client.authority().to_string(),
                path: src.path.clone(),
                expected: src.expect_file_digest.to_string(),
                actual: produced.file_digest.to_string(),
            });
        }
        self.client
            .finish_upload(repo, location, &produced.out_digest)
            .await?;
        Ok(Uploaded {
            digest: produced.out_digest,
            size: produced.out_size,
        })
    }

    async fn streamed(
        &self,
        repo: &str,
        src: &BlobSource,
        on_read: OnRead,
    ) -> Result<Uploaded, RegistryError> {
        let client = self.client;
        let host = client.authority().to_string();
        let location = client.start_upload(repo).await?;
        let scope = RegistryClient::push_scope(repo);
        let auth = client.authorization(&scope).await?;
        let (rx, producer) = self.spawn_producer(src, 0, on_read);

        let started = Instant::now();
        let activity = Arc::new(AtomicU64::new(0));
        let sent_here = Arc::new(AtomicU64::new(0));
        let body_activity = activity.clone();
        let body_sent = sent_here.clone();
        let sent_stats = self.stats.clone();
        let body = futures_util::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|item| (item, rx))
        })
        .map(move |item| {
            if let Ok(b) = &item {
                PushStats::add(&sent_stats.bytes_sent, b.len() as u64);
                body_sent.fetch_add(b.len() as u64, Ordering::Relaxed);
                body_activity.store(started.elapsed().as_millis() as u64, Ordering::Relaxed);
            }
            item
        });

        let mut req = client
            .http()
            .request(Method::PATCH, &location)
            .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
            .body(reqwest::Body::wrap_stream(body));
        if let Some(a) = auth {
            req = req.header(reqwest::header::AUTHORIZATION, a);
        }

        let stall = client.stall_timeout();
        let during = format!("uploading {}", src.path.display());
        let watchdog = async {
            let tick = (stall / 4).clamp(Duration::from_millis(20), Duration::from_secs(1));
            loop {
                tokio::time::sleep(tick).await;
                let last = Duration::from_millis(activity.load(Ordering::Relaxed));
                if started.elapsed().saturating_sub(last) >= stall {
                    return;
                }
            }
        };
        let outcome = tokio::select! {
            r = req.send() => Some(r),
            _ = watchdog => None,
        };

        // The request (and with it the body's receiver) is gone now, so the producer ends quickly.
        let produced = self.produced(repo, &location, src, producer).await?;

        let resp = match outcome {
            None => {
                client.cancel_upload(repo, &location).await;
                return Err(RegistryError::Stalled {
                    host,
                    after: stall,
                    during,
                });
            }
            Some(Err(e)) => {
                let sent = sent_here.load(Ordering::Relaxed);
                // A proxy that drops a large streamed body (rather than answering 413) shows up
                // as a reset part-way; a reset early on is an ordinary network error.
                if sent >= RESET_IS_REFUSAL && is_reset(&e) {
                    return Err(self
                        .refused(
                            repo,
                            &location,
                            format!("the connection was reset after {sent} bytes of the body"),
                        )
                        .await);
                }
                return Err(client.transport_error(e, &during).await);
            }
            Some(Ok(r)) => r,
        };
        let next = match resp.status() {
            StatusCode::ACCEPTED | StatusCode::NO_CONTENT | StatusCode::CREATED => resp
                .headers()
                .get(reqwest::header::LOCATION)
                .and_then(|v| v.to_str().ok())
                .map(|l| {
                    let moved = client.resolve_location(l);
                    client.upload_moved(repo, &moved);
                    moved
                })
                .unwrap_or(location.clone()),
            StatusCode::UNAUTHORIZED => {
                // A token can expire during a long upload; the retry fetches a new one.
                client.forget_scope_token(&scope);
                return Err(RegistryError::Network {
                    host,
                    during,
                    detail: "the registry asked for authentication again (token expired?)".into(),
                    retryable: true,
                });
            }
            s @ (StatusCode::PAYLOAD_TOO_LARGE | StatusCode::LENGTH_REQUIRED) => {
                let detail = super::client::error_text(resp).await;
                return Err(self
                    .refused(repo, &location, format!("{s} ({detail})"))
                    .await);
            }
            _ => {
                return Err(client.refusal(resp, &Method::PATCH, &location, None).await);
            }
        };
        let Some(produced) = produced else {
            return Err(RegistryError::Network {
                host,
                during,
                detail: "the upload body ended early".into(),
                retryable: true,
            });
        };
        self.commit(repo, &next, src, produced).await
    }

    async fn refused(&self, repo: &str, location: &str, detail: String) -> RegistryError {
        self.client.cancel_upload(repo, location).await;
        self.policy.fall_back(&detail);
        RegistryError::StreamRefused {
            host: self.client.authority().to_string(),
            detail,
            chunk_size: self.policy.chunk_size(),
        }
    }
}

/// A connection the peer closed or reset while the body was going up.
fn is_reset(e: &reqwest::Error) -> bool {
    use std::io::ErrorKind as K;
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if let Some(io) = err.downcast_ref::<std::io::Error>()
            && matches!(
                io.kind(),
                K::ConnectionReset | K::BrokenPipe | K::ConnectionAborted | K::UnexpectedEof
            )
        {
            return true;
        }
        let text = err.to_string();
        if text.contains("connection closed before message completed")
            || text.contains("connection reset")
            || text.contains("broken pipe")
        {
            return true;
        }
        cur = err.source();
    }
    false
}
