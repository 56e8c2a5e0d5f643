//! The tus checksum extension: a digest of each request body in `Upload-Checksum`, so
//! the server refuses (460) a chunk damaged on the way instead of storing it.

use std::path::Path;

use base64::Engine as _;
use sha1::Digest as _;
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use tokio_util::sync::CancellationToken;

use crate::error::CoreError;

/// The digests Ferry can send, strongest first: the first one the server lists wins.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChecksumAlgorithm {
    /// SHA-256.
    Sha256,
    /// SHA-1 (what every tus server with the extension supports).
    Sha1,
    /// MD5.
    Md5,
}

impl ChecksumAlgorithm {
    /// The name on the wire.
    pub fn name(self) -> &'static str {
        match self {
            Self::Sha256 => "sha256",
            Self::Sha1 => "sha1",
            Self::Md5 => "md5",
        }
    }

    /// The strongest algorithm in the server's `Tus-Checksum-Algorithm` list that Ferry
    /// supports.
    pub fn pick(server_list: &[String]) -> Option<Self> {
        [Self::Sha256, Self::Sha1, Self::Md5]
            .into_iter()
            .find(|ours| {
                server_list
                    .iter()
                    .any(|theirs| theirs.eq_ignore_ascii_case(ours.name()))
            })
    }

    fn hasher(self) -> Box<dyn sha1::digest::DynDigest + Send> {
        match self {
            Self::Sha256 => Box::new(sha2::Sha256::new()),
            Self::Sha1 => Box::new(sha1::Sha1::new()),
            Self::Md5 => Box::new(md5::Md5::new()),
        }
    }
}

/// The `Upload-Checksum` value (`sha1 <base64>`) of `len` bytes of `path` from
/// `offset`, read in small pieces (never the chunk in memory).
pub(crate) async fn header_for_range(
    algorithm: ChecksumAlgorithm,
    path: &Path,
    offset: u64,
    len: u64,
    cancel: &CancellationToken,
) -> Result<String, CoreError> {
    let mut file = tokio::fs::File::open(path)
        .await
        .map_err(|e| CoreError::source_io(path, e))?;
    file.seek(std::io::SeekFrom::Start(offset))
        .await
        .map_err(|e| CoreError::source_io(path, e))?;
    let mut hasher = algorithm.hasher();
    let mut buf = vec![0u8; 64 * 1024];
    let mut left = len;
    while left > 0 {
        let want = usize::try_from(left.min(buf.len() as u64)).unwrap_or(buf.len());
        let n = tokio::select! {
            biased;
            () = cancel.cancelled() => return Err(CoreError::Interrupted),
            read = file.read(&mut buf[..want]) => read.map_err(|e| CoreError::source_io(path, e))?,
        };
        if n == 0 {
            return Err(CoreError::SourceChanged {
                path: path.to_path_buf(),
                detail: "it shrank while a chunk's checksum was computed".into(),
            });
        }
        hasher.update(&buf[..n]);
        left -= n as u64;
    }
    let digest = hasher.finalize();
    Ok(format!(
        "{} {}",
        algorithm.name(),
        base64::engine::general_purpose::STANDARD.encode(digest)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_the_strongest_common_algorithm() {
        let list = |s: &str| s.split(',').map(str::to_owned).collect::<Vec<_>>();
        assert_eq!(
            ChecksumAlgorithm::pick(&list("md5,sha1")),
            Some(ChecksumAlgorithm::Sha1)
        );
        assert_eq!(
            ChecksumAlgorithm::pick(&list("SHA256,sha1")),
            Some(ChecksumAlgorithm::Sha256)
        );
        assert_eq!(ChecksumAlgorithm::pick(&list("crc32")), None);
    }

    #[tokio::test]
    async fn digest_of_a_range_matches_known_values() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, b"xxhello worldyy").unwrap();
        let cancel = CancellationToken::new();
        let sha1 = header_for_range(ChecksumAlgorithm::Sha1, &path, 2, 11, &cancel)
            .await
            .unwrap();
        // sha1("hello world") = 2aae6c35c94fcfb415dbe95f408b9ce91ee846ed
        assert_eq!(sha1, "sha1 Kq5sNclPz7QV2+lfQIuc6R7oRu0=");
        let short = header_for_range(ChecksumAlgorithm::Md5, &path, 10, 100, &cancel).await;
        assert!(matches!(short, Err(CoreError::SourceChanged { .. })));
    }
}
