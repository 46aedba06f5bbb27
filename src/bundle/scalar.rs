//! Exact raw extent of a scalar and the mapping from its decoded text back to file bytes.
//!
//! saphyr's span of a quoted scalar can run on into a trailing comment, and escapes or line
//! folding make decoded and raw text differ. So the raw text is decoded again here, keeping
//! for every decoded character the bytes it came from; the result must equal saphyr's value,
//! otherwise the scalar is not edited at all.

use std::ops::Range;

use super::text::SourceText;
use super::yaml::{Node, NodeKind, ScalarValue, parse_fragment};

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum ScalarStyle {
    Plain,
    SingleQuoted,
    DoubleQuoted,
}

#[derive(Debug, Clone)]
struct CharOrigin {
    decoded_at: usize,
    raw: Range<usize>,
    /// Came from an escape or line folding, so the raw bytes never equal the character.
    synthetic: bool,
}

/// A string scalar located in its source text.
#[derive(Debug, Clone)]
pub struct RawScalar {
    pub style: ScalarStyle,
    /// Raw extent in the source, quotes included, trailing comment excluded.
    pub range: Range<usize>,
    pub decoded: String,
    origins: Vec<CharOrigin>,
}

impl RawScalar {
    /// Locate a string scalar node in `source`. The error says why it cannot be edited.
    pub fn read(source: &SourceText, node: &Node) -> Result<Self, String> {
        let NodeKind::Scalar(ScalarValue::Str(expected)) = &node.kind else {
            return Err("the value is not a string".to_owned());
        };
        let text = source.as_str();
        let scalar = match text[node.start..].chars().next() {
            Some('\'') => decode_quoted(text, node.start, ScalarStyle::SingleQuoted)?,
            Some('"') => decode_quoted(text, node.start, ScalarStyle::DoubleQuoted)?,
            Some('|' | '>') => return Err("block scalars (| or >) are not edited".to_owned()),
            _ => plain(text, node)?,
        };
        if &scalar.decoded != expected {
            return Err("the raw text decodes differently from the YAML parser's value".to_owned());
        }
        Ok(scalar)
    }

    /// Raw byte range holding `decoded[range]`, only when those raw bytes are exactly the
    /// decoded text (no escapes, no folding inside), so splicing there cannot change meaning.
    pub fn locate(&self, source: &str, range: Range<usize>) -> Option<Range<usize>> {
        let first = self
            .origins
            .iter()
            .position(|o| o.decoded_at == range.start)?;
        let last = self
            .origins
            .iter()
            .rposition(|o| o.decoded_at < range.end)?;
        let span = &self.origins[first..=last];
        if last < first || span.iter().any(|o| o.synthetic) {
            return None;
        }
        let raw = span[0].raw.start..span[span.len() - 1].raw.end;
        (source.get(raw.clone())? == self.decoded.get(range)?).then_some(raw)
    }
}

fn plain(text: &str, node: &Node) -> Result<RawScalar, String> {
    let raw = &text[node.start..node.end];
    if raw.contains(['\n', '\r']) {
        return Err("multi-line plain scalars are not edited".to_owned());
    }
    let origins = raw
        .char_indices()
        .map(|(i, c)| CharOrigin {
            decoded_at: i,
            raw: node.start + i..node.start + i + c.len_utf8(),
            synthetic: false,
        })
        .collect();
    Ok(RawScalar {
        style: ScalarStyle::Plain,
        range: node.start..node.end,
        decoded: raw.to_owned(),
        origins,
    })
}

struct Decoder<'a> {
    text: &'a str,
    pos: usize,
    decoded: String,
    origins: Vec<CharOrigin>,
}

impl Decoder<'_> {
    fn peek(&self) -> Option<char> {
        self.text[self.pos..].chars().next()
    }

    fn push(&mut self, c: char, raw: Range<usize>, synthetic: bool) {
        self.origins.push(CharOrigin {
            decoded_at: self.decoded.len(),
            raw,
            synthetic,
        });
        self.decoded.push(c);
    }

    fn at_break(&self) -> bool {
        self.text[self.pos..].starts_with('\n') || self.text[self.pos..].starts_with("\r\n")
    }

    fn skip_break(&mut self) {
        self.pos += if self.text[self.pos..].starts_with("\r\n") {
            2
        } else {
            1
        };
    }

    fn skip_blanks(&mut self) {
        while matches!(self.peek(), Some(' ' | '\t')) {
            self.pos += 1;
        }
    }

    /// YAML line folding: trailing blanks dropped, one break becomes a space, each further
    /// empty line a newline.
    fn fold(&mut self) {
        let at = self.pos;
        while let Some(o) = self.origins.last() {
            let c = self.decoded[o.decoded_at..].chars().next();
            if o.synthetic || !matches!(c, Some(' ' | '\t')) {
                break;
            }
            self.decoded.truncate(o.decoded_at);
            self.origins.pop();
        }
        self.skip_break();
        let mut empty_lines = 0;
        loop {
            self.skip_blanks();
            if !self.at_break() {
                break;
            }
            self.skip_break();
            empty_lines += 1;
        }
        if empty_lines == 0 {
            self.push(' ', at..self.pos, true);
        }
        for _ in 0..empty_lines {
            self.push('\n', at..self.pos, true);
        }
    }

    fn escape(&mut self) -> Result<(), String> {
        let start = self.pos;
        self.pos += 1;
        if self.at_break() {
            self.skip_break();
            self.skip_blanks();
            return Ok(());
        }
        let c = self.peek().ok_or("unterminated escape")?;
        self.pos += c.len_utf8();
        let decoded = match c {
            '0' => '\0',
            'a' => '\x07',
            'b' => '\x08',
            't' | '\t' => '\t',
            'n' => '\n',
            'v' => '\x0b',
            'f' => '\x0c',
            'r' => '\r',
            'e' => '\x1b',
            ' ' => ' ',
            '"' => '"',
            '/' => '/',
            '\\' => '\\',
            'N' => '\u{85}',
            '_' => '\u{a0}',
            'L' => '\u{2028}',
            'P' => '\u{2029}',
            'x' => self.hex(2)?,
            'u' => self.hex(4)?,
            'U' => self.hex(8)?,
            other => return Err(format!("unknown escape \\{other}")),
        };
        self.push(decoded, start..self.pos, true);
        Ok(())
    }

    fn hex(&mut self, digits: usize) -> Result<char, String> {
        let code = self
            .text
            .get(self.pos..self.pos + digits)
            .and_then(|h| u32::from_str_radix(h, 16).ok())
            .and_then(char::from_u32)
            .ok_or("bad hexadecimal escape")?;
        self.pos += digits;
        Ok(code)
    }
}

fn decode_quoted(text: &str, start: usize, style: ScalarStyle) -> Result<RawScalar, String> {
    let quote = if style == ScalarStyle::SingleQuoted {
        '\''
    } else {
        '"'
    };
    let mut d = Decoder {
        text,
        pos: start + 1,
        decoded: String::new(),
        origins: Vec::new(),
    };
    loop {
        let c = d.peek().ok_or("unterminated quoted scalar")?;
        let at = d.pos;
        if d.at_break() {
            d.fold();
        } else if c == quote && quote == '\'' && text[at + 1..].starts_with('\'') {
            d.pos += 2;
            d.push('\'', at..d.pos, true);
        } else if c == quote {
            d.pos += 1;
            break;
        } else if c == '\\' && quote == '"' {
            d.escape()?;
        } else {
            d.pos += c.len_utf8();
            d.push(c, at..d.pos, false);
        }
    }
    Ok(RawScalar {
        style,
        range: start..d.pos,
        decoded: d.decoded,
        origins: d.origins,
    })
}

/// Text for a whole scalar holding `value`, keeping the original quoting style when that is
/// safe; a plain scalar that would change type or meaning is single-quoted instead.
pub fn render_scalar(style: ScalarStyle, value: &str) -> String {
    let needs_double = value.chars().any(|c| c.is_control());
    match style {
        ScalarStyle::Plain if is_safe_plain(value) => value.to_owned(),
        ScalarStyle::DoubleQuoted => double_quoted(value),
        _ if needs_double => double_quoted(value),
        _ => format!("'{}'", value.replace('\'', "''")),
    }
}

fn double_quoted(value: &str) -> String {
    // A JSON string literal is a valid YAML double-quoted scalar with the same value.
    serde_json::to_string(value).unwrap_or_else(|_| format!("\"{value}\""))
}

/// A value that YAML reads back as the same string when written unquoted.
pub fn is_safe_plain(value: &str) -> bool {
    let charset_ok = value
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "._/@:+=-~".contains(c));
    let first_ok = value
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric() || c == '.' || c == '/');
    if !charset_ok || !first_ok || value.ends_with(':') {
        return false;
    }
    let source = SourceText::new(value);
    parse_fragment(&source).is_some_and(|n| n.as_str() == Some(value))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bundle::yaml::Document;

    fn scalar(text: &str) -> (Document, RawScalar) {
        let doc = Document::parse("t", text).unwrap();
        let node = doc.root.get("k").unwrap().clone();
        let raw = RawScalar::read(&doc.source, &node).unwrap();
        (doc, raw)
    }

    #[test]
    fn quoted_extent_stops_at_closing_quote_before_comment() {
        let (doc, raw) = scalar("k: 'a''b' # c\n");
        assert_eq!(&doc.text()[raw.range.clone()], "'a''b'");
        assert_eq!(raw.decoded, "a'b");
    }

    #[test]
    fn escaped_token_is_not_locatable_but_plain_token_is() {
        let (doc, raw) = scalar("k: \"x\\u0041y reg/a:1\"\n");
        assert_eq!(raw.decoded, "xAy reg/a:1");
        assert_eq!(raw.locate(doc.text(), 0..3), None);
        let r = raw.locate(doc.text(), 4..11).unwrap();
        assert_eq!(&doc.text()[r], "reg/a:1");
    }

    #[test]
    fn folded_quoted_scalar_decodes_like_saphyr() {
        let (_, raw) = scalar("k: 'a  \n   b\n\n  c'\n");
        assert_eq!(raw.decoded, "a b\nc");
    }

    #[test]
    fn render_keeps_style_or_quotes_when_needed() {
        assert_eq!(
            render_scalar(ScalarStyle::Plain, "./a_b.charm"),
            "./a_b.charm"
        );
        assert_eq!(render_scalar(ScalarStyle::Plain, "true"), "'true'");
        assert_eq!(render_scalar(ScalarStyle::Plain, "a #b"), "'a #b'");
        assert_eq!(
            render_scalar(ScalarStyle::DoubleQuoted, "a\"b"),
            "\"a\\\"b\""
        );
    }
}
