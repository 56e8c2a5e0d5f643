//! Network faults between Ferry and the Node tus server: the server stopped and started
//! again, connections cut and slowed by a proxy on loopback, and a stall that only a
//! timeout can detect. Each upload completes byte-identical, by itself.

mod common;
mod support_tus;

use std::time::Duration;

use common::{
    collect_until, dirs, job_event, pattern, start, tus_config, wait_settled, write_file,
};
use ferry_core::{Engine, EngineEvent, JobId, JobStatus};
use support_tus::{FaultProxy, TusServer};

const KIB: u64 = 1024;
const MIB: u64 = 1024 * 1024;

/// Waits until job `id` shows a note containing `text`.
async fn wait_note(
    rx: &mut tokio::sync::broadcast::Receiver<EngineEvent>,
    id: JobId,
    text: &str,
) -> String {
    let events = collect_until(rx, |e| {
        job_event(e, id).is_some_and(|j| j.note.as_deref().is_some_and(|n| n.contains(text)))
    })
    .await;
    job_event(events.last().unwrap(), id)
        .unwrap()
        .note
        .clone()
        .unwrap()
}

async fn enqueue_one(engine: &Engine, dirs: &common::Dirs, name: &str, bytes: &[u8]) -> JobId {
    engine
        .enqueue(vec![write_file(&dirs.src, name, bytes)])
        .await
        .unwrap()
        .jobs[0]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_stopped_mid_upload_and_started_again_the_upload_resumes_by_itself() {
    let mut server = TusServer::start().await;
    let dirs = dirs();
    let mut config = tus_config(&dirs, &server.endpoint(), |c| {
        c.chunk_size = 256 * KIB;
        c.retry.max_attempts = 30;
    });
    config.bandwidth_limit = Some(4 * MIB);
    let engine = start(config).await;
    let mut rx = engine.subscribe();
    let bytes = pattern(usize::try_from(4 * MIB).unwrap(), 31);
    let id = enqueue_one(&engine, &dirs, "outage.bin", &bytes).await;
    collect_until(&mut rx, |e| {
        common::progress_event(e, id)
            .is_some_and(|p| p.status == JobStatus::Uploading && p.current >= MIB)
    })
    .await;

    server.stop().await;
    let note = wait_note(&mut rx, id, "retrying").await;
    assert!(note.contains("attempt"), "{note}");
    server.restart().await;

    let job = wait_settled(&mut rx, id).await;
    engine.shutdown().await;
    assert_eq!(job.status, JobStatus::Done, "{:?}", job.error);
    assert_eq!(
        job.note, None,
        "the retry note is gone once the job settles"
    );
    let uploads = server.uploaded_files();
    assert_eq!(
        uploads.len(),
        1,
        "the same upload continued after the outage"
    );
    assert!(uploads[0].bytes() == bytes);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cut_and_slowed_connections_through_a_proxy_do_not_corrupt_the_upload() {
    let server = TusServer::start().await;
    let proxy = FaultProxy::start(server.addr()).await;
    let dirs = dirs();
    let engine = start(tus_config(&dirs, &proxy.url(&server.endpoint()), |c| {
        c.chunk_size = 512 * KIB;
        c.retry.max_attempts = 30;
    }))
    .await;
    let mut rx = engine.subscribe();
    let bytes = pattern(usize::try_from(6 * MIB).unwrap(), 32);
    proxy.set_delay(Duration::from_millis(2));
    let id = enqueue_one(&engine, &dirs, "flaky.bin", &bytes).await;
    for threshold in [MIB, 2 * MIB + 100 * KIB, 4 * MIB + 3] {
        proxy.wait_bytes_up(threshold).await;
        proxy.cut_all().await;
    }
    proxy.set_delay(Duration::ZERO);
    let job = wait_settled(&mut rx, id).await;
    engine.shutdown().await;
    assert_eq!(job.status, JobStatus::Done, "{:?}", job.error);
    assert!(
        proxy.connections_accepted() >= 4,
        "the cuts forced new connections"
    );
    let uploads = server.uploaded_files();
    assert_eq!(uploads.len(), 1);
    assert!(uploads[0].bytes() == bytes);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_connection_is_detected_by_the_stall_timeout_and_retried() {
    let server = TusServer::start().await;
    let proxy = FaultProxy::start(server.addr()).await;
    let dirs = dirs();
    let engine = start(tus_config(&dirs, &proxy.url(&server.endpoint()), |c| {
        c.chunk_size = 256 * KIB;
        c.stall_timeout = Duration::from_secs(1);
    }))
    .await;
    let mut rx = engine.subscribe();
    let bytes = pattern(usize::try_from(3 * MIB).unwrap(), 33);
    let id = enqueue_one(&engine, &dirs, "stalled.bin", &bytes).await;
    proxy.wait_bytes_up(MIB).await;
    proxy.stall();
    let note = wait_note(&mut rx, id, "no data moved for 1 s").await;
    assert!(note.contains("retrying"), "{note}");
    proxy.unstall();
    let job = wait_settled(&mut rx, id).await;
    engine.shutdown().await;
    assert_eq!(job.status, JobStatus::Done, "{:?}", job.error);
    assert!(server.uploaded_files()[0].bytes() == bytes);
}
