//! The deployment model of a Juju bundle: applications and relations.

use std::path::Path;

use super::error::{BundleError, Result};
use super::yaml::{Document, Node, ScalarValue};

/// One `applications.<name>` entry.
#[derive(Debug, Clone)]
pub struct Application {
    pub name: String,
    /// The `charm:` value as written (`./dex-auth_fa9f1c6.charm`, `dex-auth`).
    pub charm: String,
    pub channel: Option<String>,
    pub scale: Option<i64>,
    pub trust: Option<bool>,
    pub resources: Vec<(String, ScalarValue)>,
    pub options: Vec<(String, ScalarValue)>,
    pub constraints: Option<String>,
    /// `ubuntu@20.04`: the bundle's `base:`, or its `series:` as a base.
    pub base: Option<String>,
}

impl Application {
    /// The charm's name, from a local file name or a store name.
    pub fn charm_name(&self) -> String {
        charm_name_of(&self.charm)
    }

    pub fn option(&self, key: &str) -> Option<&ScalarValue> {
        self.options.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }
}

/// One side of a relation: `app:endpoint` or just `app`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Endpoint {
    pub application: String,
    pub relation: Option<String>,
}

impl Endpoint {
    pub fn parse(text: &str) -> Self {
        match text.split_once(':') {
            Some((a, r)) => Self {
                application: a.to_owned(),
                relation: Some(r.to_owned()),
            },
            None => Self {
                application: text.to_owned(),
                relation: None,
            },
        }
    }
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.relation {
            Some(r) => write!(f, "{}:{r}", self.application),
            None => f.write_str(&self.application),
        }
    }
}

/// A relation between two endpoints; `index` is its position in `relations:`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Relation {
    pub index: usize,
    pub endpoints: [Endpoint; 2],
}

impl Relation {
    pub fn mentions(&self, application: &str) -> bool {
        self.endpoints.iter().any(|e| e.application == application)
    }
}

/// A parsed bundle: the model plus the document it came from (kept for editing).
#[derive(Debug, Clone)]
pub struct Bundle {
    pub doc: Document,
    pub applications: Vec<Application>,
    pub relations: Vec<Relation>,
}

impl Bundle {
    pub fn parse(name: &str, text: &str) -> Result<Self> {
        let doc = Document::parse(name, text)?;
        let apps_node = doc
            .root
            .get("applications")
            .filter(|n| n.is_map())
            .ok_or_else(|| shape(&doc, "there is no 'applications:' mapping"))?;
        let applications = apps_node
            .entries()
            .iter()
            .map(|(k, v)| read_application(&doc, k.key_text(), v))
            .collect::<Result<Vec<_>>>()?;
        let relations = match doc.root.get("relations") {
            Some(r) => read_relations(&doc, r)?,
            None => Vec::new(),
        };
        Ok(Self {
            doc,
            applications,
            relations,
        })
    }

    /// Read and parse a bundle file; the file name is used in messages.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|source| BundleError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(&path.display().to_string(), &text)
    }

    pub fn application(&self, name: &str) -> Option<&Application> {
        self.applications.iter().find(|a| a.name == name)
    }

    /// The YAML node of `applications.<name>`.
    pub fn app_node(&self, name: &str) -> Option<&(Node, Node)> {
        self.doc.root.get("applications")?.entry(name)
    }
}

/// `./charms/mysql-k8s_r99.charm` → `mysql-k8s`: the stem is split on the LAST `_` because
/// charm names contain `-` but `juju download` appends `_<hash>` or `_r<revision>`.
pub fn charm_name_of(charm: &str) -> String {
    let file = charm.rsplit('/').next().unwrap_or(charm);
    match file.strip_suffix(".charm") {
        Some(stem) => stem.rsplit_once('_').map_or(stem, |(n, _)| n).to_owned(),
        None => file.trim_start_matches("ch:").to_owned(),
    }
}

fn shape(doc: &Document, what: &str) -> BundleError {
    BundleError::Shape {
        file: doc.name.clone(),
        what: what.to_owned(),
        expected: "Juju bundle",
    }
}

fn read_application(doc: &Document, name: String, node: &Node) -> Result<Application> {
    if !node.is_map() {
        return Err(shape(
            doc,
            &format!("application {name:?} is not a mapping"),
        ));
    }
    let text = |k: &str| {
        node.get(k)
            .and_then(|n| n.as_scalar())
            .map(|v| v.to_string())
    };
    let charm = text("charm")
        .ok_or_else(|| shape(doc, &format!("application {name:?} has no 'charm:'")))?;
    let scale = node
        .get("scale")
        .or_else(|| node.get("num_units"))
        .and_then(|n| match n.as_scalar() {
            Some(ScalarValue::Int(i)) => Some(*i),
            _ => None,
        });
    let trust = node.get("trust").and_then(|n| match n.as_scalar() {
        Some(ScalarValue::Bool(b)) => Some(*b),
        _ => None,
    });
    Ok(Application {
        charm,
        channel: text("channel"),
        scale,
        trust,
        resources: scalar_entries(node.get("resources")),
        options: scalar_entries(node.get("options")),
        constraints: text("constraints"),
        base: text("base").or_else(|| text("series").and_then(|s| series_base(&s))),
        name,
    })
}

/// The base an Ubuntu series names (`focal` → `ubuntu@20.04`); None for `kubernetes` and
/// unknown ones.
fn series_base(series: &str) -> Option<String> {
    let version = match series {
        "bionic" => "18.04",
        "focal" => "20.04",
        "jammy" => "22.04",
        "noble" => "24.04",
        _ => return None,
    };
    Some(format!("ubuntu@{version}"))
}

fn scalar_entries(node: Option<&Node>) -> Vec<(String, ScalarValue)> {
    node.map(|n| {
        n.entries()
            .iter()
            .filter_map(|(k, v)| Some((k.key_text(), v.as_scalar()?.clone())))
            .collect()
    })
    .unwrap_or_default()
}

fn read_relations(doc: &Document, node: &Node) -> Result<Vec<Relation>> {
    node.items()
        .iter()
        .enumerate()
        .map(|(index, item)| {
            let ends: Vec<&str> = item.items().iter().filter_map(Node::as_str).collect();
            match ends.as_slice() {
                [a, b] => Ok(Relation {
                    index,
                    endpoints: [Endpoint::parse(a), Endpoint::parse(b)],
                }),
                _ => {
                    let (line, column) = doc.locate(item.start);
                    Err(shape(
                        doc,
                        &format!(
                            "relation at line {line}, column {column} is not a pair of endpoints"
                        ),
                    ))
                }
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charm_name_splits_on_last_underscore() {
        assert_eq!(charm_name_of("./dex-auth_fa9f1c6.charm"), "dex-auth");
        assert_eq!(charm_name_of("./charms/mysql-k8s_r99.charm"), "mysql-k8s");
        assert_eq!(charm_name_of("./kfp_profile_x_1.charm"), "kfp_profile_x");
        assert_eq!(charm_name_of("dex-auth"), "dex-auth");
    }

    #[test]
    fn parses_application_fields_and_relations() {
        let text = "applications:\n  db:\n    charm: ./mysql-k8s_1.charm\n    channel: 8.0/stable\n    scale: 2\n    trust: true\n    constraints: mem=2G\n    resources:\n      mysql-image: 3\n    options:\n      a: b\nrelations:\n  - [db:database, app]\n";
        let b = Bundle::parse("t", text).unwrap();
        let db = &b.applications[0];
        assert_eq!(db.charm_name(), "mysql-k8s");
        assert_eq!(db.channel.as_deref(), Some("8.0/stable"));
        assert_eq!((db.scale, db.trust), (Some(2), Some(true)));
        assert_eq!(db.constraints.as_deref(), Some("mem=2G"));
        assert_eq!(db.resources[0].1, ScalarValue::Int(3));
        assert_eq!(b.relations[0].endpoints[1].to_string(), "app");
        assert!(b.relations[0].mentions("db"));
    }
}
