//! Error messages: file, 1-based line and column, cause and fix; the original is never written.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use ckf_airgap::bundle::error::BundleError;
use ckf_airgap::bundle::mapping::MappingTable;
use ckf_airgap::bundle::model::Bundle;
use ckf_airgap::bundle::write::write_outputs;

#[test]
fn malformed_yaml_names_file_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("broken.yaml");
    std::fs::write(
        &path,
        "bundle: kubernetes\napplications:\n  a:\n    charm: [x\n  b: 1\n",
    )
    .unwrap();
    let err = Bundle::load(&path).unwrap_err();
    let BundleError::Parse {
        line,
        column,
        ref file,
        ..
    } = err
    else {
        panic!("{err}")
    };
    assert_eq!(file, &path.display().to_string());
    assert_eq!((line, column), (5, 4));
    let msg = err.to_string();
    assert!(
        msg.starts_with(&format!("{}:5:4: YAML syntax error", path.display())),
        "{msg}"
    );
    assert!(msg.contains("Fix the file"), "{msg}");
}

#[test]
fn bad_indentation_and_duplicate_keys_are_located() {
    let err = Bundle::parse(
        "dup.yaml",
        "applications:\n  a:\n    charm: a\n  a:\n    charm: b\n",
    )
    .unwrap_err();
    assert!(err.to_string().starts_with("dup.yaml:4:"), "{err}");
    let err = Bundle::parse(
        "ind.yaml",
        "applications:\n  a:\n    charm: a\n   scale: 1\n",
    )
    .unwrap_err();
    assert!(err.to_string().starts_with("ind.yaml:4:"), "{err}");
}

#[test]
fn non_bundle_and_unreadable_files_say_so() {
    let err = Bundle::parse("x.yaml", "just: a map\n").unwrap_err();
    assert!(
        err.to_string().contains("no 'applications:' mapping"),
        "{err}"
    );
    let err = Bundle::load(std::path::Path::new("/nonexistent/b.yaml")).unwrap_err();
    assert!(matches!(err, BundleError::Read { .. }), "{err}");
    let err = Bundle::parse(
        "r.yaml",
        "applications:\n  a:\n    charm: a\nrelations:\n  - [a]\n",
    )
    .unwrap_err();
    assert!(err.to_string().contains("line 5"), "{err}");
}

#[test]
fn writing_over_the_original_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("b.yaml");
    std::fs::write(&path, "applications: {}\n").unwrap();
    let report = MappingTable::build(&[], None, "r.example.com")
        .unwrap()
        .report(&[], "b", "b");
    let err = write_outputs(&path, Some(&path), "x", &report).unwrap_err();
    assert!(
        matches!(err, BundleError::WouldOverwriteOriginal { .. }),
        "{err}"
    );
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        "applications: {}\n"
    );
    let leftovers = std::fs::read_dir(dir.path()).unwrap().count();
    assert_eq!(leftovers, 1, "no temp file left behind");
}
