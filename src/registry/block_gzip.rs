//! Gzip split across cores, the way pigz does it: the input is cut into fixed 1 MiB blocks,
//! each block is deflated on a shared pool of threads with the previous 32 KiB as its
//! dictionary and ends on a byte boundary (sync flush), and the pieces are joined in order with
//! one header and a CRC combined from the blocks' CRCs. The result is one ordinary gzip member.
//!
//! The output depends only on the input and the level (never on the number of threads or on
//! timing), so a repeated push gives the same blob digest and a resumed chunked upload can
//! re-derive the stream up to the registry's offset.

use std::collections::VecDeque;
use std::io;
use std::sync::mpsc::{Receiver, Sender, SyncSender, channel, sync_channel};
use std::sync::{Mutex, OnceLock};

use flate2::{Compress, Compression, Crc, FlushCompress, Status};

/// Input per block: large enough that the per-block cost (fresh Huffman tables, a 4-byte
/// sync marker) is noise, small enough that one layer keeps every core busy.
pub const BLOCK: usize = 1 << 20;
const WINDOW: usize = 32 * 1024;
/// A fixed header: no name, mtime 0, OS "unknown", so the bytes never depend on the machine.
const HEADER: [u8; 10] = [0x1f, 0x8b, 0x08, 0, 0, 0, 0, 0, 0, 0xff];

struct Job {
    level: u32,
    dict: Vec<u8>,
    data: Vec<u8>,
    last: bool,
    reply: SyncSender<io::Result<Done>>,
}

struct Done {
    out: Vec<u8>,
    crc: Crc,
}

struct Pool {
    jobs: Mutex<Sender<Job>>,
    threads: usize,
}

fn pool() -> &'static Pool {
    static POOL: OnceLock<Pool> = OnceLock::new();
    POOL.get_or_init(|| {
        let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
        let (tx, rx) = channel::<Job>();
        let rx = std::sync::Arc::new(Mutex::new(rx));
        let mut started = 0;
        for i in 0..threads {
            let rx = rx.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("gzip-{i}"))
                .spawn(move || {
                    loop {
                        let job = match rx.lock() {
                            Ok(r) => r.recv(),
                            Err(_) => return,
                        };
                        let Ok(job) = job else { return };
                        let done = deflate_block(job.level, &job.dict, &job.data, job.last);
                        let _ = job.reply.send(done);
                    }
                });
            if spawned.is_ok() {
                started += 1;
            }
        }
        Pool {
            jobs: Mutex::new(tx),
            threads: started,
        }
    })
}

fn deflate_block(level: u32, dict: &[u8], data: &[u8], last: bool) -> io::Result<Done> {
    let mut c = Compress::new(Compression::new(level), false);
    if !dict.is_empty() {
        c.set_dictionary(dict).map_err(io::Error::other)?;
    }
    let flush = if last {
        FlushCompress::Finish
    } else {
        FlushCompress::Sync
    };
    let mut out = Vec::with_capacity(data.len() / 2 + 4096);
    let mut input = data;
    loop {
        if out.capacity() - out.len() < 4096 {
            out.reserve(out.capacity().max(64 * 1024));
        }
        let before = c.total_in();
        let status = c
            .compress_vec(input, &mut out, flush)
            .map_err(io::Error::other)?;
        input = &input[(c.total_in() - before) as usize..];
        match status {
            Status::StreamEnd => break,
            // A sync flush is complete once all input is in and deflate left output room.
            _ if !last && input.is_empty() && out.len() < out.capacity() => break,
            _ => {}
        }
    }
    let mut crc = Crc::new();
    crc.update(data);
    Ok(Done { out, crc })
}

/// One gzip stream being written. Feed it with [`BlockGzip::write`], end it with
/// [`BlockGzip::finish`]; compressed pieces come out through `emit`, in order.
pub struct BlockGzip {
    level: u32,
    block: Vec<u8>,
    dict: Vec<u8>,
    pending: VecDeque<Receiver<io::Result<Done>>>,
    depth: usize,
    crc: Crc,
    header_sent: bool,
}

impl BlockGzip {
    pub fn new(level: u32) -> BlockGzip {
        BlockGzip {
            level,
            block: Vec::with_capacity(BLOCK),
            dict: Vec::new(),
            pending: VecDeque::new(),
            // Enough blocks in flight to keep every worker busy while the oldest is collected.
            depth: pool().threads.max(1) * 2,
            crc: Crc::new(),
            header_sent: false,
        }
    }

    pub fn write(
        &mut self,
        mut data: &[u8],
        emit: &mut dyn FnMut(Vec<u8>) -> io::Result<()>,
    ) -> io::Result<()> {
        while !data.is_empty() {
            let take = (BLOCK - self.block.len()).min(data.len());
            self.block.extend_from_slice(&data[..take]);
            data = &data[take..];
            if self.block.len() == BLOCK {
                self.submit(false, emit)?;
            }
        }
        Ok(())
    }

    pub fn finish(mut self, emit: &mut dyn FnMut(Vec<u8>) -> io::Result<()>) -> io::Result<()> {
        self.submit(true, emit)?;
        while !self.pending.is_empty() {
            self.collect_one(emit)?;
        }
        let mut trailer = Vec::with_capacity(8);
        trailer.extend_from_slice(&self.crc.sum().to_le_bytes());
        trailer.extend_from_slice(&self.crc.amount().to_le_bytes());
        emit(trailer)
    }

    fn submit(
        &mut self,
        last: bool,
        emit: &mut dyn FnMut(Vec<u8>) -> io::Result<()>,
    ) -> io::Result<()> {
        if self.pending.len() >= self.depth {
            self.collect_one(emit)?;
        }
        let data = std::mem::replace(&mut self.block, Vec::with_capacity(BLOCK));
        let next_dict = data[data.len().saturating_sub(WINDOW)..].to_vec();
        let dict = std::mem::replace(&mut self.dict, next_dict);
        let (reply, rx) = sync_channel(1);
        let job = Job {
            level: self.level,
            dict,
            data,
            last,
            reply,
        };
        let sent = match pool().jobs.lock() {
            Ok(tx) => tx.send(job).is_ok(),
            Err(_) => false,
        };
        if !sent {
            return Err(io::Error::other("the compression threads are gone"));
        }
        self.pending.push_back(rx);
        Ok(())
    }

    fn collect_one(&mut self, emit: &mut dyn FnMut(Vec<u8>) -> io::Result<()>) -> io::Result<()> {
        let Some(rx) = self.pending.pop_front() else {
            return Ok(());
        };
        let done = rx
            .recv()
            .map_err(|_| io::Error::other("a compression thread stopped"))??;
        if !self.header_sent {
            self.header_sent = true;
            emit(HEADER.to_vec())?;
        }
        self.crc.combine(&done.crc);
        emit(done.out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn gzip(data: &[u8], level: u32, pieces: usize) -> Vec<u8> {
        let mut out = Vec::new();
        let mut gz = BlockGzip::new(level);
        let step = data.len() / pieces.max(1) + 1;
        for part in data.chunks(step) {
            gz.write(part, &mut |b| {
                out.extend_from_slice(&b);
                Ok(())
            })
            .unwrap_or_else(|e| panic!("{e}"));
        }
        gz.finish(&mut |b| {
            out.extend_from_slice(&b);
            Ok(())
        })
        .unwrap_or_else(|e| panic!("{e}"));
        out
    }

    fn sample(len: usize) -> Vec<u8> {
        let mut x = 88172645463325252u64;
        (0..len)
            .map(|i| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                // Half text-like, half noise: both the dictionary and stored paths are used.
                if (i / 100_000) % 2 == 0 {
                    b"kubeflow charm layer "[i % 21]
                } else {
                    x as u8
                }
            })
            .collect()
    }

    #[test]
    fn any_gzip_reader_gets_the_input_back_and_the_bytes_are_deterministic() {
        for len in [0, 1, BLOCK - 1, BLOCK, BLOCK + 1, 3 * BLOCK + 12345] {
            let data = sample(len);
            let gz = gzip(&data, 2, 7);
            let mut back = Vec::new();
            flate2::read::GzDecoder::new(&gz[..])
                .read_to_end(&mut back)
                .unwrap_or_else(|e| panic!("len {len}: {e}"));
            assert_eq!(back, data, "len {len}");
            // However the input was fed, the same bytes come out.
            assert_eq!(gzip(&data, 2, 1), gz, "len {len}");
        }
    }

    #[test]
    fn the_dictionary_keeps_the_ratio_of_one_stream() {
        let data: Vec<u8> = sample(4 * BLOCK)
            .into_iter()
            .map(|b| b % 16 + b'a')
            .collect();
        let blocks = gzip(&data, 6, 1).len();
        let mut one = flate2::write::GzEncoder::new(Vec::new(), Compression::new(6));
        io::Write::write_all(&mut one, &data).unwrap_or_else(|e| panic!("{e}"));
        let one = one.finish().unwrap_or_else(|e| panic!("{e}")).len();
        assert!(blocks as f64 <= one as f64 * 1.01, "{blocks} vs {one}");
    }
}
