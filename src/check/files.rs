//! The files `check` reads: Markdown under the content directory, the command line's
//! selection, and what changed since `--base`.

use std::collections::BTreeSet;
use std::io::Read;
use std::path::{Path, PathBuf};

use super::UsageError;
use crate::content::config::CONFIG_FILE;
use crate::content::post::MAX_POST_BYTES;

/// One Markdown file found under the content directory.
pub(super) struct Found {
    /// From the content directory.
    pub(super) path: String,
    /// From the repository root (what GitHub annotations and staff see).
    pub(super) shown: String,
    pub(super) bytes: Vec<u8>,
    pub(super) size: u64,
    /// The name is not UTF-8: git forges cannot show it and `serve` skips it.
    pub(super) bad_name: bool,
}

/// The path of `file` (as given on the command line) inside `content`.
pub(super) fn relative_to(content: &Path, file: &Path) -> Result<String, UsageError> {
    let full = file
        .canonicalize()
        .map_err(|_| UsageError::NoFile(file.to_path_buf()))?;
    let rel = full
        .strip_prefix(content)
        .map_err(|_| UsageError::Outside(file.to_path_buf(), content.to_path_buf()))?;
    Ok(rel.to_string_lossy().replace('\\', "/"))
}

/// Content-relative paths that differ between the merge base of `base` and HEAD and the
/// files on disk (committed or not).
pub(super) fn changed_since(
    git: Option<&git2::Repository>,
    base: &str,
    prefix: &str,
) -> Result<BTreeSet<String>, UsageError> {
    let err = |m: String| UsageError::Base(base.to_string(), m);
    let git = git.ok_or_else(|| err("the content directory is not in a git repository".into()))?;
    let base_commit = git
        .revparse_single(base)
        .and_then(|o| o.peel_to_commit())
        .map_err(|e| err(e.message().to_string()))?;
    let head = git
        .head()
        .and_then(|h| h.peel_to_commit())
        .map_err(|e| err(e.message().to_string()))?;
    let merge_base = git
        .merge_base(base_commit.id(), head.id())
        .and_then(|o| git.find_commit(o))
        .map_err(|e| err(e.message().to_string()))?;
    let tree = merge_base
        .tree()
        .map_err(|e| err(e.message().to_string()))?;
    let diff = git
        .diff_tree_to_workdir_with_index(Some(&tree), None)
        .map_err(|e| err(e.message().to_string()))?;
    let strip = if prefix.is_empty() {
        String::new()
    } else {
        format!("{prefix}/")
    };
    Ok(diff
        .deltas()
        .filter_map(|d| {
            d.new_file()
                .path()
                .map(|p| p.to_string_lossy().replace('\\', "/"))
        })
        .filter_map(|p| p.strip_prefix(&strip).map(str::to_string))
        .collect())
}

/// Finds `*.md` files, skipping hidden folders and anything that is not a regular file
/// (a symlink could point outside the repository).
pub(super) fn walk(
    dir: &Path,
    rel: &str,
    out: &mut Vec<Found>,
    shown: &dyn Fn(&str) -> String,
) -> std::io::Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let name = entry.file_name();
        let Some(name) = name.to_str() else {
            let lossy = name.to_string_lossy();
            if lossy.ends_with(".md") && entry.file_type()?.is_file() {
                let path = if rel.is_empty() {
                    lossy.into_owned()
                } else {
                    format!("{rel}/{lossy}")
                };
                out.push(Found {
                    shown: shown(&path),
                    path,
                    bytes: Vec::new(),
                    size: 0,
                    bad_name: true,
                });
            }
            continue;
        };
        if name.starts_with('.') {
            continue;
        }
        let path = if rel.is_empty() {
            name.to_string()
        } else {
            format!("{rel}/{name}")
        };
        let kind = entry.file_type()?;
        if kind.is_dir() {
            walk(&entry.path(), &path, out, shown)?;
        } else if kind.is_file() && name.ends_with(".md") {
            let size = entry.metadata()?.len();
            let mut bytes = Vec::new();
            std::fs::File::open(entry.path())?
                .take(MAX_POST_BYTES as u64 + 1)
                .read_to_end(&mut bytes)?;
            out.push(Found {
                shown: shown(&path),
                path,
                bytes,
                size,
                bad_name: false,
            });
        }
    }
    Ok(())
}

/// The content directory holding `file`: the nearest folder upwards with an `oshirase.yaml`.
pub fn find_content_dir(file: &Path) -> Option<PathBuf> {
    let full = file.canonicalize().ok()?;
    full.ancestors()
        .skip(1)
        .find(|d| d.join(CONFIG_FILE).is_file())
        .map(Path::to_path_buf)
}
