//! CKF release bundles (1.8 to 1.11: charms by name and channel, no placeholders, no
//! resources): which form a bundle is and which release, what each application needs read
//! from its own charm, and where each needed image is in the archives.

pub mod form;
pub mod needs;
pub mod runtime_images;
pub mod upgrade_pairs;
pub mod upgrade_path;

pub use form::{BundleForm, DetectedRelease, detect_form, detect_release, release_of_channels};
pub use needs::{
    AppNeeds, ArchiveIndex, MissingItem, ReleaseCheck, check_release, release_needs,
    release_needs_as,
};
