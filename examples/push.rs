//! Benchmark driver: push `docker save`/skopeo docker-archive tarballs (`X.tar`) with the
//! registry module. The real product reads images through its artifacts module; this example
//! parses the archives minimally (root-level `manifest.json`, `<sha>.tar` layers, `<sha>.json`
//! config), extracting their members to a work directory first because the pusher streams
//! layers from files.
//!
//! cargo run --release --example push -- --registry HOST[:PORT][/PREFIX] [--ca FILE]
//!     [-u USER -p PASS] [--ledger FILE] [--report FILE] [--compression gzip|none]
//!     [--images N] [--blobs N] [--work DIR] X.tar...

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ckf_airgap::oci::{Digest as OciDigest, ImageConfig, SaveManifestEntry};
use ckf_airgap::registry::{
    BlobFile, Credentials, JsonFileLedger, LayerCompression, LayerFile, MemoryLedger, NoProgress,
    PushImage, PushLedger, PushOptions, Pusher, RegistryClient, RegistryConfig, RegistryTarget,
    StoredAs,
};
use sha2::{Digest, Sha256};

type Error = Box<dyn std::error::Error + Send + Sync>;

struct Args {
    registry: String,
    ca: Option<PathBuf>,
    user: Option<String>,
    pass: Option<String>,
    ledger: Option<PathBuf>,
    report: Option<PathBuf>,
    compression: LayerCompression,
    images: usize,
    blobs: usize,
    work: Option<PathBuf>,
    tars: Vec<PathBuf>,
}

fn parse_args() -> Result<Args, Error> {
    let mut a = Args {
        registry: String::new(),
        ca: None,
        user: None,
        pass: None,
        ledger: None,
        report: None,
        compression: LayerCompression::Gzip,
        images: 3,
        blobs: 4,
        work: None,
        tars: Vec::new(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut val = || it.next().ok_or_else(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--registry" => a.registry = val()?,
            "--ca" => a.ca = Some(val()?.into()),
            "-u" | "--user" => a.user = Some(val()?),
            "-p" | "--pass" => a.pass = Some(val()?),
            "--ledger" => a.ledger = Some(val()?.into()),
            "--report" => a.report = Some(val()?.into()),
            "--compression" => {
                a.compression = match val()?.as_str() {
                    "gzip" => LayerCompression::Gzip,
                    "none" => LayerCompression::None,
                    other => return Err(format!("unknown compression {other}").into()),
                }
            }
            "--images" => a.images = val()?.parse()?,
            "--blobs" => a.blobs = val()?.parse()?,
            "--work" => a.work = Some(val()?.into()),
            _ if arg.starts_with('-') => return Err(format!("unknown option {arg}").into()),
            _ => a.tars.push(arg.into()),
        }
    }
    if a.registry.is_empty() || a.tars.is_empty() {
        return Err(
            "usage: push --registry HOST[:PORT] [--ca FILE] [-u U -p P] [--ledger F] X.tar..."
                .into(),
        );
    }
    Ok(a)
}

fn octal(field: &[u8]) -> u64 {
    if field.first().is_some_and(|b| b & 0x80 != 0) {
        // base-256 size for members over 8 GiB
        return field[1..]
            .iter()
            .fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
    }
    let s: String = field
        .iter()
        .take_while(|b| **b != 0 && **b != b' ')
        .map(|b| *b as char)
        .collect();
    u64::from_str_radix(s.trim(), 8).unwrap_or(0)
}

/// Extracts the regular files at the root of a tar archive into `dest` (streamed).
fn extract_root_files(tar: &Path, dest: &Path) -> Result<(), Error> {
    std::fs::create_dir_all(dest)?;
    let mut f = std::io::BufReader::with_capacity(1 << 20, std::fs::File::open(tar)?);
    let mut header = [0u8; 512];
    let mut long_name: Option<String> = None;
    loop {
        f.read_exact(&mut header)?;
        if header.iter().all(|b| *b == 0) {
            return Ok(());
        }
        let cstr = |b: &[u8]| {
            String::from_utf8_lossy(b.split(|c| *c == 0).next().unwrap_or(b)).to_string()
        };
        let mut name = cstr(&header[0..100]);
        let prefix = cstr(&header[345..500]);
        if &header[257..262] == b"ustar" && !prefix.is_empty() {
            name = format!("{prefix}/{name}");
        }
        if let Some(n) = long_name.take() {
            name = n;
        }
        let size = octal(&header[124..136]);
        let padded = size.div_ceil(512) * 512;
        let kind = header[156];
        let mut body = (&mut f).take(padded);
        match kind {
            b'x' | b'L' => {
                let mut buf = Vec::new();
                body.read_to_end(&mut buf)?;
                buf.truncate(size as usize);
                if kind == b'L' {
                    long_name = Some(cstr(&buf));
                } else {
                    let text = String::from_utf8_lossy(&buf);
                    for rec in text.lines() {
                        if let Some(p) = rec.split_once(" path=").map(|(_, p)| p) {
                            long_name = Some(p.to_string());
                        }
                    }
                }
            }
            b'0' | 0 if !name.trim_start_matches("./").contains('/') => {
                let name = name.trim_start_matches("./").to_string();
                let mut out = std::fs::File::create(dest.join(&name))?;
                std::io::copy(&mut (&mut body).take(size), &mut out)?;
                std::io::copy(&mut body, &mut std::io::sink())?;
            }
            _ => {
                std::io::copy(&mut body, &mut std::io::sink())?;
            }
        }
    }
}

fn sha256_file(p: &Path) -> Result<OciDigest, Error> {
    let mut h = Sha256::new();
    let mut f = std::fs::File::open(p)?;
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(OciDigest::from_hasher(h))
}

/// `gcr.io/ml-pipeline/x:tag` → (`ml-pipeline/x`, `tag`); `org/x:tag` stays; `x` → `library/x`.
fn repo_and_tag(reference: &str) -> (String, String) {
    let (name, tag) = match reference.rfind(':') {
        Some(i) if !reference[i..].contains('/') => (&reference[..i], &reference[i + 1..]),
        _ => (reference, "latest"),
    };
    let mut path = name.to_string();
    if let Some((first, rest)) = name.split_once('/')
        && (first.contains('.') || first.contains(':') || first == "localhost")
    {
        path = rest.to_string();
    }
    if !path.contains('/') {
        path = format!("library/{path}");
    }
    (path, tag.to_string())
}

fn load_image(dir: &Path) -> Result<PushImage, Error> {
    let manifest: Vec<SaveManifestEntry> =
        serde_json::from_slice(&std::fs::read(dir.join("manifest.json"))?)?;
    let entry = manifest.first().ok_or("manifest.json lists no image")?;
    let source = entry
        .repo_tags
        .as_ref()
        .and_then(|t| t.first())
        .ok_or("no RepoTags")?
        .clone();
    let config_path = dir.join(&entry.config);
    let config: ImageConfig = serde_json::from_slice(&std::fs::read(&config_path)?)?;
    let mut out = Vec::new();
    for (name, diff_id) in entry.layers.iter().zip(config.rootfs.diff_ids) {
        // Legacy `<id>/layer.tar` entries are symlinks to `<sha>.tar` at the root.
        let path = dir.join(Path::new(name).file_name().ok_or("bad layer name")?);
        let path = if path.exists() {
            path
        } else {
            dir.join(format!("{}.tar", diff_id.hex()))
        };
        out.push(LayerFile {
            size: std::fs::metadata(&path)?.len(),
            path,
            diff_id,
            stored: StoredAs::Uncompressed,
        });
    }
    let (repository, tag) = repo_and_tag(&source);
    Ok(PushImage {
        source,
        repository,
        tag,
        config: BlobFile {
            digest: sha256_file(&config_path)?,
            size: std::fs::metadata(&config_path)?.len(),
            path: config_path,
        },
        layers: out,
    })
}

fn main() -> Result<(), Error> {
    let args = parse_args()?;
    let t0 = Instant::now();
    let work = args
        .work
        .clone()
        .unwrap_or_else(|| std::env::temp_dir().join(format!("ckf-push-{}", std::process::id())));
    let mut images = Vec::new();
    for (i, tar) in args.tars.iter().enumerate() {
        let dir = work.join(format!("{i:03}"));
        extract_root_files(tar, &dir)?;
        images.push(load_image(&dir)?);
    }
    let extract_s = t0.elapsed().as_secs_f64();

    let mut cfg = RegistryConfig::new(RegistryTarget::parse(&args.registry)?);
    cfg.tls.ca_file = args.ca.clone();
    if let (Some(u), Some(p)) = (&args.user, &args.pass) {
        cfg.credentials = Credentials::basic(u.clone(), p.clone());
    }
    let client = RegistryClient::new(cfg)?;
    for w in client.warnings() {
        eprintln!("WARNING: {w}");
    }
    let ledger: Arc<dyn PushLedger> = match &args.ledger {
        Some(p) => Arc::new(JsonFileLedger::open(p)?),
        None => Arc::new(MemoryLedger::new()),
    };
    let options = PushOptions {
        image_concurrency: args.images,
        blob_concurrency: args.blobs,
        compression: args.compression,
        ..PushOptions::default()
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let t1 = Instant::now();
    let result = rt.block_on(async {
        client.preflight(&images[0].repository).await?;
        let pusher = Pusher::new(client, options, ledger, Arc::new(NoProgress));
        let stats = pusher.stats();
        let ticker = tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(2)).await;
                let s = stats.snapshot();
                eprintln!(
                    "  read {:>5} MiB / {} MiB, sent {:>5} MiB, images {}",
                    s.bytes_read >> 20,
                    s.bytes_total >> 20,
                    s.bytes_sent >> 20,
                    s.images_done
                );
            }
        });
        let r = pusher.push(&images).await;
        ticker.abort();
        Ok::<_, Error>((r, pusher.stats().snapshot()))
    });
    let push_s = t1.elapsed().as_secs_f64();
    if args.work.is_none() {
        let _ = std::fs::remove_dir_all(&work);
    }
    let (report, stats) = result?;
    let report = report?;
    if let Some(p) = &args.report {
        report.write_json(p)?;
    }
    let mut err = std::io::stderr();
    writeln!(
        err,
        "pushed {} images: extract {extract_s:.1}s, push {push_s:.1}s; read {} MiB, sent {} MiB; blobs uploaded {}, mounted {}, present {}, retries {}",
        report.images.len(),
        stats.bytes_read >> 20,
        stats.bytes_sent >> 20,
        stats.blobs_uploaded,
        stats.blobs_mounted,
        stats.blobs_present,
        stats.retries
    )?;
    Ok(())
}
