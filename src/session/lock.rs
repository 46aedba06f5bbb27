//! One process per session. The lock is an OS file lock, so it disappears with the process
//! however it dies; the file's content only tells a second process who holds it.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use crate::durable::PRIVATE_FILE_MODE;

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error(
        "session {session} is in use by another ckf-airgap process ({holder}).\n\
         Let that process finish or stop it (Ctrl-C saves its progress), then run this again."
    )]
    Held { session: String, holder: String },
    #[error("cannot lock {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Held for as long as the process works on the session.
#[derive(Debug)]
pub struct SessionLock {
    _file: File,
}

/// A forked child holds a copy of every descriptor until it calls exec, and with it our lock;
/// this process spawns juju and kubectl, so a lock can look taken for a few microseconds.
/// A short back-off tells that apart from a real second process, which holds it for minutes.
fn try_lock_with_backoff(file: &File) -> Result<(), TryLockError> {
    let mut delay = std::time::Duration::from_millis(5);
    for _ in 0..5 {
        match file.try_lock() {
            Err(TryLockError::WouldBlock) => std::thread::sleep(delay),
            other => return other,
        }
        delay *= 2;
    }
    file.try_lock()
}

impl SessionLock {
    pub fn acquire(path: &Path, session: &str) -> Result<SessionLock, LockError> {
        let io = |source| LockError::Io {
            path: path.to_path_buf(),
            source,
        };
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(PRIVATE_FILE_MODE)
            .open(path)
            .map_err(io)?;
        match try_lock_with_backoff(&file) {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                let holder = holder.trim();
                return Err(LockError::Held {
                    session: session.to_string(),
                    holder: if holder.is_empty() {
                        "process unknown".to_string()
                    } else {
                        holder.to_string()
                    },
                });
            }
            Err(TryLockError::Error(e)) => return Err(io(e)),
        }
        let who = format!(
            "pid {}, {}, started {}",
            std::process::id(),
            std::env::args()
                .next()
                .unwrap_or_else(|| "ckf-airgap".into()),
            humantime::format_rfc3339_seconds(std::time::SystemTime::now())
        );
        file.set_len(0).map_err(io)?;
        file.seek(SeekFrom::Start(0)).map_err(io)?;
        file.write_all(who.as_bytes()).map_err(io)?;
        Ok(SessionLock { _file: file })
    }
}
