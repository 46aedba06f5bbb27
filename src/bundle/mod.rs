//! Reading, checking and minimally editing Charmed Kubeflow air-gapped bundles.
//!
//! Flow: parse (`model::Bundle`, `yaml::Document`) → find image references with their exact
//! bytes (`scan`) → map them (`mapping`) → turn choices into byte splices (`rewrite`,
//! `charms`, `gateway`, `podspec`) → apply and verify (`edit`, `verify`) → preview (`diff`)
//! → write a new file atomically (`write`). The original bundle is never written.

pub mod charms;
pub mod diff;
pub mod edit;
pub mod error;
pub mod gateway;
pub mod leftover;
pub mod mapping;
pub mod model;
pub mod podspec;
pub mod rewrite;
pub mod scalar;
pub mod scan;
pub mod text;
pub mod validate;
pub mod verify;
pub mod write;
pub mod yaml;

pub use crate::image_ref::{ImageRef, RefShape};
pub use edit::{Edit, EditKind, EditPlan, Edited};
pub use error::{BundleError, Result};
pub use mapping::{MappingTable, MatchStatus, PushedTargets};
pub use model::{Application, Bundle, Endpoint, Relation};
pub use podspec::{CharmKind, PodSpecWarning, SeparatelyDeployed};
pub use scan::{ImageRefSite, RefForm};
pub use yaml::{Document, PathSeg};
