//! Ctrl-C, SIGHUP (a dropped SSH link) and SIGTERM stop the work and save the session. Saves
//! are atomic renames, so a second signal may end the process at once without damage.

use tokio::signal::unix::{SignalKind, signal};

use crate::engine::Cancel;

/// Exit status after an interruption, as shells report for SIGINT.
pub const INTERRUPTED_EXIT: i32 = 130;

pub fn install(cancel: Cancel) -> std::io::Result<()> {
    let mut int = signal(SignalKind::interrupt())?;
    let mut hup = signal(SignalKind::hangup())?;
    let mut term = signal(SignalKind::terminate())?;
    tokio::spawn(async move {
        let mut seen = 0u32;
        loop {
            let name = tokio::select! {
                _ = int.recv() => "SIGINT",
                _ = hup.recv() => "SIGHUP",
                _ = term.recv() => "SIGTERM",
            };
            seen += 1;
            if seen == 1 {
                tracing::warn!("{name}: saving the session and stopping");
                cancel.cancel();
            } else {
                tracing::warn!("{name} again: stopping now; the last saved state stands");
                std::process::exit(INTERRUPTED_EXIT);
            }
        }
    });
    Ok(())
}
