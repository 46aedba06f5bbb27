//! One gzip stream in which each write is either deflated or stored as it is. gather's
//! archives are mostly bytes that are compressed already (registry layers, `.charm` zip files):
//! deflating them again costs a core for a fraction of a percent, so they go into stored
//! deflate blocks, and only what compresses (tar headers, manifests, configs, plain-tar
//! layers) is deflated. The result is an ordinary single-member gzip file that `tar -xzf`,
//! Python's `tarfile` and every inflater read as usual.

use std::io::{self, Write};

use flate2::{Compress, Compression, Crc, FlushCompress};

/// gzip's header: deflate, no name, no mtime (the archive is reproducible), unknown OS.
const GZIP_HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];
/// The largest stored block deflate allows.
const STORED_BLOCK: usize = 65_535;
/// A final, empty stored block: ends the deflate stream on a byte boundary.
const FINAL_EMPTY_BLOCK: [u8; 5] = [1, 0, 0, 0xff, 0xff];

pub struct MixedGzipWriter<W: Write> {
    inner: W,
    deflate: Compress,
    /// Deflated input the compressor has not yet flushed to a byte boundary.
    pending: bool,
    crc: Crc,
    scratch: Vec<u8>,
    written_in: u64,
}

impl<W: Write> MixedGzipWriter<W> {
    /// `level` is deflate's level for the bytes written with [`Self::write_deflated`].
    pub fn new(mut inner: W, level: u32) -> io::Result<MixedGzipWriter<W>> {
        inner.write_all(&GZIP_HEADER)?;
        Ok(MixedGzipWriter {
            inner,
            deflate: Compress::new(Compression::new(level), false),
            pending: false,
            crc: Crc::new(),
            scratch: vec![0; 256 * 1024],
            written_in: 0,
        })
    }

    /// Uncompressed bytes written so far, stored and deflated together.
    pub fn position(&self) -> u64 {
        self.written_in
    }

    pub fn write_deflated(&mut self, data: &[u8]) -> io::Result<()> {
        if data.is_empty() {
            return Ok(());
        }
        self.crc.update(data);
        self.written_in += data.len() as u64;
        self.pending = true;
        self.compress(data, FlushCompress::None)
    }

    /// Bytes that would not shrink: copied into stored blocks after the compressor has
    /// flushed fully, so no later back-reference reaches across them.
    pub fn write_stored(&mut self, mut data: &[u8]) -> io::Result<()> {
        if data.is_empty() {
            return Ok(());
        }
        self.flush_full()?;
        self.crc.update(data);
        self.written_in += data.len() as u64;
        while !data.is_empty() {
            let n = data.len().min(STORED_BLOCK);
            let len = n as u16;
            let [lo, hi] = len.to_le_bytes();
            let [nlo, nhi] = (!len).to_le_bytes();
            self.inner.write_all(&[0, lo, hi, nlo, nhi])?;
            self.inner.write_all(&data[..n])?;
            data = &data[n..];
        }
        Ok(())
    }

    /// Ends the deflate stream, writes gzip's trailer and returns the writer beneath.
    pub fn finish(mut self) -> io::Result<W> {
        self.flush_full()?;
        self.inner.write_all(&FINAL_EMPTY_BLOCK)?;
        self.inner.write_all(&self.crc.sum().to_le_bytes())?;
        self.inner.write_all(&self.crc.amount().to_le_bytes())?;
        Ok(self.inner)
    }

    /// A full flush: the compressor's output ends on a byte boundary and its window is
    /// forgotten, which is what makes a stored block after it safe.
    fn flush_full(&mut self) -> io::Result<()> {
        if self.pending {
            self.compress(&[], FlushCompress::Full)?;
            self.pending = false;
        }
        Ok(())
    }

    fn compress(&mut self, mut input: &[u8], flush: FlushCompress) -> io::Result<()> {
        loop {
            let (before_in, before_out) = (self.deflate.total_in(), self.deflate.total_out());
            self.deflate
                .compress(input, &mut self.scratch, flush)
                .map_err(io::Error::other)?;
            let used = (self.deflate.total_in() - before_in) as usize;
            let made = (self.deflate.total_out() - before_out) as usize;
            self.inner.write_all(&self.scratch[..made])?;
            input = &input[used..];
            // A full output buffer may hide more output: deflate must be called again.
            if input.is_empty() && made < self.scratch.len() {
                return Ok(());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::read::GzDecoder;
    use std::io::Read;

    fn noise(len: usize, seed: u64) -> Vec<u8> {
        let mut x = seed;
        (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect()
    }

    #[test]
    fn stored_and_deflated_writes_inflate_back_to_their_bytes_in_order() {
        let text = b"blobs/sha256/0123 manifest.json ".repeat(4000);
        let random = noise(200_000, 7);
        let mut w = MixedGzipWriter::new(Vec::new(), 6).unwrap();
        w.write_deflated(&text).unwrap();
        w.write_stored(&random).unwrap();
        // The same text again: a back-reference across the stored bytes would corrupt it.
        w.write_deflated(&text).unwrap();
        w.write_stored(&random[..10]).unwrap();
        w.write_stored(&random[10..70_000]).unwrap();
        w.write_deflated(b"end").unwrap();
        assert_eq!(
            w.position(),
            (2 * text.len() + random.len() + 70_000 + 3) as u64
        );
        let gz = w.finish().unwrap();
        let mut back = Vec::new();
        GzDecoder::new(&gz[..]).read_to_end(&mut back).unwrap();
        let mut expected = text.clone();
        expected.extend_from_slice(&random);
        expected.extend_from_slice(&text);
        expected.extend_from_slice(&random[..70_000]);
        expected.extend_from_slice(b"end");
        assert_eq!(back, expected);
        // Stored bytes are not deflated: the stream holds them and little more.
        assert!(gz.len() > random.len() + 70_000, "{}", gz.len());
        assert!(gz.len() < random.len() + 70_000 + 2_000, "{}", gz.len());
    }

    #[test]
    fn an_empty_stream_and_a_stored_only_stream_are_valid_gzip() {
        for data in [Vec::new(), noise(65_535 * 2 + 1, 3)] {
            let mut w = MixedGzipWriter::new(Vec::new(), 1).unwrap();
            w.write_stored(&data).unwrap();
            let gz = w.finish().unwrap();
            let mut back = Vec::new();
            GzDecoder::new(&gz[..]).read_to_end(&mut back).unwrap();
            assert_eq!(back, data);
        }
    }
}
