//! The steps of an install, in the order an operator meets them.

use serde::{Deserialize, Serialize};

/// The two flows of the program, each a sequence of steps run on one engine: the install on
/// the air-gapped side, and gathering the archives on the connected side.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default,
)]
#[serde(rename_all = "kebab-case")]
pub enum Flow {
    #[default]
    Install,
    Gather,
}

/// Declares the steps once: variant, stable id, title and flow, in the order of each flow. The
/// enum, `ALL`, `id`, `title`, `flow` and the order all come from this one table, so adding a
/// step is one line here plus its work and its screen; each flow's last entry is its end state.
macro_rules! declare_steps {
    ($( $variant:ident => $id:literal, $title:literal, $flow:ident; )+) => {
        /// One step of a flow.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        pub enum Step {
            $( #[serde(rename = $id)] $variant, )+
        }

        impl Step {
            pub const ALL: [Step; [$($id),+].len()] = [$(Step::$variant),+];

            /// The stable identifier used in files, logs and the command line.
            pub fn id(self) -> &'static str {
                match self {
                    $( Step::$variant => $id, )+
                }
            }

            /// The name shown to the operator.
            pub fn title(self) -> &'static str {
                match self {
                    $( Step::$variant => $title, )+
                }
            }

            pub fn flow(self) -> Flow {
                match self {
                    $( Step::$variant => Flow::$flow, )+
                }
            }
        }
    };
}

declare_steps! {
    EnvironmentChecks => "environment-checks", "Environment checks", Install;
    Artifacts => "artifacts", "Artifacts", Install;
    RegistryLogin => "registry-login", "Registry login", Install;
    ImagePush => "image-push", "Push images", Install;
    PlaceholderMapping => "placeholder-mapping", "Map placeholders", Install;
    GatewayType => "gateway-type", "Gateway service type", Install;
    BundlePreview => "bundle-preview", "Preview bundle edits", Install;
    JujuDeploy => "juju-deploy", "Juju setup and deploy", Install;
    Done => "done", "Done", Install;
    GatherSource => "gather-source", "What to gather", Gather;
    GatherCharms => "gather-charms", "Charms", Gather;
    GatherImages => "gather-images", "Images list", Gather;
    GatherPull => "gather-pull", "Pull images", Gather;
    GatherWrite => "gather-write", "Write archives", Gather;
    GatherDone => "gather-done", "Done", Gather;
}

impl Flow {
    /// The flow's steps, in order.
    pub fn steps(self) -> impl Iterator<Item = Step> {
        Step::ALL.into_iter().filter(move |s| s.flow() == self)
    }

    pub fn first(self) -> Step {
        self.steps().next().unwrap_or(Step::EnvironmentChecks)
    }

    /// The end state: reached when every other step is settled; it cannot be skipped.
    pub fn last(self) -> Step {
        self.steps().last().unwrap_or(Step::Done)
    }

    /// Every step that does work (all but the end state).
    pub fn working(self) -> impl Iterator<Item = Step> {
        self.steps().filter(|s| !s.is_end())
    }

    pub fn step_count(self) -> usize {
        self.steps().count()
    }
}

impl Step {
    /// The first step of the install.
    pub fn first() -> Step {
        Flow::Install.first()
    }

    /// The install's end state.
    pub fn last() -> Step {
        Flow::Install.last()
    }

    pub fn is_end(self) -> bool {
        self.next().is_none()
    }

    /// Position in the whole table; the declaration order is the discriminant order.
    pub fn index(self) -> usize {
        self as usize
    }

    /// Position in its own flow, from 0.
    pub fn position(self) -> usize {
        self.flow().steps().take_while(|s| *s != self).count()
    }

    pub fn next(self) -> Option<Step> {
        Step::ALL
            .get(self.index() + 1)
            .copied()
            .filter(|s| s.flow() == self.flow())
    }

    pub fn prev(self) -> Option<Step> {
        self.index()
            .checked_sub(1)
            .map(|i| Step::ALL[i])
            .filter(|s| s.flow() == self.flow())
    }

    /// The steps after this one in its flow, in order.
    pub fn later(self) -> impl Iterator<Item = Step> {
        let flow = self.flow();
        Step::ALL
            .into_iter()
            .skip(self.index() + 1)
            .take_while(move |s| s.flow() == flow)
    }

    /// Every step of the install that does work (all but its end state).
    pub fn working() -> impl Iterator<Item = Step> {
        Flow::Install.working()
    }
}

impl std::fmt::Display for Step {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.id())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_is_the_documented_one_and_navigation_follows_it() {
        let ids: Vec<_> = Flow::Install.steps().map(|s| s.id()).collect();
        assert_eq!(
            ids,
            [
                "environment-checks",
                "artifacts",
                "registry-login",
                "image-push",
                "placeholder-mapping",
                "gateway-type",
                "bundle-preview",
                "juju-deploy",
                "done"
            ]
        );
        assert_eq!(Step::first().prev(), None);
        assert_eq!(Step::Done.next(), None);
        assert_eq!(Step::Artifacts.next(), Some(Step::RegistryLogin));
        assert_eq!(Step::Artifacts.prev(), Some(Step::EnvironmentChecks));
        assert_eq!(Step::JujuDeploy.later().collect::<Vec<_>>(), [Step::Done]);
        for (i, step) in Step::ALL.into_iter().enumerate() {
            assert_eq!(step.index(), i, "{step}");
        }
        assert!(Step::Done.is_end() && Step::working().all(|s| !s.is_end()));
        // The gather flow stands apart: its navigation never crosses into the install's.
        assert_eq!(Step::Done.next(), None);
        assert_eq!(Step::GatherSource.prev(), None);
        assert_eq!(Flow::Gather.first(), Step::GatherSource);
        assert_eq!(Flow::Gather.last(), Step::GatherDone);
        assert_eq!(Step::GatherPull.position(), 3);
        assert_eq!(Flow::Install.step_count(), 9);
    }

    #[test]
    fn serialised_names_match_ids() {
        for step in Step::ALL {
            let json = serde_json::to_string(&step).unwrap_or_default();
            assert_eq!(json, format!("\"{}\"", step.id()));
        }
    }
}
