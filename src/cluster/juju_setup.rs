//! Guided Juju setup when there is no controller: register the MicroK8s cluster as a cloud,
//! make sure Juju's own images are in the registry, bootstrap with `caas-image-repo` pointing
//! there, and add the `kubeflow` model. The setup is the first actions of the deploy plan
//! (`setup_actions`), so it is shown and confirmed with the rest.

use std::fmt;
use std::future::Future;
use std::time::Duration;

use serde::Serialize;

use super::cmd::{Cmd, shell_quote};
use super::error::RunError;
use super::plan::{ActionKind, PlanAction};
use super::runner::{Output, RunEvent, Runner};
use crate::version::Version;

/// `juju-db` tag: the `<major>.<minor>` of Juju's default `juju-db-snap-channel` (4.4/stable).
pub const JUJU_DB_TAG: &str = "4.4";
/// Bootstrapping pulls images and waits for the controller pod: much longer than other commands.
pub const BOOTSTRAP_TIMEOUT: Duration = Duration::from_secs(45 * 60);

/// The plan ids of the setup actions. Sessions of earlier versions recorded the setup under
/// these same names, as units of their own.
pub const ADD_K8S_ID: &str = "add-k8s";
pub const BOOTSTRAP_ID: &str = "bootstrap";
pub const ADD_MODEL_ID: &str = "add-model";

/// What the cluster lacks for a deploy, as the read-only checks found it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClusterLacks {
    Nothing,
    /// A controller is there; the model is not.
    Model,
    /// No controller, so no model either.
    Controller,
}

/// Where the controller pulls `jujud-operator`, `juju-db` and `charm-base` from.
#[derive(Clone, PartialEq, Eq)]
pub struct ImageRepo {
    /// `host:port` as in image references.
    pub registry: String,
    /// Path under the registry before `jujusolutions` (may be empty).
    pub prefix: String,
    pub username: Option<String>,
    password: Option<String>,
}

impl fmt::Debug for ImageRepo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted_json())
    }
}

impl ImageRepo {
    pub fn new(registry: &str, prefix: &str) -> Self {
        Self {
            registry: registry.trim_end_matches('/').to_owned(),
            prefix: prefix.trim_matches('/').to_owned(),
            username: None,
            password: None,
        }
    }

    pub fn with_credentials(mut self, username: &str, password: &str) -> Self {
        self.username = Some(username.to_owned());
        self.password = Some(password.to_owned());
        self
    }

    /// `<prefix>/jujusolutions`, the path inside the registry.
    pub fn path(&self) -> String {
        if self.prefix.is_empty() {
            "jujusolutions".to_owned()
        } else {
            format!("{}/jujusolutions", self.prefix)
        }
    }

    pub fn repository(&self) -> String {
        format!("{}/{}", self.registry, self.path())
    }

    /// The `caas-image-repo` value. `serveraddress` is explicit because Juju cannot derive it
    /// from a `host:port` repository (juju/juju#22083: "first path segment in URL cannot contain
    /// colon"). Fields in a fixed order so the operator sees the same text every time.
    pub fn json(&self) -> String {
        self.render(self.password.as_deref())
    }

    /// The same with the password replaced by `***`.
    pub fn redacted_json(&self) -> String {
        self.render(self.password.as_ref().map(|_| "***"))
    }

    fn render(&self, password: Option<&str>) -> String {
        let s = |v: &str| serde_json::to_string(v).unwrap_or_else(|_| "\"\"".to_owned());
        let mut out = format!(
            "{{\"repository\":{},\"serveraddress\":{}",
            s(&self.repository()),
            s(&self.registry)
        );
        if let Some(user) = &self.username {
            out.push_str(&format!(",\"username\":{}", s(user)));
        }
        if let Some(p) = password {
            out.push_str(&format!(",\"password\":{}", s(p)));
        }
        out.push('}');
        out
    }
}

/// One image Juju will pull: `path` inside the registry (no host) and tag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct JujuImage {
    pub path: String,
    pub tag: String,
}

impl fmt::Display for JujuImage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.path, self.tag)
    }
}

/// The images bootstrap and the charms need. `bases` are the charms' Ubuntu bases, as
/// `20.04` or `ubuntu-20.04`.
pub fn juju_images(repo: &ImageRepo, agent: Version, bases: &[String]) -> Vec<JujuImage> {
    let image = |name: &str, tag: String| JujuImage {
        path: format!("{}/{name}", repo.path()),
        tag,
    };
    let mut images = vec![
        image("jujud-operator", agent.to_string()),
        image("juju-db", JUJU_DB_TAG.to_owned()),
    ];
    let mut tags: Vec<String> = bases
        .iter()
        .map(|b| {
            let b = b.trim();
            if b.starts_with("ubuntu-") {
                b.to_owned()
            } else {
                format!("ubuntu-{}", b.trim_start_matches("ubuntu@"))
            }
        })
        .collect();
    tags.sort();
    tags.dedup();
    images.extend(tags.into_iter().map(|t| image("charm-base", t)));
    images
}

/// The images `has_image(path, tag)` says are not in the registry.
pub async fn missing_images<F, Fut>(images: &[JujuImage], mut has_image: F) -> Vec<JujuImage>
where
    F: FnMut(String, String) -> Fut,
    Fut: Future<Output = bool>,
{
    let mut missing = Vec::new();
    for i in images {
        if !has_image(i.path.clone(), i.tag.clone()).await {
            missing.push(i.clone());
        }
    }
    missing
}

pub fn microk8s_config_cmd() -> Cmd {
    // The kubeconfig holds the cluster's admin credentials: captured, never streamed.
    Cmd::microk8s(["config"]).quiet_stdout()
}

pub fn add_k8s_cmd(cloud: &str, storage: Option<&str>, kubeconfig: Vec<u8>) -> Cmd {
    let mut args = vec![
        "add-k8s".to_owned(),
        cloud.to_owned(),
        "--client".to_owned(),
    ];
    if let Some(sc) = storage {
        args.extend(["--storage".to_owned(), sc.to_owned()]);
    }
    Cmd::juju(args).with_stdin(kubeconfig)
}

pub fn bootstrap_cmd(cloud: &str, controller: &str, repo: &ImageRepo) -> Cmd {
    let mut cmd = Cmd::juju([
        "bootstrap".to_owned(),
        cloud.to_owned(),
        controller.to_owned(),
        "--config".to_owned(),
        format!("caas-image-repo={}", repo.json()),
    ])
    .with_timeout(BOOTSTRAP_TIMEOUT);
    if let Some(p) = &repo.password {
        cmd = cmd.with_secret(p);
    }
    cmd
}

pub fn add_model_cmd(model: &str) -> Cmd {
    Cmd::juju(["add-model", model])
}

/// The actions that come before the deploy when the cluster lacks a controller or the model.
/// `images` are the ones the bootstrap checks in the registry before it runs.
pub fn setup_actions(
    lacks: ClusterLacks,
    cloud: &str,
    controller: &str,
    model: &str,
    repo: &ImageRepo,
    images: Vec<JujuImage>,
) -> Vec<PlanAction> {
    let mut actions = Vec::new();
    if lacks == ClusterLacks::Controller {
        actions.push(PlanAction {
            id: ADD_K8S_ID.to_owned(),
            kind: ActionKind::AddK8s {
                cloud: cloud.to_owned(),
            },
            cmd: add_k8s_cmd(cloud, None, Vec::new()),
            file: None,
        });
        actions.push(PlanAction {
            id: BOOTSTRAP_ID.to_owned(),
            kind: ActionKind::Bootstrap {
                controller: controller.to_owned(),
                images,
            },
            cmd: bootstrap_cmd(cloud, controller, repo),
            file: None,
        });
    }
    if lacks != ClusterLacks::Nothing {
        actions.push(PlanAction {
            id: ADD_MODEL_ID.to_owned(),
            kind: ActionKind::AddModel {
                model: model.to_owned(),
            },
            cmd: add_model_cmd(model),
            file: None,
        });
    }
    actions
}

/// The setup as the operator will confirm it (redacted).
pub fn preview(cloud: &str, controller: &str, model: &str, repo: &ImageRepo) -> Vec<String> {
    vec![
        format!(
            "{} | {}",
            microk8s_config_cmd().display(),
            add_k8s_cmd(cloud, None, Vec::new()).display()
        ),
        bootstrap_cmd(cloud, controller, repo).display(),
        add_model_cmd(model).display(),
    ]
}

#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error(transparent)]
    Run(#[from] RunError),
    #[error("Juju's images are missing from the registry (push them first): {}", list(.0))]
    MissingImages(Vec<JujuImage>),
}

fn list(images: &[JujuImage]) -> String {
    images
        .iter()
        .map(|i| i.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// `microk8s config | juju add-k8s <cloud> --client`, without a shell.
pub async fn add_k8s(
    runner: &Runner,
    cloud: &str,
    storage: Option<&str>,
    sink: &mut (dyn FnMut(RunEvent) + Send),
) -> Result<Output, SetupError> {
    let config = runner.run_ok(&microk8s_config_cmd(), sink).await?;
    let cmd = add_k8s_cmd(cloud, storage, config.stdout.into_bytes());
    Ok(runner.run_ok(&cmd, sink).await?)
}

/// Bootstraps only once every image Juju needs is in the registry: a missing one makes the
/// bootstrap hang until "timed out waiting for controller pod" (canonical/microk8s#3956).
pub async fn bootstrap<F, Fut>(
    runner: &Runner,
    cloud: &str,
    controller: &str,
    repo: &ImageRepo,
    images: &[JujuImage],
    has_image: F,
    sink: &mut (dyn FnMut(RunEvent) + Send),
) -> Result<Output, SetupError>
where
    F: FnMut(String, String) -> Fut,
    Fut: Future<Output = bool>,
{
    let missing = missing_images(images, has_image).await;
    if !missing.is_empty() {
        return Err(SetupError::MissingImages(missing));
    }
    Ok(runner
        .run_ok(&bootstrap_cmd(cloud, controller, repo), sink)
        .await?)
}

pub async fn add_model(
    runner: &Runner,
    model: &str,
    sink: &mut (dyn FnMut(RunEvent) + Send),
) -> Result<Output, SetupError> {
    Ok(runner.run_ok(&add_model_cmd(model), sink).await?)
}

/// Shell-quoted `caas-image-repo` argument for documentation, redacted.
pub fn display_config_arg(repo: &ImageRepo) -> String {
    shell_quote(&format!("caas-image-repo={}", repo.redacted_json()))
}
