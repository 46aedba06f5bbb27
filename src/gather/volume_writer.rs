//! Where `images.tar.gz`'s bytes go as gather writes it: one file, or volumes of at most
//! `[gather] max_volume_size` (`images.tar.gz.001`, `.002`, …) that `cat` back into the same
//! archive. Each volume is hashed as it is written, fsynced and renamed into place when full,
//! so the lock can list it and nothing half-written carries a volume's name.

use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::artifacts::volumes::{volume_suffix, volumes_beside};

/// One volume as written, for the lock.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LockedVolume {
    pub file: String,
    pub size: u64,
    pub sha256: String,
}

struct Open {
    file: BufWriter<File>,
    part: PathBuf,
    path: PathBuf,
    written: u64,
    hasher: Sha256,
}

pub struct VolumeWriter {
    base: PathBuf,
    max: Option<u64>,
    open: Option<Open>,
    done: Vec<LockedVolume>,
}

fn part_of(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".part");
    PathBuf::from(name)
}

impl VolumeWriter {
    /// `base` written whole (`max` None) or cut into volumes of at most `max` bytes.
    pub fn create(base: &Path, max: Option<u64>) -> io::Result<VolumeWriter> {
        let mut writer = VolumeWriter {
            base: base.to_path_buf(),
            max: max.map(|m| m.max(1)),
            open: None,
            done: Vec::new(),
        };
        if writer.max.is_none() {
            writer.open_next()?;
        }
        Ok(writer)
    }

    fn open_next(&mut self) -> io::Result<()> {
        let path = match self.max {
            None => self.base.clone(),
            Some(_) => {
                let mut name = self.base.as_os_str().to_owned();
                name.push(format!(".{}", volume_suffix(self.done.len() + 1)));
                PathBuf::from(name)
            }
        };
        let part = part_of(&path);
        self.open = Some(Open {
            file: BufWriter::new(File::create(&part)?),
            part,
            path,
            written: 0,
            hasher: Sha256::new(),
        });
        Ok(())
    }

    fn close_current(&mut self) -> io::Result<()> {
        let Some(open) = self.open.take() else {
            return Ok(());
        };
        let file = open.file.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        fs::rename(&open.part, &open.path)?;
        self.done.push(LockedVolume {
            file: open
                .path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            size: open.written,
            sha256: hex::encode(open.hasher.finalize()),
        });
        Ok(())
    }

    /// Closes the last file and removes what an earlier gather left that would not belong to
    /// this archive (the single file, or volumes past the last): the volumes written, empty
    /// when it is one file.
    pub fn finish(mut self) -> io::Result<Vec<LockedVolume>> {
        self.close_current()?;
        let volumes = if self.max.is_some() {
            match fs::remove_file(&self.base) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
            std::mem::take(&mut self.done)
        } else {
            Vec::new()
        };
        for (n, stale) in volumes_beside(&self.base) {
            if n > volumes.len() {
                fs::remove_file(stale)?;
            }
        }
        Ok(volumes)
    }
}

impl Write for VolumeWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        if self.open.is_none() {
            self.open_next()?;
        }
        let max = self.max;
        let open = self
            .open
            .as_mut()
            .ok_or_else(|| io::Error::other("no volume open"))?;
        let room = max.map_or(buf.len() as u64, |m| m - open.written);
        let take = (buf.len() as u64).min(room) as usize;
        let n = open.file.write(&buf[..take])?;
        open.hasher.update(&buf[..n]);
        open.written += n as u64;
        if max.is_some_and(|m| open.written >= m) {
            self.close_current()?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        match &mut self.open {
            Some(open) => open.file.flush(),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn volumes_cat_into_the_archive_and_stale_files_are_removed() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let base = dir.path().join("images.tar.gz");
        let data: Vec<u8> = (0..25_000u32).map(|i| (i % 251) as u8).collect();
        // An earlier gather's single file and a longer set of volumes.
        fs::write(&base, b"old").unwrap_or_else(|e| panic!("{e}"));
        for n in 1..=9 {
            fs::write(dir.path().join(format!("images.tar.gz.00{n}")), b"old")
                .unwrap_or_else(|e| panic!("{e}"));
        }
        let mut w = VolumeWriter::create(&base, Some(10_000)).unwrap_or_else(|e| panic!("{e}"));
        for chunk in data.chunks(3_333) {
            w.write_all(chunk).unwrap_or_else(|e| panic!("{e}"));
        }
        let volumes = w.finish().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            volumes.iter().map(|v| v.size).collect::<Vec<_>>(),
            [10_000, 10_000, 5_000]
        );
        let mut joined = Vec::new();
        for v in &volumes {
            let bytes = fs::read(dir.path().join(&v.file)).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(v.sha256, hex::encode(Sha256::digest(&bytes)));
            joined.extend(bytes);
        }
        assert_eq!(joined, data);
        assert!(!base.exists());
        let left: Vec<_> = volumes_beside(&base).into_iter().map(|(n, _)| n).collect();
        assert_eq!(left, [1, 2, 3]);

        // Written whole again: the volumes go.
        let mut w = VolumeWriter::create(&base, None).unwrap_or_else(|e| panic!("{e}"));
        w.write_all(&data).unwrap_or_else(|e| panic!("{e}"));
        assert!(w.finish().unwrap_or_else(|e| panic!("{e}")).is_empty());
        assert_eq!(fs::read(&base).unwrap_or_else(|e| panic!("{e}")), data);
        assert!(volumes_beside(&base).is_empty());
    }
}
