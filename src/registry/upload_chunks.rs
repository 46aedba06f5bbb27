//! Chunked uploads: bounded `PATCH` requests with `Content-Range` and `Content-Length`, for
//! registries and proxies that refuse a streamed body (nginx's `client_max_body_size`, proxies
//! that answer 411 to chunked transfer encoding). After a cut, the next attempt asks the
//! registry for the upload's offset (`GET` on its location) and re-derives the deterministic
//! compressed stream up to there without sending it again. A 413 on a chunk halves the chunk
//! size for the whole push.

use std::collections::VecDeque;

use bytes::Bytes;
use reqwest::header::{CONTENT_RANGE, CONTENT_TYPE, HeaderMap, HeaderValue};
use reqwest::{Method, StatusCode};
use tokio::sync::mpsc;

use super::client::RegistryClient;
use super::error::RegistryError;
use super::payload::Payload;
use super::progress::PushStats;
use super::upload::{BlobSource, OnRead, ResumeSlot, Uploaded, Uploader};

/// Cuts a stream of pieces into chunks of a set size. A chunk holds the pieces themselves
/// (sliced at its edges), not a copy; what a piece brings beyond a chunk waits for the next.
struct Chunker {
    rx: mpsc::Receiver<Result<Bytes, std::io::Error>>,
    rest: Bytes,
    ended: bool,
}

impl Chunker {
    fn new(rx: mpsc::Receiver<Result<Bytes, std::io::Error>>) -> Chunker {
        Chunker {
            rx,
            rest: Bytes::new(),
            ended: false,
        }
    }

    /// The next chunk of at most `size` bytes; `None` once the stream is done. An error item
    /// ends the stream: its producer reports the error itself.
    async fn next(&mut self, size: usize) -> Option<Payload> {
        let mut chunk = Payload::default();
        while chunk.len() < size {
            if self.rest.is_empty() {
                match self.rx.recv().await {
                    Some(Ok(b)) if !self.ended => self.rest = b,
                    _ => {
                        self.ended = true;
                        break;
                    }
                }
            }
            let take = self.rest.len().min(size - chunk.len());
            chunk.push(self.rest.split_to(take));
        }
        (!chunk.is_empty()).then_some(chunk)
    }
}

/// Where an upload session stands.
struct Session {
    location: String,
    offset: u64,
}

pub(crate) async fn upload(
    up: &Uploader<'_>,
    repo: &str,
    src: &BlobSource,
    on_read: OnRead,
    resume: &ResumeSlot,
    chunk: u64,
) -> Result<Uploaded, RegistryError> {
    let left = resume.lock().ok().and_then(|mut r| r.take());
    let resumed = match left {
        // Unknown to the registry (or unreachable): the upload starts anew from the beginning,
        // which the file's bytes allow.
        Some(location) => status(up.client, repo, &location).await.ok().flatten(),
        None => None,
    };
    let mut session = match resumed {
        Some(s) => s,
        None => Session {
            location: up.client.start_upload(repo).await?,
            offset: 0,
        },
    };
    remember(resume, &session);
    let (rx, producer) = up.spawn_producer(src, session.offset, on_read);
    let mut chunks = Chunker::new(rx);
    let mut failure = None;
    let mut chunk = chunk;
    while failure.is_none() {
        let Some(piece) = chunks.next(chunk as usize).await else {
            break;
        };
        match send_piece(up, repo, &mut session, piece).await {
            Ok(()) => remember(resume, &session),
            Err(e) => failure = Some(e),
        }
        chunk = up.policy.chunk_size();
    }
    drop(chunks);
    let produced = up.produced(repo, &session.location, src, producer).await?;
    if let Some(e) = failure {
        return Err(e);
    }
    let Some(produced) = produced else {
        return Err(RegistryError::Network {
            host: up.client.authority().to_string(),
            during: format!("uploading {}", src.path.display()),
            detail: "the upload data ended early".into(),
            retryable: true,
        });
    };
    // Whatever happens next, this session is finished or cancelled: a retry starts anew.
    if let Ok(mut r) = resume.lock() {
        *r = None;
    }
    up.commit(repo, &session.location, src, produced).await
}

fn remember(resume: &ResumeSlot, session: &Session) {
    if let Ok(mut r) = resume.lock() {
        *r = Some(session.location.clone());
    }
}

/// Sends one piece, split further while the registry or a proxy answers 413.
async fn send_piece(
    up: &Uploader<'_>,
    repo: &str,
    session: &mut Session,
    piece: Payload,
) -> Result<(), RegistryError> {
    let client = up.client;
    let scope = RegistryClient::push_scope(repo);
    let during = "uploading a chunk";
    let mut queue = VecDeque::from([piece]);
    while let Some(p) = queue.pop_front() {
        let len = p.len() as u64;
        let end = session.offset + len - 1;
        let mut headers = HeaderMap::new();
        headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("application/octet-stream"),
        );
        if let Ok(v) = HeaderValue::from_str(&format!("{}-{end}", session.offset)) {
            headers.insert(CONTENT_RANGE, v);
        }
        let resp = client
            .send(
                Method::PATCH,
                &session.location,
                &scope,
                headers,
                Some(p.clone()),
                during,
            )
            .await?;
        PushStats::add(&up.stats.bytes_sent, len);
        match resp.status() {
            StatusCode::ACCEPTED | StatusCode::NO_CONTENT => {
                if let Some(reported) = range_end(resp.headers())
                    && reported != end
                {
                    return Err(RegistryError::Network {
                        host: client.authority().to_string(),
                        during: during.into(),
                        detail: format!(
                            "the registry holds bytes 0-{reported} after a chunk ending at {end}; \
                             the upload resumes from the registry's offset"
                        ),
                        retryable: true,
                    });
                }
                session.offset = end + 1;
                if let Some(l) = super::client::location(&resp) {
                    client.upload_moved(repo, &l);
                    session.location = l;
                }
            }
            StatusCode::PAYLOAD_TOO_LARGE => {
                let Some(smaller) = up.policy.shrink(len) else {
                    return Err(client
                        .refusal(resp, &Method::PATCH, &session.location, None)
                        .await);
                };
                for part in p.split(smaller as usize).into_iter().rev() {
                    queue.push_front(part);
                }
            }
            _ => {
                return Err(client
                    .refusal(resp, &Method::PATCH, &session.location, None)
                    .await);
            }
        }
    }
    Ok(())
}

/// The registry's own account of an upload left by an earlier attempt: `None` when it no
/// longer knows it (purged, invalidated by a partial write, or forgotten by a restart), and the
/// upload starts anew; an error when the registry cannot be asked (it is still down).
async fn status(
    client: &RegistryClient,
    repo: &str,
    location: &str,
) -> Result<Option<Session>, RegistryError> {
    let resp = client
        .send(
            Method::GET,
            location,
            &RegistryClient::push_scope(repo),
            HeaderMap::new(),
            None,
            "asking how far an upload got",
        )
        .await?;
    if !resp.status().is_success() {
        return Ok(None);
    }
    let offset = match range_end(resp.headers()) {
        // distribution answers `0-0` for an empty upload as well as a one-byte one; chunks
        // are never one byte, so it means empty.
        Some(0) | None => 0,
        Some(end) => end + 1,
    };
    Ok(Some(Session {
        location: super::client::location(&resp).unwrap_or_else(|| location.to_string()),
        offset,
    }))
}

/// The last byte of the `Range: 0-<end>` a registry reports (`bytes=` tolerated).
fn range_end(headers: &HeaderMap) -> Option<u64> {
    let v = headers.get(reqwest::header::RANGE)?.to_str().ok()?;
    let v = v.trim().trim_start_matches("bytes=");
    let (start, end) = v.split_once('-')?;
    (start.trim() == "0").then_some(())?;
    end.trim().parse().ok()
}

/// Sends one piece of a staged upload, retried from the offset the registry reports.
async fn send_staged_piece(
    up: &Uploader<'_>,
    repo: &str,
    session: &tokio::sync::Mutex<Session>,
    piece: Payload,
) -> Result<(), RegistryError> {
    let start = session.lock().await.offset;
    up.client
        .retrying(
            |attempt| {
                let piece = piece.clone();
                async move {
                    let mut s = session.lock().await;
                    if attempt > 1 {
                        // Where does the registry stand after the failed attempt? Still down:
                        // this attempt fails like the last and the back-off goes on.
                        match status(up.client, repo, &s.location).await? {
                            Some(now) => *s = now,
                            // A new upload can take the first piece: it holds every byte so far.
                            None if start == 0 => {
                                s.location = up.client.start_upload(repo).await?;
                                s.offset = 0;
                            }
                            None => {
                                return Err(RegistryError::StagedUploadLost {
                                    host: up.client.authority().to_string(),
                                    bytes: start,
                                    detail: "the registry no longer knows the upload".into(),
                                });
                            }
                        }
                    }
                    let end = start + piece.len() as u64;
                    if s.offset == end {
                        Ok(())
                    } else if s.offset > start && s.offset < end {
                        // Part of the piece arrived (it was split after a 413): send the rest.
                        let rest = piece.slice_from((s.offset - start) as usize);
                        send_piece(up, repo, &mut s, rest).await
                    } else if s.offset != start {
                        Err(RegistryError::Network {
                            host: up.client.authority().to_string(),
                            during: "resuming an upload".into(),
                            detail: format!(
                                "the registry holds {} bytes of the upload, expected {start}; \
                                     the member is read again",
                                s.offset
                            ),
                            retryable: false,
                        })
                    } else {
                        send_piece(up, repo, &mut s, piece).await
                    }
                }
            },
            |_, _, _| {},
        )
        .await
}

/// A staged upload keeps two pieces in memory: the one being sent, until the registry has it
/// (so a cut costs at most that piece again), and the next one filling meanwhile. Pieces are
/// the policy's chunk size (`chunk_size_mib`, 12 MiB by default), at most this: two uploads
/// overlap at a layer boundary, so the default holds 48 MiB at most, and a large chunk size
/// 64 MiB. Each request costs the registry a password check (bcrypt, with htpasswd): 12 MiB
/// pieces need about 60 of them for the benchmark release where 4 MiB pieces needed 175.
const STAGED_CHUNK: u64 = 16 * 1024 * 1024;

/// An upload in the staging repository that holds all its bytes but is not committed: the
/// streaming push commits it only once the image's metadata has verified the layer.
#[derive(Debug, Clone)]
pub struct StagedUpload {
    pub(crate) repo: String,
    pub(crate) location: String,
    pub size: u64,
}

/// Sends the bytes arriving on `rx` to a new upload in `repo`, chunk by chunk, and leaves it
/// open. The bytes come from a stream that cannot be read twice, so the piece in flight is
/// kept until the registry has it: a failed piece is retried from the offset the registry
/// reports (a cut costs at most one chunk again).
pub(crate) async fn upload_open(
    up: &Uploader<'_>,
    repo: &str,
    rx: mpsc::Receiver<Result<Bytes, std::io::Error>>,
) -> Result<StagedUpload, RegistryError> {
    let location = up
        .client
        .retrying(|_| up.client.start_upload(repo), |_, _, _| {})
        .await?;
    // Kept across the attempts of a piece: each one may learn the offset anew.
    let session = tokio::sync::Mutex::new(Session {
        location,
        offset: 0,
    });
    let mut chunks = Chunker::new(rx);
    let size = || up.policy.chunk_size().min(STAGED_CHUNK) as usize;
    let mut next = chunks.next(size()).await;
    while let Some(piece) = next {
        // The next piece fills while this one goes: the compressors never wait for the
        // registry to take a whole piece. A failed send does not wait for the fill.
        let send = send_staged_piece(up, repo, &session, piece);
        let fill = chunks.next(size());
        tokio::pin!(send, fill);
        let mut following = None;
        let sent = loop {
            tokio::select! {
                sent = &mut send => break sent,
                piece = &mut fill, if following.is_none() => following = Some(piece),
            }
        };
        if let Err(e) = sent {
            // Nothing will complete this upload: let the registry drop it now.
            let location = session.lock().await.location.clone();
            up.client.cancel_upload(repo, &location).await;
            return Err(e);
        }
        next = match following {
            Some(piece) => piece,
            None => fill.await,
        };
    }
    let s = session.into_inner();
    Ok(StagedUpload {
        repo: repo.to_string(),
        location: s.location,
        size: s.offset,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_registry_range_forms() {
        let mut h = HeaderMap::new();
        assert_eq!(range_end(&h), None);
        h.insert(
            reqwest::header::RANGE,
            HeaderValue::from_static("0-1048575"),
        );
        assert_eq!(range_end(&h), Some(1048575));
        h.insert(
            reqwest::header::RANGE,
            HeaderValue::from_static("bytes=0-9"),
        );
        assert_eq!(range_end(&h), Some(9));
        h.insert(reqwest::header::RANGE, HeaderValue::from_static("5-9"));
        assert_eq!(range_end(&h), None);
    }
}
