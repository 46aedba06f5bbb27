//! Streaming one blob: a blocking thread reads the file in fixed chunks, hashes it, gzips it
//! when asked and hands the output to the HTTP body through a small bounded channel, so memory
//! stays constant whatever the layer size. The compressed digest is only known at the end, so
//! the upload is POST → streamed PATCH → PUT `?digest=`.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::StreamExt;
use reqwest::{Method, StatusCode};
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;

use super::client::RegistryClient;
use super::error::RegistryError;
use super::progress::PushStats;

const READ_CHUNK: usize = 256 * 1024;
const SEND_CHUNK: usize = 128 * 1024;
/// Chunks in flight between the compressor and the socket: bounds memory per transfer to about
/// `CHANNEL_DEPTH * READ_CHUNK` plus the TLS buffers.
const CHANNEL_DEPTH: usize = 4;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Encoding {
    Gzip { level: u32 },
    Raw,
}

/// A cancellation check the blocking reader can call between chunks.
pub type CancelCheck = Arc<dyn Fn() -> bool + Send + Sync>;

pub(crate) struct BlobSource {
    pub path: PathBuf,
    pub encoding: Encoding,
    /// The digest the file's bytes must have (the diff_id of an uncompressed layer, or the
    /// digest of an already-compressed file or config).
    pub expect_file_digest: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Uploaded {
    pub digest: String,
    pub size: u64,
}

enum ProduceError {
    Io(std::io::Error),
    Aborted,
    Cancelled,
}

struct Produced {
    file_digest: String,
    out_digest: String,
    out_size: u64,
}

fn sha(h: Sha256) -> String {
    format!("sha256:{}", hex::encode(h.finalize()))
}

/// Runs on a blocking thread. `on_read` hears how many file bytes were consumed.
fn produce(
    path: &std::path::Path,
    encoding: Encoding,
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
    let mut emit = |out: Vec<u8>, out_hash: &mut Sha256| -> Result<(), ProduceError> {
        if out.is_empty() {
            return Ok(());
        }
        out_hash.update(&out);
        out_size += out.len() as u64;
        tx.blocking_send(Ok(Bytes::from(out)))
            .map_err(|_| ProduceError::Aborted)
    };
    // The gzip header carries no name and mtime 0, so the same file always gives the same
    // compressed digest: a repeat push finds the blob already there.
    let mut gz = match encoding {
        Encoding::Gzip { level } => Some(flate2::GzBuilder::new().mtime(0).write(
            Vec::with_capacity(SEND_CHUNK * 2),
            flate2::Compression::new(level),
        )),
        Encoding::Raw => None,
    };
    loop {
        if cancel.is_some_and(|c| c()) {
            return Err(ProduceError::Cancelled);
        }
        let n = match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(ProduceError::Io(e)),
        };
        file_hash.update(&buf[..n]);
        PushStats::add(&stats.bytes_read, n as u64);
        on_read(n as u64);
        match gz.as_mut() {
            Some(enc) => {
                enc.write_all(&buf[..n]).map_err(ProduceError::Io)?;
                if enc.get_ref().len() >= SEND_CHUNK {
                    let out = std::mem::take(enc.get_mut());
                    emit(out, &mut out_hash)?;
                }
            }
            None => emit(buf[..n].to_vec(), &mut out_hash)?,
        }
    }
    if let Some(enc) = gz {
        let out = enc.finish().map_err(ProduceError::Io)?;
        emit(out, &mut out_hash)?;
    }
    let file_digest = sha(file_hash);
    let out_digest = match encoding {
        Encoding::Raw => file_digest.clone(),
        Encoding::Gzip { .. } => sha(out_hash),
    };
    Ok(Produced {
        file_digest,
        out_digest,
        out_size,
    })
}

/// Uploads one blob from a file. One attempt: the caller retries.
pub(crate) async fn upload_blob(
    client: &RegistryClient,
    repo: &str,
    src: &BlobSource,
    stats: Arc<PushStats>,
    on_read: Arc<dyn Fn(u64) + Send + Sync>,
    cancel: Option<CancelCheck>,
) -> Result<Uploaded, RegistryError> {
    let host = client.authority().to_string();
    let location = client.start_upload(repo).await?;
    let scope = RegistryClient::push_scope(repo);
    let auth = client.authorization(&scope).await?;

    let (tx, rx) = mpsc::channel::<Result<Bytes, std::io::Error>>(CHANNEL_DEPTH);
    let producer = {
        let path = src.path.clone();
        let encoding = src.encoding;
        let stats = stats.clone();
        let cancel = cancel.clone();
        tokio::task::spawn_blocking(move || {
            let r = produce(
                &path,
                encoding,
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
        })
    };

    let started = Instant::now();
    let activity = Arc::new(AtomicU64::new(0));
    let body_activity = activity.clone();
    let sent_stats = stats.clone();
    let body = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    })
    .map(move |item| {
        if let Ok(b) = &item {
            PushStats::add(&sent_stats.bytes_sent, b.len() as u64);
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
    let produced = producer.await;
    let produced = match produced {
        Ok(Ok(p)) => Some(p),
        Ok(Err(ProduceError::Io(e))) => {
            client.cancel_upload(repo, &location).await;
            return Err(RegistryError::Io {
                host,
                path: src.path.clone(),
                source: e,
            });
        }
        Ok(Err(ProduceError::Cancelled)) => {
            client.cancel_upload(repo, &location).await;
            return Err(RegistryError::Cancelled { host });
        }
        Ok(Err(ProduceError::Aborted)) | Err(_) => None,
    };

    let resp = match outcome {
        None => {
            client.cancel_upload(repo, &location).await;
            return Err(RegistryError::Stalled {
                host,
                after: stall,
                during,
            });
        }
        Some(Err(e)) => return Err(client.transport_error(e, &during).await),
        Some(Ok(r)) => r,
    };
    let next = match resp.status() {
        StatusCode::ACCEPTED | StatusCode::NO_CONTENT | StatusCode::CREATED => resp
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(|l| client.resolve_location(l))
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
        _ => {
            return Err(client
                .status_error(resp, &Method::PATCH, &location, "")
                .await);
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
    if produced.file_digest != src.expect_file_digest {
        client.cancel_upload(repo, &next).await;
        return Err(RegistryError::LayerCorrupt {
            host,
            path: src.path.clone(),
            expected: src.expect_file_digest.clone(),
            actual: produced.file_digest,
        });
    }
    client
        .finish_upload(repo, &next, &produced.out_digest)
        .await?;
    Ok(Uploaded {
        digest: produced.out_digest,
        size: produced.out_size,
    })
}
