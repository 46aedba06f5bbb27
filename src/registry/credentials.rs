//! Registry credentials: explicit user/password, anonymous, or Docker's `config.json`
//! (inline `auths`, `credHelpers`, `credsStore`).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize;

use super::error::RegistryError;

pub use crate::secret::Secret;

/// How to authenticate to the registry.
#[derive(Clone, Debug, Default)]
pub enum Credentials {
    #[default]
    Anonymous,
    Basic {
        username: String,
        password: Secret,
    },
    /// Docker's `config.json`; `None` means `$DOCKER_CONFIG/config.json`, else
    /// `~/.docker/config.json`.
    DockerConfig {
        path: Option<PathBuf>,
    },
}

/// A user name and password after any config file or helper has been consulted.
#[derive(Clone, Debug)]
pub struct ResolvedCredentials {
    pub username: String,
    pub password: Secret,
}

impl Credentials {
    pub fn basic(username: impl Into<String>, password: impl Into<String>) -> Credentials {
        Credentials::Basic {
            username: username.into(),
            password: Secret::new(password),
        }
    }

    /// Turns the choice into a user/password for `authority` (`host[:port]`). `None` means
    /// anonymous. A Docker config without an entry for the host is anonymous too, like Docker.
    pub fn resolve(&self, authority: &str) -> Result<Option<ResolvedCredentials>, RegistryError> {
        match self {
            Credentials::Anonymous => Ok(None),
            Credentials::Basic { username, password } => Ok(Some(ResolvedCredentials {
                username: username.clone(),
                password: password.clone(),
            })),
            Credentials::DockerConfig { path } => {
                let path = match path {
                    Some(p) => p.clone(),
                    None => default_docker_config().ok_or_else(|| RegistryError::DockerConfig {
                        host: authority.to_string(),
                        path: PathBuf::from("~/.docker/config.json"),
                        detail: "neither DOCKER_CONFIG nor HOME is set".into(),
                    })?,
                };
                docker_config_credentials(&path, authority, None)
            }
        }
    }
}

fn default_docker_config() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("DOCKER_CONFIG") {
        return Some(PathBuf::from(dir).join("config.json"));
    }
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".docker").join("config.json"))
}

#[derive(Deserialize, Default)]
struct DockerConfigFile {
    #[serde(default)]
    auths: std::collections::BTreeMap<String, DockerAuthEntry>,
    #[serde(default, rename = "credHelpers")]
    cred_helpers: std::collections::BTreeMap<String, String>,
    #[serde(default, rename = "credsStore")]
    creds_store: Option<String>,
}

#[derive(Deserialize, Default)]
struct DockerAuthEntry {
    #[serde(default)]
    auth: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
}

#[derive(Deserialize)]
struct HelperAnswer {
    #[serde(rename = "Username")]
    username: String,
    #[serde(rename = "Secret")]
    secret: String,
}

/// `config.json` keys may be `host:port`, `https://host:port` or `https://host:port/v1/`.
fn normalise_key(key: &str) -> &str {
    let k = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
        .unwrap_or(key);
    k.split('/').next().unwrap_or(k)
}

/// Reads credentials for `authority` from a Docker config file. `helper_dir`, when given, is
/// where `docker-credential-<name>` is looked for instead of `PATH` (tests use it).
pub fn docker_config_credentials(
    path: &Path,
    authority: &str,
    helper_dir: Option<&Path>,
) -> Result<Option<ResolvedCredentials>, RegistryError> {
    let cfg_err = |detail: String| RegistryError::DockerConfig {
        host: authority.to_string(),
        path: path.to_path_buf(),
        detail,
    };
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(cfg_err(e.to_string())),
    };
    let cfg: DockerConfigFile =
        serde_json::from_str(&text).map_err(|e| cfg_err(format!("not valid JSON: {e}")))?;

    let inline = cfg
        .auths
        .iter()
        .find(|(k, _)| normalise_key(k) == authority)
        .map(|(_, v)| v);

    // A per-host helper wins, then an inline entry, then the default store: lenient towards
    // configs that keep empty `auths` entries next to a `credsStore`.
    if let Some(name) = cfg
        .cred_helpers
        .iter()
        .find(|(k, _)| normalise_key(k) == authority)
        .map(|(_, v)| v.clone())
    {
        return run_helper(&name, authority, helper_dir).map(Some);
    }
    if let Some(entry) = inline {
        if let Some(auth) = &entry.auth {
            let decoded = STANDARD
                .decode(auth.trim())
                .map_err(|e| cfg_err(format!("auths.{authority}.auth is not base64: {e}")))?;
            let decoded = String::from_utf8(decoded)
                .map_err(|_| cfg_err(format!("auths.{authority}.auth is not UTF-8")))?;
            let (user, pass) = decoded.split_once(':').ok_or_else(|| {
                cfg_err(format!(
                    "auths.{authority}.auth is not base64 of user:password"
                ))
            })?;
            return Ok(Some(ResolvedCredentials {
                username: user.to_string(),
                password: Secret::new(pass),
            }));
        }
        if let (Some(u), Some(p)) = (&entry.username, &entry.password) {
            return Ok(Some(ResolvedCredentials {
                username: u.clone(),
                password: Secret::new(p.clone()),
            }));
        }
    }
    match &cfg.creds_store {
        Some(name) => run_helper(name, authority, helper_dir).map(Some),
        None => Ok(None),
    }
}

fn run_helper(
    name: &str,
    authority: &str,
    helper_dir: Option<&Path>,
) -> Result<ResolvedCredentials, RegistryError> {
    let fail = |detail: String| RegistryError::CredentialHelper {
        host: authority.to_string(),
        helper: name.to_string(),
        detail,
    };
    let program = match helper_dir {
        Some(d) => d.join(format!("docker-credential-{name}")),
        None => PathBuf::from(format!("docker-credential-{name}")),
    };
    let mut child = Command::new(&program)
        .arg("get")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| fail(format!("cannot start {}: {e}", program.display())))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(authority.as_bytes())
            .map_err(|e| fail(format!("cannot write to it: {e}")))?;
    }
    let out = child
        .wait_with_output()
        .map_err(|e| fail(format!("it did not finish: {e}")))?;
    if !out.status.success() {
        let msg = String::from_utf8_lossy(&out.stdout).trim().to_string()
            + String::from_utf8_lossy(&out.stderr).trim();
        return Err(fail(format!("exit status {}: {msg}", out.status)));
    }
    let answer: HelperAnswer = serde_json::from_slice(&out.stdout)
        .map_err(|e| fail(format!("its answer is not the expected JSON: {e}")))?;
    if answer.username == "<token>" {
        return Err(fail(
            "it holds an identity token (OAuth refresh token), which this tool does not support"
                .into(),
        ));
    }
    Ok(ResolvedCredentials {
        username: answer.username,
        password: Secret::new(answer.secret),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_is_redacted() {
        let c = Credentials::basic("admin", "hunter2");
        assert!(!format!("{c:?}").contains("hunter2"));
    }

    #[test]
    fn reads_inline_auth_and_helpers() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("config.json");
        let auth = STANDARD.encode("alice:s3cret");
        std::fs::write(
            &cfg,
            format!(
                r#"{{"auths":{{"https://reg.example:5000/v1/":{{"auth":"{auth}"}}}},
                    "credHelpers":{{"helped.example":"fake"}}}}"#
            ),
        )
        .unwrap();
        let c = docker_config_credentials(&cfg, "reg.example:5000", None)
            .unwrap()
            .unwrap();
        assert_eq!(c.username, "alice");
        assert_eq!(c.password.expose(), "s3cret");
        assert!(
            docker_config_credentials(&cfg, "other.example", None)
                .unwrap()
                .is_none()
        );

        let helper = dir.path().join("docker-credential-fake");
        std::fs::write(
            &helper,
            "#!/bin/sh\nread server\n[ \"$1\" = get ] || exit 3\necho \"{\\\"ServerURL\\\":\\\"$server\\\",\\\"Username\\\":\\\"bob\\\",\\\"Secret\\\":\\\"pw-$server\\\"}\"\n",
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&helper, std::fs::Permissions::from_mode(0o755)).unwrap();
        let c = docker_config_credentials(&cfg, "helped.example", Some(dir.path()))
            .unwrap()
            .unwrap();
        assert_eq!(c.username, "bob");
        assert_eq!(c.password.expose(), "pw-helped.example");
    }
}
