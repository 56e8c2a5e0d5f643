//! Uploads to the official Node tus server (@tus/server with @tus/file-store) on
//! 127.0.0.1: every size that matters arrives byte-identical, credentials work and a
//! wrong one fails once and clearly, the server's size limit stops a file before any
//! byte, and pause, resume, cancel, rename and change behave as a user expects.

mod common;
mod support_tus;

use std::sync::Arc;

use common::{
    dirs, pattern, start, tus_config, wait_settled, wait_status, wait_uploading, write_file,
};
use ferry_core::secrets::{Auth, MemorySecrets, Secret};
use ferry_core::{EngineConfig, JobStatus};
use support_tus::TusServer;

const KIB: u64 = 1024;
const MIB: u64 = 1024 * 1024;

/// Uploads `files` (name, bytes) in one engine run and checks that each arrived intact.
async fn upload_and_compare(server: &TusServer, chunk_size: u64, files: &[(&str, Vec<u8>)]) {
    let dirs = dirs();
    let paths: Vec<_> = files
        .iter()
        .map(|(name, bytes)| write_file(&dirs.src, name, bytes))
        .collect();
    let engine = start(tus_config(&dirs, &server.endpoint(), |c| {
        c.chunk_size = chunk_size;
    }))
    .await;
    let mut rx = engine.subscribe();
    let report = engine.enqueue(paths).await.unwrap();
    let settled = common::wait_all_settled(&mut rx, &report.jobs).await;
    engine.shutdown().await;
    for ((name, bytes), job) in files.iter().zip(settled) {
        assert_eq!(job.status, JobStatus::Done, "{name}: {:?}", job.error);
        let remote = job.remote.expect("the upload URL");
        let id = remote.rsplit('/').next().unwrap();
        let stored = server
            .upload(id)
            .unwrap_or_else(|| panic!("{name} is not on the server"));
        assert_eq!(stored.filename(), Some(*name));
        assert_eq!(
            stored.size,
            Some(bytes.len() as u64),
            "{name}: declared length"
        );
        assert!(
            stored.bytes() == *bytes,
            "{name}: the server's bytes differ"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zero_one_chunk_and_chunk_plus_one_bytes_arrive_identical_at_256_kib() {
    let server = TusServer::start().await;
    let chunk = 256 * KIB;
    let chunk_len = usize::try_from(chunk).unwrap();
    upload_and_compare(
        &server,
        chunk,
        &[
            ("empty.bin", Vec::new()),
            ("one.bin", vec![42]),
            ("chunk.bin", pattern(chunk_len, 1)),
            ("chunk-plus-one.bin", pattern(chunk_len + 1, 2)),
            ("three-and-a-bit.bin", pattern(3 * chunk_len + 777, 3)),
        ],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn six_mib_chunks_carry_a_file_across_chunk_boundaries() {
    let server = TusServer::start().await;
    let chunk = 6 * MIB;
    let chunk_len = usize::try_from(chunk).unwrap();
    upload_and_compare(
        &server,
        chunk,
        &[
            ("exact.bin", pattern(chunk_len, 4)),
            ("over.bin", pattern(2 * chunk_len + 1, 5)),
        ],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_100_mib_file_of_random_data_arrives_identical() {
    let server = TusServer::start().await;
    let mut bytes = vec![0u8; usize::try_from(100 * MIB).unwrap()];
    rand::fill(&mut bytes[..]);
    upload_and_compare(
        &server,
        ferry_core::destination::tus::DEFAULT_CHUNK_SIZE,
        &[("random-100m.bin", bytes)],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_from_the_secret_store_authenticates_the_upload() {
    let server = TusServer::builder().token("open-sesame").start().await;
    let dirs = dirs();
    let secrets = Arc::new(MemorySecrets::new());
    secrets.insert("vault-token", Secret::new("open-sesame"));
    let destination = common::tus_destination(&server.endpoint(), &dirs.data, secrets, |c| {
        c.auth = Auth::Bearer {
            token: "vault-token".into(),
        };
    });
    let engine = start(EngineConfig::new(dirs.data.clone(), destination)).await;
    let mut rx = engine.subscribe();
    let bytes = pattern(300_000, 6);
    let report = engine
        .enqueue(vec![write_file(&dirs.src, "secret.bin", &bytes)])
        .await
        .unwrap();
    let job = wait_settled(&mut rx, report.jobs[0]).await;
    engine.shutdown().await;
    assert_eq!(job.status, JobStatus::Done, "{:?}", job.error);
    assert!(server.file_by_name("secret.bin").unwrap().bytes() == bytes);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_token_fails_with_authentication_failed_and_is_not_retried() {
    let server = TusServer::builder()
        .token("right")
        .verbose(true)
        .start()
        .await;
    let dirs = dirs();
    let engine = start(tus_config(&dirs, &server.endpoint(), |c| {
        c.headers
            .push(("Authorization".into(), "Bearer not-the-token-42".into()));
    }))
    .await;
    let mut rx = engine.subscribe();
    let report = engine
        .enqueue(vec![write_file(&dirs.src, "a.bin", b"data")])
        .await
        .unwrap();
    let job = wait_settled(&mut rx, report.jobs[0]).await;
    engine.shutdown().await;
    assert_eq!(job.status, JobStatus::Failed);
    let error = job.error.unwrap();
    assert!(error.contains("authentication failed (401)"), "{error}");
    assert!(
        !error.contains("not-the-token-42"),
        "the message must not echo the credential: {error}"
    );
    // The server logs a request when its connection closes: wait for the line. Every
    // request Ferry made was answered before the job failed, so the count is final then.
    let count_posts = || {
        server
            .stderr()
            .lines()
            .filter(|l| l.starts_with("POST"))
            .count()
    };
    let deadline = tokio::time::Instant::now() + support_tus::HARNESS_TIMEOUT;
    while count_posts() == 0 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let posts = count_posts();
    assert_eq!(
        posts,
        1,
        "one refused creation, no retry loop:\n{}",
        server.stderr()
    );
    assert!(server.uploaded_files().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_over_tus_max_size_is_refused_before_any_byte_is_sent() {
    let server = TusServer::builder().max_size(1000).start().await;
    let dirs = dirs();
    let engine = start(tus_config(&dirs, &server.endpoint(), |_| {})).await;
    let mut rx = engine.subscribe();
    let report = engine
        .enqueue(vec![write_file(&dirs.src, "big.bin", &pattern(5000, 7))])
        .await
        .unwrap();
    let job = wait_settled(&mut rx, report.jobs[0]).await;
    engine.shutdown().await;
    assert_eq!(job.status, JobStatus::Failed);
    let error = job.error.unwrap();
    assert!(
        error.contains("Tus-Max-Size") && error.contains("big.bin"),
        "{error}"
    );
    assert!(server.uploaded_files().is_empty(), "nothing was created");
}

/// An engine sending 256 KiB chunks at `rate` bytes/s: slow enough to act mid-upload.
async fn slow_engine(server: &TusServer, dirs: &common::Dirs, rate: u64) -> ferry_core::Engine {
    let mut config = tus_config(dirs, &server.endpoint(), |c| c.chunk_size = 256 * KIB);
    config.bandwidth_limit = Some(rate);
    start(config).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pause_then_resume_continues_at_the_server_offset() {
    let server = TusServer::start().await;
    let dirs = dirs();
    let engine = slow_engine(&server, &dirs, 4 * MIB).await;
    let mut rx = engine.subscribe();
    let bytes = pattern(usize::try_from(3 * MIB).unwrap(), 8);
    let report = engine
        .enqueue(vec![write_file(&dirs.src, "paused.bin", &bytes)])
        .await
        .unwrap();
    let id = report.jobs[0];
    common::collect_until(&mut rx, |e| {
        common::progress_event(e, id)
            .is_some_and(|p| p.status == JobStatus::Uploading && p.current >= 512 * KIB)
    })
    .await;
    let paused = engine.pause(id).await.unwrap();
    // The paused job keeps showing what the server acknowledged, and the queue counts it.
    assert!(
        paused.progress.current >= 512 * KIB,
        "{:?}",
        paused.progress
    );
    assert_eq!(engine.snapshot().totals.bytes_done, paused.progress.current);
    let stored = server
        .file_by_name("paused.bin")
        .expect("the partial upload stays");
    assert!(
        stored.offset >= 512 * KIB && stored.offset < 3 * MIB,
        "{}",
        stored.offset
    );

    engine.resume(id).await.unwrap();
    let (_, events) = wait_status(&mut rx, id, JobStatus::Done).await;
    engine.shutdown().await;
    // The resumed upload's figures start at the server's offset, never at zero.
    let first_upload_figure = events
        .iter()
        .filter_map(|e| common::progress_event(e, id))
        .find(|p| p.status == JobStatus::Uploading)
        .expect("upload progress after resuming");
    assert!(
        first_upload_figure.current >= stored.offset,
        "{first_upload_figure:?}"
    );
    assert_eq!(
        server.uploaded_files().len(),
        1,
        "the same upload was continued"
    );
    assert!(server.file_by_name("paused.bin").unwrap().bytes() == bytes);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_ends_the_upload_at_the_server() {
    let server = TusServer::start().await;
    let dirs = dirs();
    let engine = slow_engine(&server, &dirs, 2 * MIB).await;
    let mut rx = engine.subscribe();
    let report = engine
        .enqueue(vec![write_file(
            &dirs.src,
            "gone.bin",
            &pattern(usize::try_from(4 * MIB).unwrap(), 9),
        )])
        .await
        .unwrap();
    wait_uploading(&mut rx, report.jobs[0]).await;
    assert_eq!(server.uploaded_files().len(), 1);
    let job = engine.cancel(report.jobs[0]).await.unwrap();
    engine.shutdown().await;
    assert_eq!(job.status, JobStatus::Cancelled);
    assert!(
        server.uploaded_files().is_empty(),
        "DELETE removed the upload"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_renamed_file_continues_its_upload_and_a_changed_one_starts_a_new_one() {
    let server = TusServer::start().await;
    let dirs = dirs();
    let engine = slow_engine(&server, &dirs, 4 * MIB).await;
    let mut rx = engine.subscribe();
    let bytes = pattern(usize::try_from(2 * MIB).unwrap(), 10);
    let original = write_file(&dirs.src, "draft.bin", &bytes);
    let id = engine.enqueue(vec![original.clone()]).await.unwrap().jobs[0];
    wait_uploading(&mut rx, id).await;
    engine.pause(id).await.unwrap();
    let partial = server.uploaded_files();
    assert_eq!(partial.len(), 1);

    // Renamed (and touched): same content, so the same upload goes on.
    let renamed = dirs.src.join("final.bin");
    std::fs::rename(&original, &renamed).unwrap();
    let id2 = engine.enqueue(vec![renamed]).await.unwrap().jobs[0];
    let job = wait_settled(&mut rx, id2).await;
    assert_eq!(job.status, JobStatus::Done, "{:?}", job.error);
    let uploads = server.uploaded_files();
    assert_eq!(uploads.len(), 1, "no second upload for the renamed file");
    assert_eq!(uploads[0].id, partial[0].id);
    assert!(uploads[0].bytes() == bytes);

    // Changed content: a new upload, never appended to the old one.
    let mut changed = bytes.clone();
    changed[0] ^= 0xff;
    let path = write_file(&dirs.src, "final.bin", &changed);
    let id3 = engine.enqueue(vec![path]).await.unwrap().jobs[0];
    let job = wait_settled(&mut rx, id3).await;
    engine.shutdown().await;
    assert_eq!(job.status, JobStatus::Done, "{:?}", job.error);
    let uploads = server.uploaded_files();
    assert_eq!(uploads.len(), 2);
    assert!(uploads.iter().any(|u| u.bytes() == changed));
    assert!(uploads.iter().any(|u| u.bytes() == bytes));
}
