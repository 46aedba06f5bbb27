//! `validate-answers`: every problem in an answers file, each with where it is and the fix.

use std::path::Path;

use super::Answers;
use crate::image_ref::{ImageRef, validate_registry_target};
use crate::wizard::Step;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The key, in TOML form (`registry.target`).
    pub key: String,
    pub message: String,
}

fn problem(key: &str, message: impl Into<String>) -> Problem {
    Problem {
        key: key.to_string(),
        message: message.into(),
    }
}

/// Checks what can be checked before a run: syntax, files, names and the password source.
/// `env` looks up environment variables (a parameter so tests need not touch the process env).
/// An interactive run may ask for the password, so it needs no password source.
pub fn validate(
    answers: &Answers,
    env: &dyn Fn(&str) -> Option<String>,
    interactive: bool,
) -> Vec<Problem> {
    let mut out = Vec::new();
    if let Some(a) = &answers.artifacts {
        // Cut into volumes, the archive is named by its base name with `.001` beside it.
        if !a
            .images
            .as_deref()
            .is_some_and(|p| !p.exists() && first_volume(p).is_file())
        {
            file_exists(&mut out, "artifacts.images", a.images.as_deref());
        }
        file_exists(&mut out, "artifacts.charms", a.charms.as_deref());
        file_exists(
            &mut out,
            "artifacts.retagged_images",
            a.retagged_images.as_deref(),
        );
        file_exists(
            &mut out,
            "artifacts.allowed_signers",
            a.allowed_signers.as_deref(),
        );
        if let Some(dir) = &a.work_dir
            && dir.exists()
            && !dir.is_dir()
        {
            out.push(problem(
                "artifacts.work_dir",
                format!("{} exists and is not a directory", dir.display()),
            ));
        }
    }
    if let Some(r) = &answers.registry {
        if let Err(why) = validate_registry_target(&r.target) {
            out.push(problem("registry.target", why));
        }
        if r.password.is_some() {
            out.push(problem(
                "registry.password",
                "a password written in the answers file would sit on disk in clear text; \
                 put it in an environment variable (password_env) or a file readable only by \
                 you (password_file)",
            ));
        }
        let sources = [
            r.password_env.is_some(),
            r.password_file.is_some(),
            r.docker_config.is_some(),
        ]
        .iter()
        .filter(|s| **s)
        .count();
        if sources > 1 {
            out.push(problem(
                "registry.password_env",
                "give one of password_env, password_file or docker_config",
            ));
        }
        if let Some(d) = &r.docker_config
            && d != "default"
        {
            file_exists(&mut out, "registry.docker_config", Some(Path::new(d)));
        }
        match (&r.password_env, &r.password_file) {
            (Some(_), Some(_)) => {}
            (Some(var), None) if env(var).is_none() => out.push(problem(
                "registry.password_env",
                format!("the environment variable {var} is not set; export it before the run"),
            )),
            (None, Some(file)) => file_exists(&mut out, "registry.password_file", Some(file)),
            (None, None) if r.username.is_some() && r.docker_config.is_none() && !interactive => {
                out.push(problem(
                    "registry.username",
                    "a username needs a password source: add password_env or password_file",
                ))
            }
            _ => {}
        }
        file_exists(&mut out, "registry.ca_file", r.ca_file.as_deref());
        file_exists(&mut out, "registry.client_cert", r.client_cert.as_deref());
        file_exists(&mut out, "registry.client_key", r.client_key.as_deref());
        if r.client_cert.is_some() != r.client_key.is_some() {
            out.push(problem(
                "registry.client_cert",
                "a client certificate needs its key: give both client_cert and client_key",
            ));
        }
        if let Some(dir) = &r.certs_dir
            && !dir.is_dir()
        {
            out.push(problem(
                "registry.certs_dir",
                format!("{} is not a directory", dir.display()),
            ));
        }
        if let Some(c) = &r.layer_compression
            && c != "gzip"
            && c != "zstd"
            && c != "none"
        {
            out.push(problem(
                "registry.layer_compression",
                format!("{c:?} is not a layer compression: use gzip, zstd or none"),
            ));
        }
        if r.zstd_level.is_some_and(|l| !(1..=19).contains(&l)) {
            out.push(problem("registry.zstd_level", "use a level from 1 to 19"));
        }
        if let Some(u) = &r.upload
            && u != "auto"
            && u != "chunked"
        {
            out.push(problem(
                "registry.upload",
                format!("{u:?} is not an upload form: use auto or chunked"),
            ));
        }
        if r.gzip_level.is_some_and(|l| !(1..=12).contains(&l)) {
            out.push(problem("registry.gzip_level", "use a level from 1 to 12"));
        }
        if r.chunk_size_mib.is_some_and(|m| m == 0 || m > 1024) {
            out.push(problem(
                "registry.chunk_size_mib",
                "use a size from 1 to 1024 (MiB); below a proxy's body limit",
            ));
        }
        for (key, value) in [
            ("registry.image_concurrency", r.image_concurrency),
            ("registry.blob_concurrency", r.blob_concurrency),
        ] {
            if value.is_some_and(|v| v == 0 || v > 32) {
                out.push(problem(key, "use a number from 1 to 32"));
            }
        }
        if r.insecure && r.plain_http {
            out.push(problem(
                "registry.plain_http",
                "plain_http and insecure exclude each other: plain HTTP has no TLS to skip",
            ));
        }
    }
    if let Some(g) = &answers.gather {
        file_exists(&mut out, "gather.bundle", g.bundle.as_deref());
        if let Some(dir) = &g.charms_dir
            && !dir.is_dir()
        {
            out.push(problem(
                "gather.charms_dir",
                format!("{} is not a directory", dir.display()),
            ));
        }
        file_exists(&mut out, "gather.ca_file", g.ca_file.as_deref());
        file_exists(&mut out, "gather.sign_key", g.sign_key.as_deref());
        if let Some(Err(e)) = g
            .max_volume_size
            .as_deref()
            .map(crate::byte_size::parse_byte_size)
        {
            out.push(problem("gather.max_volume_size", e));
        }
        for list in &g.image_lists {
            file_exists(&mut out, "gather.image_lists", Some(list));
        }
    }
    if let Some(u) = &answers.upgrade {
        file_exists(&mut out, "upgrade.installed", u.installed.as_deref());
    }
    if let Some(b) = &answers.bundle {
        file_exists(&mut out, "bundle.file", b.file.as_deref());
    }
    for (from, to) in &answers.mapping {
        if let Err(why) = ImageRef::parse_target(to) {
            out.push(problem(
                &format!("mapping.\"{from}\""),
                format!("{to:?} is not a usable target: {why}"),
            ));
        }
    }
    if let Some(d) = &answers.deploy
        && let Some(model) = &d.model
        && model != "kubeflow"
    {
        out.push(problem(
            "deploy.model",
            format!("Charmed Kubeflow must be deployed into a model named kubeflow, not {model:?}"),
        ));
    }
    for (step, reason) in &answers.skip {
        // `check:<id>` skips one environment check, `cmd:<id>` one deploy command, and so on.
        if crate::wizard::ItemKind::ALL
            .iter()
            .any(|kind| kind.id_in(step).is_some())
        {
            if reason.trim().is_empty() {
                out.push(problem(
                    &format!("skip.\"{step}\""),
                    "a skip needs a reason",
                ));
            }
            continue;
        }
        if !Step::ALL.iter().any(|s| s.id() == step && !s.is_end()) {
            let ids: Vec<_> = crate::wizard::Flow::Install
                .working()
                .map(|s| s.id())
                .collect();
            out.push(problem(
                &format!("skip.{step}"),
                format!("no step is called {step:?}; steps are {}", ids.join(", ")),
            ));
        } else if reason.trim().is_empty() {
            out.push(problem(&format!("skip.{step}"), "a skip needs a reason"));
        }
    }
    out
}

fn first_volume(path: &Path) -> std::path::PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".001");
    name.into()
}

fn file_exists(out: &mut Vec<Problem>, key: &str, path: Option<&Path>) {
    let Some(path) = path else { return };
    match std::fs::metadata(path) {
        Ok(m) if m.is_file() => {}
        Ok(_) => out.push(problem(key, format!("{} is not a file", path.display()))),
        Err(e) => out.push(problem(key, format!("{}: {e}", path.display()))),
    }
}
