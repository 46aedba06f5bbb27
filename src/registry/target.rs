//! The push target `host[:port][/path-prefix]`.

use super::error::RegistryError;

/// Where images go: `<host>[:port]/<prefix>/<repository>:<tag>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistryTarget {
    host: String,
    port: Option<u16>,
    prefix: String,
}

impl RegistryTarget {
    /// Parses `host[:port][/prefix]`. Schemes, trailing slashes, empty path parts and uppercase
    /// paths are refused with a message saying what to type instead, because a registry URL
    /// pasted from a browser is the most common input mistake (hauler#522, zarf#3723).
    pub fn parse(input: &str) -> Result<RegistryTarget, RegistryError> {
        let bad = |reason: String| RegistryError::InvalidTarget {
            input: input.to_string(),
            reason,
        };
        let s = input.trim();
        if s.is_empty() {
            return Err(bad("it is empty; give host[:port][/path-prefix], e.g. registry.example.com:5000/kubeflow".into()));
        }
        if let Some(pos) = s.find("://") {
            return Err(bad(format!(
                "remove the scheme {:?}: give host[:port][/path-prefix] such as {:?}; HTTPS is used unless the plain-HTTP option is chosen",
                &s[..pos + 3],
                &s[pos + 3..]
            )));
        }
        if s.ends_with('/') {
            return Err(bad(format!(
                "remove the trailing slash: {:?}",
                s.trim_end_matches('/')
            )));
        }
        let (authority, path) = match s.find('/') {
            Some(i) => (&s[..i], &s[i + 1..]),
            None => (s, ""),
        };
        let (host, port) = split_host_port(authority).map_err(bad)?;
        validate_host(&host).map_err(bad)?;
        if !path.is_empty() {
            for part in path.split('/') {
                if part.is_empty() {
                    return Err(bad(
                        "the path prefix has an empty part (\"//\"); remove the extra slash".into(),
                    ));
                }
                if part.chars().any(|c| c.is_ascii_uppercase()) {
                    return Err(bad(format!(
                        "repository paths must be lowercase: use {:?}",
                        path.to_ascii_lowercase()
                    )));
                }
                if !valid_path_component(part) {
                    return Err(bad(format!(
                        "the path part {part:?} is not a valid repository name component (lowercase letters, digits, and . _ - between them)"
                    )));
                }
            }
        }
        Ok(RegistryTarget {
            host,
            port,
            prefix: path.to_string(),
        })
    }

    pub fn host(&self) -> &str {
        &self.host
    }

    pub fn port(&self) -> Option<u16> {
        self.port
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// `host[:port]`, the key Docker uses in `config.json` and `certs.d`.
    pub fn authority(&self) -> String {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        match self.port {
            Some(p) => format!("{host}:{p}"),
            None => host,
        }
    }

    /// The repository path on the target for a source repository path.
    pub fn repository(&self, repository: &str) -> String {
        if self.prefix.is_empty() {
            repository.to_string()
        } else {
            format!("{}/{}", self.prefix, repository)
        }
    }

    /// `host[:port]/prefix/repository:tag`.
    pub fn reference(&self, repository: &str, tag: &str) -> String {
        format!(
            "{}/{}:{}",
            self.authority(),
            self.repository(repository),
            tag
        )
    }
}

impl std::fmt::Display for RegistryTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.prefix.is_empty() {
            f.write_str(&self.authority())
        } else {
            write!(f, "{}/{}", self.authority(), self.prefix)
        }
    }
}

fn split_host_port(authority: &str) -> Result<(String, Option<u16>), String> {
    if let Some(rest) = authority.strip_prefix('[') {
        let end = rest
            .find(']')
            .ok_or_else(|| "unclosed '[' in an IPv6 address".to_string())?;
        let host = rest[..end].to_string();
        let after = &rest[end + 1..];
        let port = match after.strip_prefix(':') {
            Some(p) => Some(parse_port(p)?),
            None if after.is_empty() => None,
            None => return Err(format!("unexpected {after:?} after the IPv6 address")),
        };
        return Ok((host, port));
    }
    match authority.rsplit_once(':') {
        Some((h, p)) => Ok((h.to_string(), Some(parse_port(p)?))),
        None => Ok((authority.to_string(), None)),
    }
}

fn parse_port(p: &str) -> Result<u16, String> {
    match p.parse::<u16>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(format!(
            "the port {p:?} is not a number between 1 and 65535"
        )),
    }
}

fn validate_host(host: &str) -> Result<(), String> {
    if host.is_empty() {
        return Err("the host name is missing".into());
    }
    if host.parse::<std::net::IpAddr>().is_ok() {
        return Ok(());
    }
    let ok = host.split('.').all(|label| {
        !label.is_empty()
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    });
    if ok {
        Ok(())
    } else {
        Err(format!("{host:?} is not a valid host name or IP address"))
    }
}

fn valid_path_component(part: &str) -> bool {
    let first_last_ok = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
    part.chars().next().is_some_and(first_last_ok)
        && part.chars().last().is_some_and(first_last_ok)
        && part
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(s: &str) -> String {
        RegistryTarget::parse(s).unwrap_err().to_string()
    }

    #[test]
    fn parses_host_port_prefix() {
        let t = RegistryTarget::parse("registry.example.com:5443/kubeflow/ckf").unwrap();
        assert_eq!(t.host(), "registry.example.com");
        assert_eq!(t.port(), Some(5443));
        assert_eq!(t.authority(), "registry.example.com:5443");
        assert_eq!(
            t.reference("argoproj/argoexec", "v3.3.8"),
            "registry.example.com:5443/kubeflow/ckf/argoproj/argoexec:v3.3.8"
        );
        let t = RegistryTarget::parse("10.0.0.5").unwrap();
        assert_eq!(t.authority(), "10.0.0.5");
        assert_eq!(t.repository("a/b"), "a/b");
        let t = RegistryTarget::parse("[::1]:5000").unwrap();
        assert_eq!(t.authority(), "[::1]:5000");
    }

    #[test]
    fn refuses_common_mistakes_with_a_fix() {
        assert!(err("https://reg.example.com").contains("remove the scheme"));
        assert!(err("reg.example.com/").contains("trailing slash"));
        assert!(err("reg.example.com/Kubeflow").contains("\"kubeflow\""));
        assert!(err("reg.example.com:99999").contains("port"));
        assert!(err("reg.example.com/a//b").contains("empty part"));
        assert!(err("reg_example.com").contains("not a valid host"));
    }
}
