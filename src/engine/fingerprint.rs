//! Cheap fingerprints of a step's inputs. An archive of tens of gigabytes cannot be hashed at
//! every start, so a file is identified by its size, modification time and the hashes of its
//! first and last mebibyte: a different copy, a truncated copy or an edited bundle all change it.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;
use std::time::UNIX_EPOCH;

use sha2::{Digest, Sha256};

const EDGE: u64 = 1 << 20;

/// The fingerprint of a file, or a marker saying why there is none (so a file that appears
/// later also counts as a change).
pub fn file(path: &Path) -> String {
    match file_inner(path) {
        Ok(fp) => fp,
        Err(e) => format!("unreadable:{}", e.kind()),
    }
}

fn file_inner(path: &Path) -> std::io::Result<String> {
    let mut f = File::open(path)?;
    let meta = f.metadata()?;
    let len = meta.len();
    let mtime = meta
        .modified()?
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let mut hasher = Sha256::new();
    hasher.update(len.to_le_bytes());
    hasher.update(mtime.to_le_bytes());
    let mut buf = vec![0u8; EDGE as usize];
    let n = read_up_to(&mut f, &mut buf)?;
    hasher.update(&buf[..n]);
    if len > EDGE {
        f.seek(SeekFrom::Start(len.saturating_sub(EDGE).max(EDGE)))?;
        let n = read_up_to(&mut f, &mut buf)?;
        hasher.update(&buf[..n]);
    }
    Ok(hex::encode(&hasher.finalize()[..8]))
}

fn read_up_to(f: &mut File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        let n = f.read(&mut buf[filled..])?;
        if n == 0 {
            break;
        }
        filled += n;
    }
    Ok(filled)
}

/// A short hash of a value (a choice, a list of settings).
pub fn value(text: &str) -> String {
    hex::encode(&Sha256::digest(text.as_bytes())[..8])
}

/// Named fingerprints, kept in a stable text form: `name=fp` per line.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct InputSet {
    entries: Vec<(String, String)>,
}

impl InputSet {
    pub fn new() -> InputSet {
        InputSet::default()
    }

    pub fn with(mut self, name: impl Into<String>, fingerprint: impl Into<String>) -> InputSet {
        self.entries.push((name.into(), fingerprint.into()));
        self
    }

    pub fn encode(&self) -> String {
        self.entries
            .iter()
            .map(|(n, f)| format!("{n}={f}"))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// Names the inputs that differ between two encoded sets, for the operator.
pub fn describe_change(old: &str, new: &str) -> String {
    let parse = |s: &str| -> Vec<(String, String)> {
        s.lines()
            .filter_map(|l| l.split_once('='))
            .map(|(n, f)| (n.to_string(), f.to_string()))
            .collect()
    };
    let (old, new) = (parse(old), parse(new));
    let mut changed: Vec<&str> = new
        .iter()
        .filter(|(n, f)| {
            old.iter()
                .find(|(o, _)| o == n)
                .is_none_or(|(_, of)| of != f)
        })
        .map(|(n, _)| n.as_str())
        .collect();
    changed.extend(
        old.iter()
            .filter(|(n, _)| !new.iter().any(|(m, _)| m == n))
            .map(|(n, _)| n.as_str()),
    );
    if changed.is_empty() {
        "the inputs".to_string()
    } else {
        changed.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_truncated_or_edited_file_changes_the_fingerprint() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("images.tar.gz");
        std::fs::write(&path, vec![7u8; 3 << 20]).unwrap();
        let a = file(&path);
        assert_eq!(a, file(&path), "stable for the same file");
        std::fs::write(&path, vec![7u8; (3 << 20) - 1]).unwrap();
        assert_ne!(a, file(&path));
        assert!(file(&dir.path().join("missing")).starts_with("unreadable:"));
    }

    #[test]
    fn describe_change_names_the_inputs_that_differ() {
        let old = InputSet::new()
            .with("images.tar.gz", "a")
            .with("charms.tar.gz", "b");
        let new = InputSet::new()
            .with("images.tar.gz", "a")
            .with("charms.tar.gz", "c");
        assert_eq!(
            describe_change(&old.encode(), &new.encode()),
            "charms.tar.gz"
        );
        let more = new.clone().with("work dir", "x");
        assert_eq!(describe_change(&new.encode(), &more.encode()), "work dir");
    }
}
