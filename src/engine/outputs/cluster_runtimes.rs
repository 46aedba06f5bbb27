//! The container runtime of every node, as the environment checks saw it, and whether every
//! one pulls zstd layers: the push's default codec follows it.

use serde::{Deserialize, Serialize};

use super::StepOutput;
use crate::wizard::Step;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterRuntimes {
    /// `(node, runtime)`, the runtime as the kubelet reports it (`containerd://1.6.28`).
    pub nodes: Vec<(String, String)>,
    /// Every node pulls zstd layers (containerd 1.5, CRI-O 1.23, Docker 23 or later).
    pub zstd: bool,
    /// Why, in the operator's words, naming the runtimes seen.
    pub reason: String,
}

impl StepOutput for ClusterRuntimes {
    const WHAT: &'static str = "the nodes' container runtimes";
    const FILE: &'static str = "cluster-runtimes.json";
    const PRODUCER: Step = Step::EnvironmentChecks;
    const SCHEMA: u32 = 1;
}
