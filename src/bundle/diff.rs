//! Unified diff of an edit, for the preview screen and logs.

use similar::TextDiff;

/// The whole edit as a unified diff with three lines of context.
pub fn unified_diff(old: &str, new: &str, old_name: &str, new_name: &str) -> String {
    TextDiff::from_lines(old, new)
        .unified_diff()
        .context_radius(3)
        .header(old_name, new_name)
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diff_shows_only_changed_line_with_context() {
        let d = unified_diff("a\nb\nc\n", "a\nB\nc\n", "a/x.yaml", "b/x.yaml");
        assert!(
            d.starts_with("--- a/x.yaml\n+++ b/x.yaml\n@@ -1,3 +1,3 @@\n"),
            "{d}"
        );
        assert!(d.contains("-b\n+B\n"));
    }
}
