//! Colours and symbols. Colours are the terminal's own named ones so they suit dark and light
//! backgrounds; `NO_COLOR` turns them off and ASCII mode avoids box drawing and symbols.

use ratatui::style::{Color, Modifier, Style};
use ratatui::symbols::border;

use crate::wizard::StepStatus;

#[derive(Debug, Clone, Copy)]
pub struct Theme {
    pub color: bool,
    pub ascii: bool,
}

impl Theme {
    pub fn from_env(ascii: bool) -> Theme {
        Theme {
            color: std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
            ascii,
        }
    }

    fn fg(&self, c: Color) -> Style {
        if self.color {
            Style::default().fg(c)
        } else {
            Style::default()
        }
    }

    pub fn ok(&self) -> Style {
        self.fg(Color::Green)
    }

    pub fn warn(&self) -> Style {
        self.fg(Color::Yellow)
    }

    pub fn bad(&self) -> Style {
        self.fg(Color::Red).add_modifier(Modifier::BOLD)
    }

    pub fn dim(&self) -> Style {
        if self.color {
            Style::default().add_modifier(Modifier::DIM)
        } else {
            Style::default()
        }
    }

    pub fn current(&self) -> Style {
        Style::default().add_modifier(Modifier::BOLD | Modifier::REVERSED)
    }

    pub fn border(&self) -> border::Set<'static> {
        if self.ascii {
            border::Set {
                top_left: "+",
                top_right: "+",
                bottom_left: "+",
                bottom_right: "+",
                vertical_left: "|",
                vertical_right: "|",
                horizontal_top: "-",
                horizontal_bottom: "-",
            }
        } else {
            border::PLAIN
        }
    }

    pub fn status_mark(&self, status: &StepStatus) -> (&'static str, Style) {
        let (ascii, fancy, style) = match status {
            StepStatus::Pending => ("[ ]", "·", self.dim()),
            StepStatus::Running => ("[>]", "▶", self.warn()),
            StepStatus::Done => ("[x]", "✔", self.ok()),
            StepStatus::Failed { .. } => ("[!]", "✘", self.bad()),
            StepStatus::Skipped { .. } => ("[-]", "↷", self.dim()),
        };
        (if self.ascii { ascii } else { fancy }, style)
    }

    pub fn gauge_chars(&self) -> (char, char) {
        if self.ascii {
            ('#', '.')
        } else {
            ('█', '░')
        }
    }
}
