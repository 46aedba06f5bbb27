//! Test harness: scripted fake tools first on PATH, their call log, and fixtures.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

use ckf_airgap::cluster::{Runner, Tools};
use serde_json::{Value, json};

pub const TOOLS: [&str; 5] = ["juju", "kubectl", "microk8s", "resolvectl", "df"];

pub struct Fakes {
    pub dir: tempfile::TempDir,
    pub bin: PathBuf,
    pub log: PathBuf,
    pub scenario: PathBuf,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    pub tool: String,
    pub args: Vec<String>,
    pub stdin: Option<String>,
}

impl Call {
    /// `tool arg arg …` for compact assertions.
    pub fn line(&self) -> String {
        std::iter::once(self.tool.as_str())
            .chain(self.args.iter().map(String::as_str))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

pub fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn fixtures() -> PathBuf {
    manifest_dir().join("tests/fakes/fixtures")
}

pub fn fixture(name: &str) -> String {
    std::fs::read_to_string(fixtures().join(name)).unwrap()
}

/// The interpreter itself, not a version-manager shim that needs more of PATH.
fn python() -> String {
    let out = Command::new("python3")
        .args(["-c", "import sys; print(sys.executable)"])
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

impl Fakes {
    /// Fakes for `tools` (a subset of `TOOLS`), with an empty scenario.
    pub fn new(tools: &[&str]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("bin");
        std::fs::create_dir(&bin).unwrap();
        let script = manifest_dir().join("tests/fakes/fake_tool.py");
        let py = python();
        for tool in tools {
            let path = bin.join(tool);
            std::fs::write(
                &path,
                format!(
                    "#!/bin/sh\nexec '{py}' -S '{}' {tool} \"$@\"\n",
                    script.display()
                ),
            )
            .unwrap();
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        let fakes = Self {
            log: dir.path().join("calls.jsonl"),
            scenario: dir.path().join("scenario.json"),
            bin,
            dir,
        };
        fakes.set_scenario(&json!({"rules": []}));
        fakes
    }

    pub fn all() -> Self {
        Self::new(&TOOLS)
    }

    pub fn set_scenario(&self, scenario: &Value) {
        std::fs::write(&self.scenario, serde_json::to_vec_pretty(scenario).unwrap()).unwrap();
    }

    /// Only the fakes are on PATH (their wrappers name /bin/sh and the interpreter by absolute
    /// path), so a real tool on the test machine can never answer.
    pub fn path(&self) -> String {
        self.bin.display().to_string()
    }

    pub fn runner(&self) -> Runner {
        Runner::new(Tools::default())
            .with_env("PATH", self.path())
            .with_env("FAKE_LOG", &self.log)
            .with_env("FAKE_SCENARIO", &self.scenario)
            .with_env("FAKE_FIXTURES", fixtures())
    }

    /// The environment a whole `ckf-airgap` process needs to meet these fakes.
    pub fn env(&self) -> Vec<(String, String)> {
        vec![
            ("PATH".into(), self.path()),
            ("FAKE_LOG".into(), self.log.display().to_string()),
            ("FAKE_SCENARIO".into(), self.scenario.display().to_string()),
            ("FAKE_FIXTURES".into(), fixtures().display().to_string()),
        ]
    }

    /// [`Fakes::env`] and `more`.
    pub fn env_with(&self, more: &[(&str, &str)]) -> Vec<(String, String)> {
        let mut env = self.env();
        env.extend(more.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        env
    }

    pub fn calls(&self) -> Vec<Call> {
        let Ok(text) = std::fs::read_to_string(&self.log) else {
            return Vec::new();
        };
        text.lines()
            .map(|l| {
                let v: Value = serde_json::from_str(l).unwrap();
                Call {
                    tool: v["tool"].as_str().unwrap().to_owned(),
                    args: v["args"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|a| a.as_str().unwrap().to_owned())
                        .collect(),
                    stdin: v["stdin"].as_str().map(str::to_owned),
                }
            })
            .collect()
    }

    pub fn lines(&self) -> Vec<String> {
        self.calls().iter().map(Call::line).collect()
    }

    pub fn path_in(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

/// A rule answering `tool args…` (exact argv) with a fixture file.
pub fn answer_file(tool: &str, args: &[&str], file: &str) -> Value {
    json!({"tool": tool, "args": args, "responses": [{"stdout_file": file}]})
}

/// A rule answering `tool args…` with text, stderr and exit code.
pub fn answer(tool: &str, args: &[&str], stdout: &str, stderr: &str, exit: i32) -> Value {
    json!({"tool": tool, "args": args, "responses": [{"stdout": stdout, "stderr": stderr, "exit": exit}]})
}

pub fn scenario(rules: Vec<Value>) -> Value {
    json!({ "rules": rules })
}

/// A current-thread runtime: the code under test needs nothing more.
pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

pub fn exists(p: &Path) -> bool {
    p.exists()
}
