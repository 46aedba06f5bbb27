//! Paragraphs whose indented lines wrap under their own indent. ratatui's `Wrap` starts every
//! continuation at column 0, so a long indented item (a gateway choice's explanation, a
//! certificate's line) ran back under the heading; here such a line is wrapped by word first,
//! each continuation indented like the line's text.

use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};

/// `lines` as a paragraph `width` columns wide, indented lines hanging.
pub fn paragraph(lines: Vec<Line<'_>>, width: u16) -> Paragraph<'static> {
    let width = usize::from(width);
    let lines: Vec<Line<'static>> = lines.into_iter().flat_map(|l| hang(l, width)).collect();
    Paragraph::new(lines).wrap(Wrap { trim: false })
}

/// The indent a continuation of `text` takes: its leading spaces, and a list marker's width.
fn indent_of(text: &str) -> usize {
    let spaces = text.len() - text.trim_start_matches(' ').len();
    let rest = &text[spaces..];
    let marker = ["- ", "* ", "• "]
        .iter()
        .find(|m| rest.starts_with(**m))
        .map_or(0, |m| m.chars().count());
    spaces + marker
}

fn hang(line: Line<'_>, width: usize) -> Vec<Line<'static>> {
    let owned = || {
        Line::from(
            line.spans
                .iter()
                .map(|s| Span::styled(s.content.to_string(), s.style))
                .collect::<Vec<_>>(),
        )
        .style(line.style)
    };
    let text: String = line.spans.iter().map(|s| s.content.as_ref()).collect();
    let indent = indent_of(&text);
    if indent == 0 || width <= indent + 8 || line.width() <= width {
        return vec![owned()];
    }
    // Words with the spaces after them, each with its span's style.
    let words: Vec<Span<'static>> = line
        .spans
        .iter()
        .flat_map(|s| {
            s.content
                .split_inclusive(' ')
                .map(|w| Span::styled(w.to_string(), s.style))
                .collect::<Vec<_>>()
        })
        .collect();
    let mut out = Vec::new();
    let mut current: Vec<Span<'static>> = Vec::new();
    let mut used = 0;
    for word in words {
        let w = word.width();
        let has_text = current.iter().any(|s| !s.content.trim().is_empty());
        if used + w.min(width) > width && has_text {
            out.push(Line::from(std::mem::take(&mut current)).style(line.style));
            current.push(Span::raw(" ".repeat(indent)));
            used = indent;
            let trimmed = word.content.trim_start().to_string();
            used += Span::raw(trimmed.as_str()).width();
            current.push(Span::styled(trimmed, word.style));
        } else {
            used += w;
            current.push(word);
        }
    }
    if !current.is_empty() {
        out.push(Line::from(current).style(line.style));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(lines: Vec<Line<'static>>) -> Vec<String> {
        lines.iter().map(|l| l.to_string()).collect()
    }

    #[test]
    fn an_indented_line_wraps_under_its_indent_and_others_are_left() {
        let long = "    NodePort: the dashboard is reached on a port of every node, which needs no load balancer";
        let out = texts(hang(Line::from(long), 40));
        assert!(out.len() > 2, "{out:?}");
        for l in &out {
            assert!(l.starts_with("    ") && l.chars().count() <= 40, "{out:?}");
        }
        assert_eq!(
            out.join(" ").split_whitespace().collect::<Vec<_>>(),
            long.split_whitespace().collect::<Vec<_>>()
        );
        let bullet = texts(hang(
            Line::from("- a b c d e f g h i j k l m n o p q r s t u"),
            20,
        ));
        assert!(
            bullet[1].starts_with("  ") && !bullet[1].starts_with("   "),
            "{bullet:?}"
        );
        let flat = "no indent here, however long the line is, ratatui wraps it";
        assert_eq!(texts(hang(Line::from(flat), 20)), [flat]);
    }
}
