//! Synthetic `.charm` zips with realistic metadata.yaml / config.yaml /
//! manifest.yaml, PodSpec and sidecar.

use std::io::{self, Cursor, Write};

use sha2::{Digest, Sha256};
use zip::write::SimpleFileOptions;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SynthCharmKind {
    PodSpec,
    Sidecar,
}

#[derive(Debug, Clone)]
pub struct CharmSpec {
    pub name: String,
    pub kind: SynthCharmKind,
    /// (resource name, upstream-source)
    pub oci_resources: Vec<(String, String)>,
    /// (option, type, default as YAML text)
    pub options: Vec<(String, String, String)>,
    pub ubuntu: String,
    /// Some(rev) → `<name>_r<rev>.charm`; None → `<name>_<sha7>.charm`.
    pub revision: Option<u64>,
}

fn metadata_yaml(s: &CharmSpec) -> String {
    let mut y = format!(
        "name: {}\nsummary: Synthetic {}\ndescription: |\n  Test charm.\n",
        s.name, s.name
    );
    match s.kind {
        SynthCharmKind::PodSpec => {
            y.push_str("series: [kubernetes]\nmin-juju-version: \"2.9.0\"\n")
        }
        SynthCharmKind::Sidecar => {
            y.push_str("containers:\n");
            for (r, _) in &s.oci_resources {
                y.push_str(&format!("  {}:\n    resource: {r}\n", s.name));
            }
            if s.oci_resources.is_empty() {
                y.push_str("  {}: {}\n".replace("{}", &s.name).as_str());
            }
        }
    }
    if !s.oci_resources.is_empty() {
        y.push_str("resources:\n");
        for (r, up) in &s.oci_resources {
            y.push_str(&format!(
                "  {r}:\n    type: oci-image\n    description: Backing OCI image\n    auto-fetch: true\n    upstream-source: '{up}'\n"
            ));
        }
    }
    y.push_str("provides:\n  metrics-endpoint:\n    interface: prometheus_scrape\n");
    y
}

fn config_yaml(s: &CharmSpec) -> String {
    let mut y = String::from("options:\n");
    for (n, t, d) in &s.options {
        y.push_str(&format!(
            "  {n}:\n    type: {t}\n    default: {d}\n    description: Option {n}\n"
        ));
    }
    y
}

fn manifest_yaml(s: &CharmSpec) -> String {
    format!(
        "analysis:\n  attributes:\n  - name: language\n    result: python\ncharmcraft-version: 2.2.0\nbases:\n- name: ubuntu\n  channel: '{}'\n  architectures:\n  - amd64\n",
        s.ubuntu
    )
}

/// Returns (file name, zip bytes).
pub fn build_charm_zip(s: &CharmSpec) -> io::Result<(String, Vec<u8>)> {
    let mut z = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let o = SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    let files = [
        ("metadata.yaml", metadata_yaml(s)),
        ("config.yaml", config_yaml(s)),
        ("manifest.yaml", manifest_yaml(s)),
        ("dispatch", "#!/bin/sh\nJUJU_DISPATCH_PATH=\"${JUJU_DISPATCH_PATH:-$0}\" PYTHONPATH=lib:venv ./src/charm.py\n".into()),
        ("src/charm.py", format!("#!/usr/bin/env python3\n# synthetic charm {}\n", s.name)),
    ];
    for (n, body) in files {
        z.start_file(n, o).map_err(io::Error::other)?;
        z.write_all(body.as_bytes())?;
    }
    let bytes = z.finish().map_err(io::Error::other)?.into_inner();
    let name = match s.revision {
        Some(r) => format!("{}_r{r}.charm", s.name),
        None => format!(
            "{}_{}.charm",
            s.name,
            &hex::encode(Sha256::digest(&bytes))[..7]
        ),
    };
    Ok((name, bytes))
}

fn spec(
    name: &str,
    kind: SynthCharmKind,
    res: &[(&str, &str)],
    opts: &[(&str, &str, &str)],
    ubuntu: &str,
    rev: Option<u64>,
) -> CharmSpec {
    CharmSpec {
        name: name.into(),
        kind,
        oci_resources: res
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect(),
        options: opts
            .iter()
            .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
            .collect(),
        ubuntu: ubuntu.into(),
        revision: rev,
    }
}

/// A CKF-1.7-like set: PodSpec and sidecar charms, both naming styles.
pub fn default_charms() -> Vec<CharmSpec> {
    use SynthCharmKind::*;
    vec![
        spec(
            "dex-auth",
            Sidecar,
            &[("oci-image", "docker.io/dexidp/dex:v2.31.2")],
            &[("static-username", "string", "''"), ("port", "int", "5556")],
            "20.04",
            None,
        ),
        spec(
            "argo-controller",
            PodSpec,
            &[("oci-image", "argoproj/workflow-controller:v3.3.9")],
            &[
                (
                    "executor-image",
                    "string",
                    "charmedkubeflow/argoexec:v3.3.9_22.04_1",
                ),
                ("kubelet-insecure", "boolean", "true"),
            ],
            "20.04",
            Some(424),
        ),
        spec(
            "istio-gateway",
            Sidecar,
            &[],
            &[
                ("kind", "string", "''"),
                ("gateway_service_type", "string", "'LoadBalancer'"),
                ("proxy-image", "string", "'docker.io/istio/proxyv2:1.16.2'"),
            ],
            "20.04",
            None,
        ),
        spec(
            "minio",
            PodSpec,
            &[("oci-image", "minio/minio:RELEASE.2021-09-03T03-56-13Z")],
            &[("port", "int", "9000")],
            "20.04",
            Some(186),
        ),
        spec(
            "kfp-api",
            Sidecar,
            &[(
                "oci-image",
                "charmedkubeflow/api-server:2.0.0-alpha.7_20.04_1",
            )],
            &[("cache-image", "string", "'google-containers/busybox'")],
            "20.04",
            Some(540),
        ),
        spec(
            "mysql-k8s",
            Sidecar,
            &[(
                "mysql-image",
                "ghcr.io/canonical/charmed-mysql@sha256:3b6a4a63971acec3b71a0178cd093014a695ddf7c31d91d56ebb110eec6cdbe1",
            )],
            &[("mysql-root-password", "string", "''")],
            "22.04",
            None,
        ),
        spec(
            "kubeflow-volumes",
            PodSpec,
            &[("oci-image", "kubeflownotebookswg/volumes-web-app:v1.7.0")],
            &[],
            "20.04",
            Some(178),
        ),
        spec(
            "training-operator",
            Sidecar,
            &[(
                "training-operator-image",
                "kubeflow/training-operator:v1-855e096",
            )],
            &[],
            "22.04",
            None,
        ),
    ]
}

/// A `.charm` built from a charm's source folder (its `metadata.yaml`, `config.yaml`,
/// `charmcraft.yaml`, `src/…`), with the `manifest.yaml` `charmcraft pack` would add: the
/// bases from `charmcraft.yaml`'s `platforms:` (`ubuntu@24.04:amd64`), else `fallback_base`.
/// Named `<name>_r<revision>.charm` like a Charmhub download.
pub fn charm_zip_from_dir(
    dir: &std::path::Path,
    revision: u64,
    fallback_base: &str,
) -> io::Result<(String, Vec<u8>)> {
    let metadata = std::fs::read_to_string(dir.join("metadata.yaml"))?;
    let name = metadata
        .lines()
        .find_map(|l| l.strip_prefix("name:"))
        .map(|n| n.trim().trim_matches(['"', '\'']).to_owned())
        .ok_or_else(|| io::Error::other(format!("{}: metadata.yaml has no name", dir.display())))?;
    let craft = std::fs::read_to_string(dir.join("charmcraft.yaml")).unwrap_or_default();
    let mut bases: Vec<String> = craft
        .lines()
        .filter_map(|l| {
            let key = l.trim().trim_end_matches(':');
            key.strip_prefix("ubuntu@")
                .map(|rest| rest.split(':').next().unwrap_or(rest).to_owned())
        })
        .collect();
    bases.dedup();
    if bases.is_empty() {
        bases.push(fallback_base.to_owned());
    }
    let mut manifest = String::from("charmcraft-version: 3.2.0\nbases:\n");
    for b in &bases {
        manifest.push_str(&format!(
            "- name: ubuntu\n  channel: '{b}'\n  architectures:\n  - amd64\n"
        ));
    }
    let mut z = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let o = SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    let mut files = vec![("manifest.yaml".to_owned(), manifest.into_bytes())];
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let mut entries: Vec<_> = std::fs::read_dir(&d)?.flatten().map(|e| e.path()).collect();
        entries.sort();
        for path in entries {
            if path.is_dir() {
                stack.push(path);
            } else if let Ok(rel) = path.strip_prefix(dir) {
                files.push((rel.to_string_lossy().into_owned(), std::fs::read(&path)?));
            }
        }
    }
    for (n, body) in files {
        z.start_file(n, o).map_err(io::Error::other)?;
        z.write_all(&body)?;
    }
    let bytes = z.finish().map_err(io::Error::other)?.into_inner();
    Ok((format!("{name}_r{revision}.charm"), bytes))
}
