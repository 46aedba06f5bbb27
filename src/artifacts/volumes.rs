//! `images.tar.gz` cut into volumes (`images.tar.gz.001`, `.002`, …) for media that take no
//! file over 4 GiB, read back as one stream. When the lock lists the volumes, each is checked
//! by size before anything is read and by SHA-256 as the stream passes its end, so a missing,
//! extra, reordered or damaged volume is named, not reported as a corrupt gzip stream. The
//! check follows byte offsets, not files, so the volumes `cat` into one `images.tar.gz` verify
//! the same way.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use sha2::{Digest, Sha256};

/// One volume as the lock lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpectedVolume {
    /// Its file name (`images.tar.gz.001`).
    pub file: String,
    pub size: u64,
    /// Hex SHA-256.
    pub sha256: String,
}

/// The suffix of volume `n` (1-based): three digits, more past 999.
pub fn volume_suffix(n: usize) -> String {
    format!("{n:03}")
}

/// The archive's files in reading order: the one file, or its volumes.
#[derive(Debug, Clone)]
pub struct VolumeSet {
    /// The base name (`images.tar.gz`), for messages.
    pub label: String,
    files: Vec<(PathBuf, u64)>,
    expected: Vec<ExpectedVolume>,
}

/// `images.tar.gz.001` → `images.tar.gz`; anything else is not a volume's name.
fn base_of_volume(path: &Path) -> Option<PathBuf> {
    let name = path.file_name()?.to_str()?;
    let (base, number) = name.rsplit_once('.')?;
    (number.len() >= 3 && number.bytes().all(|b| b.is_ascii_digit()) && !base.is_empty())
        .then(|| path.with_file_name(base))
}

/// The volumes of `base` present beside it, by number.
pub fn volumes_beside(base: &Path) -> Vec<(usize, PathBuf)> {
    let (Some(dir), Some(name)) = (base.parent(), base.file_name().and_then(|n| n.to_str())) else {
        return Vec::new();
    };
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let prefix = format!("{name}.");
    let mut found: Vec<(usize, PathBuf)> = entries
        .flatten()
        .filter_map(|e| {
            let file = e.file_name().to_str()?.to_owned();
            let number = file.strip_prefix(&prefix)?;
            if number.len() < 3 || !number.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            Some((number.parse().ok()?, base.with_file_name(&file)))
        })
        .collect();
    found.sort();
    found
}

/// [`VolumeSet::open`] with the module's error: an archive that is neither a file nor volumes
/// cannot be opened; anything else wrong is about its volumes.
pub fn open_archive(
    path: &Path,
    expected: &[ExpectedVolume],
) -> crate::artifacts::error::Result<VolumeSet> {
    use crate::artifacts::error::ArtifactError;
    VolumeSet::open(path, expected).map_err(|why| match File::open(path) {
        Err(source) if !archive_exists(path) => ArtifactError::Open {
            path: path.to_path_buf(),
            source,
        },
        _ => ArtifactError::Volume {
            archive: path.display().to_string(),
            why,
        },
    })
}

/// True when `path` names an archive that exists as a file or as volumes.
pub fn archive_exists(path: &Path) -> bool {
    path.is_file() || !volumes_beside(base_of_volume(path).as_deref().unwrap_or(path)).is_empty()
}

impl VolumeSet {
    /// The archive `path` names (the file, the base name of volumes, or the first volume),
    /// checked against the lock's volumes when it lists any. The error names each missing,
    /// extra or wrongly sized file and what to do.
    pub fn open(path: &Path, expected: &[ExpectedVolume]) -> Result<VolumeSet, String> {
        // A volume's name reads the volumes; the base name reads the one file when it is there
        // (the volumes `cat` into one), else the volumes beside it.
        let (base, named_volume) = match base_of_volume(path) {
            Some(base) => (base, true),
            None => (path.to_path_buf(), false),
        };
        let label = base
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| base.display().to_string());
        let size_of = |p: &Path| {
            std::fs::metadata(p)
                .map(|m| m.len())
                .map_err(|e| format!("cannot read {}: {e}", p.display()))
        };
        let found = volumes_beside(&base);
        // One file: the archive as written, or the volumes `cat` into one.
        if !named_volume && base.is_file() {
            let size = size_of(&base)?;
            let whole: u64 = expected.iter().map(|v| v.size).sum();
            if !expected.is_empty() && size != whole {
                return Err(format!(
                    "{} is {size} bytes, but the lock lists {} volumes of {whole} bytes in all: it \
                     is not their concatenation (cat {label}.* > {label}, in order); copy the \
                     volumes again",
                    base.display(),
                    expected.len()
                ));
            }
            return Ok(VolumeSet {
                label,
                files: vec![(base, size)],
                expected: expected.to_vec(),
            });
        }
        if found.is_empty() {
            return Err(if expected.is_empty() {
                format!("cannot open {}: no such file or volumes", base.display())
            } else {
                format!(
                    "none of the {} volumes the lock lists ({}…) is beside it: copy them there",
                    expected.len(),
                    expected[0].file
                )
            });
        }
        let mut problems = Vec::new();
        if expected.is_empty() {
            for (i, (n, _)) in found.iter().enumerate() {
                if *n != i + 1 {
                    problems.push(format!(
                        "{label}.{} is missing: the volumes run from .001 without a gap",
                        volume_suffix(i + 1)
                    ));
                    break;
                }
            }
        } else {
            let names: Vec<String> = found
                .iter()
                .filter_map(|(_, p)| Some(p.file_name()?.to_str()?.to_owned()))
                .collect();
            for v in expected {
                match found
                    .iter()
                    .find(|(_, p)| p.file_name().is_some_and(|n| n == v.file.as_str()))
                {
                    None => problems.push(format!(
                        "{} is missing (the lock lists {} volumes): copy it beside the others",
                        v.file,
                        expected.len()
                    )),
                    Some((_, p)) => {
                        let size = size_of(p)?;
                        if size != v.size {
                            problems.push(format!(
                                "{} is {size} bytes, the lock says {}: it is cut short, damaged \
                                 or another volume under its name; copy it again",
                                v.file, v.size
                            ));
                        }
                    }
                }
            }
            for name in &names {
                if !expected.iter().any(|v| &v.file == name) {
                    problems.push(format!(
                        "{name} is not one of the {} volumes the lock lists: remove it, or copy \
                         the whole set again",
                        expected.len()
                    ));
                }
            }
        }
        if !problems.is_empty() {
            return Err(problems.join("; "));
        }
        let files = if expected.is_empty() {
            found
                .into_iter()
                .map(|(_, p)| size_of(&p).map(|s| (p, s)))
                .collect::<Result<_, _>>()?
        } else {
            expected
                .iter()
                .map(|v| (base.with_file_name(&v.file), v.size))
                .collect()
        };
        Ok(VolumeSet {
            label,
            files,
            expected: expected.to_vec(),
        })
    }

    /// Every byte of the archive.
    pub fn total_size(&self) -> u64 {
        self.files.iter().map(|(_, s)| s).sum()
    }

    /// The first bytes and the last four of the whole archive (gzip's magic and ISIZE).
    pub fn head_and_tail(&self) -> io::Result<([u8; 2], [u8; 4])> {
        let mut head = [0u8; 2];
        let mut tail = [0u8; 4];
        let mut reader = self.reader_at(0)?;
        reader.read_exact(&mut head)?;
        let mut reader = self.reader_at(self.total_size().saturating_sub(4))?;
        reader.read_exact(&mut tail)?;
        Ok((head, tail))
    }

    /// The archive's bytes from `offset` on, across the files.
    fn reader_at(&self, mut offset: u64) -> io::Result<Box<dyn Read + Send>> {
        let mut chain: Box<dyn Read + Send> = Box::new(io::empty());
        for (path, size) in &self.files {
            if offset >= *size {
                offset -= size;
                continue;
            }
            let mut f = File::open(path)?;
            f.seek(SeekFrom::Start(offset))?;
            offset = 0;
            chain = Box::new(chain.chain(f));
        }
        Ok(chain)
    }

    /// The archive as one stream, each volume checked as the stream passes its end, and the
    /// handle that explains a failure in the volume where it happened.
    pub fn reader(&self) -> io::Result<(VolumeReader, VolumeWatch)> {
        let watch = VolumeWatch {
            set: Arc::new(self.clone()),
            position: Arc::new(AtomicU64::new(0)),
            verdict: Arc::new(Mutex::new(None)),
        };
        Ok((
            VolumeReader {
                inner: self.reader_at(0)?,
                watch: watch.clone(),
                position: 0,
                segment: 0,
                hasher: Sha256::new(),
            },
            watch,
        ))
    }

    /// The start offset of expected volume `i`.
    fn start_of(&self, i: usize) -> u64 {
        self.expected[..i].iter().map(|v| v.size).sum()
    }

    /// Why the bytes at volume `i`'s place, whose SHA-256 is `actual`, are not that volume.
    fn mismatch(&self, i: usize, actual: &str) -> String {
        let v = &self.expected[i];
        match self.expected.iter().find(|o| o.sha256 == actual) {
            Some(other) => format!(
                "{} holds what the lock lists as {}: the volumes were renamed or put out of order; \
                 give each its own name back (or cat them in order)",
                v.file, other.file
            ),
            None => format!(
                "{} is damaged: its SHA-256 is {actual}, the lock says {}; copy it again",
                v.file, v.sha256
            ),
        }
    }
}

/// Shared with the reader, which may run on another thread: where it is, and what it found.
#[derive(Clone)]
pub struct VolumeWatch {
    set: Arc<VolumeSet>,
    position: Arc<AtomicU64>,
    verdict: Arc<Mutex<Option<String>>>,
}

impl VolumeWatch {
    /// After the stream failed: the volume at fault, when there is one. A volume already found
    /// wrong says so; otherwise the volume being read when the stream failed is hashed whole
    /// and compared with the lock (a damaged or misplaced volume seldom reaches its own end
    /// before the gzip stream breaks).
    pub fn diagnose(&self) -> Option<String> {
        if let Some(v) = self.verdict.lock().ok()?.clone() {
            return Some(v);
        }
        let set = &self.set;
        if set.expected.is_empty() {
            return None;
        }
        let at = self.position.load(Ordering::Relaxed);
        let mut start = 0;
        let i = set.expected.iter().position(|v| {
            start += v.size;
            at < start
        })?;
        let v = &set.expected[i];
        let mut reader = set.reader_at(set.start_of(i)).ok()?.take(v.size);
        let mut hasher = Sha256::new();
        io::copy(&mut reader, &mut HashWriter(&mut hasher)).ok()?;
        let actual = hex::encode(hasher.finalize());
        (actual != v.sha256).then(|| set.mismatch(i, &actual))
    }
}

struct HashWriter<'a>(&'a mut Sha256);

impl io::Write for HashWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The archive's bytes in order, hashed per expected volume.
pub struct VolumeReader {
    inner: Box<dyn Read + Send>,
    watch: VolumeWatch,
    position: u64,
    segment: usize,
    hasher: Sha256,
}

impl Read for VolumeReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        let set = self.watch.set.clone();
        let mut rest = &buf[..n];
        while !rest.is_empty() && self.segment < set.expected.len() {
            let end = set.start_of(self.segment + 1);
            let take = rest.len().min((end - self.position) as usize);
            self.hasher.update(&rest[..take]);
            self.position += take as u64;
            rest = &rest[take..];
            if self.position == end {
                let actual = hex::encode(std::mem::take(&mut self.hasher).finalize());
                if actual != set.expected[self.segment].sha256 {
                    let why = set.mismatch(self.segment, &actual);
                    if let Ok(mut v) = self.watch.verdict.lock() {
                        *v = Some(why.clone());
                    }
                    return Err(io::Error::new(io::ErrorKind::InvalidData, why));
                }
                self.segment += 1;
            }
        }
        self.position += rest.len() as u64;
        self.watch.position.store(self.position, Ordering::Relaxed);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sha(bytes: &[u8]) -> String {
        hex::encode(Sha256::digest(bytes))
    }

    /// `data` cut into volumes of `size` in `dir`, and what a lock would list for them.
    fn cut(dir: &Path, data: &[u8], size: usize) -> Vec<ExpectedVolume> {
        data.chunks(size)
            .enumerate()
            .map(|(i, chunk)| {
                let file = format!("images.tar.gz.{}", volume_suffix(i + 1));
                std::fs::write(dir.join(&file), chunk).unwrap_or_else(|e| panic!("{e}"));
                ExpectedVolume {
                    file,
                    size: chunk.len() as u64,
                    sha256: sha(chunk),
                }
            })
            .collect()
    }

    fn read_all(set: &VolumeSet) -> Result<Vec<u8>, String> {
        let (mut reader, watch) = set.reader().map_err(|e| e.to_string())?;
        let mut out = Vec::new();
        match reader.read_to_end(&mut out) {
            Ok(_) => Ok(out),
            Err(e) => Err(watch.diagnose().unwrap_or_else(|| e.to_string())),
        }
    }

    #[test]
    fn volumes_read_as_one_stream_from_the_base_name_the_first_volume_or_their_cat() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let data: Vec<u8> = (0..10_000u32).flat_map(|i| i.to_le_bytes()).collect();
        let expected = cut(dir.path(), &data, 12_000);
        assert_eq!(expected.len(), 4);
        for given in ["images.tar.gz", "images.tar.gz.001"] {
            let set = VolumeSet::open(&dir.path().join(given), &expected)
                .unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(set.total_size(), data.len() as u64);
            assert_eq!(read_all(&set), Ok(data.clone()), "{given}");
            assert_eq!(set.head_and_tail().ok(), Some(([0, 0], [0x0f, 0x27, 0, 0])));
        }
        // Without a lock the numbered files are read in order.
        let set = VolumeSet::open(&dir.path().join("images.tar.gz"), &[])
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(read_all(&set), Ok(data.clone()));
        // `cat images.tar.gz.* > images.tar.gz` verifies against the same lock.
        std::fs::write(dir.path().join("images.tar.gz"), &data).unwrap_or_else(|e| panic!("{e}"));
        let set = VolumeSet::open(&dir.path().join("images.tar.gz"), &expected)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(set.files.len(), 1);
        assert_eq!(read_all(&set), Ok(data));
    }

    #[test]
    fn a_missing_extra_reordered_or_damaged_volume_is_named() {
        let data: Vec<u8> = (0..10_000u32).flat_map(|i| i.to_le_bytes()).collect();
        let setup = || {
            let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
            let expected = cut(dir.path(), &data, 12_000);
            (dir, expected)
        };
        let open = |dir: &Path, expected: &[ExpectedVolume]| {
            VolumeSet::open(&dir.join("images.tar.gz"), expected)
        };

        let (dir, expected) = setup();
        std::fs::remove_file(dir.path().join("images.tar.gz.003"))
            .unwrap_or_else(|e| panic!("{e}"));
        let e = open(dir.path(), &expected).err().unwrap_or_default();
        assert!(
            e.contains("images.tar.gz.003 is missing (the lock lists 4 volumes)"),
            "{e}"
        );
        // Without a lock, a gap is named too.
        let e = open(dir.path(), &[]).err().unwrap_or_default();
        assert!(e.contains("images.tar.gz.003 is missing"), "{e}");

        let (dir, expected) = setup();
        std::fs::write(dir.path().join("images.tar.gz.005"), b"x")
            .unwrap_or_else(|e| panic!("{e}"));
        let e = open(dir.path(), &expected).err().unwrap_or_default();
        assert!(
            e.contains("images.tar.gz.005 is not one of the 4 volumes"),
            "{e}"
        );

        // Two full volumes swapped: sizes agree, the hash at the end of .002 names it.
        let (dir, expected) = setup();
        let (a, b) = (
            dir.path().join("images.tar.gz.002"),
            dir.path().join("images.tar.gz.003"),
        );
        std::fs::rename(&a, dir.path().join("swap")).unwrap_or_else(|e| panic!("{e}"));
        std::fs::rename(&b, &a).unwrap_or_else(|e| panic!("{e}"));
        std::fs::rename(dir.path().join("swap"), &b).unwrap_or_else(|e| panic!("{e}"));
        let set = open(dir.path(), &expected).unwrap_or_else(|e| panic!("{e}"));
        let e = read_all(&set).err().unwrap_or_default();
        assert!(
            e.contains("images.tar.gz.002 holds what the lock lists as images.tar.gz.003"),
            "{e}"
        );

        // One byte changed in the middle of a volume.
        let (dir, expected) = setup();
        let p = dir.path().join("images.tar.gz.002");
        let mut bytes = std::fs::read(&p).unwrap_or_else(|e| panic!("{e}"));
        bytes[500] ^= 1;
        std::fs::write(&p, bytes).unwrap_or_else(|e| panic!("{e}"));
        let set = open(dir.path(), &expected).unwrap_or_else(|e| panic!("{e}"));
        let e = read_all(&set).err().unwrap_or_default();
        assert!(e.contains("images.tar.gz.002 is damaged"), "{e}");

        // Cut short: its size says so before anything is read.
        let (dir, expected) = setup();
        std::fs::write(dir.path().join("images.tar.gz.004"), b"short")
            .unwrap_or_else(|e| panic!("{e}"));
        let e = open(dir.path(), &expected).err().unwrap_or_default();
        assert!(
            e.contains("images.tar.gz.004 is 5 bytes, the lock says 4000"),
            "{e}"
        );
    }
}
