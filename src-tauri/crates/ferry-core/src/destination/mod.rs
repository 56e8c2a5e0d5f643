//! Where files go. A [`Destination`] hides one kind of remote (a local folder, a tus
//! server, an S3 bucket) behind the four things the pipeline needs: its policy, an
//! upload fed chunk by chunk from an [`UploadBody`], a verification of the finished
//! copy, and the removal of partial or unwanted copies.

mod local;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use tokio::io::AsyncReadExt;
use tokio_util::sync::CancellationToken;

use crate::error::{human_bytes, CoreError};
use crate::model::JobId;

pub use local::LocalFolderDestination;

/// Chunk size for reading sources: large enough for throughput, small enough that a
/// pause or cancel is felt within one chunk and memory stays flat.
pub const CHUNK_SIZE: usize = 256 * 1024;

/// Receives the number of bytes a stage has processed so far (cumulative). The engine
/// turns these figures into progress events; destinations call it after each chunk
/// they have written or verified.
pub trait ProgressSink: Send + Sync {
    /// Reports `done` bytes processed since the stage started.
    fn report(&self, done: u64);
}

impl<F: Fn(u64) + Send + Sync> ProgressSink for F {
    fn report(&self, done: u64) {
        self(done);
    }
}

/// What a destination accepts, checked during parsing so a file it would refuse is
/// stopped before any byte is sent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DestinationPolicy {
    /// Largest accepted file in bytes; `None` for no limit.
    pub max_size: Option<u64>,
    /// MIME types accepted (`image/png`, or `image/*` for a family); empty accepts all.
    pub allowed_types: Vec<String>,
    /// MIME types refused even if allowed above.
    pub refused_types: Vec<String>,
}

impl DestinationPolicy {
    /// Checks one file, returning a refusal message meant for the user.
    pub fn check(
        &self,
        destination: &str,
        name: &str,
        size: u64,
        mime: &str,
    ) -> Result<(), String> {
        if let Some(max) = self.max_size {
            if size > max {
                return Err(format!(
                    "{name} is {} but {destination} accepts files up to {}; choose another destination or a smaller file",
                    human_bytes(size),
                    human_bytes(max)
                ));
            }
        }
        if self.refused_types.iter().any(|p| mime_matches(p, mime)) {
            return Err(format!(
                "{name} is of type {mime}, which {destination} refuses; choose another destination"
            ));
        }
        if !self.allowed_types.is_empty()
            && !self.allowed_types.iter().any(|p| mime_matches(p, mime))
        {
            return Err(format!(
                "{name} is of type {mime}, but {destination} only accepts {}; choose another destination",
                self.allowed_types.join(", ")
            ));
        }
        Ok(())
    }
}

/// True when `mime` matches `pattern` (`type/subtype`, `type/*` or `*/*`), ignoring case.
fn mime_matches(pattern: &str, mime: &str) -> bool {
    let pattern = pattern.trim().to_ascii_lowercase();
    let mime = mime.trim().to_ascii_lowercase();
    if pattern == "*/*" || pattern == "*" || pattern == mime {
        return true;
    }
    match pattern.strip_suffix("/*") {
        Some(family) => mime.split('/').next() == Some(family),
        None => false,
    }
}

/// One file to upload, as the destination sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadRequest {
    /// The job, so a destination can name its partial state after it and find it again
    /// after a restart.
    pub job_id: JobId,
    /// The source file on this machine.
    pub source: PathBuf,
    /// The file name to use at the destination.
    pub name: String,
    /// Bytes to send.
    pub size: u64,
    /// MIME type found during parsing.
    pub mime: String,
    /// BLAKE3 hash of the content (hex), found during hashing.
    pub blake3: String,
}

/// What a finished upload must look like at the destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpectedContent {
    /// Length in bytes.
    pub size: u64,
    /// BLAKE3 hash (hex).
    pub blake3: String,
}

/// A remote (or local) place that receives files.
///
/// Implementations must stop promptly when `cancel` fires, returning
/// [`CoreError::Interrupted`], and leave nothing partial behind when an upload does not
/// finish.
#[async_trait::async_trait]
pub trait Destination: Send + Sync + 'static {
    /// A short name for messages and logs ("the local folder /home/ann/Ferry Uploads").
    fn name(&self) -> &str;

    /// What this destination accepts.
    fn policy(&self) -> DestinationPolicy;

    /// Sends the whole body and returns where the file landed (a path or URL).
    /// `progress` gets the bytes the destination has durably received so far.
    async fn upload(
        &self,
        request: &UploadRequest,
        body: &mut UploadBody,
        progress: &dyn ProgressSink,
        cancel: &CancellationToken,
    ) -> Result<String, CoreError>;

    /// Reads back the copy at `remote` (as returned by `upload`) and checks it against
    /// `expected`; `progress` gets the bytes checked so far.
    async fn verify(
        &self,
        remote: &str,
        expected: &ExpectedContent,
        progress: &dyn ProgressSink,
        cancel: &CancellationToken,
    ) -> Result<(), CoreError>;

    /// Removes whatever an unfinished upload of this request left behind (a temporary
    /// file, an open resumable upload). Called before a job runs again and after a
    /// failed or stopped upload; nothing to remove is not an error.
    async fn discard(&self, request: &UploadRequest) -> Result<(), CoreError>;

    /// Removes a finished copy (a cancelled job, or a copy that failed verification).
    /// An already absent copy is not an error.
    async fn remove(&self, remote: &str) -> Result<(), CoreError>;
}

/// The bytes of one source file, handed to a destination chunk by chunk.
///
/// It enforces what every destination needs without repeating it: the bandwidth cap,
/// prompt cancellation, and detection of a source that changes size, changes content
/// or disappears while it is being read.
#[derive(Debug)]
pub struct UploadBody {
    path: PathBuf,
    file: tokio::fs::File,
    size: u64,
    consumed: u64,
    buf: Vec<u8>,
    limit: Option<u64>,
    started: Option<Instant>,
    cancel: CancellationToken,
    hasher: blake3::Hasher,
    expected_hash: Option<String>,
}

impl UploadBody {
    /// Opens `path`, expecting `size` bytes. `cancel` stops reads (and throttle waits)
    /// with [`CoreError::Interrupted`].
    pub async fn open(
        path: &Path,
        size: u64,
        cancel: CancellationToken,
    ) -> Result<Self, CoreError> {
        let file = tokio::fs::File::open(path)
            .await
            .map_err(|e| CoreError::source_io(path, e))?;
        Ok(Self {
            path: path.to_path_buf(),
            file,
            size,
            consumed: 0,
            buf: vec![0; CHUNK_SIZE],
            limit: None,
            started: None,
            cancel,
            hasher: blake3::Hasher::new(),
            expected_hash: None,
        })
    }

    /// Caps the read rate at `limit` bytes/s (`None` for no cap). Chunks shrink with
    /// the cap so progress stays smooth at low rates.
    #[must_use]
    pub fn with_bandwidth_limit(mut self, limit: Option<u64>) -> Self {
        self.limit = limit.filter(|l| *l > 0);
        if let Some(limit) = self.limit {
            let chunk = usize::try_from(limit / 20)
                .unwrap_or(CHUNK_SIZE)
                .clamp(4096, CHUNK_SIZE);
            self.buf.truncate(chunk);
        }
        self
    }

    /// Requires the content read to hash to `blake3` (hex); a difference fails the read
    /// at the end with [`CoreError::SourceChanged`].
    #[must_use]
    pub fn with_expected_hash(mut self, blake3: String) -> Self {
        self.expected_hash = Some(blake3);
        self
    }

    /// Bytes the source should hold.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Bytes handed out so far.
    pub fn consumed(&self) -> u64 {
        self.consumed
    }

    /// The next chunk, or `None` once the whole file was read and found unchanged.
    pub async fn next_chunk(&mut self) -> Result<Option<&[u8]>, CoreError> {
        if self.cancel.is_cancelled() {
            return Err(CoreError::Interrupted);
        }
        self.throttle().await?;
        let read = tokio::select! {
            biased;
            () = self.cancel.cancelled() => return Err(CoreError::Interrupted),
            read = self.file.read(&mut self.buf) => read,
        };
        let n = read.map_err(|e| CoreError::source_io(&self.path, e))?;
        if n == 0 {
            self.finish()?;
            return Ok(None);
        }
        let new_total = self.consumed + n as u64;
        if new_total > self.size {
            return Err(self.changed(format!(
                "it grew past the {} it had when the upload started",
                human_bytes(self.size)
            )));
        }
        self.check_still_there().await?;
        self.consumed = new_total;
        self.hasher.update(&self.buf[..n]);
        Ok(Some(&self.buf[..n]))
    }

    /// Waits until the bandwidth cap allows the next chunk.
    async fn throttle(&mut self) -> Result<(), CoreError> {
        let Some(limit) = self.limit else {
            return Ok(());
        };
        let started = *self.started.get_or_insert_with(Instant::now);
        let due = started + Duration::from_secs_f64(self.consumed as f64 / limit as f64);
        if due > Instant::now() {
            tokio::select! {
                biased;
                () = self.cancel.cancelled() => return Err(CoreError::Interrupted),
                () = tokio::time::sleep_until(due.into()) => {}
            }
        }
        Ok(())
    }

    /// Fails when the file at the source path is gone or has another size.
    async fn check_still_there(&self) -> Result<(), CoreError> {
        match tokio::fs::metadata(&self.path).await {
            Ok(meta) if meta.len() != self.size => Err(self.changed(format!(
                "its size went from {} to {}",
                human_bytes(self.size),
                human_bytes(meta.len())
            ))),
            Ok(_) => Ok(()),
            Err(e) => Err(CoreError::source_io(&self.path, e)),
        }
    }

    /// Checks the end of the file against the size and hash expected.
    fn finish(&self) -> Result<(), CoreError> {
        if self.consumed != self.size {
            return Err(self.changed(format!(
                "it ended after {} instead of {}",
                human_bytes(self.consumed),
                human_bytes(self.size)
            )));
        }
        if let Some(expected) = &self.expected_hash {
            if self.hasher.finalize().to_hex().as_str() != expected {
                return Err(self.changed("its content differs from when it was hashed".into()));
            }
        }
        Ok(())
    }

    fn changed(&self, detail: String) -> CoreError {
        CoreError::SourceChanged {
            path: self.path.clone(),
            detail,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mime_patterns() {
        assert!(mime_matches("image/*", "image/png"));
        assert!(mime_matches("IMAGE/PNG", "image/png"));
        assert!(mime_matches("*/*", "text/plain"));
        assert!(!mime_matches("image/*", "video/mp4"));
        assert!(!mime_matches("image/png", "image/jpeg"));
    }

    #[test]
    fn policy_messages_name_the_file_and_the_limit() {
        let policy = DestinationPolicy {
            max_size: Some(1024),
            allowed_types: vec!["image/*".into()],
            refused_types: vec!["image/gif".into()],
        };
        let too_big = policy
            .check("the vault", "a.png", 2048, "image/png")
            .unwrap_err();
        assert!(
            too_big.contains("a.png") && too_big.contains("1.0 KiB"),
            "{too_big}"
        );
        let refused = policy
            .check("the vault", "a.gif", 10, "image/gif")
            .unwrap_err();
        assert!(refused.contains("refuses"), "{refused}");
        let not_allowed = policy
            .check("the vault", "a.txt", 10, "text/plain")
            .unwrap_err();
        assert!(
            not_allowed.contains("only accepts image/*"),
            "{not_allowed}"
        );
        assert!(policy.check("the vault", "a.png", 10, "image/png").is_ok());
    }
}
