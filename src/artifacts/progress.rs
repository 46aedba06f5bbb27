//! Progress reporting. The reader never blocks on the receiver beyond a call;
//! rate and ETA are computed here so every front end shows the same numbers.

use std::io::{self, Read};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

#[derive(Debug, Clone, PartialEq)]
pub enum ProgressEvent {
    /// Reading of an archive started; `total` is its size on disk.
    Started {
        archive: String,
        total: u64,
    },
    /// A new member (one image's docker save tar, or one charm) is being read.
    Member {
        name: String,
        index: usize,
    },
    /// Compressed bytes consumed so far, with a smoothed rate and an ETA.
    Bytes {
        read: u64,
        total: u64,
        bytes_per_sec: f64,
        eta_secs: Option<f64>,
    },
    /// Text for a long step that moves no bytes (e.g. "verifying layers of X").
    Phase(String),
    /// A member was skipped because the caller said it is already done.
    Skipped {
        member: String,
    },
    /// An image was spooled and verified.
    ImageReady {
        reference: String,
    },
    /// Something odd that does not stop the run.
    Warning(String),
    Finished {
        read: u64,
        elapsed_secs: f64,
    },
}

pub trait ProgressSink {
    fn event(&mut self, event: &ProgressEvent);
}

pub struct NoProgress;

impl ProgressSink for NoProgress {
    fn event(&mut self, _event: &ProgressEvent) {}
}

impl<F: FnMut(&ProgressEvent)> ProgressSink for F {
    fn event(&mut self, event: &ProgressEvent) {
        self(event)
    }
}

/// Exponentially smoothed rate: a plain average since start hides stalls, and
/// an instantaneous one jumps around with gzip block sizes.
pub struct RateMeter {
    start: Instant,
    last_time: Instant,
    last_bytes: u64,
    rate: Option<f64>,
}

impl RateMeter {
    pub fn new() -> Self {
        let now = Instant::now();
        RateMeter {
            start: now,
            last_time: now,
            last_bytes: 0,
            rate: None,
        }
    }

    /// Feeds a new byte count; returns (rate, eta) when enough time has passed
    /// since the previous sample to give a meaningful figure.
    pub fn sample(&mut self, bytes: u64, total: u64) -> (f64, Option<f64>) {
        let now = Instant::now();
        let dt = now.duration_since(self.last_time);
        if dt >= Duration::from_millis(200) || self.rate.is_none() {
            let secs = dt.as_secs_f64().max(1e-3);
            let inst = bytes.saturating_sub(self.last_bytes) as f64 / secs;
            self.rate = Some(match self.rate {
                Some(r) => 0.7 * r + 0.3 * inst,
                None => {
                    let since = now.duration_since(self.start).as_secs_f64().max(1e-3);
                    bytes as f64 / since
                }
            });
            self.last_time = now;
            self.last_bytes = bytes;
        }
        let rate = self.rate.unwrap_or(0.0);
        let eta = if rate > 0.0 && total >= bytes {
            Some((total - bytes) as f64 / rate)
        } else {
            None
        };
        (rate, eta)
    }

    pub fn elapsed(&self) -> Duration {
        self.start.elapsed()
    }
}

impl Default for RateMeter {
    fn default() -> Self {
        Self::new()
    }
}

/// Marker put inside an `io::Error` so cancellation survives the trip through
/// flate2 and tar and can be told apart from a real I/O failure.
#[derive(Debug)]
pub struct CancelledMarker;

impl std::fmt::Display for CancelledMarker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("cancelled")
    }
}

impl std::error::Error for CancelledMarker {}

pub fn cancelled_io_error() -> io::Error {
    io::Error::other(CancelledMarker)
}

pub fn is_cancel_error(e: &io::Error) -> bool {
    e.get_ref()
        .is_some_and(|inner| inner.is::<CancelledMarker>())
}

/// Counts compressed bytes as the decompressor pulls them, and checks the
/// cancel flag every few MB so even one huge layer can be interrupted.
pub struct CountingReader<R> {
    inner: R,
    count: Arc<AtomicU64>,
    cancel: Arc<AtomicBool>,
    since_check: u64,
}

const CANCEL_CHECK_EVERY: u64 = 4 << 20;

impl<R> CountingReader<R> {
    pub fn new(inner: R, count: Arc<AtomicU64>, cancel: Arc<AtomicBool>) -> Self {
        CountingReader {
            inner,
            count,
            cancel,
            since_check: 0,
        }
    }
}

impl<R: Read> Read for CountingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.since_check >= CANCEL_CHECK_EVERY {
            self.since_check = 0;
            if self.cancel.load(Ordering::Relaxed) {
                return Err(cancelled_io_error());
            }
        }
        let n = self.inner.read(buf)?;
        self.since_check += n as u64;
        self.count.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// Turns the shared byte counter into throttled `Bytes` events.
pub struct Reporter<'a> {
    pub sink: &'a mut dyn ProgressSink,
    pub count: Arc<AtomicU64>,
    pub total: u64,
    meter: RateMeter,
    last_emit: u64,
}

const EMIT_EVERY: u64 = 4 << 20;

impl<'a> Reporter<'a> {
    pub fn new(sink: &'a mut dyn ProgressSink, count: Arc<AtomicU64>, total: u64) -> Self {
        Reporter {
            sink,
            count,
            total,
            meter: RateMeter::new(),
            last_emit: 0,
        }
    }

    pub fn emit(&mut self, event: ProgressEvent) {
        self.sink.event(&event);
    }

    /// Emits a `Bytes` event if enough bytes moved since the last one, or
    /// always when `force` is set (member boundaries, end of run).
    pub fn tick(&mut self, force: bool) {
        let read = self.count.load(Ordering::Relaxed);
        if !force && read.saturating_sub(self.last_emit) < EMIT_EVERY {
            return;
        }
        self.last_emit = read;
        let (bytes_per_sec, eta_secs) = self.meter.sample(read, self.total);
        self.sink.event(&ProgressEvent::Bytes {
            read,
            total: self.total,
            bytes_per_sec,
            eta_secs,
        });
    }

    pub fn finish(&mut self) {
        self.tick(true);
        let read = self.count.load(Ordering::Relaxed);
        let elapsed_secs = self.meter.elapsed().as_secs_f64();
        self.sink
            .event(&ProgressEvent::Finished { read, elapsed_secs });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eta_follows_rate() {
        let mut m = RateMeter::new();
        let (rate, eta) = m.sample(1000, 2000);
        assert!(rate > 0.0);
        let eta = eta.unwrap_or(-1.0);
        assert!(eta > 0.0);
        assert!((eta - 1000.0 / rate).abs() < 1e-6);
    }

    #[test]
    fn cancel_marker_round_trips() {
        let e = cancelled_io_error();
        assert!(is_cancel_error(&e));
        assert!(!is_cancel_error(&io::Error::other("x")));
    }
}
