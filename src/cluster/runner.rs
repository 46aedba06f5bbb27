//! Runs one external program: by name on `PATH`, argv only (no shell), stdin null unless bytes
//! are given, stdout/stderr streamed line by line to a callback and captured up to a cap, a
//! timeout, and the child killed when the future is dropped.

use std::ffi::{OsStr, OsString};
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWriteExt, BufReader};
use tokio::process::Command;

use super::cmd::{Cmd, Tools, find_on_path};
use super::error::RunError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum Stream {
    Stdout,
    Stderr,
}

/// What the front end and the log see while a command runs. Everything is already redacted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunEvent {
    Started(String),
    Line(Stream, String),
    Finished(Option<i32>),
}

/// What a finished command left. Secrets of the command are redacted here too.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Output {
    /// `None` when the program was ended by a signal.
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    /// True when either stream passed the capture cap (stdout keeps its head, stderr its tail).
    pub truncated: bool,
}

impl Output {
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }
}

#[derive(Debug, Clone)]
pub struct Runner {
    pub tools: Tools,
    /// Variables set on every child, on top of ours. `PATH` set here is also where programs are
    /// looked up, which is how tests put fakes first without touching this process's variables.
    env: Vec<(OsString, OsString)>,
    pub default_timeout: Duration,
    pub capture_limit: usize,
}

impl Runner {
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(600);
    /// `juju status --format=json` of a full Kubeflow model is a few hundred KiB.
    pub const DEFAULT_CAPTURE_LIMIT: usize = 16 << 20;

    pub fn new(tools: Tools) -> Self {
        Self {
            tools,
            env: Vec::new(),
            default_timeout: Self::DEFAULT_TIMEOUT,
            capture_limit: Self::DEFAULT_CAPTURE_LIMIT,
        }
    }

    pub fn with_env(mut self, key: impl Into<OsString>, value: impl Into<OsString>) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    /// The `PATH` children get: ours unless overridden with `with_env`.
    pub fn search_path(&self) -> Option<OsString> {
        self.env
            .iter()
            .rev()
            .find(|(k, _)| k == OsStr::new("PATH"))
            .map(|(_, v)| v.clone())
            .or_else(|| std::env::var_os("PATH"))
    }

    pub fn find_program(&self, name: &str) -> Option<PathBuf> {
        find_on_path(name, self.search_path().as_deref())
    }

    /// Switches `kubectl` to `microk8s kubectl` when only MicroK8s is installed.
    pub fn with_kubectl_fallback(mut self) -> Self {
        let path = self.search_path();
        self.tools = self.tools.with_kubectl_fallback(path.as_deref());
        self
    }

    /// `cmd` as it will run here (redacted): with the configured program names.
    pub fn display(&self, cmd: &Cmd) -> String {
        cmd.display_with(&self.tools.prefix(cmd.tool))
    }

    /// Runs `cmd`; a non-zero exit is returned as an `Output`, not an error.
    pub async fn run(
        &self,
        cmd: &Cmd,
        sink: &mut (dyn FnMut(RunEvent) + Send),
    ) -> Result<Output, RunError> {
        let display = self.display(cmd);
        let after = cmd.timeout.unwrap_or(self.default_timeout);
        sink(RunEvent::Started(display.clone()));
        let result = tokio::time::timeout(after, self.run_inner(cmd, &display, sink)).await;
        match result {
            Ok(Ok(output)) => {
                sink(RunEvent::Finished(output.code));
                Ok(output)
            }
            Ok(Err(e)) => Err(e),
            Err(_) => Err(RunError::Timeout { display, after }),
        }
    }

    /// Like `run`, but a non-zero exit is `RunError::Failed`.
    pub async fn run_ok(
        &self,
        cmd: &Cmd,
        sink: &mut (dyn FnMut(RunEvent) + Send),
    ) -> Result<Output, RunError> {
        let out = self.run(cmd, sink).await?;
        if out.success() {
            Ok(out)
        } else {
            Err(RunError::Failed {
                display: self.display(cmd),
                code: out.code,
                stdout: out.stdout,
                stderr: out.stderr,
            })
        }
    }

    /// `run` without a callback, for probes whose output only matters as a result.
    pub async fn capture(&self, cmd: &Cmd) -> Result<Output, RunError> {
        self.run(cmd, &mut |_| {}).await
    }

    async fn run_inner(
        &self,
        cmd: &Cmd,
        display: &str,
        sink: &mut (dyn FnMut(RunEvent) + Send),
    ) -> Result<Output, RunError> {
        let mut argv = self.tools.prefix(cmd.tool);
        argv.extend(cmd.args().iter().cloned());
        let (program, rest) = argv.split_first().ok_or_else(|| RunError::Spawn {
            display: display.to_owned(),
            source: std::io::Error::new(std::io::ErrorKind::InvalidInput, "empty program"),
        })?;
        let mut command = Command::new(program);
        command
            .args(rest)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(if cmd.stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // Our own process group: Ctrl-C in the terminal reaches the wizard only, which
            // decides what to stop; dropping the future kills the child.
            .process_group(0)
            .kill_on_drop(true);
        let io_err = |source| RunError::Io {
            display: display.to_owned(),
            source,
        };
        let mut child = command.spawn().map_err(|source| RunError::Spawn {
            display: display.to_owned(),
            source,
        })?;
        let stdin = child.stdin.take();
        let stdout = child.stdout.take();
        let stderr = child.stderr.take();
        let feed = async {
            if let (Some(mut pipe), Some(bytes)) = (stdin, cmd.stdin.as_deref()) {
                // A child that exits without reading its input is not our error: its exit
                // status says what happened.
                let _ = pipe.write_all(bytes).await;
                let _ = pipe.shutdown().await;
            }
        };
        let limit = self.capture_limit;
        let read = pump(stdout, stderr, cmd, limit, sink);
        let ((), read) = tokio::join!(feed, read);
        let (out, err) = read.map_err(io_err)?;
        let status = child.wait().await.map_err(io_err)?;
        Ok(Output {
            code: status.code(),
            stdout: cmd.redact(&String::from_utf8_lossy(&out.bytes)),
            stderr: cmd.redact(&String::from_utf8_lossy(&err.bytes)),
            truncated: out.truncated || err.truncated,
        })
    }
}

/// Captured bytes of one stream, bounded: `keep_tail` keeps the last bytes (error output ends
/// with the reason), otherwise the first (data is useless cut at the front).
struct Capture {
    bytes: Vec<u8>,
    limit: usize,
    keep_tail: bool,
    truncated: bool,
}

impl Capture {
    fn new(limit: usize, keep_tail: bool) -> Self {
        Self {
            bytes: Vec::new(),
            limit,
            keep_tail,
            truncated: false,
        }
    }

    fn push(&mut self, chunk: &[u8]) {
        if self.keep_tail {
            self.bytes.extend_from_slice(chunk);
            if self.bytes.len() > self.limit {
                let cut = self.bytes.len() - self.limit;
                self.bytes.drain(..cut);
                self.truncated = true;
            }
        } else {
            let room = self.limit.saturating_sub(self.bytes.len());
            self.bytes
                .extend_from_slice(&chunk[..room.min(chunk.len())]);
            self.truncated |= chunk.len() > room;
        }
    }
}

async fn pump(
    stdout: Option<impl AsyncRead + Unpin>,
    stderr: Option<impl AsyncRead + Unpin>,
    cmd: &Cmd,
    limit: usize,
    sink: &mut (dyn FnMut(RunEvent) + Send),
) -> std::io::Result<(Capture, Capture)> {
    let mut out_cap = Capture::new(limit, false);
    let mut err_cap = Capture::new(limit, true);
    let mut out = stdout.map(BufReader::new);
    let mut err = stderr.map(BufReader::new);
    // `read_until` appends partial reads to the buffer when another branch wins the select,
    // so keeping the buffers across iterations loses nothing.
    let (mut out_line, mut err_line) = (Vec::new(), Vec::new());
    let mut emit = |stream: Stream, line: &mut Vec<u8>, cap: &mut Capture| {
        cap.push(line);
        if stream == Stream::Stderr || cmd.stream_stdout {
            let text = String::from_utf8_lossy(line);
            let text = text.trim_end_matches(['\n', '\r']);
            sink(RunEvent::Line(stream, cmd.redact(text)));
        }
        line.clear();
    };
    while out.is_some() || err.is_some() {
        tokio::select! {
            r = read_line(&mut out, &mut out_line), if out.is_some() => {
                if r? == 0 {
                    out = None;
                }
                if !out_line.is_empty() {
                    emit(Stream::Stdout, &mut out_line, &mut out_cap);
                }
            }
            r = read_line(&mut err, &mut err_line), if err.is_some() => {
                if r? == 0 {
                    err = None;
                }
                if !err_line.is_empty() {
                    emit(Stream::Stderr, &mut err_line, &mut err_cap);
                }
            }
        }
    }
    Ok((out_cap, err_cap))
}

async fn read_line<R: AsyncRead + Unpin>(
    reader: &mut Option<BufReader<R>>,
    buf: &mut Vec<u8>,
) -> std::io::Result<usize> {
    match reader {
        Some(r) => r.read_until(b'\n', buf).await,
        None => Ok(0),
    }
}
