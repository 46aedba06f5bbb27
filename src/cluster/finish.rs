//! How to reach the dashboard once everything is active: the Istio gateway's address and the
//! dex-auth login command (shown, not run: the password is the operator's to choose).

use serde::Serialize;

use super::cmd::{Cmd, shell_quote};
use super::error::RunError;
use super::runner::Runner;

pub const GATEWAY_SERVICE: &str = "istio-ingressgateway-workload";

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum GatewayAccess {
    LoadBalancer { ip: String },
    NodePort { node_ip: String, port: u16 },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Dashboard {
    pub url: String,
    pub access: GatewayAccess,
    /// `LoadBalancer` service still without an address: reached through its node port meanwhile.
    pub load_balancer_pending: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum FinishError {
    #[error(transparent)]
    Run(#[from] RunError),
    #[error("{0}")]
    Shape(String),
}

pub async fn dashboard(runner: &Runner, model: &str) -> Result<Dashboard, FinishError> {
    let svc = get_json(
        runner,
        Cmd::kubectl(["-n", model, "get", "svc", GATEWAY_SERVICE, "-o", "json"]),
    )
    .await?;
    let kind = svc
        .pointer("/spec/type")
        .and_then(|t| t.as_str())
        .unwrap_or("");
    let lb_ip = svc
        .pointer("/status/loadBalancer/ingress/0")
        .and_then(|i| i.get("ip").or_else(|| i.get("hostname")))
        .and_then(|v| v.as_str());
    if kind == "LoadBalancer"
        && let Some(ip) = lb_ip
    {
        return Ok(Dashboard {
            url: format!("http://{ip}"),
            access: GatewayAccess::LoadBalancer { ip: ip.to_owned() },
            load_balancer_pending: false,
        });
    }
    let port = node_port(&svc).ok_or_else(|| {
        FinishError::Shape(format!(
            "service {GATEWAY_SERVICE} is {kind:?} with no address and no http2/80 node port"
        ))
    })?;
    let nodes = get_json(runner, Cmd::kubectl(["get", "nodes", "-o", "json"])).await?;
    let node_ip = internal_ip(&nodes)
        .ok_or_else(|| FinishError::Shape("no node has an InternalIP address".into()))?;
    Ok(Dashboard {
        url: format!("http://{node_ip}:{port}"),
        access: GatewayAccess::NodePort { node_ip, port },
        load_balancer_pending: kind == "LoadBalancer",
    })
}

/// The login set-up command to show; `<password>` stays a placeholder for the operator.
pub fn login_command(user: &str) -> String {
    format!(
        "juju config dex-auth static-username={} static-password=<password>",
        shell_quote(user)
    )
}

async fn get_json(runner: &Runner, cmd: Cmd) -> Result<serde_json::Value, FinishError> {
    let out = runner.run_ok(&cmd.quiet_stdout(), &mut |_| {}).await?;
    serde_json::from_str(&out.stdout).map_err(|e| FinishError::Shape(e.to_string()))
}

fn node_port(svc: &serde_json::Value) -> Option<u16> {
    let ports = svc.pointer("/spec/ports")?.as_array()?;
    let http = ports
        .iter()
        .find(|p| p.get("name").and_then(|n| n.as_str()) == Some("http2"))
        .or_else(|| {
            ports
                .iter()
                .find(|p| p.get("port").and_then(|n| n.as_u64()) == Some(80))
        })?;
    u16::try_from(http.get("nodePort")?.as_u64()?).ok()
}

fn internal_ip(nodes: &serde_json::Value) -> Option<String> {
    nodes
        .get("items")?
        .as_array()?
        .iter()
        .flat_map(|n| {
            n.pointer("/status/addresses")
                .and_then(|a| a.as_array())
                .into_iter()
                .flatten()
        })
        .find(|a| a.get("type").and_then(|t| t.as_str()) == Some("InternalIP"))?
        .get("address")?
        .as_str()
        .map(str::to_owned)
}
