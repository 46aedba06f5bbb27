//! What each application of a release bundle needs, read from its own charm, and whether the
//! archives hold it: every image by application and resource or option, every charm.

use std::collections::{BTreeSet, HashMap};

use serde::Serialize;

use super::runtime_images::PointedBy;
use crate::artifacts::charm_images::{
    ImageNeed, ImageOption, ImageOptionValue, ImageSite, image_needs, image_options,
};
use crate::artifacts::{CharmInfo, ImageRecord, Inventory};
use crate::bundle::model::Bundle;
use crate::bundle::yaml::ScalarValue;
use crate::image_ref::{archive_keys, normalize_reference};

/// One application of the bundle with its charm and the images it needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppNeeds {
    pub application: String,
    /// The charm's name (`mysql-k8s` for `katib-db`).
    pub charm: String,
    /// The charm in the archives; None when it is missing.
    pub charm_info: Option<CharmInfo>,
    pub needs: Vec<ImageNeed>,
    /// The options that hold images, as the charm defines them (or the bundle sets them).
    pub image_options: Vec<ImageOption>,
}

/// Every application of `bundle` with what its charm needs, for the release its channels name.
/// A value the bundle itself gives an image option replaces the charm's default.
pub fn release_needs(bundle: &Bundle, charms: &[CharmInfo]) -> Vec<AppNeeds> {
    release_needs_as(
        bundle,
        charms,
        super::detect_release(bundle).map(|d| d.release),
    )
}

/// [`release_needs`] for `release` (the operator's choice over what the channels name): the
/// release decides which images no charm file names are needed too.
pub fn release_needs_as(
    bundle: &Bundle,
    charms: &[CharmInfo],
    release: Option<crate::ckf_release::CkfRelease>,
) -> Vec<AppNeeds> {
    bundle
        .applications
        .iter()
        .map(|app| {
            let charm = app.charm_name();
            let info = charms.iter().find(|c| c.name == charm).cloned();
            let mut options = info.as_ref().map(image_options).unwrap_or_default();
            for option in &mut options {
                if let (ImageOptionValue::Single(v), Some(ScalarValue::Str(given))) =
                    (&mut option.value, app.option(&option.option))
                {
                    *v = given.clone();
                }
            }
            // What the release's workloads pull though no charm file names it: set through an
            // option key where the charm has one, else needed for the registry mirror.
            let mut mirror_only = Vec::new();
            for runtime in release
                .map(|r| super::runtime_images::runtime_images(r, &charm))
                .unwrap_or_default()
            {
                // The option's map of images, when the charm has the option the table names.
                let entries = match &runtime.pointed_by {
                    PointedBy::OptionKey { option, key } => options
                        .iter_mut()
                        .find(|o| o.option == *option)
                        .and_then(|o| match &mut o.value {
                            ImageOptionValue::Map(entries) => Some((entries, key)),
                            _ => None,
                        }),
                    PointedBy::MirrorOnly => None,
                };
                match entries {
                    Some((entries, key)) => {
                        if !entries.iter().any(|(k, _)| k == key) {
                            entries.push((key.clone(), runtime.image));
                        }
                    }
                    None => mirror_only.push(ImageNeed {
                        site: ImageSite::Runtime(runtime.pulled_by),
                        upstream: runtime.image,
                    }),
                }
            }
            let mut needs: Vec<ImageNeed> = info
                .as_ref()
                .map(image_needs)
                .unwrap_or_default()
                .into_iter()
                .filter(|n| matches!(n.site, ImageSite::Resource(_)))
                .collect();
            for option in &options {
                needs.extend(option.needs());
            }
            needs.extend(mirror_only);
            AppNeeds {
                application: app.name.clone(),
                charm,
                charm_info: info,
                needs,
                image_options: options,
            }
        })
        .collect()
}

/// Where each upstream image is in the archives: every name of every archived image, compared
/// through the one image-reference type and Canonical's retag rule.
#[derive(Debug, Default)]
pub struct ArchiveIndex {
    by_key: HashMap<String, String>,
}

impl ArchiveIndex {
    pub fn new(images: &[ImageRecord]) -> Self {
        let mut by_key = HashMap::new();
        for image in images {
            for name in &image.references {
                by_key
                    .entry(normalize_reference(name))
                    .or_insert_with(|| image.reference.clone());
            }
        }
        ArchiveIndex { by_key }
    }

    /// The archived image (its reference in the archive) holding `upstream`.
    pub fn find(&self, upstream: &str) -> Option<&str> {
        archive_keys(upstream)
            .iter()
            .find_map(|k| self.by_key.get(k))
            .map(String::as_str)
    }
}

/// Something an application needs that the archives do not hold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MissingItem {
    pub application: String,
    /// `charm kfp-api`, `resource oci-image`, `option custom_images[suggestion__darts]`.
    pub what: String,
    /// The image to add on the connected side; None for a missing charm.
    pub upstream: Option<String>,
}

impl MissingItem {
    /// The key a recorded skip of this item is saved under.
    pub fn id(&self) -> String {
        format!("{}/{}", self.application, self.what)
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ReleaseCheck {
    pub missing: Vec<MissingItem>,
    /// Archived images no application needs.
    pub unused_images: Vec<String>,
    pub unused_charms: Vec<String>,
}

/// Every image every application needs is archived and every application has its charm.
pub fn check_release(apps: &[AppNeeds], inventory: &Inventory) -> ReleaseCheck {
    let index = ArchiveIndex::new(&inventory.images);
    let mut missing = Vec::new();
    let mut used = BTreeSet::new();
    for app in apps {
        if app.charm_info.is_none() {
            missing.push(MissingItem {
                application: app.application.clone(),
                what: format!("charm {}", app.charm),
                upstream: None,
            });
        }
        for need in &app.needs {
            match index.find(&need.upstream) {
                Some(archived) => {
                    used.insert(archived.to_owned());
                }
                None => missing.push(MissingItem {
                    application: app.application.clone(),
                    what: need.site.to_string(),
                    upstream: Some(need.upstream.clone()),
                }),
            }
        }
    }
    let unused_images = inventory
        .images
        .iter()
        .filter(|i| !used.contains(&i.reference))
        .map(|i| i.reference.clone())
        .collect();
    let unused_charms = inventory
        .charms
        .iter()
        .filter(|c| !apps.iter().any(|a| a.charm == c.name))
        .map(|c| c.name.clone())
        .collect();
    ReleaseCheck {
        missing,
        unused_images,
        unused_charms,
    }
}
