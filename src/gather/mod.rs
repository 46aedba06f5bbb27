//! The connected side's archive building blocks: images pulled daemonlessly
//! (`crate::registry::pull`) written as `docker save`-compatible members of `images.tar.gz`,
//! named by Canonical's retag rule, with `retagged-images.txt` beside them.

pub mod allowed_signers;
pub mod archive;
pub mod charmhub;
pub mod images;
pub mod lock;
pub mod lock_signature;
pub mod mixed_gzip;
pub mod tool_copy;
pub mod volume_writer;

pub use archive::{ImagesArchive, member_name, retag_name};
