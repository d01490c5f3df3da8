//! Where adapters get the bytes of a post's images.
//!
//! A delivery records each image's git blob, so the bytes sent are exactly the ones that
//! were approved, even if the file changed on the branch since. Reading a blob is blocking
//! git work, so adapters go through [`load`], which runs it off the async runtime.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use super::NetError;
use crate::content::post::Image;
use crate::git::blob::{read_blob, BlobError};

/// Gives the bytes of an image named in a delivery.
pub trait MediaSource: Send + Sync {
    fn read(&self, image: &Image) -> Result<Vec<u8>, MediaError>;
}

/// Why an image's bytes could not be had.
#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    /// The image is not there (no recorded blob, or git has no such object): retrying will
    /// not make it appear.
    #[error("image {path}: {reason}")]
    Missing { path: String, reason: String },
    /// The repository could not be read just now (an I/O error, a pack being replaced by a
    /// fetch): the same read may work on the next attempt.
    #[error("image {path}: {source}")]
    Unreadable {
        path: String,
        #[source]
        source: BlobError,
    },
}

/// Images read from the git objects of the repository `serve` syncs from.
pub struct RepoMedia {
    repo: PathBuf,
}

impl RepoMedia {
    pub fn new(repo: PathBuf) -> RepoMedia {
        RepoMedia { repo }
    }
}

impl MediaSource for RepoMedia {
    fn read(&self, image: &Image) -> Result<Vec<u8>, MediaError> {
        let path = image.path.clone();
        let blob = image.blob.as_deref().ok_or_else(|| MediaError::Missing {
            path: path.clone(),
            reason: "no git blob was recorded for it; sync it again".into(),
        })?;
        read_blob(&self.repo, blob).map_err(|e| match e {
            BlobError::NotFound(_) => MediaError::Missing {
                path,
                reason: e.to_string(),
            },
            BlobError::Git { .. } => MediaError::Unreadable { path, source: e },
        })
    }
}

/// Images held in memory by path: for tests, and for adapters exercised without git.
#[derive(Default)]
pub struct MemoryMedia {
    files: HashMap<String, Vec<u8>>,
}

impl MemoryMedia {
    pub fn new() -> MemoryMedia {
        MemoryMedia::default()
    }

    pub fn with(mut self, path: &str, bytes: Vec<u8>) -> MemoryMedia {
        self.files.insert(path.to_string(), bytes);
        self
    }
}

impl MediaSource for MemoryMedia {
    fn read(&self, image: &Image) -> Result<Vec<u8>, MediaError> {
        self.files
            .get(&image.path)
            .cloned()
            .ok_or_else(|| MediaError::Missing {
                path: image.path.clone(),
                reason: "not available".into(),
            })
    }
}

/// `image` as a multipart file part (its bytes, file name and type), for the networks
/// that take uploads as forms.
pub async fn form_part(
    media: &Arc<dyn MediaSource>,
    image: &Image,
) -> Result<reqwest::multipart::Part, NetError> {
    let bytes = load(media, image).await?;
    let file_name = image
        .path
        .rsplit('/')
        .next()
        .filter(|n| !n.is_empty())
        .unwrap_or("image")
        .to_string();
    reqwest::multipart::Part::bytes(bytes)
        .file_name(file_name)
        .mime_str(&image.mime)
        .map_err(|_| {
            NetError::permanent(format!(
                "image {}: `{}` is not a media type",
                image.path, image.mime
            ))
        })
}

/// The bytes of `image`. A missing image will not appear by retrying, so that failure is
/// permanent and names the file; a read that failed (I/O, a pack replaced mid-read) is
/// transient and tried again.
pub async fn load(media: &Arc<dyn MediaSource>, image: &Image) -> Result<Vec<u8>, NetError> {
    let media = media.clone();
    let image = image.clone();
    let read = tokio::task::spawn_blocking(move || media.read(&image))
        .await
        .map_err(|e| NetError::transient(format!("reading an image failed: {e}")))?;
    read.map_err(|e| match e {
        MediaError::Missing { .. } => NetError::permanent(e.to_string()),
        MediaError::Unreadable { .. } => NetError::transient(e.to_string()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::networks::ErrorClass;

    fn image(blob: Option<String>) -> Image {
        Image {
            path: "images/a.png".into(),
            alt: None,
            mime: "image/png".into(),
            size: 4,
            blob,
        }
    }

    async fn class_of(media: RepoMedia, image: Image) -> ErrorClass {
        let media: Arc<dyn MediaSource> = Arc::new(media);
        load(&media, &image).await.expect_err("not readable").class
    }

    #[tokio::test]
    async fn a_missing_image_fails_for_good_and_a_failed_read_is_tried_again() {
        let dir = tempfile::tempdir().unwrap();
        let git = git2::Repository::init(dir.path()).unwrap();
        let oid = git.blob(b"\x89PNG").unwrap().to_string();
        let media = || RepoMedia::new(dir.path().to_path_buf());
        let read = media().read(&image(Some(oid.clone()))).unwrap();
        assert_eq!(read, b"\x89PNG");

        let absent = "0123456789012345678901234567890123456789".to_string();
        assert_eq!(
            class_of(media(), image(Some(absent))).await,
            ErrorClass::Permanent
        );
        assert_eq!(class_of(media(), image(None)).await, ErrorClass::Permanent);

        // The object is there but cannot be read (its zlib stream is garbled).
        let file = dir
            .path()
            .join(".git/objects")
            .join(&oid[..2])
            .join(&oid[2..]);
        let mut perms = std::fs::metadata(&file).unwrap().permissions();
        #[allow(clippy::permissions_set_readonly_false)]
        perms.set_readonly(false);
        std::fs::set_permissions(&file, perms).unwrap();
        std::fs::write(&file, b"garbled").unwrap();
        assert_eq!(
            class_of(media(), image(Some(oid))).await,
            ErrorClass::Transient
        );
    }
}
