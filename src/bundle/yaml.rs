//! An owned YAML tree with byte positions, built once from saphyr's `MarkedYaml`.
//!
//! saphyr's tree borrows the input and reports character positions; the rest of the module
//! wants an owned tree (so it can live next to its text) with byte offsets.

use std::fmt;

use saphyr::{LoadableYamlNode, MarkedYaml, Scalar, YamlData};

use super::error::{BundleError, Result};
use super::text::SourceText;

/// One step of a path from the document root.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub enum PathSeg {
    Key(String),
    Index(usize),
}

pub type YamlPath = Vec<PathSeg>;

/// `applications.kfp-api.options.cache-image`, `relations[3][0]`.
pub fn display_path(path: &[PathSeg]) -> String {
    let mut out = String::new();
    for seg in path {
        match seg {
            PathSeg::Key(k) if out.is_empty() => out.push_str(k),
            PathSeg::Key(k) => {
                out.push('.');
                out.push_str(k);
            }
            PathSeg::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}

/// A decoded scalar.
#[derive(Debug, Clone, PartialEq)]
pub enum ScalarValue {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    /// Aliases and values saphyr could not resolve; compared by this text only.
    Other(String),
}

impl fmt::Display for ScalarValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Null => f.write_str("null"),
            Self::Bool(b) => write!(f, "{b}"),
            Self::Int(i) => write!(f, "{i}"),
            Self::Float(x) => write!(f, "{x}"),
            Self::Str(s) | Self::Other(s) => f.write_str(s),
        }
    }
}

#[derive(Debug, Clone)]
pub enum NodeKind {
    Scalar(ScalarValue),
    Map(Vec<(Node, Node)>),
    Seq(Vec<Node>),
}

/// A node with byte offsets. `end` is saphyr's end, which for quoted scalars may run past the
/// closing quote into a trailing comment: use `scalar::RawScalar` for exact extents.
#[derive(Debug, Clone)]
pub struct Node {
    pub start: usize,
    pub end: usize,
    pub kind: NodeKind,
}

impl Node {
    pub fn as_str(&self) -> Option<&str> {
        match &self.kind {
            NodeKind::Scalar(ScalarValue::Str(s)) => Some(s),
            _ => None,
        }
    }

    pub fn as_scalar(&self) -> Option<&ScalarValue> {
        match &self.kind {
            NodeKind::Scalar(v) => Some(v),
            _ => None,
        }
    }

    pub fn entries(&self) -> &[(Node, Node)] {
        match &self.kind {
            NodeKind::Map(m) => m,
            _ => &[],
        }
    }

    pub fn items(&self) -> &[Node] {
        match &self.kind {
            NodeKind::Seq(s) => s,
            _ => &[],
        }
    }

    pub fn is_map(&self) -> bool {
        matches!(self.kind, NodeKind::Map(_))
    }

    /// Mapping lookup by the key's text.
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.entry(key).map(|(_, v)| v)
    }

    pub fn entry(&self, key: &str) -> Option<&(Node, Node)> {
        self.entries().iter().find(|(k, _)| k.key_text() == key)
    }

    /// A mapping key as text (keys are almost always strings in bundles).
    pub fn key_text(&self) -> String {
        match &self.kind {
            NodeKind::Scalar(v) => v.to_string(),
            _ => String::from("<complex key>"),
        }
    }

    /// Node at a path, if present.
    pub fn at(&self, path: &[PathSeg]) -> Option<&Node> {
        path.iter().try_fold(self, |node, seg| match seg {
            PathSeg::Key(k) => node.get(k),
            PathSeg::Index(i) => node.items().get(*i),
        })
    }

    /// The largest byte offset saphyr attributes to this subtree.
    pub fn max_end(&self) -> usize {
        match &self.kind {
            NodeKind::Scalar(_) => self.end,
            NodeKind::Map(m) => m.iter().map(|(_, v)| v.max_end()).max().unwrap_or(self.end),
            NodeKind::Seq(s) => s.iter().map(Node::max_end).max().unwrap_or(self.end),
        }
    }
}

/// A parsed YAML file: its name (for messages), its text and its first document.
#[derive(Debug, Clone)]
pub struct Document {
    pub name: String,
    pub source: SourceText,
    pub root: Node,
}

impl Document {
    /// Parse `text`; syntax errors carry the file name and 1-based line and column.
    pub fn parse(name: &str, text: &str) -> Result<Self> {
        let source = SourceText::new(text);
        let root = parse_root(name, &source)?;
        refuse_what_juju_refuses(name, &source, &root)?;
        Ok(Self {
            name: name.to_owned(),
            source,
            root,
        })
    }

    pub fn text(&self) -> &str {
        self.source.as_str()
    }

    /// `file:line:column` of a byte offset, for messages.
    pub fn locate(&self, byte: usize) -> (usize, usize) {
        self.source.line_col(byte)
    }
}

/// Parse a text that is not a file (an embedded YAML/JSON string), without a name.
pub fn parse_fragment(source: &SourceText) -> Option<Node> {
    parse_root("", source).ok()
}

fn parse_root(name: &str, source: &SourceText) -> Result<Node> {
    let docs = MarkedYaml::load_from_str(source.as_str()).map_err(|e| BundleError::Parse {
        file: name.to_owned(),
        line: e.marker().line(),
        column: e.marker().col() + 1,
        message: e.info().to_owned(),
    })?;
    let first = docs.first().ok_or_else(|| BundleError::Shape {
        file: name.to_owned(),
        what: "the file holds no YAML document".to_owned(),
        expected: "YAML file",
    })?;
    Ok(convert(first, source))
}

/// YAML allows only printable characters (tab, line breaks, and no C0 or C1 control but NEL)
/// and no tab where a token may start in block context: at a line's start or right after `-`,
/// `?` or `:`. saphyr accepts some of these where Juju's parser (go-yaml) refuses the bundle,
/// so a bundle we would write could not be deployed; they are refused here, at their place.
fn refuse_what_juju_refuses(name: &str, source: &SourceText, root: &Node) -> Result<()> {
    let text = source.as_str();
    let refuse = |at: usize, message: String| {
        let (line, column) = source.line_col(at);
        Err(BundleError::Parse {
            file: name.to_owned(),
            line,
            column,
            message,
        })
    };
    for (at, c) in text.char_indices() {
        let printable = matches!(c, '\t' | '\n' | '\r' | '\u{85}')
            || (' '..='~').contains(&c)
            || ('\u{a0}'..='\u{d7ff}').contains(&c)
            || ('\u{e000}'..='\u{fffd}').contains(&c)
            || c >= '\u{10000}';
        if !printable {
            return refuse(
                at,
                format!(
                    "the character U+{:04X} is not allowed in YAML (a control character; Juju \
                     refuses the file). Remove it",
                    c as u32
                ),
            );
        }
    }
    // Tabs inside a scalar (a quoted or block value) or a flow collection are content.
    let mut inside = Vec::new();
    spans_where_tabs_are_text(root, text, &mut inside);
    let within = |at: usize| {
        inside
            .iter()
            .any(|r: &std::ops::Range<usize>| r.contains(&at))
    };
    // Only the first document is parsed into spans; later ones (rare in bundles) are left to
    // saphyr, so a tab inside one of their values is not refused by mistake.
    let first_document_end = {
        let end = root.max_end().min(text.len());
        text[end..]
            .find("\n---")
            .map_or(text.len(), |i| end + i + 1)
    };
    let mut line_start = 0;
    let mut in_comment = false;
    for (at, c) in text.char_indices() {
        match c {
            '\n' => {
                line_start = at + 1;
                in_comment = false;
            }
            '#' if !in_comment
                && (at == line_start || text[..at].ends_with([' ', '\t']))
                && !within(at) =>
            {
                in_comment = true;
            }
            '\t' if !in_comment && !within(at) && at < first_document_end => {
                let before = text[line_start..at].trim_end_matches([' ', '\t']);
                let last_token = before.rsplit([' ', '\t']).next().unwrap_or("");
                // `-`, `?` or `:` as an indicator: not the end of a scalar (`x-`), not a block
                // scalar's header (`|-`, `>+2`), not a document marker.
                let indicator = before.ends_with(['-', '?', ':'])
                    && !within(line_start + before.len() - 1)
                    && !last_token.starts_with(['|', '>'])
                    && before.trim() != "---";
                if before.is_empty() || indicator {
                    return refuse(
                        at,
                        "a tab where YAML allows only spaces (indentation, or after `-`, `?` or \
                         `:`); Juju refuses the file. Replace it with spaces"
                            .to_owned(),
                    );
                }
            }
            _ => {}
        }
    }
    Ok(())
}

fn spans_where_tabs_are_text(node: &Node, text: &str, out: &mut Vec<std::ops::Range<usize>>) {
    // A flow collection may follow its anchor or tag (`&a {b: c}`).
    let mut head = &text[node.start.min(text.len())..];
    while head.starts_with(['&', '!']) {
        head = head
            .split_once([' ', '\t'])
            .map_or("", |(_, rest)| rest)
            .trim_start_matches([' ', '\t']);
    }
    let flow = head.starts_with(['[', '{']);
    match &node.kind {
        NodeKind::Scalar(_) => out.push(node.start..node.end),
        _ if flow => out.push(node.start..node.max_end()),
        NodeKind::Map(entries) => {
            for (k, v) in entries {
                spans_where_tabs_are_text(k, text, out);
                spans_where_tabs_are_text(v, text, out);
            }
        }
        NodeKind::Seq(items) => {
            for item in items {
                spans_where_tabs_are_text(item, text, out);
            }
        }
    }
}

fn convert(node: &MarkedYaml<'_>, source: &SourceText) -> Node {
    let start = source.byte_of_char(node.span.start.index());
    let end = source.byte_of_char(node.span.end.index());
    let kind = match &node.data {
        YamlData::Value(v) => NodeKind::Scalar(convert_scalar(v)),
        YamlData::Representation(raw, _, _) => NodeKind::Scalar(ScalarValue::Str(raw.to_string())),
        YamlData::Sequence(items) => {
            NodeKind::Seq(items.iter().map(|n| convert(n, source)).collect())
        }
        YamlData::Mapping(map) => NodeKind::Map(
            map.iter()
                .map(|(k, v)| (convert(k, source), convert(v, source)))
                .collect(),
        ),
        YamlData::Tagged(_, inner) => return convert(inner, source),
        YamlData::Alias(id) => NodeKind::Scalar(ScalarValue::Other(format!("*alias{id}"))),
        YamlData::BadValue => NodeKind::Scalar(ScalarValue::Other("<bad value>".to_owned())),
    };
    Node { start, end, kind }
}

fn convert_scalar(v: &Scalar<'_>) -> ScalarValue {
    match v {
        Scalar::Null => ScalarValue::Null,
        Scalar::Boolean(b) => ScalarValue::Bool(*b),
        Scalar::Integer(i) => ScalarValue::Int(*i),
        Scalar::FloatingPoint(x) => ScalarValue::Float(x.into_inner()),
        Scalar::String(s) => ScalarValue::Str(s.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syntax_error_has_file_line_and_column() {
        let err = Document::parse("b.yaml", "a: [1, 2\nb: 3\n").err();
        let msg = err.map(|e| e.to_string()).unwrap_or_default();
        assert!(msg.starts_with("b.yaml:2:2:"), "{msg}");
    }

    #[test]
    fn what_juju_refuses_is_refused_at_its_place() {
        for (text, at) in [
            // saphyr refuses this one itself.
            ("a:\n\tb: 1\n", "x.yaml:2:"),
            ("a:\n  - \tb\n", "x.yaml:2:5:"),
            ("a:\n  \tb: 1\n", "x.yaml:2:3:"),
            ("- a\n-\tb\n", "x.yaml:2:2:"),
            ("a:\n  b: 1\n\t\n", "x.yaml:3:1:"),
            ("a: b\u{1b}[31m\n", "x.yaml:1:5:"),
            ("a: \"b\u{7f}\"\n", "x.yaml:1:6:"),
        ] {
            let msg = Document::parse("x.yaml", text)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(msg.starts_with(at), "{text:?}: {msg}");
        }
    }

    #[test]
    fn tabs_in_values_and_comments_and_after_a_value_stay_accepted() {
        for text in [
            "a: \"b\tc\"\n",
            "a: |\n  x\ty\n  \tindented content\n",
            "a: b\t# a comment\n",
            "# a\tcomment\nb: 1\n",
            "a: [1,\t2]\n",
            "a: |-\t# a comment\n  x\n",
            "a: x-\t# a note\n",
            "---\t# a document\na: 1\n",
            "a: &l [1,\t2]\n",
        ] {
            assert!(Document::parse("x.yaml", text).is_ok(), "{text:?}");
        }
    }

    #[test]
    fn offsets_are_bytes() {
        let doc = Document::parse("x", "# — 中\na: b\n").unwrap();
        let v = doc.root.get("a").unwrap();
        assert_eq!(&doc.text()[v.start..v.end], "b");
    }
}
