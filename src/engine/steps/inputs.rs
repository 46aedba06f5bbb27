//! What each step reads of the operator's choices, as typed parts. A step asks its context for
//! a part (`StepContext::input`) and may ask only for the parts that name it in `READ_BY`; the
//! step's fingerprint is made of exactly those parts and the files they name (`Watched`), so
//! what a step reads and what re-runs it are one list.
//!
//! A part a step only checks against (the bundle for the Artifacts step, a consent, a skipped
//! command) names the step in `RERUN_ONLY_FOR` as well: its change runs the step again but
//! keeps its finished units, so an edited bundle does not send a 100 GB archive again.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::ckf_release::CkfRelease;
use crate::engine::fingerprint::{self, Watched};
use crate::wizard::state::{GatewayServiceType, GatherChoice, RegistryChoice};
use crate::wizard::{Choices, ItemKind, Step};

/// One part of what steps read.
pub trait InputPart: Serialize + Sized {
    /// The steps that read this part: it is in their fingerprints, and only they may ask for it.
    const READ_BY: &'static [Step];
    /// Of `READ_BY`, the steps a change of this part runs again with their finished units kept.
    /// A field such a step ran without (an empty choice) is no change when it is given later:
    /// the step said it had none, and the later step that needs it checks it.
    const RERUN_ONLY_FOR: &'static [Step] = &[];
    /// Of `READ_BY`, the steps that read this part only to do sooner what a later step does
    /// anyway (the Artifacts step pushes while it reads when the registry answers; the push
    /// step sends the rest): not in their fingerprints, since their result does not depend on it.
    const HINT_ONLY_FOR: &'static [Step] = &[];
    fn of(choices: &Choices) -> Self;
}

pub use crate::engine::fingerprint::RERUN_ONLY_MARK;

/// The fingerprint of what `step` reads: every part that names it, field by field.
pub fn fingerprint_of(step: Step, choices: &Choices) -> String {
    let mut lines = BTreeMap::new();
    add::<ChecksInput>(step, choices, &mut lines);
    add::<ReleaseInput>(step, choices, &mut lines);
    add::<RegistryReachInput>(step, choices, &mut lines);
    add::<RegistryInput>(step, choices, &mut lines);
    add::<RegistryTargetInput>(step, choices, &mut lines);
    add::<ArtifactsInput>(step, choices, &mut lines);
    add::<WorkDirInput>(step, choices, &mut lines);
    add::<NeedSkipsInput>(step, choices, &mut lines);
    add::<BundleInput>(step, choices, &mut lines);
    add::<GatewayInput>(step, choices, &mut lines);
    add::<WriteConsentInput>(step, choices, &mut lines);
    add::<DeployInput>(step, choices, &mut lines);
    add::<DeployConsentInput>(step, choices, &mut lines);
    add::<CommandSkipsInput>(step, choices, &mut lines);
    add::<GatherInput>(step, choices, &mut lines);
    add::<InstalledInput>(step, choices, &mut lines);
    add::<UpgradeConsentInput>(step, choices, &mut lines);
    add::<BackupsInput>(step, choices, &mut lines);
    add::<WayBackInput>(step, choices, &mut lines);
    fingerprint::encode(&lines)
}

fn add<T: InputPart>(step: Step, choices: &Choices, lines: &mut BTreeMap<String, String>) {
    if !T::READ_BY.contains(&step) || T::HINT_ONLY_FOR.contains(&step) {
        return;
    }
    let rerun_only = T::RERUN_ONLY_FOR.contains(&step);
    for (name, hash) in fingerprint::fields(&T::of(choices)) {
        let name = if rerun_only {
            format!("{RERUN_ONLY_MARK}{name}")
        } else {
            name
        };
        lines.insert(name, hash);
    }
}

fn watched(path: Option<&PathBuf>) -> Option<Watched> {
    Watched::of(path.map(PathBuf::as_path))
}

/// `ckf-release.lock.json` beside the images archive, once it is there (its appearance is a
/// change too).
fn lock_beside(choices: &Choices) -> Option<Watched> {
    let lock = choices
        .images_archive
        .as_deref()
        .map(crate::gather::lock::beside)
        .filter(|p| p.exists());
    Watched::of(lock.as_deref())
}

fn signature_beside(choices: &Choices) -> Option<Watched> {
    let lock = lock_beside(choices)?;
    let signature = crate::gather::lock_signature::signature_path(lock.path());
    signature.exists().then_some(Watched(signature))
}

/// The environment checks' own choices.
#[derive(Debug, Clone, Serialize)]
pub struct ChecksInput {
    pub model: Option<String>,
    pub containerd_certs_dir: Option<PathBuf>,
    pub write_containerd_trust: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registry_mirrors: Option<bool>,
    /// Keyed by the whole skip key, as saved sessions' fingerprints were made.
    pub check_skips: BTreeMap<String, String>,
    /// The disk check sizes the archive; the mirror check reads the hosts its lock names.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub images_archive: Option<Watched>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lock_file: Option<Watched>,
}

impl ChecksInput {
    pub fn skipped(&self, id: &str) -> Option<&String> {
        self.check_skips.get(&ItemKind::Check.skip_key(id))
    }
}

/// The checks prove the environment and leave no work a later step builds on but the nodes'
/// runtimes, which they write again: a change of what they read runs them again and resets no
/// later step, and a choice first given later (the archive path typed at the Artifacts step,
/// the registry at the login) is no change at all.
const CHECKS: &[Step] = &[Step::EnvironmentChecks];

impl InputPart for ChecksInput {
    const READ_BY: &'static [Step] = CHECKS;
    const RERUN_ONLY_FOR: &'static [Step] = CHECKS;
    fn of(c: &Choices) -> Self {
        ChecksInput {
            model: c.model.clone(),
            containerd_certs_dir: c.containerd_certs_dir.clone(),
            write_containerd_trust: c.write_containerd_trust,
            registry_mirrors: c.registry_mirrors,
            check_skips: c
                .skips
                .iter()
                .filter(|(k, _)| ItemKind::Check.id_in(k).is_some())
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            images_archive: watched(c.images_archive.as_ref()),
            lock_file: lock_beside(c),
        }
    }
}

/// Which CKF release, and the bundle that may tell it: the operator's release, the bundle and
/// the placeholder registry that decides its form.
#[derive(Debug, Clone, Serialize)]
pub struct ReleaseInput {
    pub ckf_release: Option<CkfRelease>,
    pub bundle: Option<Watched>,
    pub placeholder_registry: Option<String>,
}

impl ReleaseInput {
    pub fn bundle_path(&self) -> Option<&Path> {
        self.bundle.as_ref().map(Watched::path)
    }
}

impl InputPart for ReleaseInput {
    const READ_BY: &'static [Step] = &[
        Step::EnvironmentChecks,
        Step::Artifacts,
        Step::PlaceholderMapping,
        Step::BundlePreview,
        Step::JujuDeploy,
        Step::UpgradePlan,
        Step::UpgradeRun,
    ];
    /// The checks only name the release from it; the Artifacts step checks the bundle's needs
    /// against the archives it has read.
    const RERUN_ONLY_FOR: &'static [Step] = &[Step::EnvironmentChecks, Step::Artifacts];
    fn of(c: &Choices) -> Self {
        ReleaseInput {
            ckf_release: c.ckf_release,
            bundle: watched(c.bundle.as_ref()),
            placeholder_registry: c.placeholder_registry.clone(),
        }
    }
}

/// The files a registry choice names for TLS, each watched by content.
#[derive(Debug, Clone, Serialize)]
pub struct RegistryFiles {
    pub ca_file: Option<Watched>,
    pub certs_dir: Option<Watched>,
    pub client_cert: Option<Watched>,
    pub client_key: Option<Watched>,
}

impl RegistryFiles {
    fn of(r: Option<&RegistryChoice>) -> Self {
        RegistryFiles {
            ca_file: watched(r.and_then(|r| r.ca_file.as_ref())),
            certs_dir: watched(r.and_then(|r| r.certs_dir.as_ref())),
            client_cert: watched(r.and_then(|r| r.client_cert.as_ref())),
            client_key: watched(r.and_then(|r| r.client_key.as_ref())),
        }
    }
}

/// What the environment checks read of the registry: the address and the TLS settings of an
/// anonymous preflight (credentials are the login step's business).
#[derive(Debug, Clone, Serialize)]
pub struct RegistryReachInput {
    pub registry_target: Option<String>,
    pub insecure: bool,
    pub plain_http: bool,
    #[serde(flatten)]
    pub files: RegistryFiles,
}

impl RegistryReachInput {
    /// The choice with only the fields above, for the preflight's client and the files the
    /// checks write: the checks read no credential or push setting.
    pub fn choice(&self) -> Option<RegistryChoice> {
        let path = |w: &Option<Watched>| w.as_ref().map(|w| w.path().to_path_buf());
        Some(RegistryChoice {
            target: self.registry_target.clone()?,
            insecure: self.insecure,
            plain_http: self.plain_http,
            ca_file: path(&self.files.ca_file),
            certs_dir: path(&self.files.certs_dir),
            client_cert: path(&self.files.client_cert),
            client_key: path(&self.files.client_key),
            ..RegistryChoice::default()
        })
    }
}

impl InputPart for RegistryReachInput {
    const READ_BY: &'static [Step] = CHECKS;
    const RERUN_ONLY_FOR: &'static [Step] = CHECKS;
    fn of(c: &Choices) -> Self {
        let r = c.registry.as_ref();
        RegistryReachInput {
            registry_target: r.map(|r| r.target.clone()),
            insecure: r.is_some_and(|r| r.insecure),
            plain_http: r.is_some_and(|r| r.plain_http),
            files: RegistryFiles::of(r),
        }
    }
}

/// The whole registry choice (every field, present and future) and the content of every file
/// it names: what a step that logs in and sends or looks up images reads.
#[derive(Debug, Clone, Serialize)]
pub struct RegistryInput {
    pub registry: Option<RegistryChoice>,
    #[serde(flatten)]
    pub files: RegistryFiles,
}

impl InputPart for RegistryInput {
    const READ_BY: &'static [Step] = &[
        Step::Artifacts,
        Step::RegistryLogin,
        Step::ImagePush,
        Step::PlaceholderMapping,
        Step::JujuDeploy,
        Step::UpgradePlan,
        Step::UpgradeRun,
    ];
    const HINT_ONLY_FOR: &'static [Step] = &[Step::Artifacts];
    fn of(c: &Choices) -> Self {
        RegistryInput {
            registry: c.registry.clone(),
            files: RegistryFiles::of(c.registry.as_ref()),
        }
    }
}

/// Only where the images go: the preview writes references under it.
#[derive(Debug, Clone, Serialize)]
pub struct RegistryTargetInput {
    pub registry_target: Option<String>,
}

impl InputPart for RegistryTargetInput {
    const READ_BY: &'static [Step] = &[Step::PlaceholderMapping, Step::BundlePreview];
    fn of(c: &Choices) -> Self {
        RegistryTargetInput {
            registry_target: c.registry.as_ref().map(|r| r.target.clone()),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct ArtifactsInput {
    pub images_archive: Option<Watched>,
    pub charms_archive: Option<Watched>,
    pub retagged_images: Option<Watched>,
    pub one_image_at_a_time: bool,
    /// `ckf-release.lock.json` beside `images.tar.gz`, which the step verifies the archives
    /// against. Absent from the fingerprint while there is none, so sessions made before it
    /// was read keep theirs; one that appears or changes runs the step again.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lock_file: Option<Watched>,
    /// `[artifacts] allowed_signers` and the lock's signature beside it; absent while unset,
    /// so earlier sessions keep their fingerprints.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allowed_signers: Option<Watched>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lock_signature: Option<Watched>,
}

impl ArtifactsInput {
    pub fn images_path(&self) -> Option<&Path> {
        self.images_archive.as_ref().map(Watched::path)
    }
}

impl InputPart for ArtifactsInput {
    const READ_BY: &'static [Step] = &[Step::Artifacts, Step::ImagePush];
    fn of(c: &Choices) -> Self {
        ArtifactsInput {
            images_archive: watched(c.images_archive.as_ref()),
            charms_archive: watched(c.charms_archive.as_ref()),
            retagged_images: watched(c.retagged_images.as_ref()),
            one_image_at_a_time: c.one_image_at_a_time,
            lock_file: lock_beside(c),
            allowed_signers: watched(c.allowed_signers.as_ref()),
            lock_signature: signature_beside(c),
        }
    }
}

/// Where archives are unpacked and charms spooled.
#[derive(Debug, Clone, Serialize)]
pub struct WorkDirInput {
    /// Written even when empty: saved sessions' fingerprints hold it so.
    pub work_dir: Option<PathBuf>,
}

impl InputPart for WorkDirInput {
    const READ_BY: &'static [Step] = &[
        Step::EnvironmentChecks,
        Step::Artifacts,
        Step::ImagePush,
        Step::PlaceholderMapping,
        Step::BundlePreview,
        Step::JujuDeploy,
        Step::UpgradePlan,
        Step::UpgradeRun,
    ];
    const RERUN_ONLY_FOR: &'static [Step] = CHECKS;
    fn of(c: &Choices) -> Self {
        WorkDirInput {
            work_dir: c.work_dir.clone(),
        }
    }
}

/// A release bundle's needs the operator skipped with a reason (`need:<application>/<what>`).
#[derive(Debug, Clone, Serialize)]
pub struct NeedSkipsInput {
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub need_skips: BTreeMap<String, String>,
}

impl NeedSkipsInput {
    pub fn skipped(&self, id: &str) -> Option<&String> {
        self.need_skips.get(id)
    }
}

impl InputPart for NeedSkipsInput {
    const READ_BY: &'static [Step] = &[Step::Artifacts];
    const RERUN_ONLY_FOR: &'static [Step] = &[Step::Artifacts];
    fn of(c: &Choices) -> Self {
        NeedSkipsInput {
            need_skips: skips_of(c, ItemKind::Need),
        }
    }
}

fn skips_of(c: &Choices, kind: ItemKind) -> BTreeMap<String, String> {
    kind.skips(c)
        .map(|(id, reason)| (id.to_owned(), reason.clone()))
        .collect()
}

/// How the bundle is edited and mapped.
#[derive(Debug, Clone, Serialize)]
pub struct BundleInput {
    pub bundle: Option<Watched>,
    pub mapping_overrides: BTreeMap<String, String>,
    pub pin_digests: bool,
    pub bundle_output: Option<PathBuf>,
    pub separate_plan: Option<String>,
    /// References left as written, with their reasons (`ref:<reference>` skips).
    pub reference_skips: Vec<(String, String)>,
}

impl BundleInput {
    pub fn skipped_reference(&self, reference: &str) -> Option<&String> {
        self.reference_skips
            .iter()
            .find(|(r, _)| r == reference)
            .map(|(_, reason)| reason)
    }
}

impl InputPart for BundleInput {
    const READ_BY: &'static [Step] = &[
        Step::PlaceholderMapping,
        Step::BundlePreview,
        Step::JujuDeploy,
        Step::UpgradePlan,
        Step::UpgradeRun,
    ];
    fn of(c: &Choices) -> Self {
        BundleInput {
            bundle: watched(c.bundle.as_ref()),
            mapping_overrides: c.mapping_overrides.clone(),
            pin_digests: c.pin_digests,
            bundle_output: c.bundle_output.clone(),
            separate_plan: c.separate_plan.clone(),
            reference_skips: skips_of(c, ItemKind::Reference).into_iter().collect(),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct GatewayInput {
    pub gateway: Option<GatewayServiceType>,
}

impl InputPart for GatewayInput {
    const READ_BY: &'static [Step] = &[
        Step::GatewayType,
        Step::BundlePreview,
        Step::JujuDeploy,
        Step::UpgradePlan,
        Step::UpgradeRun,
    ];
    fn of(c: &Choices) -> Self {
        GatewayInput { gateway: c.gateway }
    }
}

/// The consent to write the edited bundle without asking.
#[derive(Debug, Clone, Serialize)]
pub struct WriteConsentInput {
    pub confirm_bundle_write: bool,
}

impl InputPart for WriteConsentInput {
    const READ_BY: &'static [Step] = &[Step::BundlePreview];
    const RERUN_ONLY_FOR: &'static [Step] = &[Step::BundlePreview];
    fn of(c: &Choices) -> Self {
        WriteConsentInput {
            confirm_bundle_write: c.confirm_bundle_write,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct DeployInput {
    pub model: Option<String>,
    pub dry_run: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub watch_minutes: Option<u64>,
}

impl DeployInput {
    pub fn model_name(&self) -> String {
        self.model.clone().unwrap_or_else(|| "kubeflow".into())
    }
}

impl InputPart for DeployInput {
    const READ_BY: &'static [Step] = &[
        Step::JujuDeploy,
        Step::Done,
        Step::UpgradeBackups,
        Step::UpgradeRun,
        Step::UpgradeDone,
    ];
    fn of(c: &Choices) -> Self {
        DeployInput {
            model: c.model.clone(),
            dry_run: c.dry_run,
            watch_minutes: c.watch_minutes,
        }
    }
}

/// The consents to run the plan and to bootstrap a controller without asking.
#[derive(Debug, Clone, Serialize)]
pub struct DeployConsentInput {
    pub confirm_deploy: bool,
    pub bootstrap: bool,
}

impl InputPart for DeployConsentInput {
    const READ_BY: &'static [Step] = &[Step::JujuDeploy];
    const RERUN_ONLY_FOR: &'static [Step] = &[Step::JujuDeploy];
    fn of(c: &Choices) -> Self {
        DeployConsentInput {
            confirm_deploy: c.confirm_deploy,
            bootstrap: c.bootstrap,
        }
    }
}

/// Plan actions the operator skipped with a reason (`cmd:<id>`): the deploy runs again past
/// them, keeping what it ran.
#[derive(Debug, Clone, Serialize)]
pub struct CommandSkipsInput {
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub command_skips: BTreeMap<String, String>,
}

impl CommandSkipsInput {
    pub fn skipped(&self, id: &str) -> Option<&String> {
        self.command_skips.get(id)
    }
}

impl InputPart for CommandSkipsInput {
    const READ_BY: &'static [Step] = &[Step::JujuDeploy, Step::UpgradeRun];
    const RERUN_ONLY_FOR: &'static [Step] = &[Step::JujuDeploy, Step::UpgradeRun];
    fn of(c: &Choices) -> Self {
        CommandSkipsInput {
            command_skips: skips_of(c, ItemKind::Command),
        }
    }
}

/// The connected side: the whole gather choice and the files it names.
#[derive(Debug, Clone, Serialize)]
pub struct GatherInput {
    pub gather: Option<GatherChoice>,
    pub bundle: Option<Watched>,
    pub charms_dir: Option<Watched>,
    pub image_lists: Vec<Watched>,
    /// Absent unless given, so that sessions from before it keep their fingerprints.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upgrade_from: Option<Watched>,
}

impl InputPart for GatherInput {
    const READ_BY: &'static [Step] = &[
        Step::GatherSource,
        Step::GatherCharms,
        Step::GatherImages,
        Step::GatherPull,
        Step::GatherWrite,
        Step::GatherDone,
    ];
    fn of(c: &Choices) -> Self {
        let g = c.gather.as_ref();
        GatherInput {
            gather: c.gather.clone(),
            bundle: watched(g.and_then(|g| g.bundle.as_ref())),
            charms_dir: watched(g.and_then(|g| g.charms_dir.as_ref())),
            upgrade_from: watched(g.and_then(|g| g.upgrade_from.as_ref())),
            image_lists: g
                .map(|g| g.image_lists.iter().map(|p| Watched(p.clone())).collect())
                .unwrap_or_default(),
        }
    }
}

/// The upgrade's starting point: the installed release's record and the model it names (or
/// the operator's `[deploy] model`).
#[derive(Debug, Clone, Serialize)]
pub struct InstalledInput {
    pub installed: Option<Watched>,
    pub model: Option<String>,
    /// Absent unless set, so that sessions from before it keep their fingerprints.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub from_model: bool,
    /// `[upgrade] installed_release`: the release of a model inferred from local charms.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub installed_release: Option<crate::ckf_release::CkfRelease>,
    /// `[upgrade] new_controller` and `cloud`, for a Juju minor version crossing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub new_controller: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cloud: Option<String>,
}

impl InstalledInput {
    pub fn record_path(&self) -> Option<&Path> {
        self.installed.as_ref().map(Watched::path)
    }
}

impl InputPart for InstalledInput {
    const READ_BY: &'static [Step] = &[
        Step::UpgradeModel,
        Step::UpgradePlan,
        Step::UpgradeBackups,
        Step::UpgradeRun,
    ];
    fn of(c: &Choices) -> Self {
        InstalledInput {
            installed: watched(c.upgrade.as_ref().and_then(|u| u.installed.as_ref())),
            model: c.model.clone(),
            from_model: c.upgrade.as_ref().is_some_and(|u| u.from_model),
            installed_release: c.upgrade.as_ref().and_then(|u| u.installed_release),
            new_controller: c.upgrade.as_ref().and_then(|u| u.new_controller.clone()),
            cloud: c.upgrade.as_ref().and_then(|u| u.cloud.clone()),
        }
    }
}

/// The consents to run the upgrade plan and to remove what the target release drops.
#[derive(Debug, Clone, Serialize)]
pub struct UpgradeConsentInput {
    pub run: bool,
    pub remove_dropped: bool,
}

impl InputPart for UpgradeConsentInput {
    const READ_BY: &'static [Step] = &[Step::UpgradePlan, Step::UpgradeRun];
    const RERUN_ONLY_FOR: &'static [Step] = &[Step::UpgradePlan, Step::UpgradeRun];
    fn of(c: &Choices) -> Self {
        let u = c.upgrade.clone().unwrap_or_default();
        UpgradeConsentInput {
            run: u.run,
            remove_dropped: u.remove_dropped,
        }
    }
}

/// Whether to back up before the first refresh (unset: ask).
#[derive(Debug, Clone, Serialize)]
pub struct BackupsInput {
    pub backups: Option<bool>,
}

impl InputPart for BackupsInput {
    const READ_BY: &'static [Step] = &[Step::UpgradeBackups];
    const RERUN_ONLY_FOR: &'static [Step] = &[Step::UpgradeBackups];
    fn of(c: &Choices) -> Self {
        BackupsInput {
            backups: c.upgrade.as_ref().and_then(|u| u.backups),
        }
    }
}

/// The applications the operator sent back to the installed release.
#[derive(Debug, Clone, Serialize)]
pub struct WayBackInput {
    pub way_back: Vec<String>,
}

impl InputPart for WayBackInput {
    const READ_BY: &'static [Step] = &[Step::UpgradeRun];
    const RERUN_ONLY_FOR: &'static [Step] = &[Step::UpgradeRun];
    fn of(c: &Choices) -> Self {
        WayBackInput {
            way_back: c
                .upgrade
                .as_ref()
                .map(|u| u.way_back.clone())
                .unwrap_or_default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bundle_edit_keeps_the_artifacts_units_but_not_the_mappings() {
        let dir = tempfile::tempdir().unwrap();
        let bundle = dir.path().join("bundle.yaml");
        std::fs::write(&bundle, "applications: {}\n").unwrap();
        let choices = Choices {
            bundle: Some(bundle.clone()),
            ..Choices::default()
        };
        let artifacts = fingerprint_of(Step::Artifacts, &choices);
        let mapping = fingerprint_of(Step::PlaceholderMapping, &choices);
        std::fs::write(&bundle, "applications: {a: {}}\n").unwrap();
        let changed =
            |old: &str, step| fingerprint::changed_fields(old, &fingerprint_of(step, &choices));
        let in_artifacts = changed(&artifacts, Step::Artifacts);
        assert!(!in_artifacts.is_empty());
        assert!(
            in_artifacts.iter().all(|f| f.starts_with(RERUN_ONLY_MARK)),
            "{in_artifacts:?}"
        );
        let in_mapping = changed(&mapping, Step::PlaceholderMapping);
        assert!(
            in_mapping.iter().any(|f| !f.starts_with(RERUN_ONLY_MARK)),
            "{in_mapping:?}"
        );
    }

    fn well_formed<T: InputPart>() {
        for step in T::RERUN_ONLY_FOR.iter().chain(T::HINT_ONLY_FOR) {
            assert!(
                T::READ_BY.contains(step),
                "{} names {step} but is not read by it",
                std::any::type_name::<T>()
            );
        }
    }

    #[test]
    fn every_part_reruns_or_hints_only_steps_that_read_it() {
        well_formed::<ChecksInput>();
        well_formed::<ReleaseInput>();
        well_formed::<RegistryReachInput>();
        well_formed::<RegistryInput>();
        well_formed::<RegistryTargetInput>();
        well_formed::<ArtifactsInput>();
        well_formed::<WorkDirInput>();
        well_formed::<NeedSkipsInput>();
        well_formed::<BundleInput>();
        well_formed::<GatewayInput>();
        well_formed::<WriteConsentInput>();
        well_formed::<DeployInput>();
        well_formed::<DeployConsentInput>();
        well_formed::<CommandSkipsInput>();
        well_formed::<GatherInput>();
    }

    #[test]
    fn paths_and_the_registry_given_after_the_checks_ran_do_not_run_them_again() {
        let dir = tempfile::tempdir().unwrap();
        let images = dir.path().join("images.tar.gz");
        std::fs::write(&images, b"x").unwrap();
        let mut choices = Choices::default();
        let ran = fingerprint_of(Step::EnvironmentChecks, &choices);
        choices.images_archive = Some(images.clone());
        choices.registry = Some(RegistryChoice {
            target: "reg.lab/ckf".into(),
            ..RegistryChoice::default()
        });
        let now = fingerprint_of(Step::EnvironmentChecks, &choices);
        assert!(
            fingerprint::changed_fields(&ran, &now).is_empty(),
            "{ran}\n--\n{now}"
        );
        // Changed once given: the checks run again, and only they.
        std::fs::write(&images, b"xy").unwrap();
        let again = fingerprint_of(Step::EnvironmentChecks, &choices);
        assert!(!fingerprint::changed_fields(&now, &again).is_empty());
        assert!(fingerprint::only_rerun_fields_changed(&now, &again));
    }

    #[test]
    fn a_registry_change_is_no_input_of_the_artifacts_step() {
        let mut choices = Choices::default();
        let before = fingerprint_of(Step::Artifacts, &choices);
        choices.registry = Some(RegistryChoice {
            target: "reg.lab/ckf".into(),
            ..RegistryChoice::default()
        });
        assert_eq!(fingerprint_of(Step::Artifacts, &choices), before);
        assert_ne!(
            fingerprint_of(Step::ImagePush, &Choices::default()),
            fingerprint_of(Step::ImagePush, &choices)
        );
    }

    #[test]
    fn the_artifacts_fingerprint_keeps_the_names_saved_sessions_hold() {
        let choices = Choices {
            images_archive: Some("/x/images.tar.gz".into()),
            ..Choices::default()
        };
        let names: Vec<String> = fingerprint_of(Step::Artifacts, &choices)
            .lines()
            .filter_map(|l| l.split_once('=').map(|(n, _)| n.to_owned()))
            .filter(|n| !n.starts_with(RERUN_ONLY_MARK))
            .collect();
        assert_eq!(
            names,
            [
                "charms archive",
                "images archive",
                "one image at a time",
                "retagged images",
                "work dir"
            ]
        );
    }
}
