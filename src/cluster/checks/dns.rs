//! CoreDNS must forward to a nameserver inside the data centre. The MicroK8s dns add-on falls
//! back to `forward . 8.8.8.8 8.8.4.4` when it finds no usable resolv.conf, and in an air gap
//! every lookup outside the cluster then hangs until timeout.

use std::net::IpAddr;

use super::{Check, CheckStatus, Probe};
use crate::cluster::cmd::{Cmd, Tool};
use crate::cluster::runner::Runner;

pub const ID: &str = "dns-forward";
const TITLE: &str = "Cluster DNS forwards to a local nameserver";

/// Resolvers that are certainly outside an air-gapped network.
const PUBLIC_RESOLVERS: [&str; 12] = [
    "8.8.8.8",
    "8.8.4.4",
    "1.1.1.1",
    "1.0.0.1",
    "9.9.9.9",
    "149.112.112.112",
    "208.67.222.222",
    "208.67.220.220",
    "2001:4860:4860::8888",
    "2001:4860:4860::8844",
    "2606:4700:4700::1111",
    "2606:4700:4700::1001",
];

pub async fn check_dns(runner: &Runner) -> Check {
    let probe = Probe::run(
        runner,
        Cmd::kubectl([
            "-n",
            "kube-system",
            "get",
            "configmap",
            "coredns",
            "-o",
            "json",
        ]),
    )
    .await;
    let corefile = probe
        .json()
        .and_then(|j| j.pointer("/data/Corefile")?.as_str().map(str::to_owned));
    let Some(corefile) = corefile else {
        let fix = dns_fix(runner).await;
        return Check::new(ID, TITLE, CheckStatus::Fail)
            .evidence(format!(
                "{}\n(the CoreDNS configuration was not found: is the dns add-on enabled?)",
                probe.evidence_problem()
            ))
            .fix(fix);
    };
    let forwards = forward_targets(&corefile);
    let seen = if forwards.is_empty() {
        "no `forward` line in the Corefile".to_owned()
    } else {
        forwards
            .iter()
            .map(|f| format!("forward . {}", f.join(" ")))
            .collect::<Vec<_>>()
            .join("\n")
    };
    let evidence = probe.evidence(&seen);
    let targets: Vec<&String> = forwards.iter().flatten().collect();
    if targets
        .iter()
        .any(|t| PUBLIC_RESOLVERS.contains(&t.as_str()))
    {
        return Check::new(ID, TITLE, CheckStatus::Fail)
            .evidence(evidence)
            .fix(dns_fix(runner).await);
    }
    if targets.is_empty() {
        return Check::new(ID, TITLE, CheckStatus::Warn)
            .evidence(evidence)
            .fix(dns_fix(runner).await);
    }
    let unknown_public: Vec<&&String> = targets
        .iter()
        .filter(|t| t.parse::<IpAddr>().is_ok_and(|ip| !is_local(ip)))
        .collect();
    if unknown_public.is_empty() {
        Check::new(ID, TITLE, CheckStatus::Pass).evidence(evidence)
    } else {
        // A data centre may route public addresses internally, so only warn.
        Check::new(ID, TITLE, CheckStatus::Warn)
            .evidence(format!(
                "{evidence}\n(not a private address: make sure it is reachable from the nodes)"
            ))
            .fix(dns_fix(runner).await)
    }
}

/// The upstreams of each `forward .` line of a Corefile.
pub fn forward_targets(corefile: &str) -> Vec<Vec<String>> {
    corefile
        .lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            (words.next()? == "forward" && words.next()? == ".")
                .then(|| words.take_while(|w| *w != "{").map(str::to_owned).collect())
        })
        .collect()
}

fn is_local(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                // 100.64.0.0/10, carrier-grade NAT space, is not reachable from the internet.
                || (a == 100 && (64..128).contains(&b))
        }
        IpAddr::V6(v6) => {
            let first = v6.segments()[0];
            v6.is_loopback() || (first & 0xfe00) == 0xfc00 || (first & 0xffc0) == 0xfe80
        }
    }
}

/// `microk8s enable dns:<ip>` with this host's current nameserver as `resolvectl` reports it.
async fn dns_fix(runner: &Runner) -> String {
    let probe = Probe::run(runner, Cmd::new(Tool::Resolvectl, ["status"])).await;
    let current = probe.stdout().and_then(current_dns_server);
    match current {
        Some(ip) => format!("microk8s disable dns && microk8s enable dns:{ip}"),
        None => "microk8s disable dns && microk8s enable dns:<IP of a nameserver in your network> (`resolvectl status` did not show a Current DNS Server)".to_owned(),
    }
}

/// The first `Current DNS Server:` of `resolvectl status` (global section first, then links).
pub fn current_dns_server(status: &str) -> Option<String> {
    status.lines().find_map(|line| {
        let (_, rest) = line.split_once("Current DNS Server:")?;
        // systemd ≥ 247 may append `#server-name` for DNS-over-TLS.
        let ip = rest.trim().split('#').next()?.trim();
        (!ip.is_empty()).then(|| ip.to_owned())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_forward_lines_and_resolvectl() {
        let core = ".:53 {\n    forward . 8.8.8.8 8.8.4.4\n    forward . /etc/resolv.conf {\n      max_concurrent 10\n    }\n}\n";
        assert_eq!(
            forward_targets(core),
            vec![vec!["8.8.8.8", "8.8.4.4"], vec!["/etc/resolv.conf"]]
        );
        let status = "Global\n  Protocols: +LLMNR\n\nLink 2 (ens3)\nCurrent DNS Server: 10.10.0.2#dns.corp\n       DNS Servers: 10.10.0.2\n";
        assert_eq!(current_dns_server(status).as_deref(), Some("10.10.0.2"));
    }
}
