//! The release bundle of CKF 1.8 to 1.11: charms by name and channel, every image derived
//! from the charms. Not edited: each application is deployed on its own from its local charm,
//! with every resource and image option pointed at the pushed images.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde_json::json;

use super::{BundleCheck, PlannedInstall};
use crate::artifacts::charm_images::ImageSite;
use crate::artifacts::{CrossCheck, Inventory};
use crate::cluster::plan::{DeployPlan, ReleasePlanInput};
use crate::cluster::yaml_out::ConfigValue;
use crate::engine::context::StepContext;
use crate::engine::events::Level;
use crate::engine::outputs::{
    BundleEdits, DecidedBundle, MappedImage, MappingOutput, SessionPushReport,
};
use crate::engine::step_data::{MappingRowView, MappingState, SkippableItem, StepData};
use crate::engine::steps::choice_paths::work_dir;
use crate::engine::steps::inputs::{
    BundleInput, GatewayInput, NeedSkipsInput, RegistryInput, ReleaseInput,
};
use crate::engine::steps::release_bundle::{self, ReleaseBundle, Resolver};
use crate::engine::units::Summary;
use crate::engine::work::StepError;
use crate::image_ref::{archive_keys, normalize_reference};
use crate::version::Version;

pub struct ReleaseForm(pub ReleaseBundle);

impl ReleaseForm {
    /// The decided release bundle with what its applications need, read from the charms of
    /// the Artifacts step's inventory; its absence names that step.
    pub fn open(ctx: &StepContext, decided: &DecidedBundle) -> Result<Self, StepError> {
        let path = decided.bundle.clone();
        let bundle = crate::bundle::model::Bundle::load(&path).map_err(StepError::failed)?;
        let inventory = ctx.output::<Inventory>().map_err(|missing| {
            StepError::failed(format!(
                "{} is a release bundle: what each application needs is read from its charm in \
                 charms.tar.gz. {missing}",
                path.display()
            ))
        })?;
        Ok(ReleaseForm(release_bundle::with_inventory(
            path,
            bundle,
            inventory,
            ctx.input::<ReleaseInput>().ckf_release,
            &super::carried(ctx)?,
        )))
    }

    /// Every image by application and resource or option, every charm. Items the operator
    /// skipped with a reason are reported, not counted.
    pub fn cross_check(
        &self,
        ctx: &StepContext,
        inventory: &Inventory,
        report: bool,
    ) -> BundleCheck {
        let release = &self.0;
        let need_skips = ctx.input::<NeedSkipsInput>();
        let log = |level: Level, line: String| {
            if report {
                ctx.log(level, line)
            }
        };
        log(
            Level::Info,
            format!(
                "{}: release bundle, {}; {} applications, {} images needed",
                release.path.display(),
                release_bundle::describe(release),
                release.apps.len(),
                release.apps.iter().map(|a| a.needs.len()).sum::<usize>()
            ),
        );
        let check = crate::release::check_release(&release.apps, inventory);
        let mut skippable = Vec::new();
        let mut out = CrossCheck {
            unused_images: check.unused_images.clone(),
            unused_charms: check.unused_charms.clone(),
            ..CrossCheck::default()
        };
        let mut carried = 0;
        for app in &release.unchanged {
            log(
                Level::Info,
                format!(
                    "{app}: its charm is the very file the installed release runs; it is not \
                     in this differential set and is not refreshed"
                ),
            );
        }
        for item in &check.missing {
            if item
                .upstream
                .as_deref()
                .is_some_and(|u| release.carried.holds_image(u))
            {
                carried += 1;
                continue;
            }
            if let Some(reason) = need_skips.skipped(&item.id()) {
                log(
                    Level::Warn,
                    format!(
                        "{} {} is missing; skipped: {reason}",
                        item.application, item.what
                    ),
                );
                continue;
            }
            // The same words as the inventory screen's MISSING line, so it can offer the skip.
            let line = match &item.upstream {
                Some(upstream) => {
                    let text = format!("{}: {} needs {upstream}", item.application, item.what);
                    out.missing_images.push(text.clone());
                    format!("image {text}")
                }
                None => {
                    let text = format!("{}: {}", item.application, item.what);
                    out.missing_charms.push(text.clone());
                    format!("charm {text}")
                }
            };
            skippable.push(SkippableItem {
                id: item.id(),
                line,
            });
        }
        if carried > 0 {
            log(
                Level::Info,
                format!(
                    "{carried} image(s) the target needs are held by the installed release's \
                     lock: pushed at install, not in this set; the mapping step looks each up \
                     in the private registry"
                ),
            );
        }
        for unused in &out.unused_images {
            log(Level::Warn, format!("image no application needs: {unused}"));
        }
        for unused in &out.unused_charms {
            log(Level::Warn, format!("charm no application uses: {unused}"));
        }
        BundleCheck {
            check: out,
            bundle: format!("release bundle, {}", release_bundle::describe(release)),
            skippable,
        }
    }

    /// One row per application and resource or option, from the upstream image the charm
    /// names to the archived image and the pushed target.
    pub async fn map(&self, ctx: &StepContext) -> Result<(), StepError> {
        let release = &self.0;
        let input = ctx.input::<BundleInput>();
        let report = ctx.output_unless_skipped::<SessionPushReport>()?;
        let pushed_any = report.is_some();
        let registry = ctx
            .input::<RegistryInput>()
            .registry
            .and_then(|r| crate::registry::RegistryTarget::parse(&r.target).ok());
        let resolver = Resolver::new(&input, &release.inventory, report.as_ref())
            .with_carried(&release.carried, registry);
        let absent_overrides = absent_override_targets(ctx, &input, pushed_any).await?;
        let absent_carried = absent_carried_targets(ctx, release, &resolver).await?;
        ctx.log(
            Level::Info,
            format!(
                "{}: release bundle, {}",
                release.path.display(),
                release_bundle::describe(release)
            ),
        );
        let mut rows = Vec::new();
        let mut text = String::new();
        let mut mapped = Vec::new();
        for app in &release.apps {
            for need in &app.needs {
                let archived = resolver.archived(&need.upstream);
                let target = resolver.target(&need.upstream);
                let absent = target
                    .as_ref()
                    .filter(|_| resolver.is_overridden(&need.upstream))
                    .and_then(|t| absent_overrides.get(t));
                let carried = resolver.carried_target(&need.upstream);
                let (state, detail) = match (&target, archived) {
                    (Some(t), _) if carried.is_some() => match absent_carried.get(t) {
                        Some(why) => (
                            MappingState::Missing,
                            format!(
                                "pushed at install as {t} (the installed release's lock), but {why}"
                            ),
                        ),
                        None => (
                            MappingState::Matched,
                            "pushed at install (the installed release's lock); in the registry"
                                .to_string(),
                        ),
                    },
                    (Some(t), _) if absent.is_some() => (
                        MappingState::Missing,
                        format!(
                            "set by hand to {t}, but {}",
                            absent.map(String::as_str).unwrap_or_default()
                        ),
                    ),
                    (Some(_), _) if resolver.is_overridden(&need.upstream) => {
                        (MappingState::Matched, "set by hand".to_string())
                    }
                    (Some(_), Some(a)) => (MappingState::Matched, format!("archived as {a}")),
                    (None, Some(a)) if !pushed_any => (
                        MappingState::Unchecked,
                        format!("archived as {a}; not pushed in this session"),
                    ),
                    (None, Some(a)) => (
                        MappingState::Missing,
                        format!("archived as {a} but not pushed"),
                    ),
                    (None, None) => (MappingState::Missing, "not in the archives".to_string()),
                    (Some(_), None) => (MappingState::Matched, String::new()),
                };
                let detail = format!("{}: {}; {detail}", app.application, need.site);
                text.push_str(&format!(
                    "{} {}\n  {} -> {}\n",
                    app.application,
                    need.site,
                    need.upstream,
                    target.as_deref().unwrap_or("(none)")
                ));
                mapped.push(MappedImage {
                    application: Some(app.application.clone()),
                    site: Some(need.site.to_string()),
                    source: need.upstream.clone(),
                    target: target.clone(),
                    registry_namespace: false,
                    digest: None,
                });
                rows.push(MappingRowView {
                    source: need.upstream.clone(),
                    target: target.clone().unwrap_or_default(),
                    state,
                    detail: Some(detail),
                    overridden: resolver.is_overridden(&need.upstream),
                });
            }
        }
        // A promised image no refreshed application names is still needed, by an unchanged
        // application or a way back: gone from the registry, it blocks as theirs would.
        for upstream in carried_images(release) {
            let Some(t) = resolver.carried_target(upstream) else {
                continue;
            };
            let Some(why) = absent_carried.get(&t) else {
                continue;
            };
            if rows.iter().any(|r| r.target == t) {
                continue;
            }
            rows.push(MappingRowView {
                source: upstream.to_owned(),
                target: t.clone(),
                state: MappingState::Missing,
                detail: Some(format!(
                    "the installed release's lock promised it (pushed at install as {t}, run by \
                     the applications the upgrade leaves as they are and by the way back), but \
                     {why}"
                )),
                overridden: false,
            });
        }
        rows.sort_by_key(|r| matches!(r.state, MappingState::Matched));
        ctx.document("Images by application", text);
        super::write_mapping_view(ctx, &rows)?;
        let blocking: Vec<&MappingRowView> = rows
            .iter()
            .filter(|r| matches!(r.state, MappingState::Missing | MappingState::Unchecked))
            .collect();
        ctx.publish(StepData::Mapping(rows.clone()));
        if !blocking.is_empty() {
            let mut message = format!(
                "{} image(s) the applications need have no pushed image:",
                blocking.len()
            );
            for row in &blocking {
                message.push_str(&format!(
                    "\n  {}: {}",
                    row.detail.as_deref().unwrap_or(""),
                    row.source
                ));
            }
            message.push_str(
                "\nPush them (they must be in images.tar.gz), or map each by hand (the [mapping] \
             table of the answers file: \"<upstream>\" = \"<target>\"), then retry.",
            );
            return Err(StepError::failed(message));
        }
        ctx.write_output(&MappingOutput { rows: mapped })?;
        ctx.record(
            &Summary::Mapping,
            &json!({ "rows": rows.len(), "form": "release" }),
        )
    }

    /// What an upgrade moves each changed application to: its deploy (every resource, every
    /// image option recomputed from the new charm, the bundle's options and trust, the gateway
    /// type carried over), its charm's kind; and each intermediate istio-pilot charm with its
    /// `image-configuration` pointed at the private registry.
    pub fn upgrade_targets(
        &self,
        ctx: &StepContext,
        gateway: Option<crate::gateway_type::GatewayServiceType>,
    ) -> Result<super::UpgradeTargets, StepError> {
        use crate::cluster::upgrade_plan::{IstioHop, TargetApp};
        let release = &self.0;
        let work = work_dir(ctx);
        let targets = ctx.output::<MappingOutput>()?.targets();
        let deploys =
            release_bundle::app_deploys(release, &targets, &work, gateway).map_err(|missing| {
                StepError::failed(format!(
                    "these have no pushed image or charm:\n  {}\nRun the Map placeholders step \
                     again or map them by hand ([mapping]).",
                    missing.join("\n  ")
                ))
            })?;
        let kinds: BTreeMap<&str, crate::charm_kind::CharmKind> = release
            .apps
            .iter()
            .filter_map(|a| Some((a.application.as_str(), a.charm_info.as_ref()?.kind)))
            .collect();
        let apps = deploys
            .into_iter()
            .map(|deploy| TargetApp {
                kind: kinds
                    .get(deploy.application.as_str())
                    .copied()
                    .unwrap_or(crate::charm_kind::CharmKind::Sidecar),
                deploy,
            })
            .collect();
        let input = ctx.input::<BundleInput>();
        let report = ctx.output_unless_skipped::<SessionPushReport>()?;
        let resolver = Resolver::new(&input, &release.inventory, report.as_ref());
        let mut hops = Vec::new();
        let mut missing = Vec::new();
        for hop in &release.carried.hops {
            let Some(charm) = release
                .inventory
                .charms
                .iter()
                .find(|c| c.file_name == hop.file)
            else {
                missing.push(format!(
                    "istio-pilot {}: the lock names {}, which charms.tar.gz does not hold",
                    hop.track, hop.file
                ));
                continue;
            };
            let mut config = Vec::new();
            for option in crate::artifacts::charm_images::image_options(charm) {
                match option.rewritten(&|u| resolver.target(u)) {
                    Ok(value) => config.push((option.option.clone(), ConfigValue::Text(value))),
                    Err(upstream) => missing.push(format!(
                        "istio-pilot {}: option {} needs {upstream}, which was not pushed",
                        hop.track, option.option
                    )),
                }
            }
            hops.push(IstioHop {
                track: hop.track.clone(),
                charm: work.join(&charm.spool_path),
                config,
            });
        }
        if !missing.is_empty() {
            return Err(StepError::failed(format!(
                "istio-pilot's intermediate versions cannot be refreshed through:\n  {}\nGather \
                 the upgrade again ([gather] upgrade_from) so the set holds every hop, then retry.",
                missing.join("\n  ")
            )));
        }
        Ok(super::UpgradeTargets {
            apps,
            unchanged: release.unchanged.clone(),
            hops,
            relations: release_bundle::relations(&release.bundle),
            release: ctx
                .input::<ReleaseInput>()
                .ckf_release
                .or(release.detected.as_ref().map(|d| d.release)),
            bundle: release.bundle.clone(),
        })
    }

    /// Nothing in a release bundle is edited: the preview shows what each application will get
    /// (charm, resources, the options with every image rewritten); the deploy step shows the
    /// exact commands and asks before running them.
    pub fn preview(&self, ctx: &StepContext) -> Result<(), StepError> {
        let release = &self.0;
        let targets = ctx.output::<MappingOutput>()?.targets();
        let gateway = ctx.input::<GatewayInput>().gateway;
        let apps = release_bundle::app_deploys(release, &targets, &work_dir(ctx), gateway).map_err(
        |missing| {
            StepError::failed(format!(
                "these have no pushed image or charm:\n  {}\nRun the Map placeholders step again \
                 or map them by hand ([mapping]).",
                missing.join("\n  ")
            ))
        },
    )?;
        let mut text = format!(
            "{}: {}. Nothing in it is edited: each application is deployed from its local charm.\n",
            release.path.display(),
            release_bundle::describe(release)
        );
        for app in &apps {
            text.push_str(&format!(
                "\n{} ({})\n",
                app.application,
                app.charm.display()
            ));
            for (name, image) in &app.resources {
                text.push_str(&format!("  --resource {name}={image}\n"));
            }
            for (key, value) in &app.config {
                let shown = match value {
                    ConfigValue::Text(t) => t.clone(),
                    ConfigValue::Bool(b) => b.to_string(),
                    ConfigValue::Int(i) => i.to_string(),
                    ConfigValue::Float(f) => f.to_string(),
                };
                let mut lines = shown.lines();
                text.push_str(&format!("  {key}: {}\n", lines.next().unwrap_or("")));
                for line in lines {
                    text.push_str(&format!("    {line}\n"));
                }
            }
        }
        ctx.document("Release bundle: what each application gets", text);
        ctx.write_output(&BundleEdits {
            applications: apps.len(),
            ..BundleEdits::default()
        })?;
        ctx.record(
            &Summary::ReleasePlan,
            &json!({ "applications": apps.len(), "bundle": release.path }),
        )
    }

    /// Each application on its own with its resources and config, then the relations. Where
    /// each image goes is the mapping step's answer, and only that.
    pub fn deploy_plan(
        &self,
        ctx: &StepContext,
        juju: Version,
        config_dir: &Path,
        model: &str,
    ) -> Result<PlannedInstall, StepError> {
        let release = &self.0;
        let targets = ctx.output::<MappingOutput>()?.targets();
        let gateway = ctx.input::<GatewayInput>().gateway;
        let apps = release_bundle::app_deploys(release, &targets, &work_dir(ctx), gateway)
            .map_err(|missing| {
                StepError::failed(format!(
                    "the plan cannot be built: these have no pushed image or charm:\n  {}\n\
                     Run the Artifacts, Push and Map steps again, or map them by hand ([mapping]).",
                    missing.join("\n  ")
                ))
            })?;
        let relations = release_bundle::relations(&release.bundle);
        let plan = DeployPlan::for_release(&ReleasePlanInput {
            apps: &apps,
            relations: &relations,
            juju,
            config_dir,
            model,
        });
        Ok(PlannedInstall { plan, apps })
    }

    /// The application and the resource or option whose image `image` is.
    pub fn set_by(&self, image: &str) -> Option<String> {
        self.need_of(image, |_| true)
    }

    /// An image of the runtime table, which nothing in the charm can point elsewhere: pulled
    /// under its public name by design, served by a registry mirror a pod spec cannot show.
    pub fn mirror_only(&self, image: &str) -> Option<String> {
        self.need_of(image, |site| matches!(site, ImageSite::Runtime(_)))
    }

    fn need_of(&self, image: &str, site: impl Fn(&ImageSite) -> bool) -> Option<String> {
        let wanted = normalize_reference(image);
        self.0.apps.iter().find_map(|app| {
            app.needs
                .iter()
                .filter(|n| site(&n.site))
                .find(|n| archive_keys(&n.upstream).contains(&wanted))
                .map(|n| format!("{} {}", app.application, n.site))
        })
    }
}

/// Each `[mapping]` target set by hand that the private registry does not hold, with why: a
/// target nothing was pushed to would reach the plan and fail only at the pod. Asked only when
/// this session pushed (the registry is known to answer); otherwise the rows are unchecked.
/// The images the installed release pushed that the target needs, looked up in the private
/// registry: an image removed since the install is named here, before the plan.
/// The target images the installed release's lock holds (already in the private registry).
fn carried_images(release: &ReleaseBundle) -> impl Iterator<Item = &str> {
    release
        .carried
        .base
        .iter()
        .flat_map(|b| &b.images)
        .map(String::as_str)
}

async fn absent_carried_targets(
    ctx: &StepContext,
    release: &ReleaseBundle,
    resolver: &Resolver,
) -> Result<BTreeMap<String, String>, StepError> {
    // Every image the base lock promised, not only those of the applications refreshed: the
    // unchanged ones and every way back pull them too.
    let targets: BTreeSet<String> = release
        .apps
        .iter()
        .flat_map(|a| &a.needs)
        .map(|n| n.upstream.as_str())
        .chain(carried_images(release))
        .filter_map(|u| resolver.carried_target(u))
        .collect();
    if targets.is_empty() {
        return Ok(BTreeMap::new());
    }
    let client = crate::engine::steps::registry_client::client(ctx).await?;
    let n = targets.len();
    let absent: BTreeMap<String, String> =
        crate::engine::steps::image_presence::absent_images(&client, targets)
            .await
            .into_iter()
            .map(|a| (a.reference, a.why))
            .collect();
    ctx.log(
        Level::Info,
        format!(
            "{} of the {n} image(s) the installed release pushed and the target needs are in \
             the private registry",
            n - absent.len()
        ),
    );
    Ok(absent)
}

async fn absent_override_targets(
    ctx: &StepContext,
    input: &BundleInput,
    pushed_any: bool,
) -> Result<BTreeMap<String, String>, StepError> {
    if input.mapping_overrides.is_empty() || !pushed_any {
        return Ok(BTreeMap::new());
    }
    let client = crate::engine::steps::registry_client::client(ctx).await?;
    let targets: BTreeSet<String> = input.mapping_overrides.values().cloned().collect();
    Ok(
        crate::engine::steps::image_presence::absent_images(&client, targets)
            .await
            .into_iter()
            .map(|a| (a.reference, a.why))
            .collect(),
    )
}
