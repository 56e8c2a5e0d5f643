//! Regression: a small file goes to a tus server in the POST that creates its upload
//! (creation-with-upload). A stop (quitting, pausing) that came while that POST was on
//! its way dropped it, so the upload it made was never recorded; the server had taken
//! every byte, and the next run created and sent a second, identical upload. The POST
//! must be let finish, and the next run continue the upload it made.

mod common;
mod support_tus;

use std::sync::Arc;
use std::time::Duration;

use common::{pattern, write_file};
use ferry_core::resume::{MemoryLedger, ResumeLedger};
use ferry_core::secrets::MemorySecrets;
use ferry_core::{Destination, JobId, TusConfig, TusDestination, UploadBody, UploadRequest};
use support_tus::{FaultProxy, TusServer, HARNESS_TIMEOUT};
use tokio_util::sync::CancellationToken;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_while_the_creating_post_carries_the_file_leaves_one_upload() {
    let server = TusServer::start().await;
    let proxy = FaultProxy::start(server.addr()).await;
    // A slow link: the server's answer to the POST comes well after it took the data.
    proxy.set_delay(Duration::from_millis(400));
    let tmp = tempfile::tempdir().unwrap();
    let bytes = pattern(20_000, 47);
    let source = write_file(tmp.path(), "note.bin", &bytes);
    let ledger: Arc<dyn ResumeLedger> = Arc::new(MemoryLedger::default());
    let mut config = TusConfig::new(proxy.url(&server.endpoint()).parse().unwrap());
    config.retry = common::quick_retries();
    let destination = Arc::new(
        TusDestination::new(config, ledger, Arc::new(MemorySecrets::default()))
            .expect("tus destination"),
    );
    let request = UploadRequest {
        job_id: JobId(1),
        source: source.clone(),
        name: "note.bin".into(),
        size: bytes.len() as u64,
        mime: "application/octet-stream".into(),
        blake3: blake3::hash(&bytes).to_hex().to_string(),
        hashing: None,
    };

    // The first run is stopped once the server holds the whole file, before its answer
    // is back.
    let stop = CancellationToken::new();
    let first = {
        let destination = Arc::clone(&destination);
        let request = request.clone();
        let stop = stop.clone();
        tokio::spawn(async move {
            let mut body = UploadBody::open(&request.source, request.size, stop.clone())
                .await
                .unwrap();
            destination
                .upload(&request, &mut body, &|_: u64| {}, &stop)
                .await
        })
    };
    let held = tokio::time::timeout(HARNESS_TIMEOUT, async {
        loop {
            if server
                .uploaded_files()
                .iter()
                .any(support_tus::StoredUpload::is_complete)
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    assert!(held.is_ok(), "the server never held the whole file");
    stop.cancel();
    // Done or interrupted, it must not hang: the POST's answer is on its way.
    let _ = tokio::time::timeout(HARNESS_TIMEOUT, first)
        .await
        .expect("the stopped upload ended")
        .unwrap();

    // The next run (a restart, a resume) finds that upload instead of sending another.
    proxy.set_delay(Duration::ZERO);
    let go = CancellationToken::new();
    let mut body = UploadBody::open(&source, request.size, go.clone())
        .await
        .unwrap();
    let remote = destination
        .upload(&request, &mut body, &|_: u64| {}, &go)
        .await
        .expect("the next run finishes");
    let stored = server.uploaded_files();
    assert_eq!(stored.len(), 1, "one upload on the server, not one per run");
    assert!(stored[0].bytes() == bytes, "the upload holds the file");
    assert!(
        remote.ends_with(&stored[0].id),
        "{remote} is the upload made"
    );
}
