//! `images.tar.gz` as the air-gapped side reads it (this tool and Canonical's scripts): one
//! member per image in Docker 25's `docker save` form (an OCI layout plus `manifest.json`),
//! the original compressed layers kept, the retagged name as the first RepoTag. The archive is
//! written by streaming under a temporary name and renamed only when whole, so the disk holds
//! the archive and at most one member in progress.

use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use flate2::Compression;
use flate2::write::GzEncoder;
use std::collections::BTreeMap;

use super::volume_writer::{LockedVolume, VolumeWriter};
use crate::oci::{
    ANNOTATION_CONTAINERD_NAME, ANNOTATION_REF_NAME, Descriptor, Digest, Index, OCI_LAYOUT,
    SaveManifestEntry,
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

/// Writes one image (its blobs in `blobs_dir`, named by hex digest) as a `docker save` tar.
pub fn write_image_member<W: Write>(
    out: W,
    image: &ResolvedImage,
    blobs_dir: &Path,
    repo_tags: &[String],
) -> io::Result<W> {
    let mut b = tar::Builder::new(out);
    let add_file = |b: &mut tar::Builder<W>, digest: &Digest| -> io::Result<()> {
        let f = File::open(blobs_dir.join(digest.hex()))?;
        let mut h = header(f.metadata()?.len());
        b.append_data(&mut h, digest.blob_path(), f)
    };
    for layer in &image.layers {
        add_file(&mut b, &layer.digest)?;
    }
    add_file(&mut b, &image.config.digest)?;
    let bytes = |b: &mut tar::Builder<W>, path: &str, data: &[u8]| -> io::Result<()> {
        let mut h = header(data.len() as u64);
        b.append_data(&mut h, path, data)
    };
    bytes(&mut b, &image.manifest_digest.blob_path(), &image.manifest)?;
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
    bytes(&mut b, "index.json", &index.to_bytes())?;
    bytes(&mut b, "oci-layout", OCI_LAYOUT)?;
    let manifest = [SaveManifestEntry {
        config: image.config.digest.blob_path(),
        repo_tags: Some(repo_tags.to_vec()),
        layers: image.layers.iter().map(|l| l.digest.blob_path()).collect(),
    }];
    let manifest = serde_json::to_vec(&manifest).map_err(io::Error::other)?;
    bytes(&mut b, "manifest.json", &manifest)?;
    b.into_inner()
}

/// `images.tar.gz` being written: members appended one at a time, the whole (or each volume)
/// renamed into place when written.
pub struct ImagesArchive {
    path: PathBuf,
    builder: tar::Builder<GzEncoder<VolumeWriter>>,
    retagged: Vec<String>,
}

impl ImagesArchive {
    /// One file at `path`, or volumes of at most `max_volume` bytes beside it.
    pub fn create(path: &Path, max_volume: Option<u64>) -> io::Result<ImagesArchive> {
        let out = VolumeWriter::create(path, max_volume)?;
        Ok(ImagesArchive {
            path: path.to_path_buf(),
            builder: tar::Builder::new(GzEncoder::new(out, Compression::default())),
            retagged: Vec::new(),
        })
    }

    /// Appends one image: the member is written to `work` first (its size must be known),
    /// then streamed into the archive and removed.
    pub fn add(
        &mut self,
        image: &ResolvedImage,
        blobs_dir: &Path,
        repo_tags: &[String],
        work: &Path,
    ) -> io::Result<String> {
        let retagged = repo_tags.first().cloned().unwrap_or_default();
        let name = member_name(&retagged);
        let spool = work.join(format!(".{name}.part"));
        let out = BufWriter::new(File::create(&spool)?);
        write_image_member(out, image, blobs_dir, repo_tags)?.flush()?;
        let f = File::open(&spool)?;
        let mut h = header(f.metadata()?.len());
        self.builder.append_data(&mut h, &name, f)?;
        fs::remove_file(&spool)?;
        self.retagged.push(retagged);
        Ok(name)
    }

    /// Closes the archive, fsyncs it, renames it (its last volume) into place, and writes
    /// `retagged-images.txt` beside it (newline-separated, no trailing newline, as Canonical's
    /// script writes it). Returns the volumes, none when it is one file.
    pub fn finish(self) -> io::Result<Vec<LockedVolume>> {
        let volumes = self.builder.into_inner()?.finish()?.finish()?;
        let list = self.path.with_file_name("retagged-images.txt");
        crate::durable::write_file_with(&list, self.retagged.join("\n").as_bytes(), 0o644, None)?;
        Ok(volumes)
    }
}

/// `charms.tar.gz`: the `.charm` files flat at the archive's root, as Canonical's
/// `save-charms-to-tar.py` writes them; written under a temporary name, renamed when whole.
pub fn write_charms_archive(path: &Path, charms: &[PathBuf]) -> io::Result<PathBuf> {
    let part = path.with_extension("gz.part");
    let mut b = tar::Builder::new(GzEncoder::new(
        BufWriter::new(File::create(&part)?),
        Compression::default(),
    ));
    for charm in charms {
        let name = charm
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let f = File::open(charm)?;
        let mut h = header(f.metadata()?.len());
        b.append_data(&mut h, &name, f)?;
    }
    let file = b
        .into_inner()?
        .finish()?
        .into_inner()
        .map_err(|e| e.into_error())?;
    file.sync_all()?;
    fs::rename(&part, path)?;
    Ok(path.to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;

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
