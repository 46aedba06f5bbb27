//! Image references: the one place that parses, validates, normalises, compares and retags
//! them. The archive reader, the bundle scanner, the mapping, the answers file, the registry
//! target and the push report all go through this type, so an image is named the same way
//! everywhere (`…/library/busybox:1.28` in a bundle and `busybox:1.28` in an archive are the
//! same image and get the same target).

use std::fmt;

use serde::{Deserialize, Serialize};

/// Longest repository name (host and path) the distribution spec allows.
const MAX_NAME: usize = 255;

/// An image reference split into parts, as written: nothing is added or dropped, so it prints
/// back to the text it came from. `registry` is `None` for Docker Hub short names.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ImageRef {
    pub registry: Option<String>,
    pub path: String,
    pub tag: Option<String>,
    /// `sha256:<hex>` when written as `name@sha256:<hex>`.
    pub digest: Option<String>,
}

/// What kind of reference a value is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum RefShape {
    /// `registry/path:tag`.
    Tagged,
    /// No tag and no digest: the runtime pulls `:latest`.
    Untagged,
    /// The re-tag scripts turn `name@sha256:HEX` into the tag `name:HEX`.
    DigestAsTag,
    /// `name@sha256:HEX` (possibly with a tag too).
    Digest,
    /// Only `registry/namespace` (e.g. istio's `global-hub`); images are formed by the charm.
    RegistryNamespace,
}

impl ImageRef {
    /// Structural split without judging whether the value is an image.
    pub fn split(value: &str) -> Self {
        let value = value.trim();
        let (name, digest) = match value.split_once('@') {
            Some((n, d)) => (n, Some(d.to_owned())),
            None => (value, None),
        };
        let (registry, rest) = match name.split_once('/') {
            Some((first, rest)) if looks_like_host(first) => (Some(first.to_owned()), rest),
            _ => (None, name),
        };
        let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
        let (path, tag) = match rest[last_slash..].rfind(':') {
            Some(i) => (
                rest[..last_slash + i].to_owned(),
                Some(rest[last_slash + i + 1..].to_owned()),
            ),
            None => (rest.to_owned(), None),
        };
        Self {
            registry,
            path,
            tag,
            digest,
        }
    }

    /// The value as an image reference, when it plausibly is one. Rejects values that only
    /// look like references: channels (`1.10/stable`), names (`kubeflow-gateway`), versions.
    pub fn detect(value: &str) -> Option<Self> {
        let charset_ok = !value.is_empty()
            && value
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "._:/@-".contains(c));
        if !charset_ok {
            return None;
        }
        let r = Self::split(value);
        let parts_ok = r.path.split('/').all(is_path_component)
            && r.tag.as_deref().is_none_or(is_tag)
            && r.digest.as_deref().is_none_or(is_digest);
        let anchored = r.registry.is_some()
            || ((r.tag.is_some() || r.digest.is_some())
                && r.path.chars().any(|c| c.is_ascii_alphabetic()));
        (parts_ok && anchored).then_some(r)
    }

    /// A full reference with a registry host (`host[:port]/path[:tag][@sha256:hex]`), checked
    /// against the distribution grammar; the error names the rule it breaks.
    pub fn parse_target(reference: &str) -> Result<Self, String> {
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
        let r = Self::split(reference);
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
        Ok(r)
    }

    pub fn shape(&self, namespace_only: bool) -> RefShape {
        match (&self.tag, &self.digest) {
            (_, Some(_)) => RefShape::Digest,
            (Some(t), None) if is_hex64(t) => RefShape::DigestAsTag,
            (Some(_), None) => RefShape::Tagged,
            (None, None) if namespace_only => RefShape::RegistryNamespace,
            (None, None) => RefShape::Untagged,
        }
    }

    /// The tag a runtime would pull (`latest` when none is written and no digest pins it).
    pub fn effective_tag(&self) -> Option<&str> {
        match (&self.tag, &self.digest) {
            (Some(t), _) => Some(t),
            (None, None) => Some("latest"),
            (None, Some(_)) => None,
        }
    }

    /// The repository path an image is pushed under: Docker Hub's `library/` dropped from
    /// official images (`library/busybox` → `busybox`), as `docker save` writes them, and a
    /// registry host left inside the path by Canonical's retag script (it keeps two-part names
    /// whole: `R/registry.k8s.io/pause`, `R/docker.io/ubuntu`) dropped too, so no public
    /// registry's name reaches the private one.
    pub fn repository(&self) -> &str {
        let path = match self.path.split_once('/') {
            Some((first, rest)) if looks_like_host(first) => rest,
            _ => self.path.as_str(),
        };
        match path.strip_prefix("library/") {
            Some(rest) if !rest.contains('/') => rest,
            _ => path,
        }
    }

    /// `path:tag` (or `path@digest`) as written, without the registry.
    pub fn repository_key(&self) -> String {
        join(&self.path, self.tag.as_deref(), self.digest.as_deref())
    }

    /// The host-less form two references are compared by: `library/` dropped and `:latest`
    /// written out, so `172.17.0.2:5000/library/busybox` and `busybox:latest` are equal.
    pub fn normalized(&self) -> String {
        join(
            self.repository(),
            self.effective_tag(),
            self.digest.as_deref(),
        )
    }

    /// Same image under another registry prefix (`host[:port][/prefix]`), the way the push
    /// names it: the original host replaced, `library/` dropped, tag and digest kept.
    pub fn with_prefix(&self, prefix: &str) -> Self {
        let (registry, extra) = match prefix.split_once('/') {
            Some((h, p)) => (h, Some(p.trim_matches('/'))),
            None => (prefix, None),
        };
        let path = match extra {
            Some(p) if !p.is_empty() => format!("{p}/{}", self.repository()),
            _ => self.repository().to_owned(),
        };
        Self {
            registry: Some(registry.to_owned()),
            path,
            tag: self.tag.clone(),
            digest: self.digest.clone(),
        }
    }

    /// Same repository pinned by `digest` instead of its tag.
    pub fn pinned(&self, digest: &str) -> Self {
        Self {
            tag: None,
            digest: Some(digest.to_owned()),
            ..self.clone()
        }
    }

    /// Same image as `other` by the normalised repository, and by digest or effective tag.
    pub fn same_image(&self, other: &ImageRef) -> bool {
        self.repository() == other.repository()
            && match &other.digest {
                Some(d) => {
                    self.digest.as_ref() == Some(d) || (self.tag.is_some() && self.tag == other.tag)
                }
                None => self.effective_tag() == other.effective_tag(),
            }
    }
}

fn join(path: &str, tag: Option<&str>, digest: Option<&str>) -> String {
    let mut s = path.to_owned();
    if let Some(t) = tag {
        s.push(':');
        s.push_str(t);
    }
    if let Some(d) = digest {
        s.push('@');
        s.push_str(d);
    }
    s
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(r) = &self.registry {
            write!(f, "{r}/")?;
        }
        f.write_str(&self.repository_key())
    }
}

/// The host-less comparison form of a reference (see [`ImageRef::normalized`]).
pub fn normalize_reference(reference: &str) -> String {
    ImageRef::split(reference).normalized()
}

/// The comparison forms under which an archive may hold an upstream image: as written, and as
/// Canonical's retag script renames it (`@sha256:HEX` becomes the tag `:HEX`; with three or
/// more path components the first is dropped as a registry host, with two or fewer the name is
/// kept whole, so `registry.k8s.io/pause:3.9` becomes `<R>/registry.k8s.io/pause:3.9`).
pub fn archive_keys(upstream: &str) -> Vec<String> {
    let upstream = upstream.trim();
    let mut keys = vec![normalize_reference(upstream)];
    // Any host stands for the script's new registry: only the path and tag are compared.
    let retagged = normalize_reference(&ckf_retag(upstream, "retag.invalid"));
    if !keys.contains(&retagged) {
        keys.push(retagged);
    }
    keys
}

/// Canonical's retag rule (`retag-images-to-cache.py`) with `registry` as the new registry:
/// `@sha256:HEX` becomes the tag `:HEX`; with three or more path components the first is
/// dropped as a registry host, with two or fewer the name is kept whole.
pub fn ckf_retag(upstream: &str, registry: &str) -> String {
    let name = upstream.trim().replacen("@sha256", "", 1);
    match name.split_once('/') {
        Some((_, rest)) if name.split('/').count() > 2 => format!("{registry}/{rest}"),
        _ => format!("{registry}/{name}"),
    }
}

/// Checks a registry prefix (`host[:port][/path]`) used for bulk mapping.
pub fn validate_prefix(prefix: &str) -> Result<(), String> {
    let (host, path) = match prefix.trim_end_matches('/').split_once('/') {
        Some((h, p)) => (h, Some(p)),
        None => (prefix.trim_end_matches('/'), None),
    };
    check_host(host)?;
    path.map_or(Ok(()), check_path)
}

/// Checks a registry target as the operator gives it: `host[:port][/path-prefix]`, without a
/// scheme or a trailing slash.
pub fn validate_registry_target(target: &str) -> Result<(), String> {
    if target.is_empty() {
        return Err("the registry target is empty; write host[:port][/prefix]".into());
    }
    if let Some((scheme, _)) = target.split_once("://") {
        return Err(format!(
            "drop the {scheme}:// scheme: write host[:port][/prefix] (HTTPS is the default; \
             plain HTTP is the plain_http option)"
        ));
    }
    if target.ends_with('/') {
        return Err("remove the trailing slash".into());
    }
    validate_prefix(target)
}

fn check_host(host: &str) -> Result<(), String> {
    let (name, port) = match host.rsplit_once(':') {
        Some((n, p)) => (n, Some(p)),
        None => (host, None),
    };
    if let Some(p) = port
        && !p.parse::<u16>().is_ok_and(|n| n > 0)
    {
        return Err(format!("port {p:?} must be a number from 1 to 65535"));
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

/// A first path component that names a registry: an IPv4 address, `localhost`, anything with
/// a port, or a dotted name whose last label has a letter (so `1.10` of `1.10/stable` is not).
pub fn looks_like_host(s: &str) -> bool {
    let (name, port) = match s.rsplit_once(':') {
        Some((n, p)) => (n, Some(p)),
        None => (s, None),
    };
    if port.is_some_and(|p| p.is_empty() || p.len() > 5 || !p.chars().all(|c| c.is_ascii_digit())) {
        return false;
    }
    if name.is_empty() || !name.split('.').all(is_host_label) {
        return false;
    }
    let labels: Vec<&str> = name.split('.').collect();
    let ipv4 = labels.len() == 4 && labels.iter().all(|l| l.chars().all(|c| c.is_ascii_digit()));
    let dotted = labels.len() > 1
        && labels
            .last()
            .is_some_and(|l| l.chars().any(|c| c.is_ascii_alphabetic()));
    port.is_some() || ipv4 || dotted || name == "localhost"
}

fn is_host_label(l: &str) -> bool {
    let b = l.as_bytes();
    !b.is_empty()
        && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
        && b[0] != b'-'
        && b[b.len() - 1] != b'-'
}

/// OCI path component: `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`.
fn is_path_component(c: &str) -> bool {
    let b = c.as_bytes();
    let alnum = |x: u8| x.is_ascii_lowercase() || x.is_ascii_digit();
    if b.is_empty() || !alnum(b[0]) || !alnum(b[b.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if alnum(b[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && !alnum(b[i]) {
            i += 1;
        }
        let sep = &c[start..i];
        let ok = sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|x| x == b'-');
        if !ok {
            return false;
        }
    }
    true
}

/// OCI tag: `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`.
fn is_tag(t: &str) -> bool {
    let b = t.as_bytes();
    let word = |x: u8| x.is_ascii_alphanumeric() || x == b'_';
    !b.is_empty()
        && b.len() <= 128
        && word(b[0])
        && b.iter().all(|&x| word(x) || x == b'.' || x == b'-')
}

fn is_digest(d: &str) -> bool {
    crate::oci::Digest::parse(d).is_ok()
}

pub fn is_hex64(s: &str) -> bool {
    crate::oci::is_hex64(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "3b6a4a63971acec3b71a0178cd093014a695ddf7c31d91d56ebb110eec6cdbe1";

    #[test]
    fn detects_real_references() {
        let r = ImageRef::detect("172.17.0.2:5000/istio/proxyv2:1.16.2").unwrap();
        assert_eq!(r.registry.as_deref(), Some("172.17.0.2:5000"));
        assert_eq!(r.path, "istio/proxyv2");
        assert_eq!(r.tag.as_deref(), Some("1.16.2"));
        let b = ImageRef::detect("busybox:1.28").unwrap();
        assert_eq!((b.registry, b.path.as_str()), (None, "busybox"));
        let u = ImageRef::detect("172.17.0.2:5000/google-containers/busybox").unwrap();
        assert_eq!(u.shape(false), RefShape::Untagged);
        assert_eq!(u.effective_tag(), Some("latest"));
    }

    #[test]
    fn rejects_lookalikes_uppercase_and_invalid_names() {
        for v in [
            "1.10/stable",
            "kubeflow-gateway",
            "ingress",
            "1.16.2",
            "10:30",
            "mem=2G",
            "v1.8.0",
            "registry.example.com/Kserve/agent:v1",
            "registry.example.com/a:-bad",
            "r.io/a@sha256:xyz",
        ] {
            assert_eq!(ImageRef::detect(v), None, "{v}");
        }
    }

    #[test]
    fn implicit_docker_hub_and_library_compare_equal() {
        for (a, b) in [
            ("docker.io/library/python:3.7", "python:3.7"),
            ("172.17.0.2:5000/library/busybox:1.28", "busybox:1.28"),
            (
                "172.17.0.2:5000/google-containers/busybox",
                "google-containers/busybox:latest",
            ),
            ("localhost/a/b:1", "a/b:1"),
            ("gcr.io/ml-pipeline/frontend:2", "ml-pipeline/frontend:2"),
        ] {
            assert_eq!(normalize_reference(a), normalize_reference(b), "{a} vs {b}");
        }
        // `library/` is only Docker Hub's namespace for single-name images.
        assert_eq!(
            ImageRef::split("r.io/library/team/app:1").repository(),
            "library/team/app"
        );
    }

    #[test]
    fn hosts_with_ports_and_two_part_names() {
        let r = ImageRef::split("registry.k8s.io/pause:3.9");
        assert_eq!(r.registry.as_deref(), Some("registry.k8s.io"));
        assert_eq!(r.path, "pause");
        let l = ImageRef::split("localhost:5000/a/b@sha256:abcd");
        assert_eq!(l.registry.as_deref(), Some("localhost:5000"));
        assert_eq!(l.tag, None);
        assert_eq!(l.normalized(), "a/b@sha256:abcd");
        // A first component without a dot, port or localhost is a Docker Hub namespace.
        let h = ImageRef::split("kubeflownotebookswg/jupyter-web-app:v1.7.0");
        assert_eq!(h.registry, None);
        assert_eq!(h.to_string(), "kubeflownotebookswg/jupyter-web-app:v1.7.0");
    }

    #[test]
    fn digests_and_digests_used_as_tags() {
        let t = ImageRef::detect(&format!("r.io/canonical/charmed-mysql:{HEX}")).unwrap();
        assert_eq!(t.shape(false), RefShape::DigestAsTag);
        let d = ImageRef::detect(&format!("ghcr.io/canonical/charmed-mysql@sha256:{HEX}")).unwrap();
        assert_eq!(d.shape(false), RefShape::Digest);
        assert_eq!(d.digest.as_deref(), Some(format!("sha256:{HEX}").as_str()));
        assert_eq!(d.effective_tag(), None);
        let both = ImageRef::split(&format!("r.io/a:1.0@sha256:{HEX}"));
        assert_eq!(both.tag.as_deref(), Some("1.0"));
        assert_eq!(both.to_string(), format!("r.io/a:1.0@sha256:{HEX}"));
        assert_eq!(
            ImageRef::split("r.io/a:1").pinned("sha256:00").to_string(),
            "r.io/a@sha256:00"
        );
    }

    #[test]
    fn retag_to_a_prefix_is_the_push_target() {
        let r = ImageRef::split("172.17.0.2:5000/kserve/agent:v0.10.0");
        assert_eq!(
            r.with_prefix("registry.example.com:5443/ckf").to_string(),
            "registry.example.com:5443/ckf/kserve/agent:v0.10.0"
        );
        let lib = ImageRef::split("172.17.0.2:5000/library/busybox:1.28");
        assert_eq!(
            lib.with_prefix("reg.example.com:5000").to_string(),
            "reg.example.com:5000/busybox:1.28"
        );
        assert!(lib.same_image(&ImageRef::split("reg.example.com:5000/busybox:1.28")));
        assert!(!lib.same_image(&ImageRef::split("reg.example.com:5000/busybox:1.29")));
    }

    #[test]
    fn targets_are_checked_against_the_grammar() {
        let rule = |r: &str| ImageRef::parse_target(r).err().unwrap_or_default();
        assert!(
            ImageRef::parse_target("registry.example.com:5443/ckf/kserve/agent:v0.10.0").is_ok()
        );
        assert!(ImageRef::parse_target("10.0.0.1:5000/a__b/c-d:1.0_x").is_ok());
        assert!(rule("registry.example.com/Kserve/agent:v1").contains("lowercase"));
        assert!(rule("registry.example.com/a:-bad").contains("tag"));
        assert!(rule("kserve/agent:v1").contains("not a registry host"));
        assert!(rule("agent:v1").contains("no registry host"));
        assert!(rule("reg_x.com:5000/a:1").contains("DNS labels"));
        assert!(rule("reg.com:99999/a:1").contains("port"));
        assert!(rule("reg.com:0/a:1").contains("port"));
        assert!(rule("reg.com/a b:1").contains("whitespace"));
        assert!(rule("reg.com/a@sha256:xyz").contains("digest"));
    }

    #[test]
    fn archive_keys_follow_the_ckf_retag_rule() {
        let under = |upstream: &str, archived: &str| {
            archive_keys(upstream).contains(&normalize_reference(archived))
        };
        assert!(under(
            &format!("ghcr.io/canonical/charmed-mysql@sha256:{HEX}"),
            &format!("172.17.0.2:5000/canonical/charmed-mysql:{HEX}")
        ));
        assert!(under(
            "docker.io/kubeflownotebookswg/jupyter-web-app:v1.8.0",
            "172.17.0.2:5000/kubeflownotebookswg/jupyter-web-app:v1.8.0"
        ));
        assert!(under("python:3.7", "172.17.0.2:5000/python:3.7"));
        assert!(under("busybox:1.28", "docker.io/library/busybox:1.28"));
        assert!(under(
            "gcr.io/ml-pipeline/frontend:2.0.0-alpha.7",
            "172.17.0.2:5000/ml-pipeline/frontend:2.0.0-alpha.7"
        ));
        // The script's quirk: a two-part name keeps its registry as a path component, which
        // the comparison (and the push) drops again.
        assert_eq!(
            ImageRef::split("172.17.0.2:5000/docker.io/ubuntu:22.04").repository(),
            "ubuntu"
        );
        assert!(under(
            "registry.k8s.io/pause:3.9",
            "172.17.0.2:5000/registry.k8s.io/pause:3.9"
        ));
        // A daemonless copy keeps the upstream name.
        assert!(under(
            "registry.k8s.io/pause:3.9",
            "registry.k8s.io/pause:3.9"
        ));
        assert!(!under("busybox:1.28", "172.17.0.2:5000/busybox:1.29"));
    }

    #[test]
    fn registry_targets() {
        for ok in [
            "registry.example.com",
            "registry.example.com:5443",
            "10.0.0.5:5000/ckf",
            "localhost:5000/a/b-c/d_e",
        ] {
            assert_eq!(validate_registry_target(ok), Ok(()), "{ok}");
        }
        for bad in [
            "",
            "https://registry.example.com",
            "registry.example.com:99999",
            "registry.example.com:0",
            "registry.example.com/CKF",
            "registry.example.com/ckf/",
            "reg istry",
        ] {
            assert!(validate_registry_target(bad).is_err(), "{bad}");
        }
    }
}
