//! The session store: one directory per session under the state directory, holding
//! `session.json` (written atomically whenever a step starts, ends or is stopped), the journal
//! of units finished since (`journal.rs`), its backup, a lock and the log.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use super::journal::{self, Journal};
use super::lock::{LockError, SessionLock};
use super::paths::{BACKUP_FILE, LOCK_FILE, LOG_FILE, SESSION_FILE, sessions_dir};
use super::schema::{self, SCHEMA_VERSION, SchemaError, SessionFile, TOOL_VERSION};
use crate::durable::{self, PRIVATE_FILE_MODE, create_private_dir, write_file_with};
use crate::wizard::{self, Effect, Flow, Msg, Refusal, Step, WizardState};

#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("no session {id} in {dir} (list them with `ckf-airgap sessions list`)")]
    NotFound { id: String, dir: PathBuf },
    #[error(
        "{path} is damaged: {reason}.\n\
         The damaged file was kept as {kept}.\n\
         {backup_hint}\
         Or remove the session with `ckf-airgap sessions remove {id}` and start a new one."
    )]
    Corrupt {
        id: String,
        path: PathBuf,
        reason: String,
        kept: PathBuf,
        backup_hint: String,
    },
    #[error("{path} cannot be used: {source}")]
    Schema {
        path: PathBuf,
        #[source]
        source: SchemaError,
    },
    #[error(transparent)]
    Lock(#[from] LockError),
    #[error("{action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the wizard refused: {0}")]
    Refused(#[from] Refusal),
}

fn io_err(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> SessionError {
    let path = path.to_path_buf();
    move |source| SessionError::Io {
        action,
        path,
        source,
    }
}

/// What `sessions list` shows about one session, read without taking its lock.
#[derive(Debug, Clone)]
pub struct SessionSummary {
    pub id: String,
    pub dir: PathBuf,
    /// None when the session file could not be read; `problem` says why.
    pub file: Option<SessionFile>,
    pub problem: Option<String>,
    pub in_use: bool,
}

impl SessionSummary {
    pub fn finished(&self) -> bool {
        self.file.as_ref().is_some_and(|f| f.wizard.is_finished())
    }

    /// One line on where the session stands, e.g. "at Push images (failed: registry down)".
    pub fn whereabouts(&self) -> String {
        let Some(file) = &self.file else {
            return format!(
                "unreadable: {}",
                self.problem.as_deref().unwrap_or("unknown")
            );
        };
        if file.wizard.is_finished() {
            return "finished".into();
        }
        let step = file.wizard.current;
        match file.wizard.status(step) {
            wizard::StepStatus::Failed { reason } => {
                format!("at {} (failed: {reason})", step.title())
            }
            status => format!("at {} ({})", step.title(), status.label()),
        }
    }
}

pub struct SessionStore {
    root: PathBuf,
}

impl SessionStore {
    pub fn open(state_dir: &Path) -> Result<SessionStore, SessionError> {
        let root = sessions_dir(state_dir);
        create_private_dir(&root).map_err(io_err("cannot create the state directory", &root))?;
        Ok(SessionStore { root })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// All sessions, newest first.
    pub fn list(&self) -> Result<Vec<SessionSummary>, SessionError> {
        let entries =
            fs::read_dir(&self.root).map_err(io_err("cannot read the sessions in", &self.root))?;
        let mut out = Vec::new();
        for entry in entries.flatten() {
            let dir = entry.path();
            if !dir.is_dir() {
                continue;
            }
            let id = entry.file_name().to_string_lossy().into_owned();
            let (file, problem) = match fs::read(dir.join(SESSION_FILE)) {
                Ok(bytes) => match schema::decode(&bytes) {
                    Ok((mut file, _)) => {
                        journal::replay(&dir, file.journal, &mut file.wizard);
                        (Some(file), None)
                    }
                    Err(e) => (None, Some(e.to_string())),
                },
                Err(e) => (None, Some(e.to_string())),
            };
            let in_use = is_locked(&dir.join(LOCK_FILE));
            out.push(SessionSummary {
                id,
                dir,
                file,
                problem,
                in_use,
            });
        }
        // Ids start with the creation time, so reverse order of ids is newest first.
        out.sort_by(|a, b| b.id.cmp(&a.id));
        Ok(out)
    }

    /// The newest unfinished install session.
    pub fn newest_unfinished(&self) -> Result<Option<SessionSummary>, SessionError> {
        self.newest_unfinished_of(Flow::Install)
    }

    pub fn newest_unfinished_of(&self, flow: Flow) -> Result<Option<SessionSummary>, SessionError> {
        Ok(self.list()?.into_iter().find(|s| {
            s.file
                .as_ref()
                .is_some_and(|f| f.wizard.flow == flow && !f.wizard.is_finished())
        }))
    }

    /// A new install session.
    pub fn create(&self) -> Result<Session, SessionError> {
        self.create_flow(Flow::Install)
    }

    pub fn create_flow(&self, flow: Flow) -> Result<Session, SessionError> {
        let now = SystemTime::now();
        let id = new_id(now);
        let dir = self.root.join(&id);
        create_private_dir(&dir).map_err(io_err("cannot create the session directory", &dir))?;
        let lock = match SessionLock::acquire(&dir.join(LOCK_FILE), &id) {
            Ok(lock) => lock,
            Err(e) => {
                let _ = fs::remove_dir_all(&dir);
                return Err(e.into());
            }
        };
        let stamp = humantime::format_rfc3339_seconds(now).to_string();
        let file = SessionFile {
            schema_version: SCHEMA_VERSION,
            tool_version: TOOL_VERSION.to_string(),
            id: id.clone(),
            created_at: stamp.clone(),
            updated_at: stamp,
            journal: 0,
            wizard: WizardState::new(flow),
        };
        let mut session = Session {
            journal: Journal::new(&dir, 0),
            dir: dir.clone(),
            file,
            _lock: lock,
            pending_notices: Vec::new(),
        };
        if let Err(e) = session.save() {
            // A session that could not be written (a full disk) leaves nothing behind.
            drop(session);
            let _ = fs::remove_dir_all(&dir);
            return Err(e);
        }
        Ok(session)
    }

    /// Locks and loads a session; an interrupted step is marked as such (see `Msg::Loaded`).
    pub fn open_session(&self, id: &str) -> Result<Session, SessionError> {
        let dir = self.root.join(id);
        if id.contains('/') || id.starts_with('.') || !dir.join(SESSION_FILE).exists() {
            return Err(SessionError::NotFound {
                id: id.to_string(),
                dir: self.root.clone(),
            });
        }
        let lock = SessionLock::acquire(&dir.join(LOCK_FILE), id)?;
        durable::remove_stale_temporaries(&dir);
        let path = dir.join(SESSION_FILE);
        let bytes = fs::read(&path).map_err(io_err("cannot read", &path))?;
        let (mut file, migrated_from) = match schema::decode(&bytes) {
            Ok(ok) => ok,
            Err(SchemaError::Invalid(reason)) => return Err(corrupt(id, &dir, &path, reason)),
            Err(source) => return Err(SessionError::Schema { path, source }),
        };
        // Units finished after the last save are in the journal; absorbed ones are dropped.
        journal::remove_other_generations(&dir, file.journal);
        let (replayed, cut) = journal::replay(&dir, file.journal, &mut file.wizard);
        if replayed > 0 || cut {
            tracing::info!(replayed, cut, "session {id}: journal replayed");
        }
        let mut session = Session {
            journal: Journal::new(&dir, file.journal),
            dir,
            file,
            _lock: lock,
            pending_notices: Vec::new(),
        };
        if let Some(v) = migrated_from {
            session.pending_notices.push(format!(
                "session {id} was written by an older ckf-airgap (schema {v}) and has been upgraded"
            ));
        }
        let effects = session.apply(Msg::Loaded)?;
        session.pending_notices.extend(notices(effects));
        Ok(session)
    }

    pub fn remove(&self, id: &str) -> Result<(), SessionError> {
        let dir = self.root.join(id);
        if id.contains('/') || id.starts_with('.') || !dir.is_dir() {
            return Err(SessionError::NotFound {
                id: id.to_string(),
                dir: self.root.clone(),
            });
        }
        // Taking the lock first refuses to delete a session another process is working on.
        let lock = SessionLock::acquire(&dir.join(LOCK_FILE), id)?;
        fs::remove_dir_all(&dir).map_err(io_err("cannot remove", &dir))?;
        drop(lock);
        Ok(())
    }
}

fn notices(effects: Vec<Effect>) -> impl Iterator<Item = String> {
    effects.into_iter().filter_map(|e| match e {
        Effect::Notify(text) => Some(text),
        Effect::RunStep(_) | Effect::DiscardOutputs(_) => None,
    })
}

fn corrupt(id: &str, dir: &Path, path: &Path, reason: String) -> SessionError {
    let stamp = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let kept = dir.join(format!("session.json.damaged-{stamp}"));
    let kept = match fs::copy(path, &kept) {
        Ok(_) => kept,
        Err(_) => path.to_path_buf(),
    };
    let backup = dir.join(BACKUP_FILE);
    let backup_hint = if backup.exists() {
        format!(
            "The state before the last unit of work is in {}; to go back to it run:\n  cp {} {}\n",
            backup.display(),
            backup.display(),
            path.display()
        )
    } else {
        "There is no backup: the session never got past its first save.\n".to_string()
    };
    SessionError::Corrupt {
        id: id.to_string(),
        path: path.to_path_buf(),
        reason,
        kept,
        backup_hint,
    }
}

fn is_locked(path: &Path) -> bool {
    let Ok(file) = fs::File::open(path) else {
        return false;
    };
    match file.try_lock_shared() {
        Ok(()) => {
            let _ = file.unlock();
            false
        }
        Err(_) => true,
    }
}

fn new_id(now: SystemTime) -> String {
    let stamp: String = humantime::format_rfc3339_seconds(now)
        .to_string()
        .chars()
        .filter(char::is_ascii_digit)
        .collect();
    let nanos = now
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let salt = (nanos ^ std::process::id().rotate_left(16)) & 0xffff;
    format!("{}-{}-{salt:04x}", &stamp[..8], &stamp[8..14])
}

/// An open, locked session. Every change goes through `apply`, which runs the pure transition
/// and then writes the result to disk before returning.
pub struct Session {
    dir: PathBuf,
    file: SessionFile,
    journal: Journal,
    _lock: SessionLock,
    pending_notices: Vec<String>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("id", &self.file.id)
            .finish()
    }
}

impl Session {
    pub fn id(&self) -> &str {
        &self.file.id
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn log_path(&self) -> PathBuf {
        self.dir.join(LOG_FILE)
    }

    pub fn file(&self) -> &SessionFile {
        &self.file
    }

    pub fn state(&self) -> &WizardState {
        &self.file.wizard
    }

    /// Messages for the operator gathered while opening (migration, interrupted steps).
    pub fn take_notices(&mut self) -> Vec<String> {
        std::mem::take(&mut self.pending_notices)
    }

    /// Applies a transition and persists it. On a refusal nothing changes, on disk or in memory.
    /// A finished unit is appended to the journal; anything else rewrites `session.json`.
    pub fn apply(&mut self, msg: Msg) -> Result<Vec<Effect>, SessionError> {
        if let Msg::UnitDone { step, unit, detail } = msg {
            return self.record_unit(step, unit, detail);
        }
        let mut next = self.file.wizard.clone();
        let effects = wizard::update(&mut next, msg)?;
        let previous = std::mem::replace(&mut self.file.wizard, next);
        if let Err(e) = self.save() {
            // Memory must not run ahead of the disk: a unit is done only once it is saved.
            self.file.wizard = previous;
            return Err(e);
        }
        Ok(effects)
    }

    pub fn current(&self) -> Step {
        self.file.wizard.current
    }

    /// The live state is changed by the pure transition (which leaves it as it was on a
    /// refusal) without copying it, then the unit is appended; if the append fails the unit is
    /// taken out again, so memory never runs ahead of the disk.
    fn record_unit(
        &mut self,
        step: Step,
        unit: String,
        detail: serde_json::Value,
    ) -> Result<Vec<Effect>, SessionError> {
        let previous = self.file.wizard.record(step).ledger.get(&unit).cloned();
        let effects = wizard::update(
            &mut self.file.wizard,
            Msg::UnitDone {
                step,
                unit: unit.clone(),
                detail,
            },
        )?;
        let recorded = &self.file.wizard.record(step).ledger[&unit];
        if let Err(e) = self.journal.append(step, &unit, recorded) {
            let ledger = &mut self.file.wizard.record_mut(step).ledger;
            match previous {
                Some(v) => ledger.insert(unit, v),
                None => ledger.remove(&unit),
            };
            let path = journal::path(&self.dir, self.journal.generation());
            return Err(io_err("cannot record progress in", &path)(e));
        }
        Ok(effects)
    }

    fn save(&mut self) -> Result<(), SessionError> {
        self.file.updated_at = humantime::format_rfc3339_seconds(SystemTime::now()).to_string();
        let absorbed = self.file.journal;
        self.file.journal = absorbed + 1;
        let path = self.dir.join(SESSION_FILE);
        // Compact: the file holds every unit of a release, and is rewritten at each step's
        // start and end.
        let written = serde_json::to_vec(&self.file)
            .map_err(|e| SessionError::Io {
                action: "cannot encode",
                path: path.clone(),
                source: std::io::Error::other(e),
            })
            .and_then(|mut bytes| {
                bytes.push(b'\n');
                write_file_with(
                    &path,
                    &bytes,
                    PRIVATE_FILE_MODE,
                    Some(&self.dir.join(BACKUP_FILE)),
                )
                .map_err(io_err("cannot save the session to", &path))
            });
        match written {
            Ok(()) => {
                self.journal.absorbed(self.file.journal);
                Ok(())
            }
            Err(e) => {
                self.file.journal = absorbed;
                Err(e)
            }
        }
    }
}
