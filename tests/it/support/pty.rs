//! Runs the real binary in a pseudo-terminal and reads its screen through a vt100 parser, as an
//! operator would see it. Waiting is on a condition variable the reader signals after each
//! chunk of output, with a deadline: never a fixed sleep.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};
use std::num::NonZeroU16;
use std::path::Path;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use portable_pty::{Child, CommandBuilder, MasterPty, PtySize, native_pty_system};

const WAIT: Duration = Duration::from_secs(30);

struct Screen {
    parser: vt100::Parser,
    closed: bool,
}

pub struct Pty {
    screen: Arc<(Mutex<Screen>, Condvar)>,
    writer: Box<dyn Write + Send>,
    child: Box<dyn Child + Send + Sync>,
    _master: Box<dyn MasterPty + Send>,
}

impl Pty {
    pub fn spawn(args: &[&str], env: &[(&str, &str)], cwd: &Path, (cols, rows): (u16, u16)) -> Pty {
        let pair = native_pty_system()
            .openpty(PtySize {
                rows,
                cols,
                pixel_width: 0,
                pixel_height: 0,
            })
            .unwrap();
        let mut cmd = CommandBuilder::new(super::BIN);
        cmd.args(args);
        cmd.cwd(cwd);
        cmd.env("TERM", "xterm-256color");
        cmd.env("NO_COLOR", "1");
        cmd.env_remove("CKF_AIRGAP_STATE_DIR");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = pair.slave.spawn_command(cmd).unwrap();
        drop(pair.slave);
        let mut reader = pair.master.try_clone_reader().unwrap();
        let writer = pair.master.take_writer().unwrap();
        let screen = Arc::new((
            Mutex::new(Screen {
                parser: vt100::Parser::new(
                    NonZeroU16::new(rows).unwrap(),
                    NonZeroU16::new(cols).unwrap(),
                    0,
                ),
                closed: false,
            }),
            Condvar::new(),
        ));
        let shared = screen.clone();
        // Always drain the terminal, or the child blocks on a full buffer.
        std::thread::spawn(move || {
            let mut buf = [0u8; 16384];
            loop {
                let n = reader.read(&mut buf).unwrap_or(0);
                let (lock, cond) = &*shared;
                let mut s = lock.lock().unwrap_or_else(|p| p.into_inner());
                if n == 0 {
                    s.closed = true;
                    cond.notify_all();
                    return;
                }
                s.parser.process(&buf[..n]);
                cond.notify_all();
            }
        });
        Pty {
            screen,
            writer,
            child,
            _master: pair.master,
        }
    }

    pub fn contents(&self) -> String {
        self.screen.0.lock().unwrap().parser.screen().contents()
    }

    /// Waits until every text is on screen at once; panics with the screen after the deadline.
    pub fn wait_for_all(&self, texts: &[&str]) {
        let (lock, cond) = &*self.screen;
        let deadline = Instant::now() + WAIT;
        let mut s = lock.lock().unwrap();
        loop {
            let screen = s.parser.screen().contents();
            if texts.iter().all(|t| screen.contains(t)) {
                return;
            }
            let now = Instant::now();
            if now >= deadline || s.closed {
                panic!(
                    "waited for {texts:?}{}; the screen shows:\n{screen}",
                    if s.closed {
                        " but the program ended"
                    } else {
                        ""
                    }
                );
            }
            s = cond.wait_timeout(s, deadline - now).unwrap().0;
        }
    }

    pub fn wait_for(&self, text: &str) {
        self.wait_for_all(&[text]);
    }

    pub fn send(&mut self, bytes: &str) {
        self.writer.write_all(bytes.as_bytes()).unwrap();
        self.writer.flush().unwrap();
    }

    pub fn enter(&mut self) {
        self.send("\r");
    }

    pub fn down(&mut self) {
        self.send("\x1b[B");
    }

    /// Waits for the program to end and returns its exit code.
    pub fn wait_exit(&mut self) -> u32 {
        self.child.wait().unwrap().exit_code()
    }

    /// Sends what a dropped SSH link sends (SIGHUP) and returns the exit code if the program
    /// ends within the deadline. (Closing our end of the terminal is not enough here: the
    /// reader thread keeps a copy of it open.)
    pub fn hang_up(mut self) -> Option<u32> {
        let pid = self.child.process_id().unwrap().to_string();
        assert!(
            std::process::Command::new("kill")
                .args(["-HUP", &pid])
                .status()
                .unwrap()
                .success()
        );
        let (tx, rx) = std::sync::mpsc::channel();
        let mut killer = self.child.clone_killer();
        let mut child = std::mem::replace(&mut self.child, Box::new(NoChild));
        std::thread::spawn(move || {
            let _ = tx.send(child.wait().map(|s| s.exit_code()).ok());
        });
        match rx.recv_timeout(WAIT) {
            Ok(code) => code,
            Err(_) => {
                let _ = killer.kill();
                None
            }
        }
    }
}

impl Drop for Pty {
    fn drop(&mut self) {
        // A failed test must not leave the program running.
        let _ = self.child.kill();
    }
}

/// Stands in for a child that was handed over.
#[derive(Debug)]
struct NoChild;

impl portable_pty::ChildKiller for NoChild {
    fn kill(&mut self) -> std::io::Result<()> {
        Ok(())
    }
    fn clone_killer(&self) -> Box<dyn portable_pty::ChildKiller + Send + Sync> {
        Box::new(NoChild)
    }
}

impl Child for NoChild {
    fn try_wait(&mut self) -> std::io::Result<Option<portable_pty::ExitStatus>> {
        Ok(None)
    }
    fn wait(&mut self) -> std::io::Result<portable_pty::ExitStatus> {
        Ok(portable_pty::ExitStatus::with_exit_code(0))
    }
    fn process_id(&self) -> Option<u32> {
        None
    }
}
