//! Walks the inner tar of one member (a `docker save` output) as a nested
//! stream. Every regular file is hashed while it is written to a spool temp
//! file (or kept in memory when small), in the same pass; gzip layer blobs are
//! also inflated on the fly to get their diff_id. Nothing is renamed into the
//! blob store here: the digests are checked only once the member's metadata,
//! which docker puts after the layers, has been read.
//!
//! One exception to hashing every file: a `docker save` per image repeats each shared layer
//! in every image's member (a third of the benchmark release's 2.7 GB). A copy whose name
//! promises a digest this pass already proved, at the same size, and whose bytes the sink
//! discards, is read past without hashing: it takes the proved file's digests.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::io::{self, Read, Write};

use sha2::{Digest as _, Sha256};

use crate::oci::Digest;

use super::context::Ctx;
use crate::artifacts::error::{ArtifactError, Result};
use crate::artifacts::safety::{normalize_entry_path, resolve_link_target};
use crate::artifacts::spool::{BlobStore, TempFile};

use super::sink::{FileSink, SentBlob, SentFile};

/// Files at most this big are kept in memory: metadata and tiny layers.
const INLINE_MAX: u64 = 1 << 20;
/// Bound on all in-memory files of one member.
const INLINE_TOTAL_MAX: u64 = 64 << 20;
/// Cap on any metadata file that is parsed.
pub const METADATA_MAX: u64 = 16 << 20;
const CHUNK: usize = 256 << 10;
const MAX_LINK_HOPS: usize = 16;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

impl Compression {
    fn sniff(head: &[u8]) -> Compression {
        if head.starts_with(&[0x1f, 0x8b]) {
            Compression::Gzip
        } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Compression::Zstd
        } else {
            Compression::None
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Gzip => "gzip",
            Compression::Zstd => "zstd",
        }
    }
}

pub enum Held {
    Memory(Vec<u8>),
    Temp(TempFile),
    /// Handed to a [`FileSink`] while read (the streaming push).
    Sent(Box<dyn SentBlob>),
}

/// Where a file's bytes go while it is read.
enum Dest {
    Memory(Vec<u8>),
    Temp(TempFile),
    Sent(Box<dyn SentFile>),
}

pub struct FileEntry {
    pub sha256: Digest,
    pub size: u64,
    pub compression: Compression,
    /// sha256 and size of the inflated stream, for gzip blobs.
    pub uncompressed: Option<(Digest, u64)>,
    pub held: Option<Held>,
}

#[derive(Default)]
pub struct MemberContents {
    pub files: HashMap<String, FileEntry>,
    /// Link path → member-relative target (already checked to stay inside).
    pub links: HashMap<String, String>,
}

/// What a member holds, file by file: two members with equal prints hold the same bytes in
/// every file and the same links (their tar headers may differ).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemberPrint {
    files: BTreeMap<String, (u64, Digest)>,
    links: BTreeMap<String, String>,
}

impl MemberPrint {
    /// The first difference from `other`, in the operator's words; None when they are equal.
    pub fn difference(&self, other: &MemberPrint) -> Option<String> {
        for (path, (size, digest)) in &self.files {
            match other.files.get(path) {
                None => return Some(format!("{path:?} is only in the first")),
                Some((s, d)) if s != size || d != digest => {
                    return Some(format!(
                        "{path:?} differs: {} against {}",
                        digest.short(),
                        d.short()
                    ));
                }
                Some(_) => {}
            }
        }
        if let Some(path) = other.files.keys().find(|p| !self.files.contains_key(*p)) {
            return Some(format!("{path:?} is only in the second"));
        }
        (self.links != other.links).then(|| "their links differ".to_string())
    }
}

impl MemberContents {
    pub fn print(&self) -> MemberPrint {
        MemberPrint {
            files: self
                .files
                .iter()
                .map(|(p, f)| (p.clone(), (f.size, f.sha256.clone())))
                .collect(),
            links: self
                .links
                .iter()
                .map(|(a, b)| (a.clone(), b.clone()))
                .collect(),
        }
    }

    /// Follows links (both symlinks and hard links) to a regular file.
    pub fn resolve(&self, path: &str) -> Option<(String, &FileEntry)> {
        let mut p = path.to_string();
        for _ in 0..MAX_LINK_HOPS {
            if let Some(f) = self.files.get(&p) {
                return Some((p, f));
            }
            p = self.links.get(&p)?.clone();
        }
        None
    }

    pub fn read_small(&self, ctx: &Ctx, path: &str) -> Result<Vec<u8>> {
        let (real, f) = self
            .resolve(path)
            .ok_or_else(|| ctx.missing("the metadata", path))?;
        if f.size > METADATA_MAX {
            return Err(ArtifactError::MetadataTooLarge {
                archive: ctx.archive.to_string(),
                member: ctx.member.to_string(),
                file: real,
                size: f.size,
                limit: METADATA_MAX,
            });
        }
        match &f.held {
            Some(Held::Memory(b)) => Ok(b.clone()),
            Some(Held::Temp(t)) => {
                std::fs::read(t.path()).map_err(|e| ArtifactError::io(t.path(), e))
            }
            Some(Held::Sent(_)) => Err(ctx.bad_metadata(
                path,
                "a metadata file larger than 1 MiB; spool the archive instead of streaming it",
            )),
            None => Err(ctx.missing("the metadata (already consumed)", path)),
        }
    }
}

/// Hashes what is written to it; the sink of the inflater for gzip layers.
struct HashSink {
    hasher: Sha256,
    len: u64,
}

impl Write for HashSink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.hasher.update(buf);
        self.len += buf.len() as u64;
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

pub struct MemberOptions<'a> {
    pub inflate_gzip: bool,
    /// Large files go here instead of the spool.
    pub sink: Option<&'a dyn FileSink>,
    /// Files this pass hashed and found to hold what their names promise, across members.
    pub proven: &'a RefCell<ProvenFiles>,
}

/// What a file proved in this pass was found to be.
#[derive(Clone)]
struct Proven {
    size: u64,
    compression: Compression,
    uncompressed: Option<(Digest, u64)>,
}

/// Files whose bytes hashed to the digest their names promise, by that digest.
#[derive(Default)]
pub struct ProvenFiles(HashMap<Digest, Proven>);

impl ProvenFiles {
    fn get(&self, digest: &Digest, size: u64, compression: Compression) -> Option<Proven> {
        self.0
            .get(digest)
            .filter(|p| p.size == size && p.compression == compression)
            .cloned()
    }
}

pub fn read_member<R: Read>(
    reader: R,
    ctx: &Ctx,
    store: &mut BlobStore,
    opts: &MemberOptions,
    on_chunk: &mut dyn FnMut(),
) -> Result<MemberContents> {
    let mut out = MemberContents::default();
    let mut inline_total = 0u64;
    let mut ar = tar::Archive::new(reader);
    let entries = ar
        .entries()
        .map_err(|e| ctx.read_error(e, "reading the image tar"))?;
    let mut buf = vec![0u8; CHUNK];
    for (seen, entry) in entries.enumerate() {
        if ctx.cancelled() {
            return Err(ArtifactError::Cancelled);
        }
        let mut entry = entry.map_err(|e| {
            // A first header that does not parse, with the outer stream inflating cleanly, is
            // a member that is not a tar at all: say so rather than blame the whole archive.
            let text = e.to_string();
            let outer = text.contains("deflate") || text.contains("gzip") || text.contains("crc");
            if seen == 0 && e.kind() != std::io::ErrorKind::UnexpectedEof && !outer {
                ArtifactError::MemberNotTar {
                    archive: ctx.archive.to_string(),
                    member: ctx.member.to_string(),
                    detail: text,
                }
            } else {
                ctx.read_error(e, "reading an entry header")
            }
        })?;
        let raw = entry.path_bytes().into_owned();
        let path = normalize_entry_path(&raw).map_err(|why| ctx.unsafe_path(&raw, why))?;
        let kind = entry.header().entry_type();
        if path.is_empty() || kind.is_dir() {
            continue;
        }
        if kind.is_symlink() || kind.is_hard_link() {
            let resolved = link_target(&entry, &path, ctx)?;
            if out.files.contains_key(&path) || out.links.contains_key(&path) {
                return Err(ctx.duplicate_entry(&path));
            }
            out.links.insert(path, resolved);
            continue;
        }
        let special = if kind.is_character_special() {
            Some("character device")
        } else if kind.is_block_special() {
            Some("block device")
        } else if kind.is_fifo() {
            Some("fifo")
        } else {
            None
        };
        if let Some(kind) = special {
            return Err(ArtifactError::SpecialFile {
                archive: ctx.archive.to_string(),
                member: ctx.member.to_string(),
                path,
                kind,
            });
        }
        if !(kind.is_file() || kind.is_contiguous()) {
            // pax/GNU extension headers are consumed by the tar crate; any other
            // kind carries nothing an image needs.
            continue;
        }
        if out.files.contains_key(&path) || out.links.contains_key(&path) {
            return Err(ctx.duplicate_entry(&path));
        }
        let size = entry.size();
        let in_memory = size <= INLINE_MAX && inline_total + size <= INLINE_TOTAL_MAX;
        if in_memory {
            inline_total += size;
        }
        // Decided at the first chunk: a sink may stream a file too large to keep in memory
        // instead of the spool.
        let mut dest = Dest::Memory(Vec::new());
        let promised = Digest::promised_by_name(&path);
        // Set at the first chunk when this is a copy of a file already proved, going nowhere:
        // the digest it was proved to have, and what else was found.
        let mut copy_of: Option<(Digest, Proven)> = None;
        let mut hasher = Sha256::new();
        let mut inflater: Option<flate2::write::MultiGzDecoder<HashSink>> = None;
        let mut compression = Compression::None;
        let mut got = 0u64;
        loop {
            let n = read_full(&mut entry, &mut buf)
                .map_err(|e| ctx.read_error(e, &format!("reading {path}")))?;
            if n == 0 {
                break;
            }
            let chunk = &buf[..n];
            if got == 0 {
                compression = Compression::sniff(chunk);
                // Only files too large to keep in memory (layers) are offered to a sink; small
                // ones past the in-memory budget are spooled, metadata among them.
                if !in_memory {
                    let sent = match opts.sink {
                        Some(s) if size > INLINE_MAX => s
                            .open(&path, chunk, compression)
                            .map_err(|e| ctx.sink_failed(&path, e))?,
                        _ => None,
                    };
                    dest = match sent {
                        Some(s) => Dest::Sent(s),
                        None => Dest::Temp(store.temp()?),
                    };
                }
                if let (Dest::Sent(s), Some(d)) = (&dest, &promised)
                    && s.discards()
                {
                    copy_of = opts
                        .proven
                        .borrow()
                        .get(d, size, compression)
                        .map(|p| (d.clone(), p));
                }
                if compression == Compression::Gzip && opts.inflate_gzip && copy_of.is_none() {
                    inflater = Some(flate2::write::MultiGzDecoder::new(HashSink {
                        hasher: Sha256::new(),
                        len: 0,
                    }));
                }
            }
            got += n as u64;
            if copy_of.is_none() {
                hasher.update(chunk);
            }
            if let Some(inf) = inflater.as_mut() {
                inf.write_all(chunk).map_err(|e| ArtifactError::Corrupt {
                    archive: ctx.archive.to_string(),
                    member: ctx.member.to_string(),
                    detail: format!("gzip layer {path}: {e}"),
                })?;
            }
            match &mut dest {
                Dest::Temp(t) => {
                    let need = ctx.needed_hint.max(size.saturating_sub(got));
                    t.write_chunk(chunk, ctx.work_dir, need)?
                }
                Dest::Sent(s) => s.write(chunk).map_err(|e| ctx.sink_failed(&path, e))?,
                Dest::Memory(m) => m.extend_from_slice(chunk),
            }
            on_chunk();
            if ctx.cancelled() {
                return Err(ArtifactError::Cancelled);
            }
        }
        if got < size {
            return Err(ctx.truncated(format!("{path} ended after {got} of {size} bytes")));
        }
        let uncompressed = match inflater {
            Some(inf) => {
                let sink = inf.finish().map_err(|e| ArtifactError::Corrupt {
                    archive: ctx.archive.to_string(),
                    member: ctx.member.to_string(),
                    detail: format!("gzip layer {path}: {e}"),
                })?;
                Some((Digest::from_hasher(sink.hasher), sink.len))
            }
            None => None,
        };
        let (sha256, uncompressed) = match copy_of {
            Some((digest, proved)) => (digest, proved.uncompressed),
            None => {
                let sha256 = Digest::from_hasher(hasher);
                if promised.as_ref() == Some(&sha256) {
                    opts.proven.borrow_mut().0.insert(
                        sha256.clone(),
                        Proven {
                            size: got,
                            compression,
                            uncompressed: uncompressed.clone(),
                        },
                    );
                }
                (sha256, uncompressed)
            }
        };
        let held = match dest {
            Dest::Temp(mut t) => {
                t.flush(ctx.work_dir)?;
                Held::Temp(t)
            }
            Dest::Sent(s) => Held::Sent(s.finish(&sha256).map_err(|e| ctx.sink_failed(&path, e))?),
            Dest::Memory(m) => Held::Memory(m),
        };
        out.files.insert(
            path,
            FileEntry {
                sha256,
                size: got,
                compression,
                uncompressed,
                held: Some(held),
            },
        );
    }
    Ok(out)
}

/// Where a symbolic or hard link entry points, as a member-relative path (refused when it
/// leaves the member).
fn link_target<R: Read>(entry: &tar::Entry<R>, path: &str, ctx: &Ctx) -> Result<String> {
    let target_raw = entry
        .link_name_bytes()
        .map(|c| c.into_owned())
        .unwrap_or_default();
    let target = String::from_utf8_lossy(&target_raw).into_owned();
    let escapes = || ArtifactError::LinkEscapes {
        archive: ctx.archive.to_string(),
        member: ctx.member.to_string(),
        path: path.to_string(),
        target: target.clone(),
    };
    if entry.header().entry_type().is_symlink() {
        resolve_link_target(path, &target).ok_or_else(escapes)
    } else {
        // Hard link names are relative to the archive root.
        match normalize_entry_path(&target_raw) {
            Ok(p) if !p.is_empty() => Ok(p),
            _ => Err(escapes()),
        }
    }
}

/// Reads until the buffer is full or EOF, so chunks are uniform and the
/// compression sniff always sees the first bytes.
fn read_full<R: Read>(r: &mut R, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// For members the caller does not read (finished in an earlier run, or a repeat of one read
/// in this pass): walk without writing anything, hashing every file for the member's print and
/// keeping only the two small files that name the images, so duplicate names across members
/// are still caught on a resume.
pub fn peek_member<R: Read>(reader: R, ctx: &Ctx) -> Result<(Vec<String>, MemberPrint)> {
    let mut ar = tar::Archive::new(reader);
    let entries = ar
        .entries()
        .map_err(|e| ctx.read_error(e, "reading the image tar"))?;
    let mut manifest = None;
    let mut index = None;
    let mut print = MemberPrint::default();
    let mut buf = vec![0u8; CHUNK];
    for entry in entries {
        if ctx.cancelled() {
            return Err(ArtifactError::Cancelled);
        }
        let mut entry = entry.map_err(|e| ctx.read_error(e, "reading an entry header"))?;
        let raw = entry.path_bytes().into_owned();
        let path = normalize_entry_path(&raw).map_err(|why| ctx.unsafe_path(&raw, why))?;
        let kind = entry.header().entry_type();
        if path.is_empty() || kind.is_dir() {
            continue;
        }
        if print.files.contains_key(&path) || print.links.contains_key(&path) {
            return Err(ctx.duplicate_entry(&path));
        }
        if kind.is_symlink() || kind.is_hard_link() {
            let target = link_target(&entry, &path, ctx)?;
            print.links.insert(path, target);
            continue;
        }
        if !(kind.is_file() || kind.is_contiguous()) {
            continue;
        }
        let keep =
            (path == "manifest.json" || path == "index.json") && entry.size() <= METADATA_MAX;
        let mut kept = Vec::new();
        let mut hasher = Sha256::new();
        let mut size = 0u64;
        loop {
            let n = read_full(&mut entry, &mut buf)
                .map_err(|e| ctx.read_error(e, &format!("reading {path}")))?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            size += n as u64;
            if keep {
                kept.extend_from_slice(&buf[..n]);
            }
        }
        if path == "manifest.json" && keep {
            manifest = Some(kept);
        } else if keep {
            index = Some(kept);
        }
        print
            .files
            .insert(path, (size, Digest::from_hasher(hasher)));
    }
    let names = super::layout::names_from_metadata(manifest.as_deref(), index.as_deref());
    Ok((names, print))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tar of `count` files of `size` bytes each, named `f0`, `f1`, ….
    fn tar_of(count: usize, size: usize) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for i in 0..count {
            let mut h = tar::Header::new_gnu();
            h.set_size(size as u64);
            h.set_mode(0o644);
            h.set_cksum();
            b.append_data(&mut h, format!("f{i}"), &vec![i as u8; size][..])
                .unwrap_or_else(|e| panic!("{e}"));
        }
        b.into_inner().unwrap_or_else(|e| panic!("{e}"))
    }

    /// Runs `f` with a member's context and a blob store in a fresh work directory.
    pub(super) fn in_work_dir<T>(f: impl FnOnce(&Ctx, &mut BlobStore) -> T) -> T {
        let work = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let mut store = BlobStore::open(work.path()).unwrap_or_else(|e| panic!("{e}"));
        let cancel = std::sync::atomic::AtomicBool::new(false);
        let ctx = Ctx {
            archive: "images.tar.gz",
            member: "m.tar",
            work_dir: work.path(),
            cancel: &cancel,
            needed_hint: 0,
        };
        f(&ctx, &mut store)
    }

    #[test]
    fn small_files_past_the_in_memory_budget_are_spooled() {
        in_work_dir(|ctx, store| {
            let proven = RefCell::default();
            let opts = MemberOptions {
                inflate_gzip: false,
                sink: None,
                proven: &proven,
            };
            // 80 files of 1 MiB: 64 fit the budget, the rest go to the spool.
            let count = 80;
            let tar = tar_of(count, INLINE_MAX as usize);
            let out = read_member(&tar[..], ctx, store, &opts, &mut || {})
                .unwrap_or_else(|e| panic!("{e}"));
            let in_memory = out
                .files
                .values()
                .filter(|f| matches!(f.held, Some(Held::Memory(_))))
                .count();
            let spooled = out
                .files
                .values()
                .filter(|f| matches!(f.held, Some(Held::Temp(_))))
                .count();
            assert_eq!(in_memory as u64, INLINE_TOTAL_MAX / INLINE_MAX);
            assert_eq!(in_memory + spooled, count);
        })
    }
}

#[cfg(test)]
mod repeated_layer_tests {
    use super::*;

    /// A sink that keeps nothing; `discards` says whether it says so.
    struct Nowhere {
        discards: bool,
    }

    struct NowhereFile(bool);

    impl SentFile for NowhereFile {
        fn write(&mut self, _chunk: &[u8]) -> io::Result<()> {
            Ok(())
        }
        fn discards(&self) -> bool {
            self.0
        }
        fn finish(self: Box<Self>, _digest: &Digest) -> io::Result<Box<dyn SentBlob>> {
            Ok(Box::new(NowhereBlob))
        }
    }

    struct NowhereBlob;

    impl SentBlob for NowhereBlob {
        fn commit(self: Box<Self>) -> io::Result<()> {
            Ok(())
        }
    }

    impl FileSink for Nowhere {
        fn open(
            &self,
            _path: &str,
            _head: &[u8],
            _compression: Compression,
        ) -> io::Result<Option<Box<dyn SentFile>>> {
            Ok(Some(Box::new(NowhereFile(self.discards))))
        }
    }

    fn member_with(name: &str, content: &[u8]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_size(content.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, name, content)
            .unwrap_or_else(|e| panic!("{e}"));
        b.into_inner().unwrap_or_else(|e| panic!("{e}"))
    }

    /// The digest the reader gives `name` in a second member holding `second`, after a first
    /// member held `first` under the same name; the sink discards both when `discards`.
    fn second_copy_digest(first: &[u8], second: &[u8], name: &str, discards: bool) -> Digest {
        super::tests::in_work_dir(|ctx, store| {
            let sink = Nowhere { discards };
            let proven = RefCell::default();
            let opts = MemberOptions {
                inflate_gzip: false,
                sink: Some(&sink),
                proven: &proven,
            };
            let mut read = |content: &[u8]| {
                read_member(
                    &member_with(name, content)[..],
                    ctx,
                    store,
                    &opts,
                    &mut || {},
                )
                .unwrap_or_else(|e| panic!("{e}"))
            };
            read(first);
            read(second).files[name].sha256.clone()
        })
    }

    const SIZE: usize = 2 << 20;

    /// A layer, the name that promises its digest, and a copy under that name with other bytes.
    fn layer_named_copy() -> (Vec<u8>, String, Vec<u8>) {
        let layer = vec![7u8; SIZE];
        let name = format!("{}.tar", Digest::of(&layer).hex());
        (layer, name, vec![8u8; SIZE])
    }

    #[test]
    fn a_discarded_copy_of_a_proved_layer_is_not_hashed_again() {
        // The copy differs, so its digest shows whether it was hashed: it was not, and it
        // takes the digest the first copy proved (its bytes went nowhere).
        let (layer, name, other) = layer_named_copy();
        let got = second_copy_digest(&layer, &other, &name, true);
        assert_eq!(got, Digest::of(&layer));
    }

    #[test]
    fn a_copy_that_is_kept_is_hashed() {
        let (layer, name, other) = layer_named_copy();
        let got = second_copy_digest(&layer, &other, &name, false);
        assert_eq!(got, Digest::of(&other));
    }

    #[test]
    fn a_first_copy_that_broke_its_name_proves_nothing() {
        // The first copy is not what its name says, so the second is hashed too (and an
        // image that uses a wrong one fails to verify rather than take the name's word).
        let (_, name, other) = layer_named_copy();
        let got = second_copy_digest(&[9u8; SIZE], &other, &name, true);
        assert_eq!(got, Digest::of(&other));
    }

    #[test]
    fn a_copy_of_another_size_is_hashed() {
        let (layer, name, _) = layer_named_copy();
        let longer = vec![7u8; SIZE + 512];
        let got = second_copy_digest(&layer, &longer, &name, true);
        assert_eq!(got, Digest::of(&longer));
    }
}
