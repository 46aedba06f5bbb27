//! The two bundle forms behind one enum: the form is decided once, by the mapping step (an
//! output, `DecidedBundle`), and what differs between the forms (the cross-check against the
//! archives, the mapping rows, the preview, the deploy plan, what controls a pod's image)
//! lives in one module per form. The step modules open the decided form and call it; no step
//! branches on the form.

mod air_gapped;
mod release;

use std::path::Path;

use super::choice_paths::required_path;
use super::inputs::ReleaseInput;
use super::release_bundle;
use crate::artifacts::{CrossCheck, Inventory};
use crate::bundle::model::Bundle;
use crate::bundle::scan;
use crate::cluster::plan::{AppDeploy, DeployPlan};
use crate::engine::context::StepContext;
use crate::engine::events::Level;
use crate::engine::outputs::{self, DecidedBundle};
use crate::engine::step_data::{MappingRowView, SkippableItem};
use crate::engine::work::StepError;
use crate::release::{BundleForm, detect_form, detect_release};
use crate::version::Version;
use crate::wizard::PathChoice;

use air_gapped::AirGappedForm;
use release::ReleaseForm;

/// The chosen bundle opened in its form, with what that form reads (for a release bundle,
/// every application's needs from its charm).
pub enum OpenedBundle {
    AirGapped(AirGappedForm),
    /// Boxed: it holds the parsed bundle and the inventory, the other form two paths.
    Release(Box<ReleaseForm>),
}

/// The deploy plan and what each application is deployed with (for the record of the install).
pub struct PlannedInstall {
    pub plan: DeployPlan,
    pub apps: Vec<AppDeploy>,
}

/// What an upgrade moves the model to: each changed application of the target release with
/// its deploy and charm kind, the applications left as they are, istio-pilot's intermediate
/// charms, the target's relations and release.
pub struct UpgradeTargets {
    pub apps: Vec<crate::cluster::upgrade_plan::TargetApp>,
    pub unchanged: Vec<String>,
    pub hops: Vec<crate::cluster::upgrade_plan::IstioHop>,
    pub relations: Vec<[String; 2]>,
    pub release: Option<crate::ckf_release::CkfRelease>,
    pub bundle: Bundle,
}

/// The cross-check against the chosen bundle, with the bundle's form named and what can be
/// skipped item by item.
pub struct BundleCheck {
    pub check: CrossCheck,
    pub bundle: String,
    pub skippable: Vec<SkippableItem>,
}

impl OpenedBundle {
    /// The form the mapping step decided (read again when that step was skipped), opened for a
    /// later step.
    pub async fn decided(ctx: &StepContext) -> Result<Self, StepError> {
        Self::open(ctx, &decided(ctx).await?)
    }

    /// `decided` opened. A release bundle's needs come from the charms, so its inventory must
    /// be there: its absence names the Artifacts step.
    pub fn open(ctx: &StepContext, decided: &DecidedBundle) -> Result<Self, StepError> {
        Ok(match &decided.form {
            BundleForm::Release => {
                OpenedBundle::Release(Box::new(ReleaseForm::open(ctx, decided)?))
            }
            BundleForm::AirGapped { placeholder } => OpenedBundle::AirGapped(AirGappedForm {
                path: decided.bundle.clone(),
                placeholder: placeholder.clone(),
            }),
        })
    }

    /// The chosen bundle, read for the Artifacts step with the inventory it is making or the
    /// one the lock file promises (the form is recorded later, by the mapping step). None when
    /// no bundle is chosen yet.
    pub fn chosen_with(
        input: &ReleaseInput,
        inventory: &Inventory,
        carried: &outputs::DifferentialBase,
    ) -> Result<Option<Self>, StepError> {
        let Some(path) = input.bundle_path() else {
            return Ok(None);
        };
        let (bundle, form) = form_of(path, input.placeholder_registry.as_deref())?;
        Ok(Some(match form {
            BundleForm::Release => {
                OpenedBundle::Release(Box::new(ReleaseForm(release_bundle::with_inventory(
                    path.to_path_buf(),
                    bundle,
                    inventory.clone(),
                    input.ckf_release,
                    carried,
                ))))
            }
            BundleForm::AirGapped { placeholder } => OpenedBundle::AirGapped(AirGappedForm {
                path: path.to_path_buf(),
                placeholder,
            }),
        }))
    }

    /// Every image and charm the bundle needs against `inventory`. `report`: log what is
    /// unused (the check after the read), or not (the check against the lock's promise).
    pub fn cross_check(
        &self,
        ctx: &StepContext,
        inventory: &Inventory,
        report: bool,
    ) -> Result<BundleCheck, StepError> {
        match self {
            OpenedBundle::AirGapped(form) => form.cross_check(ctx, inventory, report),
            OpenedBundle::Release(form) => Ok(form.cross_check(ctx, inventory, report)),
        }
    }

    /// The mapping step's rows, shown, checked and written as `MappingOutput`.
    pub async fn map(&self, ctx: &StepContext) -> Result<(), StepError> {
        match self {
            OpenedBundle::AirGapped(form) => form.map(ctx).await,
            OpenedBundle::Release(form) => form.map(ctx).await,
        }
    }

    /// The preview step: the edited bundle written after consent, or what each application of
    /// a release bundle gets.
    pub async fn preview(&self, ctx: &StepContext) -> Result<(), StepError> {
        match self {
            OpenedBundle::AirGapped(form) => form.preview(ctx).await,
            OpenedBundle::Release(form) => form.preview(ctx),
        }
    }

    /// The deploy plan, without the Juju setup the deploy step puts in front of it, and what
    /// each application is deployed with.
    pub fn deploy_plan(
        &self,
        ctx: &StepContext,
        juju: Version,
        model: &str,
    ) -> Result<PlannedInstall, StepError> {
        let config_dir = ctx.session_dir().join("deploy-config");
        match self {
            OpenedBundle::AirGapped(form) => form.deploy_plan(ctx, juju, &config_dir, model),
            OpenedBundle::Release(form) => form.deploy_plan(ctx, juju, &config_dir, model),
        }
    }

    /// What an upgrade to this bundle moves each application to. Only a release bundle is a
    /// target: the 1.7 air-gapped form is installed, not upgraded to.
    pub fn upgrade_targets(
        &self,
        ctx: &StepContext,
        gateway: Option<crate::gateway_type::GatewayServiceType>,
    ) -> Result<UpgradeTargets, StepError> {
        match self {
            OpenedBundle::AirGapped(form) => Err(StepError::failed(format!(
                "{} is a CKF 1.7 air-gapped bundle: an upgrade moves to a release bundle (CKF \
                 1.8 and later, its charms in charms.tar.gz). Give the target release's bundle \
                 ([bundle] file), then retry.",
                form.path.display()
            ))),
            OpenedBundle::Release(form) => form.upgrade_targets(ctx, gateway),
        }
    }

    /// The bundle the operator chose.
    pub fn bundle_path(&self) -> &Path {
        match self {
            OpenedBundle::AirGapped(form) => &form.path,
            OpenedBundle::Release(form) => &form.0.path,
        }
    }

    /// For an image a pod pulls from outside the private registry: the application and the
    /// charm option or resource that sets it, when the form knows (a release bundle does).
    pub fn set_by(&self, image: &str) -> Option<String> {
        match self {
            OpenedBundle::AirGapped(_) => None,
            OpenedBundle::Release(form) => form.set_by(image),
        }
    }

    /// For such an image: the runtime-table entry that names it when nothing in the charm
    /// can point it elsewhere, so only a registry mirror serves it (by design, not a fault).
    pub fn mirror_only(&self, image: &str) -> Option<String> {
        match self {
            OpenedBundle::AirGapped(_) => None,
            OpenedBundle::Release(form) => form.mirror_only(image),
        }
    }
}

/// What the installed release's lock holds, in an upgrade (the Artifacts step wrote it);
/// nothing outside one, where a differential set is only warned about.
pub fn carried(ctx: &StepContext) -> Result<outputs::DifferentialBase, StepError> {
    if ctx.flow() != crate::wizard::Flow::Upgrade {
        return Ok(outputs::DifferentialBase::default());
    }
    Ok(ctx.output::<outputs::DifferentialBase>()?)
}

/// The form of the bundle at `path`, with the placeholder registry the operator named (else
/// the one the bundle shows).
pub fn form_of(path: &Path, placeholder: Option<&str>) -> Result<(Bundle, BundleForm), StepError> {
    let bundle = Bundle::load(path).map_err(StepError::failed)?;
    let sites = scan::scan_document(&bundle.doc);
    let placeholder = placeholder
        .map(str::to_owned)
        .or_else(|| scan::detect_placeholder(&sites));
    let form = detect_form(&bundle, placeholder.as_deref());
    Ok((bundle, form))
}

/// Decides the chosen bundle's form, asking for the bundle when none is chosen yet: the
/// mapping step's first work, recorded as its output.
pub async fn decide(ctx: &StepContext) -> Result<DecidedBundle, StepError> {
    let input = ctx.input::<ReleaseInput>();
    let path = required_path(
        ctx,
        input.bundle_path(),
        PathChoice::Bundle,
        "Path to the bundle.yaml",
    )
    .await?;
    let (bundle, form) = form_of(&path, input.placeholder_registry.as_deref())?;
    let ckf_release = match form {
        BundleForm::Release => input
            .ckf_release
            .or(detect_release(&bundle).map(|d| d.release)),
        BundleForm::AirGapped { .. } => None,
    };
    Ok(DecidedBundle {
        bundle: path,
        form,
        ckf_release,
    })
}

/// The form the mapping step decided; read again from the bundle only when the operator
/// skipped that step.
async fn decided(ctx: &StepContext) -> Result<DecidedBundle, StepError> {
    match ctx.output_unless_skipped::<DecidedBundle>()? {
        Some(d) => Ok(d),
        None => {
            ctx.log(
                Level::Info,
                "the mapping step was skipped: the bundle's form is read here",
            );
            decide(ctx).await
        }
    }
}

/// The mapping screen's last rows, kept in the session for a front end that attaches later.
fn write_mapping_view(ctx: &StepContext, rows: &[MappingRowView]) -> Result<(), StepError> {
    let dir = ctx.session_dir();
    outputs::write_view(&dir, rows).map_err(|e| {
        StepError::failed(format!(
            "cannot write {}: {e}",
            dir.join(outputs::MAPPING_VIEW_FILE).display()
        ))
    })
}
