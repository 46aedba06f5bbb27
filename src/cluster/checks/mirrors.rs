//! The registry-mirror safety net in place: every mirror file written (or the operator's own
//! already sending pulls to the registry), and every node running a containerd that reads
//! them. Files can only be read on this host; other nodes are named with what to copy.

use super::runtimes::NodesSeen;
use super::{Check, CheckStatus};
use crate::cluster::registry_mirrors::{MirrorFileState, MirrorPlan};
use crate::version::Version;

pub const ID: &str = "registry-mirrors";

fn title(plan: &MirrorPlan) -> String {
    format!(
        "containerd finds unlisted images in {} (registry-mirror safety net)",
        plan.target.registry
    )
}

/// The operator said no: kept on the record, never blocking.
pub fn mirrors_declined(plan: &MirrorPlan, how: &str) -> Check {
    Check::new(ID, title(plan), CheckStatus::Skipped { reason: how.into() }).evidence(format!(
        "no mirror files written under {}: an image the cluster pulls that no option names \
         will fail with ImagePullBackOff",
        plan.root.display()
    ))
}

/// `this_host` is this machine's host name, to tell its node from the others.
pub fn check_registry_mirrors(plan: &MirrorPlan, this_host: &str, seen: &NodesSeen) -> Check {
    let mut evidence = Vec::new();
    let mut fixes = Vec::new();
    let pending = plan.pending();
    evidence.push(format!(
        "{} of {} mirror files in place under {}",
        plan.files.len() - pending.len(),
        plan.files.len(),
        plan.root.display()
    ));
    for (file, state) in &pending {
        let why = match state {
            MirrorFileState::Absent => "missing",
            MirrorFileState::Stale => "from an earlier run with other settings",
            MirrorFileState::Foreign => {
                "the operator's own file, not sending pulls to the registry"
            }
            MirrorFileState::InPlace => continue,
        };
        evidence.push(format!("  {}: {why}", file.hosts_toml_path.display()));
        if *state == MirrorFileState::Foreign {
            fixes.push(format!(
                "Add to {} (before any other [host]):\n{}",
                file.hosts_toml_path.display(),
                file.host_table()
            ));
        }
    }
    if pending.iter().any(|(_, s)| *s != MirrorFileState::Foreign) {
        fixes.push(
            "Write the mirror files (wizard: answer yes; answers file: [cluster] \
             registry_mirrors = true), or decline with registry_mirrors = false"
                .to_owned(),
        );
    }

    match &seen.nodes {
        Err(e) => {
            evidence.push(seen.evidence(e));
            fixes.push("Could not list the nodes: check that every node's containerd is 1.5 or later and reads certs.d (MicroK8s ≥ 1.23 does)".to_owned());
        }
        Ok(nodes) => {
            let mut lines = Vec::new();
            let mut others = Vec::new();
            for node in nodes {
                let here = node.name == this_host;
                let mark = if here { " (this host)" } else { "" };
                match node.containerd_version() {
                    Some(v) if v >= Version::new(1, 5, 0) => {
                        lines.push(format!("{}: containerd {v}{mark}", node.name));
                        if !here {
                            others.push(node.name.clone());
                        }
                    }
                    Some(v) => {
                        lines.push(format!("{}: containerd {v}{mark}, too old", node.name));
                        fixes.push(format!(
                            "{}: containerd {v} reads no hosts.toml (1.5 or later does): upgrade it, or configure its mirrors in config.toml",
                            node.name
                        ));
                    }
                    None => {
                        let runtime = if node.runtime.is_empty() {
                            "no runtime reported"
                        } else {
                            &node.runtime
                        };
                        lines.push(format!("{}: {runtime}{mark}", node.name));
                        fixes.push(format!(
                            "{}: {runtime} is not containerd: configure that runtime's registry mirrors to {} by hand",
                            node.name, plan.target.registry
                        ));
                    }
                }
            }
            if !others.is_empty() {
                fixes.push(format!(
                    "Copy every file above (the whole of {}) to the same path on {}: containerd reads them without a restart",
                    plan.root.display(),
                    others.join(", ")
                ));
            }
            evidence.push(seen.evidence(&lines.join("\n")));
        }
    }
    let status = if fixes.is_empty() {
        CheckStatus::Pass
    } else {
        CheckStatus::Warn
    };
    let check = Check::new(ID, title(plan), status).evidence(evidence.join("\n"));
    if fixes.is_empty() {
        check
    } else {
        check.fix(fixes.join("\n"))
    }
}
