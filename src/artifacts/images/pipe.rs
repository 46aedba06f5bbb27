//! Runs inflate on a second thread so it overlaps with hashing and writing
//! (the machine has 2 cores; gzip itself cannot be split).

use std::io::{self, Read};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;

const BUF: usize = 1 << 20;
const DEPTH: usize = 4;

pub struct PipeReader {
    rx: Receiver<io::Result<Vec<u8>>>,
    back: SyncSender<Vec<u8>>,
    cur: Vec<u8>,
    pos: usize,
    done: bool,
    handle: Option<JoinHandle<()>>,
}

impl PipeReader {
    pub fn spawn<R: Read + Send + 'static>(mut inner: R) -> io::Result<PipeReader> {
        let (tx, rx) = sync_channel::<io::Result<Vec<u8>>>(DEPTH);
        // Buffers come back for reuse so the steady state allocates nothing.
        let (back, back_rx) = sync_channel::<Vec<u8>>(DEPTH + 2);
        let handle = std::thread::Builder::new()
            .name("inflate".into())
            .spawn(move || {
                loop {
                    let mut buf = back_rx.try_recv().unwrap_or_default();
                    buf.resize(BUF, 0);
                    let mut n = 0;
                    let res = loop {
                        if n == buf.len() {
                            break Ok(());
                        }
                        match inner.read(&mut buf[n..]) {
                            Ok(0) => break Ok(()),
                            Ok(k) => n += k,
                            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                            Err(e) => break Err(e),
                        }
                    };
                    buf.truncate(n);
                    match res {
                        Ok(()) => {
                            let end = n == 0;
                            if tx.send(Ok(buf)).is_err() || end {
                                return;
                            }
                        }
                        Err(e) => {
                            if n > 0 && tx.send(Ok(buf)).is_err() {
                                return;
                            }
                            let _ = tx.send(Err(e));
                            return;
                        }
                    }
                }
            })?;
        Ok(PipeReader {
            rx,
            back,
            cur: Vec::new(),
            pos: 0,
            done: false,
            handle: Some(handle),
        })
    }
}

impl Read for PipeReader {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.pos >= self.cur.len() {
            if self.done {
                return Ok(0);
            }
            let spent = std::mem::take(&mut self.cur);
            if spent.capacity() > 0 {
                let _ = self.back.try_send(spent);
            }
            self.pos = 0;
            match self.rx.recv() {
                Ok(Ok(b)) => {
                    if b.is_empty() {
                        self.done = true;
                    }
                    self.cur = b;
                }
                Ok(Err(e)) => {
                    self.done = true;
                    return Err(e);
                }
                Err(_) => {
                    self.done = true;
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "decompression thread stopped",
                    ));
                }
            }
        }
        let n = out.len().min(self.cur.len() - self.pos);
        out[..n].copy_from_slice(&self.cur[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

impl Drop for PipeReader {
    fn drop(&mut self) {
        // Closing our end makes the thread's next send fail, so it exits.
        let (_tx, rx) = sync_channel(0);
        drop(std::mem::replace(&mut self.rx, rx));
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passes_bytes_and_errors_through() -> io::Result<()> {
        let data: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
        let mut r = PipeReader::spawn(io::Cursor::new(data.clone()))?;
        let mut out = Vec::new();
        r.read_to_end(&mut out)?;
        assert_eq!(out, data);

        struct Bad;
        impl Read for Bad {
            fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
                Err(io::Error::new(io::ErrorKind::UnexpectedEof, "cut"))
            }
        }
        let mut r = PipeReader::spawn(Bad)?;
        let e = r.read_to_end(&mut Vec::new()).err().map(|e| e.kind());
        assert_eq!(e, Some(io::ErrorKind::UnexpectedEof));
        Ok(())
    }
}
