//! The persisted model of an install: where it stands, what each step finished, and what the
//! operator chose. It holds no secret: the registry password lives only in memory.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::step::{Flow, Step};

/// Where one step stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(tag = "state", rename_all = "kebab-case")]
pub enum StepStatus {
    #[default]
    Pending,
    /// Work is under way. Found on disk after a crash, it means "interrupted".
    Running,
    Done,
    Failed {
        reason: String,
    },
    Skipped {
        reason: String,
    },
}

impl StepStatus {
    /// Done or skipped: the wizard may move past it.
    pub fn is_settled(&self) -> bool {
        matches!(self, StepStatus::Done | StepStatus::Skipped { .. })
    }

    pub fn label(&self) -> &'static str {
        match self {
            StepStatus::Pending => "pending",
            StepStatus::Running => "running",
            StepStatus::Done => "done",
            StepStatus::Failed { .. } => "failed",
            StepStatus::Skipped { .. } => "skipped",
        }
    }
}

/// The finished units of work of one step, keyed by a unit id the step chooses (a layer digest,
/// a juju command, ...). A unit in the ledger is never done again while the step's inputs stand.
pub type UnitLedger = BTreeMap<String, serde_json::Value>;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct StepRecord {
    pub status: StepStatus,
    /// Fingerprint of the inputs the step last ran with; a different one invalidates it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inputs: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub ledger: UnitLedger,
    /// A message for the operator about this step (why it was interrupted or invalidated).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// How the registry is reached. The password is deliberately absent: see `PasswordSource`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RegistryChoice {
    /// `host[:port][/path-prefix]`
    pub target: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// Where the password comes from; never the password itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_source: Option<PasswordSource>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<PathBuf>,
    /// A Docker-style `certs.d` directory (`<dir>/<host:port>/ca.crt`, client cert and key).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certs_dir: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_cert: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_key: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub insecure: bool,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub plain_http: bool,
    /// Push uncompressed layers as they are instead of gzipping them on the fly.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub no_layer_compression: bool,
    /// Compress layers with zstd instead of gzip (containerd 1.5 and later).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub zstd_layers: bool,
    /// gzip asked for by name: kept even when every node could pull zstd.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub gzip_layers: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zstd_level: Option<i32>,
    /// Images and blobs pushed at once (defaults 3 and 4).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_concurrency: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blob_concurrency: Option<usize>,
    /// libdeflate level for layers gzipped on the fly (default in `PushOptions`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gzip_level: Option<u32>,
    /// Upload in chunks from the start instead of after a refused streamed upload.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub chunked_upload: bool,
    /// Bytes per chunk in MiB (default 8).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chunk_size_mib: Option<u64>,
    /// Spool the archive and push after the login even when the registry is reachable while
    /// the archive is read (the streaming push is the default then).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub spool_before_push: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PasswordSource {
    /// Read from this environment variable at run time.
    Env(String),
    /// Read from this file at run time.
    File(PathBuf),
    /// Typed by the operator, kept in memory only.
    Prompt,
    /// Docker's `config.json` (its `auths` entry or credential helper); the default file when
    /// no path is given.
    DockerConfig(Option<PathBuf>),
}

impl PasswordSource {
    /// Where the password comes from, for screens and logs (never the password itself).
    pub fn origin(&self) -> String {
        match self {
            PasswordSource::Env(var) => format!("${var}"),
            PasswordSource::File(path) => format!("the file {}", path.display()),
            PasswordSource::Prompt => "the keyboard, kept in memory only".into(),
            PasswordSource::DockerConfig(_) => "Docker's config.json".into(),
        }
    }
}

pub use crate::gateway_type::GatewayServiceType;

/// Everything the operator chose. Exported (without secrets) by `export-answers`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Choices {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub images_archive: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub charms_archive: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub work_dir: Option<PathBuf>,
    /// Canonical's `retagged-images.txt`, when the operator has it: every name must be archived.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retagged_images: Option<PathBuf>,
    /// Keep at most about one image on disk, even when the work directory could hold them all.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub one_image_at_a_time: bool,
    /// OpenSSH `allowed_signers`: the lock must carry a signature by one of its keys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_signers: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bundle: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub placeholder_registry: Option<String>,
    /// Where the edited bundle is written (default: `<stem>.airgap.yaml` beside the original).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bundle_output: Option<PathBuf>,
    /// Write image references pinned by digest (`repo@sha256:...`) from the push report.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub pin_digests: bool,
    /// The operator confirmed the bundle edit (headless runs give it in the answers file).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub confirm_bundle_write: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registry: Option<RegistryChoice>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub mapping_overrides: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<GatewayServiceType>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// The Charmed Kubeflow release being installed (`1.7` ... `1.11`): versions are checked
    /// against it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ckf_release: Option<crate::ckf_release::CkfRelease>,
    /// Where MicroK8s keeps containerd's per-registry settings (its default when unset).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub containerd_certs_dir: Option<PathBuf>,
    /// Consent to write containerd's hosts.toml for the registry when it is missing.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub write_containerd_trust: bool,
    /// The registry-mirror safety net: write it (true), decline it (false), or ask (unset).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registry_mirrors: Option<bool>,
    /// Consent to bootstrap a Juju controller (MicroK8s) when there is none.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub bootstrap: bool,
    /// The separately deployed (PodSpec) plan: a file, a published release's name, or `none`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub separate_plan: Option<String>,
    /// Consent to run the deploy plan (headless runs give it in the answers file).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub confirm_deploy: bool,
    /// How long to wait for the model to settle, in minutes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub watch_minutes: Option<u64>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub dry_run: bool,
    /// Checks or steps the operator chose to skip, with the recorded reason.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub skips: BTreeMap<String, String>,
    /// What `ckf-airgap gather` builds on the connected side.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gather: Option<GatherChoice>,
    /// What `ckf-airgap upgrade` moves from and the operator's consents for it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upgrade: Option<UpgradeChoice>,
}

/// The upgrade's choices. The target release is the bundle (`[bundle] file`) and the archives
/// (`[artifacts]`), as for an install; the registry is the install's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct UpgradeChoice {
    /// The installed release's record (`deployed-state.json` from the install's session).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub installed: Option<PathBuf>,
    /// Consent to run the upgrade plan (headless runs give it here).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub run: bool,
    /// Consent to remove the applications the target release drops.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub remove_dropped: bool,
    /// Back up the databases before the first refresh: yes, no (with `[skip]`'s reason), or
    /// ask (unset).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backups: Option<bool>,
    /// Applications to take back to the installed release (their way back), instead of
    /// retrying or skipping a failed refresh.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub way_back: Vec<String>,
    /// No record: read what runs from `juju status` (a model ckf-airgap did not install), and
    /// take what is inferred (an answers file's consent; an operator who types `model` at the
    /// prompt is asked after seeing it).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub from_model: bool,
    /// The release such a model runs, when its charms (deployed from local files) show no
    /// channel that tells.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub installed_release: Option<crate::ckf_release::CkfRelease>,
    /// Crossing a Juju minor version: the controller of the new version the plan bootstraps
    /// and migrates the model to, and the Kubernetes cloud it goes on (default `ckf-k8s`, the
    /// cloud an install's bootstrap registers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_controller: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cloud: Option<String>,
}

impl Choices {
    /// Why one item inside a step was skipped, when the operator skipped it.
    pub fn skipped_item(&self, kind: super::change::ItemKind, id: &str) -> Option<&String> {
        self.skips.get(&kind.skip_key(id))
    }

    /// Why a whole step was skipped, when the operator skipped it.
    pub fn skipped_step(&self, step: Step) -> Option<&String> {
        self.skips.get(step.id())
    }
}

/// The connected side's choices: what to gather, from where, and where the archives go.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct GatherChoice {
    /// A release bundle (CKF 1.8 to 1.11): its charms are downloaded and read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bundle: Option<PathBuf>,
    /// `.charm` files already downloaded (`juju download`); used before Charmhub.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub charms_dir: Option<PathBuf>,
    /// Plain image lists (one reference a line, like Canonical's `images.txt`), extra images.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub image_lists: Vec<PathBuf>,
    /// The Charmhub API (default `https://api.charmhub.io`; a proxy, or a test server).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub charmhub_url: Option<String>,
    /// The Juju version whose own images are gathered (`jujud-operator`, `juju-db`,
    /// `charm-base`); none when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub juju_version: Option<String>,
    /// `linux/amd64` unless given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
    /// The registry the RepoTags name (default `172.17.0.2:5000`, as Canonical's scripts).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retag_registry: Option<String>,
    /// Where the archives are written (default: the session directory's `archives/`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_dir: Option<PathBuf>,
    /// A CA for the upstream registries (a mirror or proxy registry with its own CA).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<PathBuf>,
    /// A Docker-style `certs.d` directory (`<dir>/<host:port>/ca.crt`, client certificate and
    /// key): a CA and client certificate per registry or mirror.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certs_dir: Option<PathBuf>,
    /// A connected staging cluster running the same release (its kubeconfig): every image its
    /// workloads run that the charms do not name is gathered too, with where it was seen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record_kubeconfig: Option<PathBuf>,
    /// The namespace read in record mode (`kubeflow` unless given).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record_namespace: Option<String>,
    /// Upstream registries pulled through a mirror instead (`docker.io` → `mirror.lab:5000`),
    /// as containerd's `hosts.toml` or `registries.conf` do for sites behind a proxy registry.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub mirrors: BTreeMap<String, String>,
    /// Registries (or mirrors) reached over plain HTTP.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub plain_http: Vec<String>,
    /// Write the archives even though some images could not be pulled (they are listed).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub accept_missing: bool,
    /// An upgrade's differential set: the installed release's `ckf-release.lock.json`. What it
    /// holds is not archived again, and istio-pilot's intermediate versions are added.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upgrade_from: Option<PathBuf>,
    /// Signs the lock: an OpenSSH ed25519 private key, or its public key when ssh-agent
    /// (`SSH_AUTH_SOCK`) holds the private one. Writes `ckf-release.lock.json.sig`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sign_key: Option<PathBuf>,
    /// Cut `images.tar.gz` into volumes of at most this size (`"4GiB"`, `"4700MB"`) for media
    /// that take no larger file: `images.tar.gz.001`, `.002`, … listed in the lock.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_volume_size: Option<String>,
}

/// The whole persisted wizard: the current step and a record per step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WizardState {
    /// Which flow this session runs (sessions written before there were two are installs).
    #[serde(default)]
    pub flow: Flow,
    pub current: Step,
    pub steps: BTreeMap<Step, StepRecord>,
    #[serde(default)]
    pub choices: Choices,
}

impl Default for WizardState {
    fn default() -> Self {
        WizardState::new(Flow::Install)
    }
}

impl WizardState {
    pub fn new(flow: Flow) -> Self {
        WizardState {
            flow,
            current: flow.first(),
            steps: flow.steps().map(|s| (s, StepRecord::default())).collect(),
            choices: Choices::default(),
        }
    }

    pub fn record(&self, step: Step) -> &StepRecord {
        static PENDING: StepRecord = StepRecord {
            status: StepStatus::Pending,
            inputs: None,
            ledger: BTreeMap::new(),
            note: None,
        };
        self.steps.get(&step).unwrap_or(&PENDING)
    }

    pub fn record_mut(&mut self, step: Step) -> &mut StepRecord {
        self.steps.entry(step).or_default()
    }

    pub fn status(&self, step: Step) -> &StepStatus {
        &self.record(step).status
    }

    /// Finished: every step before Done is done or skipped.
    pub fn is_finished(&self) -> bool {
        self.flow.working().all(|s| self.status(s).is_settled())
    }

    /// The step a resumed session starts at: the first one not done or skipped.
    pub fn resume_point(&self) -> Step {
        self.flow
            .steps()
            .find(|s| !self.status(*s).is_settled())
            .unwrap_or(self.flow.last())
    }

    pub fn unit_done(&self, step: Step, unit: &str) -> bool {
        self.record(step).ledger.contains_key(unit)
    }
}
