//! Writes one image as a `docker save`-style tar in any supported flavour.
//! Layers are generated to scratch files first (their digests must be known
//! before the entries that name them), then streamed into the member.

use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use serde_json::json;
use sha2::{Digest, Sha256};

use crate::oci::MediaType;

use super::content::ContentReader;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    /// Docker < 25: `<id>/layer.tar` regular files, `<hex>.json` config.
    Legacy,
    /// skopeo docker-archive: `<diffid>.tar` at the root and `<id>/layer.tar`
    /// symlinks to `../<diffid>.tar` (manifest.json points at the symlinks).
    LegacySymlinks,
    /// Docker 25+: OCI layout with uncompressed blobs plus manifest.json.
    Docker25,
    /// containerd image store: OCI layout with gzip blobs, manifest.json, and
    /// an index entry for a platform whose blobs are absent.
    CompressedOci,
    /// docker-archive whose layers are gzip blobs, no OCI metadata: diff_ids
    /// can only be checked by inflating.
    CompressedLegacy,
}

pub const ALL_FORMS: &[Form] = &[
    Form::Legacy,
    Form::LegacySymlinks,
    Form::Docker25,
    Form::CompressedOci,
    Form::CompressedLegacy,
];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerSpec {
    /// Same seed and size ⇒ same bytes ⇒ same digest (shared base layers).
    pub seed: u64,
    pub size: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageSpec {
    pub reference: String,
    pub layers: Vec<LayerSpec>,
}

#[derive(Debug, Clone, Default)]
pub struct MemberOptions {
    /// Prefix every entry with `./` (tar run as `tar -cf x.tar .`).
    pub dot_prefix: bool,
    /// Write RepoTags as null (image saved by digest); the name then comes
    /// from index.json annotations (OCI forms only).
    pub null_repo_tags: bool,
    /// Put manifest.json and friends before the layers instead of after.
    pub metadata_first: bool,
}

#[derive(Debug, Clone)]
pub struct PreparedLayer {
    pub file: PathBuf,
    pub diff_id: String,
    pub blob_hex: String,
    pub blob_size: u64,
    pub compressed: bool,
}

#[derive(Debug, Clone)]
pub struct MemberInfo {
    pub reference: String,
    pub config_hex: String,
    pub layers: Vec<PreparedLayer>,
}

struct HashingWriter<W: Write> {
    inner: W,
    hasher: Sha256,
    len: u64,
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.len += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Builds the layer tar (files of up to 4 MiB) into `w`.
fn write_layer_tar<W: Write>(w: W, spec: &LayerSpec) -> io::Result<W> {
    let mut b = tar::Builder::new(w);
    let mut left = spec.size.max(1);
    let mut i = 0u64;
    while left > 0 {
        let n = left.min(4 << 20);
        let mut h = tar::Header::new_gnu();
        h.set_size(n);
        h.set_mode(0o644);
        h.set_mtime(1_672_531_200);
        h.set_entry_type(tar::EntryType::Regular);
        let path = format!("usr/lib/synth-{:x}/f{i}.bin", spec.seed);
        b.append_data(
            &mut h,
            path,
            ContentReader::new(spec.seed.wrapping_mul(31).wrapping_add(i), n),
        )?;
        left -= n;
        i += 1;
    }
    b.into_inner()
}

pub fn prepare_layer(
    spec: &LayerSpec,
    compress: bool,
    scratch: &Path,
    n: usize,
) -> io::Result<PreparedLayer> {
    let file = scratch.join(format!("layer-{n}-{:x}-{}", spec.seed, compress));
    let out = BufWriter::new(File::create(&file)?);
    if compress {
        let outer = HashingWriter {
            inner: out,
            hasher: Sha256::new(),
            len: 0,
        };
        let gz = flate2::write::GzEncoder::new(outer, flate2::Compression::fast());
        let inner = HashingWriter {
            inner: gz,
            hasher: Sha256::new(),
            len: 0,
        };
        let inner = write_layer_tar(inner, spec)?;
        let diff_id = hex::encode(inner.hasher.finalize());
        let mut outer = inner.inner.finish()?;
        outer.flush()?;
        Ok(PreparedLayer {
            file,
            diff_id,
            blob_hex: hex::encode(outer.hasher.finalize()),
            blob_size: outer.len,
            compressed: true,
        })
    } else {
        let hw = HashingWriter {
            inner: out,
            hasher: Sha256::new(),
            len: 0,
        };
        let mut hw = write_layer_tar(hw, spec)?;
        hw.flush()?;
        let hex = hex::encode(hw.hasher.finalize());
        Ok(PreparedLayer {
            file,
            diff_id: hex.clone(),
            blob_hex: hex,
            blob_size: hw.len,
            compressed: false,
        })
    }
}

pub fn config_json(layers: &[PreparedLayer]) -> Vec<u8> {
    let diff_ids: Vec<String> = layers
        .iter()
        .map(|l| format!("sha256:{}", l.diff_id))
        .collect();
    let v = json!({
        "architecture": "amd64",
        "os": "linux",
        "config": {"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": [],
    });
    v.to_string().into_bytes()
}

fn sha_hex(b: &[u8]) -> String {
    hex::encode(Sha256::digest(b))
}

pub fn oci_manifest(config: &[u8], layers: &[PreparedLayer]) -> Vec<u8> {
    let ls: Vec<_> = layers
        .iter()
        .map(|l| {
            json!({
                "mediaType": if l.compressed {MediaType::OciLayerGzip.as_str()} else {MediaType::OciLayerTar.as_str()},
                "digest": format!("sha256:{}", l.blob_hex),
                "size": l.blob_size,
            })
        })
        .collect();
    json!({
        "schemaVersion": 2,
        "mediaType": MediaType::OciManifest.as_str(),
        "config": {"mediaType": MediaType::OciConfig.as_str(), "digest": format!("sha256:{}", sha_hex(config)), "size": config.len()},
        "layers": ls,
    })
    .to_string()
    .into_bytes()
}

fn tag_of(reference: &str) -> &str {
    match reference.rfind(':') {
        Some(i) if !reference[i + 1..].contains('/') => &reference[i + 1..],
        _ => "latest",
    }
}

fn repo_of(reference: &str) -> &str {
    match reference.rfind(':') {
        Some(i) if !reference[i + 1..].contains('/') => &reference[..i],
        _ => reference,
    }
}

enum Item {
    File(String, PathBuf, u64),
    Bytes(String, Vec<u8>),
    Symlink(String, String),
}

/// The tar crate drops `./` from names, so prefixed names are copied into
/// the header by hand (all names here fit the 100-byte field).
fn set_name(h: &mut tar::Header, name: &str) -> io::Result<()> {
    if name.starts_with("./") {
        let field = &mut h.as_old_mut().name;
        if name.len() > field.len() {
            return Err(io::Error::other("name too long"));
        }
        field.fill(0);
        field[..name.len()].copy_from_slice(name.as_bytes());
        Ok(())
    } else {
        h.set_path(name)
    }
}

fn append<W: Write>(b: &mut tar::Builder<W>, item: &Item, prefix: &str) -> io::Result<()> {
    let mut h = tar::Header::new_gnu();
    h.set_mode(0o644);
    h.set_mtime(1_672_531_200);
    match item {
        Item::File(p, f, size) => {
            h.set_size(*size);
            h.set_entry_type(tar::EntryType::Regular);
            set_name(&mut h, &format!("{prefix}{p}"))?;
            h.set_cksum();
            b.append(&h, File::open(f)?)
        }
        Item::Bytes(p, bytes) => {
            h.set_size(bytes.len() as u64);
            h.set_entry_type(tar::EntryType::Regular);
            set_name(&mut h, &format!("{prefix}{p}"))?;
            h.set_cksum();
            b.append(&h, bytes.as_slice())
        }
        Item::Symlink(p, target) => {
            h.set_size(0);
            h.set_entry_type(tar::EntryType::Symlink);
            set_name(&mut h, &format!("{prefix}{p}"))?;
            h.set_link_name(target)?;
            h.set_cksum();
            b.append(&h, io::empty())
        }
    }
}

/// Writes one member for `spec` in `form` to `out`. `scratch` holds the
/// generated layers and is emptied before returning.
pub fn write_member<W: Write>(
    out: W,
    spec: &ImageSpec,
    form: Form,
    opts: &MemberOptions,
    scratch: &Path,
) -> io::Result<(W, MemberInfo)> {
    fs::create_dir_all(scratch)?;
    let compress = matches!(form, Form::CompressedOci | Form::CompressedLegacy);
    let layers: Vec<PreparedLayer> = spec
        .layers
        .iter()
        .enumerate()
        .map(|(i, l)| prepare_layer(l, compress, scratch, i))
        .collect::<io::Result<_>>()?;
    let config = config_json(&layers);
    let config_hex = sha_hex(&config);
    let tags = if opts.null_repo_tags {
        serde_json::Value::Null
    } else {
        json!([spec.reference])
    };
    let mut blobs: Vec<Item> = Vec::new();
    let mut meta: Vec<Item> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let layer_paths: Vec<String>;
    let config_path: String;
    let legacy_id = |i: usize, l: &PreparedLayer| {
        sha_hex(format!("{}{}{}", l.diff_id, i, config_hex).as_bytes())
    };
    match form {
        Form::Legacy | Form::LegacySymlinks | Form::CompressedLegacy => {
            let mut paths = Vec::new();
            for (i, l) in layers.iter().enumerate() {
                let id = legacy_id(i, l);
                if form == Form::Legacy {
                    blobs.push(Item::File(
                        format!("{id}/layer.tar"),
                        l.file.clone(),
                        l.blob_size,
                    ));
                } else {
                    if seen.insert(l.blob_hex.clone()) {
                        blobs.push(Item::File(
                            format!("{}.tar", l.blob_hex),
                            l.file.clone(),
                            l.blob_size,
                        ));
                    }
                    blobs.push(Item::Symlink(
                        format!("{id}/layer.tar"),
                        format!("../{}.tar", l.blob_hex),
                    ));
                }
                blobs.push(Item::Bytes(format!("{id}/VERSION"), b"1.0".to_vec()));
                blobs.push(Item::Bytes(
                    format!("{id}/json"),
                    json!({"id": id}).to_string().into_bytes(),
                ));
                paths.push(format!("{id}/layer.tar"));
            }
            config_path = format!("{config_hex}.json");
            blobs.push(Item::Bytes(config_path.clone(), config.clone()));
            layer_paths = paths;
            let last = layers
                .last()
                .map(|l| legacy_id(layers.len() - 1, l))
                .unwrap_or_default();
            meta.push(Item::Bytes(
                "repositories".into(),
                json!({repo_of(&spec.reference): {tag_of(&spec.reference): last}})
                    .to_string()
                    .into_bytes(),
            ));
        }
        Form::Docker25 | Form::CompressedOci => {
            let mut paths = Vec::new();
            for l in &layers {
                if seen.insert(l.blob_hex.clone()) {
                    blobs.push(Item::File(
                        format!("blobs/sha256/{}", l.blob_hex),
                        l.file.clone(),
                        l.blob_size,
                    ));
                }
                paths.push(format!("blobs/sha256/{}", l.blob_hex));
            }
            config_path = format!("blobs/sha256/{config_hex}");
            blobs.push(Item::Bytes(config_path.clone(), config.clone()));
            let manifest = oci_manifest(&config, &layers);
            let mhex = sha_hex(&manifest);
            blobs.push(Item::Bytes(
                format!("blobs/sha256/{mhex}"),
                manifest.clone(),
            ));
            let mut manifests = vec![json!({
                "mediaType": MediaType::OciManifest.as_str(),
                "digest": format!("sha256:{mhex}"),
                "size": manifest.len(),
                "annotations": {
                    "io.containerd.image.name": spec.reference,
                    "org.opencontainers.image.ref.name": tag_of(&spec.reference),
                },
                "platform": {"architecture": "amd64", "os": "linux"},
            })];
            if form == Form::CompressedOci {
                // Partial content by design: listed, never pulled.
                manifests.push(json!({
                    "mediaType": MediaType::OciManifest.as_str(),
                    "digest": format!("sha256:{}", sha_hex(b"absent arm64 manifest")),
                    "size": 1234,
                    "platform": {"architecture": "arm64", "os": "linux"},
                }));
            }
            meta.push(Item::Bytes(
                "index.json".into(),
                json!({"schemaVersion": 2, "mediaType": MediaType::OciIndex.as_str(), "manifests": manifests})
                    .to_string()
                    .into_bytes(),
            ));
            meta.push(Item::Bytes(
                "oci-layout".into(),
                br#"{"imageLayoutVersion":"1.0.0"}"#.to_vec(),
            ));
            layer_paths = paths;
        }
    }
    meta.push(Item::Bytes(
        "manifest.json".into(),
        json!([{"Config": config_path, "RepoTags": tags, "Layers": layer_paths}])
            .to_string()
            .into_bytes(),
    ));
    let prefix = if opts.dot_prefix { "./" } else { "" };
    let mut b = tar::Builder::new(out);
    let (first, second) = if opts.metadata_first {
        (&meta, &blobs)
    } else {
        (&blobs, &meta)
    };
    for item in first.iter().chain(second.iter()) {
        append(&mut b, item, prefix)?;
    }
    let out = b.into_inner()?;
    for l in &layers {
        let _ = fs::remove_file(&l.file);
    }
    Ok((
        out,
        MemberInfo {
            reference: spec.reference.clone(),
            config_hex,
            layers,
        },
    ))
}

/// Writes an OCI image layout directory (input for `skopeo copy oci:DIR:NAME`).
/// Each image is tagged with `org.opencontainers.image.ref.name = name`.
pub fn write_oci_layout(
    dir: &Path,
    images: &[(String, ImageSpec)],
    compress: bool,
) -> io::Result<()> {
    let blobs = dir.join("blobs").join("sha256");
    fs::create_dir_all(&blobs)?;
    let scratch = dir.join(".scratch");
    fs::create_dir_all(&scratch)?;
    let mut manifests = Vec::new();
    for (name, spec) in images {
        let layers: Vec<PreparedLayer> = spec
            .layers
            .iter()
            .enumerate()
            .map(|(i, l)| prepare_layer(l, compress, &scratch, i))
            .collect::<io::Result<_>>()?;
        for l in &layers {
            fs::rename(&l.file, blobs.join(&l.blob_hex))?;
        }
        let config = config_json(&layers);
        fs::write(blobs.join(sha_hex(&config)), &config)?;
        let manifest = oci_manifest(&config, &layers);
        let mhex = sha_hex(&manifest);
        fs::write(blobs.join(&mhex), &manifest)?;
        manifests.push(json!({
            "mediaType": MediaType::OciManifest.as_str(),
            "digest": format!("sha256:{mhex}"),
            "size": manifest.len(),
            "annotations": {"org.opencontainers.image.ref.name": name},
        }));
    }
    fs::remove_dir_all(&scratch)?;
    fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#)?;
    fs::write(
        dir.join("index.json"),
        json!({"schemaVersion": 2, "manifests": manifests}).to_string(),
    )
}
