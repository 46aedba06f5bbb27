//! The registry-mirror safety net: one containerd `hosts.toml` per public registry, under
//! `certs.d/<upstream host>/`, sending every pull of that registry to the private one under the
//! push's path. An image no charm, option or table named, which the cluster pulls by its public
//! name, then still resolves on the far side, where the public registry is out of reach.
//!
//! containerd (1.5 and later, with `config_path` set, as MicroK8s ≥ 1.23 does) tries each
//! `[host]` in order before `server`. With `override_path = true` the host URL's path replaces
//! `/v2`, so `https://R/v2/ckf` turns `docker.io/kubeflow/x:1` into `R/v2/ckf/kubeflow/x/…`:
//! the push's `<target>/<repository>`. Docker Hub's official images are asked for as
//! `ckf/library/<name>`; the push names them there as well.
//!
//! Files ckf-airgap writes start with [`MARKER`]; a `hosts.toml` without it belongs to the
//! operator and is never overwritten (its merge is shown instead), and undo removes only
//! marked files.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use super::trust::{FILE_MODE, toml_string};

/// The first line of every file the safety net writes.
pub const MARKER: &str =
    "# Written by ckf-airgap (registry-mirror safety net); `ckf-airgap mirrors undo` removes it.";
/// The private registry's CA, copied beside each mirror file so each directory stands alone.
pub const MIRROR_CA_FILE: &str = "ckf-airgap-mirror-ca.crt";

/// Public registries CKF's charms and workloads pull from; the release lock's hosts are added.
pub const KNOWN_UPSTREAMS: &[&str] = &[
    "docker.io",
    "gcr.io",
    "ghcr.io",
    "quay.io",
    "registry.k8s.io",
    "k8s.gcr.io",
    "nvcr.io",
    "public.ecr.aws",
    "mcr.microsoft.com",
    "registry.jujucharms.com",
    "rocks.canonical.com",
    "us-docker.pkg.dev",
    "europe-docker.pkg.dev",
];

/// Where the mirror sends pulls: the private registry and the push's path prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MirrorTarget {
    /// `host[:port]`.
    pub registry: String,
    /// The push's path prefix (`ckf` in `reg.lab:5000/ckf`), empty for none.
    pub prefix: String,
    pub plain_http: bool,
    /// containerd skips TLS verification for this host (the registry's `insecure` option).
    pub skip_verify: bool,
    /// The private registry's CA, when the system store does not hold it.
    pub ca_pem: Option<Vec<u8>>,
}

impl MirrorTarget {
    fn host_url(&self) -> String {
        let scheme = if self.plain_http { "http" } else { "https" };
        if self.prefix.is_empty() {
            format!("{scheme}://{}", self.registry)
        } else {
            format!("{scheme}://{}/v2/{}", self.registry, self.prefix)
        }
    }
}

/// How a mirror file on disk compares with the one the plan would write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MirrorFileState {
    /// Ours and current, or the operator's own file already sending pulls to the registry.
    InPlace,
    Absent,
    /// Ours, from an earlier run with other settings: rewritten.
    Stale,
    /// The operator's own `hosts.toml` for that registry: left alone, its merge shown.
    Foreign,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MirrorFile {
    pub upstream: String,
    pub dir: PathBuf,
    pub hosts_toml_path: PathBuf,
    pub hosts_toml: String,
    pub ca_path: Option<PathBuf>,
}

impl MirrorFile {
    pub fn state(&self, target: &MirrorTarget) -> MirrorFileState {
        match fs::read_to_string(&self.hosts_toml_path) {
            Err(_) => MirrorFileState::Absent,
            Ok(text) if text == self.hosts_toml && self.ca_in_place(target) => {
                MirrorFileState::InPlace
            }
            Ok(text) if text.starts_with(MARKER) => MirrorFileState::Stale,
            Ok(text) if text.contains(&toml_string(&target.host_url())) => MirrorFileState::InPlace,
            Ok(_) => MirrorFileState::Foreign,
        }
    }

    fn ca_in_place(&self, target: &MirrorTarget) -> bool {
        match (&self.ca_path, &target.ca_pem) {
            (Some(path), Some(pem)) => fs::read(path).is_ok_and(|b| &b == pem),
            _ => true,
        }
    }

    /// The `[host]` table an operator adds to their own `hosts.toml` by hand.
    pub fn host_table(&self) -> &str {
        self.hosts_toml
            .find("[host.")
            .map_or(self.hosts_toml.as_str(), |i| &self.hosts_toml[i..])
    }
}

/// Every mirror file for one private registry, computed before anything is written so the
/// front end can show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MirrorPlan {
    pub root: PathBuf,
    pub target: MirrorTarget,
    pub files: Vec<MirrorFile>,
}

impl MirrorPlan {
    /// `upstreams` are registry hosts as image references name them (`docker.io`, `quay.io`);
    /// the known list is always included, the private registry never.
    pub fn new<'a>(
        root: &Path,
        upstreams: impl IntoIterator<Item = &'a str>,
        target: MirrorTarget,
    ) -> MirrorPlan {
        let mut hosts: Vec<String> = KNOWN_UPSTREAMS
            .iter()
            .copied()
            .chain(upstreams)
            .map(canonical_host)
            .filter(|h| !h.is_empty() && *h != target.registry)
            .map(str::to_owned)
            .collect();
        hosts.sort();
        hosts.dedup();
        let files = hosts
            .into_iter()
            .map(|upstream| mirror_file(root, upstream, &target))
            .collect();
        MirrorPlan {
            root: root.to_path_buf(),
            target,
            files,
        }
    }

    /// What will be written, for the operator to read first.
    pub fn preview(&self) -> String {
        let mut text = format!(
            "containerd will pull each of these registries' images from {} first, under the \
             push's path (the public registry stays as the fallback, out of reach here):\n",
            self.target.host_url()
        );
        for file in &self.files {
            let state = file.state(&self.target);
            let note = match state {
                MirrorFileState::InPlace => " (in place)",
                MirrorFileState::Absent => "",
                MirrorFileState::Stale => " (rewritten: an earlier run's settings)",
                MirrorFileState::Foreign => {
                    " (left alone: the operator's own file; add the [host] table below to it)"
                }
            };
            text.push_str(&format!("  {}{note}\n", file.hosts_toml_path.display()));
        }
        if let Some(first) = self.files.first() {
            text.push_str(&format!(
                "\nEach reads like {}:\n{}",
                first.hosts_toml_path.display(),
                first.hosts_toml
            ));
        }
        if let Some(ca) = self.files.iter().find_map(|f| f.ca_path.as_ref()) {
            text.push_str(&format!(
                "\nBeside each: {} (a copy of the registry CA).\n",
                ca.file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default(),
            ));
        }
        text
    }

    /// The files not in place, by state.
    pub fn pending(&self) -> Vec<(&MirrorFile, MirrorFileState)> {
        self.files
            .iter()
            .map(|f| (f, f.state(&self.target)))
            .filter(|(_, s)| *s != MirrorFileState::InPlace)
            .collect()
    }

    /// Writes every file that is absent or ours and stale, CA first so no `hosts.toml` names
    /// a missing file; each through the one durable writer. The operator's own files are left
    /// and returned, for the check to name.
    pub fn write(&self) -> io::Result<Vec<&MirrorFile>> {
        let mut foreign = Vec::new();
        for file in &self.files {
            match file.state(&self.target) {
                MirrorFileState::InPlace => {}
                MirrorFileState::Foreign => foreign.push(file),
                MirrorFileState::Absent | MirrorFileState::Stale => {
                    fs::create_dir_all(&file.dir)?;
                    if let (Some(path), Some(pem)) = (&file.ca_path, &self.target.ca_pem) {
                        crate::durable::write_file_with(path, pem, FILE_MODE, None)?;
                    }
                    crate::durable::write_file_with(
                        &file.hosts_toml_path,
                        file.hosts_toml.as_bytes(),
                        FILE_MODE,
                        None,
                    )?;
                }
            }
        }
        Ok(foreign)
    }
}

/// What undo removed.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct UndoReport {
    pub removed: Vec<PathBuf>,
    /// `hosts.toml` files under the root that are not ours, left as they were.
    pub kept: Vec<PathBuf>,
}

/// Removes every mirror file this tool wrote under `root` (marked `hosts.toml`, the CA copy
/// beside it, the directory when that leaves it empty); the operator's files stay.
pub fn undo(root: &Path) -> io::Result<UndoReport> {
    let mut report = UndoReport::default();
    let entries = match fs::read_dir(root) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(report),
        Err(e) => return Err(e),
    };
    let mut dirs: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    for dir in dirs {
        let hosts = dir.join("hosts.toml");
        let Ok(text) = fs::read_to_string(&hosts) else {
            continue;
        };
        if !text.starts_with(MARKER) {
            report.kept.push(hosts);
            continue;
        }
        fs::remove_file(&hosts)?;
        report.removed.push(hosts);
        let ca = dir.join(MIRROR_CA_FILE);
        if ca.exists() {
            fs::remove_file(&ca)?;
            report.removed.push(ca);
        }
        // Only an empty directory goes: a trust file or the operator's own stays with it.
        let _ = fs::remove_dir(&dir);
    }
    Ok(report)
}

/// Docker Hub has three names; containerd keys its directory by `docker.io`.
fn canonical_host(host: &str) -> &str {
    match host {
        "index.docker.io" | "registry-1.docker.io" | "registry.hub.docker.com" => "docker.io",
        h => h,
    }
}

fn mirror_file(root: &Path, upstream: String, target: &MirrorTarget) -> MirrorFile {
    let dir = root.join(&upstream);
    let ca_path = target.ca_pem.as_ref().map(|_| dir.join(MIRROR_CA_FILE));
    let server = if upstream == "docker.io" {
        "https://registry-1.docker.io".to_owned()
    } else {
        format!("https://{upstream}")
    };
    let mut hosts_toml = format!(
        "{MARKER}\nserver = {}\n\n[host.{}]\n  capabilities = [\"pull\", \"resolve\"]\n",
        toml_string(&server),
        toml_string(&target.host_url()),
    );
    if !target.prefix.is_empty() {
        hosts_toml.push_str("  override_path = true\n");
    }
    if let Some(ca) = &ca_path {
        hosts_toml.push_str(&format!(
            "  ca = {}\n",
            toml_string(&ca.display().to_string())
        ));
    }
    if target.skip_verify {
        hosts_toml.push_str("  skip_verify = true\n");
    }
    MirrorFile {
        hosts_toml_path: dir.join("hosts.toml"),
        dir,
        upstream,
        hosts_toml,
        ca_path,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(prefix: &str) -> MirrorTarget {
        MirrorTarget {
            registry: "reg.lab:5000".into(),
            prefix: prefix.into(),
            plain_http: false,
            skip_verify: false,
            ca_pem: Some(b"-----BEGIN CERTIFICATE-----\nx\n".to_vec()),
        }
    }

    #[test]
    fn a_prefixed_target_overrides_the_path_and_names_the_ca_copy() {
        let root = Path::new("/etc/certs.d");
        let plan = MirrorPlan::new(root, ["quay.io", "index.docker.io"], target("ckf"));
        let hub = plan
            .files
            .iter()
            .find(|f| f.upstream == "docker.io")
            .unwrap();
        assert_eq!(
            hub.hosts_toml,
            format!(
                "{MARKER}\nserver = \"https://registry-1.docker.io\"\n\n\
                 [host.\"https://reg.lab:5000/v2/ckf\"]\n  capabilities = [\"pull\", \"resolve\"]\n  \
                 override_path = true\n  ca = \"/etc/certs.d/docker.io/ckf-airgap-mirror-ca.crt\"\n"
            )
        );
        // Docker Hub's other names fold into one directory; the known list is always there.
        assert_eq!(
            plan.files
                .iter()
                .filter(|f| f.upstream == "docker.io")
                .count(),
            1
        );
        assert!(plan.files.iter().any(|f| f.upstream == "registry.k8s.io"));
    }

    #[test]
    fn no_prefix_means_the_registry_root_and_no_override() {
        let plan = MirrorPlan::new(Path::new("/r"), [], target(""));
        let quay = plan.files.iter().find(|f| f.upstream == "quay.io").unwrap();
        assert!(quay.hosts_toml.contains("[host.\"https://reg.lab:5000\"]"));
        assert!(!quay.hosts_toml.contains("override_path"));
        assert!(quay.hosts_toml.contains("server = \"https://quay.io\""));
    }

    #[test]
    fn the_private_registry_is_never_mirrored_to_itself() {
        let plan = MirrorPlan::new(Path::new("/r"), ["reg.lab:5000"], target("ckf"));
        assert!(plan.files.iter().all(|f| f.upstream != "reg.lab:5000"));
    }

    #[test]
    fn a_foreign_file_is_left_and_undo_removes_only_ours() {
        let dir = tempfile::tempdir().unwrap();
        let theirs = dir.path().join("quay.io/hosts.toml");
        fs::create_dir_all(theirs.parent().unwrap()).unwrap();
        fs::write(&theirs, "server = \"https://quay.io\"\n").unwrap();
        let plan = MirrorPlan::new(dir.path(), [], target("ckf"));
        let foreign = plan.write().unwrap();
        assert_eq!(
            foreign
                .iter()
                .map(|f| f.upstream.as_str())
                .collect::<Vec<_>>(),
            ["quay.io"]
        );
        assert_eq!(
            fs::read_to_string(&theirs).unwrap(),
            "server = \"https://quay.io\"\n"
        );
        assert_eq!(plan.pending().len(), 1);
        let report = undo(dir.path()).unwrap();
        assert_eq!(report.kept, std::slice::from_ref(&theirs));
        assert!(theirs.exists());
        assert!(!dir.path().join("docker.io").exists());
        assert_eq!(report.removed.len(), 2 * (KNOWN_UPSTREAMS.len() - 1));
    }

    #[test]
    fn settings_from_an_earlier_run_are_stale_and_rewritten() {
        let dir = tempfile::tempdir().unwrap();
        MirrorPlan::new(dir.path(), [], target("old"))
            .write()
            .unwrap();
        let plan = MirrorPlan::new(dir.path(), [], target("ckf"));
        assert!(
            plan.pending()
                .iter()
                .all(|(_, s)| *s == MirrorFileState::Stale)
        );
        assert!(plan.write().unwrap().is_empty());
        assert!(plan.pending().is_empty());
    }
}
