//! The Charmed Kubeflow releases this tool knows, as one type used everywhere (choices, answers,
//! checks, bundle detection), and the one table of what each needs from Kubernetes and Juju
//! (research domain.md §5.1, from `charmed-kubeflow-documentation` supported-versions and the
//! mysql-k8s `assumes`) and which charm channels name it.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::version::Version;

/// Written as its name (`"1.10"`) in session files and answers files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum CkfRelease {
    V1_7,
    V1_8,
    V1_9,
    V1_10,
    V1_11,
}

impl CkfRelease {
    pub const ALL: [Self; 5] = [Self::V1_7, Self::V1_8, Self::V1_9, Self::V1_10, Self::V1_11];

    pub fn name(self) -> &'static str {
        match self {
            Self::V1_7 => "1.7",
            Self::V1_8 => "1.8",
            Self::V1_9 => "1.9",
            Self::V1_10 => "1.10",
            Self::V1_11 => "1.11",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.name() == text.trim())
    }

    /// "1.7, 1.8, 1.9, 1.10 or 1.11", for messages.
    pub fn known() -> String {
        let names: Vec<&str> = Self::ALL.iter().map(|r| r.name()).collect();
        match names.split_last() {
            Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
            None => String::new(),
        }
    }

    /// Charm channel tracks that name this release and no other: `(charm, track)`. The
    /// kubeflow charms' own tracks do not (the 1.11 bundle deploys the 1.10 tracks of several).
    pub fn tracks(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Self::V1_7 => &[("katib-controller", "0.15"), ("kfp-api", "2.0-alpha.7")],
            Self::V1_8 => &[("katib-controller", "0.16"), ("kfp-api", "2.0")],
            Self::V1_9 => &[
                ("katib-controller", "0.17"),
                ("kfp-api", "2.2"),
                ("kfp-api", "2.3"),
            ],
            Self::V1_10 => &[("katib-controller", "0.18"), ("kfp-api", "2.5")],
            Self::V1_11 => &[("katib-controller", "0.19"), ("kfp-api", "2.15")],
        }
    }

    /// Supported Kubernetes minors (1.x), inclusive.
    pub fn kubernetes_minors(self) -> (u32, u32) {
        match self {
            Self::V1_7 => (22, 24),
            Self::V1_8 => (24, 29),
            Self::V1_9 => (27, 29),
            Self::V1_10 => (29, 33),
            Self::V1_11 => (32, 34),
        }
    }

    pub fn kubernetes_fits(self, v: Version) -> bool {
        let (lo, hi) = self.kubernetes_minors();
        v.major == 1 && (lo..=hi).contains(&v.minor)
    }

    pub fn kubernetes_text(self) -> String {
        let (lo, hi) = self.kubernetes_minors();
        format!("1.{lo}–1.{hi}")
    }

    /// Juju versions this release deploys with. mysql-k8s refuses Juju 3.0–3.4.2 and 3.5.0–3.5.1
    /// (canonical/bundle-kubeflow#949, #950) and needs ≥ 2.9.44 on 2.9 (#659).
    pub fn juju_fits(self, v: Version) -> bool {
        match self {
            Self::V1_7 => {
                (v.major == 2 && v.minor == 9 && v.patch >= 44) || (v.major, v.minor) == (3, 1)
            }
            Self::V1_8 | Self::V1_9 => {
                v.major == 3 && v >= Version::new(3, 4, 3) && !(v.minor == 5 && v.patch <= 1)
            }
            Self::V1_10 | Self::V1_11 => (v.major, v.minor) == (3, 6),
        }
    }

    pub fn juju_text(self) -> &'static str {
        match self {
            Self::V1_7 => "2.9.x with x ≥ 44, or 3.1",
            Self::V1_8 | Self::V1_9 => "3.x ≥ 3.4.3, not 3.5.0 or 3.5.1",
            Self::V1_10 | Self::V1_11 => "3.6",
        }
    }

    /// The snap channel to suggest when the installed Juju does not fit.
    pub fn juju_channel(self) -> &'static str {
        match self {
            Self::V1_7 => "2.9/stable",
            Self::V1_8 | Self::V1_9 => "3.4/stable",
            Self::V1_10 | Self::V1_11 => "3.6/stable",
        }
    }
}

impl std::fmt::Display for CkfRelease {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl Serialize for CkfRelease {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl<'de> Deserialize<'de> for CkfRelease {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        CkfRelease::parse(&text).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "{text:?} is not a Charmed Kubeflow release this tool knows: {}",
                CkfRelease::known()
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn juju_matrix() {
        let v = |s| Version::parse(s).unwrap();
        assert!(CkfRelease::V1_7.juju_fits(v("2.9.44")));
        assert!(!CkfRelease::V1_7.juju_fits(v("2.9.43")));
        assert!(CkfRelease::V1_7.juju_fits(v("3.1.6")));
        assert!(!CkfRelease::V1_8.juju_fits(v("3.4.2")));
        assert!(CkfRelease::V1_8.juju_fits(v("3.4.3")));
        assert!(!CkfRelease::V1_9.juju_fits(v("3.5.1")));
        assert!(CkfRelease::V1_9.juju_fits(v("3.5.2")));
        assert!(CkfRelease::V1_10.juju_fits(v("3.6.9")));
        assert!(!CkfRelease::V1_11.juju_fits(v("3.5.4")));
        assert!(CkfRelease::V1_7.kubernetes_fits(v("1.24.17")));
        assert!(!CkfRelease::V1_7.kubernetes_fits(v("1.25.0")));
    }

    #[test]
    fn a_release_is_written_as_its_name_and_an_unknown_one_is_refused() {
        assert_eq!(
            serde_json::to_string(&CkfRelease::V1_10).unwrap(),
            "\"1.10\""
        );
        let back: CkfRelease = serde_json::from_str("\"1.11\"").unwrap();
        assert_eq!(back, CkfRelease::V1_11);
        let err = serde_json::from_str::<CkfRelease>("\"1.12\"").unwrap_err();
        assert!(
            err.to_string()
                .contains("\"1.12\" is not a Charmed Kubeflow release this tool knows: 1.7, 1.8, 1.9, 1.10 or 1.11"),
            "{err}"
        );
        let mut tracks: Vec<_> = CkfRelease::ALL.iter().flat_map(|r| r.tracks()).collect();
        let all = tracks.len();
        tracks.sort();
        tracks.dedup();
        assert_eq!(tracks.len(), all, "a track names one release only");
    }
}
