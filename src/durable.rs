//! Durable, atomic file replacement: a reader sees the old file or the new one, never a mix,
//! and a crash at any instant leaves one of the two on disk.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Files we create hold operator choices and paths: readable by the owner only.
pub const PRIVATE_FILE_MODE: u32 = 0o600;
pub const PRIVATE_DIR_MODE: u32 = 0o700;

/// Temporaries of one process get distinct names, so two threads writing files side by side
/// never share one.
static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Writes `bytes` to `path`, readable by the owner only. See [`write_file_with`].
pub fn write_file(path: &Path, bytes: &[u8]) -> io::Result<()> {
    write_file_with(path, bytes, PRIVATE_FILE_MODE, None)
}

/// Writes `bytes` to `path` through a temporary file in the same directory: write, fsync,
/// rename over the target, fsync the directory so the rename itself survives a power cut. The
/// file gets `mode` whatever the umask. When `backup` is given, the previous content is kept
/// there (replaced atomically as well). On any error the temporary is removed.
pub fn write_file_with(
    path: &Path,
    bytes: &[u8],
    mode: u32,
    backup: Option<&Path>,
) -> io::Result<()> {
    write_through(path, mode, backup, |file| file.write_all(bytes))
}

/// Like [`write_file_with`], with the content streamed from `reader` (a file too large to
/// hold in memory).
pub fn copy_into_file(path: &Path, reader: &mut dyn io::Read, mode: u32) -> io::Result<()> {
    write_through(path, mode, None, |file| io::copy(reader, file).map(|_| ()))
}

fn write_through(
    path: &Path,
    mode: u32,
    backup: Option<&Path>,
    fill: impl FnOnce(&mut File) -> io::Result<()>,
) -> io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let n = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
    let tmp = dir.join(format!(".{name}.tmp.{}.{n}", std::process::id()));
    let result = (|| {
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&tmp)?;
        // The umask may have narrowed the mode given at creation.
        file.set_permissions(fs::Permissions::from_mode(mode))?;
        fill(&mut file)?;
        file.sync_all()?;
        drop(file);
        if let Some(backup) = backup
            && path.exists()
        {
            keep_backup(path, backup)?;
        }
        fs::rename(&tmp, path)?;
        sync_dir(&dir)
    })();
    if result.is_err() {
        // Never leave a half-written temporary behind (a full disk is the usual cause).
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Points `backup` at the current content of `path` without copying it: a hard link made under
/// a temporary name and renamed, so the backup too is always whole.
fn keep_backup(path: &Path, backup: &Path) -> io::Result<()> {
    let staged = backup.with_extension(format!("link.{}", std::process::id()));
    let _ = fs::remove_file(&staged);
    fs::hard_link(path, &staged)?;
    fs::rename(&staged, backup)
}

pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Creates a directory (and parents) readable by the owner only.
pub fn create_private_dir(dir: &Path) -> io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    fs::DirBuilder::new()
        .recursive(true)
        .mode(PRIVATE_DIR_MODE)
        .create(dir)
}

/// Removes temporaries left by a process that died between write and rename.
pub fn remove_stale_temporaries(dir: &Path) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with('.') && name.contains(".tmp.") {
            let _ = fs::remove_file(entry.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_content_keeps_a_backup_and_is_private() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("session.json");
        let backup = dir.path().join("session.json.bak");
        write_file_with(&path, b"one", PRIVATE_FILE_MODE, Some(&backup)).unwrap();
        assert!(!backup.exists(), "nothing to back up the first time");
        write_file_with(&path, b"two", PRIVATE_FILE_MODE, Some(&backup)).unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"two");
        assert_eq!(fs::read(&backup).unwrap(), b"one");
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, PRIVATE_FILE_MODE);
        let leftovers: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.contains(".tmp.") || n.contains(".link."))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }

    #[test]
    fn a_given_mode_is_kept_and_a_failed_write_leaves_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hosts.toml");
        write_file_with(&path, b"x", 0o644, None).unwrap();
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o644);
        // A directory where the file should be: the rename fails after the temp was written.
        let blocked = dir.path().join("blocked");
        fs::create_dir(&blocked).unwrap();
        fs::write(blocked.join("inside"), b"keep").unwrap();
        assert!(write_file(&blocked, b"y").is_err());
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        assert!(names.iter().all(|n| !n.contains(".tmp.")), "{names:?}");
    }

    #[test]
    fn stale_temporaries_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join(".session.json.tmp.999"), b"half").unwrap();
        fs::write(dir.path().join("session.json"), b"whole").unwrap();
        remove_stale_temporaries(dir.path());
        assert!(!dir.path().join(".session.json.tmp.999").exists());
        assert!(dir.path().join("session.json").exists());
    }
}
