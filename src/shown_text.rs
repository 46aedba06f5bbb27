//! Text taken from an archive, a bundle or a registry, made safe to show and to log.
//!
//! A tar header or a YAML value can hold terminal control sequences (`ESC]0;…BEL` retitles
//! a terminal, `ESC[31m` recolours it, a carriage return hides what came before). Shown raw
//! they would act on the operator's terminal and hide text in the log; escaped, they are
//! visible as what they are.

use std::borrow::Cow;

/// True for a character that a terminal acts on instead of printing: the C0 controls (tab and
/// line feed excepted: our own messages use them), DEL and the C1 controls.
pub fn is_control(c: char) -> bool {
    (c.is_control() && c != '\n' && c != '\t') || c == '\u{7f}'
}

/// `text` with every control character written as an escape (`\x1b`, `\u{9b}`); unchanged
/// (and not copied) when it holds none.
pub fn escape_controls(text: &str) -> Cow<'_, str> {
    if !text.chars().any(is_control) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if is_control(c) {
            let code = c as u32;
            if code < 0x80 {
                out.push_str(&format!("\\x{code:02x}"));
            } else {
                out.push_str(&format!("\\u{{{code:x}}}"));
            }
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminal_sequences_are_shown_not_acted_on() {
        assert_eq!(
            escape_controls("a\u{1b}]0;pwned\u{7}b\u{1b}[31mred\rx\u{7f}\u{9b}"),
            "a\\x1b]0;pwned\\x07b\\x1b[31mred\\x0dx\\x7f\\u{9b}"
        );
    }

    #[test]
    fn our_own_line_breaks_and_tabs_stay() {
        let text = "first line\n\tsecond, indented: café";
        assert!(matches!(escape_controls(text), Cow::Borrowed(_)));
    }
}
