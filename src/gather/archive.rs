//! `images.tar.gz` as the air-gapped side reads it (this tool and Canonical's scripts): one
//! member per image in Docker 25's `docker save` form (an OCI layout plus `manifest.json`),
//! the original compressed layers kept, the retagged name as the first RepoTag. The archive is
//! written by streaming under a temporary name and renamed only when whole; each member is
//! streamed from the blob store, so the disk holds the archive and the blobs not yet written.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use super::mixed_gzip::MixedGzipWriter;
use super::volume_writer::{LockedVolume, VolumeWriter};
use crate::oci::{
    ANNOTATION_CONTAINERD_NAME, ANNOTATION_REF_NAME, Descriptor, Digest, Index, LayerEncoding,
    OCI_LAYOUT, SaveManifestEntry,
};
use crate::registry::ResolvedImage;

pub use crate::image_ref::ckf_retag as retag_name;

/// The member's file name as Canonical's `save-images-to-tar.py` writes it.
pub fn member_name(retagged: &str) -> String {
    format!("{}.tar", retagged.replace(['/', ':'], "-"))
}

fn header(size: u64) -> tar::Header {
    let mut h = tar::Header::new_ustar();
    h.set_size(size);
    h.set_mode(0o644);
    h.set_mtime(0);
    h.set_entry_type(tar::EntryType::Regular);
    h
}

/// deflate's level for what is deflated (tar headers, manifests, configs, plain-tar layers).
const DEFLATE_LEVEL: u32 = 6;
const READ_PIECE: usize = 1024 * 1024;

/// The tar header of one entry as `tar` writes it, a GNU long-name entry first when the path
/// needs one (a member name can be longer than ustar's 100 bytes).
fn header_bytes(path: &str, size: u64) -> io::Result<Vec<u8>> {
    let mut b = tar::Builder::new(Vec::new());
    b.append_data(&mut header(size), path, io::empty())?;
    Ok(std::mem::take(b.get_mut()))
}

/// An IO error with the file it happened on.
fn at(path: &Path) -> impl FnOnce(io::Error) -> io::Error + '_ {
    move |e| io::Error::new(e.kind(), format!("{}: {e}", path.display()))
}

fn padding(size: u64) -> usize {
    ((512 - size % 512) % 512) as usize
}

/// What one tar entry holds: bytes in memory, or a file streamed from disk, stored as it is
/// when it is compressed already.
enum Content {
    Bytes(Vec<u8>),
    File {
        path: PathBuf,
        size: u64,
        compressed: bool,
    },
}

impl Content {
    fn size(&self) -> u64 {
        match self {
            Content::Bytes(b) => b.len() as u64,
            Content::File { size, .. } => *size,
        }
    }
}

/// Writes one entry's data: compressed files into stored blocks, the rest deflated. A file
/// whose length changed since it was sized is refused, as the tar header already holds it.
fn write_content<W: Write>(out: &mut MixedGzipWriter<W>, content: &Content) -> io::Result<()> {
    match content {
        Content::Bytes(b) => out.write_deflated(b),
        Content::File {
            path,
            size,
            compressed,
        } => {
            let mut f = File::open(path).map_err(at(path))?;
            let mut piece = vec![0; READ_PIECE];
            let mut left = *size;
            while left > 0 {
                let n = f
                    .read(&mut piece[..READ_PIECE.min(left as usize)])
                    .map_err(at(path))?;
                if n == 0 {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        format!("{} ended {left} bytes early", path.display()),
                    ));
                }
                if *compressed {
                    out.write_stored(&piece[..n])?;
                } else {
                    out.write_deflated(&piece[..n])?;
                }
                left -= n as u64;
            }
            if f.read(&mut piece[..1])? != 0 {
                return Err(io::Error::other(format!(
                    "{} grew while it was archived",
                    path.display()
                )));
            }
            Ok(())
        }
    }
}

/// One tar entry into the stream: header, data, padding.
fn write_entry<W: Write>(
    out: &mut MixedGzipWriter<W>,
    path: &str,
    content: &Content,
) -> io::Result<()> {
    out.write_deflated(&header_bytes(path, content.size())?)?;
    write_content(out, content)?;
    out.write_deflated(&[0; 512][..padding(content.size())])
}

/// The entries of one image's `docker save` tar (an OCI layout plus `manifest.json`), its blobs
/// in `blobs_dir` named by hex digest.
fn image_entries(
    image: &ResolvedImage,
    blobs_dir: &Path,
    repo_tags: &[String],
) -> io::Result<Vec<(String, Content)>> {
    let file = |digest: &Digest, compressed: bool| -> io::Result<(String, Content)> {
        let path = blobs_dir.join(digest.hex());
        let size = fs::metadata(&path).map_err(at(&path))?.len();
        Ok((
            digest.blob_path(),
            Content::File {
                path,
                size,
                compressed,
            },
        ))
    };
    let mut entries = Vec::new();
    // A layer an image lists twice (two identical layers) is one blob: one entry, as `docker
    // save` writes it; manifest.json still lists it twice. A tar with the path twice is refused
    // by the air-gapped side's reader.
    let mut seen = std::collections::BTreeSet::new();
    for layer in &image.layers {
        if !seen.insert(&layer.digest) {
            continue;
        }
        let compressed = layer.media_type.encoding() != LayerEncoding::Tar;
        entries.push(file(&layer.digest, compressed)?);
    }
    entries.push(file(&image.config.digest, false)?);
    entries.push((
        image.manifest_digest.blob_path(),
        Content::Bytes(image.manifest.clone()),
    ));
    let first = repo_tags.first().cloned().unwrap_or_default();
    let tag = first.rsplit(':').next().unwrap_or_default().to_string();
    let index = Index::new(vec![Descriptor {
        annotations: Some(BTreeMap::from([
            (ANNOTATION_CONTAINERD_NAME.to_string(), first.clone()),
            (ANNOTATION_REF_NAME.to_string(), tag),
        ])),
        ..Descriptor::new(
            image.manifest_media_type.clone(),
            image.manifest_digest.clone(),
            image.manifest.len() as u64,
        )
    }]);
    entries.push(("index.json".into(), Content::Bytes(index.to_bytes())));
    entries.push(("oci-layout".into(), Content::Bytes(OCI_LAYOUT.to_vec())));
    let manifest = [SaveManifestEntry {
        config: image.config.digest.blob_path(),
        repo_tags: Some(repo_tags.to_vec()),
        layers: image.layers.iter().map(|l| l.digest.blob_path()).collect(),
    }];
    let manifest = serde_json::to_vec(&manifest).map_err(io::Error::other)?;
    entries.push(("manifest.json".into(), Content::Bytes(manifest)));
    Ok(entries)
}

/// The length of a tar holding `entries` (blob paths fit ustar's name field, so one header
/// each), with tar's two zero blocks at the end.
fn tar_size(entries: &[(String, Content)]) -> u64 {
    entries
        .iter()
        .map(|(_, c)| 512 + c.size() + padding(c.size()) as u64)
        .sum::<u64>()
        + 1024
}

/// `images.tar.gz` being written: members appended one at a time, the whole (or each volume)
/// renamed into place when written. Each member is streamed from the blob store straight into
/// the archive (its size is known from the blobs'), the compressed layers in stored blocks.
pub struct ImagesArchive {
    path: PathBuf,
    out: MixedGzipWriter<VolumeWriter>,
    retagged: Vec<String>,
}

impl ImagesArchive {
    /// One file at `path`, or volumes of at most `max_volume` bytes beside it.
    pub fn create(path: &Path, max_volume: Option<u64>) -> io::Result<ImagesArchive> {
        let out = VolumeWriter::create(path, max_volume)?;
        Ok(ImagesArchive {
            path: path.to_path_buf(),
            out: MixedGzipWriter::new(out, DEFLATE_LEVEL)?,
            retagged: Vec::new(),
        })
    }

    /// Appends one image as a `docker save` tar member named by Canonical's rule.
    pub fn add(
        &mut self,
        image: &ResolvedImage,
        blobs_dir: &Path,
        repo_tags: &[String],
    ) -> io::Result<String> {
        let retagged = repo_tags.first().cloned().unwrap_or_default();
        let name = member_name(&retagged);
        let entries = image_entries(image, blobs_dir, repo_tags)?;
        let size = tar_size(&entries);
        self.out.write_deflated(&header_bytes(&name, size)?)?;
        let start = self.out.position();
        // tar_size counts one header per entry; a path needing more is caught by the check below.
        for (path, content) in &entries {
            write_entry(&mut self.out, path, content)?;
        }
        self.out.write_deflated(&[0; 1024])?;
        if self.out.position() - start != size {
            return Err(io::Error::other(format!(
                "member {name}: {} bytes written where its header says {size}",
                self.out.position() - start
            )));
        }
        self.out.write_deflated(&[0; 512][..padding(size)])?;
        self.retagged.push(retagged);
        Ok(name)
    }

    /// Closes the archive, fsyncs it, renames it (its last volume) into place, and writes
    /// `retagged-images.txt` beside it (newline-separated, no trailing newline, as Canonical's
    /// script writes it). Returns the volumes, none when it is one file.
    pub fn finish(mut self) -> io::Result<Vec<LockedVolume>> {
        self.out.write_deflated(&[0; 1024])?;
        let volumes = self.out.finish()?.finish()?;
        let list = self.path.with_file_name("retagged-images.txt");
        crate::durable::write_file_with(&list, self.retagged.join("\n").as_bytes(), 0o644, None)?;
        Ok(volumes)
    }
}

/// `charms.tar.gz`: the `.charm` files flat at the archive's root, as Canonical's
/// `save-charms-to-tar.py` writes them, each stored as it is (a `.charm` is a zip file);
/// written under a temporary name, renamed when whole.
pub fn write_charms_archive(path: &Path, charms: &[PathBuf]) -> io::Result<PathBuf> {
    let part = path.with_extension("gz.part");
    let mut out = MixedGzipWriter::new(BufWriter::new(File::create(&part)?), DEFLATE_LEVEL)?;
    for charm in charms {
        let name = charm
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let content = Content::File {
            path: charm.clone(),
            size: fs::metadata(charm).map_err(at(charm))?.len(),
            compressed: true,
        };
        write_entry(&mut out, &name, &content)?;
    }
    out.write_deflated(&[0; 1024])?;
    let file = out.finish()?.into_inner().map_err(|e| e.into_error())?;
    file.sync_all()?;
    fs::rename(&part, path)?;
    Ok(path.to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oci::MediaType;
    use std::io::Read;

    /// The archive's members and, per member, its entries and their bytes, read back by the tar
    /// crate through flate2.
    /// A member's entries: path and bytes.
    type Entries = Vec<(String, Vec<u8>)>;

    fn read_back(path: &Path) -> Vec<(String, Entries)> {
        let mut outer = tar::Archive::new(flate2::read::GzDecoder::new(File::open(path).unwrap()));
        let mut members = Vec::new();
        for m in outer.entries().unwrap() {
            let mut m = m.unwrap();
            let name = m.path().unwrap().display().to_string();
            let mut bytes = Vec::new();
            m.read_to_end(&mut bytes).unwrap();
            let mut inner = tar::Archive::new(&bytes[..]);
            let files = inner
                .entries()
                .unwrap()
                .map(|e| {
                    let mut e = e.unwrap();
                    let path = e.path().unwrap().display().to_string();
                    let mut data = Vec::new();
                    e.read_to_end(&mut data).unwrap();
                    (path, data)
                })
                .collect();
            members.push((name, files));
        }
        members
    }

    #[test]
    fn a_layer_listed_twice_is_one_entry_and_compressed_layers_come_back_byte_for_byte() {
        let dir = tempfile::tempdir().unwrap();
        let blobs = dir.path().join("blobs");
        fs::create_dir_all(&blobs).unwrap();
        let blob = |bytes: &[u8]| {
            let d = Digest::of(bytes);
            fs::write(blobs.join(d.hex()), bytes).unwrap();
            d
        };
        // A gzip layer (its bytes stored as they are), a plain-tar layer (deflated), a config.
        let gz = {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(&b"layer one ".repeat(10_000)).unwrap();
            e.finish().unwrap()
        };
        let plain = b"layer two ".repeat(10_000);
        let one = Digest::of(&b"layer one ".repeat(10_000));
        let two = Digest::of(&plain);
        let config = format!(
            r#"{{"architecture":"amd64","os":"linux","rootfs":{{"type":"layers","diff_ids":["{one}","{two}","{one}"]}}}}"#
        );
        let config = config.as_bytes();
        let (g, p, c) = (blob(&gz), blob(&plain), blob(config));
        let layer = |m: MediaType, d: &Digest, n: usize| Descriptor::new(m, d.clone(), n as u64);
        let manifest = crate::oci::Manifest::new(
            MediaType::OciManifest,
            layer(MediaType::OciConfig, &c, config.len()),
            vec![
                layer(MediaType::OciLayerGzip, &g, gz.len()),
                layer(MediaType::OciLayerTar, &p, plain.len()),
                layer(MediaType::OciLayerGzip, &g, gz.len()),
            ],
        )
        .to_bytes();
        let image = ResolvedImage {
            index_digest: None,
            manifest_digest: Digest::of(&manifest),
            manifest_media_type: MediaType::OciManifest,
            manifest,
            config: Descriptor::new(MediaType::OciConfig, c.clone(), config.len() as u64),
            layers: vec![
                Descriptor::new(MediaType::OciLayerGzip, g.clone(), gz.len() as u64),
                Descriptor::new(MediaType::OciLayerTar, p.clone(), plain.len() as u64),
                Descriptor::new(MediaType::OciLayerGzip, g.clone(), gz.len() as u64),
            ],
        };
        let path = dir.path().join("images.tar.gz");
        let mut archive = ImagesArchive::create(&path, None).unwrap();
        // A long member name takes a GNU long-name entry in the outer tar.
        let long = format!("172.17.0.2:5000/{}/app:v1", "team".repeat(30));
        let name = archive
            .add(&image, &blobs, std::slice::from_ref(&long))
            .unwrap();
        archive.finish().unwrap();

        let members = read_back(&path);
        assert_eq!(members.len(), 1);
        assert_eq!(members[0].0, name);
        let files = &members[0].1;
        let paths: Vec<&str> = files.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(
            paths.iter().filter(|p| **p == g.blob_path()).count(),
            1,
            "{paths:?}"
        );
        let data = |path: &str| &files.iter().find(|(p, _)| p == path).unwrap().1;
        assert_eq!(data(&g.blob_path()), &gz);
        assert_eq!(data(&p.blob_path()), &plain);
        assert_eq!(data(&c.blob_path()), &config.to_vec());
        let listed: Vec<SaveManifestEntry> = serde_json::from_slice(data("manifest.json")).unwrap();
        assert_eq!(
            listed[0].layers,
            [g.blob_path(), p.blob_path(), g.blob_path()],
            "manifest.json keeps the image's order"
        );
        assert_eq!(listed[0].repo_tags.as_deref(), Some(&[long][..]));
        assert_eq!(
            fs::read_to_string(dir.path().join("retagged-images.txt")).unwrap(),
            format!("172.17.0.2:5000/{}/app:v1", "team".repeat(30))
        );
        // The air-gapped side's reader takes it: every layer checked against the config.
        let read = crate::artifacts::process_images(
            &path,
            &dir.path().join("airgap"),
            &crate::artifacts::ProcessOptions::default(),
            &mut crate::artifacts::NoHooks,
            &mut crate::artifacts::NoProgress,
        )
        .unwrap();
        assert_eq!(read.images.len(), 1);
        assert_eq!(read.images[0].layers.len(), 3);
    }

    #[test]
    fn retag_names_follow_canonicals_script() {
        let r = "172.17.0.2:5000";
        assert_eq!(
            retag_name("docker.io/kubeflownotebookswg/jupyter-web-app:v1.8.0", r),
            "172.17.0.2:5000/kubeflownotebookswg/jupyter-web-app:v1.8.0"
        );
        assert_eq!(retag_name("python:3.7", r), "172.17.0.2:5000/python:3.7");
        assert_eq!(
            retag_name("ghcr.io/canonical/charmed-mysql@sha256:abc", r),
            "172.17.0.2:5000/canonical/charmed-mysql:abc"
        );
        assert_eq!(
            retag_name("registry.k8s.io/pause:3.9", r),
            "172.17.0.2:5000/registry.k8s.io/pause:3.9"
        );
        assert_eq!(
            member_name("172.17.0.2:5000/python:3.7"),
            "172.17.0.2-5000-python-3.7.tar"
        );
    }
}
