//! Finding every image reference in a bundle or a separately-deployed plan, with the exact
//! bytes of the reference token in the file.

use std::collections::BTreeMap;
use std::ops::Range;

use serde::Serialize;

use super::scalar::{RawScalar, property_name};
use super::text::SourceText;
use super::yaml::{Document, Node, NodeKind, PathSeg, ScalarValue, YamlPath, parse_fragment};
use crate::image_ref::{ImageRef, RefShape};

/// Where in its YAML value a reference sits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Container {
    /// The whole scalar is the reference.
    Scalar,
    /// A value inside a string holding a YAML/JSON map (`custom_images`, `image-configuration`).
    EmbeddedMap,
    /// An item of a string holding a list (`jupyter-images: "['a','b']"`).
    EmbeddedList,
    /// Found by token scan in a string that holds an unparseable map or list.
    EmbeddedText,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct RefForm {
    pub container: Container,
    pub shape: RefShape,
}

/// One image reference and its exact place.
#[derive(Debug, Clone, Serialize)]
pub struct ImageRefSite {
    pub application: String,
    /// Path below the application, e.g. `options.custom_images` or `resources.oci-image`.
    pub key_path: String,
    /// Key (or `[index]`) inside an embedded map or list string.
    pub inner_key: Option<String>,
    pub form: RefForm,
    pub reference: ImageRef,
    /// The reference exactly as it appears in the decoded value.
    pub text: String,
    /// Bytes of the reference token in the file; `None` when it cannot be spliced safely.
    pub span: Option<Range<usize>>,
    /// Why `span` is `None`.
    pub not_spliceable: Option<String>,
    /// 1-based position of the token (or of its scalar when not spliceable).
    pub line: usize,
    pub column: usize,
    /// Full path of the YAML scalar holding the reference.
    pub value_path: YamlPath,
    /// Byte range of the reference inside that scalar's decoded value.
    pub value_range: Range<usize>,
    /// The anchor written on the value (`&img`), when it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub anchor: Option<String>,
    /// Where the value is reused through an alias (`*img`): editing it here changes those too.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub shared_by: Vec<String>,
}

impl ImageRefSite {
    /// `app options.custom_images[configmap__agent]`, for tables and messages.
    pub fn location(&self) -> String {
        match &self.inner_key {
            Some(k) => format!("{} {}[{k}]", self.application, self.key_path),
            None => format!("{} {}", self.application, self.key_path),
        }
    }
}

/// Scan a bundle (`applications:`) or a separately-deployed plan (`separately_deployed:`).
pub fn scan_document(doc: &Document) -> Vec<ImageRefSite> {
    let mut sites = Vec::new();
    let mut aliases = Vec::new();
    if let Some(apps) = doc.root.get("applications") {
        for (k, app) in apps.entries() {
            let base = vec![
                PathSeg::Key("applications".into()),
                PathSeg::Key(k.key_text()),
            ];
            scan_app(
                doc,
                &k.key_text(),
                app,
                &base,
                &["resources", "options"],
                &mut sites,
                &mut aliases,
            );
        }
    }
    if let Some(list) = doc.root.get("separately_deployed") {
        for (i, entry) in list.items().iter().enumerate() {
            let name = entry
                .get("application")
                .map(Node::key_text)
                .unwrap_or_default();
            let base = vec![
                PathSeg::Key("separately_deployed".into()),
                PathSeg::Index(i),
            ];
            scan_app(
                doc,
                &name,
                entry,
                &base,
                &["resources", "config"],
                &mut sites,
                &mut aliases,
            );
        }
    }
    for site in &mut sites {
        site.shared_by = aliases
            .iter()
            .filter(|(name, _)| Some(name) == site.anchor.as_ref())
            .map(|(_, location)| location.clone())
            .collect();
    }
    sites
}

/// The most common registry host among references (ties broken by name), i.e. the
/// placeholder the artifact scripts wrote (`172.17.0.2:5000` in published bundles).
pub fn detect_placeholder(sites: &[ImageRefSite]) -> Option<String> {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for s in sites {
        if let Some(r) = &s.reference.registry {
            *counts.entry(r).or_default() += 1;
        }
    }
    let best = counts.values().copied().max()?;
    counts
        .into_iter()
        .find(|(_, c)| *c == best)
        .map(|(r, _)| r.to_owned())
}

/// Sites whose registry is `placeholder`.
pub fn under_placeholder<'a>(
    sites: &'a [ImageRefSite],
    placeholder: &'a str,
) -> impl Iterator<Item = &'a ImageRefSite> {
    sites
        .iter()
        .filter(move |s| s.reference.registry.as_deref() == Some(placeholder))
}

fn scan_app(
    doc: &Document,
    app: &str,
    node: &Node,
    base: &[PathSeg],
    sections: &[&str],
    out: &mut Vec<ImageRefSite>,
    aliases: &mut Vec<(String, String)>,
) {
    for section in sections {
        for (k, v) in node.get(section).map(Node::entries).unwrap_or_default() {
            let key = k.key_text();
            let mut path = base.to_vec();
            path.extend([PathSeg::Key((*section).into()), PathSeg::Key(key.clone())]);
            // An alias (`*img`) reuses an anchored value: that value is edited once, where it
            // is written, and this place is named as sharing it.
            if let Some(name) = property_name(doc.text(), v.start, '*') {
                aliases.push((name.to_owned(), format!("{app} {section}.{key}")));
                continue;
            }
            let ctx = ValueCtx {
                doc,
                app,
                key_path: format!("{section}.{key}"),
                value_path: path,
                node: v,
            };
            ctx.scan(out);
        }
    }
}

/// One YAML value being scanned.
struct ValueCtx<'a> {
    doc: &'a Document,
    app: &'a str,
    key_path: String,
    value_path: YamlPath,
    node: &'a Node,
}

/// A reference found inside a decoded value, before it is placed in the file.
struct Found {
    value_range: Range<usize>,
    inner_key: Option<String>,
    container: Container,
    reference: ImageRef,
}

impl ValueCtx<'_> {
    fn scan(&self, out: &mut Vec<ImageRefSite>) {
        let Some(value) = self.node.as_str() else {
            return;
        };
        let raw = RawScalar::read(&self.doc.source, self.node);
        let flow = value.trim_start().starts_with(['{', '[']);
        // A block scalar may hold a YAML map or list over several lines (`custom_images: |`
        // then `agent: <image>` lines); a flow-looking value that does not parse is scanned
        // for tokens.
        let found = if flow || value.trim().contains('\n') {
            collection_refs(value).unwrap_or_else(|| {
                if flow {
                    token_scan(value)
                } else {
                    whole_ref(value)
                }
            })
        } else {
            whole_ref(value)
        };
        out.extend(found.into_iter().map(|f| self.site(value, &raw, f)));
    }

    fn site(&self, value: &str, raw: &Result<RawScalar, String>, f: Found) -> ImageRefSite {
        let text = value[f.value_range.clone()].to_owned();
        let located = raw.as_ref().map_err(Clone::clone).and_then(|r| {
            r.locate(self.doc.text(), f.value_range.clone())
                .ok_or_else(|| {
                    "the reference is written with escapes or line folding in the file".to_owned()
                })
        });
        let anchor = located.as_ref().map_or(self.node.start, |r| r.start);
        let (line, column) = self.doc.locate(anchor);
        let namespace_key = self.key_path.to_lowercase().contains("hub")
            || f.inner_key
                .as_deref()
                .is_some_and(|k| k.to_lowercase().contains("hub"));
        let namespace_only = namespace_key && f.reference.registry.is_some();
        ImageRefSite {
            application: self.app.to_owned(),
            key_path: self.key_path.clone(),
            inner_key: f.inner_key,
            form: RefForm {
                container: f.container,
                shape: f.reference.shape(namespace_only),
            },
            reference: f.reference,
            text,
            span: located.as_ref().ok().cloned(),
            not_spliceable: located.err(),
            line,
            column,
            value_path: self.value_path.clone(),
            value_range: f.value_range,
            anchor: property_name(self.doc.text(), self.node.start, '&').map(str::to_owned),
            shared_by: Vec::new(),
        }
    }
}

/// The whole value as one reference (surrounding blanks and a block's final break aside).
fn whole_ref(value: &str) -> Vec<Found> {
    let trimmed = value.trim_start();
    let lead = value.len() - trimmed.len();
    let whole = trimmed.trim_end();
    ImageRef::detect(whole)
        .map(|reference| Found {
            value_range: lead..lead + whole.len(),
            inner_key: None,
            container: Container::Scalar,
            reference,
        })
        .into_iter()
        .collect()
}

/// References inside a string holding a YAML/JSON map or list, or None when it holds none.
/// Such strings are YAML (flow collections with trailing commas included, or block ones), so
/// they are parsed as YAML to get exact inner positions.
fn collection_refs(value: &str) -> Option<Vec<Found>> {
    // A backslash-newline left by shell quoting makes the charm's parser (PyYAML) reject the
    // value although saphyr accepts it; its inner keys would be garbage, so scan tokens.
    if value.contains("\\\n") || value.contains("\\\r\n") {
        return Some(token_scan(value));
    }
    let source = SourceText::new(value);
    let root = parse_fragment(&source).filter(|r| !matches!(r.kind, NodeKind::Scalar(_)))?;
    let mut out = Vec::new();
    walk_inner(&source, &root, None, &mut out);
    Some(out)
}

fn walk_inner(source: &SourceText, node: &Node, key: Option<String>, out: &mut Vec<Found>) {
    let join = |k: String| key.as_ref().map_or(k.clone(), |p| format!("{p}.{k}"));
    match &node.kind {
        NodeKind::Map(entries) => {
            for (k, v) in entries {
                walk_inner(source, v, Some(join(k.key_text())), out);
            }
        }
        NodeKind::Seq(items) => {
            for (i, v) in items.iter().enumerate() {
                walk_inner(source, v, Some(join(format!("[{i}]"))), out);
            }
        }
        NodeKind::Scalar(ScalarValue::Str(s)) => {
            let located = RawScalar::read(source, node)
                .ok()
                .and_then(|r| r.locate(source.as_str(), 0..s.len()));
            if let (Some(reference), Some(range)) = (ImageRef::detect(s), located) {
                let in_list = key.as_deref().is_some_and(|k| k.ends_with(']'));
                out.push(Found {
                    value_range: range,
                    container: if in_list {
                        Container::EmbeddedList
                    } else {
                        Container::EmbeddedMap
                    },
                    inner_key: key,
                    reference,
                });
            }
        }
        NodeKind::Scalar(_) => {}
    }
}

fn token_scan(value: &str) -> Vec<Found> {
    let is_ref_char = |c: char| c.is_ascii_alphanumeric() || "._:/@-".contains(c);
    let mut out = Vec::new();
    let mut start = None;
    for (i, c) in value
        .char_indices()
        .chain(std::iter::once((value.len(), ' ')))
    {
        match (is_ref_char(c), start) {
            (true, None) => start = Some(i),
            (false, Some(s)) => {
                let token = value[s..i].trim_end_matches([':', '.', ',', '-']);
                if let Some(reference) = ImageRef::detect(token) {
                    out.push(Found {
                        value_range: s..s + token.len(),
                        inner_key: None,
                        container: Container::EmbeddedText,
                        reference,
                    });
                }
                start = None;
            }
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan(text: &str) -> (Document, Vec<ImageRefSite>) {
        let doc = Document::parse("t", text).unwrap();
        let sites = scan_document(&doc);
        (doc, sites)
    }

    #[test]
    fn embedded_map_with_trailing_comma_gives_inner_keys_and_exact_spans() {
        let (doc, s) = scan(
            "applications:\n  k:\n    charm: k\n    options:\n      custom_images: '{ \"configmap__agent\": \"r.io:5/kserve/agent:v1\", \"b\": \"r.io:5/x/y:2\", }'\n",
        );
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].inner_key.as_deref(), Some("configmap__agent"));
        assert_eq!(s[0].form.container, Container::EmbeddedMap);
        assert_eq!(
            &doc.text()[s[0].span.clone().unwrap()],
            "r.io:5/kserve/agent:v1"
        );
    }

    #[test]
    fn namespace_and_unprefixed_values_in_image_configuration() {
        let (_, s) = scan(
            "applications:\n  p:\n    charm: p\n    options:\n      default-gateway: kubeflow-gateway\n      image-configuration: '{\"pilot-image\": \"pilot\", \"global-tag\": \"1.16.2\", \"global-hub\": \"10.1.1.1:5000/istio\", \"grpc-bootstrap-init\": \"busybox:1.28\"}'\n",
        );
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].form.shape, RefShape::RegistryNamespace);
        assert_eq!(s[1].reference.registry, None);
        assert_eq!(detect_placeholder(&s).as_deref(), Some("10.1.1.1:5000"));
    }

    #[test]
    fn escaped_reference_is_reported_not_spliced() {
        let (_, s) = scan(
            "applications:\n  a:\n    charm: a\n    resources:\n      img: \"r.io:5/a\\x2Fb:1\"\n",
        );
        assert_eq!(s.len(), 1);
        assert!(s[0].span.is_none());
        assert!(s[0].not_spliceable.is_some());
    }

    #[test]
    fn unparseable_embedded_string_falls_back_to_tokens() {
        let (doc, s) = scan(
            "separately_deployed:\n- application: k\n  config:\n    c: \"{\\\"a\\\": \\\"r.io:5/k/m:v1\\\", ]] \\\"r.io:5/k/n:v1\\\"\"\n",
        );
        assert_eq!(s.len(), 2, "{s:#?}");
        assert_eq!(s[1].form.container, Container::EmbeddedText);
        assert_eq!(&doc.text()[s[1].span.clone().unwrap()], "r.io:5/k/n:v1");
    }
}
