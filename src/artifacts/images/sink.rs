//! Where a member's large files go when they are not spooled: the engine's streaming push
//! hands them to the registry while they are read. The reader hashes every byte it hands on
//! and verifies the image before anything becomes permanent: a [`SentFile`] is only committed
//! by [`super::verify::commit_files`], after verification, and dropped otherwise. The one
//! file it reads without hashing is a second copy of one it has already proved in this pass
//! (same name, which promises the digest, and same size) whose bytes the sink throws away
//! ([`SentFile::discards`]): those bytes reach nothing, and the copy that does was checked.

use std::io;

use super::member::Compression;

/// Opens a destination for one large file of a member, or says to spool it (`None`).
pub trait FileSink: Send + Sync {
    /// `head` is the file's first chunk (to tell a layer from metadata), `compression` what
    /// the reader found it to be.
    fn open(
        &self,
        path: &str,
        head: &[u8],
        compression: Compression,
    ) -> io::Result<Option<Box<dyn SentFile>>>;
}

/// One file on its way out.
pub trait SentFile: Send {
    fn write(&mut self, chunk: &[u8]) -> io::Result<()>;
    /// The bytes written go nowhere (the destination holds this file already).
    fn discards(&self) -> bool {
        false
    }
    /// Every byte is written; `digest` is theirs, computed by the reader.
    fn finish(self: Box<Self>, digest: &crate::oci::Digest) -> io::Result<Box<dyn SentBlob>>;
}

/// A file the destination holds, not yet committed.
pub trait SentBlob: Send {
    /// The file verified as part of an image: make it permanent. Dropping a `SentBlob`
    /// without committing it discards it.
    fn commit(self: Box<Self>) -> io::Result<()>;
}
