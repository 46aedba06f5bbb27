//! Every kind of unit a step records in its ledger: a typed key and a typed detail, so no step
//! spells a key prefix or reads a detail field by name. The keys are the ones sessions on disk
//! already hold (`member:…`, `layer:…`, `cmd:…`), with the older spellings still read where a
//! kind was renamed.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::artifacts::{CharmInfo, ImageRecord};
use crate::cluster::deploy::ActionOutcome;
use crate::oci::Digest;
use crate::registry::{PushedBlob, ResolvedImage};

/// A kind of finished unit: where it is kept in the ledger and what it holds.
pub trait Unit {
    type Detail: Serialize + DeserializeOwned;
    /// The ledger key.
    fn key(&self) -> String;
    /// A key an earlier version recorded the same unit under, read when the key is absent.
    fn legacy_key(&self) -> Option<String> {
        None
    }
}

/// An archive member the Artifacts step read and verified.
pub struct ReadMember<'a>(pub &'a str);

/// The image a member holds: the ledger keeps the inventory's records until the step writes
/// the inventory.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct ReadMemberDetail {
    pub record: ImageRecord,
    #[serde(default)]
    pub spooled: bool,
    #[serde(default)]
    pub pushed: bool,
}

const MEMBER: &str = "member:";
/// Before the member units had a kind of their own they shared `image:` with the streaming
/// push's images.
const MEMBER_BEFORE: &str = "image:";

impl ReadMember<'_> {
    /// The member a key of the Artifacts ledger names, when it is a member unit (in either
    /// spelling; the streaming push's image units have the old prefix too, and are told apart
    /// by their detail).
    pub fn member_in(key: &str) -> Option<&str> {
        key.strip_prefix(MEMBER)
            .or_else(|| key.strip_prefix(MEMBER_BEFORE))
    }
}

impl Unit for ReadMember<'_> {
    type Detail = ReadMemberDetail;
    fn key(&self) -> String {
        format!("{MEMBER}{}", self.0)
    }
    fn legacy_key(&self) -> Option<String> {
        Some(format!("{MEMBER_BEFORE}{}", self.0))
    }
}

/// The charms the Artifacts step read from `charms.tar.gz`.
pub struct CharmsRead;

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct CharmsReadDetail {
    pub charms: Vec<CharmInfo>,
}

impl Unit for CharmsRead {
    type Detail = CharmsReadDetail;
    fn key(&self) -> String {
        "charms".into()
    }
}

/// `images.tar.gz` read to its end, every image verified: a re-run of the Artifacts step whose
/// archives did not change (an edited bundle, a skipped need) reads its records instead.
pub struct ImagesRead;

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct ImagesReadDetail {
    pub images: usize,
}

impl Unit for ImagesRead {
    type Detail = ImagesReadDetail;
    fn key(&self) -> String {
        "images-read".into()
    }
}

/// A member whose image the Push step pushed (or found pushed).
pub struct PushedMember<'a>(pub &'a str);

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct PushedMemberDetail {
    pub reference: String,
}

impl Unit for PushedMember<'_> {
    type Detail = PushedMemberDetail;
    fn key(&self) -> String {
        format!("{MEMBER}{}", self.0)
    }
}

/// A layer the pusher holds in the registry, per target and layer encoding (the pusher's
/// `target_key`), by its uncompressed digest.
pub struct PushedLayer<'a> {
    pub target_key: &'a str,
    pub diff_id: &'a Digest,
}

impl Unit for PushedLayer<'_> {
    type Detail = PushedBlob;
    fn key(&self) -> String {
        format!("layer:{}:{}", self.target_key, self.diff_id)
    }
}

/// An image complete under its target reference.
pub struct PushedImage<'a>(pub &'a str);

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct PushedImageDetail {
    pub digest: Digest,
}

impl Unit for PushedImage<'_> {
    type Detail = PushedImageDetail;
    fn key(&self) -> String {
        format!("image:{}", self.0)
    }
}

/// Uploads go in chunks for the rest of the session, at the size learned.
pub struct UploadForm;

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct UploadFormDetail {
    pub chunk_size: u64,
    pub reason: String,
}

impl Unit for UploadForm {
    type Detail = UploadFormDetail;
    fn key(&self) -> String {
        "upload-form".into()
    }
}

/// One action of the deploy plan (a juju command), by its plan id.
pub struct PlanCommand<'a>(pub &'a str);

/// The Juju setup was recorded under its bare id before it was part of the plan.
const SETUP_BEFORE_THE_PLAN: [&str; 3] = [
    crate::cluster::juju_setup::ADD_K8S_ID,
    crate::cluster::juju_setup::BOOTSTRAP_ID,
    crate::cluster::juju_setup::ADD_MODEL_ID,
];

impl Unit for PlanCommand<'_> {
    type Detail = ActionOutcome;
    fn key(&self) -> String {
        crate::wizard::ItemKind::Command.skip_key(self.0)
    }
    fn legacy_key(&self) -> Option<String> {
        SETUP_BEFORE_THE_PLAN
            .contains(&self.0)
            .then(|| self.0.to_string())
    }
}

/// A charm gather downloaded or took from the folder.
pub struct GatheredCharmUnit<'a>(pub &'a str);

/// The charm, where it is, and where it came from (a charm from the folder has no channel's
/// revision).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct GatheredCharm {
    pub info: CharmInfo,
    pub path: std::path::PathBuf,
    pub channel: Option<String>,
    pub revision: Option<u64>,
    /// istio-pilot for an intermediate Istio track on an upgrade's way (`1.26`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upgrade_hop: Option<String>,
}

impl Unit for GatheredCharmUnit<'_> {
    type Detail = GatheredCharm;
    fn key(&self) -> String {
        format!("charm:{}", self.0)
    }
}

/// An image gather pulled, by its upstream reference.
pub struct PulledImage<'a>(pub &'a str);

impl Unit for PulledImage<'_> {
    type Detail = ResolvedImage;
    fn key(&self) -> String {
        format!("image:{}", self.0)
    }
}

/// The one unit of a step that ends in one piece of work; its detail is a summary for the
/// session's reader, never read back by the program.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Summary {
    Checks,
    Preflight,
    PushReport,
    Mapping,
    Gateway,
    BundleWritten,
    ReleasePlan,
    DryRun,
    Dashboard,
    GatherSource,
    GatherImages,
    GatherArchives,
    UpgradePlan,
    /// Who signed the lock the archives were verified against.
    LockSigner,
}

/// One backup the upgrade made before its first refresh (`backup:<name>`).
pub struct BackupMade<'a>(pub &'a str);

impl Unit for BackupMade<'_> {
    type Detail = crate::engine::outputs::BackupFile;
    fn key(&self) -> String {
        format!("backup:{}", self.0)
    }
}

impl Unit for Summary {
    type Detail = serde_json::Value;
    fn key(&self) -> String {
        match self {
            Summary::Checks => "checks",
            Summary::Preflight => "preflight",
            Summary::PushReport => "report",
            Summary::Mapping => "mapping",
            Summary::Gateway => "gateway",
            Summary::BundleWritten => "written",
            Summary::ReleasePlan => "release-plan",
            Summary::DryRun => "dry-run",
            Summary::Dashboard => "dashboard",
            Summary::GatherSource => "source",
            Summary::GatherImages => "images",
            Summary::GatherArchives => "archives",
            Summary::UpgradePlan => "upgrade-plan",
            Summary::LockSigner => "lock-signer",
        }
        .into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_the_ones_sessions_hold() {
        let d = Digest::of(b"x");
        assert_eq!(ReadMember("a.tar").key(), "member:a.tar");
        assert_eq!(
            ReadMember("a.tar").legacy_key().as_deref(),
            Some("image:a.tar")
        );
        assert_eq!(ReadMember::member_in("image:a.tar"), Some("a.tar"));
        assert_eq!(
            PushedLayer {
                target_key: "r:5000#gzip1",
                diff_id: &d
            }
            .key(),
            format!("layer:r:5000#gzip1:{d}")
        );
        assert_eq!(PlanCommand("deploy-x").key(), "cmd:deploy-x");
        assert_eq!(PlanCommand("deploy-x").legacy_key(), None);
        assert_eq!(
            PlanCommand("bootstrap").legacy_key().as_deref(),
            Some("bootstrap")
        );
        assert_eq!(UploadForm.key(), "upload-form");
        assert_eq!(Summary::PushReport.key(), "report");
    }
}
