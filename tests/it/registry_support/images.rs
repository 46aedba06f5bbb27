//! Small synthetic images: deterministic layer bytes, a config whose `rootfs.diff_ids` match,
//! and verification of pushed images with skopeo.

use std::io::{Read, Write};
use std::path::Path;
use std::process::Command;

use ckf_airgap::registry::{BlobFile, LayerFile, PushImage, StoredAs};

use super::registry::{PASS, TestRegistry, USER};

pub fn sha(bytes: &[u8]) -> ckf_airgap::oci::Digest {
    ckf_airgap::oci::Digest::of(bytes)
}

/// Deterministic bytes: random-looking (incompressible) or text-like (compressible).
pub fn bytes(seed: u64, size: usize, compressible: bool) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(size);
    let words: [&[u8]; 6] = [
        b"kubeflow ",
        b"notebook ",
        b"layer ",
        b"registry ",
        b"airgap\n",
        b"charm ",
    ];
    while out.len() < size {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        if compressible {
            out.extend_from_slice(words[(x % 6) as usize]);
        } else {
            out.extend_from_slice(&x.to_le_bytes());
        }
    }
    out.truncate(size);
    out
}

pub enum Kind {
    Plain,
    Gzip,
}

/// Writes a layer file; returns the layer as the pusher sees it.
pub fn layer(dir: &Path, name: &str, content: &[u8], kind: Kind) -> LayerFile {
    let diff_id = sha(content);
    let path = dir.join(format!("{name}.layer"));
    match kind {
        Kind::Plain => {
            std::fs::write(&path, content).unwrap();
            LayerFile {
                path,
                diff_id,
                size: content.len() as u64,
                stored: StoredAs::Uncompressed,
            }
        }
        Kind::Gzip => {
            let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            enc.write_all(content).unwrap();
            let gz = enc.finish().unwrap();
            std::fs::write(&path, &gz).unwrap();
            LayerFile {
                path,
                diff_id,
                size: gz.len() as u64,
                stored: StoredAs::Gzip { digest: sha(&gz) },
            }
        }
    }
}

pub fn image(dir: &Path, repository: &str, tag: &str, layers: Vec<LayerFile>) -> PushImage {
    let diff_ids: Vec<String> = layers.iter().map(|l| l.diff_id.to_string()).collect();
    let config = serde_json::json!({
        "architecture": "amd64",
        "os": "linux",
        "config": {"Cmd": ["/app"]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    });
    let config = serde_json::to_vec(&config).unwrap();
    let path = dir.join(format!(
        "{}-{tag}.config.json",
        repository.replace('/', "_")
    ));
    std::fs::write(&path, &config).unwrap();
    PushImage {
        source: format!("172.17.0.2:5000/{repository}:{tag}"),
        repository: repository.to_string(),
        tag: tag.to_string(),
        config: BlobFile {
            path,
            digest: sha(&config),
            size: config.len() as u64,
        },
        layers,
    }
}

/// Two images sharing an uncompressed base layer; image one also has an already-gzip layer.
pub fn standard_set(dir: &Path) -> Vec<PushImage> {
    let base = layer(dir, "base", &bytes(1, 600 << 10, true), Kind::Plain);
    let one_bin = layer(dir, "one-bin", &bytes(2, 1 << 20, false), Kind::Plain);
    let one_gz = layer(dir, "one-gz", &bytes(3, 300 << 10, true), Kind::Gzip);
    let two_bin = layer(dir, "two-bin", &bytes(4, 700 << 10, false), Kind::Plain);
    vec![
        image(
            dir,
            "team/app-one",
            "v1",
            vec![base.clone(), one_bin, one_gz],
        ),
        image(dir, "team/app-two", "v2", vec![base, two_bin]),
    ]
}

/// A layer blob as its uncompressed tar, by its media type.
pub fn uncompressed(media_type: &str, blob: Vec<u8>) -> Vec<u8> {
    if media_type.ends_with("gzip") {
        let mut out = Vec::new();
        flate2::read::MultiGzDecoder::new(&blob[..])
            .read_to_end(&mut out)
            .unwrap();
        out
    } else if media_type.ends_with("zstd") {
        zstd::decode_all(&blob[..]).unwrap()
    } else {
        blob
    }
}

/// Checks a pushed image with skopeo: `inspect`, then `copy` to a `dir:` and compare every
/// layer's uncompressed digest with the source diff_ids.
pub fn skopeo_verify(reg: &TestRegistry, img: &PushImage, prefix: &str) {
    let repo = if prefix.is_empty() {
        img.repository.clone()
    } else {
        format!("{prefix}/{}", img.repository)
    };
    let reference = format!("docker://{}/{repo}:{}", reg.addr(), img.tag);
    let creds = format!("{USER}:{PASS}");
    let out = Command::new("skopeo")
        .arg("inspect")
        .arg(format!("--tls-verify={}", reg.tls))
        .arg("--cert-dir")
        .arg(&reg.cert_dir)
        .args(["--creds", &creds, &reference])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "skopeo inspect {reference}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let inspect: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        inspect["Layers"].as_array().unwrap().len(),
        img.layers.len()
    );

    let copy_dir = tempfile::tempdir().unwrap();
    let out = Command::new("skopeo")
        .args(["copy", "-q", "--insecure-policy"])
        .arg(format!("--src-tls-verify={}", reg.tls))
        .arg("--src-cert-dir")
        .arg(&reg.cert_dir)
        .args(["--src-creds", &creds, &reference])
        .arg(format!("dir:{}", copy_dir.path().display()))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "skopeo copy {reference}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(copy_dir.path().join("manifest.json")).unwrap())
            .unwrap();
    let layers = manifest["layers"].as_array().unwrap();
    assert_eq!(layers.len(), img.layers.len());
    for (l, src) in layers.iter().zip(&img.layers) {
        let digest = l["digest"].as_str().unwrap();
        let media = l["mediaType"].as_str().unwrap();
        let blob =
            std::fs::read(copy_dir.path().join(digest.trim_start_matches("sha256:"))).unwrap();
        assert_eq!(sha(&blob), digest, "blob content matches its digest");
        let raw = uncompressed(media, blob);
        assert_eq!(
            sha(&raw),
            src.diff_id,
            "uncompressed layer of {reference} ({media})"
        );
    }
    let config = manifest["config"]["digest"].as_str().unwrap();
    assert_eq!(config, img.config.digest);
}
