//! `images.tar.gz`: one sequential pass over the gzip, each member (a
//! `docker save` tar) walked as a nested stream, verified, and spooled into a
//! content-addressed store.

mod context;
pub mod layout;
pub mod member;
mod pipe;
mod reader;
pub mod sink;
pub mod verify;

pub use reader::{
    ImageHooks, ImagesReport, NoHooks, ProcessOptions, SkippedMember, process_images,
};
