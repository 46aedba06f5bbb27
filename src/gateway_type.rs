//! The Istio ingress gateway's Kubernetes service type: an operator's choice saved in the
//! session and the value the bundle's `gateway_service_type` option takes.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum GatewayServiceType {
    NodePort,
    LoadBalancer,
    ClusterIP,
}

impl GatewayServiceType {
    pub const ALL: [Self; 3] = [Self::NodePort, Self::LoadBalancer, Self::ClusterIP];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::NodePort => "NodePort",
            Self::LoadBalancer => "LoadBalancer",
            Self::ClusterIP => "ClusterIP",
        }
    }

    /// One line for the choice screen.
    pub fn explanation(self) -> &'static str {
        match self {
            Self::NodePort => {
                "NodePort: the dashboard is reached on a high port of every node; works without a load balancer (the air-gapped bundles' choice)."
            }
            Self::LoadBalancer => {
                "LoadBalancer: the charm default; needs MetalLB or a cloud load balancer to hand out an external IP, otherwise the address stays pending."
            }
            Self::ClusterIP => {
                "ClusterIP: reachable only inside the cluster; use with your own ingress, a port-forward or a proxy."
            }
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == s)
    }
}
