//! Path rules for archive entries. Nothing in an archive is trusted: every name
//! is normalised to a relative path with no `..` before it is used, and link
//! targets are resolved inside the member only.

/// Why a path was refused; turned into `ArtifactError::UnsafePath` by callers
/// that know the archive and member names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathProblem {
    Absolute,
    ParentDir,
    NotUtf8,
    Empty,
    ControlCharacter,
}

impl PathProblem {
    pub fn describe(self) -> &'static str {
        match self {
            PathProblem::Absolute => "absolute path",
            PathProblem::ParentDir => "path contains `..`",
            PathProblem::NotUtf8 => "path is not UTF-8",
            PathProblem::Empty => "empty path",
            PathProblem::ControlCharacter => {
                "the name holds a control character, which docker save never writes"
            }
        }
    }
}

/// Normalises an entry name: strips `./` and empty components so that
/// `./manifest.json` and `manifest.json` are the same file. Returns "" for
/// the archive root (`./`), which callers skip.
pub fn normalize_entry_path(raw: &[u8]) -> Result<String, PathProblem> {
    let s = std::str::from_utf8(raw).map_err(|_| PathProblem::NotUtf8)?;
    // A name that would act on the terminal it is shown on is not a name an image tool wrote.
    if s.chars().any(|c| c.is_control()) {
        return Err(PathProblem::ControlCharacter);
    }
    if s.starts_with('/') || s.starts_with('\\') {
        return Err(PathProblem::Absolute);
    }
    let mut parts: Vec<&str> = Vec::new();
    for comp in s.split('/') {
        match comp {
            "" | "." => {}
            ".." => return Err(PathProblem::ParentDir),
            c => parts.push(c),
        }
    }
    Ok(parts.join("/"))
}

/// Resolves a symlink target relative to the directory of `link_path`. Returns
/// `None` when the target is absolute or climbs above the member root.
pub fn resolve_link_target(link_path: &str, target: &str) -> Option<String> {
    if target.starts_with('/') {
        return None;
    }
    let mut parts: Vec<&str> = link_path.split('/').collect();
    parts.pop();
    for comp in target.split('/') {
        match comp {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            c => parts.push(c),
        }
    }
    if parts.is_empty() {
        return None;
    }
    Some(parts.join("/"))
}

/// A charm or member file name must be a single plain component.
pub fn is_plain_file_name(name: &str) -> bool {
    !name.is_empty() && !name.contains('/') && !name.contains('\\') && name != "." && name != ".."
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_dot_prefixes() {
        assert_eq!(
            normalize_entry_path(b"./manifest.json"),
            Ok("manifest.json".into())
        );
        assert_eq!(normalize_entry_path(b"./a//b/./c"), Ok("a/b/c".into()));
        assert_eq!(normalize_entry_path(b"./"), Ok(String::new()));
    }

    #[test]
    fn refuses_escapes() {
        assert_eq!(
            normalize_entry_path(b"/etc/passwd"),
            Err(PathProblem::Absolute)
        );
        assert_eq!(
            normalize_entry_path(b"a/../../x"),
            Err(PathProblem::ParentDir)
        );
        assert_eq!(normalize_entry_path(b"\xff"), Err(PathProblem::NotUtf8));
    }

    #[test]
    fn link_targets_stay_inside() {
        assert_eq!(
            resolve_link_target("abc/layer.tar", "../d.tar"),
            Some("d.tar".into())
        );
        assert_eq!(resolve_link_target("abc/layer.tar", "../../d.tar"), None);
        assert_eq!(resolve_link_target("abc/layer.tar", "/etc/passwd"), None);
        assert_eq!(resolve_link_target("x", "y/z"), Some("y/z".into()));
    }
}
