//! Typed errors. Every message names the registry host and says what the operator can do,
//! because these texts are shown as-is in the wizard.

use std::path::PathBuf;
use std::time::Duration;

use super::tls::CertSummary;

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("invalid registry address {input:?}: {reason}")]
    InvalidTarget { input: String, reason: String },

    #[error("cannot use {what} {path}: {detail}. Check the path and that the file is a PEM file.")]
    TlsFile {
        what: &'static str,
        path: PathBuf,
        detail: String,
    },

    #[error(
        "the certificate of {host} is not trusted: it was issued by {issuer:?}, which is not a \
         known certificate authority.\n{chain}\nGive the registry's CA certificate with the CA \
         file option, or put it in a certs.d directory as <certs.d>/{authority}/ca.crt (skipping \
         verification with the insecure option is possible, but containerd in the cluster will \
         refuse the registry later)."
    )]
    CertNotTrusted {
        host: String,
        authority: String,
        issuer: String,
        chain: CertSummary,
    },

    #[error(
        "the certificate of {host} is not valid for the name {host}: it is valid for {sans}.\n{chain}\n\
         Connect with one of those names, or have the registry's certificate reissued with \
         {host} in its subject alternative names."
    )]
    CertNameMismatch {
        host: String,
        sans: String,
        chain: CertSummary,
    },

    #[error(
        "the certificate of {host} is outside its validity period (valid from {not_before} until \
         {not_after}).\n{chain}\nRenew the registry's certificate, or check this machine's clock."
    )]
    CertExpired {
        host: String,
        not_before: String,
        not_after: String,
        chain: CertSummary,
    },

    #[error(
        "TLS handshake with {host} failed: {detail}. Check the registry's TLS configuration and the CA/client certificate options."
    )]
    Tls { host: String, detail: String },

    #[error(
        "{host} answered in plain HTTP to a TLS (HTTPS) connection. If this registry really \
         serves plain HTTP, choose the plain-HTTP option (Juju and containerd will refuse it \
         later unless configured for it); otherwise check the port."
    )]
    PlainHttpServer { host: String },

    #[error(
        "connection to {host} refused: nothing listens on that port. Check that the registry is running and the host and port are right."
    )]
    ConnectionRefused { host: String },

    #[error(
        "the name {host} cannot be resolved (DNS failure: {detail}). Check the spelling, /etc/hosts or the DNS server."
    )]
    Dns { host: String, detail: String },

    #[error(
        "{host} did not answer within {after:?} ({during}). Check the network path (firewall, proxy) and that the registry is healthy."
    )]
    Timeout {
        host: String,
        after: Duration,
        during: String,
    },

    #[error(
        "{host} made no progress for {after:?} while {during}; the transfer was aborted. Check the registry's health and its storage."
    )]
    Stalled {
        host: String,
        after: Duration,
        during: String,
    },

    #[error(
        "{host} rejected the credentials{user} (401 Unauthorized). Check the user name and password, or the credentials in Docker's config.json."
    )]
    Unauthorized { host: String, user: String },

    #[error(
        "{host} refused to let {user} push to {repository} (403 Forbidden: {detail}). Give the user push permission on that repository or project."
    )]
    Forbidden {
        host: String,
        user: String,
        repository: String,
        detail: String,
    },

    #[error(
        "{host} has no repository or project for {repository} ({detail}). Create the project in the registry first (Harbor needs it), or change the path prefix."
    )]
    RepositoryNotFound {
        host: String,
        repository: String,
        detail: String,
    },

    #[error(
        "{host} does not look like a container registry: GET {url} answered {status}. Check the host, port and path."
    )]
    NotARegistry {
        host: String,
        url: String,
        status: u16,
    },

    #[error("{host} answered {status} to {request}: {detail}{hint}")]
    Http {
        host: String,
        /// "METHOD url"
        request: String,
        status: u16,
        detail: String,
        retry_after: Option<Duration>,
        hint: &'static str,
    },

    #[error(
        "{host} no longer knows an upload it had begun ({request}: {detail}), as after a restart \
         that lost its upload state: the layer is sent again from its beginning"
    )]
    UploadLost {
        host: String,
        request: String,
        detail: String,
    },

    #[error(
        "{host} lost the upload of a layer being read from the archive after {bytes} bytes \
         ({detail}: a restart that dropped its upload state); the bytes already sent are not \
         kept, so the archive member is read again"
    )]
    StagedUploadLost {
        host: String,
        bytes: u64,
        detail: String,
    },

    #[error(
        "network error talking to {host} ({during}): {detail}. It is retried; if it persists check the network and the registry."
    )]
    Network {
        host: String,
        during: String,
        detail: String,
        retryable: bool,
    },

    #[error(
        "{host} did not mount blob {digest} from {from} into {to} (cross-repository mounts off, \
         or the blob was removed since), and the layer was pushed while the archive was read, \
         so there is no local copy to upload. Retry with spool_before_push = true in the \
         registry answers: the archive is then spooled and every layer uploaded from disk."
    )]
    MountRefused {
        host: String,
        digest: String,
        from: String,
        to: String,
    },

    #[error(
        "{host} did not mount blob {digest} from {from} into {to} (cross-repository mounts are \
         off), so {to} cannot name the same image: allow blob mounts in the registry (Harbor: \
         both repositories in one project) and retry"
    )]
    CopyRefused {
        host: String,
        digest: String,
        from: String,
        to: String,
    },

    #[error(
        "{host} (or a proxy in front of it) refused a streamed upload: {detail}. The push goes \
         on with chunked uploads of at most {chunk_size} bytes for the rest of this session; \
         set the chunk size option if this proxy's limit is lower."
    )]
    StreamRefused {
        host: String,
        detail: String,
        chunk_size: u64,
    },

    #[error(
        "{host}: the manifest of {reference} has digest {actual} in the registry, but {expected} was pushed. Something else is writing the same tag; push again."
    )]
    ManifestMismatch {
        host: String,
        reference: String,
        expected: String,
        actual: String,
    },

    #[error(
        "{host} sent {what} of {reference} hashing to {actual}, not {expected}; it is fetched again, and if it persists the registry or a proxy in between is damaging it"
    )]
    PulledCorrupt {
        host: String,
        reference: String,
        what: String,
        expected: String,
        actual: String,
    },

    #[error(
        "{host} has no image {reference}: check the name and tag, or whether it was removed upstream"
    )]
    ImageNotFound { host: String, reference: String },

    #[error(
        "{host}: {reference} has no image for {platform} (it has: {available}); choose one of those platforms"
    )]
    NoPlatform {
        host: String,
        reference: String,
        platform: String,
        available: String,
    },

    #[error(
        "layer file {path} is corrupt: its content hashes to {actual}, but the image expects {expected}. Nothing was committed to {host}; re-copy the archive from the release media."
    )]
    LayerCorrupt {
        host: String,
        path: PathBuf,
        expected: String,
        actual: String,
    },

    #[error(
        "cannot read {path} while pushing to {host}: {source}. Check the file is present and readable."
    )]
    Io {
        host: String,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error(
        "cannot read Docker credentials for {host} from {path}: {detail}. Fix the file, or give a user name and password instead."
    )]
    DockerConfig {
        host: String,
        path: PathBuf,
        detail: String,
    },

    #[error(
        "the Docker credential helper docker-credential-{helper} failed for {host}: {detail}. Run `docker login {host}` again, or give a user name and password instead."
    )]
    CredentialHelper {
        host: String,
        helper: String,
        detail: String,
    },

    #[error(
        "cannot record push progress for {host}: {detail}. Check the disk holding the session (space, permissions); the push stopped so that a resume stays correct."
    )]
    Ledger { host: String, detail: String },

    #[error("the HTTP client for {host} could not be built: {detail}")]
    ClientSetup { host: String, detail: String },

    #[error("push to {host} cancelled")]
    Cancelled { host: String },
}

impl RegistryError {
    /// Transient failures that a new attempt can fix. Configuration errors (TLS, credentials,
    /// permissions) are not: retrying them only delays the message the operator needs.
    pub fn is_retryable(&self) -> bool {
        match self {
            RegistryError::Timeout { .. }
            | RegistryError::Stalled { .. }
            | RegistryError::ConnectionRefused { .. }
            | RegistryError::StreamRefused { .. }
            | RegistryError::UploadLost { .. }
            | RegistryError::PulledCorrupt { .. } => true,
            RegistryError::Network { retryable, .. } => *retryable,
            RegistryError::Http { status, .. } => {
                *status == 408 || *status == 429 || *status >= 500
            }
            _ => false,
        }
    }

    /// The registry stopped answering or forgot what it held for us (a restart, an outage),
    /// rather than refusing the request: reading the archive again once it answers again is
    /// worth it.
    pub fn is_outage(&self) -> bool {
        matches!(self, RegistryError::StagedUploadLost { .. }) || self.is_retryable()
    }

    /// The delay the server asked for with `Retry-After`, if any.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            RegistryError::Http { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}
