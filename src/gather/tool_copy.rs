//! The tool crosses with the archives: gather copies the running `ckf-airgap` into the carry
//! folder, and the lock names its version and SHA-256, so the air-gapped side runs the same
//! build that wrote the lock and can prove the copy whole.

use std::io::Read;
use std::path::Path;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Its name in the carry folder.
pub const TOOL_FILE: &str = "ckf-airgap";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockedTool {
    pub file: String,
    /// `--version`'s text: the version and the commit.
    pub version: String,
    pub sha256: String,
    pub size: u64,
}

/// Hashes and counts what passes through.
struct Hashing<R> {
    inner: R,
    hash: Sha256,
    size: u64,
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hash.update(&buf[..n]);
        self.size += n as u64;
        Ok(n)
    }
}

/// Copies `executable` (the running binary) to `<out_dir>/ckf-airgap`, mode 0755, through the
/// durable writer; `version` is what the lock records.
pub fn copy_tool(executable: &Path, out_dir: &Path, version: &str) -> Result<LockedTool, String> {
    let file = std::fs::File::open(executable).map_err(|e| {
        format!(
            "cannot read the running ckf-airgap ({}) to copy it into {}: {e}",
            executable.display(),
            out_dir.display()
        )
    })?;
    let mut reader = Hashing {
        inner: file,
        hash: Sha256::new(),
        size: 0,
    };
    let target = out_dir.join(TOOL_FILE);
    crate::durable::copy_into_file(&target, &mut reader, 0o755).map_err(|e| {
        format!(
            "cannot write {} ({e}); free space there, or choose another output_dir",
            target.display()
        )
    })?;
    Ok(LockedTool {
        file: TOOL_FILE.to_owned(),
        version: version.to_owned(),
        sha256: hex::encode(reader.hash.finalize()),
        size: reader.size,
    })
}
