//! The artifacts step as the operator runs it: the real binary, headless, over a synthetic
//! release written by the generator.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use crate::support::answers::{self, skip};
use crate::support::{run, text};
use ckf_airgap::answers::Answers;
use ckf_airgap::session::SessionStore;
use ckf_airgap::synth::{ReleaseSpec, generate_release};
use ckf_airgap::wizard::{Step, StepStatus};

/// Answers that read these archives, the checks skipped (`more`: the test's own answers).
fn answers(
    dir: &Path,
    images: &Path,
    charms: &Path,
    more: impl FnOnce(&mut Answers),
) -> std::path::PathBuf {
    let mut spec = Answers {
        artifacts: Some(answers::artifacts(images, charms)),
        ..Answers::default()
    };
    skip(&mut spec, "environment-checks", "checked by hand");
    more(&mut spec);
    let path = dir.join("answers.toml");
    answers::write(&path, &spec);
    path
}

fn status(state: &Path, step: Step) -> StepStatus {
    let store = SessionStore::open(state).unwrap();
    let summary = store.list().unwrap().into_iter().next().unwrap();
    summary.file.unwrap().wizard.status(step).clone()
}

#[test]
fn a_release_is_read_verified_and_inventoried() {
    let dir = tempfile::tempdir().unwrap();
    let release = generate_release(&ReleaseSpec::default(), &dir.path().join("rel")).unwrap();
    let state = dir.path().join("state");
    let answers = answers(
        dir.path(),
        &release.images_gz,
        release.charms_gz.as_ref().unwrap(),
        |_| {},
    );
    let out = run(
        &state,
        &["--mode", "headless", "--answers", answers.to_str().unwrap()],
        &[],
    );
    let stdout = text(&out.stdout);
    assert!(stdout.contains("[artifacts] done"), "{stdout}");
    assert_eq!(status(&state, Step::Artifacts), StepStatus::Done);

    let store = SessionStore::open(&state).unwrap();
    let session_dir = store.list().unwrap()[0].dir.clone();
    let inventory: serde_json::Value =
        serde_json::from_slice(&std::fs::read(session_dir.join("inventory.json")).unwrap())
            .unwrap();
    let refs: Vec<&str> = inventory["images"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["reference"].as_str().unwrap())
        .collect();
    let mut expected: Vec<&str> = release
        .images
        .iter()
        .map(|i| i.reference.as_str())
        .collect();
    expected.sort();
    assert_eq!(refs, expected);
    assert_eq!(
        inventory["charms"].as_array().unwrap().len(),
        release.charm_files.len()
    );
    for image in &release.images {
        assert!(
            stdout.contains(&format!("verified {}", image.reference)),
            "{} not reported: {stdout}",
            image.reference
        );
    }
}

#[test]
fn a_truncated_archive_fails_the_step_with_the_file_named_and_nothing_half_done_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let release = generate_release(&ReleaseSpec::default(), &dir.path().join("rel")).unwrap();
    let full = std::fs::read(&release.images_gz).unwrap();
    let cut = dir.path().join("images.tar.gz");
    std::fs::write(&cut, &full[..full.len() * 2 / 3]).unwrap();
    let state = dir.path().join("state");
    let answers = answers(
        dir.path(),
        &cut,
        release.charms_gz.as_ref().unwrap(),
        |_| {},
    );
    let out = run(
        &state,
        &["--mode", "headless", "--answers", answers.to_str().unwrap()],
        &[],
    );
    assert_eq!(out.status.code(), Some(1));
    let stdout = text(&out.stdout);
    let failure = stdout
        .lines()
        .find(|l| l.starts_with("[artifacts] failed:"))
        .unwrap_or_else(|| panic!("no failure line: {stdout}"));
    assert!(failure.contains("images.tar.gz"), "{failure}");
    assert!(failure.contains("incomplete"), "{failure}");
    let StepStatus::Failed { .. } = status(&state, Step::Artifacts) else {
        panic!("the step should be failed");
    };
    // Member units recorded are exactly the images reported as verified before the cut (the
    // charms, read first, are a unit of their own).
    let store = SessionStore::open(&state).unwrap();
    let file = store.list().unwrap()[0].file.clone().unwrap();
    let verified = stdout.lines().filter(|l| l.contains("] verified ")).count();
    let ledger = &file.wizard.record(Step::Artifacts).ledger;
    let members = ledger
        .keys()
        .filter(|k| ckf_airgap::engine::units::ReadMember::member_in(k).is_some())
        .count();
    assert_eq!(members, verified, "{:?}", ledger.keys());
    assert!(ledger.contains_key("charms"), "{:?}", ledger.keys());
    assert!(verified < release.images.len());
}

#[test]
fn a_bundle_that_needs_images_the_archive_lacks_is_refused_with_the_list() {
    let dir = tempfile::tempdir().unwrap();
    let release = generate_release(&ReleaseSpec::default(), &dir.path().join("rel")).unwrap();
    let state = dir.path().join("state");
    let bundle = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/bundles/ckf-1.7-edge-airgap-bundle.yaml"
    );
    let answers = answers(
        dir.path(),
        &release.images_gz,
        release.charms_gz.as_ref().unwrap(),
        |a| a.bundle = Some(answers::bundle(Path::new(bundle))),
    );
    let out = run(
        &state,
        &["--mode", "headless", "--answers", answers.to_str().unwrap()],
        &[],
    );
    assert_eq!(out.status.code(), Some(1));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("needs what the archives do not hold"),
        "{stdout}"
    );
    assert!(
        stdout.contains("image 172.17.0.2:5000/dexidp/dex:v2.31.2"),
        "{stdout}"
    );
}

#[test]
fn a_changed_archive_invalidates_the_step_and_it_runs_again() {
    let dir = tempfile::tempdir().unwrap();
    let rel = dir.path().join("rel");
    let release = generate_release(&ReleaseSpec::default(), &rel).unwrap();
    let state = dir.path().join("state");
    let answers = answers(
        dir.path(),
        &release.images_gz,
        release.charms_gz.as_ref().unwrap(),
        |_| {},
    );
    let args = ["--mode", "headless", "--answers", answers.to_str().unwrap()];
    let first = text(&run(&state, &args, &[]).stdout);
    assert!(first.contains("[artifacts] done"), "{first}");

    // Same archive: the finished step is not repeated.
    let again = text(&run(&state, &args, &[]).stdout);
    assert!(!again.contains("[artifacts] started"), "{again}");

    let smaller = generate_release(
        &ReleaseSpec {
            seed: 7,
            images: 2,
            ..ReleaseSpec::default()
        },
        &rel,
    )
    .unwrap();
    assert!(smaller.images.len() < release.images.len());
    let changed = text(&run(&state, &args, &[]).stdout);
    assert!(
        changed.contains("notice: charms archive, images archive changed: Artifacts and the 6 step(s) after it will run again"),
        "{changed}"
    );
    assert!(changed.contains("[artifacts] done"), "{changed}");
    let store = SessionStore::open(&state).unwrap();
    let session_dir = store.list().unwrap()[0].dir.clone();
    let inventory: serde_json::Value =
        serde_json::from_slice(&std::fs::read(session_dir.join("inventory.json")).unwrap())
            .unwrap();
    // One record per image of the new archive: nothing left from the first release.
    assert_eq!(
        inventory["images"].as_array().unwrap().len(),
        smaller.images.len()
    );
}

/// A member that is not an image tar is reported once, not once per channel it travels.
#[test]
fn a_warning_is_printed_once() {
    use std::io::{Read, Write};
    let dir = tempfile::tempdir().unwrap();
    let release = generate_release(&ReleaseSpec::default(), &dir.path().join("rel")).unwrap();
    // The same archive with a README beside the image tars.
    let mut tar = Vec::new();
    flate2::read::GzDecoder::new(std::fs::File::open(&release.images_gz).unwrap())
        .read_to_end(&mut tar)
        .unwrap();
    let mut ar = tar::Archive::new(tar.as_slice());
    let mut out = tar::Builder::new(Vec::new());
    for entry in ar.entries().unwrap() {
        let mut entry = entry.unwrap();
        let mut header = entry.header().clone();
        let mut data = Vec::new();
        entry.read_to_end(&mut data).unwrap();
        out.append_data(&mut header, entry.path().unwrap(), data.as_slice())
            .unwrap();
    }
    let mut header = tar::Header::new_ustar();
    header.set_size(5);
    header.set_mode(0o644);
    header.set_cksum();
    out.append_data(&mut header, "README.txt", &b"hello"[..])
        .unwrap();
    let images = dir.path().join("with-readme.tar.gz");
    let mut gz = flate2::write::GzEncoder::new(
        std::fs::File::create(&images).unwrap(),
        flate2::Compression::fast(),
    );
    gz.write_all(&out.into_inner().unwrap()).unwrap();
    gz.finish().unwrap();
    let state = dir.path().join("state");
    let answers = answers(
        dir.path(),
        &images,
        release.charms_gz.as_ref().unwrap(),
        |_| {},
    );
    let out = run(
        &state,
        &["--mode", "headless", "--answers", answers.to_str().unwrap()],
        &[],
    );
    let stdout = text(&out.stdout);
    assert!(stdout.contains("[artifacts] done"), "{stdout}");
    assert_eq!(stdout.matches("ignored README.txt").count(), 1, "{stdout}");
}

/// The lock file beside `images.tar.gz` is one of the step's inputs: one that appears after
/// the step ran (or changes) runs it again, and the step reads it.
#[test]
fn a_lock_file_that_appears_beside_the_archive_runs_the_artifacts_step_again() {
    let dir = tempfile::tempdir().unwrap();
    let release = generate_release(&ReleaseSpec::default(), &dir.path().join("rel")).unwrap();
    let state = dir.path().join("state");
    let answers = answers(
        dir.path(),
        &release.images_gz,
        release.charms_gz.as_ref().unwrap(),
        |_| {},
    );
    let args = ["--mode", "headless", "--answers", answers.to_str().unwrap()];
    let out = run(&state, &args, &[]);
    assert!(text(&out.stdout).contains("[artifacts] done"));
    assert_eq!(status(&state, Step::Artifacts), StepStatus::Done);

    let lock = release.images_gz.with_file_name("ckf-release.lock.json");
    std::fs::write(&lock, b"{\"not\": \"a lock\"}").unwrap();
    let out = run(&state, &args, &[]);
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("lock file changed: Artifacts and the"),
        "{stdout}"
    );
    assert!(
        stdout.contains("is not a lock file ckf-airgap wrote"),
        "the re-run reads the new lock file: {stdout}"
    );
    assert!(matches!(
        status(&state, Step::Artifacts),
        StepStatus::Failed { .. }
    ));
}

/// The bundle is one of the step's inputs, but one it only checks against: given after the
/// step ran it changes nothing; edited, it runs the step again with its finished work kept, so
/// the archive is not read again and the new bundle's needs are checked against the records.
#[test]
fn an_edited_bundle_runs_the_artifacts_step_again_without_reading_the_archive() {
    let dir = tempfile::tempdir().unwrap();
    let release = generate_release(&ReleaseSpec::default(), &dir.path().join("rel")).unwrap();
    let state = dir.path().join("state");
    let charms = release.charms_gz.as_ref().unwrap();
    let without = answers(dir.path(), &release.images_gz, charms, |_| {});
    let out = run(
        &state,
        &["--mode", "headless", "--answers", without.to_str().unwrap()],
        &[],
    );
    assert!(text(&out.stdout).contains("[artifacts] done"));
    let units = |state: &Path| {
        let store = SessionStore::open(state).unwrap();
        let file = store.list().unwrap().remove(0).file.unwrap();
        file.wizard.record(Step::Artifacts).ledger.len()
    };
    let units_first = units(&state);

    let bundle = dir.path().join("bundle.yaml");
    std::fs::copy(
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/bundles/ckf-1.7-edge-airgap-bundle.yaml"
        ),
        &bundle,
    )
    .unwrap();
    let with = answers(dir.path(), &release.images_gz, charms, |a| {
        a.bundle = Some(answers::bundle(&bundle))
    });
    let args = ["--mode", "headless", "--answers", with.to_str().unwrap()];
    let given = text(&run(&state, &args, &[]).stdout);
    assert!(!given.contains("[artifacts] started"), "{given}");
    assert_eq!(status(&state, Step::Artifacts), StepStatus::Done);

    let mut text_now = std::fs::read_to_string(&bundle).unwrap();
    text_now.push_str("# edited\n");
    std::fs::write(&bundle, text_now).unwrap();
    let out = run(&state, &args, &[]);
    let edited = text(&out.stdout);
    assert!(
        edited.contains(&format!(
            "bundle changed: Artifacts runs again, keeping its {units_first} finished unit(s)"
        )),
        "{edited}"
    );
    assert!(edited.contains("it is not read again"), "{edited}");
    assert!(
        edited.contains("image 172.17.0.2:5000/dexidp/dex:v2.31.2"),
        "the edited bundle's needs are checked: {edited}"
    );
    assert!(matches!(
        status(&state, Step::Artifacts),
        StepStatus::Failed { .. }
    ));
    assert_eq!(units(&state), units_first, "no unit was lost or redone");
}
