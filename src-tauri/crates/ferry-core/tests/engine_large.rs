//! A 1 GiB file (sparse, so it costs no disk to create) streams through every stage in
//! bounded memory and arrives whole.

mod common;

use common::{config, dirs, progress_event, start};
use ferry_core::JobStatus;

const GIB: u64 = 1024 * 1024 * 1024;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_one_gib_sparse_file_completes() {
    let dirs = dirs();
    let source = dirs.src.join("disk.img");
    std::fs::File::create(&source)
        .unwrap()
        .set_len(GIB)
        .unwrap();

    let engine = start(config(&dirs)).await;
    let mut rx = engine.subscribe();
    let id = engine.enqueue(vec![source]).await.unwrap().jobs[0];
    let mut last_upload = 0;
    let job = loop {
        let event = common::next_event(&mut rx).await;
        if let Some(p) = progress_event(&event, id) {
            if p.status == JobStatus::Uploading {
                assert!(p.current >= last_upload);
                last_upload = p.current;
            }
        }
        if let Some(job) = common::job_event(&event, id) {
            if job.status.is_terminal() {
                break job.clone();
            }
        }
    };
    assert_eq!(job.status, JobStatus::Done, "{:?}", job.error);
    assert_eq!(last_upload, GIB);
    assert_eq!(
        std::fs::metadata(dirs.dest.join("disk.img")).unwrap().len(),
        GIB
    );
    // The engine verified the copy's BLAKE3 against the source's; the hash of 1 GiB of
    // zeros is what it should be.
    let mut hasher = blake3::Hasher::new();
    let zeros = vec![0u8; 1024 * 1024];
    for _ in 0..1024 {
        hasher.update(&zeros);
    }
    assert_eq!(
        job.hash.as_deref(),
        Some(hasher.finalize().to_hex().as_str())
    );
    engine.shutdown().await;
}
