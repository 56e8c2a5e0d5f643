//! Regression: Ferry killed after the server acknowledged the last byte, but before the
//! job was marked done, restarted into an upload the server already held whole. No PATCH
//! was left to send, so the body stayed at byte 0 and the job failed with "stopped
//! reading after 0 B". The upload must finish instead.

mod common;
mod support_tus;

use std::sync::Arc;

use common::{pattern, write_file};
use ferry_core::resume::{MemoryLedger, ResumeLedger};
use ferry_core::secrets::MemorySecrets;
use ferry_core::{Destination, JobId, TusConfig, TusDestination, UploadBody, UploadRequest};
use support_tus::TusServer;
use tokio_util::sync::CancellationToken;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_the_server_already_holds_whole_finishes_without_sending_again() {
    let server = TusServer::start().await;
    let tmp = tempfile::tempdir().unwrap();
    let bytes = pattern(3 * 1024 * 1024, 31);
    let source = write_file(tmp.path(), "whole.bin", &bytes);
    let ledger: Arc<dyn ResumeLedger> = Arc::new(MemoryLedger::default());
    let mut config = TusConfig::new(server.endpoint().parse().unwrap());
    config.retry = common::quick_retries();
    config.chunk_size = 1024 * 1024;
    let destination = TusDestination::new(config, ledger, Arc::new(MemorySecrets::default()))
        .expect("tus destination");
    let request = UploadRequest {
        job_id: JobId(1),
        source: source.clone(),
        name: "whole.bin".into(),
        size: bytes.len() as u64,
        mime: "application/octet-stream".into(),
        blake3: blake3::hash(&bytes).to_hex().to_string(),
        hashing: None,
    };
    let cancel = CancellationToken::new();
    let progress = |_: u64| {};

    // The first run sends everything; its resume point stays (no verify: "the crash").
    let mut body = UploadBody::open(&source, request.size, cancel.clone())
        .await
        .unwrap();
    let first = destination
        .upload(&request, &mut body, &progress, &cancel)
        .await
        .unwrap();
    let sent_before = server.uploaded_files()[0].offset;
    assert_eq!(sent_before, request.size);

    // The restart finds it whole at the server and finishes.
    let mut body = UploadBody::open(&source, request.size, cancel.clone())
        .await
        .unwrap();
    let second = destination
        .upload(&request, &mut body, &progress, &cancel)
        .await
        .expect("an upload the server holds whole is finished");
    assert_eq!(second, first, "the same upload");
    assert_eq!(
        body.consumed(),
        request.size,
        "the body stands at the end of the file"
    );
    assert_eq!(server.uploaded_files().len(), 1);
    assert!(server.uploaded_files()[0].bytes() == bytes);
}
