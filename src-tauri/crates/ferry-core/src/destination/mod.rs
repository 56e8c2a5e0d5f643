//! Where files go. A [`Destination`] hides one kind of remote (a local folder, a tus
//! server, an S3 bucket) behind the four things the pipeline needs: its policy, an
//! upload fed chunk by chunk from an [`UploadBody`], a verification of the finished
//! copy, and the removal of partial or unwanted copies.

mod local;
pub mod tus;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::error::{human_bytes, size_change, CoreError};
use crate::model::JobId;
use crate::throttle::Throttle;

pub use local::LocalFolderDestination;

/// Chunk size for reading sources: large enough for throughput, small enough that a
/// pause or cancel is felt within one chunk and memory stays flat.
pub const CHUNK_SIZE: usize = 256 * 1024;

/// Bytes per read of an upload body (and of a local copy being checked): few enough
/// blocking calls for full speed, and a pause or cancel is still felt within one read.
pub(crate) const READ_SIZE: usize = 1024 * 1024;

/// How many bytes a body hands out between two checks that its source is still there.
const CHECK_EVERY: u64 = 4 * 1024 * 1024;

/// Receives the number of bytes a stage has processed so far (cumulative). The engine
/// turns these figures into progress events; destinations call it after each chunk
/// they have written or verified.
pub trait ProgressSink: Send + Sync {
    /// Reports `done` bytes processed (for an upload: acknowledged by the destination).
    /// Figures below an earlier one are ignored: progress never goes backwards by itself.
    fn report(&self, done: u64);

    /// Reports bytes handed to the network so far, acknowledged or not. Remote
    /// destinations call it as a request body streams out; the figure runs ahead of
    /// [`ProgressSink::report`]'s.
    fn report_sent(&self, _sent: u64) {}

    /// Starts the figures over at `from` bytes and tells the user why: an upload resumed
    /// at the server's offset, or started again because the server lost it.
    fn restart(&self, _from: u64, _reason: Option<String>) {}

    /// Shows (or, with `None`, clears) a short note on the job: a retry and its reason,
    /// a smaller chunk size.
    fn note(&self, _note: Option<String>) {}
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
    /// BLAKE3 hash of the content (hex), found during hashing; empty while the hash is
    /// computed alongside the upload (see [`UploadRequest::hashing`]).
    pub blake3: String,
    /// The hash still being computed, when the destination let the upload start before
    /// it was known ([`Destination::needs_hash_first`]).
    pub hashing: Option<PendingHash>,
}

/// The content hash of a file that is hashed while its upload already runs.
#[derive(Debug, Clone)]
pub struct PendingHash(watch::Receiver<Option<String>>);

impl PendingHash {
    /// A pending hash and the sender that completes it with the hash (hex). Dropping
    /// the sender without a value means hashing stopped (cancelled or failed).
    pub fn channel() -> (watch::Sender<Option<String>>, Self) {
        let (tx, rx) = watch::channel(None);
        (tx, Self(rx))
    }

    /// The hash, if it is known yet.
    pub fn now(&self) -> Option<String> {
        self.0.borrow().clone()
    }

    /// Waits for the hash; `None` when hashing stopped without one.
    pub async fn arrived(&mut self) -> Option<String> {
        self.0
            .wait_for(Option::is_some)
            .await
            .ok()
            .and_then(|hash| hash.clone())
    }
}

impl PartialEq for PendingHash {
    fn eq(&self, other: &Self) -> bool {
        self.0.same_channel(&other.0)
    }
}

impl Eq for PendingHash {}

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

    /// True when an interrupted upload can continue where it stopped (tus). The engine
    /// then keeps partial uploads across pauses, failures and restarts, and calls
    /// [`Destination::discard`] only when the job is cancelled.
    fn resumable(&self) -> bool {
        false
    }

    /// This destination's own bandwidth cap, shared by its uploads, if it has one.
    fn throttle(&self) -> Option<Arc<Throttle>> {
        None
    }

    /// Whether an upload of `size` bytes must wait for the content hash. A destination
    /// that answers false gets a request whose hash arrives while it uploads
    /// ([`UploadRequest::hashing`]): the first byte leaves at once instead of after a
    /// full pass over the file.
    async fn needs_hash_first(&self, _size: u64) -> Result<bool, CoreError> {
        Ok(true)
    }

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
/// It enforces what every destination needs without repeating it: bandwidth caps,
/// prompt cancellation, and detection of a source that changes size, changes content
/// or disappears while it is being read. A resumable destination may [`seek`] to the
/// server's offset; the content check then covers what was read from the start.
///
/// [`seek`]: UploadBody::seek
#[derive(Debug)]
pub struct UploadBody {
    path: PathBuf,
    /// Read on a blocking thread, each read placing the cursor itself under the lock
    /// (a read abandoned by its request still runs to its end, and must not move the
    /// next one), into a buffer that is handed out as is (no copy, no zeroing).
    file: Arc<std::sync::Mutex<std::fs::File>>,
    size: u64,
    /// The read position: bytes before it were handed out (or skipped by a seek).
    position: u64,
    /// Bytes per read (smaller under a tight bandwidth cap).
    read_size: usize,
    /// The last chunk read, for [`UploadBody::next_chunk`]'s borrowed answer.
    last: Bytes,
    throttles: Vec<Arc<Throttle>>,
    cancel: CancellationToken,
    hasher: blake3::Hasher,
    /// Bytes fed to `hasher`, always a prefix of the file.
    hashed: u64,
    /// The read position when the source was last found in place with its size.
    checked_at: Option<u64>,
    /// True once a seek skipped bytes that were never hashed: the final content check
    /// is then impossible and skipped (the hashing stage checked the whole file just
    /// before).
    hash_gap: bool,
    expected_hash: Option<String>,
    /// The source's modification time when its hash was taken, if known.
    expected_modified: Option<std::time::SystemTime>,
}

impl UploadBody {
    /// Opens `path`, expecting `size` bytes. `cancel` stops reads (and throttle waits)
    /// with [`CoreError::Interrupted`].
    pub async fn open(
        path: &Path,
        size: u64,
        cancel: CancellationToken,
    ) -> Result<Self, CoreError> {
        let owned = path.to_path_buf();
        let file = tokio::task::spawn_blocking(move || std::fs::File::open(owned))
            .await
            .map_err(|e| CoreError::Internal(format!("opening the source stopped: {e}")))?
            .map_err(|e| CoreError::source_io(path, e))?;
        Ok(Self {
            path: path.to_path_buf(),
            file: Arc::new(std::sync::Mutex::new(file)),
            size,
            position: 0,
            read_size: READ_SIZE,
            last: Bytes::new(),
            throttles: Vec::new(),
            cancel,
            hasher: blake3::Hasher::new(),
            hashed: 0,
            checked_at: None,
            hash_gap: false,
            expected_hash: None,
            expected_modified: None,
        })
    }

    /// Replaces the token that stops reads, returning the one it replaces. A request
    /// that must not be cut half-way (one that nothing could resume) reads under a
    /// token of its own, and the job's token is put back afterwards.
    pub fn replace_cancel(&mut self, cancel: CancellationToken) -> CancellationToken {
        std::mem::replace(&mut self.cancel, cancel)
    }

    /// Caps the read rate at `limit` bytes/s for this body alone (`None` for no cap).
    #[must_use]
    pub fn with_bandwidth_limit(self, limit: Option<u64>) -> Self {
        match limit.filter(|l| *l > 0) {
            Some(limit) => self.with_throttle(Arc::new(Throttle::new(limit))),
            None => self,
        }
    }

    /// Draws on a shared cap (a destination's or the engine's) as well. Chunks shrink
    /// with the tightest cap so progress stays smooth at low rates.
    #[must_use]
    pub fn with_throttle(mut self, throttle: Arc<Throttle>) -> Self {
        let chunk = usize::try_from(throttle.rate() / 20)
            .unwrap_or(CHUNK_SIZE)
            .clamp(4096, CHUNK_SIZE);
        self.read_size = self.read_size.min(chunk);
        self.throttles.push(throttle);
        self
    }

    /// Requires the content read to hash to `blake3` (hex); a difference fails the read
    /// at the end with [`CoreError::SourceChanged`].
    #[must_use]
    pub fn with_expected_hash(mut self, blake3: String) -> Self {
        self.expected_hash = Some(blake3);
        self
    }

    /// Requires the source to keep the modification time `modified` (when it was
    /// hashed): a cheap check that catches an edit without reading the file twice.
    #[must_use]
    pub fn with_expected_modified(mut self, modified: Option<std::time::SystemTime>) -> Self {
        self.expected_modified = modified;
        self
    }

    /// The source file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Bytes the source should hold.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The read position: bytes handed out so far, counting from the start of the file.
    pub fn consumed(&self) -> u64 {
        self.position
    }

    /// Moves the read position to `offset` (a resumable upload continues at the
    /// server's offset, or resends a chunk the server refused).
    pub fn seek(&mut self, offset: u64) -> Result<(), CoreError> {
        if offset > self.size {
            return Err(self.changed(format!(
                "the destination asked for byte {offset} of a {}-byte file",
                self.size
            )));
        }
        self.position = offset;
        if offset > self.hashed {
            self.hash_gap = true;
        }
        Ok(())
    }

    /// The next chunk, or `None` once the whole file was read and found unchanged.
    pub async fn next_chunk(&mut self) -> Result<Option<&[u8]>, CoreError> {
        match self.next_bytes(usize::MAX).await? {
            Some(bytes) => {
                self.last = bytes;
                Ok(Some(&self.last))
            }
            None => Ok(None),
        }
    }

    /// The next chunk of at most `max` bytes, owned (a request body takes it without a
    /// copy and ends at a chunk boundary), or `None` at the end of the file.
    pub async fn next_bytes(&mut self, max: usize) -> Result<Option<Bytes>, CoreError> {
        if self.cancel.is_cancelled() {
            return Err(CoreError::Interrupted);
        }
        if max == 0 {
            return Ok(Some(Bytes::new()));
        }
        let left = usize::try_from(self.size - self.position).unwrap_or(usize::MAX);
        let want = self.read_size.min(max).min(left);
        if want == 0 {
            // Past the expected size: one probe byte tells a grown file from the end.
            let probe = self.read_at(self.position, 1).await?;
            if !probe.is_empty() {
                return Err(self.changed(format!(
                    "it grew past the {} it had when the upload started",
                    human_bytes(self.size)
                )));
            }
            self.finish()?;
            return Ok(None);
        }
        for throttle in &self.throttles {
            throttle.acquire(want as u64, &self.cancel).await?;
        }
        let chunk = tokio::select! {
            biased;
            () = self.cancel.cancelled() => return Err(CoreError::Interrupted),
            chunk = self.read_at(self.position, want) => chunk?,
        };
        if chunk.is_empty() {
            return Err(self.changed(format!(
                "it ended after {} instead of {}",
                human_bytes(self.position),
                human_bytes(self.size)
            )));
        }
        let start = self.position;
        let new_total = start + chunk.len() as u64;
        // Asking the file system for every chunk would cost a blocking call each; a file
        // deleted or truncated is still caught within a few MiB, and at the end.
        let due = self
            .checked_at
            .is_none_or(|at| new_total.abs_diff(at) >= CHECK_EVERY || new_total == self.size);
        if due {
            self.check_still_there().await?;
            self.checked_at = Some(new_total);
        }
        self.position = new_total;
        let checking = self.expected_hash.is_some();
        if checking && !self.hash_gap && new_total > self.hashed && start <= self.hashed {
            let skip = usize::try_from(self.hashed - start).unwrap_or(chunk.len());
            self.hasher.update(&chunk[skip..]);
            self.hashed = new_total;
        }
        Ok(Some(chunk))
    }

    /// Reads up to `len` bytes at `offset` on a blocking thread.
    async fn read_at(&self, offset: u64, len: usize) -> Result<Bytes, CoreError> {
        let file = Arc::clone(&self.file);
        let read = tokio::task::spawn_blocking(move || {
            use std::io::{Read, Seek};
            let mut file = file
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            file.seek(std::io::SeekFrom::Start(offset))?;
            let mut buf = Vec::with_capacity(len);
            (&mut *file).take(len as u64).read_to_end(&mut buf)?;
            Ok::<_, std::io::Error>(Bytes::from(buf))
        })
        .await
        .map_err(|e| CoreError::Internal(format!("reading the source stopped: {e}")))?;
        read.map_err(|e| CoreError::source_io(&self.path, e))
    }

    /// Fails when the file at the source path is gone or has another size.
    async fn check_still_there(&self) -> Result<(), CoreError> {
        match tokio::fs::metadata(&self.path).await {
            Ok(meta) if meta.len() != self.size => {
                Err(self.changed(size_change(self.size, meta.len())))
            }
            Ok(meta)
                if self.expected_modified.is_some()
                    && meta.modified().ok() != self.expected_modified =>
            {
                Err(self.changed("it was modified after it was hashed".into()))
            }
            Ok(_) => Ok(()),
            Err(e) => Err(CoreError::source_io(&self.path, e)),
        }
    }

    /// Checks the end of the file against the hash expected.
    fn finish(&self) -> Result<(), CoreError> {
        if let Some(expected) = &self.expected_hash {
            if !self.hash_gap
                && self.hashed == self.size
                && self.hasher.finalize().to_hex().as_str() != expected
            {
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

    /// Regression: a read abandoned mid-way (its request failed) left the handle's
    /// position ahead of the body's count, and the file then "ended" early.
    #[tokio::test]
    async fn seeking_after_an_abandoned_read_reads_from_the_offset_asked() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let bytes: Vec<u8> = (0..u32::try_from(3 * CHUNK_SIZE).unwrap())
            .map(|i| (i % 251) as u8)
            .collect();
        std::fs::write(&path, &bytes).unwrap();
        let cancel = CancellationToken::new();
        let mut body = UploadBody::open(&path, bytes.len() as u64, cancel)
            .await
            .unwrap();
        body.next_chunk().await.unwrap();
        // Start a read and drop it before it completes, as a failed request does.
        {
            let read = body.next_chunk();
            let _ = tokio::time::timeout(std::time::Duration::from_nanos(1), read).await;
        }
        body.seek(100).unwrap();
        let mut read = Vec::new();
        while let Some(chunk) = body.next_chunk().await.unwrap() {
            read.extend_from_slice(chunk);
        }
        assert!(
            read == bytes[100..],
            "read {} bytes from offset 100",
            read.len()
        );
    }

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
