//! Hand-made tar bytes for hostile inputs the `tar` crate refuses to write
//! (absolute names, `..`, escaping links, devices).

use std::io;

#[derive(Debug, Clone)]
pub enum RawKind {
    File(Vec<u8>),
    Dir,
    Symlink(String),
    HardLink(String),
    Fifo,
    CharDevice,
}

#[derive(Debug, Clone)]
pub struct RawEntry {
    pub path: String,
    pub kind: RawKind,
}

impl RawEntry {
    pub fn file(path: &str, data: impl Into<Vec<u8>>) -> RawEntry {
        RawEntry {
            path: path.into(),
            kind: RawKind::File(data.into()),
        }
    }
    pub fn symlink(path: &str, target: &str) -> RawEntry {
        RawEntry {
            path: path.into(),
            kind: RawKind::Symlink(target.into()),
        }
    }
}

fn put(field: &mut [u8], s: &[u8]) -> io::Result<()> {
    if s.len() > field.len() {
        return Err(io::Error::other("name too long for a raw header"));
    }
    field[..s.len()].copy_from_slice(s);
    Ok(())
}

fn octal(field: &mut [u8], v: u64) {
    let n = field.len() - 1;
    let s = format!("{:0w$o}", v, w = n);
    field[..n].copy_from_slice(s.as_bytes());
    field[n] = 0;
}

/// Serialises entries as a ustar archive with names copied byte for byte.
pub fn raw_tar(entries: &[RawEntry]) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    for e in entries {
        let mut h = [0u8; 512];
        put(&mut h[0..100], e.path.as_bytes())?;
        octal(&mut h[100..108], 0o644);
        octal(&mut h[108..116], 0);
        octal(&mut h[116..124], 0);
        let (typ, data, link): (u8, &[u8], &str) = match &e.kind {
            RawKind::File(d) => (b'0', d.as_slice(), ""),
            RawKind::Dir => (b'5', &[], ""),
            RawKind::Symlink(t) => (b'2', &[], t.as_str()),
            RawKind::HardLink(t) => (b'1', &[], t.as_str()),
            RawKind::Fifo => (b'6', &[], ""),
            RawKind::CharDevice => (b'3', &[], ""),
        };
        octal(&mut h[124..136], data.len() as u64);
        octal(&mut h[136..148], 1_672_531_200);
        h[156] = typ;
        put(&mut h[157..257], link.as_bytes())?;
        h[257..263].copy_from_slice(b"ustar\0");
        h[263..265].copy_from_slice(b"00");
        h[148..156].copy_from_slice(b"        ");
        let sum: u32 = h.iter().map(|&b| b as u32).sum();
        let s = format!("{sum:06o}\0 ");
        h[148..156].copy_from_slice(s.as_bytes());
        out.extend_from_slice(&h);
        out.extend_from_slice(data);
        let pad = (512 - data.len() % 512) % 512;
        out.extend(std::iter::repeat_n(0u8, pad));
    }
    out.extend(std::iter::repeat_n(0u8, 1024));
    Ok(out)
}
