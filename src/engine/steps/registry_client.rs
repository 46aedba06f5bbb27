//! The registry as the steps reach it: the choice (asked for when missing), its TLS options
//! and the client with credentials, shared by the checks, login, push and deploy steps.

use std::time::Duration;

use super::inputs::RegistryInput;
use crate::engine::context::StepContext;
use crate::engine::events::{Answer, InputKind, InputRequest, Level};
use crate::engine::work::StepError;
use crate::registry::{
    Credentials, RegistryClient, RegistryConfig, RegistryTarget, Secret, TlsOptions,
};
use crate::wizard::state::{PasswordSource, RegistryChoice};
use crate::wizard::{ChoiceChange, RegistryForm};

/// A registry that does not accept a connection within this is down or filtered; failing fast
/// is the point of the preflight.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The registry choice, asking for the target when there is none.
pub async fn choice(ctx: &StepContext) -> Result<RegistryChoice, StepError> {
    if let Some(r) = ctx.input::<RegistryInput>().registry {
        return Ok(r);
    }
    let answer = ctx
        .ask(InputRequest {
            step: ctx.step(),
            prompt: "Registry to push to (host[:port][/prefix])".into(),
            kind: InputKind::Text,
            answers_key: "registry.target",
        })
        .await?;
    let Answer::Text(target) = answer else {
        return Err(StepError::failed("expected the registry address"));
    };
    ctx.change_choice(ChoiceChange::Registry(RegistryForm {
        target: target.trim().to_string(),
        ..RegistryForm::default()
    }))?;
    ctx.input::<RegistryInput>()
        .registry
        .ok_or_else(|| StepError::failed("the registry choice was not recorded"))
}

/// How the chosen registry is reached over TLS.
pub fn tls_options(choice: &RegistryChoice) -> TlsOptions {
    TlsOptions {
        ca_file: choice.ca_file.clone(),
        certs_dir: choice.certs_dir.clone(),
        client_cert: choice.client_cert.clone(),
        client_key: choice.client_key.clone(),
        insecure: choice.insecure,
        plain_http: choice.plain_http,
        no_system_roots: false,
    }
}

/// The client the login and push steps use, built from the choices and the in-memory password
/// (asked for when a user name is given and no password is known).
/// `repo` with the registry's credentials for a bootstrap's `caas-image-repo`. Building the
/// client resolves the password (asked for when none is known yet).
pub async fn with_credentials(
    ctx: &StepContext,
    repo: crate::cluster::juju_setup::ImageRepo,
    registry: &RegistryChoice,
) -> Result<crate::cluster::juju_setup::ImageRepo, StepError> {
    client(ctx).await?;
    Ok(match (&registry.username, ctx.password()) {
        (Some(user), Some(password)) => repo.with_credentials(user, password.expose()),
        _ => repo,
    })
}

pub async fn client(ctx: &StepContext) -> Result<RegistryClient, StepError> {
    let choice = choice(ctx).await?;
    let target = RegistryTarget::parse(&choice.target).map_err(StepError::failed)?;
    let mut config = RegistryConfig::new(target);
    config.connect_timeout = CONNECT_TIMEOUT;
    config.tls = tls_options(&choice);
    config.credentials = match (&choice.password_source, &choice.username) {
        (Some(PasswordSource::DockerConfig(path)), _) => {
            Credentials::DockerConfig { path: path.clone() }
        }
        (_, None) => Credentials::Anonymous,
        (_, Some(username)) => Credentials::Basic {
            username: username.clone(),
            password: password(ctx, username, &choice.target).await?,
        },
    };
    let journal = std::sync::Arc::new(super::open_uploads::SessionUploadJournal::new(
        &ctx.session_dir(),
    ));
    let client = RegistryClient::new(config)
        .map_err(StepError::failed)?
        .with_upload_journal(journal);
    for warning in client.warnings() {
        ctx.log(Level::Warn, warning);
    }
    Ok(client)
}

async fn password(ctx: &StepContext, username: &str, target: &str) -> Result<Secret, StepError> {
    if let Some(p) = ctx.password() {
        return Ok(p);
    }
    let answer = ctx
        .ask(InputRequest {
            step: ctx.step(),
            prompt: format!("Password for {username} at {target}"),
            kind: InputKind::Password,
            answers_key: "registry.password_env",
        })
        .await?;
    let Answer::Password(secret) = answer else {
        return Err(StepError::failed("expected a password"));
    };
    ctx.set_password(secret.clone());
    ctx.change_choice(ChoiceChange::PasswordPrompted)?;
    Ok(secret)
}

/// `host[:port]` and the path prefix of a registry target (`reg.lab:5000/ckf`).
pub fn registry_address_and_prefix(target: &str) -> (String, String) {
    let prefix = target
        .split_once('/')
        .map(|(_, p)| p.to_string())
        .unwrap_or_default();
    (registry_address(target).to_string(), prefix)
}

/// `host[:port]` of the registry target (the path prefix is not part of the address).
pub fn registry_address(target: &str) -> &str {
    target.split('/').next().unwrap_or(target)
}
