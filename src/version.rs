//! Dotted versions as the tools print them: `3.4.6-genericlinux-amd64`, `v1.28.3`, `2.9.44`,
//! `1.24+` (kubectl minor of some distributions), `3.1`.

use std::fmt;

/// ckf-airgap's own version and the commit it was built from (`--version`, the lock).
pub const TOOL_VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("CKF_AIRGAP_COMMIT"),
    ")"
);

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub struct Version {
    pub major: u32,
    pub minor: u32,
    pub patch: u32,
}

impl Version {
    pub const fn new(major: u32, minor: u32, patch: u32) -> Self {
        Self {
            major,
            minor,
            patch,
        }
    }

    /// Reads the first word of `text` that is `N.N[.N]`, ignoring a leading `v` and any suffix
    /// after the numbers (`-genericlinux-amd64`, `+`, `-beta1`). Whole words only, so the `8` of
    /// `MicroK8s` is not a version.
    pub fn parse(text: &str) -> Option<Self> {
        text.split_whitespace().find_map(|word| {
            let word = word.strip_prefix(['v', 'V']).unwrap_or(word);
            let mut parts = word.split('.').map(leading_number);
            let major = parts.next()??;
            let minor = parts.next()??;
            let patch = parts.next().flatten().unwrap_or(0);
            Some(Self::new(major, minor, patch))
        })
    }

    pub fn same_minor(&self, other: &Version) -> bool {
        (self.major, self.minor) == (other.major, other.minor)
    }
}

fn leading_number(part: &str) -> Option<u32> {
    let digits: String = part.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_tool_outputs() {
        let v = |s| Version::parse(s).unwrap();
        assert_eq!(v("3.4.6-genericlinux-amd64"), Version::new(3, 4, 6));
        assert_eq!(v("v1.28.3"), Version::new(1, 28, 3));
        assert_eq!(
            v("MicroK8s v1.24.17 revision 5923"),
            Version::new(1, 24, 17)
        );
        assert_eq!(v("3.1"), Version::new(3, 1, 0));
        assert_eq!(Version::parse("none"), None);
    }
}
