//! Typed changes to the operator's choices. Front ends send one field's change, never a whole
//! `Choices`, so two changes never overwrite each other; the pure transition applies them.

use std::path::PathBuf;

use super::state::{Choices, GatewayServiceType, PasswordSource, RegistryChoice};

/// Something inside a step that can be skipped on its own, with a recorded reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ItemKind {
    /// An environment check (`check:<id>` in the answers file's `[skip]` table).
    Check,
    /// A deploy command (`cmd:<id>`).
    Command,
    /// An image or charm a release bundle's application needs (`need:<application>/<what>`).
    Need,
    /// A bundle reference left as written (`ref:<reference>`).
    Reference,
}

impl ItemKind {
    pub const ALL: [ItemKind; 4] = [
        ItemKind::Check,
        ItemKind::Command,
        ItemKind::Need,
        ItemKind::Reference,
    ];

    fn prefix(self) -> &'static str {
        match self {
            ItemKind::Check => "check:",
            ItemKind::Command => "cmd:",
            ItemKind::Need => "need:",
            ItemKind::Reference => "ref:",
        }
    }

    /// The key the skip is saved under, as the answers file writes it.
    pub fn skip_key(self, id: &str) -> String {
        format!("{}{id}", self.prefix())
    }

    /// The item a saved skip key names, when the key is a skip of this kind.
    pub fn id_in(self, key: &str) -> Option<&str> {
        key.strip_prefix(self.prefix())
    }

    /// Every skip of this kind in `choices`: the item and its reason.
    pub fn skips(self, choices: &Choices) -> impl Iterator<Item = (&str, &String)> {
        choices
            .skips
            .iter()
            .filter_map(move |(k, reason)| Some((self.id_in(k)?, reason)))
    }
}

/// The registry form: what an operator types on the registry screen or at the line prompts.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RegistryForm {
    pub target: String,
    pub username: Option<String>,
    /// A password was typed (it travels separately, to the engine's memory only).
    pub password_typed: bool,
    pub ca_file: Option<PathBuf>,
}

/// A file the steps ask for when the answers file does not name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathChoice {
    ImagesArchive,
    CharmsArchive,
    Bundle,
    /// The installed release's record, for an upgrade.
    InstalledRecord,
}

impl PathChoice {
    /// The answers key that gives it.
    pub fn answers_key(self) -> &'static str {
        match self {
            PathChoice::ImagesArchive => "artifacts.images",
            PathChoice::CharmsArchive => "artifacts.charms",
            PathChoice::Bundle => "bundle.file",
            PathChoice::InstalledRecord => "upgrade.installed",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChoiceChange {
    /// A path the operator typed when a step asked for it.
    Path(PathChoice, PathBuf),
    /// The operator chose, at the upgrade's first step, to read the installed model from
    /// `juju status` for want of a record.
    InstalledFromModel,
    /// The password was typed at a prompt (it stays in memory; only its source is recorded),
    /// for a registry choice that named no other source.
    PasswordPrompted,
    /// The form's fields; everything else of the registry choice (client certificates,
    /// concurrency, ...) is kept.
    Registry(RegistryForm),
    /// One mapping row's target, typed by the operator.
    OverrideTarget {
        source: String,
        target: String,
    },
    Gateway(GatewayServiceType),
    SkipItem {
        kind: ItemKind,
        id: String,
        reason: String,
    },
}

impl ChoiceChange {
    pub fn apply(self, choices: &mut Choices) {
        match self {
            ChoiceChange::Path(which, path) => match which {
                PathChoice::ImagesArchive => choices.images_archive = Some(path),
                PathChoice::CharmsArchive => choices.charms_archive = Some(path),
                PathChoice::Bundle => choices.bundle = Some(path),
                PathChoice::InstalledRecord => {
                    choices
                        .upgrade
                        .get_or_insert_with(Default::default)
                        .installed = Some(path)
                }
            },
            ChoiceChange::InstalledFromModel => {
                choices
                    .upgrade
                    .get_or_insert_with(Default::default)
                    .from_model = true
            }
            ChoiceChange::PasswordPrompted => {
                if let Some(r) = choices.registry.as_mut()
                    && r.password_source.is_none()
                {
                    r.password_source = Some(PasswordSource::Prompt);
                }
            }
            ChoiceChange::Registry(form) => {
                let base = choices.registry.take().unwrap_or_default();
                let password_source = if form.password_typed {
                    Some(PasswordSource::Prompt)
                } else {
                    base.password_source.clone()
                };
                choices.registry = Some(RegistryChoice {
                    target: form.target,
                    username: form.username,
                    password_source,
                    ca_file: form.ca_file,
                    ..base
                });
            }
            ChoiceChange::OverrideTarget { source, target } => {
                choices.mapping_overrides.insert(source, target);
            }
            ChoiceChange::Gateway(g) => choices.gateway = Some(g),
            ChoiceChange::SkipItem { kind, id, reason } => {
                choices.skips.insert(kind.skip_key(&id), reason);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_registry_form_keeps_what_it_does_not_show() {
        let mut c = Choices {
            registry: Some(RegistryChoice {
                target: "old:5000".into(),
                client_cert: Some("/etc/c.crt".into()),
                password_source: Some(PasswordSource::Env("P".into())),
                ..RegistryChoice::default()
            }),
            ..Choices::default()
        };
        ChoiceChange::Registry(RegistryForm {
            target: "new:5000/ckf".into(),
            username: Some("admin".into()),
            password_typed: false,
            ca_file: None,
        })
        .apply(&mut c);
        let r = c.registry.unwrap();
        assert_eq!(r.target, "new:5000/ckf");
        assert_eq!(
            r.client_cert.as_deref(),
            Some(std::path::Path::new("/etc/c.crt"))
        );
        assert_eq!(r.password_source, Some(PasswordSource::Env("P".into())));
    }

    #[test]
    fn skips_are_keyed_as_the_answers_file_writes_them() {
        let mut c = Choices::default();
        ChoiceChange::SkipItem {
            kind: ItemKind::Check,
            id: "dns".into(),
            reason: "resolved by hand".into(),
        }
        .apply(&mut c);
        ChoiceChange::SkipItem {
            kind: ItemKind::Command,
            id: "relate-1".into(),
            reason: "exists".into(),
        }
        .apply(&mut c);
        assert_eq!(
            c.skips.keys().collect::<Vec<_>>(),
            ["check:dns", "cmd:relate-1"]
        );
    }
}
