//! The steps of an install, in the order an operator meets them.

use serde::{Deserialize, Serialize};

/// The three flows of the program, each a sequence of steps run on one engine: the install on
/// the air-gapped side, gathering the archives on the connected side, and the upgrade of a
/// running install on the air-gapped side. A step may belong to more than one flow (the
/// upgrade reads, pushes and maps its archives with the install's steps).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default,
)]
#[serde(rename_all = "kebab-case")]
pub enum Flow {
    #[default]
    Install,
    Gather,
    Upgrade,
}

/// Declares the steps once: variant, stable id, title and the flows it belongs to. The enum,
/// `ALL`, `id`, `title`, `flows` and each flow's order all come from this one table; a flow's
/// order is the order of `ORDER` below, and its last step is its end state.
macro_rules! declare_steps {
    ($( $variant:ident => $id:literal, $title:literal, [$($flow:ident),+]; )+) => {
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

            /// The flows this step belongs to; the first is the one it was written for.
            pub fn flows(self) -> &'static [Flow] {
                match self {
                    $( Step::$variant => &[$(Flow::$flow),+], )+
                }
            }
        }
    };
}

declare_steps! {
    UpgradeModel => "upgrade-model", "The model as it stands", [Upgrade];
    EnvironmentChecks => "environment-checks", "Environment checks", [Install];
    Artifacts => "artifacts", "Artifacts", [Install, Upgrade];
    RegistryLogin => "registry-login", "Registry login", [Install, Upgrade];
    ImagePush => "image-push", "Push images", [Install, Upgrade];
    PlaceholderMapping => "placeholder-mapping", "Map placeholders", [Install, Upgrade];
    GatewayType => "gateway-type", "Gateway service type", [Install];
    BundlePreview => "bundle-preview", "Preview bundle edits", [Install];
    JujuDeploy => "juju-deploy", "Juju setup and deploy", [Install];
    Done => "done", "Done", [Install];
    UpgradePlan => "upgrade-plan", "The upgrade plan", [Upgrade];
    UpgradeBackups => "upgrade-backups", "Pre-flight and backups", [Upgrade];
    UpgradeRun => "upgrade-run", "Run the upgrade", [Upgrade];
    UpgradeDone => "upgrade-done", "Done", [Upgrade];
    GatherSource => "gather-source", "What to gather", [Gather];
    GatherCharms => "gather-charms", "Charms", [Gather];
    GatherImages => "gather-images", "Images list", [Gather];
    GatherPull => "gather-pull", "Pull images", [Gather];
    GatherWrite => "gather-write", "Write archives", [Gather];
    GatherDone => "gather-done", "Done", [Gather];
}

impl Flow {
    /// The flow's steps, in order.
    pub fn steps(self) -> impl Iterator<Item = Step> {
        Step::ALL.into_iter().filter(move |s| s.in_flow(self))
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

    /// The step after `step` in this flow.
    pub fn next(self, step: Step) -> Option<Step> {
        self.steps().skip_while(|s| *s != step).nth(1)
    }

    pub fn prev(self, step: Step) -> Option<Step> {
        self.steps().take_while(|s| *s != step).last()
    }

    /// The steps after `step` in this flow, in order.
    pub fn later(self, step: Step) -> impl Iterator<Item = Step> {
        self.steps().skip_while(move |s| *s != step).skip(1)
    }

    /// Position of `step` in this flow, from 0.
    pub fn position(self, step: Step) -> usize {
        self.steps().take_while(|s| *s != step).count()
    }

    /// The earlier of two steps of this flow.
    pub fn earlier(self, a: Step, b: Step) -> Step {
        if self.position(a) <= self.position(b) {
            a
        } else {
            b
        }
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

    pub fn in_flow(self, flow: Flow) -> bool {
        self.flows().contains(&flow)
    }

    /// The flow the step was written for (the install, for the steps the upgrade shares).
    pub fn flow(self) -> Flow {
        self.flows()[0]
    }

    /// The last step of a flow; end states belong to one flow only.
    pub fn is_end(self) -> bool {
        self.flows().iter().any(|f| f.last() == self)
    }

    /// Position in the whole table; the declaration order is the discriminant order.
    pub fn index(self) -> usize {
        self as usize
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
        let install = Flow::Install;
        assert_eq!(install.prev(Step::first()), None);
        assert_eq!(install.next(Step::Done), None);
        assert_eq!(install.next(Step::Artifacts), Some(Step::RegistryLogin));
        assert_eq!(install.prev(Step::Artifacts), Some(Step::EnvironmentChecks));
        assert_eq!(
            install.later(Step::JujuDeploy).collect::<Vec<_>>(),
            [Step::Done]
        );
        for (i, step) in Step::ALL.into_iter().enumerate() {
            assert_eq!(step.index(), i, "{step}");
        }
        assert!(Step::Done.is_end() && Step::working().all(|s| !s.is_end()));
        // The gather flow stands apart: its navigation never crosses into the install's.
        assert_eq!(Flow::Gather.prev(Step::GatherSource), None);
        assert_eq!(Flow::Gather.first(), Step::GatherSource);
        assert_eq!(Flow::Gather.last(), Step::GatherDone);
        assert_eq!(Flow::Gather.position(Step::GatherPull), 3);
        assert_eq!(Flow::Install.step_count(), 9);
        // The upgrade shares the install's archive steps and leaves its deploy steps out.
        let upgrade: Vec<_> = Flow::Upgrade.steps().map(|s| s.id()).collect();
        assert_eq!(
            upgrade,
            [
                "upgrade-model",
                "artifacts",
                "registry-login",
                "image-push",
                "placeholder-mapping",
                "upgrade-plan",
                "upgrade-backups",
                "upgrade-run",
                "upgrade-done"
            ]
        );
        assert_eq!(
            Flow::Upgrade.next(Step::PlaceholderMapping),
            Some(Step::UpgradePlan)
        );
        assert_eq!(
            Flow::Upgrade.prev(Step::Artifacts),
            Some(Step::UpgradeModel)
        );
        assert_eq!(
            Flow::Upgrade.earlier(Step::UpgradeModel, Step::Artifacts),
            Step::UpgradeModel
        );
        assert!(Step::UpgradeDone.is_end() && !Step::PlaceholderMapping.is_end());
    }

    #[test]
    fn serialised_names_match_ids() {
        for step in Step::ALL {
            let json = serde_json::to_string(&step).unwrap_or_default();
            assert_eq!(json, format!("\"{}\"", step.id()));
        }
    }
}
