//! `charms.tar.gz`: a flat tar of `juju download` outputs. Each `.charm` is
//! extracted (hashed on the way, renamed into place when complete) and its
//! zip is read for what the wizard needs: name, kind, OCI resources, config
//! options and bases.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{BufReader, Read};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use saphyr::{LoadableYamlNode, Yaml};
use serde::{Deserialize, Serialize};

use super::error::{ArtifactError, Result};
use super::progress::{CountingReader, ProgressEvent, ProgressSink, Reporter, is_cancel_error};
use super::safety::{is_plain_file_name, normalize_entry_path};
use super::spool::{TEMP_PREFIX, map_write_error, write_mapped};

const YAML_MAX: u64 = 4 << 20;

pub use crate::charm_kind::CharmKind;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum CharmVersion {
    Revision(u64),
    Hash(String),
}

impl CharmVersion {
    /// The Charmhub revision, when the file name gives one (`_r<N>`).
    pub fn revision(&self) -> Option<u64> {
        match self {
            CharmVersion::Revision(n) => Some(*n),
            CharmVersion::Hash(_) => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CharmResource {
    pub name: String,
    pub kind: String,
    pub upstream_source: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CharmOption {
    pub name: String,
    pub kind: String,
    /// Default rendered as text; None when the option has no default.
    pub default: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CharmInfo {
    /// Name from metadata.yaml.
    pub name: String,
    pub file_name: String,
    pub version: CharmVersion,
    pub kind: CharmKind,
    /// All resources; `kind == "oci-image"` ones need `--resource` on deploy.
    pub resources: Vec<CharmResource>,
    pub options: Vec<CharmOption>,
    /// `ubuntu@22.04` style.
    pub bases: Vec<String>,
    /// `charm-base:ubuntu-22.04` images Juju will pull for sidecar charms.
    pub base_images: Vec<String>,
    pub sha256: String,
    pub size: u64,
    /// Relative to the work dir: `charms/<file_name>`.
    pub spool_path: String,
    /// The charm's default image files (`src/default-*.json|yaml`) by path: for several charms
    /// the only place their workload images are named.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub default_files: BTreeMap<String, String>,
}

impl CharmInfo {
    pub fn oci_resources(&self) -> impl Iterator<Item = &CharmResource> {
        self.resources.iter().filter(|r| r.kind == "oci-image")
    }
}

/// Splits `argo-controller_r424.charm` / `argo-controller_980dd9f.charm` on
/// the last `_` (charm names contain `-` and may contain `_`).
pub fn parse_charm_file_name(file: &str) -> Option<(String, CharmVersion)> {
    let stem = file.strip_suffix(".charm")?;
    let (name, ver) = stem.rsplit_once('_')?;
    if name.is_empty() {
        return None;
    }
    if let Some(r) = ver.strip_prefix('r')
        && !r.is_empty()
        && r.bytes().all(|b| b.is_ascii_digit())
    {
        return r
            .parse()
            .ok()
            .map(|n| (name.to_string(), CharmVersion::Revision(n)));
    }
    if ver.len() == 7 && ver.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Some((name.to_string(), CharmVersion::Hash(ver.to_string())));
    }
    None
}

fn scalar_text(y: &Yaml) -> Option<String> {
    if y.is_null() {
        return None;
    }
    if let Some(s) = y.as_str() {
        return Some(s.to_string());
    }
    if let Some(b) = y.as_bool() {
        return Some(b.to_string());
    }
    if let Some(i) = y.as_integer() {
        return Some(i.to_string());
    }
    // Unquoted `channel: 22.10` parses as a float; two decimals restore it.
    y.as_floating_point().map(|f| format!("{f:.2}"))
}

fn load_yaml<'a>(
    text: &'a str,
    file: &str,
    bad: &dyn Fn(String) -> ArtifactError,
) -> Result<Yaml<'a>> {
    let mut docs = Yaml::load_from_str(text).map_err(|e| bad(format!("{file}: {e}")))?;
    if docs.is_empty() {
        return Err(bad(format!("{file} is empty")));
    }
    Ok(docs.swap_remove(0))
}

fn zip_text<R: Read + std::io::Seek>(
    z: &mut zip::ZipArchive<R>,
    name: &str,
    bad: &dyn Fn(String) -> ArtifactError,
) -> Result<Option<String>> {
    let f = match z.by_name(name) {
        Ok(f) => f,
        Err(zip::result::ZipError::FileNotFound) => return Ok(None),
        Err(e) => return Err(bad(format!("{name}: {e}"))),
    };
    if f.size() > YAML_MAX {
        return Err(bad(format!("{name} is {} bytes, too large", f.size())));
    }
    let mut s = String::new();
    f.take(YAML_MAX)
        .read_to_string(&mut s)
        .map_err(|e| bad(format!("{name}: {e}")))?;
    Ok(Some(s))
}

/// Reads a charm file already on disk.
pub fn read_charm(path: &Path, archive: &str) -> Result<CharmInfo> {
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    read_charm_named(path, &file_name, archive)
}

/// Same, for a file whose name on disk is not yet its final name.
fn read_charm_named(path: &Path, file_name: &str, archive: &str) -> Result<CharmInfo> {
    let file_name = file_name.to_string();
    let bad = |detail: String| ArtifactError::BadCharm {
        archive: archive.to_string(),
        member: file_name.clone(),
        detail,
    };
    let (_, version) =
        parse_charm_file_name(&file_name).ok_or_else(|| ArtifactError::BadCharmName {
            archive: archive.to_string(),
            member: file_name.clone(),
        })?;
    let f = File::open(path).map_err(|e| ArtifactError::io(path, e))?;
    let size = f.metadata().map_err(|e| ArtifactError::io(path, e))?.len();
    let mut z = zip::ZipArchive::new(BufReader::new(f))
        .map_err(|e| bad(format!("not a valid charm zip: {e}")))?;
    let meta_text = zip_text(&mut z, "metadata.yaml", &bad)?
        .ok_or_else(|| bad("metadata.yaml is missing".into()))?;
    let meta = load_yaml(&meta_text, "metadata.yaml", &bad)?;
    let name = meta
        .as_mapping_get("name")
        .and_then(|n| n.as_str())
        .ok_or_else(|| bad("metadata.yaml has no name".into()))?
        .to_string();
    let series: Vec<String> = meta
        .as_mapping_get("series")
        .and_then(|s| s.as_sequence())
        .map(|s| s.iter().filter_map(scalar_text).collect())
        .unwrap_or_default();
    let has_containers = meta
        .as_mapping_get("containers")
        .is_some_and(|c| c.is_non_empty_collection());
    let kind = if series.iter().any(|s| s == "kubernetes") && !has_containers {
        CharmKind::PodSpec
    } else {
        CharmKind::Sidecar
    };
    let mut resources = Vec::new();
    if let Some(m) = meta
        .as_mapping_get("resources")
        .and_then(|r| r.as_mapping())
    {
        for (k, v) in m {
            let Some(rname) = scalar_text(k) else {
                continue;
            };
            resources.push(CharmResource {
                name: rname,
                kind: v
                    .as_mapping_get("type")
                    .and_then(scalar_text)
                    .unwrap_or_else(|| "file".into()),
                upstream_source: v.as_mapping_get("upstream-source").and_then(scalar_text),
            });
        }
    }
    let mut options = Vec::new();
    if let Some(text) = zip_text(&mut z, "config.yaml", &bad)? {
        let cfg = load_yaml(&text, "config.yaml", &bad)?;
        if let Some(m) = cfg.as_mapping_get("options").and_then(|o| o.as_mapping()) {
            for (k, v) in m {
                let Some(oname) = scalar_text(k) else {
                    continue;
                };
                options.push(CharmOption {
                    name: oname,
                    kind: v
                        .as_mapping_get("type")
                        .and_then(scalar_text)
                        .unwrap_or_else(|| "string".into()),
                    default: v.as_mapping_get("default").and_then(scalar_text),
                });
            }
        }
    }
    let default_names: Vec<String> = z
        .file_names()
        .filter_map(|n| n.ok())
        .filter(|n| is_default_images_file(n))
        .map(|n| n.into_owned())
        .collect();
    let mut default_files = BTreeMap::new();
    for n in default_names {
        if let Some(text) = zip_text(&mut z, &n, &bad)? {
            default_files.insert(n, text);
        }
    }
    let mut bases = Vec::new();
    if let Some(text) = zip_text(&mut z, "manifest.yaml", &bad)? {
        let man = load_yaml(&text, "manifest.yaml", &bad)?;
        if let Some(seq) = man.as_mapping_get("bases").and_then(|b| b.as_sequence()) {
            for b in seq {
                let os = b.as_mapping_get("name").and_then(scalar_text);
                let ch = b.as_mapping_get("channel").and_then(scalar_text);
                if let (Some(os), Some(ch)) = (os, ch) {
                    let s = format!("{os}@{ch}");
                    if !bases.contains(&s) {
                        bases.push(s);
                    }
                }
            }
        }
    }
    if bases.is_empty()
        && let Some(text) = zip_text(&mut z, "charmcraft.yaml", &bad)?
    {
        // charmcraft 3 names the bases as `platforms:` keys (`ubuntu@24.04:amd64`).
        let craft = load_yaml(&text, "charmcraft.yaml", &bad)?;
        if let Some(m) = craft
            .as_mapping_get("platforms")
            .and_then(|p| p.as_mapping())
        {
            for k in m.keys().filter_map(scalar_text) {
                let base = k.split(':').next().unwrap_or(&k).to_string();
                if base.contains('@') && !bases.contains(&base) {
                    bases.push(base);
                }
            }
        }
    }
    // PodSpec charms run their operator in Juju's own image, not charm-base.
    let base_images = if kind == CharmKind::Sidecar {
        bases
            .iter()
            .map(|b| format!("charm-base:{}", b.replace('@', "-")))
            .collect()
    } else {
        Vec::new()
    };
    let sha256 = super::spool::sha256_file(path)?;
    Ok(CharmInfo {
        name,
        file_name: file_name.clone(),
        version,
        kind,
        resources,
        options,
        bases,
        base_images,
        sha256,
        size,
        spool_path: format!("charms/{file_name}"),
        default_files,
    })
}

/// `src/default-custom-images.json`, `src/default-jupyter-images.yaml`, ...
fn is_default_images_file(name: &str) -> bool {
    name.strip_prefix("src/default-").is_some_and(|rest| {
        !rest.contains('/')
            && (rest.ends_with(".json") || rest.ends_with(".yaml") || rest.ends_with(".yml"))
    })
}

/// Extracts every `.charm` of `archive` into `work_dir/charms/` and reads it.
pub fn process_charms(
    archive: &Path,
    work_dir: &Path,
    cancel: &Arc<AtomicBool>,
    progress: &mut dyn ProgressSink,
) -> Result<Vec<CharmInfo>> {
    let label = archive
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let file = File::open(archive).map_err(|e| ArtifactError::Open {
        path: archive.to_path_buf(),
        source: e,
    })?;
    let total = file
        .metadata()
        .map_err(|e| ArtifactError::io(archive, e))?
        .len();
    let dir = work_dir.join("charms");
    fs::create_dir_all(&dir).map_err(|e| ArtifactError::io(&dir, e))?;
    let count = Arc::new(AtomicU64::new(0));
    let reader = CountingReader::new(BufReader::new(file), count.clone(), cancel.clone());
    let mut reporter = Reporter::new(progress, count, total);
    reporter.emit(ProgressEvent::Started {
        archive: label.clone(),
        total,
    });
    let read_err = |member: &str, e: std::io::Error| {
        if cancel.load(Ordering::Relaxed) || is_cancel_error(&e) {
            ArtifactError::Cancelled
        } else if e.kind() == std::io::ErrorKind::UnexpectedEof {
            ArtifactError::Truncated {
                archive: label.clone(),
                member: member.to_string(),
                detail: e.to_string(),
            }
        } else {
            ArtifactError::Corrupt {
                archive: label.clone(),
                member: member.to_string(),
                detail: e.to_string(),
            }
        }
    };
    let mut ar = tar::Archive::new(flate2::read::MultiGzDecoder::new(reader));
    let entries = ar.entries().map_err(|e| read_err("(archive)", e))?;
    let mut out = Vec::new();
    let mut index = 0;
    for entry in entries {
        if cancel.load(Ordering::Relaxed) {
            return Err(ArtifactError::Cancelled);
        }
        let mut entry = entry.map_err(|e| read_err("(archive)", e))?;
        let raw = entry.path_bytes().into_owned();
        let name = normalize_entry_path(&raw).map_err(|why| ArtifactError::UnsafePath {
            archive: label.clone(),
            member: String::from_utf8_lossy(&raw).into_owned(),
            path: String::from_utf8_lossy(&raw).into_owned(),
            why: why.describe(),
        })?;
        let kind = entry.header().entry_type();
        if name.is_empty() || kind.is_dir() {
            continue;
        }
        if !kind.is_file() {
            let w = format!("{label}: ignored {name}: not a regular file");
            reporter.emit(ProgressEvent::Warning(w));
            continue;
        }
        if !is_plain_file_name(&name) || parse_charm_file_name(&name).is_none() {
            return Err(ArtifactError::BadCharmName {
                archive: label.clone(),
                member: name,
            });
        }
        reporter.emit(ProgressEvent::Member {
            name: name.clone(),
            index,
        });
        index += 1;
        let size = entry.size();
        let tmp = dir.join(format!("{TEMP_PREFIX}{}-{name}", std::process::id()));
        let dest = dir.join(&name);
        let res = (|| {
            let mut f = File::create(&tmp).map_err(|e| map_write_error(e, &tmp, work_dir, size))?;
            let mut buf = vec![0u8; 256 << 10];
            let mut got = 0u64;
            loop {
                let n = entry.read(&mut buf).map_err(|e| read_err(&name, e))?;
                if n == 0 {
                    break;
                }
                got += n as u64;
                write_mapped(&mut f, &buf[..n], &tmp, work_dir, size.saturating_sub(got))?;
                reporter.tick(false);
            }
            if got < size {
                return Err(ArtifactError::Truncated {
                    archive: label.clone(),
                    member: name.clone(),
                    detail: format!("ended after {got} of {size} bytes"),
                });
            }
            f.sync_all()
                .map_err(|e| map_write_error(e, &tmp, work_dir, 0))?;
            // Parse before the rename so a broken charm never sits under its name.
            let info = read_charm_named(&tmp, &name, &label)?;
            fs::rename(&tmp, &dest).map_err(|e| ArtifactError::io(&dest, e))?;
            Ok(info)
        })();
        if res.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        out.push(res?);
    }
    reporter.finish();
    Ok(out)
}
