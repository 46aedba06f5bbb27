//! Content-addressed spool under `work_dir/blobs/sha256/<hex>`. Data goes to a
//! temp file in the same directory and is renamed into place only after its
//! digest was checked, so a half-written or unverified file is never visible
//! under a final name, and shared base layers are stored once.

use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::error::{ArtifactError, Result};

pub const TEMP_PREFIX: &str = ".tmp-";

pub fn blobs_dir(work_dir: &Path) -> PathBuf {
    work_dir.join("blobs").join("sha256")
}

pub fn blob_path(work_dir: &Path, hex: &str) -> PathBuf {
    blobs_dir(work_dir).join(hex)
}

/// Maps a write error; ENOSPC becomes `DiskFull` naming the directory and the
/// amount still needed, because "No space left on device" alone does not say
/// which disk or how much.
pub fn map_write_error(e: io::Error, path: &Path, work_dir: &Path, needed: u64) -> ArtifactError {
    if e.kind() == io::ErrorKind::StorageFull
        || e.raw_os_error() == Some(rustix::io::Errno::NOSPC.raw_os_error())
    {
        ArtifactError::DiskFull {
            work_dir: work_dir.to_path_buf(),
            needed,
            context: format!("while writing {}", path.display()),
        }
    } else {
        ArtifactError::io(path, e)
    }
}

/// A temp file that deletes itself unless committed.
pub struct TempFile {
    path: PathBuf,
    writer: Option<BufWriter<File>>,
    pub len: u64,
}

impl TempFile {
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes a chunk; `still_needed` is used only for the disk-full message.
    pub fn write_chunk(&mut self, buf: &[u8], work_dir: &Path, still_needed: u64) -> Result<()> {
        let path = self.path.clone();
        match self.writer.as_mut() {
            Some(w) => write_mapped(w, buf, &path, work_dir, still_needed)?,
            None => {
                return Err(ArtifactError::io(
                    path,
                    io::Error::other("temp file closed"),
                ));
            }
        }
        self.len += buf.len() as u64;
        Ok(())
    }

    /// Makes the content readable through the path (metadata parsing).
    pub fn flush(&mut self, work_dir: &Path) -> Result<()> {
        if let Some(w) = self.writer.as_mut() {
            w.flush()
                .map_err(|e| map_write_error(e, &self.path, work_dir, 0))?;
        }
        Ok(())
    }

    fn finish(&mut self, work_dir: &Path) -> Result<()> {
        if let Some(w) = self.writer.take() {
            let file = w
                .into_inner()
                .map_err(|e| map_write_error(e.into_error(), &self.path, work_dir, 0))?;
            file.sync_all()
                .map_err(|e| map_write_error(e, &self.path, work_dir, 0))?;
        }
        Ok(())
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        self.writer = None;
        let _ = fs::remove_file(&self.path);
    }
}

pub fn write_mapped<W: Write>(
    w: &mut W,
    buf: &[u8],
    path: &Path,
    work_dir: &Path,
    still_needed: u64,
) -> Result<()> {
    w.write_all(buf)
        .map_err(|e| map_write_error(e, path, work_dir, still_needed))
}

pub struct BlobStore {
    work_dir: PathBuf,
    dir: PathBuf,
    counter: u64,
    /// Blobs newly written under a final name in this run.
    pub written: u64,
    /// Blobs that were already present and so not written again.
    pub reused: u64,
}

impl BlobStore {
    pub fn open(work_dir: &Path) -> Result<Self> {
        let dir = blobs_dir(work_dir);
        fs::create_dir_all(&dir).map_err(|e| ArtifactError::io(&dir, e))?;
        Ok(BlobStore {
            work_dir: work_dir.to_path_buf(),
            dir,
            counter: 0,
            written: 0,
            reused: 0,
        })
    }

    pub fn work_dir(&self) -> &Path {
        &self.work_dir
    }

    pub fn temp(&mut self) -> Result<TempFile> {
        self.counter += 1;
        let path = self.dir.join(format!(
            "{TEMP_PREFIX}{}-{}",
            std::process::id(),
            self.counter
        ));
        let file = File::create(&path).map_err(|e| map_write_error(e, &path, &self.work_dir, 0))?;
        Ok(TempFile {
            path,
            writer: Some(BufWriter::with_capacity(1 << 20, file)),
            len: 0,
        })
    }

    pub fn contains(&self, hex: &str) -> bool {
        self.dir.join(hex).is_file()
    }

    /// Moves a verified temp file to its final name. An existing blob with the
    /// same digest is kept untouched (same content by construction).
    pub fn commit(&mut self, mut temp: TempFile, hex: &str) -> Result<bool> {
        let dest = self.dir.join(hex);
        if dest.is_file() {
            self.reused += 1;
            return Ok(false);
        }
        temp.finish(&self.work_dir)?;
        fs::rename(&temp.path, &dest).map_err(|e| ArtifactError::io(&dest, e))?;
        self.written += 1;
        Ok(true)
    }

    pub fn commit_bytes(&mut self, bytes: &[u8], hex: &str) -> Result<bool> {
        if self.contains(hex) {
            self.reused += 1;
            return Ok(false);
        }
        let mut t = self.temp()?;
        t.write_chunk(bytes, &self.work_dir.clone(), bytes.len() as u64)?;
        self.commit(t, hex)
    }

    /// Removes temp files a crashed earlier run may have left.
    pub fn sweep_temps(&self) {
        if let Ok(rd) = fs::read_dir(&self.dir) {
            for e in rd.flatten() {
                if e.file_name().to_string_lossy().starts_with(TEMP_PREFIX) {
                    let _ = fs::remove_file(e.path());
                }
            }
        }
    }
}

pub fn sha256_file(path: &Path) -> Result<String> {
    use sha2::{Digest, Sha256};
    use std::io::Read;
    let mut f = File::open(path).map_err(|e| ArtifactError::io(path, e))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 256 << 10];
    loop {
        let n = f.read(&mut buf).map_err(|e| ArtifactError::io(path, e))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex::encode(h.finalize()))
}

/// Writes JSON crash-safely (`crate::durable`) so a reader never sees half a record.
pub fn write_json_atomic<T: Serialize>(path: &Path, value: &T, work_dir: &Path) -> Result<()> {
    let dir = path.parent().unwrap_or(work_dir);
    fs::create_dir_all(dir).map_err(|e| ArtifactError::io(dir, e))?;
    let bytes = serde_json::to_vec_pretty(value)
        .map_err(|e| ArtifactError::io(path, io::Error::other(e)))?;
    crate::durable::write_file(path, &bytes)
        .map_err(|e| map_write_error(e, path, work_dir, bytes.len() as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    struct FullDisk;
    impl Write for FullDisk {
        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            Err(io::Error::from_raw_os_error(
                rustix::io::Errno::NOSPC.raw_os_error(),
            ))
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn enospc_names_work_dir_and_need() {
        let err = write_mapped(
            &mut FullDisk,
            b"abc",
            Path::new("/w/x"),
            Path::new("/w"),
            12345,
        )
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
        assert!(err.contains("/w"), "{err}");
        assert!(err.contains("12345"), "{err}");
        assert!(err.contains("full"), "{err}");
    }

    #[test]
    fn temp_is_removed_unless_committed() -> Result<()> {
        let d = tempfile::tempdir().map_err(|e| ArtifactError::io("tmp", e))?;
        let mut store = BlobStore::open(d.path())?;
        let t = store.temp()?;
        let p = t.path().to_path_buf();
        assert!(p.exists());
        drop(t);
        assert!(!p.exists());
        let hex = "a".repeat(64);
        assert!(store.commit_bytes(b"x", &hex)?);
        assert!(!store.commit_bytes(b"x", &hex)?);
        assert_eq!((store.written, store.reused), (1, 1));
        Ok(())
    }
}
