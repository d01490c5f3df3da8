//! One git blob read by its id: the bytes of an approved image, for the networks and the
//! dashboard's `/media/<blob>`.

use std::path::Path;

/// Why a git blob could not be read.
#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    #[error("blob {0} is not in the repository")]
    NotFound(String),
    #[error("blob {blob}: {source}")]
    Git {
        blob: String,
        #[source]
        source: git2::Error,
    },
}

/// The bytes of the git blob `blob` of the repository at `repo`. Only a blob id that is
/// not one, or an object git does not have, is [`BlobError::NotFound`]; any other failure
/// (opening the repository, reading a pack) may pass.
pub fn read_blob(repo: &Path, blob: &str) -> Result<Vec<u8>, BlobError> {
    let not_found = || BlobError::NotFound(blob.to_string());
    let oid = git2::Oid::from_str(blob).map_err(|_| not_found())?;
    let git = |source| BlobError::Git {
        blob: blob.to_string(),
        source,
    };
    let repository = git2::Repository::open(repo).map_err(git)?;
    let found = repository.find_blob(oid);
    match found {
        Ok(found) => Ok(found.content().to_vec()),
        Err(e) if e.code() == git2::ErrorCode::NotFound => Err(not_found()),
        Err(e) => Err(git(e)),
    }
}
