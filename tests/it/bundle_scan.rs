//! Image reference scanning on the real published bundles and plans.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use ckf_airgap::bundle::scan::{Container, detect_placeholder, scan_document, under_placeholder};
use ckf_airgap::bundle::yaml::Document;
use ckf_airgap::image_ref::RefShape;

const BUNDLES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/bundles/");
const PLACEHOLDER: &str = "172.17.0.2:5000";

fn all_yaml_files() -> Vec<std::path::PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(BUNDLES)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    files
}

#[test]
fn every_placeholder_occurrence_is_found_with_its_exact_bytes() {
    let files = all_yaml_files();
    assert_eq!(files.len(), 6, "expected the six sample files");
    for path in files {
        let text = std::fs::read_to_string(&path).unwrap();
        let doc = Document::parse(&path.display().to_string(), &text).unwrap();
        let sites = scan_document(&doc);
        assert_eq!(
            detect_placeholder(&sites).as_deref(),
            Some(PLACEHOLDER),
            "{path:?}"
        );
        // Independent count: every occurrence of the placeholder followed by '/' is a
        // reference. The one in istio's `global-hub` is a registry+namespace reference, not
        // an image, so it is counted as a reference but excluded from the image count below.
        let occurrences = text.matches("172.17.0.2:5000/").count();
        let hubs = text.matches("\"global-hub\": \"172.17.0.2:5000/").count();
        let found: Vec<_> = under_placeholder(&sites, PLACEHOLDER).collect();
        assert_eq!(found.len(), occurrences, "{path:?}");
        let images = found
            .iter()
            .filter(|s| s.form.shape != RefShape::RegistryNamespace)
            .count();
        assert_eq!(images, occurrences - hubs, "{path:?}");
        for s in &found {
            let span = s.span.clone().unwrap_or_else(|| panic!("{path:?} {s:?}"));
            assert_eq!(&text[span], s.text, "{path:?}");
        }
    }
}

#[test]
fn unparseable_katib_map_from_the_shell_script_is_scanned_by_tokens() {
    let path = format!("{BUNDLES}ckf-latest-edge-2023-10-airgap-podspec-apps.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    let doc = Document::parse(&path, &text).unwrap();
    let sites = scan_document(&doc);
    let katib: Vec<_> = sites
        .iter()
        .filter(|s| s.key_path == "config.custom_images")
        .collect();
    assert_eq!(katib.len(), 19);
    assert!(katib.iter().all(|s| s.application == "katib-controller"));
    // PyYAML (used by the charm) rejects this value, so no inner keys are claimed.
    assert!(
        katib
            .iter()
            .all(|s| s.form.container == Container::EmbeddedText && s.inner_key.is_none())
    );
}
