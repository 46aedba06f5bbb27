//! One error type for the whole module. Every variant names the archive and
//! member involved and carries a short cause and fix, because the operator
//! reading it is usually in a data centre with no one to ask.

use std::path::PathBuf;

use thiserror::Error;

#[derive(Debug, Error)]
pub enum ArtifactError {
    /// A volume of `images.tar.gz` missing, extra, out of order or damaged, named.
    #[error("{archive}: {why}")]
    Volume { archive: String, why: String },

    #[error("cannot open {path}: {source}. Fix: check the path and its permissions.")]
    Open {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error(
        "{archive}: the copy is incomplete ({detail}) while reading {member}. \
         Cause: the file was cut short (interrupted copy or a full disk when it was made). \
         Fix: copy {archive} again and compare its sha256 with the source."
    )]
    Truncated {
        archive: String,
        member: String,
        detail: String,
    },

    #[error(
        "{archive}: the data is corrupt while reading {member}: {detail}. \
         Fix: copy {archive} again and compare its sha256 with the source."
    )]
    Corrupt {
        archive: String,
        member: String,
        detail: String,
    },

    #[error(
        "{archive}: member {member} is a {kind}, not a file. images.tar.gz holds only docker save \
         .tar files (and folders). Fix: rebuild the archive without links or special files \
         (tar without -h keeps links as links; copy the image tars themselves)."
    )]
    UnsupportedMember {
        archive: String,
        member: String,
        kind: &'static str,
    },

    #[error(
        "{archive} holds no image: no docker save .tar member was found. Fix: check that this is \
         the images archive (not charms.tar.gz) and that it was built whole."
    )]
    NoImages { archive: String },

    #[error(
        "{archive}: member {member} is not a tar archive ({detail}); the outer archive is intact. \
         Cause: that image was not saved with docker save (or its save failed and left other \
         data). Fix: save that image again on the connected side and rebuild the archive."
    )]
    MemberNotTar {
        archive: String,
        member: String,
        detail: String,
    },

    #[error(
        "{archive}: member {member} contains an unsafe path {path:?} ({why}). \
         Cause: the archive was not made by docker save/tar as expected or was tampered with. \
         Fix: regenerate the archive with the CKF airgap scripts."
    )]
    UnsafePath {
        archive: String,
        member: String,
        path: String,
        why: &'static str,
    },

    #[error(
        "{archive}: member {member} has a link {path:?} -> {target:?} that points outside the member. \
         Fix: regenerate the archive; image archives never need links leaving the image."
    )]
    LinkEscapes {
        archive: String,
        member: String,
        path: String,
        target: String,
    },

    #[error(
        "{archive}: member {member} contains {path:?}, a {kind} (device or fifo), which an image archive never holds. \
         Fix: regenerate the archive."
    )]
    SpecialFile {
        archive: String,
        member: String,
        path: String,
        kind: &'static str,
    },

    #[error(
        "{archive}: member {member} is empty. Cause: `docker save` failed when the release was built \
         (the CKF script does not check its exit status). Fix: re-save that image and rebuild the archive."
    )]
    EmptyMember { archive: String, member: String },

    #[error(
        "{archive}: image {reference} appears in member {first} and again in member {second}. \
         Fix: keep one copy of the image in the archive (two source images collapsed to one name?)."
    )]
    DuplicateImage {
        archive: String,
        reference: String,
        first: String,
        second: String,
    },

    #[error(
        "{archive}: member {member} holds {path:?} twice. Cause: the member was not written by \
         docker save (a tar appended to, or tampered with); which copy an image tool takes \
         differs from tool to tool, so neither is taken. Fix: save the image again and rebuild \
         the archive."
    )]
    DuplicateEntry {
        archive: String,
        member: String,
        path: String,
    },

    #[error(
        "{archive}: member {member} appears twice in the archive, with different contents \
         ({difference}). Cause: two images saved under one file name (the archive was appended \
         to). Fix: rebuild the archive with one file name per image."
    )]
    RepeatedMember {
        archive: String,
        member: String,
        difference: String,
    },

    #[error(
        "{archive}: member {member}: {what} names {path:?}, which is not in the member. \
         Cause: incomplete docker save. Fix: re-save the image and rebuild the archive."
    )]
    MissingFile {
        archive: String,
        member: String,
        what: String,
        path: String,
    },

    #[error(
        "{archive}: member {member} has no manifest.json and no index.json, so it is not a docker save archive. \
         Fix: rebuild the archive with `docker save` output only."
    )]
    NotAnImage { archive: String, member: String },

    #[error(
        "{archive}: member {member}: cannot tell the image name ({detail}). \
         Fix: save the image by tag (`docker save repo:tag`), not by id or digest."
    )]
    NoImageName {
        archive: String,
        member: String,
        detail: String,
    },

    #[error("{archive}: member {member}: bad {file}: {detail}. Fix: regenerate the archive.")]
    BadMetadata {
        archive: String,
        member: String,
        file: String,
        detail: String,
    },

    #[error(
        "{archive}: member {member}: {file} is {size} bytes, over the {limit}-byte limit for metadata. \
         Fix: this is not a normal docker save file; regenerate the archive."
    )]
    MetadataTooLarge {
        archive: String,
        member: String,
        file: String,
        size: u64,
        limit: u64,
    },

    #[error(
        "{}: member {}: image {}, layer {}: digest mismatch, expected {}, got {}. \
         Cause: corrupted copy or altered layer. Fix: copy the archive again and compare its sha256.",
        .0.archive, .0.member, .0.image, .0.item, .0.expected, .0.actual
    )]
    LayerDigestMismatch(Box<DigestMismatch>),

    #[error(
        "{}: member {}: image {}: config {} has digest {}, expected {}. \
         Fix: copy the archive again and compare its sha256.",
        .0.archive, .0.member, .0.image, .0.item, .0.actual, .0.expected
    )]
    ConfigDigestMismatch(Box<DigestMismatch>),

    #[error(
        "{archive}: member {member}: image {image} lists {layers} layers but its config has {diff_ids} diff_ids. \
         Fix: regenerate the archive."
    )]
    LayerCountMismatch {
        archive: String,
        member: String,
        image: String,
        layers: usize,
        diff_ids: usize,
    },

    #[error(
        "{archive}: member {member}: layer {layer} of {image} is {compression}-compressed and cannot be verified \
         without an OCI manifest digest. Fix: save the image with gzip or uncompressed layers."
    )]
    UnsupportedCompression {
        archive: String,
        member: String,
        image: String,
        layer: String,
        compression: &'static str,
    },

    #[error(
        "the disk holding {work_dir} is full: about {needed} more bytes are needed ({context}). \
         Fix: free space there, or choose a work directory on a larger disk."
    )]
    DiskFull {
        work_dir: PathBuf,
        needed: u64,
        context: String,
    },

    #[error("I/O error on {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error(
        "cancelled by the operator; files already verified stay in the work directory for a resume"
    )]
    Cancelled,

    #[error("stopped after image {image}: {reason}")]
    Stopped { image: String, reason: String },

    #[error(
        "{archive}: {path} of member {member} could not be sent to the registry: {detail}. The \
         archive itself is fine. Fix the registry connection and retry: the step resumes at this \
         member (or set spool_before_push to push after the login)."
    )]
    SinkFailed {
        archive: String,
        member: String,
        path: String,
        detail: String,
    },

    #[error(
        "{archive}: member {member} is not a charm file name (`<name>_<sha7>.charm` or `<name>_r<rev>.charm`). \
         Fix: rebuild charms.tar.gz with the CKF script (`juju download` output)."
    )]
    BadCharmName { archive: String, member: String },

    #[error(
        "{archive}: charm {member}: {detail}. Fix: download the charm again with `juju download`."
    )]
    BadCharm {
        archive: String,
        member: String,
        detail: String,
    },
}

/// Details of a digest check that failed (boxed: it is the largest variant).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DigestMismatch {
    pub archive: String,
    pub member: String,
    pub image: String,
    /// The layer or config path inside the member.
    pub item: String,
    pub expected: String,
    pub actual: String,
}

impl ArtifactError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        ArtifactError::Io {
            path: path.into(),
            source,
        }
    }
}

pub type Result<T> = std::result::Result<T, ArtifactError>;
