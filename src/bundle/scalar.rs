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
    /// `|`, `|-`, `|+`: lines kept as they are.
    Literal,
    /// `>`, `>-`, `>+`: lines folded into spaces.
    Folded,
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
        let start = after_properties(text, node.start, node.end);
        // saphyr's span of a block scalar starts at its content, or at its anchor when it has
        // one; either way the header is found.
        let block = block_header_before(text, node.start)
            .or_else(|| text[start..].starts_with(['|', '>']).then_some(start));
        let scalar = match block.map(|h| (h, text[h..].chars().next())) {
            Some((h, Some('|'))) => decode_block(text, h, ScalarStyle::Literal)?,
            Some((h, _)) => decode_block(text, h, ScalarStyle::Folded)?,
            None => match text[start..].chars().next() {
                Some('\'') => decode_quoted(text, start, ScalarStyle::SingleQuoted)?,
                Some('"') => decode_quoted(text, start, ScalarStyle::DoubleQuoted)?,
                _ => plain(text, start, node.end)?,
            },
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

/// Where the scalar itself starts: after an anchor (`&name`) or a tag (`!tag`) written before
/// it, so an anchored value is edited once, in its own place.
fn after_properties(text: &str, start: usize, end: usize) -> usize {
    let mut pos = start;
    while pos < end && matches!(text[pos..].chars().next(), Some('&' | '!')) {
        let token = text[pos..]
            .find(|c: char| c.is_whitespace())
            .unwrap_or(text.len() - pos);
        pos += token;
        pos += text[pos..]
            .find(|c: char| !c.is_whitespace())
            .unwrap_or(text.len() - pos);
    }
    pos
}

/// The block scalar header (`|`, `>-`, `|2+`, after any anchor or tag) of a scalar whose
/// content starts at `content`: saphyr's span of a block scalar starts at its content.
fn block_header_before(text: &str, content: usize) -> Option<usize> {
    let mut line_start = text[..content].rfind('\n').map_or(0, |i| i + 1);
    if !text[line_start..content].trim().is_empty() {
        return None;
    }
    // Empty lines may come between the header and the first content line.
    loop {
        let prev_end = line_start.checked_sub(1)?;
        let prev_start = text[..prev_end].rfind('\n').map_or(0, |i| i + 1);
        let line = &text[prev_start..prev_end];
        if line.trim().is_empty() {
            line_start = prev_start;
            continue;
        }
        let code = match line.find(" #") {
            Some(i) => &line[..i],
            None => line,
        }
        .trim_end();
        let token_at = code.rfind(|c: char| c.is_whitespace()).map_or(0, |i| i + 1);
        let token = &code[token_at..];
        let is_header = token.starts_with(['|', '>'])
            && token[1..]
                .chars()
                .all(|c| matches!(c, '-' | '+' | '1'..='9'));
        return is_header.then_some(prev_start + token_at);
    }
}

/// The name after `sigil` at `at`: an anchor (`&img`) written on a value or an alias
/// (`*img`) standing for one, inside block or flow collections.
pub fn property_name(text: &str, at: usize, sigil: char) -> Option<&str> {
    let rest = text.get(at..)?.strip_prefix(sigil)?;
    let len = rest
        .find(|c: char| c.is_whitespace() || ",]}".contains(c))
        .unwrap_or(rest.len());
    Some(&rest[..len])
}

/// A plain scalar, over one line or folded over several (a break is a space, an empty line a
/// newline); folded characters are synthetic, so no splice crosses a fold.
fn plain(text: &str, start: usize, end: usize) -> Result<RawScalar, String> {
    let mut d = Decoder {
        text,
        pos: start,
        decoded: String::new(),
        origins: Vec::new(),
    };
    while d.pos < end {
        if d.at_break() {
            d.fold();
            continue;
        }
        let c = d.peek().ok_or("the scalar ends early")?;
        let at = d.pos;
        d.pos += c.len_utf8();
        d.push(c, at..d.pos, false);
    }
    Ok(RawScalar {
        style: ScalarStyle::Plain,
        range: start..end,
        decoded: d.decoded,
        origins: d.origins,
    })
}

/// A block scalar (`|` or `>`, with chomping `-`/`+` and an optional indentation digit): its
/// content lines without their indentation, each content character mapped to its byte.
fn decode_block(text: &str, start: usize, style: ScalarStyle) -> Result<RawScalar, String> {
    let header_end = text[start..]
        .find('\n')
        .map_or(text.len(), |i| start + i + 1);
    let header = text[start + 1..header_end]
        .split('#')
        .next()
        .unwrap_or("")
        .trim();
    let chomp = if header.contains('-') {
        '-'
    } else if header.contains('+') {
        '+'
    } else {
        ' '
    };
    let explicit = header
        .chars()
        .find_map(|c| c.to_digit(10))
        .map(|d| d as usize);
    let parent_indent = {
        let line_start = text[..start].rfind('\n').map_or(0, |i| i + 1);
        text[line_start..].len() - text[line_start..].trim_start_matches(' ').len()
    };
    // Lines of the block: (start, end without the break, end with the break).
    let mut lines = Vec::new();
    let mut pos = header_end;
    while pos < text.len() {
        let end_nl = text[pos..].find('\n').map_or(text.len(), |i| pos + i + 1);
        let mut end = end_nl;
        if text[..end].ends_with('\n') {
            end -= 1;
        }
        if text[..end].ends_with('\r') {
            end -= 1;
        }
        lines.push((pos, end, end_nl));
        pos = end_nl;
    }
    let indent_of = |(s, e, _): (usize, usize, usize)| {
        text[s..e].len() - text[s..e].trim_start_matches(' ').len()
    };
    let blank = |(s, e, _): (usize, usize, usize)| text[s..e].trim().is_empty();
    let indent = match explicit {
        Some(n) => parent_indent + n,
        None => lines
            .iter()
            .find(|l| !blank(**l))
            .map(|l| indent_of(*l))
            .ok_or("the block scalar is empty")?,
    };
    if indent <= parent_indent {
        return Err("the block scalar has no content".to_owned());
    }
    let content: Vec<_> = lines
        .iter()
        .take_while(|l| blank(**l) || indent_of(**l) >= indent)
        .copied()
        .collect();
    let mut d = Decoder {
        text,
        pos: header_end,
        decoded: String::new(),
        origins: Vec::new(),
    };
    let mut range_end = header_end;
    let mut pending_breaks: Vec<Range<usize>> = Vec::new();
    let mut previous_folds = false;
    for &(s, e, e_nl) in &content {
        let is_blank = text[s..e].len() <= indent || text[s..e].trim().is_empty();
        if is_blank {
            pending_breaks.push(e..e_nl);
            continue;
        }
        let body = s + indent;
        let more_indented = matches!(text[body..e].chars().next(), Some(' ' | '\t'));
        if !d.decoded.is_empty() || !pending_breaks.is_empty() {
            // The break ending the previous content line, then one per empty line.
            let folds = style == ScalarStyle::Folded && previous_folds && !more_indented;
            let mut breaks = std::mem::take(&mut pending_breaks);
            if d.decoded.is_empty() {
                for b in breaks {
                    d.push('\n', b, true);
                }
            } else {
                let first = breaks.remove(0);
                if folds && breaks.is_empty() {
                    d.push(' ', first, true);
                } else if folds {
                    for b in breaks {
                        d.push('\n', b, true);
                    }
                } else {
                    d.push('\n', first, true);
                    for b in breaks {
                        d.push('\n', b, true);
                    }
                }
            }
        }
        for (i, c) in text[body..e].char_indices() {
            d.push(c, body + i..body + i + c.len_utf8(), false);
        }
        range_end = e;
        pending_breaks.push(e..e_nl);
        previous_folds = !more_indented;
    }
    // Chomping: strip drops every final break, clip keeps one, keep keeps them all.
    match chomp {
        '-' => {}
        '+' => {
            for b in pending_breaks {
                d.push('\n', b, true);
            }
        }
        _ => {
            if let Some(b) = pending_breaks.into_iter().next() {
                d.push('\n', b, true);
            }
        }
    }
    Ok(RawScalar {
        style,
        range: start..range_end,
        decoded: d.decoded,
        origins: d.origins,
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
    fn block_scalars_decode_like_saphyr_with_every_chomping() {
        for (text, decoded) in [
            ("k: &x |\n  a: b\n", "a: b\n"),
            ("k: | # c\n  a: b\n", "a: b\n"),
            ("k: |-\n  a/b:1\n", "a/b:1"),
            ("k: |\n  a\n  b\n\n", "a\nb\n"),
            ("k: |+\n  a\n\nz: 1\n", "a\n\n"),
            ("k: >\n  a\n  b\n\n  c\n", "a b\nc\n"),
            ("k: >-\n  a\n    more\n  b\n", "a\n  more\nb"),
            ("k: &x |  # note\r\n  a: b\r\n  c: d\r\n", "a: b\nc: d\n"),
            ("k: |\r\n  a: b\r\n  c: d\r\n", "a: b\nc: d\n"),
            ("k: &x |  # note\n  a: b\n  c: d\n", "a: b\nc: d\n"),
        ] {
            let doc = Document::parse("t", text).unwrap();
            let node = doc.root.get("k").unwrap().clone();
            let raw = RawScalar::read(&doc.source, &node)
                .unwrap_or_else(|e| panic!("{text:?}: {e}; saphyr has {:?}", node.kind));
            assert_eq!(raw.decoded, decoded, "{text:?}");
            assert_eq!(doc.root.get("k").unwrap().as_str(), Some(decoded));
        }
    }

    #[test]
    fn a_block_value_is_located_inside_its_block() {
        let (doc, raw) = scalar("k: |\n  agent: reg/a:1\n");
        let r = raw.locate(doc.text(), 7..14).unwrap();
        assert_eq!(&doc.text()[r], "reg/a:1");
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
