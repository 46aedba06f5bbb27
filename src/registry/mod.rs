//! Pushing images into the operator's registry.
//!
//! - [`RegistryTarget`] parses `host[:port][/prefix]`.
//! - [`RegistryClient`] holds TLS settings and credentials, and runs the [`RegistryClient::preflight`]
//!   that fails in seconds with a classified [`RegistryError`].
//! - [`Pusher`] pushes [`PushImage`]s: layers stream from disk, gzip on the fly, digests computed
//!   while uploading, streamed or in chunks (falling back when a proxy refuses a streamed
//!   body, resuming a cut upload from the registry's offset), a [`PushLedger`] for resume, retries and a stall watchdog, bounded
//!   concurrency, progress events and counters.

mod alias;
pub mod block_compress;
mod client;
mod credentials;
mod endpoints;
mod error;
mod layer_index;
mod ledger;
mod payload;
mod progress;
mod pull;
mod push;
mod staging;
mod target;
mod tls;
mod transfer;
mod upload;
mod upload_chunks;

pub use client::{
    PreflightReport, RegistryClient, RegistryConfig, RetryPolicy, UploadJournal, upload_id,
};
pub use credentials::{Credentials, ResolvedCredentials, Secret, docker_config_credentials};
pub use error::RegistryError;
pub use ledger::{JsonFileLedger, LedgerState, MemoryLedger, PushLedger, PushedBlob};
pub use progress::{
    ImageState, LayerState, NoProgress, PushProgress, PushStats, StatsSnapshot, UploadFormChange,
};
pub use pull::{Platform, ResolvedImage};
pub use push::{
    BlobFile, ImageFailure, LayerCompression, LayerFile, PushFailure, PushImage, PushOptions,
    PushOutcome, PushReport, PushedImage, Pusher, STAGING_REPOSITORY, StoredAs,
};
pub use staging::{Commit, Finished, Opened, StagedFile, StagingArea, UncommittedBlob};
pub use target::RegistryTarget;
pub use tls::{CertInfo, CertSummary, TlsOptions};
pub use transfer::{ChunkedSince, DEFAULT_CHUNK, MIN_CHUNK, UploadMode};
pub use upload::CancelCheck;
pub use upload_chunks::StagedUpload;
