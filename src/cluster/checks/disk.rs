//! Free space where the artifacts go (images.tar.gz alone is tens of GB).

use std::path::Path;

use super::{Check, CheckStatus, Probe};
use crate::cluster::cmd::{Cmd, Tool};
use crate::cluster::runner::Runner;

pub const ID: &str = "disk";

/// Reads `df -B1 --output=avail DIR` rather than calling statvfs: no unsafe code or extra crate.
pub async fn check_disk(runner: &Runner, dir: &Path, needed: u64) -> Check {
    let title = format!("{} free in {}", gib(needed), dir.display());
    let dir_arg = dir.display().to_string();
    let probe = Probe::run(
        runner,
        Cmd::new(Tool::Df, ["-B1", "--output=avail", dir_arg.as_str()]),
    )
    .await;
    let avail = probe.stdout().and_then(|o| {
        o.lines()
            .rev()
            .find(|l| !l.trim().is_empty())?
            .trim()
            .parse::<u64>()
            .ok()
    });
    let Some(avail) = avail else {
        return Check::new(ID, title, CheckStatus::Fail)
            .evidence(probe.evidence_problem())
            .fix(format!(
                "Check that {} exists and is readable",
                dir.display()
            ));
    };
    let evidence = probe.evidence(&format!("{avail} bytes available ({})", gib(avail)));
    if avail >= needed {
        Check::new(ID, title, CheckStatus::Pass).evidence(evidence)
    } else {
        Check::new(ID, title, CheckStatus::Fail)
            .evidence(evidence)
            .fix(format!(
                "Free {} more under {} or choose a directory on a larger file system",
                gib(needed - avail),
                dir.display()
            ))
    }
}

fn gib(bytes: u64) -> String {
    format!("{:.1} GiB", bytes as f64 / (1u64 << 30) as f64)
}
