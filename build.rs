//! The git commit the binary is built from, for `--version`: an operator across the gap
//! reports it with a problem. Outside a git checkout (a source tarball) it is "unknown".
use std::process::Command;

fn main() {
    let commit = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown".to_owned());
    println!("cargo:rustc-env=CKF_AIRGAP_COMMIT={commit}");
    // A new commit changes HEAD or the branch it names.
    println!("cargo:rerun-if-changed=.git/HEAD");
    println!("cargo:rerun-if-changed=.git/refs/heads");
    embed_demo_release();
}

/// The demo runs on CKF 1.11's real bundle and charm files, the copies the tests read (each
/// with its source in `SOURCES.md` and the bundle's first line): every file of that folder is
/// embedded by `include_bytes!`, listed here so the list cannot drift from the folder.
fn embed_demo_release() {
    let root = std::path::Path::new("tests/fixtures/releases/1.11");
    println!("cargo:rerun-if-changed={}", root.display());
    let mut files = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                files.push(path);
            }
        }
    }
    files.sort();
    let mut out = String::from(
        "/// CKF 1.11's bundle and charm files: (path under the release folder, bytes).\n\
         pub static FILES: &[(&str, &[u8])] = &[\n",
    );
    for file in &files {
        let relative = file.strip_prefix(root).unwrap_or(file);
        let absolute = std::fs::canonicalize(file).unwrap_or_else(|_| file.clone());
        out.push_str(&format!(
            "    ({:?}, include_bytes!({:?})),\n",
            relative.to_string_lossy(),
            absolute.to_string_lossy()
        ));
    }
    out.push_str("];\n");
    let dest = std::path::Path::new(&std::env::var("OUT_DIR").unwrap_or_default())
        .join("demo_release_1_11.rs");
    if let Err(e) = std::fs::write(&dest, out) {
        println!("cargo:warning=cannot write {}: {e}", dest.display());
    }
}
