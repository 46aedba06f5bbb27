//! What the edit left under the placeholder registry. The scanner reads the sections Juju
//! knows (`resources`, `options`); a reference under a misspelled key (`resourcées:`) or in a
//! form it cannot place would be written out unchanged, and found only when a pod cannot pull
//! it on the far side. Searching the edited text for the placeholder host catches every one.

use super::yaml::{Document, Node, NodeKind, PathSeg, display_path};

/// The sections of an application the scanner reads.
const SCANNED_SECTIONS: [&str; 2] = ["resources", "options"];

/// One text under the placeholder registry that the edit did not change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leftover {
    pub line: usize,
    pub column: usize,
    /// `applications.kfp-api.resourcées.oci-image`.
    pub path: String,
    /// The reference as written, up to a quote, comma, space or bracket.
    pub reference: String,
    /// Why the scanner did not map it, in the operator's words.
    pub why: String,
}

impl Leftover {
    pub fn message(&self, file: &str) -> String {
        format!(
            "{file}:{}:{} {}: {} is left as written: {}",
            self.line, self.column, self.path, self.reference, self.why
        )
    }
}

/// Every occurrence of `placeholder` (a registry host such as `172.17.0.2:5000`) in `doc`.
pub fn placeholder_leftovers(doc: &Document, placeholder: &str) -> Vec<Leftover> {
    if placeholder.is_empty() {
        return Vec::new();
    }
    let text = doc.text();
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(i) = text[from..].find(placeholder) {
        let at = from + i;
        from = at + placeholder.len();
        // `172.17.0.2:50001` is another host: the placeholder ends at a path or a delimiter.
        let after = text[from..].chars().next();
        if after.is_some_and(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-') {
            continue;
        }
        let rest = &text[at..];
        let end = rest
            .find(|c: char| {
                c == '\'' || c == '"' || c == ',' || c == ']' || c == '}' || c.is_whitespace()
            })
            .unwrap_or(rest.len());
        let (line, column) = doc.locate(at);
        let mut path = Vec::new();
        // Outside every value is a comment: Juju never reads it.
        if !path_to(&doc.root, at, &mut path) {
            continue;
        }
        let why = why_left(&path);
        out.push(Leftover {
            line,
            column,
            path: display_path(&path),
            reference: rest[..end].to_string(),
            why,
        });
    }
    out
}

/// The path of the innermost value holding byte `at`.
fn path_to(node: &Node, at: usize, path: &mut Vec<PathSeg>) -> bool {
    match &node.kind {
        NodeKind::Map(entries) => {
            for (k, v) in entries {
                if (k.start..k.end.max(k.start + 1)).contains(&at) {
                    path.push(PathSeg::Key(k.key_text()));
                    return true;
                }
                if (v.start..v.max_end().max(v.start + 1)).contains(&at) {
                    path.push(PathSeg::Key(k.key_text()));
                    path_to(v, at, path);
                    return true;
                }
            }
            false
        }
        NodeKind::Seq(items) => {
            for (i, item) in items.iter().enumerate() {
                if (item.start..item.max_end().max(item.start + 1)).contains(&at) {
                    path.push(PathSeg::Index(i));
                    path_to(item, at, path);
                    return true;
                }
            }
            false
        }
        NodeKind::Scalar(_) => true,
    }
}

fn why_left(path: &[PathSeg]) -> String {
    let key = |i: usize| match path.get(i) {
        Some(PathSeg::Key(k)) => Some(k.as_str()),
        _ => None,
    };
    match (key(0), key(2)) {
        (Some("applications"), Some(section)) if !SCANNED_SECTIONS.contains(&section) => {
            let near = SCANNED_SECTIONS
                .iter()
                .find(|known| near_miss(section, known))
                .map(|known| format!(" (a misspelling of `{known}`?)"))
                .unwrap_or_default();
            format!(
                "it is under `{section}`, where no image is read{near}; fix the bundle, or skip \
                 the reference with a reason"
            )
        }
        (Some("applications"), Some(_)) => "the scanner could not read it as an image \
             reference in this value; fix the value, or skip the reference with a reason"
            .to_string(),
        _ => "it is outside the applications' resources and options, where no image is \
              read; fix the bundle, or skip the reference with a reason"
            .to_string(),
    }
}

/// A key one or two edits from a known one (`resourcées`, ``resour`ces``, `o*aptions`).
fn near_miss(key: &str, known: &str) -> bool {
    let a: Vec<char> = key.chars().collect();
    let b: Vec<char> = known.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut row = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != cb);
            row.push((prev[j] + cost).min(prev[j + 1] + 1).min(row[j] + 1));
        }
        prev = row;
    }
    prev[b.len()] <= 2
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reference_under_a_misspelled_section_is_named_with_its_path() {
        let text = "applications:\n  dex-auth:\n    charm: dex-auth\n    resourcées:\n      oci-image: 172.17.0.2:5000/dexidp/dex:v2.31.2\n";
        let doc = Document::parse("b.yaml", text).unwrap();
        let left = placeholder_leftovers(&doc, "172.17.0.2:5000");
        assert_eq!(left.len(), 1);
        let l = &left[0];
        assert_eq!((l.line, l.column), (5, 18));
        assert_eq!(l.path, "applications.dex-auth.resourcées.oci-image");
        assert_eq!(l.reference, "172.17.0.2:5000/dexidp/dex:v2.31.2");
        assert!(l.why.contains("a misspelling of `resources`"), "{}", l.why);
    }

    #[test]
    fn nothing_left_is_nothing_listed() {
        let doc = Document::parse("b.yaml", "applications:\n  a:\n    charm: a\n").unwrap();
        assert!(placeholder_leftovers(&doc, "172.17.0.2:5000").is_empty());
    }

    #[test]
    fn comments_and_other_hosts_are_not_leftovers() {
        let text = "# was 172.17.0.2:5000/dexidp/dex:v2.31.2\napplications:\n  a:\n    charm: a\n    options:\n      x: 172.17.0.2:50001/other:1 # 172.17.0.2:5000/in-a-comment\n";
        let doc = Document::parse("b.yaml", text).unwrap();
        assert!(placeholder_leftovers(&doc, "172.17.0.2:5000").is_empty());
    }
}
