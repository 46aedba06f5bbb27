//! inotify limits: Kubeflow runs many controllers that each watch files; with the distribution
//! defaults (128 instances) pods crash with "too many open files".

use std::path::Path;

use super::{Check, CheckStatus};

pub const ID: &str = "inotify";
pub const MIN_INSTANCES: u64 = 1280;
pub const MIN_WATCHES: u64 = 655_360;
pub const SYSCTL_FILE: &str = "/etc/sysctl.d/60-ckf-inotify.conf";

/// `proc_root` is `/proc` in production.
pub fn check_inotify(proc_root: &Path) -> Check {
    let title = format!("inotify limits ≥ {MIN_INSTANCES} instances, ≥ {MIN_WATCHES} watches");
    let read = |name: &str| {
        let path = proc_root.join("sys/fs/inotify").join(name);
        let value = std::fs::read_to_string(&path)
            .ok()
            .and_then(|t| t.trim().parse::<u64>().ok());
        (path, value)
    };
    let (ipath, instances) = read("max_user_instances");
    let (wpath, watches) = read("max_user_watches");
    let show = |v: Option<u64>| v.map_or("unreadable".to_owned(), |v| v.to_string());
    let evidence = format!(
        "{}: {}\n{}: {}",
        ipath.display(),
        show(instances),
        wpath.display(),
        show(watches)
    );
    let ok =
        instances.is_some_and(|v| v >= MIN_INSTANCES) && watches.is_some_and(|v| v >= MIN_WATCHES);
    if ok {
        return Check::new(ID, title, CheckStatus::Pass).evidence(evidence);
    }
    // Never lower a value that is already higher than needed.
    let i = instances.unwrap_or(0).max(MIN_INSTANCES);
    let w = watches.unwrap_or(0).max(MIN_WATCHES);
    Check::new(ID, title, CheckStatus::Fail)
        .evidence(evidence)
        .fix(format!(
            "sudo sysctl -w fs.inotify.max_user_instances={i} fs.inotify.max_user_watches={w}\nprintf 'fs.inotify.max_user_instances = {i}\\nfs.inotify.max_user_watches = {w}\\n' | sudo tee {SYSCTL_FILE}"
        ))
}
