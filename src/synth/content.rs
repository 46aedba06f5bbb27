//! Deterministic pseudo-random, partly compressible bytes.

use std::io::{self, Write};

/// SplitMix64: tiny, fast and good enough for test content.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x9e37_79b9_7f4a_7c15)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

const WORDS: &[&str] = &[
    "kubeflow ",
    "juju ",
    "charm ",
    "layer ",
    "usr/lib/ ",
    "python3 ",
    "import ",
    "def ",
    "return ",
    "\n",
    "the ",
    "config ",
    "0x00 ",
    "{\"key\": ",
    "ELF ",
    "libc.so.6 ",
    "manifest ",
];

/// Fills `len` bytes: 4 KiB blocks, about a third random (incompressible) and
/// the rest word salad (compresses ~4:1), like binaries mixed with text.
pub fn write_content<W: Write>(w: &mut W, seed: u64, len: u64) -> io::Result<()> {
    let mut rng = Rng::new(seed);
    let mut block = vec![0u8; 4096];
    let mut left = len;
    while left > 0 {
        let n = left.min(block.len() as u64) as usize;
        if rng.next_u64().is_multiple_of(3) {
            for c in block[..n].chunks_mut(8) {
                let v = rng.next_u64().to_le_bytes();
                c.copy_from_slice(&v[..c.len()]);
            }
        } else {
            let mut i = 0;
            while i < n {
                let word = WORDS[(rng.next_u64() % WORDS.len() as u64) as usize].as_bytes();
                let k = word.len().min(n - i);
                block[i..i + k].copy_from_slice(&word[..k]);
                i += k;
            }
        }
        w.write_all(&block[..n])?;
        left -= n as u64;
    }
    Ok(())
}

/// Reader form of `write_content`, for `tar::Builder::append_data`.
pub struct ContentReader {
    buf: Vec<u8>,
    pos: usize,
    rng_seed: u64,
    left: u64,
    chunk: u64,
}

impl ContentReader {
    pub fn new(seed: u64, len: u64) -> ContentReader {
        ContentReader {
            buf: Vec::new(),
            pos: 0,
            rng_seed: seed,
            left: len,
            chunk: 0,
        }
    }
}

impl io::Read for ContentReader {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.pos >= self.buf.len() {
            if self.left == 0 {
                return Ok(0);
            }
            let n = self.left.min(1 << 20);
            self.buf.clear();
            write_content(&mut self.buf, self.rng_seed.wrapping_add(self.chunk), n)?;
            self.chunk += 1;
            self.left -= n;
            self.pos = 0;
        }
        let n = out.len().min(self.buf.len() - self.pos);
        out[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}
