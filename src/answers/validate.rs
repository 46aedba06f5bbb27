//! `validate-answers`: every problem in an answers file, each with where it is and the fix.

use std::path::Path;

use super::Answers;
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
        file_exists(&mut out, "artifacts.images", a.images.as_deref());
        file_exists(&mut out, "artifacts.charms", a.charms.as_deref());
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
        if let Err(why) = validate_target(&r.target) {
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
            && c != "none"
        {
            out.push(problem(
                "registry.layer_compression",
                format!("{c:?} is not a layer compression: use gzip or none"),
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
    if let Some(b) = &answers.bundle {
        file_exists(&mut out, "bundle.file", b.file.as_deref());
    }
    for (from, to) in &answers.mapping {
        if let Err(why) = validate_image_reference(to) {
            out.push(problem(&format!("mapping.\"{from}\""), why));
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
    if let Some(d) = &answers.deploy
        && let Some(release) = &d.ckf_release
        && crate::cluster::release::CkfRelease::parse(release).is_none()
    {
        out.push(problem(
            "deploy.ckf_release",
            format!("{release:?} is not a Charmed Kubeflow release this tool knows: 1.7, 1.8, 1.9, 1.10 or 1.11"),
        ));
    }
    for (step, reason) in &answers.skip {
        // `check:<id>` skips one environment check, `cmd:<id>` one deploy command.
        if step.starts_with("check:") || step.starts_with("cmd:") {
            if reason.trim().is_empty() {
                out.push(problem(
                    &format!("skip.\"{step}\""),
                    "a skip needs a reason",
                ));
            }
            continue;
        }
        if !Step::ALL.iter().any(|s| s.id() == step) || step == "done" {
            let ids: Vec<_> = Step::ALL
                .iter()
                .filter(|s| **s != Step::Done)
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

fn file_exists(out: &mut Vec<Problem>, key: &str, path: Option<&Path>) {
    let Some(path) = path else { return };
    match std::fs::metadata(path) {
        Ok(m) if m.is_file() => {}
        Ok(_) => out.push(problem(key, format!("{} is not a file", path.display()))),
        Err(e) => out.push(problem(key, format!("{}: {e}", path.display()))),
    }
}

/// A registry target is `host[:port][/path-prefix]`, without a scheme.
pub fn validate_target(target: &str) -> Result<(), String> {
    if target.is_empty() {
        return Err("the registry target is empty; write host[:port][/prefix]".into());
    }
    if let Some((scheme, _)) = target.split_once("://") {
        return Err(format!(
            "drop the {scheme}:// scheme: write host[:port][/prefix] (HTTPS is the default; \
             plain HTTP is the plain_http option)"
        ));
    }
    let (host_port, prefix) = target.split_once('/').unwrap_or((target, ""));
    let (host, port) = match host_port.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') => (h, Some(p)),
        _ => (host_port, None),
    };
    if host.is_empty()
        || !host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
    {
        return Err(format!("{host:?} is not a host name or IPv4 address"));
    }
    if let Some(port) = port
        && port.parse::<u16>().map_or(true, |p| p == 0)
    {
        return Err(format!("{port:?} is not a port number (1-65535)"));
    }
    for component in prefix.split('/').filter(|c| !c.is_empty()) {
        if !is_path_component(component) {
            return Err(format!(
                "path component {component:?} is not allowed: use lowercase letters, digits \
                 and . _ - between them"
            ));
        }
    }
    if prefix.ends_with('/') {
        return Err("remove the trailing slash".into());
    }
    Ok(())
}

/// OCI distribution path component: `[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*`.
fn is_path_component(c: &str) -> bool {
    let bytes = c.as_bytes();
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    if bytes.is_empty() || !alnum(bytes[0]) || !alnum(bytes[bytes.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < bytes.len() {
        if alnum(bytes[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && !alnum(bytes[i]) {
            i += 1;
        }
        let sep = &c[start..i];
        let ok = sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|b| b == b'-');
        if !ok {
            return false;
        }
    }
    true
}

/// A full image reference `host[:port]/path[:tag|@sha256:hex]`.
fn validate_image_reference(reference: &str) -> Result<(), String> {
    let (name, digest) = match reference.split_once('@') {
        Some((n, d)) => (n, Some(d)),
        None => (reference, None),
    };
    if let Some(d) = digest {
        let hex = d.strip_prefix("sha256:").unwrap_or("");
        if hex.len() != 64
            || !hex
                .bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        {
            return Err(format!(
                "{d:?} is not a sha256 digest (sha256: and 64 lowercase hex)"
            ));
        }
    }
    let last_slash = name.rfind('/').unwrap_or(0);
    let (repo, tag) = match name[last_slash..].rfind(':') {
        Some(i) => (&name[..last_slash + i], Some(&name[last_slash + i + 1..])),
        None => (name, None),
    };
    if let Some(tag) = tag {
        let ok = !tag.is_empty()
            && tag.len() <= 128
            && tag
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
            && tag
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
        if !ok {
            return Err(format!("{tag:?} is not a valid tag"));
        }
    }
    if !repo.contains('/') {
        return Err(format!(
            "{reference:?} has no registry host: write host[:port]/path:tag"
        ));
    }
    validate_target(repo)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets() {
        for ok in [
            "registry.example.com",
            "registry.example.com:5443",
            "10.0.0.5:5000/ckf",
            "localhost:5000/a/b-c/d_e",
        ] {
            assert_eq!(validate_target(ok), Ok(()), "{ok}");
        }
        for bad in [
            "",
            "https://registry.example.com",
            "registry.example.com:99999",
            "registry.example.com/CKF",
            "registry.example.com/ckf/",
            "reg istry",
        ] {
            assert!(validate_target(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn image_references() {
        assert!(validate_image_reference("r.example.com:5443/ckf/istio/proxyv2:1.16.2").is_ok());
        assert!(validate_image_reference("r.example.com/a/b@sha256:0000000000000000000000000000000000000000000000000000000000000000").is_ok());
        assert!(validate_image_reference("proxyv2:1.16.2").is_err());
        assert!(validate_image_reference("r.example.com/a/b:bad tag").is_err());
    }
}
