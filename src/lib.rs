//! ckf-airgap: a resumable wizard for installing Charmed Kubeflow in an air-gapped environment.
//! See docs/ARCHITECTURE.md for the map of these modules.

pub mod answers;
pub mod artifacts;
pub mod bundle;
pub mod byte_size;
pub mod charm_kind;
pub mod ckf_release;
pub mod cli;
pub mod cluster;
pub mod commands;
pub mod demo;
pub mod durable;
pub mod engine;
pub mod frontend;
pub mod gateway_type;
pub mod gather;
pub mod image_ref;
pub mod logging;
pub mod oci;
pub mod registry;
pub mod release;
pub mod run;
pub mod secret;
pub mod session;
pub mod shown_text;
pub mod signals;
pub mod synth;
pub mod version;
pub mod wizard;
