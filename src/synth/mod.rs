//! Deterministic synthetic releases for tests, benchmarks and demos: images
//! in every `docker save` flavour with shared base layers, `.charm` zips, and
//! `images.tar.gz` / `charms.tar.gz` packed flat like Canonical's scripts.
//! Everything streams through files, so multi-GB releases need little memory.

pub mod charm;
pub mod content;
pub mod member;
pub mod names;
pub mod pack;
pub mod raw;
pub mod release;

pub use charm::{CharmSpec, SynthCharmKind, build_charm_zip, charm_zip_from_dir, default_charms};
pub use member::{Form, ImageSpec, LayerSpec, MemberOptions, write_member, write_oci_layout};
pub use names::{CKF_IMAGES, member_file_name};
pub use pack::{gzip_file, pack_charms_gz, pack_images_gz};
pub use release::{ReleaseSpec, SynthRelease, generate_named_release, generate_release};
