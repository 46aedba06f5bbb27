//! The mapping table: statuses against a push report, overrides, bulk rewrite, pinning,
//! conflicts, unused pushes and refusal of invalid targets.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use ckf_airgap::bundle::error::BundleError;
use ckf_airgap::bundle::mapping::{MappingConflict, MappingTable, MatchStatus, PushedTargets};
use ckf_airgap::bundle::rewrite::plan_image_edits;
use ckf_airgap::bundle::scan::{ImageRefSite, scan_document};
use ckf_airgap::bundle::yaml::Document;

const P: &str = "172.17.0.2:5000";
const T: &str = "registry.example.com:5443/ckf";
const D1: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
const D2: &str = "sha256:2222222222222222222222222222222222222222222222222222222222222222";

fn doc() -> (Document, Vec<ImageRefSite>) {
    let text = format!(
        "applications:\n  a:\n    charm: a\n    resources:\n      oci-image: {P}/kserve/agent:v0.10.0\n      second: {P}/kserve/agent:v0.10.0\n    options:\n      cache-image: {P}/google-containers/busybox\n      other: {P}/x/missing:1\n      hub: busybox:1.28\n"
    );
    let doc = Document::parse("m.yaml", &text).unwrap();
    let sites = scan_document(&doc);
    (doc, sites)
}

fn table() -> (Document, Vec<ImageRefSite>, MappingTable) {
    let (doc, sites) = doc();
    let t = MappingTable::build(&sites, Some(P), T).unwrap();
    (doc, sites, t)
}

fn status(t: &MappingTable, source: &str) -> MatchStatus {
    t.row(source).unwrap().status.clone()
}

#[test]
fn rows_are_per_distinct_source_and_default_targets_swap_the_registry() {
    let (_, sites, t) = table();
    assert_eq!(sites.len(), 5);
    assert_eq!(t.rows.len(), 4);
    let agent = t.row(&format!("{P}/kserve/agent:v0.10.0")).unwrap();
    assert_eq!(agent.sites, vec![0, 1]);
    assert_eq!(
        agent.target.as_deref(),
        Some(format!("{T}/kserve/agent:v0.10.0").as_str())
    );
    assert_eq!(
        t.row("busybox:1.28").unwrap().target,
        None,
        "not under the placeholder: kept"
    );
}

#[test]
fn statuses_matched_missing_ambiguous_and_unused() {
    let (_, _, mut t) = table();
    let report = PushedTargets::new([
        (format!("{T}/kserve/agent:v0.10.0"), D1.to_owned()),
        (
            "ckf/google-containers/busybox:1.36".to_owned(),
            D1.to_owned(),
        ),
        (
            "ckf/google-containers/busybox:1.37".to_owned(),
            D2.to_owned(),
        ),
        ("ckf/never/used:1".to_owned(), D2.to_owned()),
    ]);
    t.check(&report);
    assert_eq!(
        status(&t, &format!("{P}/kserve/agent:v0.10.0")),
        MatchStatus::Matched(format!("{T}/kserve/agent:v0.10.0"))
    );
    assert_eq!(
        t.row(&format!("{P}/kserve/agent:v0.10.0"))
            .unwrap()
            .digest
            .as_deref(),
        Some(D1)
    );
    assert_eq!(
        status(&t, &format!("{P}/x/missing:1")),
        MatchStatus::Missing
    );
    let MatchStatus::Ambiguous(tags) = status(&t, &format!("{P}/google-containers/busybox")) else {
        panic!("untagged with several tags pushed must be ambiguous")
    };
    assert_eq!(tags.len(), 2);
    assert_eq!(status(&t, "busybox:1.28"), MatchStatus::Unchecked);
    assert_eq!(
        t.unused_pushed(&report),
        vec!["ckf/never/used:1".to_owned()]
    );
    assert_eq!(t.blocking_rows().len(), 2);

    // Picking a tag by override resolves the ambiguity.
    t.set_override(
        &format!("{P}/google-containers/busybox"),
        Some(&format!("{T}/google-containers/busybox:1.37")),
    )
    .unwrap();
    t.check(&report);
    assert!(matches!(
        status(&t, &format!("{P}/google-containers/busybox")),
        MatchStatus::Matched(_)
    ));
}

#[test]
fn same_path_pushed_under_two_hosts_is_ambiguous() {
    let (_, _, mut t) = table();
    let report = PushedTargets::new([
        ("a.example.com/ckf/x/missing:1".to_owned(), D1.to_owned()),
        ("b.example.com/ckf/x/missing:1".to_owned(), D2.to_owned()),
    ]);
    t.check(&report);
    assert!(
        matches!(status(&t, &format!("{P}/x/missing:1")), MatchStatus::Ambiguous(v) if v.len() == 2)
    );
}

#[test]
fn pinning_by_digest_writes_repo_at_digest() {
    let (doc, sites, mut t) = table();
    t.check(&PushedTargets::new([(
        format!("{T}/kserve/agent:v0.10.0"),
        D1.to_owned(),
    )]));
    t.pin_digests = true;
    let row = t.row(&format!("{P}/kserve/agent:v0.10.0")).unwrap();
    assert_eq!(t.final_target(row), Some(format!("{T}/kserve/agent@{D1}")));
    let out = plan_image_edits(&doc, &sites, &t)
        .unwrap()
        .apply(&doc)
        .unwrap()
        .text;
    assert!(out.contains(&format!("oci-image: {T}/kserve/agent@{D1}\n")));
    assert!(out.contains(&format!("second: {T}/kserve/agent@{D1}\n")));
    let report = t.report(&sites, "m.yaml", "m.airgap.yaml");
    let pinned = report.entries.iter().find(|e| e.new.contains('@')).unwrap();
    assert_eq!(pinned.digest.as_deref(), Some(D1));
    assert_eq!(pinned.locations.len(), 2);
}

#[test]
fn bulk_prefix_rewrite_and_conflicts() {
    let (_, _, mut t) = table();
    assert_eq!(
        t.bulk_rewrite(&format!("{T}/"), "mirror.local/kf/")
            .unwrap(),
        3
    );
    assert!(
        t.rows
            .iter()
            .filter_map(|r| r.target.as_deref())
            .all(|x| x.starts_with("mirror.local/kf/"))
    );
    assert!(t.conflicts().is_empty());
    t.set_override(
        &format!("{P}/x/missing:1"),
        Some("mirror.local/kf/kserve/agent:v0.10.0"),
    )
    .unwrap();
    assert_eq!(
        t.conflicts(),
        vec![MappingConflict {
            target: "mirror.local/kf/kserve/agent:v0.10.0".into(),
            sources: vec![
                format!("{P}/kserve/agent:v0.10.0"),
                format!("{P}/x/missing:1")
            ],
        }]
    );
}

#[test]
fn invalid_targets_are_refused_with_the_rule() {
    let (_, _, mut t) = table();
    let source = format!("{P}/x/missing:1");
    let err = t
        .set_override(&source, Some("registry.example.com/X/Missing:1"))
        .unwrap_err();
    assert!(matches!(err, BundleError::InvalidTarget { .. }));
    assert!(err.to_string().contains("lowercase"), "{err}");
    assert!(
        t.row(&source)
            .unwrap()
            .target
            .as_deref()
            .is_some_and(|x| x.starts_with(T)),
        "row unchanged"
    );
    let err = t.bulk_rewrite(&format!("{T}/"), "bad host!/").unwrap_err();
    assert!(err.to_string().contains("whitespace"), "{err}");
    assert!(MappingTable::build(&[], Some(P), "UPPER.example.com/Ckf").is_err());
    let err = t
        .set_override(&source, Some("registry.example.com/x/y:.bad"))
        .unwrap_err();
    assert!(err.to_string().contains("tag"), "{err}");
}

#[test]
fn source_with_invalid_default_target_blocks_the_plan() {
    let text = format!("applications:\n  a:\n    charm: a\n    resources:\n      img: {P}/x/y:1\n");
    let doc = Document::parse("m.yaml", &text).unwrap();
    let sites = scan_document(&doc);
    let mut t = MappingTable::build(&sites, Some(P), T).unwrap();
    // A 200-character prefix pushes the repository name past the 255-character limit.
    let long = format!("registry.example.com/{}", "a".repeat(240));
    assert!(
        t.bulk_rewrite(&format!("{T}/"), &format!("{long}/"))
            .is_err()
    );
    t.rows[0].problem = Some("forced".into());
    assert!(matches!(
        plan_image_edits(&doc, &sites, &t),
        Err(BundleError::InvalidTarget { .. })
    ));
}

/// A Docker Hub official image written with `library/` in the bundle is pushed without it
/// (as `docker save` names it); the mapping must name the same target, not report it missing.
#[test]
fn a_library_value_maps_to_the_image_the_push_names() {
    use ckf_airgap::artifacts::inventory::ImageRecord;
    use ckf_airgap::registry::RegistryTarget;
    let source = format!("{P}/library/busybox:1.28");
    let text = format!("applications:\n  a:\n    charm: a\n    options:\n      image: {source}\n");
    let doc = Document::parse("m.yaml", &text).unwrap();
    let sites = scan_document(&doc);
    let mut t = MappingTable::build(&sites, Some(P), T).unwrap();
    // The push names its target from the archive's record of the same image.
    let (_, repository, tag) = ImageRecord::new_named(&source);
    let pushed = RegistryTarget::parse(T)
        .unwrap()
        .reference(&repository, &tag.unwrap());
    assert_eq!(pushed, format!("{T}/busybox:1.28"));
    assert_eq!(
        t.row(&source).unwrap().target.as_deref(),
        Some(pushed.as_str())
    );
    t.check(&PushedTargets::new([(pushed.clone(), D1.to_owned())]));
    assert_eq!(status(&t, &source), MatchStatus::Matched(pushed));
}
