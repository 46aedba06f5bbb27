//! What each Charmed Kubeflow release needs from Kubernetes and Juju (research domain.md §5.1,
//! from `charmed-kubeflow-documentation` supported-versions and the mysql-k8s `assumes`).

use super::version::Version;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
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
}
