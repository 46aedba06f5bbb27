//! Ctrl-C, SIGHUP (a dropped SSH link) and SIGTERM stop the work and save the session. Saves
//! are atomic renames, so a second signal may end the process at once without damage.

use std::sync::atomic::{AtomicBool, Ordering};

use tokio::signal::unix::{SignalKind, signal};

use crate::engine::Cancel;

/// Exit status after an interruption, as shells report for SIGINT.
pub const INTERRUPTED_EXIT: i32 = 130;

static HUNG_UP: AtomicBool = AtomicBool::new(false);

/// The terminal went away (SIGHUP): there is no screen left to draw or read keys from.
pub fn hung_up() -> bool {
    HUNG_UP.load(Ordering::SeqCst)
}

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
            if name == "SIGHUP" {
                HUNG_UP.store(true, Ordering::SeqCst);
            }
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
