//! The artifacts step: read `images.tar.gz` and `charms.tar.gz` once, verifying every layer,
//! into the work directory, and write the inventory the later steps use. Each image read is a
//! unit of the ledger, so a resumed run reads past finished members without writing them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use serde_json::json;

use super::blocking::blocking;
use super::choice_paths::required_path;
use super::choice_paths::work_dir;
use super::forms::{BundleCheck, OpenedBundle};
use super::inputs::{ArtifactsInput, ReleaseInput};
use crate::artifacts::charms::CharmVersion;
use crate::artifacts::{
    self, CharmInfo, CrossCheck, ImageHooks, ImageRecord, Inventory, ProcessOptions, ProgressEvent,
    SpoolMode,
};
use crate::durable::create_private_dir;
use crate::engine::context::StepContext;
use crate::engine::events::amount;
use crate::engine::events::{Level, Quantity};
use crate::engine::outputs::{DifferentialBase, HopCharm};
use crate::engine::step_data::{CharmRow, ImageRow, InventoryView, StepData};
use crate::engine::units::{
    CharmsRead, CharmsReadDetail, ImagesRead, ImagesReadDetail, ReadMember, ReadMemberDetail,
    Summary,
};
use crate::engine::work::StepError;
use crate::wizard::PathChoice;

/// How often the archive is read again by itself after the registry went away during the
/// streaming push, before the step fails and leaves the retry to the operator.
const OUTAGE_REREADS: u32 = 3;
/// How long the step waits for a registry that went away to answer again, and the back-off
/// between its questions: from half a second, doubled up to ten.
const OUTAGE_WAIT: std::time::Duration = std::time::Duration::from_secs(300);
const OUTAGE_POLL_FIRST: std::time::Duration = std::time::Duration::from_millis(500);
const OUTAGE_POLL_CAP: std::time::Duration = std::time::Duration::from_secs(10);

/// Sets the flag the blocking reader watches when the step's future is dropped (quit, signal).
struct CancelOnDrop(Arc<AtomicBool>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

pub async fn run(ctx: StepContext) -> Result<(), StepError> {
    let input = ctx.input::<ArtifactsInput>();
    let images = required_path(
        &ctx,
        input.images_path(),
        PathChoice::ImagesArchive,
        "Path to images.tar.gz",
    )
    .await?;
    let charms = required_path(
        &ctx,
        input.charms_archive.as_ref().map(|w| w.path()),
        PathChoice::CharmsArchive,
        "Path to charms.tar.gz",
    )
    .await?;
    check_lock_signature(&ctx, &images)?;
    // Volumes missing, extra or of the wrong size are named against the lock before the disk
    // is planned or a byte is read.
    crate::artifacts::volumes::VolumeSet::open(&images, &lock_volumes(&ctx)?)
        .map_err(|why| StepError::failed(format!("{}: {why}", images.display())))?;
    let work = work_dir(&ctx);
    create_private_dir(&work).map_err(|e| {
        StepError::failed(format!(
            "cannot create the work directory {}: {e}. Choose another one (answers: artifacts.work_dir).",
            work.display()
        ))
    })?;

    let plan = {
        let (images, charms, work) = (images.clone(), charms.clone(), work.clone());
        blocking(move || artifacts::plan_disk(&images, Some(&charms), &work)).await?
    };
    ctx.log(
        Level::Info,
        format!(
            "the release needs about {} in {} ({}); {} free: {}",
            amount(plan.needed_all, Quantity::Bytes),
            work.display(),
            plan.estimate.method,
            amount(plan.free, Quantity::Bytes),
            plan.note
        ),
    );
    let mode = if input.one_image_at_a_time {
        SpoolMode::OneImageAtATime
    } else {
        plan.mode
    };

    let cancel = Arc::new(AtomicBool::new(false));
    let _cancel_on_drop = CancelOnDrop(cancel.clone());
    // A stale directory of records from before they were kept in the ledger.
    let _ = std::fs::remove_dir_all(ctx.session_dir().join("inventory-images"));

    let charm_infos = if let Some(infos) = charm_records(&ctx) {
        infos
    } else {
        ctx.phase("reading charms.tar.gz");
        let infos = {
            let ctx = ctx.clone();
            let (charms, work, cancel) = (charms.clone(), work.clone(), cancel.clone());
            blocking(move || {
                let mut sink = |event: &ProgressEvent| forward(&ctx, event);
                artifacts::process_charms(&charms, &work, &cancel, &mut sink)
            })
            .await?
        };
        ctx.record(
            &CharmsRead,
            &CharmsReadDetail {
                charms: infos.clone(),
            },
        )?;
        infos
    };

    let carried = differential_base(&ctx)?;
    ctx.write_output(&carried)?;
    // The bundle's needs against what the archive is promised to hold, before any image is read
    // or sent: a missing one stops the run here, not after the push.
    let may_stream = match precheck_needs(&ctx, &charm_infos, &carried)? {
        Precheck::Passed | Precheck::NoBundle => true,
        Precheck::NoList => {
            ctx.log(
                Level::Warn,
                "no ckf-release.lock.json beside images.tar.gz and no retagged list: the \
                 bundle's needs can be checked only once the archive is read, so its images \
                 are not pushed while it is read; the push step sends them after the check",
            );
            false
        }
    };

    let read_before = ctx.detail(&ImagesRead);
    if let Some(read) = &read_before {
        ctx.log(
            Level::Info,
            format!(
                "{} was read whole when this step last ran ({} images verified) and has not \
                 changed: it is not read again",
                images.display(),
                read.images
            ),
        );
    }
    let mut rereads = 0;
    while read_before.is_none() {
        let stream = if may_stream {
            super::stream_push::start(&ctx, work.clone()).await
        } else {
            None
        };
        if rereads == 0 && mode == SpoolMode::OneImageAtATime {
            let then = if stream.is_some() {
                "pushed while the archive is read"
            } else {
                "the push step reads the archive again, one image at a time"
            };
            ctx.log(
                Level::Warn,
                format!(
                    "not enough space to keep every image: each image is verified and its \
                     spool deleted at once; {then}"
                ),
            );
        }
        let read = read_images(&ctx, &images, &work, mode, stream.clone(), cancel.clone()).await;
        let outage = stream.as_ref().and_then(|s| s.outage());
        match (read, outage) {
            (Err(e), Some(cause)) if rereads < OUTAGE_REREADS && !ctx.is_cancelled() => {
                rereads += 1;
                ctx.log(
                    Level::Warn,
                    format!(
                        "the registry went away while the archive was read ({cause}); once it \
                         answers again the archive is read again from the first image not \
                         pushed (attempt {rereads} of {OUTAGE_REREADS})"
                    ),
                );
                tracing::info!("the read stopped with: {e}");
                wait_for_registry(&ctx).await?;
            }
            (read, _) => {
                read?;
                ctx.record(
                    &ImagesRead,
                    &ImagesReadDetail {
                        images: image_records(&ctx).len(),
                    },
                )?;
                break;
            }
        }
    }

    let inventory = Inventory {
        images: image_records(&ctx),
        charms: charm_infos,
    };
    let inventory_file = ctx.write_output(&inventory)?;
    ctx.log(
        Level::Info,
        format!(
            "inventory: {} images ({} of unique layers), {} charms; written to {}",
            inventory.images.len(),
            amount(inventory.unique_blob_bytes(), Quantity::Bytes),
            inventory.charms.len(),
            inventory_file.display()
        ),
    );
    check_retagged_list(&ctx, &inventory)?;
    check_lock_file(&ctx, &inventory)?;
    let checked = cross_check_with_bundle(&ctx, &inventory, true, &carried)?;
    let mut view = inventory_view(&inventory, checked.as_ref().map(|c| &c.check));
    if let Some(c) = &checked {
        view.bundle = Some(c.bundle.clone());
        view.skippable = c.skippable.clone();
    }
    ctx.publish(StepData::Inventory(view));
    match checked {
        Some(c) if !c.check.missing_images.is_empty() || !c.check.missing_charms.is_empty() => {
            Err(missing_error(&ctx, &c.check))
        }
        _ => Ok(()),
    }
}

/// Reads `images.tar.gz` once, pushing while reading when `stream` is given; images verified
/// before a failure are still pushed and recorded, then the first error is returned.
async fn read_images(
    ctx: &StepContext,
    images: &Path,
    work: &Path,
    mode: SpoolMode,
    stream: Option<Arc<super::stream_push::StreamPush>>,
    cancel: Arc<AtomicBool>,
) -> Result<(), StepError> {
    let volumes = lock_volumes(ctx)?;
    // The report's warnings were shown as they happened (ProgressEvent::Warning).
    let read = {
        let ctx = ctx.clone();
        let (images, work, streaming) = (images.to_path_buf(), work.to_path_buf(), stream.clone());
        blocking(move || {
            let options = ProcessOptions {
                cancel,
                mode,
                sink: streaming.as_ref().map(|s| s.sink()),
                volumes,
                ..ProcessOptions::default()
            };
            let mut hooks = LedgerHooks {
                ctx: ctx.clone(),
                work: work.clone(),
                drop_spool: mode == SpoolMode::OneImageAtATime,
                stream: streaming,
            };
            let mut sink = |event: &ProgressEvent| forward(&ctx, event);
            artifacts::process_images(&images, &work, &options, &mut hooks, &mut sink)
                .map(|_report| ())
                .map_err(|e| match e {
                    // The way on that is left, only when it is not the mode already in use.
                    e @ artifacts::ArtifactError::DiskFull { .. }
                        if mode != SpoolMode::OneImageAtATime =>
                    {
                        format!(
                            "{e} Or keep only one image on disk at a time \
                             ([artifacts] one_image_at_a_time = true)."
                        )
                    }
                    e => e.to_string(),
                })
        })
        .await
    };
    if let Some(stream) = &stream {
        let finished = stream.finish().await;
        if mode == SpoolMode::OneImageAtATime {
            for done in stream.take_pushed() {
                artifacts::remove_image_spool(work, &done)
                    .map_err(|e| StepError::failed(e.to_string()))?;
            }
        }
        finished.map_err(StepError::failed)?;
    }
    read
}

/// Waits until the registry answers a preflight again, asking with a back-off and saying so
/// each time; fails after `OUTAGE_WAIT` with what to do.
async fn wait_for_registry(ctx: &StepContext) -> Result<(), StepError> {
    let client = super::registry_client::client(ctx).await?;
    let started = std::time::Instant::now();
    let mut delay = OUTAGE_POLL_FIRST;
    loop {
        match client.preflight(crate::registry::STAGING_REPOSITORY).await {
            Ok(_) => {
                ctx.log(
                    Level::Info,
                    format!(
                        "{} answers again after {} s",
                        client.target().authority(),
                        started.elapsed().as_secs()
                    ),
                );
                return Ok(());
            }
            Err(e) if started.elapsed() >= OUTAGE_WAIT => {
                return Err(StepError::failed(format!(
                    "{} has not answered for {} minutes ({e}). Start it again and retry: the \
                     step resumes at the first image not pushed.",
                    client.target().authority(),
                    OUTAGE_WAIT.as_secs() / 60
                )));
            }
            Err(e) => ctx.phase(format!(
                "waiting for {} to answer again ({e})",
                client.target().authority()
            )),
        }
        let cancel = ctx.cancel();
        tokio::select! {
            () = tokio::time::sleep(delay) => {}
            () = cancel.cancelled() => return Err(StepError::Cancelled),
        }
        delay = (delay * 2).min(OUTAGE_POLL_CAP);
    }
}

/// `ckf-release.lock.json` beside `images.tar.gz` (written by `ckf-airgap gather`) proves the
/// archives whole: every image and charm it lists must be there with its digests; anything
/// else is reported.
fn check_lock_file(ctx: &StepContext, inventory: &Inventory) -> Result<(), StepError> {
    let Some(lock_file) = ctx.input::<ArtifactsInput>().lock_file else {
        return Ok(());
    };
    let path = lock_file.path();
    let lock = read_lock(path)?;
    if let Some(base) = &lock.base
        && ctx.flow() != crate::wizard::Flow::Upgrade
    {
        ctx.log(
            Level::Warn,
            format!(
                "{}: an upgrade's differential set, gathered against {} ({}): it holds only what \
                 that release lacks; the {} image(s) and {} charm(s) it leaves out must already \
                 be in the private registry and the installed model",
                path.display(),
                base.file,
                base.release
                    .as_deref()
                    .map(|r| format!("CKF {r}"))
                    .unwrap_or_else(|| "release not named".into()),
                base.images.len(),
                base.charms.len()
            ),
        );
    }
    let (problems, extra) = crate::gather::lock::verify(&lock, inventory);
    for e in &extra {
        ctx.log(Level::Warn, format!("{}: {e}", path.display()));
    }
    for m in &lock.missing {
        ctx.log(
            Level::Warn,
            format!(
                "{}: {} was accepted as missing when the archives were gathered",
                path.display(),
                m.describe()
            ),
        );
    }
    if problems.is_empty() {
        ctx.log(
            Level::Info,
            format!(
                "{}: every one of its {} images and {} charms is in the archives with its digests",
                path.display(),
                lock.images.len(),
                lock.charms.len()
            ),
        );
        return Ok(());
    }
    Err(StepError::failed(format!(
        "the archives do not match {}:\n  {}\nCopy the archives again from the connected side.",
        path.display(),
        problems.join("\n  ")
    )))
}

/// With `[artifacts] allowed_signers`, the lock must carry a signature by one of its keys, checked
/// before anything is read: whoever could change the archives could change the lock beside them.
fn check_lock_signature(ctx: &StepContext, images: &Path) -> Result<(), StepError> {
    use crate::gather::lock_signature::{read_allowed_signers, signature_path, verify};
    let input = ctx.input::<ArtifactsInput>();
    let Some(allowed) = &input.allowed_signers else {
        if let Some(signature) = &input.lock_signature {
            ctx.log(
                Level::Warn,
                format!(
                    "{} is beside the lock but is not checked: set [artifacts] allowed_signers to \
                     the file naming who may sign the archives",
                    signature.path().display()
                ),
            );
        }
        return Ok(());
    };
    let Some(lock) = &input.lock_file else {
        return Err(StepError::failed(format!(
            "[artifacts] allowed_signers is set, but there is no {} beside {}: copy the lock and \
             its signature from the connected side beside the archive",
            crate::gather::lock::RELEASE_LOCK_FILE,
            images.display()
        )));
    };
    let signature_file = signature_path(lock.path());
    let signature = std::fs::read_to_string(&signature_file).map_err(|e| {
        StepError::failed(if e.kind() == std::io::ErrorKind::NotFound {
            format!(
                "the lock {} is not signed: {} is missing. Copy it from the connected side \
                 (gather writes it with [gather] sign_key), or remove [artifacts] \
                 allowed_signers to accept an unsigned lock",
                lock.path().display(),
                signature_file.display()
            )
        } else {
            format!("cannot read {}: {e}", signature_file.display())
        })
    })?;
    let signers = read_allowed_signers(allowed.path()).map_err(StepError::failed)?;
    let message = std::fs::read(lock.path())
        .map_err(|e| StepError::failed(format!("cannot read {}: {e}", lock.path().display())))?;
    let now = time::OffsetDateTime::now_utc();
    let now = format!(
        "{:04}{:02}{:02}{:02}{:02}{:02}",
        now.year(),
        u8::from(now.month()),
        now.day(),
        now.hour(),
        now.minute(),
        now.second()
    );
    let signer = verify(&message, &signature, &signers, &now).map_err(|e| {
        StepError::failed(format!(
            "{} refused: {e} (allowed signers: {})",
            signature_file.display(),
            allowed.path().display()
        ))
    })?;
    ctx.log(
        Level::Info,
        format!(
            "{}: signed by {} with the key {}, listed in {}",
            lock.path().display(),
            signer.identity,
            signer.fingerprint,
            allowed.path().display()
        ),
    );
    ctx.record(&Summary::LockSigner, &json!(signer))
}

/// Canonical's `retagged-images.txt` lists every name its `images.tar.gz` should hold; its
/// script never checks `docker save`, so a failed save leaves an image out. Every listed name
/// must be archived.
fn check_retagged_list(ctx: &StepContext, inventory: &Inventory) -> Result<(), StepError> {
    let Some(path) = ctx
        .input::<ArtifactsInput>()
        .retagged_images
        .map(|w| w.path().to_path_buf())
    else {
        return Ok(());
    };
    let text = std::fs::read_to_string(&path).map_err(|e| {
        StepError::failed(format!(
            "cannot read {} ({e}); fix [artifacts] retagged_images or remove it",
            path.display()
        ))
    })?;
    let archived: std::collections::HashSet<String> = inventory
        .images
        .iter()
        .flat_map(|i| {
            i.references
                .iter()
                .map(|r| crate::image_ref::normalize_reference(r))
        })
        .collect();
    let missing: Vec<&str> = retagged_names(&text)
        .filter(|l| !archived.contains(&crate::image_ref::normalize_reference(l)))
        .collect();
    if missing.is_empty() {
        ctx.log(
            Level::Info,
            format!("every image {} lists is in the archive", path.display()),
        );
        return Ok(());
    }
    Err(StepError::failed(format!(
        "{} lists {} image(s) images.tar.gz does not hold (a failed docker save on the \
         connected side leaves them out):\n  {}\nSave them again and rebuild images.tar.gz.",
        path.display(),
        missing.len(),
        missing.join("\n  ")
    )))
}

fn inventory_view(inventory: &Inventory, check: Option<&CrossCheck>) -> InventoryView {
    InventoryView {
        bundle: None,
        skippable: Vec::new(),
        total_bytes: inventory.total_image_bytes(),
        unique_bytes: inventory.unique_blob_bytes(),
        images: inventory
            .images
            .iter()
            .map(|i| ImageRow {
                reference: i.reference.clone(),
                layers: i.layers.len(),
                bytes: i.total_size,
            })
            .collect(),
        charms: inventory
            .charms
            .iter()
            .map(|c| CharmRow {
                name: c.name.clone(),
                kind: format!("{:?}", c.kind),
                version: match &c.version {
                    CharmVersion::Revision(r) => format!("r{r}"),
                    CharmVersion::Hash(h) => h.clone(),
                },
            })
            .collect(),
        missing: check
            .map(|c| {
                c.missing_images
                    .iter()
                    .map(|i| format!("image {i}"))
                    .chain(c.missing_charms.iter().map(|n| format!("charm {n}")))
                    .collect()
            })
            .unwrap_or_default(),
        unused: check
            .map(|c| {
                c.unused_images
                    .iter()
                    .map(|i| format!("image {i}"))
                    .chain(c.unused_charms.iter().map(|n| format!("charm {n}")))
                    .collect()
            })
            .unwrap_or_default(),
    }
}

/// Every image and charm the bundle needs must be in the archives; unused ones are listed.
/// `report`: log the bundle's form and what is unused (the check after the read), or not (the
/// check against what the lock promises, before it).
fn cross_check_with_bundle(
    ctx: &StepContext,
    inventory: &Inventory,
    report: bool,
    carried: &DifferentialBase,
) -> Result<Option<BundleCheck>, StepError> {
    let Some(bundle) = OpenedBundle::chosen_with(&ctx.input::<ReleaseInput>(), inventory, carried)?
    else {
        ctx.log(
            Level::Info,
            "no bundle chosen yet: the images are checked against it in the mapping step",
        );
        return Ok(None);
    };
    bundle.cross_check(ctx, inventory, report).map(Some)
}

enum Precheck {
    /// Every need is in what the archive is promised to hold (or skipped with a reason).
    Passed,
    /// No bundle is chosen yet: the mapping step checks it.
    NoBundle,
    /// Nothing says what the archive holds before it is read.
    NoList,
}

/// What the archive is promised to hold, by gather's lock file beside it or by the retagged
/// list the operator named; None when neither is there.
fn promised_images(ctx: &StepContext) -> Result<Option<(String, Vec<ImageRecord>)>, StepError> {
    let input = ctx.input::<ArtifactsInput>();
    if let Some(lock_file) = &input.lock_file {
        let path = lock_file.path();
        let lock = read_lock(path)?;
        let records = lock
            .images
            .iter()
            .map(|i| ImageRecord::promised(&i.repo_tags, &i.member, Some(i.config_digest.clone())))
            .collect();
        return Ok(Some((path.display().to_string(), records)));
    }
    if let Some(path) = input.retagged_images.as_ref().map(|w| w.path()) {
        let text = std::fs::read_to_string(path).map_err(|e| {
            StepError::failed(format!(
                "cannot read {} ({e}); fix [artifacts] retagged_images or remove it",
                path.display()
            ))
        })?;
        let records = retagged_names(&text)
            .map(|name| ImageRecord::promised(&[name.to_owned()], "", None))
            .collect();
        return Ok(Some((path.display().to_string(), records)));
    }
    Ok(None)
}

fn retagged_names(text: &str) -> impl Iterator<Item = &str> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
}

/// The volumes the lock beside the archive lists, each checked as the stream passes it.
fn lock_volumes(
    ctx: &StepContext,
) -> Result<Vec<crate::artifacts::volumes::ExpectedVolume>, StepError> {
    match ctx.input::<ArtifactsInput>().lock_file {
        Some(lock) => Ok(read_lock(lock.path())?.expected_volumes()),
        None => Ok(Vec::new()),
    }
}

fn read_lock(path: &Path) -> Result<crate::gather::lock::ReleaseLock, StepError> {
    crate::gather::lock::ReleaseLock::read(path).map_err(StepError::failed)
}

/// The bundle's needs against the promised images and the charms just read.
/// In an upgrade, what the lock beside the archives says of the installed release: what its
/// lock holds that this differential set leaves out, and istio-pilot's intermediate charms.
/// Outside an upgrade, nothing (a differential set is only warned about there).
fn differential_base(ctx: &StepContext) -> Result<DifferentialBase, StepError> {
    if ctx.flow() != crate::wizard::Flow::Upgrade {
        return Ok(DifferentialBase::default());
    }
    let Some(lock_file) = ctx.input::<ArtifactsInput>().lock_file else {
        return Ok(DifferentialBase::default());
    };
    let lock = read_lock(lock_file.path())?;
    Ok(DifferentialBase {
        base: lock.base.clone(),
        hops: lock
            .charms
            .iter()
            .filter_map(|c| {
                Some(HopCharm {
                    track: c.upgrade_hop.clone()?,
                    file: c.file.clone(),
                })
            })
            .collect(),
    })
}

fn precheck_needs(
    ctx: &StepContext,
    charms: &[CharmInfo],
    carried: &DifferentialBase,
) -> Result<Precheck, StepError> {
    let Some(bundle) = ctx
        .input::<ReleaseInput>()
        .bundle_path()
        .map(Path::to_path_buf)
    else {
        return Ok(Precheck::NoBundle);
    };
    let Some((source, images)) = promised_images(ctx)? else {
        return Ok(Precheck::NoList);
    };
    let promised = Inventory {
        images,
        charms: charms.to_vec(),
    };
    let check = cross_check_with_bundle(ctx, &promised, false, carried)?
        .map(|c| c.check)
        .unwrap_or_default();
    if check.missing_images.is_empty() && check.missing_charms.is_empty() {
        ctx.log(
            Level::Info,
            format!(
                "{}: every image and charm it needs is in {source} and charms.tar.gz; reading \
                 the archive",
                bundle.display()
            ),
        );
        return Ok(Precheck::Passed);
    }
    Err(StepError::failed(format!(
        "stopped before reading images.tar.gz: by {source}, {}",
        missing_text(ctx, &check)
    )))
}

fn missing_error(ctx: &StepContext, check: &CrossCheck) -> StepError {
    StepError::failed(missing_text(ctx, check))
}

fn missing_text(ctx: &StepContext, check: &CrossCheck) -> String {
    let bundle = ctx
        .input::<ReleaseInput>()
        .bundle_path()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let mut text = format!("{} needs what the archives do not hold:", bundle.display());
    for image in &check.missing_images {
        text.push_str(&format!("\n  image {image}"));
    }
    for charm in &check.missing_charms {
        text.push_str(&format!("\n  charm {charm}"));
    }
    text.push_str(
        "\nAdd them on the connected side (images.tar.gz / charms.tar.gz) and copy the archives \
         again, or skip this step with a reason if you will provide them another way. For a \
         release bundle one item can be skipped with a reason: [skip] \"need:<application>/<what>\".",
    );
    text
}

struct LedgerHooks {
    ctx: StepContext,
    work: PathBuf,
    drop_spool: bool,
    stream: Option<Arc<super::stream_push::StreamPush>>,
}

impl ImageHooks for LedgerHooks {
    /// A member is done when its unit holds its image record (units of older sessions, which
    /// kept the record elsewhere, are read again).
    fn is_done(&mut self, member: &str) -> bool {
        self.ctx.detail(&ReadMember(member)).is_some()
    }

    fn image_ready(&mut self, record: &ImageRecord) -> Result<(), String> {
        let ctx = self.ctx.clone();
        let detail = ReadMemberDetail {
            record: record.clone(),
            spooled: !self.drop_spool,
            pushed: self.stream.is_some(),
        };
        let record_member = move || {
            ctx.record(&ReadMember(&detail.record.member), &detail)
                .map_err(|e| e.to_string())
        };
        match &self.stream {
            Some(stream) => {
                // Spools are dropped here, on the reader's thread, once their image is pushed:
                // after this member's record is saved, so a small blob it shares stays.
                if self.drop_spool {
                    for done in stream.take_pushed() {
                        artifacts::remove_image_spool(&self.work, &done)
                            .map_err(|e| e.to_string())?;
                    }
                }
                // The member is recorded once its image is in the registry.
                stream.push(record, record_member)
            }
            None => {
                if self.drop_spool {
                    artifacts::remove_image_spool(&self.work, record).map_err(|e| e.to_string())?;
                }
                record_member()
            }
        }
    }
}

fn forward(ctx: &StepContext, event: &ProgressEvent) {
    match event {
        ProgressEvent::Bytes { read, total, .. } => {
            ctx.progress(*read, Some(*total), Quantity::Bytes, None)
        }
        ProgressEvent::Member { name, .. } => ctx.phase(format!("reading {name}")),
        ProgressEvent::Phase(text) => ctx.phase(text.clone()),
        ProgressEvent::Warning(text) => ctx.log(Level::Warn, text.clone()),
        ProgressEvent::ImageReady { reference } => {
            ctx.log(Level::Info, format!("verified {reference}"))
        }
        ProgressEvent::Skipped { member } => ctx.log(
            Level::Info,
            format!("{member}: already read in an earlier run"),
        ),
        _ => {}
    }
}

/// The image records the ledger holds, one per member read, in reference order.
fn image_records(ctx: &StepContext) -> Vec<ImageRecord> {
    // A member is kept once, whichever spelling of its unit the session holds.
    let by_member: BTreeMap<String, ImageRecord> = ctx.with_state(|s| {
        s.record(ctx.step())
            .ledger
            .iter()
            .filter_map(|(key, v)| {
                let member = ReadMember::member_in(key)?;
                let detail: ReadMemberDetail = serde_json::from_value(v.clone()).ok()?;
                Some((member.to_string(), detail.record))
            })
            .collect()
    });
    let mut records: Vec<ImageRecord> = by_member.into_values().collect();
    records.sort_by(|a, b| a.reference.cmp(&b.reference));
    records
}

/// The charms read in an earlier run of this step, when its unit holds them.
fn charm_records(ctx: &StepContext) -> Option<Vec<CharmInfo>> {
    ctx.detail(&CharmsRead).map(|d| d.charms)
}
