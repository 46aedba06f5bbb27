//! Reads archives written by the real skopeo (`docker-archive:` from an OCI
//! layout), i.e. the `<sha>.tar` + `<id>/layer.tar` symlink form. Requires
//! skopeo: this test fails (never skips) when it is missing.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Command;

use crate::artifacts_support::*;
use ckf_airgap::synth::member::{ImageSpec, LayerSpec, write_oci_layout};
use ckf_airgap::synth::names::{member_file_name, placeholder_ref};
use ckf_airgap::synth::pack_images_gz;

fn skopeo_copy(layout: &Path, name: &str, out: &Path, reference: &str) {
    let probe = Command::new("skopeo").arg("--version").output();
    assert!(
        probe.as_ref().is_ok_and(|o| o.status.success()),
        "skopeo is required for this test: install it with `apt-get install -y skopeo`"
    );
    let st = Command::new("skopeo")
        .args(["--insecure-policy", "copy", "-q"])
        .arg(format!("oci:{}:{name}", layout.display()))
        .arg(format!("docker-archive:{}:{reference}", out.display()))
        .output()
        .expect("run skopeo");
    assert!(
        st.status.success(),
        "skopeo failed: {}",
        String::from_utf8_lossy(&st.stderr)
    );
}

#[test]
fn reads_archives_written_by_skopeo() -> TestResult {
    let d = tempfile::tempdir()?;
    let base = LayerSpec {
        seed: 42,
        size: 150_000,
    };
    let specs = [
        ("jwa", "kubeflownotebookswg/jupyter-web-app:v1.7.0", false),
        ("dex", "dexidp/dex:v2.31.2", true),
    ];
    let mut members = Vec::new();
    let mut expected = Vec::new();
    for (i, (name, path, compress)) in specs.iter().enumerate() {
        let reference = placeholder_ref(path);
        let spec = ImageSpec {
            reference: reference.clone(),
            layers: vec![
                base.clone(),
                LayerSpec {
                    seed: 100 + i as u64,
                    size: 90_000,
                },
            ],
        };
        let layout = d.path().join(format!("oci-{name}"));
        write_oci_layout(&layout, &[(name.to_string(), spec)], *compress)?;
        let member = member_file_name(&reference);
        let out = d.path().join(&member);
        skopeo_copy(&layout, name, &out, &reference);
        // Check that skopeo wrote the symlink form this test is about.
        let listing = Command::new("tar").arg("-tvf").arg(&out).output()?;
        let listing = String::from_utf8_lossy(&listing.stdout);
        assert!(
            listing.contains("layer.tar -> ../"),
            "no symlinked layers in:\n{listing}"
        );
        members.push((member, out));
        expected.push(reference);
    }
    let gz = d.path().join("images.tar.gz");
    pack_images_gz(&gz, &members, 1)?;
    let work = d.path().join("work");
    let rep = run(&gz, &work)?;
    let mut got: Vec<String> = rep.images.iter().map(|r| r.reference.clone()).collect();
    got.sort();
    expected.sort();
    assert_eq!(got, expected);
    for r in &rep.images {
        assert_eq!(r.layers.len(), 2);
        for l in &r.layers {
            assert_eq!(sha256_hex(&work.join(&l.spool_path)), l.blob_digest.hex());
        }
    }
    // The base layer is the same content in both images: stored once.
    assert_eq!(
        rep.images[0].layers[0].diff_id,
        rep.images[1].layers[0].diff_id
    );
    Ok(())
}
