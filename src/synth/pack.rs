//! Flat gzip tars like `tar -c --use-compress-program=pigz -f images.tar.gz *.tar`.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

fn gz_tar(
    out: &Path,
    level: u32,
) -> io::Result<tar::Builder<flate2::write::GzEncoder<BufWriter<File>>>> {
    let f = BufWriter::with_capacity(1 << 20, File::create(out)?);
    Ok(tar::Builder::new(flate2::write::GzEncoder::new(
        f,
        flate2::Compression::new(level),
    )))
}

fn header(size: u64) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_size(size);
    h.set_mode(0o644);
    h.set_mtime(1_672_531_200);
    h.set_entry_type(tar::EntryType::Regular);
    h
}

/// Packs member files (name inside the archive, file on disk).
pub fn pack_images_gz(out: &Path, members: &[(String, PathBuf)], level: u32) -> io::Result<()> {
    let mut b = gz_tar(out, level)?;
    for (name, path) in members {
        let f = File::open(path)?;
        let mut h = header(f.metadata()?.len());
        b.append_data(&mut h, name, f)?;
    }
    b.into_inner()?.finish()?.flush()
}

pub fn pack_charms_gz(out: &Path, charms: &[(String, Vec<u8>)]) -> io::Result<()> {
    let mut b = gz_tar(out, 6)?;
    for (name, bytes) in charms {
        let mut h = header(bytes.len() as u64);
        b.append_data(&mut h, name, bytes.as_slice())?;
    }
    b.into_inner()?.finish()?.flush()
}

/// Gzips raw bytes (hand-made tars from `raw`) into a file.
pub fn gzip_file(out: &Path, data: &[u8]) -> io::Result<()> {
    let mut e = flate2::write::GzEncoder::new(File::create(out)?, flate2::Compression::fast());
    e.write_all(data)?;
    e.finish()?.flush()
}
