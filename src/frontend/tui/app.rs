//! The wizard screen's state and key handling. Keys become engine commands or changes to
//! what is shown; nothing here touches the terminal, so it is tested with injected keys.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use crate::engine::{Answer, Command, EngineEvent, InputKind};
use crate::frontend::view::View;
use crate::secret::Secret;
use crate::wizard::{ItemKind, StepStatus};

use super::screens;
use super::screens::mapping::MappingMode;
use super::screens::registry::RegistryFields;
use super::theme::Theme;
use crate::wizard::Step;

/// What a step screen remembers while it is shown: selection, scroll, filter, edits.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScreenState {
    pub step: Option<Step>,
    pub selected: usize,
    pub scroll: usize,
    pub filter: String,
    pub mapping: MappingMode,
    pub form: RegistryFields,
    pub choice: Option<usize>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Overlay {
    None,
    Help,
    ConfirmQuit,
    /// Typing the reason for a skip.
    SkipReason(String),
    /// Typing the reason for skipping one item of a step (a check, a deploy command).
    SkipItem {
        kind: ItemKind,
        id: String,
        reason: String,
    },
    /// The selected row of a list, whole and wrapped, for rows cut to fit the screen.
    Detail(Vec<String>),
    /// Answering the engine's question; `buffer` is masked on screen for passwords.
    Answer {
        buffer: String,
        choice: usize,
    },
}

pub struct App {
    pub view: View,
    pub overlay: Overlay,
    pub show_log: bool,
    pub log_scroll: usize,
    pub theme: Theme,
    pub log_path: Option<String>,
    pub screen: ScreenState,
    /// What follows this run once q is pressed at its end (the demo's air-gapped side after
    /// its gather), when something does.
    pub then: Option<String>,
}

impl App {
    pub fn new(view: View, theme: Theme) -> App {
        App {
            view,
            overlay: Overlay::None,
            show_log: false,
            log_scroll: 0,
            theme,
            log_path: None,
            screen: ScreenState::default(),
            then: None,
        }
    }

    pub fn on_event(&mut self, event: &EngineEvent) {
        self.view.apply(event);
        if let EngineEvent::NeedsInput(_) = event
            && !screens::preview::owns_question(self)
        {
            self.overlay = Overlay::Answer {
                buffer: String::new(),
                choice: 0,
            };
        }
        // A new step gets a fresh screen.
        if self.screen.step != Some(self.view.state.current) {
            self.screen = ScreenState {
                step: Some(self.view.state.current),
                ..ScreenState::default()
            };
        }
    }

    pub fn stopped(&self) -> bool {
        self.view.stopped.is_some()
    }

    /// Handles one key; returns the commands to send to the engine.
    pub fn on_key(&mut self, key: KeyEvent) -> Vec<Command> {
        let ctrl_c =
            key.modifiers.contains(KeyModifiers::CONTROL) && key.code == KeyCode::Char('c');
        if ctrl_c {
            // In raw mode Ctrl-C is a key, not a signal: treat it as a confirmed quit.
            return vec![Command::Quit];
        }
        match std::mem::replace(&mut self.overlay, Overlay::None) {
            Overlay::None => self.on_wizard_key(key),
            Overlay::Help | Overlay::Detail(_) => vec![],
            Overlay::ConfirmQuit => match key.code {
                KeyCode::Char('y') | KeyCode::Char('Y') => vec![Command::Quit],
                _ => vec![],
            },
            Overlay::SkipReason(mut reason) => match key.code {
                KeyCode::Enter if !reason.trim().is_empty() => vec![Command::Skip { reason }],
                KeyCode::Esc => vec![],
                code => {
                    edit(&mut reason, code);
                    self.overlay = Overlay::SkipReason(reason);
                    vec![]
                }
            },
            Overlay::SkipItem {
                kind,
                id,
                mut reason,
            } => match key.code {
                KeyCode::Enter if !reason.trim().is_empty() => {
                    vec![Command::SkipItem { kind, id, reason }]
                }
                KeyCode::Esc => vec![],
                code => {
                    edit(&mut reason, code);
                    self.overlay = Overlay::SkipItem { kind, id, reason };
                    vec![]
                }
            },
            Overlay::Answer { buffer, choice } => self.on_answer_key(key, buffer, choice),
        }
    }

    fn on_answer_key(
        &mut self,
        key: KeyEvent,
        mut buffer: String,
        mut choice: usize,
    ) -> Vec<Command> {
        let Some(question) = self.view.question.clone() else {
            return vec![];
        };
        let answer = match (&question.kind, key.code) {
            (_, KeyCode::Esc) => return vec![Command::Quit],
            (InputKind::Password, KeyCode::Enter) => {
                Some(Answer::Password(Secret::new(std::mem::take(&mut buffer))))
            }
            (InputKind::Text, KeyCode::Enter) => Some(Answer::Text(std::mem::take(&mut buffer))),
            (InputKind::Confirm, KeyCode::Char('y')) => Some(Answer::Confirm(true)),
            (InputKind::Confirm, KeyCode::Char('n')) => Some(Answer::Confirm(false)),
            (InputKind::Choice(options), KeyCode::Down) => {
                choice = (choice + 1).min(options.len().saturating_sub(1));
                None
            }
            (InputKind::Choice(_), KeyCode::Up) => {
                choice = choice.saturating_sub(1);
                None
            }
            (InputKind::Choice(_), KeyCode::Enter) => Some(Answer::Choice(choice)),
            (InputKind::Password | InputKind::Text, code) => {
                edit(&mut buffer, code);
                None
            }
            _ => None,
        };
        match answer {
            Some(a) => {
                self.view.question = None;
                vec![Command::Answer(a)]
            }
            None => {
                self.overlay = Overlay::Answer { buffer, choice };
                vec![]
            }
        }
    }

    /// The flow's last step is done and nothing runs.
    fn finished(&self) -> bool {
        let state = &self.view.state;
        self.view.running.is_none()
            && state.current.is_end()
            && matches!(state.status(state.current), StepStatus::Done)
    }

    fn on_wizard_key(&mut self, key: KeyEvent) -> Vec<Command> {
        if let Some(commands) = screens::on_key(self, key) {
            return commands;
        }
        match key.code {
            KeyCode::Char('?') | KeyCode::F(1) => {
                self.overlay = Overlay::Help;
                vec![]
            }
            // Finished: nothing is left to lose, so q quits at once.
            KeyCode::Char('q') | KeyCode::Esc if self.finished() => vec![Command::Quit],
            KeyCode::Char('q') | KeyCode::Esc => {
                self.overlay = Overlay::ConfirmQuit;
                vec![]
            }
            KeyCode::Char('l') => {
                self.show_log = !self.show_log;
                vec![]
            }
            KeyCode::Char('v') => {
                if let Some(lines) = screens::selected_row(self) {
                    self.overlay = Overlay::Detail(lines);
                }
                vec![]
            }
            KeyCode::PageUp => {
                self.log_scroll = self.log_scroll.saturating_add(10).min(self.view.log.len());
                vec![]
            }
            KeyCode::PageDown => {
                self.log_scroll = self.log_scroll.saturating_sub(10);
                vec![]
            }
            _ if self.view.running.is_some() => vec![],
            KeyCode::Enter => vec![Command::Proceed],
            KeyCode::Char('n') | KeyCode::Right => vec![Command::Next],
            KeyCode::Char('b') | KeyCode::Left => vec![Command::Back],
            KeyCode::Char('r') => vec![Command::Retry],
            KeyCode::Char('s') => {
                self.overlay = Overlay::SkipReason(String::new());
                vec![]
            }
            _ => vec![],
        }
    }
}

fn edit(buffer: &mut String, code: KeyCode) {
    match code {
        KeyCode::Char(c) => buffer.push(c),
        KeyCode::Backspace => {
            buffer.pop();
        }
        _ => {}
    }
}
