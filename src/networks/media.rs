//! Where adapters get the bytes of a post's images.
//!
//! A delivery records each image's git blob, so the bytes sent are exactly the ones that
//! were approved, even if the file changed on the branch since. Reading a blob is blocking
//! git work, so adapters go through [`load`], which runs it off the async runtime.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::NetError;
use crate::post::Image;

/// Gives the bytes of an image named in a delivery.
pub trait MediaSource: Send + Sync {
    fn read(&self, image: &Image) -> Result<Vec<u8>, String>;
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
    fn read(&self, image: &Image) -> Result<Vec<u8>, String> {
        let blob = image.blob.as_deref().ok_or_else(|| {
            format!(
                "image {} has no recorded git blob; sync it again",
                image.path
            )
        })?;
        read_blob(&self.repo, blob).map_err(|e| format!("image {}: {e}", image.path))
    }
}

/// The bytes of the git blob `blob` of the repository at `repo`.
pub fn read_blob(repo: &Path, blob: &str) -> Result<Vec<u8>, String> {
    let cannot = |e: git2::Error| format!("blob {blob}: {}", e.message());
    let git = git2::Repository::open(repo).map_err(cannot)?;
    let oid = git2::Oid::from_str(blob).map_err(cannot)?;
    let blob = git.find_blob(oid).map_err(cannot)?;
    Ok(blob.content().to_vec())
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
    fn read(&self, image: &Image) -> Result<Vec<u8>, String> {
        self.files
            .get(&image.path)
            .cloned()
            .ok_or_else(|| format!("image {} is not available", image.path))
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

/// The bytes of `image`. An image that cannot be read will not appear by retrying, so the
/// failure is permanent and names the file.
pub async fn load(media: &Arc<dyn MediaSource>, image: &Image) -> Result<Vec<u8>, NetError> {
    let media = media.clone();
    let image = image.clone();
    tokio::task::spawn_blocking(move || media.read(&image))
        .await
        .map_err(|e| NetError::transient(format!("reading an image failed: {e}")))?
        .map_err(NetError::permanent)
}
