//! Target reference validation against the OCI distribution reference grammar, so an invalid
//! name is refused with the rule it breaks before it can reach the bundle.

use super::error::{BundleError, Result};
use super::reference::{ImageRef, is_digest, is_host_label, is_path_component, is_tag};

const MAX_NAME: usize = 255;

/// Check a full target reference (`host[:port]/path[:tag][@sha256:hex]`).
pub fn validate_reference(reference: &str) -> Result<()> {
    check_reference(reference).map_err(|rule| BundleError::InvalidTarget {
        reference: reference.to_owned(),
        rule,
    })
}

/// Check a registry prefix (`host[:port][/path]`) used for bulk mapping.
pub fn validate_prefix(prefix: &str) -> Result<()> {
    check_prefix(prefix).map_err(|rule| BundleError::InvalidTarget {
        reference: prefix.to_owned(),
        rule,
    })
}

fn check_reference(reference: &str) -> Result<(), String> {
    if reference
        .chars()
        .any(|c| c.is_whitespace() || c.is_control())
    {
        return Err("it contains whitespace or control characters".to_owned());
    }
    let (host, _) = reference
        .split_once('/')
        .ok_or("it has no registry host: write host[:port]/path[:tag]")?;
    check_host(host)?;
    let r = ImageRef::split(reference);
    if r.registry.as_deref() != Some(host) {
        return Err(format!("{host:?} is not a registry host name"));
    }
    check_path(&r.path)?;
    if let Some(t) = &r.tag
        && !is_tag(t)
    {
        return Err(format!(
            "tag {t:?} must be 1 to 128 characters of letters, digits, '_', '.' and '-', not starting with '.' or '-'"
        ));
    }
    if let Some(d) = &r.digest
        && !is_digest(d)
    {
        return Err(format!(
            "digest {d:?} must be sha256: followed by 64 lowercase hex digits"
        ));
    }
    let name_len = host.len() + 1 + r.path.len();
    if name_len > MAX_NAME {
        return Err(format!(
            "the repository name is {name_len} characters; at most {MAX_NAME} are allowed"
        ));
    }
    Ok(())
}

fn check_prefix(prefix: &str) -> Result<(), String> {
    let (host, path) = match prefix.trim_end_matches('/').split_once('/') {
        Some((h, p)) => (h, Some(p)),
        None => (prefix.trim_end_matches('/'), None),
    };
    check_host(host)?;
    path.map_or(Ok(()), check_path)
}

fn check_host(host: &str) -> Result<(), String> {
    let (name, port) = match host.rsplit_once(':') {
        Some((n, p)) => (n, Some(p)),
        None => (host, None),
    };
    if let Some(p) = port {
        let ok = !p.is_empty() && p.len() <= 5 && p.parse::<u32>().is_ok_and(|n| n <= 65535);
        if !ok {
            return Err(format!("port {p:?} must be a number from 0 to 65535"));
        }
    }
    if name.is_empty() || !name.split('.').all(is_host_label) {
        return Err(format!(
            "host {name:?} must be DNS labels of letters, digits and '-' separated by '.', each label not starting or ending with '-'"
        ));
    }
    Ok(())
}

fn check_path(path: &str) -> Result<(), String> {
    for component in path.split('/') {
        if !is_path_component(component) {
            return Err(format!(
                "path component {component:?} must be lowercase letters and digits, separated by '.', '_', '__' or dashes"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(r: &str) -> String {
        validate_reference(r)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default()
    }

    #[test]
    fn accepts_valid_targets() {
        assert!(validate_reference("registry.example.com:5443/ckf/kserve/agent:v0.10.0").is_ok());
        assert!(validate_reference("10.0.0.1:5000/a__b/c-d:1.0_x").is_ok());
        assert!(validate_prefix("registry.example.com:5443/ckf").is_ok());
    }

    #[test]
    fn refuses_each_rule() {
        assert!(rule("registry.example.com/Kserve/agent:v1").contains("lowercase"));
        assert!(rule("registry.example.com/a:-bad").contains("tag"));
        assert!(rule("kserve/agent:v1").contains("not a registry host"));
        assert!(rule("agent:v1").contains("no registry host"));
        assert!(rule("reg_x.com:5000/a:1").contains("DNS labels"));
        assert!(rule("reg.com:99999/a:1").contains("port"));
        assert!(rule("reg.com/a b:1").contains("whitespace"));
        assert!(rule("reg.com/a@sha256:xyz").contains("digest"));
    }
}
