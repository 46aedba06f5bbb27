//! The push: every image of the inventory to `<target>/<path>:<tag>`, streamed from the spooled
//! layers (or, when the disk could not hold them all, from the archive one image at a time).
//! Each pushed layer and image is a unit of the session's ledger, so a resumed push sends no
//! finished layer again and compresses nothing twice.

use super::inputs::{ArtifactsInput, RegistryInput};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde_json::json;

use super::choice_paths::work_dir;
use super::push_ledger::{SessionPushLedger, push_image, push_options};
use crate::artifacts::{ImageRecord, Inventory};
use crate::engine::context::StepContext;
use crate::engine::events::{Level, Quantity};
use crate::engine::outputs::{ReportedImage, SessionPushReport};
use crate::engine::step_data::{PushRow, PushState, StepData};
use crate::engine::units::{
    PushedMember, PushedMemberDetail, Summary, UploadForm, UploadFormDetail,
};
use crate::engine::work::StepError;
use crate::registry::{ImageState, LayerState, PushImage, PushProgress, Pusher, UploadFormChange};

/// Per-image rows for the screen, published when a row changes state (and at most every
/// few percent while uploading, so a fast push does not flood the front end).
struct Rows {
    ctx: StepContext,
    rows: Mutex<(Vec<PushRow>, BTreeMap<String, usize>)>,
    stats: Mutex<Option<Arc<crate::registry::PushStats>>>,
}

impl Rows {
    fn new(
        ctx: StepContext,
        images: &[PushImage],
        target: &crate::registry::RegistryTarget,
    ) -> Rows {
        let rows = images
            .iter()
            .map(|i| PushRow {
                target: target.reference(&i.repository, &i.tag),
                state: PushState::Pending,
                done: 0,
                total: i.layers.iter().map(|l| l.size).sum::<u64>() + i.config.size,
            })
            .collect();
        let index = images
            .iter()
            .enumerate()
            .map(|(n, i)| (i.source.clone(), n))
            .collect();
        Rows {
            ctx,
            rows: Mutex::new((rows, index)),
            stats: Mutex::new(None),
        }
    }

    fn publish(&self) {
        if let Ok(guard) = self.rows.lock() {
            self.ctx.publish(StepData::Push(guard.0.clone()));
        }
    }
}

impl PushProgress for Rows {
    fn upload_form(&self, change: &UploadFormChange) {
        self.ctx.log(Level::Warn, change.to_string());
    }

    fn image(&self, source: &str, state: &ImageState) {
        let changed = {
            let Ok(mut guard) = self.rows.lock() else {
                return;
            };
            let (rows, index) = &mut *guard;
            let Some(row) = index.get(source).and_then(|i| rows.get_mut(*i)) else {
                return;
            };
            let before = (row.state.clone(), row.done * 20 / row.total.max(1));
            match state {
                ImageState::Pending => row.state = PushState::Pending,
                ImageState::Uploading { done, total, .. } => {
                    row.state = PushState::Uploading;
                    row.done = *done;
                    row.total = *total;
                }
                ImageState::Mounted { .. } => {
                    row.state = PushState::Mounted;
                    row.done = row.total;
                }
                ImageState::AlreadyPresent { .. } => {
                    row.state = PushState::Skipped;
                    row.done = row.total;
                }
                ImageState::Done { .. } => {
                    row.state = PushState::Done;
                    row.done = row.total;
                }
                ImageState::Failed { reason } => row.state = PushState::Failed(reason.clone()),
            }
            before != (row.state.clone(), row.done * 20 / row.total.max(1))
        };
        if changed {
            self.publish();
        }
        if let Some(stats) = self.stats.lock().ok().and_then(|s| s.clone()) {
            let s = stats.snapshot();
            self.ctx.progress(
                s.bytes_done(),
                Some(s.bytes_total),
                Quantity::Bytes,
                Some(source.to_string()),
            );
        }
    }

    fn layer(&self, source: &str, diff_id: &str, state: &LayerState) {
        if let LayerState::Retrying {
            attempt,
            delay_ms,
            reason,
        } = state
        {
            self.ctx.log(
                Level::Warn,
                format!("{source}: layer {diff_id}: retry {attempt} in {delay_ms} ms: {reason}"),
            );
        }
    }
}

/// The one-image-at-a-time path: each image is spooled from the archive, verified, pushed and
/// its spool removed before the next, so the disk holds about one image at a time. Members
/// whose image is already pushed are read past without writing.
async fn push_from_archive(
    ctx: &StepContext,
    pusher: Arc<Pusher>,
    work: &Path,
) -> Result<crate::registry::PushReport, StepError> {
    let archive = ctx
        .input::<ArtifactsInput>()
        .images_path()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let handle = tokio::runtime::Handle::current();
    let (ctx2, work2, pusher2) = (ctx.clone(), work.to_path_buf(), pusher.clone());
    let cancel = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let cancel2 = cancel.clone();
    let watch = ctx.cancel();
    let watcher = tokio::spawn(async move {
        watch.cancelled().await;
        cancel2.store(true, std::sync::atomic::Ordering::SeqCst);
    });
    let outcome = tokio::task::spawn_blocking(move || {
        let mut hooks = StreamHooks {
            ctx: ctx2,
            work: work2.clone(),
            pusher: pusher2,
            handle,
            report: Vec::new(),
            failure: None,
        };
        let options = crate::artifacts::ProcessOptions {
            cancel,
            mode: crate::artifacts::SpoolMode::OneImageAtATime,
            ..crate::artifacts::ProcessOptions::default()
        };
        let read = crate::artifacts::process_images(
            &archive,
            &work2,
            &options,
            &mut hooks,
            &mut crate::artifacts::NoProgress,
        );
        (
            read.map(|_| ()).map_err(|e| e.to_string()),
            hooks.report,
            hooks.failure,
        )
    })
    .await;
    watcher.abort();
    let (read, images, failure) = match outcome {
        Ok(parts) => parts,
        Err(e) => (Err(e.to_string()), Vec::new(), None),
    };
    if let Some(failure) = failure {
        return Err(failure_error(&failure));
    }
    read.map_err(|e| {
        StepError::failed(format!(
            "{e}\nRetry continues where the push stopped: pushed images are read past."
        ))
    })?;
    Ok(crate::registry::PushReport {
        registry: pusher.target_key(),
        images,
    })
}

fn failure_error(failure: &crate::registry::PushFailure) -> StepError {
    let mut text = format!("{} image(s) could not be pushed:", failure.failures.len());
    for f in &failure.failures {
        text.push_str(&format!("\n  {}: {}", f.source, f.error));
    }
    text.push_str("\nRetry continues where the push stopped: finished layers are not sent again.");
    StepError::failed(text)
}

struct StreamHooks {
    ctx: StepContext,
    work: PathBuf,
    pusher: Arc<Pusher>,
    handle: tokio::runtime::Handle,
    report: Vec<crate::registry::PushedImage>,
    failure: Option<crate::registry::PushFailure>,
}

impl crate::artifacts::ImageHooks for StreamHooks {
    fn is_done(&mut self, member: &str) -> bool {
        self.ctx.done(&PushedMember(member))
    }

    fn image_ready(&mut self, record: &ImageRecord) -> Result<(), String> {
        let image = push_image(record, &self.work);
        match self
            .handle
            .block_on(self.pusher.push(std::slice::from_ref(&image)))
        {
            Ok(report) => self.report.extend(report.images),
            Err(failure) => {
                let text = failure
                    .first_error()
                    .map(|e| e.to_string())
                    .unwrap_or_else(|| "the push failed".into());
                self.failure = Some(failure);
                return Err(text);
            }
        }
        crate::artifacts::remove_image_spool(&self.work, record).map_err(|e| e.to_string())?;
        self.ctx
            .record(
                &PushedMember(&record.member),
                &PushedMemberDetail {
                    reference: record.reference.clone(),
                },
            )
            .map_err(|e| e.to_string())
    }
}

fn remember_chunked(ctx: &StepContext, pusher: &Pusher, configured: u64) -> Result<(), StepError> {
    let Some(since) = pusher.chunked_since() else {
        return Ok(());
    };
    let reason = match since.reason {
        Some(r) => r,
        None if since.chunk_size < configured => "a chunk was refused with 413".to_string(),
        None => return Ok(()),
    };
    // Each change was said as it happened (`upload_form`); this sums up the form kept, which
    // a resumed run starts with.
    ctx.log(
        Level::Warn,
        format!(
            "uploads go in chunks of {} KiB for the rest of this session: the registry or a proxy \
             refused a streamed upload ({reason})",
            since.chunk_size >> 10
        ),
    );
    ctx.record(
        &UploadForm,
        &UploadFormDetail {
            chunk_size: since.chunk_size,
            reason,
        },
    )
}

fn spooled(record: &ImageRecord, work: &Path) -> bool {
    record
        .layers
        .iter()
        .all(|l| work.join(&l.spool_path).exists())
        && work.join(&record.config_spool_path).exists()
}

pub async fn run(ctx: StepContext) -> Result<(), StepError> {
    let inventory = ctx.output::<Inventory>()?;
    let work = work_dir(&ctx);
    // Images the artifacts step could not keep (too little disk) are read again from the
    // archive one at a time, pushed, and their spool dropped before the next.
    let client = super::registry_client::client(&ctx).await?;
    super::open_uploads::SessionUploadJournal::new(&ctx.session_dir())
        .cancel_left(&ctx, &client)
        .await;
    // Images the artifacts step already pushed while reading need neither spool nor archive.
    let ledger = SessionPushLedger { ctx: ctx.clone() };
    let images: Vec<PushImage> = inventory
        .images
        .iter()
        .map(|r| push_image(r, &work))
        .collect();
    let streamed = inventory.images.iter().zip(&images).any(|(r, img)| {
        !spooled(r, &work)
            && !ledger.has_image(&client.target().reference(&img.repository, &img.tag))
    });
    let rows = Arc::new(Rows::new(ctx.clone(), &images, client.target()));
    rows.publish();
    let cancel = ctx.cancel();
    let choice = ctx.input::<RegistryInput>().registry.unwrap_or_default();
    let options = push_options(&ctx, &choice);
    super::push_ledger::say_layer_codec(&ctx, &choice);
    let options_chunk = options.chunk_size;
    let pusher = Arc::new(
        Pusher::new(
            client.clone(),
            options,
            Arc::new(SessionPushLedger { ctx: ctx.clone() }),
            rows.clone(),
        )
        .with_cancel(Arc::new(move || cancel.is_cancelled())),
    );
    if let Ok(mut s) = rows.stats.lock() {
        *s = Some(pusher.stats());
    }
    ctx.phase(format!(
        "pushing {} images to {}",
        images.len(),
        client.target().authority()
    ));
    let pushed = if streamed {
        push_from_archive(&ctx, pusher.clone(), &work).await
    } else {
        pusher.push(&images).await.map_err(|failure| {
            rows.publish();
            failure_error(&failure)
        })
    };
    remember_chunked(&ctx, &pusher, options_chunk)?;
    let report = pushed?;
    rows.publish();
    let before = report
        .images
        .iter()
        .filter(|i| i.status == crate::registry::PushOutcome::AlreadyPresent)
        .count();
    if before > 0 {
        ctx.log(
            Level::Info,
            format!(
                "{before} of {} images were in the registry already (pushed while the archive was \
                 read, or by an earlier run): verified by their manifests, nothing sent again",
                report.images.len()
            ),
        );
    }
    super::library_alias::alias_official_images(&ctx, &client, &images).await;
    let stats = pusher.stats().snapshot();
    ctx.log(
        Level::Info,
        format!(
            "pushed {} images: {} blobs uploaded, {} mounted, {} already there",
            report.images.len(),
            stats.blobs_uploaded,
            stats.blobs_mounted,
            stats.blobs_present
        ),
    );
    let file = SessionPushReport {
        images: report
            .images
            .iter()
            .map(|i| ReportedImage {
                source: i.source.clone(),
                target: i.target.clone(),
                digest: i.manifest_digest.clone(),
            })
            .collect(),
    };
    let path = ctx.write_output(&file)?;
    ctx.log(Level::Info, format!("push report: {}", path.display()));
    ctx.record(
        &Summary::PushReport,
        &json!({ "images": file.images.len(), "path": path }),
    )
}
