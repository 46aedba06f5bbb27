//! The Istio ingress gateway's Kubernetes service type (`istio-gateway` charm option
//! `gateway_service_type`, charm default `LoadBalancer`).

use super::edit::{Edit, EditPlan};
use super::error::{BundleError, Result};
use super::model::{Application, Bundle};
use super::yaml::{PathSeg, ScalarValue};

pub const GATEWAY_CHARM: &str = "istio-gateway";
pub const OPTION: &str = "gateway_service_type";

pub use crate::gateway_type::GatewayServiceType;

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
