//! The charm scanner against an independent rule, over every real charm of the 1.10 and 1.11
//! fixtures: every string in any charm file that parses as a pullable image reference (with a
//! tag or a digest) is an image the scanner finds, and every image the scanner finds is such a
//! string or one istio composes from its hub, names and tag. Plus synthetic charms for the
//! forms the real ones lack.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::path::Path;

use ckf_airgap::artifacts::charm_images::image_needs;
use ckf_airgap::artifacts::charms::read_charm;
use ckf_airgap::image_ref::ImageRef;
use ckf_airgap::synth::charm_zip_from_dir;

/// Strings that parse as image references in a charm's files but are not images it pulls,
/// each with why. The 1.10 and 1.11 charms hold none: every such string is an image.
const LOOK_ALIKES: &[(&str, &str)] = &[];

fn fixtures(version: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/releases")
        .join(version)
        .join("charms")
}

/// Every token of `text` (split at spaces, quotes, commas, brackets, braces and `=`) that is a
/// pullable image reference.
fn image_strings(text: &str) -> BTreeSet<String> {
    text.split(|c: char| {
        c.is_whitespace() || matches!(c, '"' | '\'' | ',' | '[' | ']' | '{' | '}' | '=' | '`')
    })
    .map(|t| t.trim_end_matches(['.', ')', ';']))
    .filter(|t| t.contains('/') || t.contains(':'))
    .filter(|t| !t.ends_with(':') && !t.starts_with("http"))
    .filter(|t| ImageRef::detect(t).is_some_and(|r| r.tag.is_some() || r.digest.is_some()))
    .map(str::to_owned)
    .collect()
}

fn files_of(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.file_name().is_some_and(|n| n != "charmcraft.yaml") {
                out.push(p);
            }
        }
    }
    out
}

fn scanned(charm_dir: &Path, scratch: &Path) -> BTreeSet<String> {
    let (file, bytes) = charm_zip_from_dir(charm_dir, 1, "22.04").unwrap();
    let path = scratch.join(&file);
    std::fs::write(&path, bytes).unwrap();
    let info = read_charm(&path, "fixtures").unwrap();
    image_needs(&info).into_iter().map(|n| n.upstream).collect()
}

fn check_release(version: &str) {
    let scratch = tempfile::tempdir().unwrap();
    let mut problems = Vec::new();
    let mut charms = 0;
    let mut strings_seen = 0;
    for entry in std::fs::read_dir(fixtures(version)).unwrap().flatten() {
        let dir = entry.path();
        if !dir.join("metadata.yaml").exists() {
            continue;
        }
        charms += 1;
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        let mut strings = BTreeSet::new();
        for f in files_of(&dir) {
            strings.extend(image_strings(
                &std::fs::read_to_string(&f).unwrap_or_default(),
            ));
        }
        strings.retain(|s| !LOOK_ALIKES.iter().any(|(l, _)| l == s));
        strings_seen += strings.len();
        let found = scanned(&dir, scratch.path());
        for s in strings.difference(&found) {
            problems.push(format!("{version} {name}: {s} is in its files, not found"));
        }
        for f in found.difference(&strings) {
            // istio composes `<global-hub>/<name>:<global-tag>`: no file holds it whole.
            let composed = name == "istio-pilot" && f.starts_with("docker.io/istio/");
            if !composed {
                problems.push(format!("{version} {name}: {f} found, in no file"));
            }
        }
    }
    assert!(charms > 30, "{version}: {charms} charms");
    // The rule reads the files for real: a release's charms name some ninety images.
    assert!(strings_seen > 80, "{version}: {strings_seen} image strings");
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_scanner_finds_every_image_string_of_every_1_10_charm() {
    check_release("1.10");
}

#[test]
fn the_scanner_finds_every_image_string_of_every_1_11_charm() {
    check_release("1.11");
}

/// The forms the real charms lack: an option default that is itself a list or a map of images,
/// written inline in config.yaml.
#[test]
fn inline_image_lists_and_maps_in_config_yaml_are_found() {
    let scratch = tempfile::tempdir().unwrap();
    let dir = scratch.path().join("inline-images");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("metadata.yaml"),
        "name: inline-images\ncontainers:\n  app:\n    resource: oci-image\nresources:\n  oci-image:\n    type: oci-image\n    upstream-source: docker.io/charmedkubeflow/app:1.0\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("config.yaml"),
        "options:\n  notebook-images:\n    type: string\n    default: |\n      - docker.io/kubeflownotebookswg/jupyter-scipy:v1.10.0\n      - ghcr.io/example/codeserver:v2\n    description: the images a user may pick\n  python-list:\n    type: string\n    default: \"['quay.io/example/a:1', 'quay.io/example/b:2']\"\n    description: a Python-list string\n  sidecars:\n    type: string\n    default: '{\"proxy\": \"docker.io/istio/proxyv2:1.24.2\", \"unused\": \"\"}'\n    description: a JSON map\n  replicas:\n    type: string\n    default: \"- one\\n- two\"\n    description: a list that is not images\n",
    )
    .unwrap();
    let found = scanned(&dir, scratch.path());
    let expected: BTreeSet<String> = [
        "docker.io/charmedkubeflow/app:1.0",
        "docker.io/kubeflownotebookswg/jupyter-scipy:v1.10.0",
        "ghcr.io/example/codeserver:v2",
        "quay.io/example/a:1",
        "quay.io/example/b:2",
        "docker.io/istio/proxyv2:1.24.2",
    ]
    .into_iter()
    .map(str::to_owned)
    .collect();
    assert_eq!(found, expected);
}
