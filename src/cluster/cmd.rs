//! A command as data: which tool, which arguments, what input, and which values must never be
//! shown. Plans are lists of `Cmd`s so the operator can read every command before it runs.

use std::ffi::OsStr;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

/// The programs this module runs. Each is looked up by name on `PATH` through `Tools`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum Tool {
    Juju,
    Kubectl,
    Microk8s,
    Resolvectl,
    Df,
}

impl Tool {
    /// The name an operator would type; used in displayed command lines.
    pub fn name(self) -> &'static str {
        match self {
            Self::Juju => "juju",
            Self::Kubectl => "kubectl",
            Self::Microk8s => "microk8s",
            Self::Resolvectl => "resolvectl",
            Self::Df => "df",
        }
    }
}

/// Where each tool is. Operators (and tests) can point a tool at another name or path; `kubectl`
/// is an argv prefix because on a bare MicroK8s host it is `microk8s kubectl`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tools {
    pub juju: String,
    pub kubectl: Vec<String>,
    pub microk8s: String,
    pub resolvectl: String,
    pub df: String,
}

impl Default for Tools {
    fn default() -> Self {
        Self {
            juju: "juju".into(),
            kubectl: vec!["kubectl".into()],
            microk8s: "microk8s".into(),
            resolvectl: "resolvectl".into(),
            df: "df".into(),
        }
    }
}

impl Tools {
    /// The program and leading arguments that stand for `tool`.
    pub fn prefix(&self, tool: Tool) -> Vec<String> {
        match tool {
            Tool::Juju => vec![self.juju.clone()],
            Tool::Kubectl => self.kubectl.clone(),
            Tool::Microk8s => vec![self.microk8s.clone()],
            Tool::Resolvectl => vec![self.resolvectl.clone()],
            Tool::Df => vec![self.df.clone()],
        }
    }

    /// Uses `microk8s kubectl` when `kubectl` is not on `path` but `microk8s` is: a MicroK8s host
    /// often has no standalone kubectl, and its bundled one has the right kubeconfig.
    pub fn with_kubectl_fallback(mut self, path: Option<&OsStr>) -> Self {
        let kubectl = self.kubectl.first().cloned().unwrap_or_default();
        if find_on_path(&kubectl, path).is_none() && find_on_path(&self.microk8s, path).is_some() {
            self.kubectl = vec![self.microk8s.clone(), "kubectl".into()];
        }
        self
    }
}

/// The executable `name` would run as, searching `path` like `execvp` does.
pub fn find_on_path(name: &str, path: Option<&OsStr>) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let executable = |p: &std::path::Path| {
        p.metadata()
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    if name.contains('/') {
        let p = PathBuf::from(name);
        return executable(&p).then_some(p);
    }
    std::env::split_paths(path?)
        .map(|dir| dir.join(name))
        .find(|p| executable(p))
}

/// One program run. `Debug` and `display` show the redacted form only.
#[derive(Clone, PartialEq, Eq)]
pub struct Cmd {
    pub tool: Tool,
    args: Vec<String>,
    pub stdin: Option<Vec<u8>>,
    /// False for commands whose standard output is data (JSON, a kubeconfig with credentials):
    /// it is captured but not streamed line by line to the front end and the log.
    pub stream_stdout: bool,
    pub timeout: Option<Duration>,
    secrets: Vec<String>,
}

impl Cmd {
    pub fn new<I, S>(tool: Tool, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self {
            tool,
            args: args.into_iter().map(Into::into).collect(),
            stdin: None,
            stream_stdout: true,
            timeout: None,
            secrets: Vec::new(),
        }
    }

    pub fn juju<I: IntoIterator<Item = S>, S: Into<String>>(args: I) -> Self {
        Self::new(Tool::Juju, args)
    }

    pub fn kubectl<I: IntoIterator<Item = S>, S: Into<String>>(args: I) -> Self {
        Self::new(Tool::Kubectl, args)
    }

    pub fn microk8s<I: IntoIterator<Item = S>, S: Into<String>>(args: I) -> Self {
        Self::new(Tool::Microk8s, args)
    }

    /// Bytes given on standard input (otherwise it is /dev/null).
    pub fn with_stdin(mut self, bytes: Vec<u8>) -> Self {
        self.stdin = Some(bytes);
        self
    }

    pub fn quiet_stdout(mut self) -> Self {
        self.stream_stdout = false;
        self
    }

    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// A value that may appear in the argv but must be replaced by `***` wherever this command
    /// is shown or its output logged. Its JSON-escaped form is hidden too, since secrets usually
    /// travel inside a JSON argument.
    pub fn with_secret(mut self, value: &str) -> Self {
        if value.is_empty() {
            return self;
        }
        self.secrets.push(value.to_owned());
        if let Ok(json) = serde_json::to_string(value) {
            let inner = json[1..json.len() - 1].to_owned();
            if inner != value {
                self.secrets.push(inner);
            }
        }
        // Longest first so a secret containing another is hidden whole.
        self.secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        self
    }

    /// The real arguments, secrets included: only for handing to the process.
    pub fn args(&self) -> &[String] {
        &self.args
    }

    /// The arguments with every secret replaced by `***`: what a plan written to disk holds.
    pub fn shown_args(&self) -> Vec<String> {
        self.args.iter().map(|a| self.redact(a)).collect()
    }

    /// `text` with every secret of this command replaced by `***`.
    pub fn redact(&self, text: &str) -> String {
        self.secrets
            .iter()
            .fold(text.to_owned(), |t, s| t.replace(s.as_str(), "***"))
    }

    /// The command line as an operator would type it, shell-quoted and redacted.
    pub fn display(&self) -> String {
        self.display_with(&[self.tool.name().to_owned()])
    }

    /// The same with the program words actually used (`microk8s kubectl …`).
    pub fn display_with(&self, prefix: &[String]) -> String {
        let words: Vec<String> = prefix
            .iter()
            .chain(&self.args)
            .map(|a| shell_quote(a))
            .collect();
        self.redact(&words.join(" "))
    }
}

impl fmt::Debug for Cmd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Cmd({})", self.display())
    }
}

impl fmt::Display for Cmd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.display())
    }
}

/// Quotes a word for a POSIX shell so a displayed command can be pasted as is.
pub fn shell_quote(word: &str) -> String {
    let safe = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_./:=@%+,-".contains(c));
    if safe {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', r#"'\''"#))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_quotes_and_redacts() {
        let c = Cmd::juju(["bootstrap", "k8s", r#"x={"password":"p\"w"}"#]).with_secret("p\"w");
        assert_eq!(c.display(), r#"juju bootstrap k8s 'x={"password":"***"}'"#);
        assert_eq!(format!("{c:?}"), format!("Cmd({})", c.display()));
        assert_eq!(shell_quote("it's"), r#"'it'\''s'"#);
    }
}
