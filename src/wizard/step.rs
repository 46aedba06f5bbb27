//! The steps of an install, in the order an operator meets them.

use serde::{Deserialize, Serialize};

/// Declares the steps once: variant, stable id, title, in the order of the wizard. The enum,
/// `ALL`, `id`, `title` and the order all come from this one table, so adding a step is one
/// line here plus its work and its screen; the last entry is the end state.
macro_rules! declare_steps {
    ($( $variant:ident => $id:literal, $title:literal; )+) => {
        /// One step of the install.
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
        }
    };
}

declare_steps! {
    EnvironmentChecks => "environment-checks", "Environment checks";
    Artifacts => "artifacts", "Artifacts";
    RegistryLogin => "registry-login", "Registry login";
    ImagePush => "image-push", "Push images";
    PlaceholderMapping => "placeholder-mapping", "Map placeholders";
    GatewayType => "gateway-type", "Gateway service type";
    BundlePreview => "bundle-preview", "Preview bundle edits";
    JujuDeploy => "juju-deploy", "Juju setup and deploy";
    Done => "done", "Done";
}

impl Step {
    pub fn first() -> Step {
        Step::ALL[0]
    }

    /// The end state: reached when every other step is settled; it cannot be skipped.
    pub fn last() -> Step {
        Step::ALL[Step::ALL.len() - 1]
    }

    pub fn is_end(self) -> bool {
        self == Step::last()
    }

    /// Position in the wizard; the declaration order is the discriminant order.
    pub fn index(self) -> usize {
        self as usize
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

    /// Every step that does work (all but the end state).
    pub fn working() -> impl Iterator<Item = Step> {
        Step::ALL.into_iter().filter(|s| !s.is_end())
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
        for (i, step) in Step::ALL.into_iter().enumerate() {
            assert_eq!(step.index(), i, "{step}");
        }
        assert!(Step::Done.is_end() && Step::working().all(|s| !s.is_end()));
    }

    #[test]
    fn serialised_names_match_ids() {
        for step in Step::ALL {
            let json = serde_json::to_string(&step).unwrap_or_default();
            assert_eq!(json, format!("\"{}\"", step.id()));
        }
    }
}
