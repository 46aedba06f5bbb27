//! The cluster's nodes as `kubectl get nodes -o json` lists them: each node's name and the
//! container runtime its kubelet reports (`status.nodeInfo.containerRuntimeVersion`,
//! `containerd://1.6.28`), which decides whether it reads containerd's `hosts.toml`.

use serde::Deserialize;

use crate::version::Version;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    pub name: String,
    /// `containerd://1.6.28` as reported; empty when the kubelet reports none.
    pub runtime: String,
}

impl Node {
    /// The containerd version, when the runtime is containerd.
    pub fn containerd_version(&self) -> Option<Version> {
        Version::parse(self.runtime.strip_prefix("containerd://")?)
    }
}

#[derive(Deserialize)]
struct NodeList {
    #[serde(default)]
    items: Vec<NodeItem>,
}

#[derive(Deserialize)]
struct NodeItem {
    metadata: Metadata,
    #[serde(default)]
    status: Status,
}

#[derive(Deserialize)]
struct Metadata {
    name: String,
}

#[derive(Deserialize, Default)]
struct Status {
    #[serde(rename = "nodeInfo", default)]
    node_info: NodeInfo,
}

#[derive(Deserialize, Default)]
struct NodeInfo {
    #[serde(rename = "containerRuntimeVersion", default)]
    runtime: String,
}

/// The nodes in a `kubectl get nodes -o json` answer; an error names what was wrong.
pub fn parse_nodes(json: &str) -> Result<Vec<Node>, String> {
    let list: NodeList = serde_json::from_str(json).map_err(|e| format!("not a node list: {e}"))?;
    Ok(list
        .items
        .into_iter()
        .map(|n| Node {
            name: n.metadata.name,
            runtime: n.status.node_info.runtime,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runtimes_are_read_per_node() {
        let json = r#"{"kind":"List","items":[
          {"metadata":{"name":"a"},"status":{"nodeInfo":{"containerRuntimeVersion":"containerd://1.6.28"}}},
          {"metadata":{"name":"b"},"status":{"nodeInfo":{"containerRuntimeVersion":"cri-o://1.28.1"}}},
          {"metadata":{"name":"c"}}]}"#;
        let nodes = parse_nodes(json).unwrap();
        assert_eq!(nodes[0].containerd_version(), Some(Version::new(1, 6, 28)));
        assert_eq!(nodes[1].containerd_version(), None);
        assert_eq!(nodes[2].runtime, "");
        assert!(parse_nodes("{\"items\": 3}").is_err());
    }
}
