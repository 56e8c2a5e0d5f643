//! One job's trip through the stages: hashing -> parsing -> uploading -> verifying.
//!
//! Each stage reports the bytes it really processed, so a progress bar always means
//! something. Each stage watches the job's cancellation token and stops within one
//! chunk; the engine then decides whether that makes the job paused, cancelled or queued.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use tokio::io::AsyncReadExt;
use tokio_util::sync::CancellationToken;

use crate::destination::{
    Destination, ExpectedContent, PendingHash, ProgressSink, UploadBody, UploadRequest,
};
use crate::engine::Shared;
use crate::error::{human_bytes, CoreError};
use crate::model::{JobId, JobStatus, JobView};
use crate::progress::StageMeter;

/// How many leading bytes parsing inspects: what `infer` needs for every type it knows.
const SNIFF_LEN: u64 = 8192;

/// The MIME type used when neither the content nor the extension tells.
const FALLBACK_MIME: &str = "application/octet-stream";

/// What a running job needs: its identity, its cancellation token and a way to publish
/// its stage and progress.
pub(crate) struct JobCtx {
    shared: Arc<Shared>,
    id: JobId,
    path: PathBuf,
    name: String,
    /// Where this job uploads (see `Entry::destination`).
    destination: Arc<dyn Destination>,
    cancel: CancellationToken,
    meter: Mutex<Option<StageMeter>>,
}

impl JobCtx {
    pub(crate) fn new(
        shared: Arc<Shared>,
        id: JobId,
        path: PathBuf,
        name: String,
        destination: Arc<dyn Destination>,
        cancel: CancellationToken,
    ) -> Self {
        Self {
            shared,
            id,
            path,
            name,
            destination,
            cancel,
            meter: Mutex::new(None),
        }
    }

    /// Starts `status`, a stage of `total` bytes, applying `fields` to the job in the
    /// same change (one job event per stage).
    fn enter(&self, status: JobStatus, total: u64, fields: impl FnOnce(&mut JobView)) {
        let mut meter = self.meter.lock().unwrap_or_else(PoisonError::into_inner);
        let stage = StageMeter::new(self.id, status, total, Instant::now());
        let progress = stage.progress();
        *meter = Some(stage);
        // Inside the job's span: the log line names the job.
        tracing::info!(%status, bytes = total, "stage");
        self.shared.change(self.id, |entry| {
            fields(&mut entry.view);
            entry.view.status = status;
            entry.view.progress = progress;
            // Until the upload reports, the queue keeps counting what a resumable
            // destination already holds (zero for others).
            if status == JobStatus::Verifying {
                entry.uploaded = entry.view.size;
            }
            entry.upload_speed = 0.0;
        });
    }

    /// Ends the current stage, publishing its final figure if it has not gone out.
    fn finish_stage(&self) {
        let mut meter = self.meter.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(stage) = meter.as_mut() {
            stage.finish(Instant::now());
            self.shared.progress(stage.progress(), true);
        }
    }

    /// Records fields on the job and announces them at once (a job event).
    fn announce(&self, fields: impl FnOnce(&mut JobView)) {
        self.shared.change(self.id, |entry| fields(&mut entry.view));
    }

    /// Records fields on the job without announcing them yet (the next stage event
    /// carries them).
    fn note(&self, fields: impl FnOnce(&mut JobView)) {
        self.shared.note(self.id, fields);
    }
}

impl ProgressSink for JobCtx {
    fn report(&self, done: u64) {
        self.with_meter(|stage, now| stage.advance(done, now));
    }

    fn report_sent(&self, sent: u64) {
        self.with_meter(|stage, _| stage.advance_sent(sent));
    }

    fn restart(&self, from: u64, reason: Option<String>) {
        let mut meter = self.meter.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(stage) = meter.as_mut() {
            let now = Instant::now();
            stage.restart_at(from, now);
            let progress = stage.progress();
            self.shared.change(self.id, |entry| {
                if entry.view.status == progress.status {
                    if progress.status == JobStatus::Uploading {
                        entry.uploaded = progress.current;
                    }
                    entry.view.progress = progress;
                }
                if reason.is_some() {
                    entry.view.note = reason;
                }
            });
        }
    }

    fn note(&self, note: Option<String>) {
        let changed = self
            .shared
            .job_view(self.id)
            .is_some_and(|view| view.note != note);
        if changed {
            self.shared.change(self.id, |entry| entry.view.note = note);
        }
    }
}

impl JobCtx {
    /// Applies a new figure to the current stage; the progress clock publishes it.
    fn with_meter(&self, apply: impl FnOnce(&mut StageMeter, Instant)) {
        let mut meter = self.meter.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(stage) = meter.as_mut() {
            apply(stage, Instant::now());
            self.shared.progress(stage.progress(), false);
        }
    }
}

/// Runs the whole pipeline. `Ok` means the file is uploaded and verified.
pub(crate) async fn run(ctx: &JobCtx) -> Result<(), CoreError> {
    let destination = Arc::clone(&ctx.destination);
    let path = ctx.path.as_path();

    // Hashing, first or alongside the upload, as the destination allows.
    let (size, modified) = current_size(path).await?;
    let (hash, mut alongside) = if destination.needs_hash_first(size).await? {
        ctx.enter(JobStatus::Hashing, size, |view| {
            view.size = size;
            view.error = None;
        });
        let hash = hash_file(ctx, path, size).await?;
        ctx.finish_stage();
        tracing::debug!(%hash, "hashed");
        (Some(hash), None)
    } else {
        ctx.note(|view| {
            view.size = size;
            view.error = None;
        });
        (None, Some(HashAlongside::start(ctx, size)))
    };

    // Parsing.
    let sniff_len = size.min(SNIFF_LEN);
    let hash_for_view = hash.clone();
    ctx.enter(JobStatus::Parsing, sniff_len, move |view| {
        view.hash = hash_for_view;
    });
    let head = read_head(ctx, path, sniff_len).await?;
    ctx.finish_stage();
    let mime = sniff_mime(&head, &ctx.name);
    let mime_for_view = mime.clone();
    ctx.note(move |view| view.mime = Some(mime_for_view));
    tracing::debug!(%mime, "parsed");
    destination
        .policy()
        .check(destination.name(), &ctx.name, size, &mime)
        .map_err(CoreError::Refused)?;

    // Uploading. A copy from an earlier run of this job (stopped during verifying, or
    // cut short by a crash) is replaced, never kept beside the new one.
    let request = UploadRequest {
        job_id: ctx.id,
        source: ctx.path.clone(),
        name: ctx.name.clone(),
        size,
        mime,
        blake3: hash.clone().unwrap_or_default(),
        hashing: alongside.as_ref().map(|hashing| hashing.pending.clone()),
    };
    // A resumable destination continues its own partial upload instead.
    let resumable = destination.resumable();
    if !resumable {
        if let Some(previous) = ctx.shared.remote_of(ctx.id) {
            destination.remove(&previous).await?;
            ctx.note(|view| view.remote = None);
        }
        destination.discard(&request).await?;
    }
    ctx.enter(JobStatus::Uploading, size, |_| {});
    let uploaded = match alongside.as_mut() {
        None => upload(ctx, &request, modified).await,
        Some(hashing) => hashing.during(ctx, upload(ctx, &request, modified)).await,
    };
    let remote = match uploaded {
        Ok(remote) => remote,
        Err(err) => {
            if !resumable {
                if let Err(cleanup) = destination.discard(&request).await {
                    tracing::warn!(error = %cleanup, "could not remove a partial upload");
                }
            }
            return Err(err);
        }
    };
    let hash = match (hash, alongside) {
        (Some(hash), _) => hash,
        (None, Some(hashing)) => hashing.finish(ctx).await?,
        (None, None) => unreachable!("a file is hashed first or alongside"),
    };
    ctx.finish_stage();
    tracing::info!(%remote, "uploaded");

    // Verifying.
    let remote_for_view = remote.clone();
    ctx.enter(JobStatus::Verifying, size, move |view| {
        view.remote = Some(remote_for_view);
    });
    let expected = ExpectedContent { size, blake3: hash };
    match destination
        .verify(&remote, &expected, ctx, &ctx.cancel)
        .await
    {
        Ok(()) => {
            ctx.finish_stage();
            tracing::info!("verified");
            Ok(())
        }
        Err(err @ CoreError::VerifyMismatch { .. }) => {
            if let Err(cleanup) = destination.remove(&remote).await {
                tracing::warn!(error = %cleanup, "could not remove a copy that failed verification");
            } else {
                ctx.note(|view| view.remote = None);
            }
            Err(err)
        }
        Err(err) => Err(err),
    }
}

async fn upload(
    ctx: &JobCtx,
    request: &UploadRequest,
    modified: Option<std::time::SystemTime>,
) -> Result<String, CoreError> {
    let mut body = UploadBody::open(&ctx.path, request.size, ctx.cancel.clone())
        .await?
        .with_expected_modified(modified);
    // A resumable upload usually starts mid-file, where a whole-file hash cannot be
    // checked; the modification time taken with the hash guards it instead.
    if !ctx.destination.resumable() {
        body = body.with_expected_hash(request.blake3.clone());
    }
    if let Some(throttle) = &ctx.shared.throttle {
        body = body.with_throttle(Arc::clone(throttle));
    }
    if let Some(throttle) = ctx.destination.throttle() {
        body = body.with_throttle(throttle);
    }
    let remote = ctx
        .destination
        .upload(request, &mut body, ctx, &ctx.cancel)
        .await?;
    if body.consumed() != request.size {
        return Err(CoreError::Remote(format!(
            "{} stopped reading {} after {} of {}",
            ctx.destination.name(),
            request.name,
            human_bytes(body.consumed()),
            human_bytes(request.size)
        )));
    }
    Ok(remote)
}

/// The source's size and modification time now: they may have changed since it was
/// enqueued.
async fn current_size(path: &Path) -> Result<(u64, Option<std::time::SystemTime>), CoreError> {
    let meta = tokio::fs::metadata(path)
        .await
        .map_err(|e| CoreError::source_io(path, e))?;
    if !meta.is_file() {
        return Err(CoreError::SourceChanged {
            path: path.to_path_buf(),
            detail: "it is no longer a regular file".into(),
        });
    }
    Ok((meta.len(), meta.modified().ok()))
}

/// The hash of a file computed on its own thread while its upload runs.
struct HashAlongside {
    pending: PendingHash,
    work: tokio::sync::oneshot::Receiver<Result<String, CoreError>>,
    /// Stops the hashing when the upload fails; the job's own token stops both.
    cancel: CancellationToken,
    noted: bool,
}

impl HashAlongside {
    /// Starts hashing on a thread of its own, at a low priority and on one core: the
    /// hash is only needed by the end of the upload, and the upload (and, on the same
    /// machine, a server) must keep the cores it needs meanwhile.
    fn start(ctx: &JobCtx, size: u64) -> Self {
        let (done_tx, pending) = PendingHash::channel();
        let (result_tx, work) = tokio::sync::oneshot::channel();
        let cancel = ctx.cancel.child_token();
        let stop = cancel.clone();
        let path = ctx.path.clone();
        let spawned = std::thread::Builder::new()
            .name("ferry-hash".into())
            .spawn(move || {
                lower_this_threads_priority();
                // Nobody shows these figures: the job is in its uploading stage.
                let (hashed_tx, _) = tokio::sync::watch::channel(0u64);
                let result = hash_blocking(&path, size, &stop, &hashed_tx, false);
                if let Ok(hash) = &result {
                    done_tx.send_replace(Some(hash.clone()));
                }
                let _ = result_tx.send(result);
            });
        if let Err(e) = spawned {
            tracing::error!(error = %e, "could not start a hashing thread");
        }
        Self {
            pending,
            work,
            cancel,
            noted: false,
        }
    }

    /// Runs `upload`, putting the hash on the job as soon as it is known: a cancel then
    /// finds the upload by it.
    async fn during(
        &mut self,
        ctx: &JobCtx,
        upload: impl std::future::Future<Output = Result<String, CoreError>>,
    ) -> Result<String, CoreError> {
        tokio::pin!(upload);
        let mut pending = self.pending.clone();
        let result = loop {
            tokio::select! {
                result = &mut upload => break result,
                hash = pending.arrived(), if !self.noted => {
                    self.noted = true;
                    if let Some(hash) = hash {
                        ctx.announce(move |view| view.hash = Some(hash));
                    }
                }
            }
        };
        if result.is_err() {
            self.cancel.cancel();
        }
        result
    }

    /// The hash, once the upload is done.
    async fn finish(mut self, ctx: &JobCtx) -> Result<String, CoreError> {
        let hash = (&mut self.work).await.map_err(|_| {
            CoreError::Internal("hashing stopped: its thread could not run".into())
        })??;
        tracing::debug!(%hash, "hashed alongside the upload");
        if !self.noted {
            let for_view = hash.clone();
            ctx.note(move |view| view.hash = Some(for_view));
        }
        Ok(hash)
    }
}

impl Drop for HashAlongside {
    /// A job that stops early (refused, failed, paused) stops its hashing too.
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

/// Makes the calling thread yield the CPU to everything else (nice 10). Linux only: there
/// `setpriority` on the calling process id changes the calling thread alone, where other
/// systems would lower the whole process.
fn lower_this_threads_priority() {
    #[cfg(target_os = "linux")]
    if let Err(e) = rustix::process::setpriority_process(None, 10) {
        tracing::debug!(error = %e, "could not lower the hashing thread's priority");
    }
}

/// Bytes hashed per read: large enough for BLAKE3 to spread one read over every core.
const HASH_READ: usize = 4 * 1024 * 1024;

/// Streams the file through BLAKE3, reporting the bytes hashed.
///
/// The reading and hashing run on a blocking thread with plain reads into one buffer
/// (one copy from the page cache, where async file reads make two), and BLAKE3 spreads
/// each read over every core: this stage is on the critical path of every upload.
async fn hash_file(ctx: &JobCtx, path: &Path, size: u64) -> Result<String, CoreError> {
    let (hashed_tx, mut hashed_rx) = tokio::sync::watch::channel(0u64);
    let cancel = ctx.cancel.clone();
    let owned = path.to_path_buf();
    let mut work =
        tokio::task::spawn_blocking(move || hash_blocking(&owned, size, &cancel, &hashed_tx, true));
    loop {
        tokio::select! {
            joined = &mut work => {
                let hash = joined.map_err(|e| CoreError::Internal(format!("hashing stopped: {e}")))??;
                ctx.report(size);
                return Ok(hash);
            }
            changed = hashed_rx.changed() => {
                if changed.is_ok() {
                    ctx.report(*hashed_rx.borrow_and_update());
                }
            }
        }
    }
}

/// The blocking half of [`hash_file`]; `every_core` spreads each read over all cores.
fn hash_blocking(
    path: &Path,
    size: u64,
    cancel: &CancellationToken,
    hashed_tx: &tokio::sync::watch::Sender<u64>,
    every_core: bool,
) -> Result<String, CoreError> {
    use std::io::Read;
    let mut file = std::fs::File::open(path).map_err(|e| CoreError::source_io(path, e))?;
    let mut hasher = blake3::Hasher::new();
    let mut buf = vec![0u8; HASH_READ];
    let mut hashed = 0u64;
    loop {
        if cancel.is_cancelled() {
            return Err(CoreError::Interrupted);
        }
        let n = match file.read(&mut buf) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(CoreError::source_io(path, e)),
        };
        if n == 0 {
            break;
        }
        hashed += n as u64;
        if hashed > size {
            return Err(changed(path, size, "grew"));
        }
        if every_core {
            hasher.update_rayon(&buf[..n]);
        } else {
            hasher.update(&buf[..n]);
        }
        hashed_tx.send_replace(hashed);
    }
    if hashed != size {
        return Err(changed(path, size, "shrank"));
    }
    Ok(hasher.finalize().to_hex().to_string())
}

fn changed(path: &Path, size: u64, how: &str) -> CoreError {
    CoreError::SourceChanged {
        path: path.to_path_buf(),
        detail: format!("it {how} while being hashed; it had {}", human_bytes(size)),
    }
}

/// Reads the first `len` bytes, reporting them.
async fn read_head(ctx: &JobCtx, path: &Path, len: u64) -> Result<Vec<u8>, CoreError> {
    let file = tokio::fs::File::open(path)
        .await
        .map_err(|e| CoreError::source_io(path, e))?;
    let mut head = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
    let mut limited = file.take(len);
    loop {
        let mut chunk = [0u8; 4096];
        let n = tokio::select! {
            biased;
            () = ctx.cancel.cancelled() => return Err(CoreError::Interrupted),
            read = limited.read(&mut chunk) => read.map_err(|e| CoreError::source_io(path, e))?,
        };
        if n == 0 {
            break;
        }
        head.extend_from_slice(&chunk[..n]);
        ctx.report(head.len() as u64);
    }
    if (head.len() as u64) < len {
        return Err(CoreError::SourceChanged {
            path: path.to_path_buf(),
            detail: "it shrank while its type was being checked".into(),
        });
    }
    Ok(head)
}

/// The MIME type from the content's magic bytes, else from the extension, else
/// `application/octet-stream`.
pub(crate) fn sniff_mime(head: &[u8], name: &str) -> String {
    if let Some(kind) = infer::get(head) {
        return kind.mime_type().to_owned();
    }
    let ext = Path::new(name)
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase());
    ext.as_deref()
        .and_then(mime_from_extension)
        .unwrap_or(FALLBACK_MIME)
        .to_owned()
}

/// Types that have no magic bytes (mostly text), by extension.
fn mime_from_extension(ext: &str) -> Option<&'static str> {
    Some(match ext {
        "txt" | "text" | "log" => "text/plain",
        "md" | "markdown" => "text/markdown",
        "csv" => "text/csv",
        "tsv" => "text/tab-separated-values",
        "html" | "htm" => "text/html",
        "css" => "text/css",
        "js" | "mjs" => "text/javascript",
        "json" => "application/json",
        "xml" => "application/xml",
        "svg" => "image/svg+xml",
        "yaml" | "yml" => "application/yaml",
        "toml" => "application/toml",
        "ics" => "text/calendar",
        "vtt" => "text/vtt",
        "srt" => "application/x-subrip",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::sniff_mime;

    #[test]
    fn magic_bytes_win_over_the_extension() {
        let png = [0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 0];
        assert_eq!(sniff_mime(&png, "picture.txt"), "image/png");
    }

    #[test]
    fn text_falls_back_to_the_extension_then_to_octet_stream() {
        assert_eq!(sniff_mime(b"a,b\n1,2\n", "table.CSV"), "text/csv");
        assert_eq!(
            sniff_mime(b"whatever", "blob.bin"),
            "application/octet-stream"
        );
        assert_eq!(sniff_mime(b"", "empty"), "application/octet-stream");
    }
}
