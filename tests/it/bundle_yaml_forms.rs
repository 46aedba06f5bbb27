//! Every YAML form an operator may write an image value in, edited in place: anchors and
//! aliases, block scalars (`|`, `|-`, `|+`, `>`, `>-`) holding one reference or a map or list,
//! flow collections, multi-line quoted and plain scalars, comments between keys, a byte-order
//! mark and non-ASCII text, each with LF and CRLF line endings. Every written file is compared
//! byte for byte with its expected file in `tests/fixtures/yaml-forms/`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;

use ckf_airgap::bundle::mapping::MappingTable;
use ckf_airgap::bundle::rewrite::plan_image_edits;
use ckf_airgap::bundle::scan::scan_document;

use crate::bundle_forms::rewrite;
use ckf_airgap::bundle::text::SourceText;
use ckf_airgap::bundle::yaml::{Document, Node, NodeKind, parse_fragment};

const P: &str = "172.17.0.2:5000";
const T: &str = "registry.example.com:5443/ckf";

const FORMS: [(&str, usize); 6] = [
    ("anchor-alias", 1),
    ("block-literal", 3),
    ("block-folded", 2),
    ("block-map", 7),
    ("flow-and-quoted", 4),
    ("bom-non-ascii", 1),
];

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/yaml-forms")
        .join(name)
}

/// Every string value below `applications`, with embedded maps and lists parsed the way the
/// charms parse them (YAML safe_load: a flow map's trailing comma is accepted).
fn strings(node: &Node, out: &mut Vec<String>) {
    match &node.kind {
        NodeKind::Map(entries) => entries.iter().for_each(|(_, v)| strings(v, out)),
        NodeKind::Seq(items) => items.iter().for_each(|v| strings(v, out)),
        NodeKind::Scalar(_) => {
            let Some(s) = node.as_str() else { return };
            match parse_fragment(&SourceText::new(s)) {
                Some(inner) if !matches!(inner.kind, NodeKind::Scalar(_)) => strings(&inner, out),
                _ => out.push(s.trim().to_owned()),
            }
        }
    }
}

#[test]
fn every_yaml_form_is_edited_in_place_byte_for_byte_with_lf_and_crlf() {
    for (name, expected_sites) in FORMS {
        let input = std::fs::read_to_string(fixture(&format!("{name}.yaml"))).unwrap();
        let expected = std::fs::read_to_string(fixture(&format!("{name}.expected.yaml"))).unwrap();
        for crlf in [false, true] {
            let (input, expected) = if crlf {
                (input.replace('\n', "\r\n"), expected.replace('\n', "\r\n"))
            } else {
                (input.clone(), expected.clone())
            };
            let label = format!("{name} ({})", if crlf { "CRLF" } else { "LF" });
            let (sites, out) = rewrite(&input);
            assert_eq!(sites.len(), expected_sites, "{label}: {sites:#?}");
            assert!(
                sites.iter().all(|s| s.span.is_some()),
                "{label}: {sites:#?}"
            );
            assert_eq!(out, expected, "{label}");
            // The written bundle parses, and every value (inside embedded maps and lists
            // too) names the target registry, none the placeholder.
            let doc = Document::parse("out.yaml", &out).unwrap();
            let mut values = Vec::new();
            strings(doc.root.get("applications").unwrap(), &mut values);
            let images: Vec<_> = values
                .iter()
                .filter(|v| v.contains('/') && v.contains(':'))
                .collect();
            assert!(!images.is_empty(), "{label}");
            for v in images {
                assert!(v.starts_with(T) && !v.contains(P), "{label}: {v:?}");
            }
        }
    }
}

/// An anchored value is edited once, and the places reusing it through an alias are named.
#[test]
fn an_anchored_image_is_edited_once_and_its_aliases_are_named() {
    let input = std::fs::read_to_string(fixture("anchor-alias.yaml")).unwrap();
    let (sites, out) = rewrite(&input);
    assert_eq!(sites[0].anchor.as_deref(), Some("notebook"));
    assert_eq!(
        sites[0].shared_by,
        ["jupyter-controller options.default-image"]
    );
    let doc = Document::parse("out.yaml", &out).unwrap();
    let alias = doc
        .root
        .at(&[
            ckf_airgap::bundle::yaml::PathSeg::Key("applications".into()),
            ckf_airgap::bundle::yaml::PathSeg::Key("jupyter-controller".into()),
            ckf_airgap::bundle::yaml::PathSeg::Key("options".into()),
            ckf_airgap::bundle::yaml::PathSeg::Key("default-image".into()),
        ])
        .and_then(Node::as_str)
        .unwrap();
    assert_eq!(
        alias,
        format!("{T}/kubeflownotebookswg/jupyter-scipy:v1.7.0")
    );
}

/// A reference written with an escape cannot be spliced in place: the whole value is written
/// in a quoted form with the same meaning, the plan says so, and the re-parse proves it.
#[test]
fn a_value_that_cannot_be_spliced_is_written_whole_in_a_normalised_form() {
    let input = format!(
        "bundle: kubernetes\napplications:\n  dex-auth:\n    charm: ./dex-auth_r224.charm\n    resources:\n      oci-image: \"{P}/dexidp/dex:v2.31.\\x32\"  # escaped\nrelations: []\n"
    );
    let doc = Document::parse("t.yaml", &input).unwrap();
    let sites = scan_document(&doc);
    assert!(sites[0].span.is_none(), "{sites:#?}");
    let table = MappingTable::build(&sites, Some(P), T).unwrap();
    let plan = plan_image_edits(&doc, &sites, &table).unwrap();
    assert_eq!(plan.normalised.len(), 1, "{:?}", plan.normalised);
    let message = &plan.normalised[0];
    assert!(
        message.starts_with("t.yaml:6:18: dex-auth resources.oci-image cannot be edited in place"),
        "{message}"
    );
    assert!(
        message.contains("[skip] \"ref:172.17.0.2:5000/dexidp/dex:v2.31.2\""),
        "{message}"
    );
    let out = plan.apply(&doc).unwrap().text;
    assert_eq!(
        out,
        input.replace(
            &format!("\"{P}/dexidp/dex:v2.31.\\x32\""),
            &format!("\"{T}/dexidp/dex:v2.31.2\"")
        )
    );
}
