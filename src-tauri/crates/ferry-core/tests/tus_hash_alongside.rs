//! A large file seen for the first time starts its tus upload before its content hash
//! is known; the hash, computed alongside, then keys the upload's resume points. These
//! tests check what that must not cost: resumability once the hash is known, the hash in
//! the metadata of small files, and no upload left behind when one is interrupted
//! before anything could find it again.

mod common;
mod support_tus;

use std::sync::{Arc, Mutex, PoisonError};

use common::{dirs, pattern, start, tus_config, wait_status, write_file};
use ferry_core::destination::ProgressSink;
use ferry_core::resume::{MemoryLedger, ResumeKey, ResumeLedger, ResumePoint};
use ferry_core::secrets::MemorySecrets;
use ferry_core::{
    CoreError, Destination, EngineEvent, JobId, JobStatus, PendingHash, TusConfig, TusDestination,
    UploadBody, UploadRequest,
};
use support_tus::TusServer;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

const MIB: u64 = 1024 * 1024;

fn hashed_stage_of(events: &[EngineEvent], id: JobId) -> bool {
    events.iter().any(|event| {
        common::job_event(event, id).is_some_and(|job| job.status == JobStatus::Hashing)
            || common::progress_event(event, id).is_some_and(|p| p.status == JobStatus::Hashing)
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_new_file_sends_at_once_and_its_upload_resumes_once_the_hash_is_known() {
    let server = TusServer::start().await;
    let dirs = dirs();
    let mut config = tus_config(&dirs, &server.endpoint(), |c| c.chunk_size = MIB);
    config.bandwidth_limit = Some(48 * MIB);
    let engine = start(config).await;
    let mut rx = engine.subscribe();
    let bytes = pattern(usize::try_from(72 * MIB).unwrap(), 21);
    let id = engine
        .enqueue(vec![write_file(&dirs.src, "large.bin", &bytes)])
        .await
        .unwrap()
        .jobs[0];

    // Sending starts without a hashing stage; the hash shows up on the job meanwhile.
    let mut hash_known = false;
    let mut sent = 0;
    let before_pause = common::collect_until(&mut rx, |event| {
        if let Some(job) = common::job_event(event, id) {
            hash_known |= job.hash.is_some();
        }
        if let Some(p) = common::progress_event(event, id) {
            if p.status == JobStatus::Uploading {
                sent = p.current;
            }
        }
        hash_known && sent >= 8 * MIB
    })
    .await;
    assert!(
        !hashed_stage_of(&before_pause, id),
        "a new large file is not hashed before sending"
    );
    let paused = engine.pause(id).await.unwrap();
    assert_eq!(paused.status, JobStatus::Paused);
    let partial = server
        .file_by_name("large.bin")
        .expect("the partial upload");
    assert!(partial.offset < bytes.len() as u64, "paused mid-upload");
    assert!(
        !partial.metadata.contains_key("blake3"),
        "the hash was not known at creation: {:?}",
        partial.metadata
    );

    // Resuming finds the upload by the hash recorded meanwhile and continues it.
    engine.resume(id).await.unwrap();
    let (done, after_resume) = wait_status(&mut rx, id, JobStatus::Done).await;
    engine.shutdown().await;
    assert!(
        hashed_stage_of(&after_resume, id),
        "a file that may continue an upload is hashed first"
    );
    assert_eq!(
        done.hash.as_deref(),
        Some(blake3::hash(&bytes).to_hex().as_str())
    );
    let uploads = server.uploaded_files();
    assert_eq!(uploads.len(), 1, "the paused upload was continued");
    assert!(uploads[0].bytes() == bytes);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_small_file_is_hashed_first_and_its_metadata_carries_the_hash() {
    let server = TusServer::start().await;
    let dirs = dirs();
    let engine = start(tus_config(&dirs, &server.endpoint(), |_| {})).await;
    let mut rx = engine.subscribe();
    let bytes = pattern(usize::try_from(3 * MIB).unwrap(), 22);
    let id = engine
        .enqueue(vec![write_file(&dirs.src, "small.bin", &bytes)])
        .await
        .unwrap()
        .jobs[0];
    let (_, events) = wait_status(&mut rx, id, JobStatus::Done).await;
    engine.shutdown().await;
    assert!(hashed_stage_of(&events, id));
    let stored = server.file_by_name("small.bin").expect("uploaded");
    let hash = blake3::hash(&bytes).to_hex().to_string();
    assert_eq!(stored.metadata.get("blake3"), Some(&Some(hash)));
}

/// A ledger that tells when it saved a point, so a test awaits the save itself.
#[derive(Debug, Default)]
struct WatchedLedger {
    inner: MemoryLedger,
    saves: Mutex<Vec<(ResumeKey, ResumePoint)>>,
    saved: watch::Sender<usize>,
}

#[async_trait::async_trait]
impl ResumeLedger for WatchedLedger {
    async fn load(&self, key: &ResumeKey) -> Result<Option<ResumePoint>, CoreError> {
        self.inner.load(key).await
    }
    async fn save(&self, key: &ResumeKey, point: &ResumePoint) -> Result<(), CoreError> {
        self.inner.save(key, point).await?;
        let mut saves = self.saves.lock().unwrap_or_else(PoisonError::into_inner);
        saves.push((key.clone(), point.clone()));
        self.saved.send_replace(saves.len());
        Ok(())
    }
    async fn forget(&self, key: &ResumeKey) -> Result<(), CoreError> {
        self.inner.forget(key).await
    }
    async fn holds_size(&self, destination: &str, size: u64) -> Result<bool, CoreError> {
        self.inner.holds_size(destination, size).await
    }
}

/// Acknowledged and sent bytes, watchable.
struct Figures {
    sent: watch::Sender<u64>,
}

impl ProgressSink for Figures {
    fn report(&self, _done: u64) {}
    fn report_sent(&self, sent: u64) {
        self.sent.send_replace(sent);
    }
}

struct Setup {
    server: TusServer,
    _tmp: tempfile::TempDir,
    ledger: Arc<WatchedLedger>,
    destination: Arc<TusDestination>,
    request: UploadRequest,
    bytes: Vec<u8>,
}

/// A destination sending `len` bytes (over one chunk's worth, so not in the creation
/// request) in ONE PATCH, throttled to 4 MiB/s, for a request whose hash is pending.
async fn setup(len: u64, hashing: PendingHash) -> Setup {
    let server = TusServer::start().await;
    let tmp = tempfile::tempdir().unwrap();
    let bytes = pattern(usize::try_from(len).unwrap(), 23);
    let source = write_file(tmp.path(), "pending.bin", &bytes);
    let ledger = Arc::new(WatchedLedger::default());
    let mut config = TusConfig::new(server.endpoint().parse().unwrap());
    config.retry = common::quick_retries();
    config.chunk_size = len;
    config.bandwidth_limit = Some(4 * MIB);
    let destination = Arc::new(
        TusDestination::new(
            config,
            Arc::clone(&ledger) as Arc<dyn ResumeLedger>,
            Arc::new(MemorySecrets::default()),
        )
        .unwrap(),
    );
    let request = UploadRequest {
        job_id: JobId(1),
        source,
        name: "pending.bin".into(),
        size: len,
        mime: "application/octet-stream".into(),
        blake3: String::new(),
        hashing: Some(hashing),
    };
    Setup {
        server,
        _tmp: tmp,
        ledger,
        destination,
        request,
        bytes,
    }
}

/// Starts the upload; returns its task, its cancel token and the bytes-sent figure.
fn start_upload(
    setup: &Setup,
) -> (
    tokio::task::JoinHandle<Result<String, CoreError>>,
    CancellationToken,
    watch::Receiver<u64>,
) {
    let cancel = CancellationToken::new();
    let (sent_tx, sent_rx) = watch::channel(0);
    let destination = Arc::clone(&setup.destination);
    let request = setup.request.clone();
    let token = cancel.clone();
    let throttle = destination.throttle().expect("a bandwidth cap");
    let task = tokio::spawn(async move {
        let mut body = UploadBody::open(&request.source, request.size, token.clone())
            .await?
            .with_throttle(throttle);
        let figures = Figures { sent: sent_tx };
        destination
            .upload(&request, &mut body, &figures, &token)
            .await
    });
    (task, cancel, sent_rx)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hash_arriving_mid_request_records_the_upload_before_the_request_ends() {
    let (hash_tx, hashing) = PendingHash::channel();
    let setup = setup(16 * MIB, hashing).await;
    let mut saved = setup.ledger.saved.subscribe();
    let (task, cancel, mut sent) = start_upload(&setup);
    sent.wait_for(|&sent| sent > 0).await.unwrap();
    assert!(
        setup.ledger.saves.lock().unwrap().is_empty(),
        "nothing is recorded without a key"
    );

    let hash = blake3::hash(&setup.bytes).to_hex().to_string();
    hash_tx.send_replace(Some(hash.clone()));
    saved.wait_for(|&n| n > 0).await.unwrap();
    let (key, point) = setup.ledger.saves.lock().unwrap()[0].clone();
    assert_eq!(key.blake3, hash);
    assert!(
        point.offset < setup.request.size,
        "saved while the only PATCH was still running"
    );

    // Stopped now, the upload stays at the server for the next run to continue.
    cancel.cancel();
    assert!(matches!(task.await.unwrap(), Err(CoreError::Interrupted)));
    let kept = setup
        .ledger
        .load(&key)
        .await
        .unwrap()
        .expect("still recorded");
    assert!(kept
        .upload_url
        .ends_with(&setup.server.uploaded_files()[0].id));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_stopped_before_its_hash_is_known_is_ended_at_the_server() {
    // The sender is kept but never completes: the hash does not arrive in time.
    let (_hash_tx, hashing) = PendingHash::channel();
    let setup = setup(16 * MIB, hashing).await;
    let (task, cancel, mut sent) = start_upload(&setup);
    sent.wait_for(|&sent| sent > 0).await.unwrap();
    assert_eq!(setup.server.uploaded_files().len(), 1, "created");

    cancel.cancel();
    assert!(matches!(task.await.unwrap(), Err(CoreError::Interrupted)));
    assert!(
        setup.server.uploaded_files().is_empty(),
        "nothing could find the upload again, so it was ended (DELETE)"
    );
    assert!(setup.ledger.saves.lock().unwrap().is_empty());
}
