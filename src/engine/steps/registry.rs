//! Registry login: the target, TLS and credentials the push will use, proven in seconds by a
//! preflight (the API answers, TLS verifies, the credentials may push) before hours of work.

use serde_json::json;

use super::registry_client::client;
use super::session_outputs::load_inventory;
use crate::engine::context::StepContext;
use crate::engine::events::Level;
use crate::engine::work::StepError;

/// The repository the push-scope check tries: the first image to be pushed.
fn first_repository(ctx: &StepContext) -> String {
    load_inventory(&ctx.session_dir())
        .ok()
        .and_then(|i| i.images.first().map(|r| r.repository.clone()))
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
    ctx.record_unit(
        "preflight",
        json!({ "auth": report.auth, "repository": report.checked_repository }),
    )
}
