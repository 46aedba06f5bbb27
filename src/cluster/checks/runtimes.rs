//! The container runtime of every node, read once by the environment checks: whether each
//! reads containerd's `hosts.toml` (the mirror safety net) and whether each pulls zstd layers
//! (the push's codec follows the cluster, not a guess).

use super::Probe;
use crate::cluster::cmd::Cmd;
use crate::cluster::nodes::{Node, parse_nodes};
use crate::cluster::runner::Runner;
use crate::version::Version;

/// What `kubectl get nodes -o json` showed.
pub struct NodesSeen {
    /// The command as shown in evidence.
    pub command: String,
    /// The nodes, or why they could not be read.
    pub nodes: Result<Vec<Node>, String>,
}

impl NodesSeen {
    pub fn evidence(&self, seen: &str) -> String {
        format!("$ {}\n{}", self.command, seen.trim_end())
    }
}

pub async fn see_nodes(runner: &Runner) -> NodesSeen {
    let probe = Probe::run(runner, Cmd::kubectl(["get", "nodes", "-o", "json"])).await;
    let nodes = match probe.stdout() {
        Some(out) => parse_nodes(out),
        None => Err(probe.problem()),
    };
    NodesSeen {
        command: probe.display.clone(),
        nodes,
    }
}

/// The oldest version of each runtime that pulls zstd layers: containerd 1.5, CRI-O 1.23,
/// Docker Engine 23.
fn pulls_zstd(runtime: &str) -> bool {
    let Some((name, version)) = runtime.split_once("://") else {
        return false;
    };
    let Some(version) = Version::parse(version) else {
        return false;
    };
    let oldest = match name {
        "containerd" => Version::new(1, 5, 0),
        "cri-o" => Version::new(1, 23, 0),
        "docker" => Version::new(23, 0, 0),
        _ => return false,
    };
    version >= oldest
}

/// Whether every node pulls zstd, and why, naming the runtimes seen.
pub fn zstd_verdict(seen: &NodesSeen) -> (bool, String) {
    let nodes = match &seen.nodes {
        Ok(n) if !n.is_empty() => n,
        Ok(_) => return (false, "the cluster lists no nodes".to_owned()),
        Err(e) => return (false, format!("the nodes could not be read ({e})")),
    };
    let describe = |n: &Node| {
        let runtime = if n.runtime.is_empty() {
            "no runtime reported"
        } else {
            n.runtime.as_str()
        };
        format!("{}: {runtime}", n.name)
    };
    let cannot: Vec<String> = nodes
        .iter()
        .filter(|n| !pulls_zstd(&n.runtime))
        .map(describe)
        .collect();
    if cannot.is_empty() {
        let all: Vec<String> = nodes.iter().map(describe).collect();
        (
            true,
            format!("every node pulls zstd layers ({})", all.join(", ")),
        )
    } else {
        (
            false,
            format!(
                "not every node pulls zstd layers (containerd 1.5, CRI-O 1.23 or Docker 23 needed; {})",
                cannot.join(", ")
            ),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seen(runtimes: &[&str]) -> NodesSeen {
        NodesSeen {
            command: "kubectl get nodes -o json".into(),
            nodes: Ok(runtimes
                .iter()
                .enumerate()
                .map(|(i, r)| Node {
                    name: format!("n{i}"),
                    runtime: (*r).to_owned(),
                })
                .collect()),
        }
    }

    #[test]
    fn zstd_only_when_every_node_pulls_it() {
        assert!(zstd_verdict(&seen(&["containerd://1.6.28", "cri-o://1.28.1"])).0);
        assert!(zstd_verdict(&seen(&["docker://24.0.7"])).0);
        let (zstd, why) = zstd_verdict(&seen(&["containerd://1.6.28", "containerd://1.4.13"]));
        assert!(!zstd);
        assert!(why.contains("n1: containerd://1.4.13"), "{why}");
        assert!(!zstd_verdict(&seen(&["cri-o://1.22.0"])).0);
        assert!(!zstd_verdict(&seen(&[])).0);
        assert!(!zstd_verdict(&seen(&["rkt://1.30"])).0);
    }
}
