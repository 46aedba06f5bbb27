//! Environment checks. Each returns a `Check` saying what was seen (`evidence`: the command and
//! the relevant part of its output) and, when something is wrong, the exact fix. Checks only
//! read; they can be run again at any time.

pub mod containerd;
pub mod disk;
pub mod dns;
pub mod inotify;
pub mod juju;
pub mod kubernetes;
pub mod loadbalancer;
pub mod mirrors;
pub mod registry;
pub mod runtimes;
pub mod storage;

use serde::Serialize;

use super::cmd::Cmd;
use super::error::{RunError, last_lines};
use super::runner::{Output, Runner};

pub use containerd::check_containerd_trust;
pub use disk::check_disk;
pub use dns::check_dns;
pub use inotify::check_inotify;
pub use juju::{
    ControllerInfo, check_caas_image_repo, check_controller, check_juju_client, check_model,
};
pub use kubernetes::check_kubernetes;
pub use loadbalancer::{LoadBalancerHint, check_load_balancer};
pub use mirrors::{check_registry_mirrors, mirrors_declined};
pub use registry::{RegistryOutcome, check_registry};
pub use runtimes::{NodesSeen, see_nodes, zstd_verdict};
pub use storage::check_storage_class;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum CheckStatus {
    Pass,
    Warn,
    Fail,
    /// The operator chose to go on despite a failure; the reason is kept for the record.
    Skipped {
        reason: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    pub id: &'static str,
    pub title: String,
    pub status: CheckStatus,
    pub evidence: String,
    pub fix: Option<String>,
}

impl Check {
    pub fn new(id: &'static str, title: impl Into<String>, status: CheckStatus) -> Self {
        Self {
            id,
            title: title.into(),
            status,
            evidence: String::new(),
            fix: None,
        }
    }

    pub fn evidence(mut self, evidence: impl Into<String>) -> Self {
        self.evidence = evidence.into();
        self
    }

    pub fn fix(mut self, fix: impl Into<String>) -> Self {
        self.fix = Some(fix.into());
        self
    }

    /// The same check marked skipped by the operator; evidence and fix stay for the record.
    pub fn skip(mut self, reason: impl Into<String>) -> Self {
        self.status = CheckStatus::Skipped {
            reason: reason.into(),
        };
        self
    }

    pub fn passed(&self) -> bool {
        self.status == CheckStatus::Pass
    }

    /// A failure the operator has not (yet) chosen to skip.
    pub fn blocks(&self) -> bool {
        self.status == CheckStatus::Fail
    }
}

/// One command run for a check: its redacted command line and what came of it.
pub(crate) struct Probe {
    pub display: String,
    pub result: Result<Output, RunError>,
}

impl Probe {
    pub async fn run(runner: &Runner, cmd: Cmd) -> Self {
        let cmd = cmd.quiet_stdout();
        Self {
            display: runner.display(&cmd),
            result: runner.capture(&cmd).await,
        }
    }

    /// Standard output of a successful run.
    pub fn stdout(&self) -> Option<&str> {
        match &self.result {
            Ok(o) if o.success() => Some(&o.stdout),
            _ => None,
        }
    }

    pub fn json(&self) -> Option<serde_json::Value> {
        serde_json::from_str(self.stdout()?).ok()
    }

    /// Why the command gave no usable output, in one line.
    pub fn problem(&self) -> String {
        match &self.result {
            Ok(o) if o.success() => "unexpected output".to_owned(),
            Ok(o) => format!(
                "exit {}: {}",
                o.code.map_or("signal".to_owned(), |c| c.to_string()),
                last_lines(&o.stderr, 3)
            ),
            Err(e) => e.to_string(),
        }
    }

    /// `$ command` followed by what mattered in its output.
    pub fn evidence(&self, seen: &str) -> String {
        format!("$ {}\n{}", self.display, seen.trim_end())
    }

    pub fn evidence_problem(&self) -> String {
        self.evidence(&self.problem())
    }
}
