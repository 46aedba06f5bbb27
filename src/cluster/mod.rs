//! Everything that talks to the cluster: environment checks, Juju setup, the deploy plan and its
//! execution, watching the model settle and telling the operator how to log in.
//!
//! Every external program (`juju`, `kubectl`, `microk8s`, `resolvectl`, `df`) runs through
//! `runner::Runner` by name on `PATH` with an argument vector, never through a shell, so tests
//! put scripted fakes first on `PATH` and the real tools are never needed here.

pub mod checks;
pub mod cmd;
pub mod deploy;
pub mod diagnose;
pub mod error;
pub mod finish;
pub mod image_map;
pub mod juju_crossing;
pub mod juju_setup;
pub mod juju_status;
pub mod nodes;
pub mod plan;
pub mod pod_images;
pub mod registry_mirrors;
pub mod runner;
pub mod trust;
pub mod upgrade_plan;
pub mod watch;
pub mod yaml_out;

pub use crate::ckf_release::CkfRelease;
pub use crate::version::Version;
pub use checks::{Check, CheckStatus};
pub use cmd::{Cmd, Tool, Tools};
pub use error::RunError;
pub use runner::{Output, RunEvent, Runner, Stream};
