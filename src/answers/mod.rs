//! The answers file: every choice of the wizard written down, for headless runs and for
//! repeating an install. Secrets are never in it: the password comes from an environment
//! variable or a file named in it.

mod export;
mod validate;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use export::export;
pub use validate::{Problem, validate};

use crate::wizard::Choices;
use crate::wizard::state::{
    GatewayServiceType, GatherChoice, PasswordSource, RegistryChoice, UpgradeChoice,
};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Answers {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifacts: Option<ArtifactsAnswers>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registry: Option<RegistryAnswers>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bundle: Option<BundleAnswers>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub mapping: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<GatewayAnswers>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deploy: Option<DeployAnswers>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster: Option<ClusterAnswers>,
    /// Steps to skip, with the reason recorded in the session.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub skip: BTreeMap<String, String>,
    /// `ckf-airgap gather` on the connected side.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gather: Option<GatherChoice>,
    /// `ckf-airgap upgrade`: the installed release and the consents.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upgrade: Option<UpgradeChoice>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArtifactsAnswers {
    pub images: Option<PathBuf>,
    pub charms: Option<PathBuf>,
    pub work_dir: Option<PathBuf>,
    /// Canonical's `retagged-images.txt`: every name in it must be in `images.tar.gz`.
    pub retagged_images: Option<PathBuf>,
    /// Verify, push and drop one image at a time even when the disk could hold them all.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub one_image_at_a_time: bool,
    /// OpenSSH `allowed_signers` file: the lock must be signed by one of its keys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_signers: Option<PathBuf>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistryAnswers {
    pub target: String,
    pub username: Option<String>,
    /// Refused by validation: kept as a field only to explain why.
    #[serde(default, skip_serializing)]
    pub password: Option<String>,
    pub password_env: Option<String>,
    pub password_file: Option<PathBuf>,
    /// Take the credentials from Docker's config.json: `default` or a path.
    pub docker_config: Option<String>,
    pub ca_file: Option<PathBuf>,
    pub certs_dir: Option<PathBuf>,
    pub client_cert: Option<PathBuf>,
    pub client_key: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub insecure: bool,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub plain_http: bool,
    /// `gzip` (default), `zstd` (containerd 1.5 and later) or `none`: push uncompressed
    /// layers as they are.
    pub layer_compression: Option<String>,
    pub image_concurrency: Option<usize>,
    pub blob_concurrency: Option<usize>,
    /// libdeflate level 1-12 for layers gzipped on the fly.
    pub gzip_level: Option<u32>,
    /// zstd level 1-19 with `layer_compression = "zstd"`.
    pub zstd_level: Option<i32>,
    /// `auto` (default: streamed, chunked after a refusal) or `chunked`.
    pub upload: Option<String>,
    /// Bytes per chunked upload request, in MiB.
    pub chunk_size_mib: Option<u64>,
    /// Spool the archive and push after the login, even when the registry is reachable while
    /// the archive is read.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub spool_before_push: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BundleAnswers {
    pub file: Option<PathBuf>,
    pub placeholder_registry: Option<String>,
    /// Where to write the edited bundle (default beside the original).
    pub output: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub pin_digests: bool,
    /// Consent to write the edited bundle without the preview question.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub write: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GatewayAnswers {
    pub service_type: GatewayServiceType,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeployAnswers {
    pub model: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub dry_run: bool,
    /// `1.7` ... `1.11`.
    pub ckf_release: Option<crate::ckf_release::CkfRelease>,
    /// A plan file, a published release's plan (`ckf-1.7-edge`, ...), or `none`.
    pub separate_plan: Option<String>,
    /// Consent to run the deploy plan without the question.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub run: bool,
    pub watch_minutes: Option<u64>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterAnswers {
    /// MicroK8s' containerd registry settings (default /var/snap/microk8s/current/args/certs.d).
    pub containerd_certs_dir: Option<PathBuf>,
    /// Write containerd's hosts.toml for the registry when the check finds it missing.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub write_containerd_trust: bool,
    /// containerd registry mirrors for every public registry, sending pulls to the private
    /// one: true writes them, false declines, unset asks (headless: warns).
    pub registry_mirrors: Option<bool>,
    /// Bootstrap a Juju controller on MicroK8s when there is none.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub bootstrap: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum AnswersError {
    #[error("cannot read the answers file {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is not a valid answers file:\n{message}")]
    Syntax { path: PathBuf, message: String },
}

impl Answers {
    pub fn load(path: &Path) -> Result<Answers, AnswersError> {
        let text = std::fs::read_to_string(path).map_err(|source| AnswersError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Answers::parse(&text).map_err(|message| AnswersError::Syntax {
            path: path.to_path_buf(),
            message,
        })
    }

    pub fn parse(text: &str) -> Result<Answers, String> {
        toml::from_str(text).map_err(|e| e.to_string().trim_end().to_string())
    }

    /// The choices these answers make. The password itself is resolved later, at run time.
    pub fn to_choices(&self) -> Choices {
        let mut choices = Choices::default();
        if let Some(a) = &self.artifacts {
            choices.images_archive = a.images.clone();
            choices.charms_archive = a.charms.clone();
            choices.work_dir = a.work_dir.clone();
            choices.retagged_images = a.retagged_images.clone();
            choices.one_image_at_a_time = a.one_image_at_a_time;
            choices.allowed_signers = a.allowed_signers.clone();
        }
        if let Some(r) = &self.registry {
            let password_source = match (&r.password_env, &r.password_file, &r.docker_config) {
                (Some(var), _, _) => Some(PasswordSource::Env(var.clone())),
                (None, Some(file), _) => Some(PasswordSource::File(file.clone())),
                (None, None, Some(d)) if d == "default" => Some(PasswordSource::DockerConfig(None)),
                (None, None, Some(path)) => Some(PasswordSource::DockerConfig(Some(path.into()))),
                (None, None, None) => None,
            };
            choices.registry = Some(RegistryChoice {
                target: r.target.clone(),
                username: r.username.clone(),
                password_source,
                ca_file: r.ca_file.clone(),
                certs_dir: r.certs_dir.clone(),
                client_cert: r.client_cert.clone(),
                client_key: r.client_key.clone(),
                insecure: r.insecure,
                plain_http: r.plain_http,
                no_layer_compression: r.layer_compression.as_deref() == Some("none"),
                zstd_layers: r.layer_compression.as_deref() == Some("zstd"),
                gzip_layers: r.layer_compression.as_deref() == Some("gzip"),
                zstd_level: r.zstd_level,
                image_concurrency: r.image_concurrency,
                blob_concurrency: r.blob_concurrency,
                gzip_level: r.gzip_level,
                chunked_upload: r.upload.as_deref() == Some("chunked"),
                chunk_size_mib: r.chunk_size_mib,
                spool_before_push: r.spool_before_push,
            });
        }
        if let Some(b) = &self.bundle {
            choices.bundle = b.file.clone();
            choices.placeholder_registry = b.placeholder_registry.clone();
            choices.bundle_output = b.output.clone();
            choices.pin_digests = b.pin_digests;
            choices.confirm_bundle_write = b.write;
        }
        choices.mapping_overrides = self.mapping.clone();
        choices.gateway = self.gateway.as_ref().map(|g| g.service_type);
        if let Some(d) = &self.deploy {
            choices.model = d.model.clone();
            choices.dry_run = d.dry_run;
            choices.ckf_release = d.ckf_release;
            choices.separate_plan = d.separate_plan.clone();
            choices.confirm_deploy = d.run;
            choices.watch_minutes = d.watch_minutes;
        }
        if let Some(c) = &self.cluster {
            choices.containerd_certs_dir = c.containerd_certs_dir.clone();
            choices.write_containerd_trust = c.write_containerd_trust;
            choices.registry_mirrors = c.registry_mirrors;
            choices.bootstrap = c.bootstrap;
        }
        choices.skips = self.skip.clone();
        choices.gather = self.gather.clone();
        choices.upgrade = self.upgrade.clone();
        choices
    }
}
