//! Image references: splitting into registry/path/tag/digest, and the heuristic deciding
//! which bundle values are image references at all.

use std::fmt;

use serde::Serialize;

/// An image reference split into parts. `registry` is `None` for Docker Hub short names.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
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

    /// `path:tag` (or `path@digest`) without the registry.
    pub fn repository_key(&self) -> String {
        let mut s = self.path.clone();
        if let Some(t) = &self.tag {
            s.push(':');
            s.push_str(t);
        }
        if let Some(d) = &self.digest {
            s.push('@');
            s.push_str(d);
        }
        s
    }

    /// Same reference under another registry prefix (`host[:port][/prefix]`).
    pub fn with_prefix(&self, prefix: &str) -> Self {
        let (registry, extra) = match prefix.split_once('/') {
            Some((h, p)) => (h, Some(p.trim_matches('/'))),
            None => (prefix, None),
        };
        let path = match extra {
            Some(p) if !p.is_empty() => format!("{p}/{}", self.path),
            _ => self.path.clone(),
        };
        Self {
            registry: Some(registry.to_owned()),
            path,
            tag: self.tag.clone(),
            digest: self.digest.clone(),
        }
    }
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(r) = &self.registry {
            write!(f, "{r}/")?;
        }
        f.write_str(&self.repository_key())
    }
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

pub fn is_host_label(l: &str) -> bool {
    let b = l.as_bytes();
    !b.is_empty()
        && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
        && b[0] != b'-'
        && b[b.len() - 1] != b'-'
}

/// OCI path component: `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`.
pub fn is_path_component(c: &str) -> bool {
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
pub fn is_tag(t: &str) -> bool {
    let b = t.as_bytes();
    let word = |x: u8| x.is_ascii_alphanumeric() || x == b'_';
    !b.is_empty()
        && b.len() <= 128
        && word(b[0])
        && b.iter().all(|&x| word(x) || x == b'.' || x == b'-')
}

pub fn is_digest(d: &str) -> bool {
    d.strip_prefix("sha256:").is_some_and(is_hex64)
}

pub fn is_hex64(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn rejects_lookalikes() {
        for v in [
            "1.10/stable",
            "kubeflow-gateway",
            "ingress",
            "1.16.2",
            "10:30",
            "mem=2G",
            "v1.8.0",
        ] {
            assert_eq!(ImageRef::detect(v), None, "{v}");
        }
    }

    #[test]
    fn digest_forms() {
        let hex = "3b6a4a63971acec3b71a0178cd093014a695ddf7c31d91d56ebb110eec6cdbe1";
        let t = ImageRef::detect(&format!("r.io/canonical/charmed-mysql:{hex}")).unwrap();
        assert_eq!(t.shape(false), RefShape::DigestAsTag);
        let d = ImageRef::detect(&format!("ghcr.io/canonical/charmed-mysql@sha256:{hex}")).unwrap();
        assert_eq!(d.shape(false), RefShape::Digest);
        assert_eq!(d.digest.as_deref(), Some(format!("sha256:{hex}").as_str()));
    }

    #[test]
    fn prefix_rewrite_keeps_path_and_tag() {
        let r = ImageRef::split("172.17.0.2:5000/kserve/agent:v0.10.0");
        let t = r.with_prefix("registry.example.com:5443/ckf");
        assert_eq!(
            t.to_string(),
            "registry.example.com:5443/ckf/kserve/agent:v0.10.0"
        );
    }
}
