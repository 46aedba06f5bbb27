//! The edit engine: non-overlapping byte splices on the original text, so everything not
//! edited (comments, quoting, line endings, non-ASCII text) stays byte for byte.

use std::ops::Range;

use super::error::{BundleError, Result};
use super::scalar::{RawScalar, ScalarStyle, render_scalar};
use super::verify::verify;
use super::yaml::{Document, Node, NodeKind, PathSeg, ScalarValue, YamlPath, display_path};

/// What an edit means for the document, so the result can be checked after re-parsing.
#[derive(Debug, Clone, PartialEq)]
pub enum EditKind {
    /// Part of a string scalar replaced: `value_range` of its decoded value becomes `replacement`.
    Token {
        value_path: YamlPath,
        value_range: Range<usize>,
        replacement: String,
    },
    /// A whole scalar replaced by `value`.
    Scalar {
        value_path: YamlPath,
        value: ScalarValue,
    },
    /// The mapping entry or sequence item at `path` removed with its whole lines.
    Delete { path: YamlPath },
    /// New entries added; every new leaf path and its value.
    Insert {
        leaves: Vec<(YamlPath, ScalarValue)>,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Edit {
    /// Bytes of the original text to replace (empty for an insertion).
    pub range: Range<usize>,
    pub replacement: String,
    pub kind: EditKind,
}

/// A set of edits plus the paths that must hold no placeholder reference afterwards.
#[derive(Debug, Clone, Default)]
pub struct EditPlan {
    pub edits: Vec<Edit>,
    /// `(placeholder, scalar path)`: after editing, no reference under this registry may
    /// remain in that scalar.
    pub placeholder_free: Vec<(String, YamlPath)>,
    /// Values written whole in a normalised form because a reference in them could not be
    /// spliced in place: one message each, for the operator before the diff.
    pub normalised: Vec<String>,
}

/// `value` with each decoded byte range replaced (ranges of the original value, any order);
/// None when a range is not in the value.
pub fn splice_value(value: &str, mut splices: Vec<(Range<usize>, &str)>) -> Option<String> {
    let mut out = value.to_owned();
    splices.sort_by_key(|(r, _)| std::cmp::Reverse(r.start));
    for (range, replacement) in splices {
        out.get(range.clone())?;
        out.replace_range(range, replacement);
    }
    Some(out)
}

/// The edited text, already re-parsed and verified.
#[derive(Debug, Clone)]
pub struct Edited {
    pub text: String,
    pub doc: Document,
}

impl EditPlan {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn is_empty(&self) -> bool {
        self.edits.is_empty()
    }

    pub fn push(&mut self, edit: Edit) {
        self.edits.push(edit);
    }

    /// Add `other`'s edits. Edits inside lines that either plan deletes are dropped, whichever
    /// plan they came from: an image inside an application moved out of the bundle needs no
    /// rewrite, and the order plans are merged in must not matter.
    pub fn merge(&mut self, other: EditPlan) {
        let is_delete = |e: &Edit| matches!(e.kind, EditKind::Delete { .. });
        let deleted: Vec<Range<usize>> = self
            .edits
            .iter()
            .chain(other.edits.iter())
            .filter(|e| is_delete(e))
            .map(|e| e.range.clone())
            .collect();
        let inside = |e: &Edit| {
            !is_delete(e)
                && deleted
                    .iter()
                    .any(|d| d.start <= e.range.start && e.range.end <= d.end)
        };
        self.edits.retain(|e| !inside(e));
        self.edits
            .extend(other.edits.into_iter().filter(|e| !inside(e)));
        self.placeholder_free.extend(other.placeholder_free);
        self.normalised.extend(other.normalised);
    }

    /// Apply every splice to `doc`'s text, then re-parse and verify the result.
    pub fn apply(&self, doc: &Document) -> Result<Edited> {
        let text = self.splice(doc.text())?;
        let new_doc = verify(doc, &text, self)?;
        Ok(Edited { text, doc: new_doc })
    }

    /// Apply the splices without verification (for previews of a plan known to be sound).
    pub fn splice(&self, original: &str) -> Result<String> {
        let mut edits: Vec<&Edit> = self.edits.iter().collect();
        edits.sort_by_key(|e| (e.range.start, e.range.end));
        for pair in edits.windows(2) {
            if pair[0].range.end > pair[1].range.start {
                return Err(BundleError::OverlappingEdits {
                    first: pair[0].range.clone(),
                    second: pair[1].range.clone(),
                });
            }
        }
        if let Some(bad) = edits.iter().find(|e| {
            e.range.start > e.range.end
                || !original.is_char_boundary(e.range.start)
                || !original.is_char_boundary(e.range.end)
        }) {
            return Err(BundleError::Verification {
                problems: format!("edit range {:?} is not inside the text", bad.range),
            });
        }
        let mut out = String::with_capacity(original.len() + 256);
        let mut at = 0;
        for e in edits {
            out.push_str(&original[at..e.range.start]);
            out.push_str(&e.replacement);
            at = e.range.end;
        }
        out.push_str(&original[at..]);
        Ok(out)
    }
}

impl Edit {
    /// Replace the whole scalar at `path` with the string `value`, keeping its quoting style.
    pub fn replace_scalar(doc: &Document, path: &[PathSeg], value: &str) -> Result<Self> {
        let node = node_at(doc, path)?;
        let (range, style) = match RawScalar::read(&doc.source, node) {
            Ok(raw) => (raw.range, raw.style),
            Err(reason) if node.as_str().is_some() => {
                return Err(not_spliceable(doc, node, path, reason));
            }
            Err(_) => (node.start..node.end, ScalarStyle::Plain),
        };
        Ok(Self {
            range,
            replacement: render_scalar(style, value),
            kind: EditKind::Scalar {
                value_path: path.to_vec(),
                value: ScalarValue::Str(value.to_owned()),
            },
        })
    }

    /// Delete the mapping entry or sequence item at `path`: exactly its own whole lines.
    pub fn delete(doc: &Document, path: &[PathSeg]) -> Result<Self> {
        let (last, parent_path) = path.split_last().ok_or_else(|| missing(doc, path))?;
        let parent = node_at(doc, parent_path)?;
        let (start, end) = match last {
            PathSeg::Key(k) => {
                let (key, value) = parent.entry(k).ok_or_else(|| missing(doc, path))?;
                (key.start, extent_end(doc, value).max(key.end))
            }
            PathSeg::Index(i) => {
                let item = parent.items().get(*i).ok_or_else(|| missing(doc, path))?;
                (item.start, extent_end(doc, item))
            }
        };
        if !doc.source.starts_line(start) {
            return Err(BundleError::FlowStyle {
                file: doc.name.clone(),
                what: display_path(path),
            });
        }
        Ok(Self {
            range: doc.source.whole_lines(start..end),
            replacement: String::new(),
            kind: EditKind::Delete {
                path: path.to_vec(),
            },
        })
    }

    /// Add `key: value` to the block mapping at `map_path`, creating that mapping inside its
    /// parent when it does not exist (e.g. an application without `options:`).
    pub fn insert_entry(
        doc: &Document,
        map_path: &[PathSeg],
        key: &str,
        value: &str,
    ) -> Result<Self> {
        let nl = doc.source.newline();
        let entry = format!("{key}: {}{nl}", render_scalar(ScalarStyle::Plain, value));
        let (anchor, text) = match doc.root.at(map_path) {
            Some(map) if map.is_map() && !map.entries().is_empty() => {
                let indent = doc.source.indent_of_line(map.entries()[0].0.start);
                (extent_end(doc, map), format!("{indent}{entry}"))
            }
            Some(_) => {
                return Err(BundleError::FlowStyle {
                    file: doc.name.clone(),
                    what: display_path(map_path),
                });
            }
            None => new_mapping_text(doc, map_path, &entry)?,
        };
        let at = doc.source.whole_lines(anchor.saturating_sub(1)..anchor).end;
        let needs_break = at > 0 && !doc.text()[..at].ends_with('\n');
        let mut leaf = map_path.to_vec();
        leaf.push(PathSeg::Key(key.to_owned()));
        Ok(Self {
            range: at..at,
            replacement: if needs_break {
                format!("{nl}{text}")
            } else {
                text
            },
            kind: EditKind::Insert {
                leaves: vec![(leaf, ScalarValue::Str(value.to_owned()))],
            },
        })
    }
}

/// Where and what to insert for a mapping `map_path` that does not exist yet, holding `entry`.
fn new_mapping_text(doc: &Document, map_path: &[PathSeg], entry: &str) -> Result<(usize, String)> {
    let nl = doc.source.newline();
    let (PathSeg::Key(name), parent_path) = map_path
        .split_last()
        .ok_or_else(|| missing(doc, map_path))?
    else {
        return Err(missing(doc, map_path));
    };
    let parent = node_at(doc, parent_path)?;
    let first_key = parent
        .entries()
        .first()
        .ok_or_else(|| missing(doc, parent_path))?;
    let indent = doc.source.indent_of_line(first_key.0.start);
    let text = format!("{indent}{name}:{nl}{indent}  {entry}");
    Ok((extent_end(doc, parent), text))
}

/// Last byte of a subtree's text, using exact scalar extents (saphyr's own end of a quoted
/// scalar can include a trailing comment, or the next line's indentation for a mapping).
pub fn extent_end(doc: &Document, node: &Node) -> usize {
    match &node.kind {
        NodeKind::Scalar(ScalarValue::Str(_)) => {
            RawScalar::read(&doc.source, node).map_or(node.end, |r| r.range.end)
        }
        NodeKind::Scalar(_) => node.end,
        NodeKind::Map(m) => m
            .iter()
            .map(|(k, v)| extent_end(doc, v).max(k.end))
            .max()
            .unwrap_or(node.start),
        NodeKind::Seq(s) => s
            .iter()
            .map(|n| extent_end(doc, n))
            .max()
            .unwrap_or(node.start),
    }
}

pub(crate) fn node_at<'a>(doc: &'a Document, path: &[PathSeg]) -> Result<&'a Node> {
    doc.root.at(path).ok_or_else(|| missing(doc, path))
}

fn missing(doc: &Document, path: &[PathSeg]) -> BundleError {
    BundleError::Missing {
        file: doc.name.clone(),
        what: format!("{} does not exist", display_path(path)),
    }
}

pub(crate) fn not_spliceable(
    doc: &Document,
    node: &Node,
    path: &[PathSeg],
    reason: String,
) -> BundleError {
    let (line, column) = doc.locate(node.start);
    BundleError::NotSpliceable {
        file: doc.name.clone(),
        line,
        column,
        what: display_path(path),
        reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(k: &str) -> PathSeg {
        PathSeg::Key(k.to_owned())
    }

    #[test]
    fn delete_removes_exactly_the_entry_lines() {
        let doc = Document::parse("t", "a:\n  b: 'x' # keep?\n  c: 1\n").unwrap();
        let mut plan = EditPlan::new();
        plan.push(Edit::delete(&doc, &[key("a"), key("b")]).unwrap());
        assert_eq!(plan.apply(&doc).unwrap().text, "a:\n  c: 1\n");
    }

    #[test]
    fn overlapping_edits_are_refused() {
        let doc = Document::parse("t", "a:\n  b: x\n").unwrap();
        let mut plan = EditPlan::new();
        plan.push(Edit::delete(&doc, &[key("a"), key("b")]).unwrap());
        plan.push(Edit::replace_scalar(&doc, &[key("a"), key("b")], "y").unwrap());
        assert!(matches!(
            plan.splice(doc.text()),
            Err(BundleError::OverlappingEdits { .. })
        ));
    }

    #[test]
    fn insert_creates_missing_mapping_with_file_newlines() {
        let doc = Document::parse("t", "apps:\r\n  g:\r\n    charm: x\r\nrel: []\r\n").unwrap();
        let mut plan = EditPlan::new();
        let path = [key("apps"), key("g"), key("options")];
        plan.push(Edit::insert_entry(&doc, &path, "k", "v").unwrap());
        let out = plan.apply(&doc).unwrap().text;
        assert_eq!(
            out,
            "apps:\r\n  g:\r\n    charm: x\r\n    options:\r\n      k: v\r\nrel: []\r\n"
        );
    }
}
