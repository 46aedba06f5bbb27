//! Byte/char/line bookkeeping for one source text.
//!
//! saphyr's `Marker::index()` counts characters, while every splice works on bytes, so the
//! table is built once per text instead of walking `char_indices()` for every lookup.

use std::ops::Range;

/// A text plus the tables needed to translate saphyr positions into byte offsets.
#[derive(Debug, Clone)]
pub struct SourceText {
    text: String,
    char_to_byte: Vec<usize>,
    line_starts: Vec<usize>,
}

impl SourceText {
    pub fn new(text: impl Into<String>) -> Self {
        let text = text.into();
        let mut char_to_byte: Vec<usize> = text.char_indices().map(|(b, _)| b).collect();
        char_to_byte.push(text.len());
        let mut line_starts = vec![0];
        line_starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        Self {
            text,
            char_to_byte,
            line_starts,
        }
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Byte offset of a character index; indexes past the end clamp to the text length.
    pub fn byte_of_char(&self, char_index: usize) -> usize {
        self.char_to_byte
            .get(char_index)
            .copied()
            .unwrap_or(self.text.len())
    }

    /// 1-based line and column (column counted in characters) of a byte offset.
    pub fn line_col(&self, byte: usize) -> (usize, usize) {
        let line = self.line_starts.partition_point(|&s| s <= byte).max(1);
        let start = self.line_starts[line - 1];
        let column = self
            .text
            .get(start..byte.min(self.text.len()))
            .map_or(1, |s| s.chars().count() + 1);
        (line, column)
    }

    /// Byte offset where the line holding `byte` starts.
    pub fn line_start(&self, byte: usize) -> usize {
        let line = self.line_starts.partition_point(|&s| s <= byte).max(1);
        self.line_starts[line - 1]
    }

    /// Byte offset just after the line break ending the line holding `byte` (or the text end).
    pub fn line_end_inclusive(&self, byte: usize) -> usize {
        self.text[byte.min(self.text.len())..]
            .find('\n')
            .map_or(self.text.len(), |i| byte + i + 1)
    }

    /// Whole lines covering `range`, including the final line break.
    pub fn whole_lines(&self, range: Range<usize>) -> Range<usize> {
        let last = if range.end > range.start {
            range.end - 1
        } else {
            range.start
        };
        self.line_start(range.start)..self.line_end_inclusive(last)
    }

    /// Leading whitespace of the line holding `byte`.
    pub fn indent_of_line(&self, byte: usize) -> &str {
        let start = self.line_start(byte);
        let rest = &self.text[start..];
        let len = rest.len() - rest.trim_start_matches([' ', '\t']).len();
        &rest[..len]
    }

    /// True when only blanks precede `byte` on its line, i.e. a block-style key starts there.
    pub fn starts_line(&self, byte: usize) -> bool {
        let start = self.line_start(byte);
        self.text[start..byte]
            .chars()
            .all(|c| c == ' ' || c == '\t' || c == '-')
    }

    /// The line break the file uses, so inserted lines match (CRLF files stay CRLF).
    pub fn newline(&self) -> &'static str {
        match self.text.find('\n') {
            Some(i) if i > 0 && self.text.as_bytes()[i - 1] == b'\r' => "\r\n",
            _ => "\n",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chars_map_to_bytes_after_multibyte_text() {
        let s = SourceText::new("a—b中c");
        assert_eq!(s.byte_of_char(1), 1);
        assert_eq!(s.byte_of_char(2), 4);
        assert_eq!(s.byte_of_char(4), 8);
        assert_eq!(s.byte_of_char(99), s.as_str().len());
    }

    #[test]
    fn line_col_is_one_based() {
        let s = SourceText::new("ab\ncd\n");
        assert_eq!(s.line_col(0), (1, 1));
        assert_eq!(s.line_col(4), (2, 2));
    }

    #[test]
    fn whole_lines_include_crlf() {
        let s = SourceText::new("a\r\nbb\r\nc");
        assert_eq!(s.whole_lines(3..4), 3..7);
        assert_eq!(s.newline(), "\r\n");
    }
}
