//! Where sessions live on disk.

use std::path::{Path, PathBuf};

/// Overrides the state directory, like `--state-dir`.
pub const STATE_DIR_ENV: &str = "CKF_AIRGAP_STATE_DIR";

/// The platform state directory (`$XDG_STATE_HOME/ckf-airgap`, else `~/.local/state/ckf-airgap`
/// on Linux; the local data directory elsewhere), unless overridden.
pub fn state_dir(flag: Option<&Path>) -> Option<PathBuf> {
    if let Some(dir) = flag {
        return Some(dir.to_path_buf());
    }
    if let Some(dir) = std::env::var_os(STATE_DIR_ENV).filter(|v| !v.is_empty()) {
        return Some(PathBuf::from(dir));
    }
    let dirs = directories::ProjectDirs::from("", "", "ckf-airgap")?;
    Some(
        dirs.state_dir()
            .unwrap_or_else(|| dirs.data_local_dir())
            .to_path_buf(),
    )
}

pub fn sessions_dir(state_dir: &Path) -> PathBuf {
    state_dir.join("sessions")
}

pub const SESSION_FILE: &str = "session.json";
pub const BACKUP_FILE: &str = "session.json.bak";
pub const LOCK_FILE: &str = "session.lock";
pub const LOG_FILE: &str = "ckf-airgap.log";
