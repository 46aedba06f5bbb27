//! The three front ends over the one engine: a full-screen TUI, plain line prompts, and
//! headless runs from an answers file. None of them holds step logic.

pub mod headless;
pub mod line;
pub mod tui;
pub mod view;
