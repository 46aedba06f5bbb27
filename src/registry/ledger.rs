//! The resume ledger: what was already pushed, so that a resumed push neither compresses nor
//! uploads a finished layer again. The engine persists it in its session; this module also
//! offers an in-memory ledger and a JSON-file ledger (tests, the example CLI).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Deserializer, Serialize};

use crate::oci::{Digest, MediaType};

/// A blob as it was pushed for one uncompressed layer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushedBlob {
    /// The digest of the bytes the registry holds (compressed when the layer was gzipped).
    pub digest: Digest,
    pub size: u64,
    pub media_type: MediaType,
    /// The target repository (with prefix) the blob was pushed to, a source for cross-repository
    /// mounts; `None` when it is not known where the registry holds it.
    #[serde(default, deserialize_with = "empty_is_unknown")]
    pub repository: Option<String>,
}

/// Sessions written before the repository was optional held `""` for "unknown".
fn empty_is_unknown<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(Option::<String>::deserialize(d)?.filter(|r| !r.is_empty()))
}

/// Durable record of finished work. `target_key` identifies the registry *and* the layer
/// encoding (see [`super::push::Pusher::target_key`]): the same diff_id pushed with another
/// compression setting is another blob.
pub trait PushLedger: Send + Sync {
    /// What was pushed for this uncompressed layer on this target, if anything.
    fn layer(&self, target_key: &str, diff_id: &Digest) -> Option<PushedBlob>;
    /// Must be durable before returning: the pusher relies on it after a crash.
    fn record_layer(
        &self,
        target_key: &str,
        diff_id: &Digest,
        pushed: &PushedBlob,
    ) -> Result<(), String>;
    /// The manifest digest when the image is complete on the target.
    fn image(&self, target_ref: &str) -> Option<Digest>;
    fn record_image(&self, target_ref: &str, manifest_digest: &Digest) -> Result<(), String>;
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerState {
    /// target_key → diff_id → blob
    #[serde(default)]
    pub layers: BTreeMap<String, BTreeMap<String, PushedBlob>>,
    /// target reference → manifest digest
    #[serde(default)]
    pub images: BTreeMap<String, Digest>,
}

/// A ledger that forgets everything when dropped; also the building block of the file ledger.
#[derive(Debug, Default)]
pub struct MemoryLedger {
    state: Mutex<LedgerState>,
}

impl MemoryLedger {
    pub fn new() -> MemoryLedger {
        MemoryLedger::default()
    }

    pub fn from_state(state: LedgerState) -> MemoryLedger {
        MemoryLedger {
            state: Mutex::new(state),
        }
    }

    pub fn snapshot(&self) -> LedgerState {
        self.state.lock().map(|s| s.clone()).unwrap_or_default()
    }

    fn update(&self, f: impl FnOnce(&mut LedgerState)) -> Result<LedgerState, String> {
        let mut g = self
            .state
            .lock()
            .map_err(|_| "ledger lock poisoned".to_string())?;
        f(&mut g);
        Ok(g.clone())
    }
}

impl PushLedger for MemoryLedger {
    fn layer(&self, target_key: &str, diff_id: &Digest) -> Option<PushedBlob> {
        let g = self.state.lock().ok()?;
        g.layers.get(target_key)?.get(&diff_id.to_string()).cloned()
    }

    fn record_layer(
        &self,
        target_key: &str,
        diff_id: &Digest,
        pushed: &PushedBlob,
    ) -> Result<(), String> {
        self.update(|s| {
            s.layers
                .entry(target_key.to_string())
                .or_default()
                .insert(diff_id.to_string(), pushed.clone());
        })
        .map(|_| ())
    }

    fn image(&self, target_ref: &str) -> Option<Digest> {
        self.state.lock().ok()?.images.get(target_ref).cloned()
    }

    fn record_image(&self, target_ref: &str, manifest_digest: &Digest) -> Result<(), String> {
        self.update(|s| {
            s.images
                .insert(target_ref.to_string(), manifest_digest.clone());
        })
        .map(|_| ())
    }
}

/// A ledger saved as JSON after every record (temp file, fsync, rename), so a SIGKILL leaves
/// either the old or the new file, never a torn one.
#[derive(Debug)]
pub struct JsonFileLedger {
    path: PathBuf,
    memory: MemoryLedger,
    // Serialises writers so that an older snapshot never overwrites a newer one.
    write: Mutex<()>,
}

impl JsonFileLedger {
    /// Opens `path`, loading it if it exists.
    pub fn open(path: impl Into<PathBuf>) -> Result<JsonFileLedger, String> {
        let path = path.into();
        let state = match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| format!("{} is not a valid push ledger: {e}", path.display()))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => LedgerState::default(),
            Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
        };
        Ok(JsonFileLedger {
            path,
            memory: MemoryLedger::from_state(state),
            write: Mutex::new(()),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn snapshot(&self) -> LedgerState {
        self.memory.snapshot()
    }

    fn persist(&self) -> Result<(), String> {
        let _guard = self
            .write
            .lock()
            .map_err(|_| "ledger lock poisoned".to_string())?;
        let state = self.memory.snapshot();
        let bytes = serde_json::to_vec_pretty(&state).map_err(|e| e.to_string())?;
        crate::durable::write_file(&self.path, &bytes)
            .map_err(|e| format!("cannot write {}: {e}", self.path.display()))
    }
}

impl PushLedger for JsonFileLedger {
    fn layer(&self, target_key: &str, diff_id: &Digest) -> Option<PushedBlob> {
        self.memory.layer(target_key, diff_id)
    }

    fn record_layer(
        &self,
        target_key: &str,
        diff_id: &Digest,
        pushed: &PushedBlob,
    ) -> Result<(), String> {
        self.memory.record_layer(target_key, diff_id, pushed)?;
        self.persist()
    }

    fn image(&self, target_ref: &str) -> Option<Digest> {
        self.memory.image(target_ref)
    }

    fn record_image(&self, target_ref: &str, manifest_digest: &Digest) -> Result<(), String> {
        self.memory.record_image(target_ref, manifest_digest)?;
        self.persist()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(c: char) -> Digest {
        Digest::from_hex(&c.to_string().repeat(64)).unwrap()
    }

    #[test]
    fn json_ledger_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("ledger.json");
        let blob = PushedBlob {
            digest: d('a'),
            size: 3,
            media_type: MediaType::DockerLayerGzip,
            repository: Some("r".into()),
        };
        {
            let l = JsonFileLedger::open(&p).unwrap();
            l.record_layer("k", &d('d'), &blob).unwrap();
            l.record_image("h/r:t", &d('e')).unwrap();
        }
        let l = JsonFileLedger::open(&p).unwrap();
        assert_eq!(l.layer("k", &d('d')), Some(blob));
        assert_eq!(l.image("h/r:t"), Some(d('e')));
        assert_eq!(l.layer("other", &d('d')), None);
    }

    #[test]
    fn an_empty_repository_of_an_older_session_is_unknown() {
        let old = format!(
            r#"{{"digest":"{}","size":1,"media_type":"","repository":""}}"#,
            d('a')
        );
        let blob: PushedBlob = serde_json::from_str(&old).unwrap();
        assert_eq!(blob.repository, None);
        assert_eq!(blob.media_type, MediaType::Unspecified);
    }
}
