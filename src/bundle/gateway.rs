//! The Istio ingress gateway's Kubernetes service type (`istio-gateway` charm option
//! `gateway_service_type`, charm default `LoadBalancer`).

use serde::{Deserialize, Serialize};

use super::edit::{Edit, EditPlan};
use super::error::{BundleError, Result};
use super::model::{Application, Bundle};
use super::yaml::{PathSeg, ScalarValue};

pub const GATEWAY_CHARM: &str = "istio-gateway";
pub const OPTION: &str = "gateway_service_type";

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

/// The application deploying the `istio-gateway` charm (normally `istio-ingressgateway`).
pub fn gateway_app(bundle: &Bundle) -> Option<&Application> {
    bundle
        .applications
        .iter()
        .find(|a| a.charm_name() == GATEWAY_CHARM)
}

/// The type the bundle would deploy: the option's value, or the charm default.
pub fn current_service_type(bundle: &Bundle) -> Option<GatewayServiceType> {
    let app = gateway_app(bundle)?;
    match app.option(OPTION) {
        Some(ScalarValue::Str(s)) => GatewayServiceType::parse(s),
        _ => Some(GatewayServiceType::LoadBalancer),
    }
}

/// Edits making the bundle deploy `choice`: set the option for NodePort/ClusterIP, delete its
/// line for LoadBalancer so the charm default applies.
pub fn plan_gateway(bundle: &Bundle, choice: GatewayServiceType) -> Result<EditPlan> {
    let app = gateway_app(bundle).ok_or_else(|| BundleError::Missing {
        file: bundle.doc.name.clone(),
        what: format!("no application uses the {GATEWAY_CHARM} charm, so the gateway service type cannot be set"),
    })?;
    let options = vec![
        PathSeg::Key("applications".into()),
        PathSeg::Key(app.name.clone()),
        PathSeg::Key("options".into()),
    ];
    let mut key = options.clone();
    key.push(PathSeg::Key(OPTION.into()));
    let present = app.option(OPTION);
    let mut plan = EditPlan::new();
    match (choice, present) {
        (GatewayServiceType::LoadBalancer, Some(_)) => plan.push(Edit::delete(&bundle.doc, &key)?),
        (GatewayServiceType::LoadBalancer, None) => {}
        (c, Some(ScalarValue::Str(s))) if s == c.as_str() => {}
        (c, Some(_)) => plan.push(Edit::replace_scalar(&bundle.doc, &key, c.as_str())?),
        (c, None) => plan.push(Edit::insert_entry(
            &bundle.doc,
            &options,
            OPTION,
            c.as_str(),
        )?),
    }
    Ok(plan)
}
