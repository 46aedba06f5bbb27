//! containerd trust of the registry on MicroK8s ≥ 1.23: one `hosts.toml` per registry under
//! `certs.d/<host:port>/`, naming a copy of the CA next to it. The contents are computed first
//! so the front end can show them, then written on the operator's word.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// Where MicroK8s's containerd reads registry host configuration.
pub const MICROK8S_CERTS_D: &str = "/var/snap/microk8s/current/args/certs.d";
/// containerd reads these as root, but other tools (and `microk8s inspect`) read them too; they
/// hold no secret.
pub const FILE_MODE: u32 = 0o644;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustFiles {
    pub dir: PathBuf,
    pub hosts_toml_path: PathBuf,
    pub hosts_toml: String,
    pub ca_path: PathBuf,
    pub ca_pem: Vec<u8>,
}

impl TrustFiles {
    /// `registry` is `host:port` (or `host`), as in image references.
    pub fn new(certs_root: &Path, registry: &str, ca_pem: &[u8]) -> Self {
        let dir = certs_root.join(registry);
        let ca_path = dir.join("ca.crt");
        let url = format!("https://{registry}");
        let hosts_toml = format!(
            "server = {}\n\n[host.{}]\n  capabilities = [\"pull\", \"resolve\"]\n  ca = {}\n",
            toml_string(&url),
            toml_string(&url),
            toml_string(&ca_path.display().to_string()),
        );
        Self {
            hosts_toml_path: dir.join("hosts.toml"),
            dir,
            hosts_toml,
            ca_path,
            ca_pem: ca_pem.to_vec(),
        }
    }

    /// What will be written, for the operator to read first.
    pub fn preview(&self) -> String {
        format!(
            "{}:\n{}\n{}: a copy of the registry CA ({} bytes)",
            self.hosts_toml_path.display(),
            self.hosts_toml,
            self.ca_path.display(),
            self.ca_pem.len()
        )
    }

    /// Writes the CA first, so `hosts.toml` never names a missing file; each file atomically.
    /// containerd picks up changes under certs.d without a restart.
    pub fn write(&self) -> io::Result<()> {
        fs::create_dir_all(&self.dir)?;
        write_atomically(&self.ca_path, &self.ca_pem)?;
        write_atomically(&self.hosts_toml_path, self.hosts_toml.as_bytes())
    }
}

/// A TOML basic string.
pub(crate) fn toml_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    crate::durable::write_file_with(path, bytes, FILE_MODE, None)
}

/// The CA paths a `hosts.toml` names (`ca = "…"` or `ca = ["…", "…"]`).
pub fn ca_paths(hosts_toml: &str) -> Vec<String> {
    hosts_toml
        .lines()
        .filter_map(|l| {
            let (key, value) = l.split_once('=')?;
            (key.trim() == "ca").then_some(value)
        })
        .flat_map(|v| {
            v.split('"')
                .skip(1)
                .step_by(2)
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .collect()
}
