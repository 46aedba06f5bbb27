//! How a charm runs on Kubernetes: read from a `.charm` by the archive reader, and what decides
//! whether the bundle may hold it or it must be deployed on its own.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum CharmKind {
    /// Old-style Kubernetes charm: cannot go in a local bundle (bundle-kubeflow#693).
    PodSpec,
    Sidecar,
}
