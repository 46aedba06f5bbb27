//! Logging to a file, never to the screen: the TUI owns the terminal. The log starts in the
//! state directory and moves into the session's directory once the session is known.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

use crate::durable::PRIVATE_FILE_MODE;

/// A log file that can be switched to another path while the program runs.
#[derive(Clone, Default)]
pub struct LogFile {
    inner: Arc<Mutex<Option<(PathBuf, File)>>>,
}

impl LogFile {
    pub fn switch_to(&self, path: &Path) -> io::Result<()> {
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .mode(PRIVATE_FILE_MODE)
            .open(path)?;
        if let Ok(mut slot) = self.inner.lock() {
            *slot = Some((path.to_path_buf(), file));
        }
        Ok(())
    }

    pub fn path(&self) -> Option<PathBuf> {
        self.inner
            .lock()
            .ok()
            .and_then(|s| s.as_ref().map(|(p, _)| p.clone()))
    }
}

pub struct LogWriter(LogFile);

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self.0.inner.lock() {
            Ok(mut slot) => match slot.as_mut() {
                Some((_, f)) => f.write(buf),
                None => Ok(buf.len()),
            },
            Err(_) => Ok(buf.len()),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for LogFile {
    type Writer = LogWriter;
    fn make_writer(&'a self) -> LogWriter {
        LogWriter(self.clone())
    }
}

/// Installs the file logger. `level` (`--log-level`, which `CKF_AIRGAP_LOG` fills), else
/// `RUST_LOG`, sets the filter; default info.
pub fn init(initial: &Path, level: Option<&str>) -> LogFile {
    let log = LogFile::default();
    let _ = log.switch_to(initial);
    let filter = level
        .and_then(|l| EnvFilter::try_new(l).ok())
        .or_else(|| EnvFilter::try_from_default_env().ok())
        .unwrap_or_else(|| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(log.clone())
        .with_ansi(false)
        .with_target(false)
        .try_init();
    log
}
