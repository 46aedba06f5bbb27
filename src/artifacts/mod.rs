//! Reading, verifying and spooling the air-gapped release artifacts
//! (`images.tar.gz` and `charms.tar.gz`) without ever holding a layer in memory.

pub mod charm_images;
pub mod charms;
pub mod disk;
pub mod error;
pub mod images;
pub mod inventory;
pub mod progress;
pub mod safety;
pub mod spool;
pub mod volumes;

pub use charms::{CharmInfo, CharmKind, CharmOption, CharmResource, process_charms};
pub use disk::{DiskPlan, SpaceEstimate, SpoolMode, estimate_space, free_space, plan_disk};
pub use error::ArtifactError;
pub use images::{ImageHooks, ImagesReport, NoHooks, ProcessOptions, process_images};
pub use inventory::{
    CrossCheck, DeploymentNeeds, ImageRecord, Inventory, LayerRecord, cross_check,
    load_image_records, remove_image_spool,
};
pub use progress::{NoProgress, ProgressEvent, ProgressSink};
