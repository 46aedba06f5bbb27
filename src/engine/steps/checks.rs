//! Environment checks: everything that can be checked before anything changes, each with its
//! evidence and the exact fix. A failing check stops the step unless the operator skipped that
//! check with a reason (`check:<id>` in the skips); warnings let it pass.

use std::path::PathBuf;

use serde_json::json;

use super::blocking::{blocking, runner};
use super::inputs::{ChecksInput, RegistryReachInput, ReleaseInput};
use super::registry_client::registry_address;
use super::release_choice::release_with_evidence;
use crate::cluster::checks::{self, Check, CheckStatus, LoadBalancerHint, RegistryOutcome};
use crate::cluster::registry_mirrors::{MirrorPlan, MirrorTarget};
use crate::cluster::runner::Runner;
use crate::cluster::trust::{MICROK8S_CERTS_D, TrustFiles};
use crate::engine::context::StepContext;
use crate::engine::events::{Answer, InputKind, InputRequest, Level};
use crate::engine::outputs::ClusterRuntimes;
use crate::engine::step_data::{CheckRow, StepData, Verdict};
use crate::engine::units::Summary;
use crate::engine::work::StepError;

pub async fn run(ctx: StepContext) -> Result<(), StepError> {
    let input = ctx.input::<ChecksInput>();
    let registry_choice = ctx.input::<RegistryReachInput>().choice();
    let (release, evidence) = release_with_evidence(&ctx.input::<ReleaseInput>())?;
    ctx.log(
        Level::Info,
        format!("checking against CKF {}: {evidence}", release.name()),
    );
    let runner = runner();
    let mut results: Vec<Check> = Vec::new();
    let publish = |results: &[Check]| {
        ctx.publish(StepData::Checks(
            results.iter().map(|c| row(c, &input)).collect(),
        ));
    };

    ctx.phase("checking Kubernetes");
    let (k8s, _) = checks::check_kubernetes(&runner, release).await;
    results.push(k8s);
    results.push(checks::check_storage_class(&runner).await);
    publish(&results);
    let nodes = checks::see_nodes(&runner).await;
    let (zstd, reason) = checks::zstd_verdict(&nodes);
    ctx.write_output(&ClusterRuntimes {
        nodes: nodes
            .nodes
            .as_ref()
            .map(|n| {
                n.iter()
                    .map(|n| (n.name.clone(), n.runtime.clone()))
                    .collect()
            })
            .unwrap_or_default(),
        zstd,
        reason: reason.clone(),
    })?;
    ctx.log(Level::Info, format!("container runtimes: {reason}"));
    ctx.phase("checking cluster DNS and load balancer");
    results.push(checks::check_dns(&runner).await);
    let (lb, hint) = checks::check_load_balancer(&runner).await;
    results.push(lb);
    publish(&results);

    if let Some(registry) = &registry_choice {
        ctx.phase(format!("checking the registry {}", registry.target));
        let outcome = registry_outcome(registry).await;
        results.push(checks::check_registry(
            registry_address(&registry.target),
            &outcome,
        ));
        publish(&results);
    }
    if let Some(registry) = &registry_choice {
        let address = registry_address(&registry.target).to_string();
        let root = input
            .containerd_certs_dir
            .clone()
            .unwrap_or_else(|| PathBuf::from(MICROK8S_CERTS_D));
        // Read once: containerd's trust and the mirror files both name a copy of it.
        let ca_pem = match &registry.ca_file {
            Some(ca_file) => Some(std::fs::read(ca_file).map_err(|e| {
                StepError::failed(format!(
                    "cannot read the registry CA file {}: {e}",
                    ca_file.display()
                ))
            })?),
            None => None,
        };
        if let Some(ca) = &ca_pem {
            let mut trust = checks::check_containerd_trust(&runner, &root, &address, ca).await;
            if trust.status == CheckStatus::Fail {
                trust = offer_trust_files(&ctx, &runner, &root, &address, ca, trust).await?;
            }
            results.push(trust);
        }
        let plan = mirror_plan(&input, registry, &root, ca_pem);
        results.push(registry_mirrors(&ctx, &plan, &nodes).await?);
        publish(&results);
    }

    ctx.phase("checking Juju");
    let (client, version) = checks::check_juju_client(&runner, release).await;
    results.push(client);
    let (controller, info) = checks::check_controller(&runner, release, version).await;
    results.push(controller);
    if let Some(registry) = &registry_choice
        && info.is_some()
    {
        results.push(
            checks::check_caas_image_repo(
                &runner,
                info.as_ref(),
                registry_address(&registry.target),
            )
            .await,
        );
    }
    let model = input.model.clone().unwrap_or_else(|| "kubeflow".into());
    if info.is_some() {
        results.push(checks::check_model(&runner, &model).await);
    }
    publish(&results);

    if let Some(images) = &input.images_archive {
        let dir = super::choice_paths::work_dir(&ctx);
        let images = images.path().to_path_buf();
        let estimate = blocking(move || crate::artifacts::estimate_space(&images)).await?;
        let probe_dir = nearest_existing(&dir);
        results.push(checks::check_disk(&runner, &probe_dir, estimate.uncompressed).await);
    }
    results.push(checks::check_inotify(std::path::Path::new("/proc")));
    publish(&results);

    let input = ctx.input::<ChecksInput>();
    let blocking_checks: Vec<&Check> = results
        .iter()
        .filter(|c| c.status == CheckStatus::Fail && input.skipped(c.id).is_none())
        .collect();
    for check in &results {
        let level = match check.status {
            CheckStatus::Fail => Level::Error,
            CheckStatus::Warn => Level::Warn,
            _ => Level::Info,
        };
        let mut line = format!("{}: {:?}: {}", check.title, check.status, check.evidence);
        // A failure's fix is in the step's error; a warning's would be seen nowhere else.
        if let (CheckStatus::Warn, Some(fix)) = (&check.status, &check.fix) {
            line.push_str(&format!("\n  fix: {fix}"));
        }
        ctx.log(level, line);
    }
    if !blocking_checks.is_empty() {
        let mut text = format!("{} check(s) failed:", blocking_checks.len());
        for c in &blocking_checks {
            text.push_str(&format!("\n  {}: {}", c.title, c.evidence));
            if let Some(fix) = &c.fix {
                text.push_str(&format!("\n    fix: {fix}"));
            }
        }
        text.push_str(
            "\nFix them and retry, or skip a check with a reason (wizard: x on the check; \
             answers file: [skip] \"check:<id>\" = \"...\").",
        );
        return Err(StepError::failed(text));
    }
    ctx.record(
        &Summary::Checks,
        &json!({
            "load_balancer": matches!(hint, LoadBalancerHint::Available),
            "warnings": results.iter().filter(|c| c.status == CheckStatus::Warn).count(),
        }),
    )
}

/// Whether this host reaches the registry over HTTPS and trusts it: an anonymous preflight.
/// Being refused for lack of credentials still proves the address, TLS and the API.
async fn registry_outcome(choice: &crate::wizard::state::RegistryChoice) -> RegistryOutcome {
    use crate::registry::{RegistryClient, RegistryConfig, RegistryError, RegistryTarget};
    let target = match RegistryTarget::parse(&choice.target) {
        Ok(t) => t,
        Err(e) => {
            return RegistryOutcome::Unreachable {
                evidence: e.to_string(),
            };
        }
    };
    let mut config = RegistryConfig::new(target);
    config.connect_timeout = std::time::Duration::from_secs(10);
    config.retry.max_attempts = 1;
    config.tls = super::registry_client::tls_options(choice);
    let client = match RegistryClient::new(config) {
        Ok(c) => c,
        Err(e) => {
            return RegistryOutcome::CaNotTrusted {
                evidence: e.to_string(),
            };
        }
    };
    match client.preflight("ckf-airgap/preflight").await {
        Ok(report) => RegistryOutcome::Trusted {
            evidence: format!("GET /v2/ answered ({} auth)", report.auth),
        },
        Err(e) => {
            let evidence = e.to_string();
            match e {
                RegistryError::Unauthorized { .. }
                | RegistryError::Forbidden { .. }
                | RegistryError::RepositoryNotFound { .. } => RegistryOutcome::Trusted {
                    evidence: format!(
                        "answered over HTTPS with a trusted certificate and asked for credentials ({evidence})"
                    ),
                },
                RegistryError::CertNotTrusted { .. }
                | RegistryError::CertNameMismatch { .. }
                | RegistryError::CertExpired { .. }
                | RegistryError::Tls { .. }
                | RegistryError::TlsFile { .. } => RegistryOutcome::CaNotTrusted { evidence },
                RegistryError::PlainHttpServer { .. } => RegistryOutcome::NotHttps { evidence },
                _ => RegistryOutcome::Unreachable { evidence },
            }
        }
    }
}

fn row(check: &Check, input: &ChecksInput) -> CheckRow {
    let skipped = input.skipped(check.id);
    let verdict = match (&check.status, skipped) {
        (CheckStatus::Fail, Some(_)) | (CheckStatus::Skipped { .. }, _) => Verdict::Skipped,
        (CheckStatus::Pass, _) => Verdict::Pass,
        (CheckStatus::Warn, _) => Verdict::Warn,
        (CheckStatus::Fail, None) => Verdict::Fail,
    };
    let evidence = match skipped {
        Some(reason) if check.status == CheckStatus::Fail => {
            format!("{} (skipped: {reason})", check.evidence)
        }
        _ => check.evidence.clone(),
    };
    CheckRow {
        id: check.id.to_string(),
        title: check.title.clone(),
        verdict,
        evidence,
        fix: check.fix.clone(),
    }
}

/// containerd does not trust the registry: show the files that fix it and write them with the
/// operator's consent, then check again.
async fn offer_trust_files(
    ctx: &StepContext,
    runner: &Runner,
    root: &std::path::Path,
    address: &str,
    ca: &[u8],
    failed: Check,
) -> Result<Check, StepError> {
    let files = TrustFiles::new(root, address, ca);
    ctx.document(format!("containerd trust for {address}"), files.preview());
    let consent = if ctx.input::<ChecksInput>().write_containerd_trust {
        true
    } else {
        match ctx
            .ask(InputRequest {
                step: ctx.step(),
                prompt: format!(
                    "containerd does not trust {address}. Write {} now?",
                    files.hosts_toml_path.display()
                ),
                kind: InputKind::Confirm,
                answers_key: "cluster.write_containerd_trust",
            })
            .await
        {
            Ok(answer) => answer == Answer::Confirm(true),
            // A headless run without consent keeps the failed check, with its fix shown.
            Err(StepError::NeedsInput(_)) => false,
            Err(e) => return Err(e),
        }
    };
    if !consent {
        return Ok(failed);
    }
    match files.write() {
        Ok(()) => {
            ctx.log(
                Level::Info,
                format!(
                    "wrote {} and {}",
                    files.hosts_toml_path.display(),
                    files.ca_path.display()
                ),
            );
            Ok(checks::check_containerd_trust(runner, root, address, ca).await)
        }
        Err(e) => Ok(Check {
            evidence: format!(
                "{} (writing {} failed: {e}; run ckf-airgap as root or write it by hand)",
                failed.evidence,
                files.hosts_toml_path.display()
            ),
            ..failed
        }),
    }
}

/// The safety net's files for the chosen registry: every known public registry and every host
/// the release lock beside the images archive names.
fn mirror_plan(
    input: &ChecksInput,
    registry: &crate::wizard::state::RegistryChoice,
    root: &std::path::Path,
    ca_pem: Option<Vec<u8>>,
) -> MirrorPlan {
    let (address, prefix) = super::registry_client::registry_address_and_prefix(&registry.target);
    let mut upstreams = Vec::new();
    // A lock that cannot be read is the Artifacts step's to report; the known hosts stand.
    if let Some(lock) = &input.lock_file
        && let Ok(lock) = crate::gather::lock::ReleaseLock::read(lock.path())
    {
        upstreams = lock.upstream_hosts();
    }
    MirrorPlan::new(
        root,
        upstreams.iter().map(String::as_str),
        MirrorTarget {
            registry: address,
            prefix,
            plain_http: registry.plain_http,
            skip_verify: registry.insecure,
            ca_pem,
        },
    )
}

/// The safety net, with the operator's word: written and checked, declined, or (a headless run
/// that gave no word) a warning that says how to give it.
async fn registry_mirrors(
    ctx: &StepContext,
    plan: &MirrorPlan,
    nodes: &checks::NodesSeen,
) -> Result<Check, StepError> {
    let this_host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_default();
    if plan.pending().is_empty() {
        return Ok(checks::check_registry_mirrors(plan, &this_host, nodes));
    }
    let consent = match ctx.input::<ChecksInput>().registry_mirrors {
        Some(false) => {
            return Ok(checks::mirrors_declined(
                plan,
                "declined ([cluster] registry_mirrors = false)",
            ));
        }
        Some(true) => true,
        None => {
            ctx.document(
                format!("registry mirrors to {}", plan.target.registry),
                plan.preview(),
            );
            match ctx
                .ask(InputRequest {
                    step: ctx.step(),
                    prompt: format!(
                        "Write containerd registry mirrors under {}, so an image no option names is \
                         still pulled from {}?",
                        plan.root.display(),
                        plan.target.registry
                    ),
                    kind: InputKind::Confirm,
                    answers_key: "cluster.registry_mirrors",
                })
                .await
            {
                Ok(answer) => answer == Answer::Confirm(true),
                Err(StepError::NeedsInput(_)) => {
                    let check = checks::check_registry_mirrors(plan, &this_host, nodes);
                    return Ok(check);
                }
                Err(e) => return Err(e),
            }
        }
    };
    if !consent {
        return Ok(checks::mirrors_declined(plan, "declined at the prompt"));
    }
    match plan.write() {
        Ok(foreign) => {
            ctx.log(
                Level::Info,
                format!(
                    "wrote registry mirrors under {} ({} left alone: the operator's own)",
                    plan.root.display(),
                    foreign.len()
                ),
            );
            Ok(checks::check_registry_mirrors(plan, &this_host, nodes))
        }
        Err(e) => {
            let check = checks::check_registry_mirrors(plan, &this_host, nodes);
            Ok(Check {
                evidence: format!(
                    "{}\nwriting under {} failed: {e}",
                    check.evidence,
                    plan.root.display()
                ),
                fix: Some(format!(
                    "Run ckf-airgap as root (or write the files by hand); then retry.\n{}",
                    check.fix.unwrap_or_default()
                )),
                ..check
            })
        }
    }
}

fn nearest_existing(dir: &std::path::Path) -> PathBuf {
    let mut p = dir;
    while !p.exists() {
        match p.parent() {
            Some(parent) => p = parent,
            None => break,
        }
    }
    p.to_path_buf()
}
