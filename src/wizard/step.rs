//! The steps of an install, in the order an operator meets them.

use serde::{Deserialize, Serialize};

/// One step of the install. The order of the variants is the order of the wizard.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Step {
    EnvironmentChecks,
    Artifacts,
    RegistryLogin,
    ImagePush,
    PlaceholderMapping,
    GatewayType,
    BundlePreview,
    JujuDeploy,
    Done,
}

impl Step {
    pub const ALL: [Step; 9] = [
        Step::EnvironmentChecks,
        Step::Artifacts,
        Step::RegistryLogin,
        Step::ImagePush,
        Step::PlaceholderMapping,
        Step::GatewayType,
        Step::BundlePreview,
        Step::JujuDeploy,
        Step::Done,
    ];

    pub fn first() -> Step {
        Step::ALL[0]
    }

    pub fn index(self) -> usize {
        Step::ALL.iter().position(|s| *s == self).unwrap_or(0)
    }

    pub fn next(self) -> Option<Step> {
        Step::ALL.get(self.index() + 1).copied()
    }

    pub fn prev(self) -> Option<Step> {
        self.index().checked_sub(1).map(|i| Step::ALL[i])
    }

    /// The steps after this one, in order.
    pub fn later(self) -> impl Iterator<Item = Step> {
        Step::ALL.into_iter().skip(self.index() + 1)
    }

    /// The name shown to the operator.
    pub fn title(self) -> &'static str {
        match self {
            Step::EnvironmentChecks => "Environment checks",
            Step::Artifacts => "Artifacts",
            Step::RegistryLogin => "Registry login",
            Step::ImagePush => "Push images",
            Step::PlaceholderMapping => "Map placeholders",
            Step::GatewayType => "Gateway service type",
            Step::BundlePreview => "Preview bundle edits",
            Step::JujuDeploy => "Juju setup and deploy",
            Step::Done => "Done",
        }
    }

    /// The stable identifier used in files, logs and the command line.
    pub fn id(self) -> &'static str {
        match self {
            Step::EnvironmentChecks => "environment-checks",
            Step::Artifacts => "artifacts",
            Step::RegistryLogin => "registry-login",
            Step::ImagePush => "image-push",
            Step::PlaceholderMapping => "placeholder-mapping",
            Step::GatewayType => "gateway-type",
            Step::BundlePreview => "bundle-preview",
            Step::JujuDeploy => "juju-deploy",
            Step::Done => "done",
        }
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
        let ids: Vec<_> = Step::ALL.iter().map(|s| s.id()).collect();
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
    }

    #[test]
    fn serialised_names_match_ids() {
        for step in Step::ALL {
            let json = serde_json::to_string(&step).unwrap_or_default();
            assert_eq!(json, format!("\"{}\"", step.id()));
        }
    }
}
