//! End to end on every published sample: scan, map to a test registry, edit, verify, write.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use ckf_airgap::bundle::mapping::MappingTable;
use ckf_airgap::bundle::rewrite::plan_image_edits;
use ckf_airgap::bundle::scan::{detect_placeholder, scan_document, under_placeholder};
use ckf_airgap::bundle::write::{default_output_path, write_outputs};
use ckf_airgap::bundle::yaml::{Document, Node, NodeKind};

const BUNDLES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/bundles/");
const PLACEHOLDER: &str = "172.17.0.2:5000";
const TARGET: &str = "registry.example.com:5443/ckf";

fn samples() -> Vec<PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(BUNDLES)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let n = p.file_name().unwrap().to_string_lossy().into_owned();
            n.ends_with(".yaml") && (n.contains("bundle") || n.contains("podspec-apps"))
        })
        .collect();
    files.sort();
    files
}

/// Every scalar as `path = value`, in document order (independent of the crate's verifier).
fn flatten(node: &Node, path: String, out: &mut Vec<(String, String)>) {
    match &node.kind {
        NodeKind::Map(m) => m
            .iter()
            .for_each(|(k, v)| flatten(v, format!("{path}/{}", k.key_text()), out)),
        NodeKind::Seq(s) => s
            .iter()
            .enumerate()
            .for_each(|(i, v)| flatten(v, format!("{path}/{i}"), out)),
        NodeKind::Scalar(v) => out.push((path, format!("{v:?}"))),
    }
}

fn rewrite_one(original: &Path, dir: &Path) {
    let copy = dir.join(original.file_name().unwrap());
    std::fs::copy(original, &copy).unwrap();
    let before = std::fs::read(&copy).unwrap();
    let text = String::from_utf8(before.clone()).unwrap();
    let doc = Document::parse(&copy.display().to_string(), &text).unwrap();
    let sites = scan_document(&doc);
    let placeholder = detect_placeholder(&sites).unwrap();
    assert_eq!(placeholder, PLACEHOLDER);
    assert_eq!(
        under_placeholder(&sites, PLACEHOLDER).count(),
        text.matches("172.17.0.2:5000/").count()
    );

    let table = MappingTable::build(&sites, Some(&placeholder), TARGET).unwrap();
    let plan = plan_image_edits(&doc, &sites, &table).unwrap();
    let edited = plan.apply(&doc).unwrap();
    let report = table.report(&sites, "in", "out");
    let written = write_outputs(&copy, None, &edited.text, &report).unwrap();

    assert_eq!(
        std::fs::read(&copy).unwrap(),
        before,
        "original must not change"
    );
    assert_eq!(written.bundle, default_output_path(&copy));
    let out = std::fs::read_to_string(&written.bundle).unwrap();
    assert_eq!(out, edited.text);
    assert!(
        !out.contains("172.17.0.2:5000"),
        "placeholder left in {original:?}"
    );

    // Line by line: same number of lines; a line differs only if it held the placeholder,
    // and then only by the registry swap.
    let (old_lines, new_lines): (Vec<_>, Vec<_>) = (text.lines().collect(), out.lines().collect());
    assert_eq!(old_lines.len(), new_lines.len());
    for (o, n) in old_lines.iter().zip(&new_lines) {
        if o != n {
            assert_eq!(
                o.replace("172.17.0.2:5000/", "registry.example.com:5443/ckf/"),
                *n
            );
        }
    }

    // Structure: same paths; values equal apart from the intended registry swap.
    let (mut a, mut b) = (Vec::new(), Vec::new());
    flatten(&doc.root, String::new(), &mut a);
    flatten(
        &Document::parse("out", &out).unwrap().root,
        String::new(),
        &mut b,
    );
    assert_eq!(a.len(), b.len());
    for ((pa, va), (pb, vb)) in a.iter().zip(&b) {
        assert_eq!(pa, pb);
        assert_eq!(
            &va.replace("172.17.0.2:5000/", "registry.example.com:5443/ckf/"),
            vb,
            "{pa}"
        );
    }

    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&written.report).unwrap()).unwrap();
    let entries = json["entries"].as_array().unwrap();
    assert!(
        entries
            .iter()
            .all(|e| e["new"].as_str().unwrap().starts_with(TARGET))
    );
}

#[test]
fn every_sample_is_rewritten_to_the_test_registry() {
    let files = samples();
    assert_eq!(files.len(), 6);
    let dir = tempfile::tempdir().unwrap();
    for f in files {
        rewrite_one(&f, dir.path());
    }
}
