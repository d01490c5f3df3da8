//! Where a post's other files (images) come from: git objects for `serve`, the checked-out
//! files for `check` in a pull request. Both refuse anything outside the content directory
//! and anything that is not a regular file (symlinks, submodules).

use std::io::Read;
use std::path::{Component, Path, PathBuf};

use crate::content::brief::quote;

/// What validation needs to know of a file without reading all of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileInfo {
    pub size: u64,
    /// The first bytes, enough to tell an image's type.
    pub head: Vec<u8>,
    /// The git blob, when the file comes from git.
    pub blob: Option<String>,
}

/// Bytes enough to sniff any image type oshirase accepts.
pub const HEAD_BYTES: usize = 64;

/// A file that exists but cannot be content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotContent {
    Missing,
    NotARegularFile,
    Unreadable(String),
}

pub trait ContentSource {
    /// Looks at `path` (relative to the content directory, already normalised).
    fn stat(&self, path: &str) -> Result<FileInfo, NotContent>;
}

/// Why a path written in a post cannot be used; shown after "image ".
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    #[error("the path is empty")]
    Empty,
    #[error("{} is absolute; write it relative to the post", quote(.0))]
    Absolute(String),
    #[error("{} uses `\\`; separate folders with `/`", quote(.0))]
    Backslash(String),
    #[error("{} points outside the repository", quote(.0))]
    Outside(String),
    #[error("{} is not a file", quote(.0))]
    NotAFile(String),
}

/// Resolves `target` written in the post at `post_path` (both relative to the content
/// directory) into a normalised path that stays inside it.
pub fn resolve_relative(post_path: &str, target: &str) -> Result<String, PathError> {
    if target.trim().is_empty() {
        return Err(PathError::Empty);
    }
    if target.starts_with('/')
        || target.starts_with('\\')
        || target.starts_with('~')
        || target.contains(":")
    {
        return Err(PathError::Absolute(target.to_string()));
    }
    if target.contains('\\') {
        return Err(PathError::Backslash(target.to_string()));
    }
    let mut parts: Vec<&str> = post_path.split('/').collect();
    parts.pop(); // the post's own file name
    for part in target.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if parts.pop().is_none() {
                    return Err(PathError::Outside(target.to_string()));
                }
            }
            other => parts.push(other),
        }
    }
    if parts.is_empty() {
        return Err(PathError::NotAFile(target.to_string()));
    }
    Ok(parts.join("/"))
}

/// Files of a checked-out content directory.
pub struct FsSource {
    root: PathBuf,
}

impl FsSource {
    pub fn new(root: &Path) -> FsSource {
        FsSource {
            root: root.to_path_buf(),
        }
    }
}

impl ContentSource for FsSource {
    fn stat(&self, path: &str) -> Result<FileInfo, NotContent> {
        // Walk the components so a symlinked folder cannot lead outside the root.
        let mut at = self.root.clone();
        for c in Path::new(path).components() {
            let Component::Normal(name) = c else {
                return Err(NotContent::NotARegularFile);
            };
            at.push(name);
            match std::fs::symlink_metadata(&at) {
                Ok(m) if m.file_type().is_symlink() => return Err(NotContent::NotARegularFile),
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    return Err(NotContent::Missing)
                }
                Err(e) => return Err(NotContent::Unreadable(e.to_string())),
            }
        }
        let meta = std::fs::metadata(&at).map_err(|e| NotContent::Unreadable(e.to_string()))?;
        if !meta.is_file() {
            return Err(NotContent::NotARegularFile);
        }
        let mut head = Vec::with_capacity(HEAD_BYTES);
        std::fs::File::open(&at)
            .and_then(|f| f.take(HEAD_BYTES as u64).read_to_end(&mut head))
            .map_err(|e| NotContent::Unreadable(e.to_string()))?;
        Ok(FileInfo {
            size: meta.len(),
            head,
            blob: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths_resolve_inside_the_content_directory() {
        assert_eq!(
            resolve_relative("posts/a.md", "images/x.png").unwrap(),
            "posts/images/x.png"
        );
        assert_eq!(
            resolve_relative("posts/a.md", "../shared/x.png").unwrap(),
            "shared/x.png"
        );
        assert_eq!(resolve_relative("a.md", "./x.png").unwrap(), "x.png");
        assert!(resolve_relative("posts/a.md", "../../etc/passwd").is_err());
        assert!(resolve_relative("posts/a.md", "/etc/passwd").is_err());
        assert!(resolve_relative("posts/a.md", "C:/x.png").is_err());
        assert!(resolve_relative("posts/a.md", "..\\x.png").is_err());
        assert!(resolve_relative("posts/a.md", "").is_err());
    }

    #[test]
    fn the_file_system_source_refuses_symlinks_and_folders() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("posts/images")).unwrap();
        std::fs::write(
            dir.path().join("posts/images/a.png"),
            b"\x89PNG\r\n\x1a\nrest",
        )
        .unwrap();
        std::os::unix::fs::symlink("/etc/passwd", dir.path().join("posts/images/link.png"))
            .unwrap();
        let src = FsSource::new(dir.path());
        let info = src.stat("posts/images/a.png").unwrap();
        assert_eq!(info.size, 12);
        assert!(info.head.starts_with(b"\x89PNG"));
        assert_eq!(
            src.stat("posts/images/link.png"),
            Err(NotContent::NotARegularFile)
        );
        assert_eq!(src.stat("posts/images"), Err(NotContent::NotARegularFile));
        assert_eq!(src.stat("posts/images/none.png"), Err(NotContent::Missing));
    }
}
