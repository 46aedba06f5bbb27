//! Fingerprints of a step's inputs, derived from what the step reads: each step declares a
//! serialisable input value, every top-level field of it becomes one named fingerprint, and
//! the files it names (`Watched`) are fingerprinted by content. A field added to a choice is
//! in the fingerprint without anyone listing it.
//!
//! An archive of tens of gigabytes cannot be hashed at every start, so a file is identified by
//! its size, modification time and the hashes of its first and last mebibyte: a different
//! copy, a truncated copy or an edited bundle all change it.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use serde::{Serialize, Serializer};
use sha2::{Digest, Sha256};

/// A file or directory a step reads: serialised as its path and the fingerprint of its
/// content, so an edited file changes the step's inputs even when its path does not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Watched(pub PathBuf);

impl Watched {
    pub fn of(path: Option<&Path>) -> Option<Watched> {
        path.map(|p| Watched(p.to_path_buf()))
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Serialize for Watched {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        (self.0.display().to_string(), path(&self.0)).serialize(s)
    }
}

/// Marks a field whose change runs the step again with its finished units kept.
pub const RERUN_ONLY_MARK: char = '~';

/// The encoded fingerprint of a step's input value: `field=hash` per top-level field.
pub fn of<T: Serialize>(input: &T) -> String {
    encode(&fields(input).into_iter().collect())
}

/// Each top-level field of `input` as its name (underscores as spaces) and a hash of its value.
pub fn fields<T: Serialize>(input: &T) -> Vec<(String, String)> {
    match serde_json::to_value(input) {
        Ok(serde_json::Value::Object(fields)) => fields
            .iter()
            .map(|(name, v)| (name.replace('_', " "), value(&v.to_string())))
            .collect(),
        Ok(other) => vec![("inputs".into(), value(&other.to_string()))],
        Err(e) => vec![("inputs".into(), format!("unserialisable:{e}"))],
    }
}

/// Named hashes as the session records them: one `name=hash` line each, sorted by name.
pub fn encode(lines: &std::collections::BTreeMap<String, String>) -> String {
    lines
        .iter()
        .map(|(name, hash)| format!("{name}={hash}"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn parse(encoded: &str) -> std::collections::BTreeMap<&str, &str> {
    encoded.lines().filter_map(|l| l.split_once('=')).collect()
}

/// The names of the fields that differ between two encoded sets (added, removed or changed),
/// whatever order each was written in and whether a field is marked rerun-only in one and not
/// the other (a session saved before the mark). A rerun-only field the step ran without (absent,
/// or an empty choice) is no change when it is given later: the step said it had none.
pub fn changed_fields(old: &str, new: &str) -> Vec<String> {
    let bare = |n: &str| n.trim_start_matches(RERUN_ONLY_MARK).to_owned();
    // By bare name: the name as the old set wrote it (a removed field is named so, and a
    // removed rerun-only field stays rerun-only) and its hash.
    let old: std::collections::BTreeMap<String, (&str, &str)> = parse(old)
        .into_iter()
        .map(|(n, f)| (bare(n), (n, f)))
        .collect();
    let new_fields = parse(new);
    let empty = value("null");
    let mut changed: Vec<String> = new_fields
        .iter()
        .filter(|(n, f)| match old.get(&bare(n)) {
            Some((_, of)) if of == *f => false,
            Some((_, of)) => !(n.starts_with(RERUN_ONLY_MARK) && *of == empty),
            None => !n.starts_with(RERUN_ONLY_MARK),
        })
        .map(|(n, _)| n.to_string())
        .collect();
    let new_bare: std::collections::BTreeSet<String> = new_fields.keys().map(|n| bare(n)).collect();
    changed.extend(
        old.iter()
            .filter(|(n, _)| !new_bare.contains(*n))
            .map(|(_, (raw, _))| raw.to_string()),
    );
    changed
}

/// A file's fingerprint, or for a directory (a `certs.d`) those of the files under it.
pub fn path(p: &Path) -> String {
    if !p.is_dir() {
        return file(p);
    }
    let mut hasher = Sha256::new();
    let mut stack = vec![p.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            hasher.update(b"unreadable");
            continue;
        };
        let mut entries: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
        entries.sort();
        for entry in entries {
            hasher.update(entry.to_string_lossy().as_bytes());
            if entry.is_dir() {
                stack.push(entry);
            } else {
                hasher.update(file(&entry).as_bytes());
            }
        }
    }
    hex::encode(&hasher.finalize()[..8])
}

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

/// Names the inputs that differ between two encoded sets, for the operator.
pub fn describe_change(old: &str, new: &str) -> String {
    let changed: Vec<String> = changed_fields(old, new)
        .iter()
        .map(|n| n.trim_start_matches(RERUN_ONLY_MARK).to_owned())
        .collect();
    if changed.is_empty() {
        "the inputs".to_string()
    } else {
        changed.join(", ")
    }
}

/// Whether every field that differs is one whose change keeps the step's finished units.
pub fn only_rerun_fields_changed(old: &str, new: &str) -> bool {
    changed_fields(old, new)
        .iter()
        .all(|n| n.starts_with(RERUN_ONLY_MARK))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rerun_only_mark_alone_or_a_choice_given_later_is_no_change() {
        let null = value("null");
        let old = format!("model={null}\nimages archive=aa");
        assert!(changed_fields(&old, &format!("~model={null}\nimages archive=aa")).is_empty());
        assert!(changed_fields(&old, "~model=bb\nimages archive=aa").is_empty());
        assert!(
            changed_fields(
                &old,
                &format!("~model={null}\nimages archive=aa\n~bundle=cc")
            )
            .is_empty()
        );
        assert_eq!(
            changed_fields(&old, "model=bb\nimages archive=aa"),
            ["model"]
        );
        assert_eq!(changed_fields(&old, "images archive=aa"), ["model"]);
        // A rerun-only field that goes (the last skip removed) only re-runs the step.
        let with_skip = "~command skips=dd\nimages archive=aa";
        assert_eq!(
            changed_fields(with_skip, "images archive=aa"),
            ["~command skips"]
        );
        assert!(only_rerun_fields_changed(with_skip, "images archive=aa"));
        let given = "~model=bb\nimages archive=aa".to_string();
        assert_eq!(
            changed_fields(&given, "~model=cc\nimages archive=aa"),
            ["~model"]
        );
    }

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
        #[derive(Serialize)]
        struct Input {
            images_archive: &'static str,
            charms_archive: &'static str,
            #[serde(skip_serializing_if = "Option::is_none")]
            work_dir: Option<&'static str>,
        }
        let old = of(&Input {
            images_archive: "a",
            charms_archive: "b",
            work_dir: None,
        });
        let new = of(&Input {
            images_archive: "a",
            charms_archive: "c",
            work_dir: None,
        });
        assert_eq!(describe_change(&old, &new), "charms archive");
        let more = of(&Input {
            images_archive: "a",
            charms_archive: "c",
            work_dir: Some("x"),
        });
        assert_eq!(describe_change(&new, &more), "work dir");
    }

    #[test]
    fn a_watched_file_changes_the_fingerprint_when_its_content_does() {
        #[derive(Serialize)]
        struct Input {
            client_cert: Option<Watched>,
        }
        let dir = tempfile::tempdir().unwrap();
        let cert = dir.path().join("client.crt");
        std::fs::write(&cert, "one").unwrap();
        let input = Input {
            client_cert: Watched::of(Some(&cert)),
        };
        let before = of(&input);
        std::fs::write(&cert, "two, longer").unwrap();
        assert_eq!(describe_change(&before, &of(&input)), "client cert");
        // A directory is fingerprinted by the files under it.
        let d = path(dir.path());
        std::fs::write(dir.path().join("ca.crt"), "ca").unwrap();
        assert_ne!(d, path(dir.path()));
    }
}
