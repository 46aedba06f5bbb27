//! Target references checked before they can reach the bundle; the rules themselves are the
//! image-reference grammar of `crate::image_ref`.

use super::error::{BundleError, Result};
use crate::image_ref::{self, ImageRef};

/// Check a full target reference (`host[:port]/path[:tag][@sha256:hex]`).
pub fn validate_reference(reference: &str) -> Result<()> {
    ImageRef::parse_target(reference)
        .map(drop)
        .map_err(|rule| BundleError::InvalidTarget {
            reference: reference.to_owned(),
            rule,
        })
}

/// Check a registry prefix (`host[:port][/path]`) used for bulk mapping.
pub fn validate_prefix(prefix: &str) -> Result<()> {
    image_ref::validate_prefix(prefix).map_err(|rule| BundleError::InvalidTarget {
        reference: prefix.to_owned(),
        rule,
    })
}
