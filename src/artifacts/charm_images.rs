//! The images a charm needs, read from the charm itself: every `oci-image` resource's
//! `upstream-source`, every option whose default is an image reference, the images in the
//! charm's default files (`src/default-custom-images.json`, `src/default-*-images.yaml`, the
//! only place several charms name their workload images), and the images istio composes from
//! `image-configuration`'s hub, names and tag. Each option is kept whole, so it can be written
//! back with every image replaced.

use std::fmt;

use saphyr::{LoadableYamlNode, Yaml};
use serde::Serialize;

use super::charms::CharmInfo;
use crate::image_ref::ImageRef;

/// Where a charm names an image.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum ImageSite {
    /// `--resource <name>=…`
    Resource(String),
    /// An option whose value is one image reference.
    Option(String),
    /// One entry of an option holding a map (by key) or a list (by position) of images.
    OptionEntry { option: String, entry: String },
    /// An image the workload pulls though no charm file names it (the release's runtime
    /// table), with what pulls it; nothing in the charm points it at the registry.
    Runtime(String),
}

impl fmt::Display for ImageSite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ImageSite::Resource(r) => write!(f, "resource {r}"),
            ImageSite::Option(o) => write!(f, "option {o}"),
            ImageSite::OptionEntry { option, entry } => write!(f, "option {option}[{entry}]"),
            ImageSite::Runtime(what) => write!(f, "runtime image ({what})"),
        }
    }
}

/// One image a charm needs, as the charm names it upstream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ImageNeed {
    pub site: ImageSite,
    pub upstream: String,
}

/// An option that holds images, in the form the charm reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageOptionValue {
    Single(String),
    /// A map of images by key (`custom_images`), written back as JSON, which the charms read
    /// with a YAML parser.
    Map(Vec<(String, String)>),
    /// A list of images (`jupyter-images`), written back as a YAML list.
    List(Vec<String>),
    /// A list written inline as a flow or JSON list (`"['a:1', 'b:2']"`), written back as a
    /// JSON list, which reads the same to a YAML, JSON or Python-literal reader.
    FlowList(Vec<String>),
    /// istio-pilot's `image-configuration`: fields in order; images are composed from
    /// `global-hub`, the `*-image` names and `global-tag`, plus `grpc-bootstrap-init`.
    Istio(Vec<(String, String)>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageOption {
    pub option: String,
    pub value: ImageOptionValue,
}

const ISTIO_COMPOSED: [&str; 3] = [
    "pilot-image",
    "global-proxy-image",
    "global-proxy-init-image",
];
const ISTIO_HUB: &str = "global-hub";
const ISTIO_TAG: &str = "global-tag";
const ISTIO_GRPC_INIT: &str = "grpc-bootstrap-init";

impl ImageOption {
    /// The images this option names, each with its entry.
    pub fn needs(&self) -> Vec<ImageNeed> {
        let entry = |entry: String, upstream: &str| ImageNeed {
            site: ImageSite::OptionEntry {
                option: self.option.clone(),
                entry,
            },
            upstream: upstream.to_owned(),
        };
        match &self.value {
            ImageOptionValue::Single(v) => vec![ImageNeed {
                site: ImageSite::Option(self.option.clone()),
                upstream: v.clone(),
            }],
            ImageOptionValue::Map(m) => m.iter().map(|(k, v)| entry(k.clone(), v)).collect(),
            ImageOptionValue::List(l) | ImageOptionValue::FlowList(l) => l
                .iter()
                .enumerate()
                .map(|(i, v)| entry(i.to_string(), v))
                .collect(),
            ImageOptionValue::Istio(fields) => {
                let get = |k: &str| fields.iter().find(|(f, _)| f == k).map(|(_, v)| v.as_str());
                let mut out = Vec::new();
                if let (Some(hub), Some(tag)) = (get(ISTIO_HUB), get(ISTIO_TAG)) {
                    for name_key in ISTIO_COMPOSED {
                        if let Some(name) = get(name_key)
                            && !out
                                .iter()
                                .any(|n: &ImageNeed| n.upstream == format!("{hub}/{name}:{tag}"))
                        {
                            out.push(entry(name_key.to_owned(), &format!("{hub}/{name}:{tag}")));
                        }
                    }
                }
                if let Some(init) = get(ISTIO_GRPC_INIT) {
                    out.push(entry(ISTIO_GRPC_INIT.to_owned(), init));
                }
                out
            }
        }
    }

    /// The option's value with every image replaced by `target(upstream)`. Fails with the
    /// upstream reference that has no target. For istio the hub becomes the pushed images'
    /// common repository prefix and the tag stays.
    pub fn rewritten(&self, target: &dyn Fn(&str) -> Option<String>) -> Result<String, String> {
        let map = |v: &str| target(v).ok_or_else(|| v.to_owned());
        match &self.value {
            ImageOptionValue::Single(v) => map(v),
            ImageOptionValue::Map(m) => {
                let mut obj = serde_json::Map::new();
                for (k, v) in m {
                    obj.insert(k.clone(), serde_json::Value::String(map(v)?));
                }
                serde_json::to_string(&serde_json::Value::Object(obj)).map_err(|e| e.to_string())
            }
            ImageOptionValue::FlowList(l) => {
                let mapped: Vec<serde_json::Value> = l
                    .iter()
                    .map(|v| map(v).map(serde_json::Value::String))
                    .collect::<Result<_, _>>()?;
                serde_json::to_string(&mapped).map_err(|e| e.to_string())
            }
            ImageOptionValue::List(l) => {
                let mut out = String::new();
                for v in l {
                    out.push_str(&format!("- {}\n", map(v)?));
                }
                Ok(out)
            }
            ImageOptionValue::Istio(fields) => {
                let mut hub = None;
                for need in self.needs() {
                    let ImageSite::OptionEntry { entry, .. } = &need.site else {
                        continue;
                    };
                    if entry == ISTIO_GRPC_INIT {
                        continue;
                    }
                    let pushed = ImageRef::split(&map(&need.upstream)?);
                    let upstream = ImageRef::split(&need.upstream);
                    let name = upstream.path.rsplit('/').next().unwrap_or(&upstream.path);
                    let prefix = pushed
                        .path
                        .strip_suffix(name)
                        .map(|p| p.trim_end_matches('/'))
                        .ok_or_else(|| need.upstream.clone())?;
                    let this_hub = match (&pushed.registry, prefix.is_empty()) {
                        (Some(r), false) => format!("{r}/{prefix}"),
                        (Some(r), true) => r.clone(),
                        (None, _) => prefix.to_owned(),
                    };
                    if hub.get_or_insert_with(|| this_hub.clone()) != &this_hub {
                        return Err(format!(
                            "{} (istio needs every composed image under one hub)",
                            need.upstream
                        ));
                    }
                }
                let mut out = String::new();
                for (k, v) in fields {
                    let value = match k.as_str() {
                        ISTIO_HUB => hub.clone().unwrap_or_else(|| v.clone()),
                        ISTIO_GRPC_INIT => map(v)?,
                        _ => v.clone(),
                    };
                    out.push_str(&format!("{k}: '{}'\n", value.replace('\'', "''")));
                }
                Ok(out)
            }
        }
    }
}

/// Every option of the charm that holds images, with its default value.
/// istio-pilot's Istio version: the `global-tag` of its `image-configuration` default
/// (`1.28.0`), which is what the charm installs; none for any other charm.
pub fn istio_tag(charm: &CharmInfo) -> Option<String> {
    image_options(charm)
        .into_iter()
        .find_map(|o| match o.value {
            ImageOptionValue::Istio(fields) => fields
                .into_iter()
                .find(|(k, _)| k == ISTIO_TAG)
                .map(|(_, v)| v),
            _ => None,
        })
}

pub fn image_options(charm: &CharmInfo) -> Vec<ImageOption> {
    let mut out = Vec::new();
    for option in &charm.options {
        let default = option.default.as_deref().unwrap_or("").trim();
        if option.name == "image-configuration" {
            let fields = yaml_string_map(default);
            if fields.iter().any(|(k, _)| k == ISTIO_HUB) {
                out.push(ImageOption {
                    option: option.name.clone(),
                    value: ImageOptionValue::Istio(fields),
                });
            }
            continue;
        }
        // The charms read such an option as YAML and merge its non-empty entries over their
        // default file (katib and kserve ship a default of keys with empty values).
        if let Some(mut value) = default_file_value(charm, &option.name) {
            if let ImageOptionValue::Map(entries) = &mut value {
                for (k, v) in yaml_string_map(default) {
                    if v.is_empty() {
                        continue;
                    }
                    match entries.iter_mut().find(|(e, _)| *e == k) {
                        Some(entry) => entry.1 = v,
                        None => entries.push((k, v)),
                    }
                }
            }
            out.push(ImageOption {
                option: option.name.clone(),
                value,
            });
            continue;
        }
        if default.is_empty() {
            continue;
        }
        if is_pinned_image(default) {
            out.push(ImageOption {
                option: option.name.clone(),
                value: ImageOptionValue::Single(default.to_owned()),
            });
            continue;
        }
        // A default that is itself a YAML or JSON list or map of images, written inline in
        // config.yaml (a `|` block, a flow list, a Python-list string) rather than in a
        // default file: the same forms the default files hold.
        if let Some(value) = string_form_images(default) {
            out.push(ImageOption {
                option: option.name.clone(),
                value,
            });
        }
    }
    out
}

/// An image reference a runtime can pull as written: with a tag or a digest.
fn is_pinned_image(text: &str) -> bool {
    ImageRef::detect(text).is_some_and(|r| r.tag.is_some() || r.digest.is_some())
}

/// The images a string holds when it parses as a YAML (or JSON) list or map whose values are
/// images; None for anything else (prose, a single word, a map of settings).
fn string_form_images(text: &str) -> Option<ImageOptionValue> {
    if !text.contains(['\n', '[', '{', ',']) {
        return None;
    }
    let docs = Yaml::load_from_str(text).ok()?;
    let doc = docs.first()?;
    if let Some(m) = doc.as_mapping() {
        // Every entry a string: a map holding a number or a list is a map of settings, and
        // writing it back with its images replaced would drop the rest.
        let entries: Vec<(String, String)> = m
            .iter()
            .map(|(k, v)| Some((k.as_str()?.to_owned(), v.as_str()?.trim().to_owned())))
            .collect::<Option<_>>()?;
        // Every value an image (or empty, as katib leaves unused keys): a map of images.
        let images: Vec<(String, String)> = entries
            .iter()
            .filter(|(_, v)| !v.is_empty())
            .cloned()
            .collect();
        let all_images = !images.is_empty() && images.iter().all(|(_, v)| is_pinned_image(v));
        return all_images.then_some(ImageOptionValue::Map(images));
    }
    let items: Vec<String> = doc
        .as_sequence()?
        .iter()
        .map(|v| v.as_str().map(|s| s.trim().to_owned()))
        .collect::<Option<_>>()?;
    let all_images = !items.is_empty() && items.iter().all(|v| is_pinned_image(v));
    let flow = text.trim_start().starts_with('[');
    all_images.then_some(if flow {
        ImageOptionValue::FlowList(items)
    } else {
        ImageOptionValue::List(items)
    })
}

/// Every image the charm needs, resources first.
pub fn image_needs(charm: &CharmInfo) -> Vec<ImageNeed> {
    let mut out: Vec<ImageNeed> = charm
        .oci_resources()
        .filter_map(|r| {
            Some(ImageNeed {
                site: ImageSite::Resource(r.name.clone()),
                upstream: r.upstream_source.clone()?,
            })
        })
        .collect();
    for option in image_options(charm) {
        out.extend(option.needs());
    }
    out
}

/// The value of an option whose default is empty and whose images are in a default file:
/// `custom_images` ↔ `src/default-custom-images.json`, `jupyter-images` ↔
/// `src/default-jupyter-images.yaml`.
fn default_file_value(charm: &CharmInfo, option: &str) -> Option<ImageOptionValue> {
    let stem = option.replace('_', "-");
    let text = ["json", "yaml", "yml"].iter().find_map(|ext| {
        charm
            .default_files
            .get(&format!("src/default-{stem}.{ext}"))
    })?;
    let docs = Yaml::load_from_str(text).ok()?;
    let doc = docs.first()?;
    if let Some(m) = doc.as_mapping() {
        let entries: Vec<(String, String)> = m
            .iter()
            .filter_map(|(k, v)| Some((k.as_str()?.to_owned(), v.as_str()?.to_owned())))
            .filter(|(_, v)| !v.is_empty())
            .collect();
        return (!entries.is_empty()).then_some(ImageOptionValue::Map(entries));
    }
    let list: Vec<String> = doc
        .as_sequence()?
        .iter()
        .filter_map(|v| v.as_str().map(str::to_owned))
        .collect();
    (!list.is_empty()).then_some(ImageOptionValue::List(list))
}

/// A YAML mapping of strings, in order (`image-configuration`).
fn yaml_string_map(text: &str) -> Vec<(String, String)> {
    let Ok(docs) = Yaml::load_from_str(text) else {
        return vec![];
    };
    let Some(m) = docs.first().and_then(|d| d.as_mapping()) else {
        return vec![];
    };
    m.iter()
        .filter_map(|(k, v)| {
            let value = v
                .as_str()
                .map(str::to_owned)
                .or_else(|| v.as_integer().map(|i| i.to_string()))
                .or_else(|| v.as_floating_point().map(|f| f.to_string()))?;
            Some((k.as_str()?.to_owned(), value))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_inline_list_or_map_of_images_in_a_default_is_read_in_every_form() {
        let items = vec![
            "r.io/a/b:1".to_string(),
            "c/d@sha256:".to_string() + &"e".repeat(64),
        ];
        let block = "- r.io/a/b:1\n- c/d@sha256:eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee\n";
        assert_eq!(
            string_form_images(block),
            Some(ImageOptionValue::List(items.clone()))
        );
        for flow in [
            "['r.io/a/b:1', 'c/d@sha256:eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee']",
            "[\"r.io/a/b:1\", \"c/d@sha256:eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee\"]",
        ] {
            let value = string_form_images(flow);
            assert_eq!(
                value,
                Some(ImageOptionValue::FlowList(items.clone())),
                "{flow}"
            );
            // Written back in a form a JSON or Python-literal reader takes too.
            let option = ImageOption {
                option: "o".into(),
                value: value.unwrap_or(ImageOptionValue::List(vec![])),
            };
            let written = option.rewritten(&|v| Some(format!("reg/{v}")));
            assert_eq!(
                written.as_deref().ok(),
                Some(
                    "[\"reg/r.io/a/b:1\",\"reg/c/d@sha256:eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee\"]"
                )
            );
        }
        assert_eq!(
            string_form_images("{\"agent\": \"kserve/agent:v0.15\", \"unused\": \"\"}"),
            Some(ImageOptionValue::Map(vec![(
                "agent".into(),
                "kserve/agent:v0.15".into()
            )]))
        );
        for not_images in [
            "a, b and c",
            "- one\n- two\n",
            "{\"replicas\": \"2\", \"image\": \"r.io/a:1\"}",
            "{\"replicas\": 2, \"image\": \"r.io/a:1\"}",
            "[]",
        ] {
            assert_eq!(string_form_images(not_images), None, "{not_images}");
        }
    }
}
