//! A request body kept for sending again: the compressed pieces of an upload chunk as they
//! came from the compressors, shared rather than copied into one buffer. A chunk of many MiB
//! then costs no large allocation (which glibc keeps per thread arena long after it is freed)
//! and a retry or a split after a 413 slices it without a copy.

use bytes::Bytes;

#[derive(Clone, Debug, Default)]
pub(crate) struct Payload {
    parts: Vec<Bytes>,
    len: usize,
}

impl From<Bytes> for Payload {
    fn from(b: Bytes) -> Payload {
        let mut p = Payload::default();
        p.push(b);
        p
    }
}

impl Payload {
    pub(crate) fn push(&mut self, b: Bytes) {
        if !b.is_empty() {
            self.len += b.len();
            self.parts.push(b);
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The bytes from `from` on.
    pub(crate) fn slice_from(&self, mut from: usize) -> Payload {
        let mut out = Payload::default();
        for part in &self.parts {
            if from >= part.len() {
                from -= part.len();
                continue;
            }
            out.push(part.slice(from..));
            from = 0;
        }
        out
    }

    /// Consecutive payloads of at most `size` bytes each.
    pub(crate) fn split(&self, size: usize) -> Vec<Payload> {
        let size = size.max(1);
        let mut out = Vec::new();
        let mut current = Payload::default();
        for part in &self.parts {
            let mut part = part.clone();
            while !part.is_empty() {
                let take = part.len().min(size - current.len);
                current.push(part.split_to(take));
                if current.len == size {
                    out.push(std::mem::take(&mut current));
                }
            }
        }
        if !current.is_empty() {
            out.push(current);
        }
        out
    }

    /// The body for one request. A single part goes as it is; several go as a stream, and the
    /// caller sets `Content-Length` (hyper sends a stream with a known length as it is, not in
    /// chunked encoding, which some proxies refuse).
    pub(crate) fn body(&self) -> reqwest::Body {
        match self.parts.as_slice() {
            [] => reqwest::Body::from(Bytes::new()),
            [one] => reqwest::Body::from(one.clone()),
            _ => reqwest::Body::wrap_stream(futures_util::stream::iter(
                self.parts.clone().into_iter().map(Ok::<_, std::io::Error>),
            )),
        }
    }

    #[cfg(test)]
    fn to_vec(&self) -> Vec<u8> {
        self.parts.iter().flat_map(|p| p.iter().copied()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Payload {
        let mut p = Payload::default();
        for (i, n) in [3usize, 0, 5, 1, 7].into_iter().enumerate() {
            p.push(Bytes::from(vec![i as u8; n]));
        }
        p
    }

    #[test]
    fn slices_and_splits_keep_every_byte_in_order() {
        let p = sample();
        let all = p.to_vec();
        assert_eq!(p.len(), 16);
        for from in 0..=16 {
            let s = p.slice_from(from);
            assert_eq!(s.to_vec(), all[from..].to_vec(), "from {from}");
            assert_eq!(s.len(), 16 - from);
        }
        for size in 1..=17 {
            let parts = p.split(size);
            assert!(parts.iter().all(|q| q.len() <= size && !q.is_empty()));
            assert!(parts.iter().rev().skip(1).all(|q| q.len() == size));
            let joined: Vec<u8> = parts.iter().flat_map(|q| q.to_vec()).collect();
            assert_eq!(joined, all, "size {size}");
        }
        assert!(Payload::default().split(4).is_empty());
    }
}
