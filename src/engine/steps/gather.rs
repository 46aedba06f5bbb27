//! `ckf-airgap gather`, the connected side's flow: what to gather → charms (Charmhub or a
//! folder) → the images list (from the charms themselves) → a daemonless pull → the archives
//! and the lock file. Every charm and image is a unit of the session's ledger, and every blob
//! pulled stays in the work directory under its digest, so a restarted gather repeats nothing.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::json;

use super::blocking::blocking;
use super::inputs::GatherInput;
use crate::artifacts::CharmInfo;
use crate::artifacts::charms::read_charm;
use crate::bundle::model::Bundle;
use crate::engine::context::StepContext;
use crate::engine::events::{Level, Quantity, amount};
use crate::engine::units::{GatheredCharm, GatheredCharmUnit, PulledImage, Summary};
use crate::engine::work::StepError;
use crate::gather::charmhub::{self, Charmhub};
use crate::gather::images::{GatherImage, images_to_gather, juju_images, pull_source};
use crate::gather::lock::{BaseLock, LockedCharm, LockedImage, RELEASE_LOCK_FILE, ReleaseLock};
use crate::gather::lock_signature;
use crate::gather::{ImagesArchive, archive, member_name, retag_name};
use crate::oci::Digest;
use crate::registry::{
    Credentials, Platform, RegistryClient, RegistryConfig, RegistryTarget, ResolvedImage,
    TlsOptions,
};
use crate::release::upgrade_path::{ISTIO_PILOT, istio_hops, istio_track, track_of};
use crate::release::{detect_release, release_needs};
use crate::wizard::state::GatherChoice;

const CHARMS_FILE: &str = "gather-charms.json";
const IMAGES_FILE: &str = "gather-images.json";
/// The target's images an upgrade's base lock already holds, not pulled.
const BASE_IMAGES_FILE: &str = "gather-base-images.json";
const DEFAULT_RETAG: &str = "172.17.0.2:5000";

fn choice(ctx: &StepContext) -> Result<GatherChoice, StepError> {
    ctx.input::<GatherInput>().gather.ok_or_else(|| {
        StepError::failed(
            "nothing to gather is chosen: give a release bundle, a folder of .charm files or an \
             image list ([gather] bundle / charms_dir / image_lists in the answers file)",
        )
    })
}

fn work_dir(ctx: &StepContext) -> PathBuf {
    ctx.session_dir().join("gather")
}

fn output_dir(ctx: &StepContext, choice: &GatherChoice) -> PathBuf {
    choice
        .output_dir
        .clone()
        .unwrap_or_else(|| ctx.session_dir().join("archives"))
}

fn write_json<T: serde::Serialize>(path: &Path, value: &T) -> Result<(), StepError> {
    let bytes = serde_json::to_vec_pretty(value).map_err(StepError::failed)?;
    crate::durable::write_file(path, &bytes)
        .map_err(|e| StepError::failed(format!("cannot write {}: {e}", path.display())))
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path, step: &str) -> Result<T, StepError> {
    let bytes = std::fs::read(path).map_err(|e| {
        StepError::failed(format!(
            "cannot read {} ({e}): run the {step} step first",
            path.display()
        ))
    })?;
    serde_json::from_slice(&bytes).map_err(|e| {
        StepError::failed(format!(
            "{} is damaged ({e}): run the {step} step again",
            path.display()
        ))
    })
}

/// What to gather: at least one source, each readable.
pub async fn source(ctx: StepContext) -> Result<(), StepError> {
    let choice = choice(&ctx)?;
    if choice.bundle.is_none() && choice.charms_dir.is_none() && choice.image_lists.is_empty() {
        return Err(StepError::failed(
            "nothing to gather: give a release bundle ([gather] bundle), a folder of .charm files \
             (charms_dir) or an image list (image_lists)",
        ));
    }
    let mut summary = Vec::new();
    if let Some(path) = &choice.bundle {
        let bundle = Bundle::load(path).map_err(StepError::failed)?;
        let release = detect_release(&bundle)
            .map(|d| format!("CKF {} ({})", d.release, d.evidence))
            .unwrap_or_else(|| "release not recognised from the channels".into());
        summary.push(format!(
            "{}: {} applications, {release}",
            path.display(),
            bundle.applications.len()
        ));
    }
    if let Some(dir) = &choice.charms_dir {
        let n = std::fs::read_dir(dir)
            .map_err(|e| StepError::failed(format!("cannot read {}: {e}", dir.display())))?
            .flatten()
            .filter(|e| e.path().extension().is_some_and(|x| x == "charm"))
            .count();
        summary.push(format!("{}: {n} .charm files", dir.display()));
    }
    for list in &choice.image_lists {
        let text = std::fs::read_to_string(list)
            .map_err(|e| StepError::failed(format!("cannot read {}: {e}", list.display())))?;
        let n = text.lines().filter(|l| !l.trim().is_empty()).count();
        summary.push(format!("{}: {n} images", list.display()));
    }
    if let Some(path) = &choice.upgrade_from {
        let base = read_base_lock(path)?;
        summary.push(format!(
            "an upgrade from {} ({}): the {} charms and {} images it holds are not archived again",
            base.release
                .as_deref()
                .map(|r| format!("CKF {r}"))
                .unwrap_or_else(|| "an unnamed release".into()),
            path.display(),
            base.charms.len(),
            base.images.len()
        ));
    }
    for line in &summary {
        ctx.log(Level::Info, line.clone());
    }
    ctx.record(&Summary::GatherSource, &json!({ "sources": summary }))
}

/// Every charm of the bundle: from the folder when it holds it, else from Charmhub at the
/// bundle's channel; each read as a charm, so a broken download is caught here.
pub async fn charms(ctx: StepContext) -> Result<(), StepError> {
    let choice = choice(&ctx)?;
    let dir = work_dir(&ctx).join("charms");
    let mut gathered: Vec<GatheredCharm> = Vec::new();
    // A folder's `<name>_r<N>.charm` names its Charmhub revision, which the lock records.
    let mut local: BTreeMap<String, (PathBuf, Option<u64>)> = BTreeMap::new();
    let mut istio_files: Vec<LocalIstio> = Vec::new();
    if let Some(d) = &choice.charms_dir {
        let mut paths: Vec<PathBuf> = std::fs::read_dir(d)
            .map_err(|e| StepError::failed(format!("cannot read {}: {e}", d.display())))?
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "charm"))
            .collect();
        paths.sort();
        for p in paths {
            let Some(name) = p.file_name().map(|n| n.to_string_lossy().into_owned()) else {
                continue;
            };
            let Some((charm, version)) = crate::artifacts::charms::parse_charm_file_name(&name)
            else {
                continue;
            };
            // Every istio-pilot file, kept apart: an upgrade takes one per Istio track it passes
            // through, each chosen by the version it installs, not by its revision.
            let revision = version.revision();
            if charm == ISTIO_PILOT {
                istio_files.push(LocalIstio {
                    track: istio_track(&read_charm_file(&p).await?),
                    path: p.clone(),
                    revision,
                });
                continue;
            }
            // Two files of one charm: the newest revision is taken, and said.
            if let Some((kept, kept_revision)) = local.get(&charm) {
                let (taken, left) = if revision > *kept_revision {
                    (p.clone(), kept.clone())
                } else {
                    (kept.clone(), p.clone())
                };
                ctx.log(
                    Level::Warn,
                    format!(
                        "{} holds two files of {charm}: {} is taken (the newest revision), {} \
                         is not",
                        d.display(),
                        taken.display(),
                        left.display()
                    ),
                );
                if revision <= *kept_revision {
                    continue;
                }
            }
            local.insert(charm, (p, revision));
        }
    }
    let mut wanted: Vec<(String, Option<String>, Option<String>)> = Vec::new();
    match &choice.bundle {
        Some(path) => {
            let bundle = Bundle::load(path).map_err(StepError::failed)?;
            for app in &bundle.applications {
                let name = app.charm_name();
                if !wanted.iter().any(|(n, _, _)| *n == name) {
                    wanted.push((name, app.channel.clone(), app.base.clone()));
                }
            }
        }
        None => wanted.extend(local.keys().map(|k| (k.clone(), None, None))),
    }
    let hub_url = choice
        .charmhub_url
        .clone()
        .unwrap_or_else(|| charmhub::DEFAULT_URL.to_owned());
    let tls = TlsOptions {
        ca_file: choice.ca_file.clone(),
        ..TlsOptions::default()
    };
    let hub = Charmhub::new(&hub_url, &tls).map_err(StepError::failed)?;
    let total = wanted.len() as u64;
    for (i, (name, channel, base)) in wanted.iter().enumerate() {
        ctx.progress(i as u64, Some(total), Quantity::Items, Some(name.clone()));
        let unit = GatheredCharmUnit(name);
        if let Some(g) = ctx.detail(&unit)
            && g.path.exists()
        {
            gathered.push(g);
            continue;
        }
        let local_file = if name == ISTIO_PILOT {
            local_istio(&istio_files, channel.as_deref())
        } else {
            local.get(name).cloned()
        };
        let (path, revision) = match local_file {
            Some(found) => found,
            None => {
                let channel = channel.clone().unwrap_or_else(|| "stable".into());
                ctx.phase(format!("downloading {name} ({channel}) from {hub_url}"));
                let release = hub
                    .info(name, &channel, base.as_deref())
                    .await
                    .map_err(StepError::failed)?;
                let path = hub
                    .download(&release, &dir)
                    .await
                    .map_err(StepError::failed)?;
                (path, Some(release.revision))
            }
        };
        let info = read_charm_file(&path).await?;
        let g = GatheredCharm {
            info,
            path,
            channel: channel.clone(),
            revision,
            upgrade_hop: None,
        };
        ctx.record(&unit, &g)?;
        gathered.push(g);
    }
    ctx.progress(total, Some(total), Quantity::Items, None);
    if let Some(base) = &choice.upgrade_from {
        let installed = read_base_lock(base)?
            .charms
            .iter()
            .find(|c| c.name == ISTIO_PILOT && c.upgrade_hop.is_none())
            .and_then(|c| c.channel.clone());
        let target = wanted
            .iter()
            .find(|(n, _, _)| n == ISTIO_PILOT)
            .map(|(_, channel, base)| (channel.clone(), base.clone()));
        match (installed, target) {
            (Some(installed), Some((Some(channel), base))) => {
                let hops = istio_hops(&installed, &channel).map_err(StepError::failed)?;
                let hop = HopSource {
                    hub: &hub,
                    hub_url: &hub_url,
                    dir: &dir,
                    local: &istio_files,
                    base: base.as_deref(),
                };
                for track in &hops {
                    gathered.push(gather_hop(&ctx, &hop, track).await?);
                }
                ctx.log(
                    Level::Info,
                    if hops.is_empty() {
                        format!(
                            "istio-pilot {installed} → {channel}: no intermediate version to pass \
                             through"
                        )
                    } else {
                        format!(
                            "istio-pilot goes from {installed} to {channel} one minor version at \
                             a time: {} intermediate charm(s) gathered ({})",
                            hops.len(),
                            hops.join(", ")
                        )
                    },
                );
            }
            _ => ctx.log(
                Level::Warn,
                "istio-pilot is not in both the installed release's lock (with its channel) and \
                 the bundle: no intermediate Istio versions are gathered",
            ),
        }
    }
    write_json(&ctx.session_dir().join(CHARMS_FILE), &gathered)?;
    ctx.log(
        Level::Info,
        format!(
            "{} charm(s) gathered into {}",
            gathered.len(),
            dir.display()
        ),
    );
    Ok(())
}

/// Where an upgrade's intermediate istio-pilot charms come from.
struct HopSource<'a> {
    hub: &'a Charmhub,
    hub_url: &'a str,
    dir: &'a Path,
    /// Every istio-pilot file of the charms folder.
    local: &'a [LocalIstio],
    base: Option<&'a str>,
}

/// istio-pilot for `track`: the folder's file that installs that Istio version, else Charmhub's
/// `<track>/stable`; read, and refused when it installs another version.
async fn gather_hop(
    ctx: &StepContext,
    source: &HopSource<'_>,
    track: &str,
) -> Result<GatheredCharm, StepError> {
    let key = format!("{ISTIO_PILOT}@{track}");
    let unit = GatheredCharmUnit(&key);
    if let Some(g) = ctx.detail(&unit)
        && g.path.exists()
    {
        return Ok(g);
    }
    let channel = format!("{track}/stable");
    let (path, revision) = match local_istio(source.local, Some(&channel)) {
        Some(found) => found,
        None => {
            ctx.phase(format!(
                "downloading {ISTIO_PILOT} ({channel}) from {}",
                source.hub_url
            ));
            let release = source
                .hub
                .info(ISTIO_PILOT, &channel, source.base)
                .await
                .map_err(StepError::failed)?;
            let path = source
                .hub
                .download(&release, source.dir)
                .await
                .map_err(StepError::failed)?;
            (path, Some(release.revision))
        }
    };
    let info = read_charm_file(&path).await?;
    if istio_track(&info).as_deref() != Some(track) {
        let installs = crate::artifacts::charm_images::istio_tag(&info);
        return Err(StepError::failed(format!(
            "{} is istio-pilot for {channel}, but it installs Istio {}: put the {track} charm in \
             the charms folder ([gather] charms_dir) or check the channel",
            path.display(),
            installs
                .as_deref()
                .unwrap_or("(no global-tag in its image-configuration)")
        )));
    }
    let g = GatheredCharm {
        info,
        path,
        channel: Some(channel),
        revision,
        upgrade_hop: Some(track.to_owned()),
    };
    ctx.record(&unit, &g)?;
    Ok(g)
}

/// An istio-pilot file of the charms folder, read once, with the Istio track it installs.
struct LocalIstio {
    path: PathBuf,
    revision: Option<u64>,
    track: Option<String>,
}

/// The folder's istio-pilot file for `channel`: the one whose own config installs that
/// channel's Istio version (several may be there, one per track), or the only one when the
/// channel names no version.
fn local_istio(files: &[LocalIstio], channel: Option<&str>) -> Option<(PathBuf, Option<u64>)> {
    let track = channel.and_then(track_of);
    let found = match (&track, files) {
        (None, [only]) => Some(only),
        (None, _) => None,
        (Some(_), _) => files.iter().find(|f| f.track == track),
    };
    found.map(|f| (f.path.clone(), f.revision))
}

/// A charm file read as a charm, off the async threads.
async fn read_charm_file(path: &Path) -> Result<CharmInfo, StepError> {
    let label = path.display().to_string();
    let read_path = path.to_path_buf();
    blocking(move || read_charm(&read_path, &label)).await
}

/// `[gather] upgrade_from`, read; the error names the file and what to do.
fn read_base_lock(path: &Path) -> Result<ReleaseLock, StepError> {
    ReleaseLock::read(path).map_err(|e| {
        StepError::failed(format!(
            "{e}: [gather] upgrade_from names the installed release's {RELEASE_LOCK_FILE}, \
             as the gather of that release wrote it"
        ))
    })
}

/// The images list, from the charms themselves, the lists, and Juju's images; shown before
/// any pull, by registry, with Docker Hub's anonymous limit when it applies.
pub async fn images(ctx: StepContext) -> Result<(), StepError> {
    let choice = choice(&ctx)?;
    let charms: Vec<GatheredCharm> = read_json(&ctx.session_dir().join(CHARMS_FILE), "Charms")?;
    let infos: Vec<CharmInfo> = charms
        .iter()
        .filter(|c| c.upgrade_hop.is_none())
        .map(|c| c.info.clone())
        .collect();
    let mut apps = match &choice.bundle {
        Some(path) => {
            let bundle = Bundle::load(path).map_err(StepError::failed)?;
            release_needs(&bundle, &infos)
        }
        None => infos
            .iter()
            .map(|c| crate::release::AppNeeds {
                application: c.name.clone(),
                charm: c.name.clone(),
                charm_info: Some(c.clone()),
                needs: crate::artifacts::charm_images::image_needs(c),
                image_options: crate::artifacts::charm_images::image_options(c),
            })
            .collect(),
    };
    // Each intermediate istio-pilot installs its own Istio images.
    for hop in &charms {
        if let Some(track) = &hop.upgrade_hop {
            apps.push(crate::release::AppNeeds {
                application: format!("{ISTIO_PILOT} (upgrade hop {track})"),
                charm: ISTIO_PILOT.into(),
                charm_info: Some(hop.info.clone()),
                needs: crate::artifacts::charm_images::image_needs(&hop.info),
                image_options: crate::artifacts::charm_images::image_options(&hop.info),
            });
        }
    }
    let mut lists = Vec::new();
    for list in &choice.image_lists {
        let text = std::fs::read_to_string(list)
            .map_err(|e| StepError::failed(format!("cannot read {}: {e}", list.display())))?;
        lists.push((
            list.display().to_string(),
            text.lines().map(str::to_owned).collect(),
        ));
    }
    let bases: Vec<String> = infos.iter().flat_map(|c| c.bases.clone()).collect();
    let juju = choice
        .juju_version
        .as_deref()
        .map(|v| juju_images(v, &bases))
        .unwrap_or_default();
    if choice.juju_version.is_none() {
        ctx.log(
            Level::Warn,
            "no Juju version given ([gather] juju_version): Juju's own images are not gathered",
        );
    }
    let mut list = images_to_gather(&apps, &lists, &juju);
    if let Some(kubeconfig) = &choice.record_kubeconfig {
        record_from_cluster(
            &ctx,
            kubeconfig,
            choice.record_namespace.as_deref(),
            &mut list,
        )
        .await?;
    }
    let mut in_base = Vec::new();
    if let Some(base) = &choice.upgrade_from {
        let base_lock = read_base_lock(base)?;
        let (held, new): (Vec<GatherImage>, Vec<GatherImage>) = list
            .into_iter()
            .partition(|i| base_lock.holds_image(&i.upstream));
        list = new;
        in_base = held.into_iter().map(|i| i.upstream).collect();
        ctx.log(
            Level::Info,
            format!(
                "{} image(s) the installed release already has are not pulled (they stay in the \
                 private registry); {} are new",
                in_base.len(),
                list.len()
            ),
        );
    }
    write_json(&ctx.session_dir().join(BASE_IMAGES_FILE), &in_base)?;
    let mut by_registry: BTreeMap<String, usize> = BTreeMap::new();
    for image in &list {
        *by_registry
            .entry(pull_source(&image.upstream).registry)
            .or_default() += 1;
    }
    let mut text = format!("{} images to pull:", list.len());
    for (registry, n) in &by_registry {
        text.push_str(&format!("\n  {n} from {registry}"));
    }
    let hub_direct = !choice.mirrors.contains_key("docker.io");
    if hub_direct
        && by_registry.get("docker.io").is_some_and(|n| *n > 10)
        && !docker_hub_credentials(docker_config_path().as_deref())
    {
        text.push_str(
            "\nDocker Hub allows 10 anonymous pulls an hour: log in first (`docker login`, \
             whose config.json this tool reads) or pull through a mirror.",
        );
    }
    for line in text.lines() {
        ctx.log(Level::Info, line.to_owned());
    }
    write_json(&ctx.session_dir().join(IMAGES_FILE), &list)?;
    ctx.record(&Summary::GatherImages, &json!({ "count": list.len() }))
}

/// Record mode: every image the staging cluster's workloads run that the list does not hold is
/// added with where it was seen, and the additions are shown apart from the charms' images.
async fn record_from_cluster(
    ctx: &StepContext,
    kubeconfig: &std::path::Path,
    namespace: Option<&str>,
    list: &mut Vec<GatherImage>,
) -> Result<(), StepError> {
    let namespace = namespace.unwrap_or("kubeflow");
    ctx.phase(format!(
        "reading the workloads of {namespace} in the cluster of {}",
        kubeconfig.display()
    ));
    let seen = crate::cluster::pod_images::list_workloads(
        &super::blocking::runner(),
        kubeconfig,
        namespace,
    )
    .await
    .map_err(|e| {
        StepError::failed(format!(
            "record mode could not read the staging cluster ({}, namespace {namespace}): {e}. \
                 Fix [gather] record_kubeconfig / record_namespace, or remove them to gather \
                 only what the charms name",
            kubeconfig.display()
        ))
    })?;
    if seen.is_empty() {
        return Err(StepError::failed(format!(
            "record mode found no workload in namespace {namespace} of the cluster of {}: a \
             staging cluster running the release has its model there. Set [gather] \
             record_namespace to the model's name, or remove record_kubeconfig",
            kubeconfig.display()
        )));
    }
    let known: std::collections::HashSet<String> = list
        .iter()
        .map(|i| crate::image_ref::normalize_reference(&i.upstream))
        .collect();
    let mut added: Vec<GatherImage> = Vec::new();
    for w in seen {
        if known.contains(&crate::image_ref::normalize_reference(&w.image)) {
            continue;
        }
        match added.iter_mut().find(|a| a.upstream == w.image) {
            Some(a) => {
                if !a.seen_in.contains(&w.seen_in()) {
                    a.seen_in.push(w.seen_in())
                }
            }
            None => added.push(GatherImage {
                upstream: w.image.clone(),
                needed_by: vec![format!("seen in {namespace}")],
                seen_in: vec![w.seen_in()],
            }),
        }
    }
    if added.is_empty() {
        ctx.log(
            Level::Info,
            format!(
                "record mode: every image the workloads of {namespace} run is named by a charm"
            ),
        );
        return Ok(());
    }
    ctx.log(
        Level::Warn,
        format!(
            "record mode: {} image(s) the workloads of {namespace} run that no charm names, \
             gathered too:",
            added.len()
        ),
    );
    for a in &added {
        ctx.log(
            Level::Warn,
            format!("  {} (seen in {})", a.upstream, a.seen_in.join(", ")),
        );
    }
    list.extend(added);
    Ok(())
}

/// A client per upstream registry (or its mirror), with the site's CA and Docker's
/// credentials when present.
fn upstream_client(host: &str, choice: &GatherChoice) -> Result<RegistryClient, StepError> {
    let target = RegistryTarget::parse(host).map_err(StepError::failed)?;
    let mut config = RegistryConfig::new(target);
    config.tls.ca_file = choice.ca_file.clone();
    config.tls.certs_dir = choice.certs_dir.clone();
    config.tls.plain_http = choice.plain_http.iter().any(|h| h == host);
    config.credentials = match docker_config_path() {
        Some(p) if p.exists() => Credentials::DockerConfig { path: Some(p) },
        _ => Credentials::Anonymous,
    };
    RegistryClient::new(config).map_err(StepError::failed)
}

/// Docker's `config.json`, where `docker login` leaves credentials: `$DOCKER_CONFIG`, else
/// `~/.docker`.
fn docker_config_path() -> Option<PathBuf> {
    std::env::var_os("DOCKER_CONFIG")
        .map(|d| PathBuf::from(d).join("config.json"))
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".docker/config.json")))
}

/// Whether `config` holds credentials Docker Hub would take (an `auths` entry or a credential
/// helper for it), so its anonymous limit is not met.
fn docker_hub_credentials(config: Option<&std::path::Path>) -> bool {
    let Some(text) = config.and_then(|p| std::fs::read(p).ok()) else {
        return false;
    };
    let Ok(json) = serde_json::from_slice::<serde_json::Value>(&text) else {
        return false;
    };
    // A `credsStore` alone says where credentials would be kept, not that Docker Hub's are: a
    // login leaves an `auths` entry for it (empty when the store holds the secret).
    let hub = |key: &str| key.contains("docker.io");
    json.get("auths")
        .and_then(|a| a.as_object())
        .is_some_and(|a| a.keys().any(|k| hub(k)))
        || json
            .get("credHelpers")
            .and_then(|a| a.as_object())
            .is_some_and(|a| a.keys().any(|k| hub(k)))
}

/// The client for an image's registry, or the mirror that stands for it; one per host.
fn client_for(
    clients: &mut BTreeMap<String, RegistryClient>,
    src: &crate::gather::images::PullSource,
    choice: &GatherChoice,
) -> Result<RegistryClient, StepError> {
    let host = choice
        .mirrors
        .get(&src.registry)
        .cloned()
        .unwrap_or_else(|| src.host.clone());
    if let Some(c) = clients.get(&host) {
        return Ok(c.clone());
    }
    let c = upstream_client(&host, choice)?;
    clients.insert(host, c.clone());
    Ok(c)
}

/// Every image resolved to the chosen platform and its blobs pulled, verified; one that
/// cannot be pulled never stops the rest, and the failures are listed at the end with who
/// needs each.
pub async fn pull(ctx: StepContext) -> Result<(), StepError> {
    let choice = choice(&ctx)?;
    let list: Vec<GatherImage> = read_json(&ctx.session_dir().join(IMAGES_FILE), "Images list")?;
    let platform = match &choice.platform {
        Some(p) => Platform::parse(p).ok_or_else(|| {
            StepError::failed(format!(
                "{p:?} is not a platform: write os/arch, e.g. linux/amd64"
            ))
        })?,
        None => Platform::default(),
    };
    let blobs = work_dir(&ctx).join("blobs");
    let mut clients: BTreeMap<String, RegistryClient> = BTreeMap::new();
    let mut failures = Vec::new();
    let bytes = Arc::new(AtomicU64::new(0));
    let total = list.len() as u64;
    for (i, image) in list.iter().enumerate() {
        let unit = PulledImage(&image.upstream);
        ctx.progress(
            i as u64,
            Some(total),
            Quantity::Items,
            Some(image.upstream.clone()),
        );
        if ctx.done(&unit) {
            continue;
        }
        if ctx.is_cancelled() {
            return Err(StepError::Cancelled);
        }
        let src = pull_source(&image.upstream);
        let client = client_for(&mut clients, &src, &choice)?;
        ctx.phase(format!("pulling {}", image.upstream));
        let result = async {
            let resolved = client
                .resolve_image(&src.repository, &src.reference, &platform)
                .await?;
            // The image's bytes as they arrive: a big image is minutes of work.
            let image_total =
                resolved.config.size + resolved.layers.iter().map(|l| l.size).sum::<u64>();
            let image_done = Arc::new(AtomicU64::new(0));
            for blob in std::iter::once(&resolved.config).chain(&resolved.layers) {
                let counter = bytes.clone();
                let done = image_done.clone();
                let progress = ctx.clone();
                let item = image.upstream.clone();
                let waiting = ctx.clone();
                client
                    .pull_blob(
                        &src.repository,
                        blob,
                        &blobs,
                        &move |n| {
                            counter.fetch_add(n, Ordering::Relaxed);
                            let so_far = done.fetch_add(n, Ordering::Relaxed) + n;
                            progress.progress(
                                so_far,
                                Some(image_total),
                                Quantity::Bytes,
                                Some(item.clone()),
                            );
                        },
                        &move |why| {
                            waiting.log(Level::Warn, why.clone());
                            waiting.phase(why);
                        },
                    )
                    .await?;
            }
            Ok::<ResolvedImage, crate::registry::RegistryError>(resolved)
        }
        .await;
        match result {
            Ok(resolved) => {
                ctx.record(&unit, &resolved)?;
            }
            Err(e) => {
                ctx.log(Level::Error, format!("{}: {e}", image.upstream));
                failures.push(format!(
                    "{} (needed by {}): {e}",
                    image.upstream,
                    image.needed_by.join(", ")
                ));
            }
        }
    }
    ctx.progress(total, Some(total), Quantity::Items, None);
    ctx.log(
        Level::Info,
        format!(
            "{} pulled this run",
            crate::engine::events::amount(bytes.load(Ordering::Relaxed), Quantity::Bytes)
        ),
    );
    if failures.is_empty() {
        return Ok(());
    }
    let text = format!(
        "{} image(s) could not be pulled:\n  {}",
        failures.len(),
        failures.join("\n  ")
    );
    if choice.accept_missing {
        ctx.log(
            Level::Warn,
            format!("{text}\nAccepted as missing ([gather] accept_missing)."),
        );
        return Ok(());
    }
    Err(StepError::failed(format!(
        "{text}\nRetry pulls only these; or write the archives without them \
         ([gather] accept_missing = true), and they are listed in the lock file."
    )))
}

/// A failed archive write as the step reports it: the archive, the cause, and what to do when
/// the disk is full (the archive is left under its temporary name, never as done). A stop or a
/// question passes through as it is.
fn write_failure(archive: &std::path::Path, e: StepError) -> StepError {
    let StepError::Failed(text) = e else {
        return e;
    };
    let full = text.contains("No space left on device") || text.contains("no storage space");
    let dir = archive.parent().unwrap_or(archive);
    StepError::failed(if full {
        format!(
            "cannot write {}: {text}. Free space in {} (the archive needs about the size of the \
             images pulled) or set [gather] output_dir to a larger disk, then retry; the \
             archive is left unfinished under a temporary name, and blobs already dropped into \
             it are fetched again",
            archive.display(),
            dir.display()
        )
    } else {
        format!("cannot write {}: {text}", archive.display())
    })
}

/// `images.tar.gz`, `retagged-images.txt`, `charms.tar.gz` and the lock file.
pub async fn write(ctx: StepContext) -> Result<(), StepError> {
    let choice = choice(&ctx)?;
    let max_volume = choice
        .max_volume_size
        .as_deref()
        .map(crate::byte_size::parse_byte_size)
        .transpose()
        .map_err(|e| StepError::failed(format!("[gather] max_volume_size: {e}")))?;
    let list: Vec<GatherImage> = read_json(&ctx.session_dir().join(IMAGES_FILE), "Images list")?;
    let charms: Vec<GatheredCharm> = read_json(&ctx.session_dir().join(CHARMS_FILE), "Charms")?;
    let out = output_dir(&ctx, &choice);
    std::fs::create_dir_all(&out)
        .map_err(|e| StepError::failed(format!("cannot create {}: {e}", out.display())))?;
    let retag = choice
        .retag_registry
        .clone()
        .unwrap_or_else(|| DEFAULT_RETAG.into());
    let blobs = work_dir(&ctx).join("blobs");
    let mut pulled: Vec<(GatherImage, ResolvedImage)> = Vec::new();
    let mut missing = Vec::new();
    for image in &list {
        match ctx.detail_of(
            crate::wizard::Step::GatherPull,
            &PulledImage(&image.upstream),
        ) {
            Some(r) => pulled.push((image.clone(), r)),
            None => missing.push(crate::gather::lock::MissingImage {
                image: image.upstream.clone(),
                needed_by: image.needed_by.clone(),
            }),
        }
    }
    // A write interrupted after dropping blobs finds them gone: fetch those again first.
    let mut clients = BTreeMap::new();
    for (image, resolved) in &pulled {
        for blob in std::iter::once(&resolved.config).chain(&resolved.layers) {
            if blobs.join(blob.digest.hex()).exists() {
                continue;
            }
            let src = pull_source(&image.upstream);
            let client = client_for(&mut clients, &src, &choice)?;
            ctx.phase(format!(
                "fetching {} of {} again",
                blob.digest, image.upstream
            ));
            client
                .pull_blob(&src.repository, blob, &blobs, &|_| {}, &|_| {})
                .await
                .map_err(StepError::failed)?;
        }
    }
    // Each blob is dropped once the last member that holds it is written, so the disk holds
    // the archive and what is still to be written, not both whole.
    let mut uses: BTreeMap<Digest, usize> = BTreeMap::new();
    for (_, resolved) in &pulled {
        for blob in std::iter::once(&resolved.config).chain(&resolved.layers) {
            *uses.entry(blob.digest.clone()).or_default() += 1;
        }
    }
    let images_path = out.join("images.tar.gz");
    ctx.phase(format!("writing {}", images_path.display()));
    let total = pulled.len() as u64;
    let ctx2 = ctx.clone();
    let retag2 = retag.clone();
    let images_shown = images_path.clone();
    let (entries, volumes) = blocking(move || -> std::io::Result<_> {
        let mut archive = ImagesArchive::create(&images_path, max_volume)?;
        let mut locked = Vec::new();
        for (i, (image, resolved)) in pulled.iter().enumerate() {
            ctx2.progress(
                i as u64,
                Some(total),
                Quantity::Items,
                Some(image.upstream.clone()),
            );
            let retagged = retag_name(&image.upstream, &retag2);
            let mut tags = vec![retagged.clone()];
            if !image.upstream.contains('@') {
                tags.push(image.upstream.clone());
            }
            archive.add(resolved, &blobs, &tags)?;
            for blob in std::iter::once(&resolved.config).chain(&resolved.layers) {
                if let Some(n) = uses.get_mut(&blob.digest) {
                    *n -= 1;
                    if *n == 0 {
                        std::fs::remove_file(blobs.join(blob.digest.hex()))?;
                    }
                }
            }
            let size = resolved.config.size + resolved.layers.iter().map(|l| l.size).sum::<u64>();
            locked.push(LockedImage {
                upstream: image.upstream.clone(),
                index_digest: resolved.index_digest.clone(),
                manifest_digest: resolved.manifest_digest.clone(),
                config_digest: resolved.config.digest.clone(),
                repo_tags: tags,
                member: member_name(&retagged),
                size,
                needed_by: image.needed_by.clone(),
                seen_in: image.seen_in.clone(),
            });
        }
        let volumes = archive.finish()?;
        Ok((locked, volumes))
    })
    .await
    .map_err(|e| write_failure(&images_shown, e))?;
    if !volumes.is_empty() {
        ctx.log(
            Level::Info,
            format!(
                "images.tar.gz is cut into {} volumes of at most {} ({} … {}): carry them all; \
                 cat images.tar.gz.* > images.tar.gz joins them",
                volumes.len(),
                amount(max_volume.unwrap_or_default(), Quantity::Bytes),
                volumes[0].file,
                volumes[volumes.len() - 1].file
            ),
        );
    }
    let base = match &choice.upgrade_from {
        Some(path) => Some((path.clone(), read_base_lock(path)?)),
        None => None,
    };
    // A charm the installed release runs in this very file is not carried again.
    let (charms, unchanged): (Vec<GatheredCharm>, Vec<GatheredCharm>) =
        charms.into_iter().partition(|c| match &base {
            Some((_, lock)) => {
                c.upgrade_hop.is_some() || !lock.holds_charm(&c.info.name, &c.info.sha256)
            }
            None => true,
        });
    if !unchanged.is_empty() {
        ctx.log(
            Level::Info,
            format!(
                "{} charm(s) the installed release runs in the same file are not carried again: {}",
                unchanged.len(),
                unchanged
                    .iter()
                    .map(|c| c.info.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        );
    }
    let charm_files: Vec<PathBuf> = charms.iter().map(|c| c.path.clone()).collect();
    let charms_path = out.join("charms.tar.gz");
    let charms_target = charms_path.clone();
    blocking(move || archive::write_charms_archive(&charms_target, &charm_files))
        .await
        .map_err(|e| write_failure(&charms_path, e))?;
    let bundle_sha256 = match &choice.bundle {
        Some(p) => Some(crate::artifacts::spool::sha256_file(p).map_err(StepError::failed)?),
        None => None,
    };
    let release = match &choice.bundle {
        Some(p) => Bundle::load(p)
            .ok()
            .and_then(|b| detect_release(&b))
            .map(|d| d.release.to_string()),
        None => None,
    };
    let exe = std::env::current_exe().map_err(|e| {
        StepError::failed(format!(
            "cannot find the running ckf-airgap to copy it beside the archives: {e}"
        ))
    })?;
    let tool_out = out.clone();
    let tool = blocking(move || {
        crate::gather::tool_copy::copy_tool(&exe, &tool_out, crate::version::TOOL_VERSION)
    })
    .await?;
    let lock = ReleaseLock {
        volumes,
        tool_version: env!("CARGO_PKG_VERSION").into(),
        tool: Some(tool),
        release,
        bundle_sha256,
        charms: charms
            .iter()
            .map(|c| LockedCharm {
                name: c.info.name.clone(),
                file: c.info.file_name.clone(),
                channel: c.channel.clone(),
                revision: c.revision,
                sha256: c.info.sha256.clone(),
                bases: c.info.bases.clone(),
                upgrade_hop: c.upgrade_hop.clone(),
            })
            .collect(),
        juju_images: entries
            .iter()
            .filter(|e| e.needed_by.iter().any(|n| n == "juju"))
            .map(|e| e.upstream.clone())
            .collect(),
        images: entries,
        missing: missing.clone(),
        base: match &base {
            Some((path, lock)) => Some(BaseLock {
                file: path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default(),
                sha256: crate::artifacts::spool::sha256_file(path).map_err(StepError::failed)?,
                release: lock.release.clone(),
                images: read_json(&ctx.session_dir().join(BASE_IMAGES_FILE), "Images list")?,
                charms: unchanged.iter().map(|c| c.info.name.clone()).collect(),
            }),
            None => None,
        },
    };
    let lock_path = out.join(RELEASE_LOCK_FILE);
    let bytes = serde_json::to_vec_pretty(&lock).map_err(StepError::failed)?;
    // Signed before either file is written, so a key that cannot sign leaves no lock behind
    // that a later run would take for finished.
    let signature = sign_lock(&choice, &bytes)?;
    crate::durable::write_file_with(&lock_path, &bytes, 0o644, None)
        .map_err(|e| StepError::failed(format!("cannot write {}: {e}", lock_path.display())))?;
    write_lock_signature(&ctx, &lock_path, signature.as_deref())?;
    ctx.log(
        Level::Info,
        format!(
            "written to {}: images.tar.gz ({} images), retagged-images.txt, charms.tar.gz ({} charms), {RELEASE_LOCK_FILE}, ckf-airgap{}",
            out.display(),
            lock.images.len(),
            lock.charms.len(),
            if missing.is_empty() {
                String::new()
            } else {
                format!(
                    "; missing: {}",
                    missing
                        .iter()
                        .map(|m| m.describe())
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            }
        ),
    );
    ctx.record(
        &Summary::GatherArchives,
        &json!({ "dir": out, "images": lock.images.len() }),
    )
}

fn sign_lock(choice: &GatherChoice, lock: &[u8]) -> Result<Option<String>, StepError> {
    let Some(key) = &choice.sign_key else {
        return Ok(None);
    };
    let agent = std::env::var_os("SSH_AUTH_SOCK")
        .filter(|s| !s.is_empty())
        .map(PathBuf::from);
    lock_signature::sign(lock, key, agent.as_deref())
        .map(Some)
        .map_err(StepError::failed)
}

/// Writes the signature beside the lock, or removes one an earlier run left, which would no
/// longer match.
fn write_lock_signature(
    ctx: &StepContext,
    lock_path: &Path,
    signature: Option<&str>,
) -> Result<(), StepError> {
    let path = lock_signature::signature_path(lock_path);
    let Some(signature) = signature else {
        return match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(StepError::failed(format!(
                "cannot remove the stale signature {}: {e}; remove it by hand",
                path.display()
            ))),
            _ => Ok(()),
        };
    };
    crate::durable::write_file_with(&path, signature.as_bytes(), 0o644, None)
        .map_err(|e| StepError::failed(format!("cannot write {}: {e}", path.display())))?;
    ctx.log(
        Level::Info,
        format!(
            "signed the lock: {} (check it with ssh-keygen -Y verify -n {} …)",
            path.display(),
            lock_signature::NAMESPACE
        ),
    );
    Ok(())
}

/// What to carry across the gap.
pub async fn done(ctx: StepContext) -> Result<(), StepError> {
    let choice = choice(&ctx)?;
    let out = output_dir(&ctx, &choice);
    ctx.log(
        Level::Info,
        format!(
            "carry {} across the gap: images.tar.gz, charms.tar.gz, retagged-images.txt, {RELEASE_LOCK_FILE}{} and ckf-airgap (this tool, to run on the far side), with the release bundle",
            out.display(),
            if choice.sign_key.is_some() {
                format!(", {RELEASE_LOCK_FILE}.sig (its signature)")
            } else {
                String::new()
            }
        ),
    );
    ctx.phase("the archives are ready");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{StepError, docker_hub_credentials, write_failure};

    #[test]
    fn a_full_disk_while_writing_an_archive_names_it_and_what_to_do() {
        let archive = std::path::Path::new("/srv/carry/images.tar.gz");
        let full = std::io::Error::from_raw_os_error(28); // ENOSPC, as write(2) reports it
        let e = write_failure(
            archive,
            StepError::failed(format!("/srv/carry/images.tar.gz.part: {full}")),
        );
        let text = e.to_string();
        assert!(
            text.starts_with("cannot write /srv/carry/images.tar.gz: "),
            "{text}"
        );
        assert!(text.contains("Free space in /srv/carry"), "{text}");
        assert!(text.contains("[gather] output_dir"), "{text}");
        let other = write_failure(archive, StepError::failed("blobs/ab: Permission denied"));
        assert_eq!(
            other.to_string(),
            "cannot write /srv/carry/images.tar.gz: blobs/ab: Permission denied"
        );
        // A stop is not a failure to write.
        assert!(matches!(
            write_failure(archive, StepError::Cancelled),
            StepError::Cancelled
        ));
    }

    #[test]
    fn docker_hub_credentials_are_read_from_every_form_docker_login_leaves() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let cases = [
            (
                r#"{"auths": {"https://index.docker.io/v1/": {"auth": "eA=="}}}"#,
                true,
            ),
            (r#"{"credsStore": "desktop"}"#, false),
            (
                r#"{"credsStore": "desktop", "auths": {"https://index.docker.io/v1/": {}}}"#,
                true,
            ),
            (r#"{"credHelpers": {"registry-1.docker.io": "pass"}}"#, true),
            (r#"{"auths": {"quay.io": {"auth": "eA=="}}}"#, false),
            ("not json", false),
        ];
        for (text, expected) in cases {
            let p = dir.path().join("config.json");
            std::fs::write(&p, text).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(docker_hub_credentials(Some(&p)), expected, "{text}");
        }
        assert!(!docker_hub_credentials(Some(
            &dir.path().join("absent.json")
        )));
        assert!(!docker_hub_credentials(None));
    }
}
