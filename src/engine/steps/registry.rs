//! Registry login: the target, TLS and credentials the push will use, proven in seconds by a
//! preflight (the API answers, TLS verifies, the credentials may push) before hours of work.

use super::inputs::RegistryInput;
use serde_json::json;

use super::registry_client::client;
use crate::artifacts::Inventory;
use crate::engine::context::StepContext;
use crate::engine::events::Level;
use crate::engine::units::Summary;
use crate::engine::work::StepError;

/// The repository the push-scope check tries: the first image to be pushed. Before the
/// inventory exists (the login may come first, for the push while reading) a repository of
/// our own proves the same right.
fn first_repository(ctx: &StepContext) -> String {
    match ctx.output::<Inventory>() {
        Ok(inventory) => inventory.images.first().map(|r| r.repository.clone()),
        Err(_) => None,
    }
    .unwrap_or_else(|| "ckf-airgap/preflight".to_string())
}

pub async fn run(ctx: StepContext) -> Result<(), StepError> {
    let client = client(&ctx).await?;
    let repository = first_repository(&ctx);
    ctx.phase(format!(
        "checking {} (API, TLS, credentials, push rights on {repository})",
        client.target().authority()
    ));
    let report = client
        .preflight(&repository)
        .await
        .map_err(StepError::failed)?;
    ctx.log(
        Level::Info,
        format!(
            "{} answers as a registry ({}, {} auth); push to {} is allowed",
            client.target().authority(),
            report.api_version.as_deref().unwrap_or("registry/2.0"),
            report.auth,
            report.checked_repository
        ),
    );
    let mut proven = proven_lines(&ctx, &client, &report).await;
    // Said here, on the registry screen, as well as when the layers go up.
    proven.push(super::push_ledger::layer_codec_line(
        &ctx,
        &ctx.input::<RegistryInput>().registry.unwrap_or_default(),
    ));
    ctx.publish(crate::engine::step_data::StepData::Login(proven.clone()));
    ctx.record(
        &Summary::Preflight,
        &json!({ "auth": report.auth, "repository": report.checked_repository, "proven": proven }),
    )
}

/// What the preflight proved, for the operator's record: the API, the authentication, the push
/// right, what the TLS trust came from and the certificate it accepted, the password's source.
async fn proven_lines(
    ctx: &StepContext,
    client: &crate::registry::RegistryClient,
    report: &crate::registry::PreflightReport,
) -> Vec<String> {
    let choice = ctx.input::<RegistryInput>().registry.unwrap_or_default();
    let mut lines = vec![
        format!(
            "API: {} at {}",
            report.api_version.as_deref().unwrap_or("registry/2.0"),
            client.target().authority()
        ),
        format!(
            "Authentication: {}{}",
            report.auth,
            choice
                .username
                .as_deref()
                .map(|u| format!(" as {u}"))
                .unwrap_or_default()
        ),
        format!("Push allowed on {}", report.checked_repository),
    ];
    let trust = if choice.plain_http {
        "none: plain HTTP".to_string()
    } else if choice.insecure {
        "none: TLS verification is off (insecure)".to_string()
    } else {
        match (&choice.ca_file, &choice.certs_dir) {
            (Some(ca), _) => format!("the CA file {}", ca.display()),
            (None, Some(dir)) => format!("{}/{}/", dir.display(), client.target().authority()),
            (None, None) => "the system trust store".to_string(),
        }
    };
    lines.push(format!("Trusted by {trust}"));
    if let Some(cert) = client.server_certificate().await {
        lines.push(format!(
            "Server certificate: {}, issued by {}, valid until {}",
            cert.subject, cert.issuer, cert.not_after
        ));
    }
    lines.push(match &choice.password_source {
        None => "No password (anonymous)".to_string(),
        Some(source) => format!("Password from {}", source.origin()),
    });
    lines
}
