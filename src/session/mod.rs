//! Sessions on disk: atomic saves, a per-session lock, schema versions and migrations.

pub mod journal;
pub mod lock;
pub mod paths;
pub mod schema;
pub mod store;

pub use store::{Session, SessionError, SessionStore, SessionSummary};
