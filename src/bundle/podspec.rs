//! PodSpec charms: Juju cannot deploy them from a local bundle (canonical/bundle-kubeflow#693),
//! so they are deployed one by one after the bundle. This module reads and writes that
//! "separately deployed" plan, ships the plans of the published releases, detects PodSpec
//! charms still inside a bundle and plans moving them out.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;

use super::edit::{Edit, EditPlan};
use super::error::{BundleError, Result};
use super::model::Bundle;
use super::scalar::{ScalarStyle, render_scalar};
use super::yaml::{Document, Node, PathSeg, ScalarValue};

/// The error Juju gives for a PodSpec charm in a local bundle.
pub const JUJU_ERROR: &str =
    "ERROR cannot deploy bundle: series \"kubernetes\" not supported by charm";
pub const ISSUE: &str = "canonical/bundle-kubeflow#693";

pub use crate::charm_kind::CharmKind;

/// One application deployed with `juju deploy ./<charm_file> --resource … --config …`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SeparateApp {
    pub charm_file: String,
    pub application: String,
    pub resources: Vec<(String, String)>,
    pub config: Vec<(String, String)>,
    pub trust: bool,
    pub notes: Vec<String>,
}

/// The separately deployed applications and the relations to add after them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SeparatelyDeployed {
    pub source_comment_lines: Vec<String>,
    pub apps: Vec<SeparateApp>,
    pub relations: Vec<[String; 2]>,
}

/// Plans derived from the `podspec_script.sh` of each published air-gapped release.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum PodspecRelease {
    /// `releases/1.7/edge/kubeflow/airgap` (16 PodSpec apps).
    Ckf17Edge,
    /// `releases/latest/edge/airgap` @ 0054bd2, 2023-09-18 (still has argo-server).
    LatestEdge20230918,
    /// `releases/latest/edge/airgap` as of 2023-10 (pre-1.8).
    LatestEdge202310,
}

impl PodspecRelease {
    pub const ALL: [Self; 3] = [
        Self::Ckf17Edge,
        Self::LatestEdge20230918,
        Self::LatestEdge202310,
    ];

    /// The shipped plan file, with its source comments.
    pub fn text(self) -> &'static str {
        match self {
            Self::Ckf17Edge => {
                include_str!("../../assets/podspec/ckf-1.7-edge-airgap-podspec-apps.yaml")
            }
            Self::LatestEdge20230918 => {
                include_str!(
                    "../../assets/podspec/ckf-latest-edge-2023-09-18-airgap-podspec-apps.yaml"
                )
            }
            Self::LatestEdge202310 => {
                include_str!(
                    "../../assets/podspec/ckf-latest-edge-2023-10-airgap-podspec-apps.yaml"
                )
            }
        }
    }

    pub fn file_name(self) -> &'static str {
        match self {
            Self::Ckf17Edge => "ckf-1.7-edge-airgap-podspec-apps.yaml",
            Self::LatestEdge20230918 => "ckf-latest-edge-2023-09-18-airgap-podspec-apps.yaml",
            Self::LatestEdge202310 => "ckf-latest-edge-2023-10-airgap-podspec-apps.yaml",
        }
    }

    pub fn plan(self) -> Result<SeparatelyDeployed> {
        SeparatelyDeployed::parse(self.file_name(), self.text())
    }
}

impl SeparatelyDeployed {
    pub fn parse(name: &str, text: &str) -> Result<Self> {
        let doc = Document::parse(name, text)?;
        let list = doc
            .root
            .get("separately_deployed")
            .ok_or_else(|| shape(&doc, "there is no 'separately_deployed:' list"))?;
        let apps = list
            .items()
            .iter()
            .map(|n| read_app(&doc, n))
            .collect::<Result<Vec<_>>>()?;
        let relations = doc
            .root
            .get("relations")
            .map(|r| {
                r.items()
                    .iter()
                    .map(|i| read_pair(&doc, i))
                    .collect::<Result<Vec<_>>>()
            })
            .transpose()?
            .unwrap_or_default();
        let source_comment_lines = strings(doc.root.get("source_comment_lines"));
        Ok(Self {
            source_comment_lines,
            apps,
            relations,
        })
    }

    /// Read a user-supplied plan file.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|source| BundleError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(&path.display().to_string(), &text)
    }

    /// The plan in the same YAML form it is read from.
    pub fn to_yaml(&self, header: &str) -> String {
        let q = |s: &str| render_scalar(ScalarStyle::Plain, s);
        let mut out = String::new();
        for line in header.lines() {
            out.push_str(&format!("# {line}\n"));
        }
        if !self.source_comment_lines.is_empty() {
            out.push_str("source_comment_lines:\n");
            self.source_comment_lines
                .iter()
                .for_each(|l| out.push_str(&format!("- {}\n", q(l))));
        }
        out.push_str("separately_deployed:\n");
        for app in &self.apps {
            out.push_str(&format!(
                "- charm_file: {}\n  application: {}\n",
                q(&app.charm_file),
                q(&app.application)
            ));
            if app.trust {
                out.push_str("  trust: true\n");
            }
            push_map(&mut out, "resources", &app.resources);
            push_map(&mut out, "config", &app.config);
            if !app.notes.is_empty() {
                out.push_str("  notes:\n");
                app.notes
                    .iter()
                    .for_each(|n| out.push_str(&format!("  - {}\n", q(n))));
            }
        }
        out.push_str(if self.relations.is_empty() {
            "relations: []\n"
        } else {
            "relations:\n"
        });
        for [a, b] in &self.relations {
            out.push_str(&format!("- - {}\n  - {}\n", q(a), q(b)));
        }
        out
    }
}

fn push_map(out: &mut String, name: &str, entries: &[(String, String)]) {
    if entries.is_empty() {
        return;
    }
    out.push_str(&format!("  {name}:\n"));
    for (k, v) in entries {
        let (k, v) = (
            render_scalar(ScalarStyle::Plain, k),
            render_scalar(ScalarStyle::Plain, v),
        );
        out.push_str(&format!("    {k}: {v}\n"));
    }
}

fn shape(doc: &Document, what: &str) -> BundleError {
    BundleError::Shape {
        file: doc.name.clone(),
        what: what.to_owned(),
        expected: "separately-deployed plan",
    }
}

fn strings(node: Option<&Node>) -> Vec<String> {
    node.map(|n| {
        n.items()
            .iter()
            .filter_map(|i| i.as_scalar().map(ToString::to_string))
            .collect()
    })
    .unwrap_or_default()
}

fn pairs(node: Option<&Node>) -> Vec<(String, String)> {
    node.map(|n| {
        n.entries()
            .iter()
            .filter_map(|(k, v)| Some((k.key_text(), v.as_scalar()?.to_string())))
            .collect()
    })
    .unwrap_or_default()
}

fn read_app(doc: &Document, node: &Node) -> Result<SeparateApp> {
    let field = |k: &str| {
        node.get(k)
            .and_then(Node::as_scalar)
            .map(ToString::to_string)
    };
    let (line, _) = doc.locate(node.start);
    let need = |k: &str| {
        field(k).ok_or_else(|| shape(doc, &format!("the entry at line {line} has no '{k}:'")))
    };
    Ok(SeparateApp {
        charm_file: need("charm_file")?,
        application: need("application")?,
        resources: pairs(node.get("resources")),
        config: pairs(node.get("config")),
        trust: matches!(
            node.get("trust").and_then(Node::as_scalar),
            Some(ScalarValue::Bool(true))
        ),
        notes: strings(node.get("notes")),
    })
}

fn read_pair(doc: &Document, node: &Node) -> Result<[String; 2]> {
    match strings(Some(node)).as_slice() {
        [a, b] => Ok([a.clone(), b.clone()]),
        _ => {
            let (line, column) = doc.locate(node.start);
            Err(shape(
                doc,
                &format!("relation at line {line}, column {column} is not a pair"),
            ))
        }
    }
}

/// A PodSpec charm still inside a bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PodSpecWarning {
    pub application: String,
    pub charm: String,
    pub message: String,
}

/// Applications whose charm is PodSpec according to `kinds` (charm name → kind).
pub fn detect_podspec(bundle: &Bundle, kinds: &BTreeMap<String, CharmKind>) -> Vec<PodSpecWarning> {
    bundle
        .applications
        .iter()
        .filter(|a| kinds.get(&a.charm_name()) == Some(&CharmKind::PodSpec))
        .map(|a| PodSpecWarning {
            application: a.name.clone(),
            charm: a.charm_name(),
            message: format!(
                "application {:?} uses the PodSpec charm {:?}: Juju cannot deploy it from a local bundle and fails with '{JUJU_ERROR}' ({ISSUE}). Move it out of the bundle and deploy it separately with 'juju deploy', then add its relations",
                a.name,
                a.charm_name()
            ),
        })
        .collect()
}

/// The bundle edit removing the PodSpec applications (and their relations) plus the plan
/// deploying them separately.
#[derive(Debug, Clone)]
pub struct PodSpecMove {
    pub edit: EditPlan,
    pub plan: SeparatelyDeployed,
}

pub fn plan_podspec_move(bundle: &Bundle, warnings: &[PodSpecWarning]) -> Result<PodSpecMove> {
    let moved = |name: &str| warnings.iter().any(|w| w.application == name);
    let mut edit = EditPlan::new();
    let mut plan = SeparatelyDeployed {
        source_comment_lines: vec![format!("# Moved out of {} ({ISSUE})", bundle.doc.name)],
        ..SeparatelyDeployed::default()
    };
    for app in bundle.applications.iter().filter(|a| moved(&a.name)) {
        let path = [
            PathSeg::Key("applications".into()),
            PathSeg::Key(app.name.clone()),
        ];
        edit.push(Edit::delete(&bundle.doc, &path)?);
        let text = |v: &[(String, ScalarValue)]| {
            v.iter().map(|(k, v)| (k.clone(), v.to_string())).collect()
        };
        plan.apps.push(SeparateApp {
            charm_file: app.charm.clone(),
            application: app.name.clone(),
            resources: text(&app.resources),
            config: text(&app.options),
            trust: app.trust.unwrap_or(false),
            notes: Vec::new(),
        });
    }
    let moving: Vec<_> = bundle
        .relations
        .iter()
        .filter(|r| r.endpoints.iter().any(|e| moved(&e.application)))
        .collect();
    // Deleting every item would leave `relations:` with a null value; the key goes instead.
    let all = !moving.is_empty() && moving.len() == bundle.relations.len();
    if all {
        edit.push(Edit::delete(
            &bundle.doc,
            &[PathSeg::Key("relations".into())],
        )?);
    }
    for rel in moving {
        if !all {
            let path = [PathSeg::Key("relations".into()), PathSeg::Index(rel.index)];
            edit.push(Edit::delete(&bundle.doc, &path)?);
        }
        plan.relations
            .push([rel.endpoints[0].to_string(), rel.endpoints[1].to_string()]);
    }
    Ok(PodSpecMove { edit, plan })
}
