//! Image reference parsing. References from bundles carry a placeholder
//! registry host (`172.17.0.2:5000`) and those inside archives carry whatever
//! the retag script used, so comparisons are done on the host-less form.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ImageRef {
    /// Registry host if the first component looked like one.
    pub host: Option<String>,
    /// Repository path without host, e.g. `kubeflownotebookswg/jupyter-web-app`.
    pub repository: String,
    /// Tag; `latest` when the reference had neither tag nor digest.
    pub tag: Option<String>,
    /// Digest such as `sha256:...` when given with `@`.
    pub digest: Option<String>,
}

impl ImageRef {
    pub fn parse(reference: &str) -> ImageRef {
        let reference = reference.trim();
        let (name, digest) = match reference.split_once('@') {
            Some((n, d)) => (n, Some(d.to_string())),
            None => (reference, None),
        };
        let (name, tag) = match name.rfind(':') {
            Some(i) if !name[i + 1..].contains('/') => {
                (&name[..i], Some(name[i + 1..].to_string()))
            }
            _ => (name, None),
        };
        let (host, repo) = match name.split_once('/') {
            Some((first, rest))
                if first.contains('.') || first.contains(':') || first == "localhost" =>
            {
                (Some(first.to_string()), rest)
            }
            _ => (None, name),
        };
        // Docker Hub official images are written both ways; `library/` is an
        // artefact of the Hub, not part of what an operator typed.
        let repo = match repo.strip_prefix("library/") {
            Some(r) if !r.contains('/') => r,
            _ => repo,
        };
        let tag = if tag.is_none() && digest.is_none() {
            Some("latest".to_string())
        } else {
            tag
        };
        ImageRef {
            host,
            repository: repo.to_string(),
            tag,
            digest,
        }
    }

    /// Host-less canonical text: `repo:tag`, `repo@digest` or `repo:tag@digest`.
    pub fn normalized(&self) -> String {
        let mut s = self.repository.clone();
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
}

/// Strips the registry host and applies the `:latest` default, so that
/// `172.17.0.2:5000/google-containers/busybox` and
/// `google-containers/busybox:latest` compare equal.
pub fn normalize_reference(reference: &str) -> String {
    ImageRef::parse(reference).normalized()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_hosts() {
        assert_eq!(
            normalize_reference("172.17.0.2:5000/kubeflownotebookswg/jupyter-web-app:v1.7.0"),
            "kubeflownotebookswg/jupyter-web-app:v1.7.0"
        );
        assert_eq!(normalize_reference("localhost/a/b:1"), "a/b:1");
        assert_eq!(
            normalize_reference("gcr.io/ml-pipeline/frontend:2"),
            "ml-pipeline/frontend:2"
        );
        assert_eq!(
            normalize_reference("argoproj/argocli:v3"),
            "argoproj/argocli:v3"
        );
        assert_eq!(
            normalize_reference("docker.io/library/python:3.7"),
            "python:3.7"
        );
    }

    #[test]
    fn defaults_and_digests() {
        assert_eq!(
            normalize_reference("172.17.0.2:5000/google-containers/busybox"),
            "google-containers/busybox:latest"
        );
        let r = ImageRef::parse("localhost:5000/a/b@sha256:abcd");
        assert_eq!(r.host.as_deref(), Some("localhost:5000"));
        assert_eq!(r.tag, None);
        assert_eq!(r.normalized(), "a/b@sha256:abcd");
    }
}
